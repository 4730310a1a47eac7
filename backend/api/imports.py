from typing import Annotated

from fastapi import APIRouter, Depends, Query

from backend.api.deps import CurrentActor, SessionDep
from backend.api.params import OptionalId
from backend.api.uploads import Upload, file_body, upload_for
from backend.config import get_settings
from backend.schemas import ImportSummary
from backend.services import imports as svc

router = APIRouter(prefix="/imports", tags=["imports"])


@router.post("", response_model=ImportSummary,
             openapi_extra=file_body("CSV (UTF-8 or GB18030) or XLSX; one row per listing"))
def import_file(
    session: SessionDep, actor: CurrentActor,
    upload: Annotated[Upload, Depends(upload_for(svc.require_importer))],
    dry_run: Annotated[bool, Query(description="check and preview only; write nothing")] = True,
    park_id: Annotated[OptionalId, Query(description="park for rows without a park column")] = None,
) -> ImportSummary:
    """Import firms, sites and listings. A real run (``dry_run=false``) is all-or-nothing: one bad row and
    nothing is written; the 422 reply lists every bad row and column. The caller's role is checked before the
    file is read; a body over the size limit is refused with 413 while it streams in."""
    return svc.run_import(session=session, actor=actor, data=upload.data, filename=upload.filename or "upload.csv",
                          park_id=park_id, dry_run=dry_run, max_rows=get_settings().max_import_rows)

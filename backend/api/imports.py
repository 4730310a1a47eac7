from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile

from backend.api.deps import CurrentActor, SessionDep
from backend.config import get_settings
from backend.errors import InvalidInput
from backend.schemas import ImportSummary
from backend.services import imports as svc

router = APIRouter(prefix="/imports", tags=["imports"])


@router.post("", response_model=ImportSummary)
def import_file(
    session: SessionDep, actor: CurrentActor,
    file: Annotated[UploadFile, File(description="CSV (UTF-8 or GB18030) or XLSX; one row per listing")],
    dry_run: Annotated[bool, Query(description="check and preview only; write nothing")] = True,
    park_id: Annotated[int | None, Query(description="park for rows without a park column")] = None,
) -> ImportSummary:
    """Import firms, sites and listings. A real run (``dry_run=false``) is all-or-nothing: one bad row and
    nothing is written; the 422 reply lists every bad row and column."""
    limit = get_settings().max_upload_bytes
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput.at(("body", "file"), f"the file is larger than the {limit} byte limit", "too_large")
    return svc.run_import(session=session, actor=actor, data=data, filename=file.filename or "upload.csv",
                          park_id=park_id, dry_run=dry_run, max_rows=get_settings().max_import_rows)

"""The firms' solid-waste ledgers (一般工业固体废物管理台账): import, lines, and the time series by month or year."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from backend.api.deps import CurrentActor, SessionDep
from backend.api.params import OptionalId
from backend.api.uploads import Upload, file_body, upload_for
from backend.schemas import ImportIssue
from backend.services import baseline as svc

router = APIRouter(prefix="/baseline", tags=["baseline"])


class LedgerImportSummary(BaseModel):
    dry_run: bool
    ok: bool
    rows: int
    created: int
    updated: int
    unchanged: int
    errors: list[ImportIssue]
    warnings: list[ImportIssue]
    preview: list[dict[str, Any]]


class LedgerEntryPublic(BaseModel):
    id: int
    firm_id: int
    material: str
    year: int
    month: int
    generated: float
    utilised_in_house: float
    sent_for_utilisation: float
    stored: float
    disposed: float
    stock_utilised: float
    source: str | None


@router.post("/imports", response_model=LedgerImportSummary,
             openapi_extra=file_body("CSV (UTF-8 or GB18030) or XLSX; one row per firm, material and month or year"))
def import_ledger(session: SessionDep, actor: CurrentActor,
                  upload: Annotated[Upload, Depends(upload_for(svc.require_ledger_importer))],
                  dry_run: Annotated[bool, Query(description="check and preview only; write nothing")] = True,
                  ) -> dict[str, Any]:
    """Import ledger lines. A real run (``dry_run=false``) is all-or-nothing: one bad row and nothing is
    written; the 422 reply lists every bad row and column. The caller's role is checked before the file is
    read; a body over the size limit is refused with 413 while it streams in."""
    return svc.import_ledger(session=session, actor=actor, data=upload.data,
                             filename=upload.filename or "ledger.csv", dry_run=dry_run)


@router.get("/entries", response_model=list[LedgerEntryPublic])
def list_entries(session: SessionDep, actor: CurrentActor, firm_id: OptionalId = None, park_id: OptionalId = None,
                 year: int | None = None, material: str | None = None) -> list[Any]:
    """Ledger lines one by one: for the firm's own users, its park managers and admins."""
    return svc.list_entries(session=session, actor=actor, firm_id=firm_id, park_id=park_id, year=year,
                            material=material)


@router.get("/series")
def get_series(session: SessionDep, actor: CurrentActor, period: Literal["month", "year"] = "year",
               park_id: OptionalId = None, province: Annotated[str | None, Query(min_length=2, max_length=40)] = None,
               family: Annotated[str | None, Query(max_length=40)] = None) -> dict[str, Any]:
    """Generated, utilised, stored, disposed, earlier stock utilised and ISX deliveries by month or year, one
    series per unit (aggregates with the number of firms behind each point)."""
    return svc.series(session=session, actor=actor, period=period, park_id=park_id, province=province, family=family)

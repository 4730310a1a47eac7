"""Park manager pages: the park overview (firms, listings, generation by material family against the
knowledge base's utilisation targets) and the bulk import (upload, dry-run preview with row errors, confirm).
"""

from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlmodel import Session
from starlette.responses import Response

from backend.api.deps import SessionDep
from backend.api.params import Id
from backend.api.uploads import read_upload
from backend.config import get_settings
from backend.errors import InvalidInput, NotFound, PermissionDenied
from backend.kb import get_kb
from backend.models import Park
from backend.schemas import ImportSummary
from backend.services import baseline as baseline_svc
from backend.services import firms as firms_svc
from backend.services import imports as imports_svc
from backend.services import kpis as kpis_svc
from backend.services import listings as listings_svc
from backend.services import plausibility
from backend.services import uploads as uploads_svc
from web.deps import CurrentViewer, Viewer, managed_parks, page_context, require_role
from web.forms import Errors, domain_errors
from web.templating import render

router = APIRouter(include_in_schema=False)


def _park(session: Session, viewer: Viewer, park_id: Id) -> Park:
    park = session.get(Park, park_id)
    if park is None:
        raise NotFound(f"park {park_id} not found")
    if viewer.role == "park_manager" and park_id not in viewer.actor.park_ids:
        raise PermissionDenied("you do not manage this park")
    if viewer.role not in ("park_manager", "admin", "planner"):
        raise PermissionDenied("park overviews are for park managers and planners")
    return park


@router.get("/parks/{park_id}")
def park_page(request: Request, session: SessionDep, viewer: CurrentViewer, park_id: Id,
              year: Annotated[int | None, Query(ge=2000, le=2100)] = None) -> Response:
    """The park overview: its firms, and its KPIs from the one KPI service (the KPI page's tables)."""
    park = _park(session, viewer, park_id)
    kb = get_kb()
    firms, _ = firms_svc.list_firms(session=session, actor=viewer.actor, park_id=park_id, sort="name", limit=500)
    listings = listings_svc.all_listings(session=session, actor=viewer.actor, park_id=park_id)
    per_firm: dict[int, dict[str, int]] = defaultdict(lambda: {"have": 0, "want": 0})
    for x in listings:
        if x.firm_id is not None and x.status == "active":
            per_firm[x.firm_id][x.kind] += 1
    figures = kpis_svc.kpis(session=session, actor=viewer.actor, group_by="park", park_id=park_id, year=year)
    group = figures["groups"][0] if figures["groups"] else {"families": [], "targets": []}
    t = page_context(request)["t"]
    tonnes = [f for f in group["families"] if f["unit"] == "t"]
    # the generic chart spec of static/js/charts.js: generation and utilisation in t (bars), official rate in %
    chart = {
        "categories": [t(f"family.{f['family']}") for f in tonnes],
        "axes": [{"name": t("park.chart.tonnes")}, {"name": t("park.chart.rate"), "percent": True}],
        "series": [{"name": t("park.chart.generation"), "type": "bar",
                    "data": [round(f["generation"]) for f in tonnes]},
                   {"name": t("kpi.utilised"), "type": "bar", "data": [round(f["utilised"]) for f in tonnes]},
                   {"name": t("kpi.rate_official"), "type": "scatter", "axis": 1,
                    "data": [None if f["rate_official"] is None else round(f["rate_official"] * 100, 1)
                             for f in tonnes]}],
    }
    return render(request, "park.html", {
        "park": park, "firms": firms, "per_firm": per_firm, "families": group["families"],
        "targets": group["targets"], "year": figures["year"], "chart": chart, "listing_count": len(listings),
        "materials": kb.materials,
        "to_check": plausibility.outlier_listings(session=session, actor=viewer.actor, park_id=park_id),
        "series_year": baseline_svc.series(session=session, actor=viewer.actor, period="year",
                                           park_id=park_id)["points"],
        "series_month": baseline_svc.series(session=session, actor=viewer.actor, period="month",
                                            park_id=park_id)["points"]})


# --- bulk import ---------------------------------------------------------------------------------------
def _import_parks(session: Session, viewer: Viewer) -> list[Park]:
    require_role(viewer, "park_manager", "admin")
    return managed_parks(session, viewer)


@router.get("/import")
def import_page(request: Request, session: SessionDep, viewer: CurrentViewer) -> Response:
    parks = _import_parks(session, viewer)
    return render(request, "import.html", {"parks": parks, "summary": None, "errors": {}})


@dataclass(frozen=True)
class PageUpload:
    """A page's upload form: a freshly chosen file, or the token of the file its preview kept (confirm)."""

    data: bytes
    filename: str
    fields: dict[str, str]
    token: str | None = None  # the staged file's token, when this is a confirm


def upload_for(*roles: str) -> Callable[..., Awaitable[PageUpload]]:
    """A dependency giving the page's upload, read only once the viewer's role may upload here."""

    async def dependency(request: Request, viewer: CurrentViewer) -> PageUpload:
        require_role(viewer, *roles)
        upload = await read_upload(request, required=False)
        if upload.filename is not None:
            return PageUpload(upload.data, upload.filename, upload.fields)
        return PageUpload(b"", "", upload.fields, token=upload.fields.get("upload") or None)

    return dependency


def staged_file(upload: PageUpload, viewer: Viewer) -> tuple[bytes, str, Errors]:
    """The file to import: the one chosen, or the one the preview kept (for its owner only)."""
    if upload.token is None:
        return upload.data, upload.filename, {}
    try:
        data, filename = uploads_svc.take(token=upload.token, user_id=viewer.actor.id)
    except InvalidInput as exc:
        return b"", "", domain_errors(exc)
    return data, filename, {}


def keep_for_confirm(upload: PageUpload, data: bytes, filename: str, viewer: Viewer) -> str:
    """The token of the previewed file, kept server-side for the confirm step."""
    return upload.token or uploads_svc.stage(data=data, filename=filename, user_id=viewer.actor.id)


def upload_errors(data: bytes) -> Errors:
    """An uploaded file's own problems, before any row is read: none chosen, or beyond the size limit."""
    limit = get_settings().max_upload_bytes
    if not data:
        return domain_errors(InvalidInput.at(("body", "file"), "choose a CSV or XLSX file", "missing"))
    if len(data) > limit:
        errors = domain_errors(InvalidInput.at(("body", "file"), f"larger than {limit} bytes", "too_large"))
        errors["file"].values = {"limit": limit}
        return errors
    return {}


def _park_id(fields: dict[str, str], parks: list[Park]) -> int | None:
    raw = fields.get("park_id", "")
    return next((p.id for p in parks if str(p.id) == raw), None)


@router.post("/import")
def import_run(request: Request, session: SessionDep, viewer: CurrentViewer,
               upload: Annotated[PageUpload, Depends(upload_for("park_manager", "admin"))]) -> Response:
    """Preview (a dry run) or, with ``confirm=1``, the real import (all or nothing) of the file the preview
    kept on the server."""
    parks = _import_parks(session, viewer)
    fields = upload.fields
    confirm = fields.get("confirm") == "1"
    data, filename, problems = staged_file(upload, viewer)
    context: dict[str, Any] = {"parks": parks, "filename": filename, "park_id": _park_id(fields, parks),
                               "summary": None, "errors": {}, "confirmed": False}
    problems = problems or upload_errors(data)
    if problems:
        context["errors"] = problems
        return render(request, "import.html", context, block="result", status_code=422)
    summary: ImportSummary
    try:
        summary = imports_svc.run_import(session=session, actor=viewer.actor, data=data, filename=filename,
                                         park_id=context["park_id"], dry_run=not confirm,
                                         max_rows=get_settings().max_import_rows)
    except imports_svc.ImportRejected as exc:
        session.rollback()
        summary = exc.summary
    except InvalidInput as exc:
        session.rollback()
        context["errors"] = domain_errors(exc)
        return render(request, "import.html", context, block="result", status_code=422)
    if confirm and summary.ok and upload.token:
        uploads_svc.discard(token=upload.token)
    context |= {"summary": summary, "confirmed": confirm and summary.ok,
                "upload": keep_for_confirm(upload, data, filename, viewer) if summary.ok and not confirm else ""}
    return render(request, "import.html", context, block="result", status_code=200 if summary.ok else 422)

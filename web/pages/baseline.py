"""The solid-waste ledger upload (一般工业固体废物管理台账) for firms and park managers: upload a CSV or XLSX,
preview it with every bad row and the rows to check, confirm (all or nothing), like the listings import; and the
ledger lines the viewer may read. Everything goes through ``backend.services.baseline``, as the API
(``POST /api/v1/baseline/imports``) and ``isx baseline import`` do."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlmodel import Session
from starlette.responses import Response

from backend.api.deps import SessionDep
from backend.errors import InvalidInput
from backend.kb import get_kb
from backend.services import baseline as baseline_svc
from backend.services import firms as firms_svc
from backend.services import uploads as uploads_svc
from web.deps import CurrentViewer, Viewer, require_role
from web.forms import domain_errors
from web.pages.parks import PageUpload, keep_for_confirm, staged_file, upload_errors, upload_for
from web.templating import render

router = APIRouter(include_in_schema=False)
ROLES = ("firm_user", "park_manager", "admin")
SHOWN_LINES = 200


def ledger_context(session: Session, viewer: Viewer) -> dict[str, Any]:
    """The viewer's ledger lines (latest years first, at most ``SHOWN_LINES``) with their firms' names."""
    require_role(viewer, *ROLES)
    entries = baseline_svc.list_entries(session=session, actor=viewer.actor)
    entries.sort(key=lambda e: (-e.year, -e.month, e.firm_id, e.material))
    firms, _ = firms_svc.list_firms(session=session, actor=viewer.actor, limit=500)
    return {"entries": entries[:SHOWN_LINES], "entries_total": len(entries),
            "firm_names": {f.id: f.name for f in firms}, "materials": get_kb().materials,
            "columns": baseline_svc.COLUMNS}


@router.get("/baseline")
def baseline_page(request: Request, session: SessionDep, viewer: CurrentViewer) -> Response:
    return render(request, "baseline.html", ledger_context(session, viewer) | {"summary": None, "errors": {}})


@router.post("/baseline")
def baseline_import(request: Request, session: SessionDep, viewer: CurrentViewer,
                    upload: Annotated[PageUpload, Depends(upload_for(*ROLES))]) -> Response:
    """Preview (a dry run) or, with ``confirm=1``, the real import (all or nothing) of the file the preview
    kept on the server."""
    confirm = upload.fields.get("confirm") == "1"
    data, filename, problems = staged_file(upload, viewer)
    context: dict[str, Any] = {"filename": filename, "summary": None, "errors": {}, "confirmed": False,
                               "materials": get_kb().materials}
    problems = problems or upload_errors(data)
    if problems:
        context["errors"] = problems
        return render(request, "baseline.html", context, block="result", status_code=422)
    try:
        summary = baseline_svc.import_ledger(session=session, actor=viewer.actor, data=data, filename=filename,
                                             dry_run=not confirm)
    except baseline_svc.LedgerImportRejected as exc:
        session.rollback()
        summary = exc.summary
    except InvalidInput as exc:
        session.rollback()
        context["errors"] = domain_errors(exc)
        return render(request, "baseline.html", context, block="result", status_code=422)
    if confirm and summary["ok"] and upload.token:
        uploads_svc.discard(token=upload.token)
    context |= {"summary": summary, "confirmed": confirm and summary["ok"],
                "upload": keep_for_confirm(upload, data, filename, viewer) if summary["ok"] and not confirm else ""}
    return render(request, "baseline.html", context, block="result", status_code=200 if summary["ok"] else 422)

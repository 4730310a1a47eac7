"""Park managers' match runs: start one over their parks (with a live progress bar polled every second),
cancel it, review its proposals in a table and on the map and forward them to the firms (forwarding turns a
proposal into a deal in ``proposed``, the state the two firms answer yes or no to); and the screening of a
park from industry profiles.

Runs go through ``backend.services.runs`` exactly as the API's ``POST /runs`` does: the run is created in the
request's transaction and handed to the worker thread after the response (a background task).
"""

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from sqlmodel import Session
from starlette.responses import Response

from backend import policy
from backend.api.deps import SessionDep
from backend.api.params import Id
from backend.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied
from backend.kb import get_kb
from backend.models import Park
from backend.schemas_deals import DealCreate, RunCreate
from backend.services import deals as deals_svc
from backend.services import runs as runs_svc
from backend.services import screening as screening_svc
from backend.services.query import MAX_LIMIT
from matching.screening import DEFAULT_TOP
from web.deps import CurrentViewer, Viewer, managed_parks, require_role
from web.forms import FieldError, domain_errors
from web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)
TERMINAL = runs_svc.TERMINAL
RUN_FAMILIES = ("ash", "slag", "gypsum", "tailings", "heat", "water", "gas", "chemical", "residue", "sludge")


async def multi_form(request: Request) -> dict[str, list[str]]:
    form = await request.form()
    out: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str) and value.strip():
            out.setdefault(key, []).append(value.strip())
    return out


MultiForm = Annotated[dict[str, list[str]], Depends(multi_form)]


def _manager(viewer: Viewer) -> None:
    require_role(viewer, "park_manager", "admin")


def runs_context(session: Session, viewer: Viewer) -> dict[str, Any]:
    runs, _ = runs_svc.list_runs(session=session, actor=viewer.actor, kind="match", limit=50)
    kb = get_kb()
    return {"runs": runs, "parks": managed_parks(session, viewer),
            "families": [f for f in RUN_FAMILIES if f in kb.families()],
            "park_names": {p.id: p for p in managed_parks(session, viewer)}}


@router.get("/runs")
def runs_page(request: Request, session: SessionDep, viewer: CurrentViewer) -> Response:
    _manager(viewer)
    return render(request, "runs.html", runs_context(session, viewer) | {"form": {}, "errors": {}})


@router.post("/runs")
def start_run(request: Request, session: SessionDep, viewer: CurrentViewer, values: MultiForm,
              background: BackgroundTasks) -> Response:
    _manager(viewer)
    return _start_in(request, session, viewer, values, background)


def _start_in(request: Request, session: Session, viewer: Viewer, values: dict[str, list[str]],
              background: BackgroundTasks) -> Response:
    errors: dict[str, FieldError] = {}
    park_ids: list[int] = []
    for raw in values.get("park_ids", []):
        if not raw.isdigit():
            errors["park_ids"] = FieldError(key="err.choice", msg="choose parks")
            break
        park_ids.append(int(raw))
    if not park_ids and "park_ids" not in errors:
        errors["park_ids"] = FieldError(key="err.required", msg="choose at least one park")
    families = values.get("families") or None
    run = None
    if not errors:
        try:
            run = runs_svc.start_run(session=session, actor=viewer.actor, run_in=RunCreate.model_validate(
                {"kind": "match", "scope": {"park_ids": park_ids}, "options": {"families": families}}))
        except InvalidInput as exc:
            session.rollback()
            errors = domain_errors(exc)
        except PermissionDenied as exc:
            session.rollback()
            errors = {"park_ids": FieldError(key=None, msg=exc.message)}
    if run is None:
        form = {"park_ids": [int(x) for x in values.get("park_ids", []) if x.isdigit()], "families": families or []}
        return render(request, "runs.html", runs_context(session, viewer) | {"form": form, "errors": errors},
                      block="start_form", status_code=422)
    background.add_task(runs_svc.submit, run.id or 0)
    return Response(status_code=200, headers={"HX-Redirect": f"/runs/{run.id}"})


# --- one run -------------------------------------------------------------------------------------------
def run_context(session: Session, viewer: Viewer, run_id: Id) -> dict[str, Any]:
    run = runs_svc.get_run(session=session, actor=viewer.actor, run_id=run_id)
    if run.kind != "match":
        raise NotFound(f"run {run_id} not found")
    proposals: list[Any] = []
    rows: list[dict[str, Any]] = []
    if run.status == "succeeded":
        proposals, _ = deals_svc.list_proposals(session=session, actor=viewer.actor, run_id=run_id, limit=MAX_LIMIT)
        rows = [{"p": p} for p in proposals]
    parks = [p for p in (session.get(Park, i) for i in run.scope.get("resolved_park_ids", [])) if p is not None]
    return {"run": run, "rows": rows, "open_count": sum(1 for p in proposals if p.status == "open"),
            "materials": get_kb().materials, "run_parks": parks,
            "can_cancel": run.status not in TERMINAL and (viewer.actor.is_admin or run.created_by == viewer.actor.id),
            "can_forward": viewer.role in ("park_manager", "admin"), "forwarded": None, "forward_errors": []}


@router.get("/runs/{run_id}")
def run_page(request: Request, session: SessionDep, viewer: CurrentViewer, run_id: Id) -> Response:
    _manager(viewer)
    context = run_context(session, viewer, run_id)
    if is_htmx(request) and request.headers.get("HX-Target") == "run-progress":
        headers = {"HX-Refresh": "true"} if context["run"].status in TERMINAL else None
        return render(request, "run.html", context, block="progress", headers=headers)
    return render(request, "run.html", context)


@router.post("/runs/{run_id}/cancel")
def cancel_run(request: Request, session: SessionDep, viewer: CurrentViewer, run_id: Id) -> Response:
    _manager(viewer)
    try:
        runs_svc.cancel_run(session=session, actor=viewer.actor, run_id=run_id)
    except Conflict:
        session.rollback()  # it finished meanwhile: show how it ended
    return render(request, "run.html", run_context(session, viewer, run_id), block="progress")


@router.post("/runs/{run_id}/forward")
def forward(request: Request, session: SessionDep, viewer: CurrentViewer, run_id: Id, values: MultiForm) -> Response:
    _manager(viewer)
    return _forward_in(request, session, viewer, run_id, values)


def _forward_in(request: Request, session: Session, viewer: Viewer, run_id: Id,
                values: dict[str, list[str]]) -> Response:
    """Turn each chosen open proposal of the run into a deal (``proposed``): the firms then see it to answer."""
    runs_svc.get_run(session=session, actor=viewer.actor, run_id=run_id)
    chosen = [int(x) for x in values.get("proposal_ids", []) if x.isdigit()]
    done, failed = 0, []
    for proposal_id in chosen:
        nested = session.begin_nested()
        try:
            proposal = deals_svc.get_proposal(session=session, actor=viewer.actor, proposal_id=proposal_id)
            if proposal.run_id != run_id or proposal.deal_id is not None:
                raise InvalidInput.at(("body", "proposal_ids"), f"proposal {proposal_id} is not open in this run")
            deals_svc.create_deal(session=session, actor=viewer.actor, deal_in=DealCreate(proposal_id=proposal_id))
            nested.commit()
            done += 1
        except DomainError as exc:
            nested.rollback()
            failed.append(f"#{proposal_id}: {exc.message}")
    context = run_context(session, viewer, run_id) | {"forwarded": done, "forward_errors": failed}
    status = 422 if not chosen else 200
    if not chosen:
        context["forward_errors"] = []
        context["nothing_chosen"] = True
    return render(request, "run.html", context, block="results", status_code=status)


# --- screening -----------------------------------------------------------------------------------------
@router.get("/parks/{park_id}/screening")
def screening_page(request: Request, session: SessionDep, viewer: CurrentViewer, park_id: Id,
                   mode: str = "profiles", all: bool = False) -> Response:
    park = session.get(Park, park_id)
    if park is None:
        raise NotFound(f"park {park_id} not found")
    mode = mode if mode in screening_svc.MODES else "profiles"
    if mode == "combined" and not policy.can_screen_park(viewer.actor, park, with_listings=True):
        mode = "profiles"  # planners screen from profiles only
    result = screening_svc.screen_park(session=session, actor=viewer.actor, park_id=park_id, mode=mode,
                                       top=None if all else DEFAULT_TOP)
    return render(request, "screening.html", {
        "park": park, "result": result, "mode": mode, "show_all": all, "result_top": DEFAULT_TOP,
        "materials": get_kb().materials,
        "modes": [m for m in screening_svc.MODES
                  if m == "profiles" or policy.can_screen_park(viewer.actor, park, with_listings=True)]})

"""Proposals and deals for the people who make them happen: the proposals inbox (yes/no, double opt-in),
the deals pipeline board by status, each deal's page (history, terms, notes, deliveries, transfer approval,
benefit ledger) and seeding an exchange that already exists.

Everything goes through ``backend.services.deals`` (and its ledger): the same permission checks, state
machine, gates and anonymity as the API. A "yes" to a proposal turns it into a deal (if nobody has yet) and
records the opt-in of the viewer's side; a "no" declines that deal with the reason given.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlmodel import Session
from starlette.responses import Response

from backend.api.deps import SessionDep
from backend.api.params import Id
from backend.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from backend.kb import get_kb
from backend.schemas import ListingPublic
from backend.schemas_deals import (
    ApprovalCreate,
    DealCreate,
    DealNoteCreate,
    DealTerms,
    DealTransition,
    DeliveryCorrection,
    DeliveryCreate,
    DeliveryVoid,
    LedgerTransition,
)
from backend.services import deals as deals_svc
from backend.services import listings as listings_svc
from backend.services.query import MAX_LIMIT
from web.deps import CurrentViewer, Viewer, require_role
from web.forms import Errors, FieldError, domain_errors, read_form, state_error, validate
from web.templating import render

router = APIRouter(include_in_schema=False)
Form = Annotated[dict[str, str], Depends(read_form)]

BOARD = ("proposed", "interested", "negotiating", "agreed", "active", "completed")
CLOSED = ("declined", "cancelled")
REASON_ACTIONS = ("decline", "cancel")


def all_deals(session: Session, viewer: Viewer, status: str | None = None) -> list[Any]:
    out: list[Any] = []
    skip = 0
    while True:
        page, total = deals_svc.list_deals(session=session, actor=viewer.actor, status=status, skip=skip,
                                           limit=MAX_LIMIT)
        out.extend(page)
        skip += MAX_LIMIT
        if skip >= total:
            return out


def party_label(listing: ListingPublic, name: str | None) -> str | None:
    """The counterpart as the service shaped it: its firm, or None when anonymised."""
    return None if listing.anonymised else (name or listing.firm_name)


# --- proposals inbox -----------------------------------------------------------------------------------
def proposal_rows(session: Session, viewer: Viewer, proposals: list[Any]) -> list[dict[str, Any]]:
    """Each proposal with the deal made of it (if any) as this viewer sees it."""
    rows = []
    for p in proposals:
        deal = None
        if p.deal_id is not None:
            try:
                deal = deals_svc.get_deal(session=session, actor=viewer.actor, deal_id=p.deal_id)
            except NotFound:
                deal = None
        rows.append({"p": p, "deal": deal, "can_answer": can_answer(viewer, p, deal)})
    return rows


def can_answer(viewer: Viewer, p: Any, deal: Any) -> bool:
    if viewer.role == "planner":
        return False
    if deal is None:
        return p.status == "open"
    return "opt_in" in deal.allowed_actions


@router.get("/proposals")
def proposals_page(request: Request, session: SessionDep, viewer: CurrentViewer) -> Response:
    require_role(viewer, "firm_user", "park_manager", "admin")
    proposals, total = deals_svc.list_proposals(session=session, actor=viewer.actor, limit=MAX_LIMIT)
    rows = proposal_rows(session, viewer, proposals)
    return render(request, "proposals.html", {"rows": rows, "total": total, "materials": get_kb().materials})


def _proposal_card(request: Request, session: Session, viewer: Viewer, proposal_id: Id, *,
                   errors: Errors | None = None, form: dict[str, str] | None = None, status_code: int = 200,
                   done: str | None = None) -> Response:
    p = deals_svc.get_proposal(session=session, actor=viewer.actor, proposal_id=proposal_id)
    row = proposal_rows(session, viewer, [p])[0]
    return render(request, "partials/proposal_card.html", row | {
        "materials": get_kb().materials, "errors": errors or {}, "form": form or {}, "done": done},
        status_code=status_code)


@router.post("/proposals/{proposal_id}/answer")
def answer_proposal(request: Request, session: SessionDep, viewer: CurrentViewer, proposal_id: Id,
                    form: Form) -> Response:
    """Yes (opt in for the viewer's side) or no (decline, with a reason) to a proposal."""
    require_role(viewer, "firm_user", "park_manager", "admin")
    answer = form.get("answer")
    reason = form.get("reason", "")
    if answer not in ("yes", "no"):
        return _proposal_card(request, session, viewer, proposal_id, status_code=422, form=form,
                              errors={"answer": FieldError(key="err.choice", msg="yes or no")})
    if answer == "no" and not reason:
        return _proposal_card(request, session, viewer, proposal_id, status_code=422, form=form,
                              errors={"reason": FieldError(key="err.required", msg="give a reason")})
    p = deals_svc.get_proposal(session=session, actor=viewer.actor, proposal_id=proposal_id)
    try:
        deal_id = p.deal_id
        if deal_id is None:
            deal_id = deals_svc.create_deal(session=session, actor=viewer.actor,
                                            deal_in=DealCreate(proposal_id=proposal_id)).id or 0
        move = DealTransition(action="opt_in") if answer == "yes" else DealTransition(action="decline", reason=reason)
        deals_svc.transition(session=session, actor=viewer.actor, deal_id=deal_id, move=move)
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        errors = domain_errors(exc) if isinstance(exc, InvalidInput) else {"answer": state_error(exc.message, exc.code)}
        return _proposal_card(request, session, viewer, proposal_id, status_code=422, form=form, errors=errors)
    return _proposal_card(request, session, viewer, proposal_id, done=answer)


# --- the pipeline board --------------------------------------------------------------------------------
@router.get("/deals")
def deals_board(request: Request, session: SessionDep, viewer: CurrentViewer) -> Response:
    deals = all_deals(session, viewer)
    columns = {s: [d for d in deals if d.status == s] for s in BOARD}
    closed = [d for d in deals if d.status in CLOSED]
    return render(request, "deals.html", {"columns": columns, "closed": closed, "total": len(deals),
                                          "materials": get_kb().materials,
                                          "can_seed": viewer.role in ("park_manager", "admin")})


# --- one deal ------------------------------------------------------------------------------------------
def deal_context(session: Session, viewer: Viewer, deal_id: Id) -> dict[str, Any]:
    deal = deals_svc.get_deal(session=session, actor=viewer.actor, deal_id=deal_id)
    try:
        ledger = deals_svc.get_ledger(session=session, actor=viewer.actor, deal_id=deal_id)
        ledger_error = None
    except Conflict as exc:
        ledger, ledger_error = None, exc.message
    can_move = bool(deal.your_sides)
    proposal = None  # the matcher's proposal the deal came from, as this viewer may see it (its explanation)
    if deal.proposal_id is not None:
        try:
            proposal = deals_svc.get_proposal(session=session, actor=viewer.actor, proposal_id=deal.proposal_id)
        except NotFound:
            proposal = None
    records = deals_svc.ledger_records(session=session, actor=viewer.actor, deal_id=deal_id)
    return {
        "deal": deal, "ledger": ledger, "ledger_error": ledger_error, "proposal": proposal,
        "records": records, "record": records[-1] if records else None,
        "events": deals_svc.events(session=session, actor=viewer.actor, deal_id=deal_id),
        "notes": deals_svc.list_notes(session=session, actor=viewer.actor, deal_id=deal_id),
        "deliveries": deals_svc.list_deliveries(session=session, actor=viewer.actor, deal_id=deal_id),
        "materials": get_kb().materials, "can_move": can_move,
        "can_terms": can_move and deal.status in deals_svc.TERMS_STATES,
        "can_deliver": can_move and deal.status == "active",
        "can_correct": can_move and deal.status in deals_svc.CORRECTABLE,
        "can_approve": (viewer.role in ("park_manager", "admin") and can_move and deal.gates.needs_transfer_approval
                        and deal.status not in deals_svc.TERMINAL),
        "forms": {}, "errors": {}, "done": None,
    }


def _terms_form(deal: Any) -> dict[str, str]:
    def text(v: Any) -> str:
        return "" if v is None else (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))

    return {k: text(getattr(deal, k)) for k in ("agreed_quantity", "price", "logistics", "start_date", "end_date")}


def _deal_response(request: Request, session: Session, viewer: Viewer, deal_id: Id, *,
                   form_name: str | None = None, form: dict[str, str] | None = None, errors: Errors | None = None,
                   done: str | None = None) -> Response:
    context = deal_context(session, viewer, deal_id)
    context["forms"] = {"terms": _terms_form(context["deal"])}
    if form_name and errors:
        context["forms"][form_name] = form or {}
        context["errors"] = {form_name: errors}
    context["done"] = done
    status = 422 if errors else 200
    block = "deal_body" if request.headers.get("HX-Request") == "true" else None
    return render(request, "deal.html", context, block=block, status_code=status)


@router.get("/deals/new")
def seed_form(request: Request, session: SessionDep, viewer: CurrentViewer) -> Response:
    require_role(viewer, "park_manager", "admin")
    return render(request, "deal_new.html", seed_context(session, viewer) | {"form": {}, "errors": {}})


@router.get("/deals/{deal_id}")
def deal_page(request: Request, session: SessionDep, viewer: CurrentViewer, deal_id: Id) -> Response:
    context = deal_context(session, viewer, deal_id)
    context["forms"] = {"terms": _terms_form(context["deal"])}
    return render(request, "deal.html", context)


def _to_named_field(errors: Errors, form: dict[str, str]) -> None:
    """A schema-wide error that names a field ("end_date must not be before start_date") goes next to the
    first field it names."""
    whole = errors.get("__all__")
    if whole is None:
        return
    named = sorted((whole.msg.find(name), name) for name in form if name in whole.msg)
    if named:
        errors.setdefault(named[0][1], errors.pop("__all__"))


def _apply(request: Request, session: Session, viewer: Viewer, deal_id: Id, form_name: str, form: dict[str, str],
           model: Any, call: Any, done: str) -> Response:
    """Validate ``form`` with ``model``, call the service, answer the deal body (422 with errors inline)."""
    deals_svc.get_deal(session=session, actor=viewer.actor, deal_id=deal_id)  # 404 first
    data, errors = validate(model, form)
    _to_named_field(errors, form)
    if data is not None:
        try:
            call(data)
        except InvalidInput as exc:
            session.rollback()
            errors = domain_errors(exc)
        except Conflict as exc:
            session.rollback()
            errors = {"__all__": state_error(exc.message, exc.code)}
    if errors:
        return _deal_response(request, session, viewer, deal_id, form_name=form_name, form=form, errors=errors)
    return _deal_response(request, session, viewer, deal_id, done=done)


@router.post("/deals/{deal_id}/transitions")
def move_deal(request: Request, session: SessionDep, viewer: CurrentViewer, deal_id: Id, form: Form) -> Response:
    values = {k: form.get(k, "") for k in ("action", "reason", "note")}
    if values["action"] in REASON_ACTIONS and not values["reason"]:
        deals_svc.get_deal(session=session, actor=viewer.actor, deal_id=deal_id)
        return _deal_response(request, session, viewer, deal_id, form_name=values["action"], form=values,
                              errors={"reason": FieldError(key="err.required", msg="give a reason")})
    name = values["action"] if values["action"] in REASON_ACTIONS else "action"
    return _apply(request, session, viewer, deal_id, name, values, DealTransition,
                  lambda move: deals_svc.transition(session=session, actor=viewer.actor, deal_id=deal_id, move=move),
                  "moved")


@router.post("/deals/{deal_id}/terms")
def deal_terms(request: Request, session: SessionDep, viewer: CurrentViewer, deal_id: Id, form: Form) -> Response:
    values = {k: form.get(k, "") for k in ("agreed_quantity", "price", "logistics", "start_date", "end_date")}
    return _apply(request, session, viewer, deal_id, "terms", values, DealTerms,
                  lambda terms: deals_svc.update_terms(session=session, actor=viewer.actor, deal_id=deal_id,
                                                       terms_in=terms), "terms")


@router.post("/deals/{deal_id}/notes")
def deal_note(request: Request, session: SessionDep, viewer: CurrentViewer, deal_id: Id, form: Form) -> Response:
    return _apply(request, session, viewer, deal_id, "note", {"text": form.get("text", "")}, DealNoteCreate,
                  lambda note: deals_svc.add_note(session=session, actor=viewer.actor, deal_id=deal_id,
                                                  note_in=note), "note")


DELIVERY_FIELDS = ("delivered_on", "quantity", "manifest_number", "document_ref", "note", "over_agreed_reason")


@router.post("/deals/{deal_id}/deliveries")
def deal_delivery(request: Request, session: SessionDep, viewer: CurrentViewer, deal_id: Id,
                  form: Form) -> Response:
    values = {k: form.get(k, "") for k in DELIVERY_FIELDS}
    return _apply(request, session, viewer, deal_id, "delivery", values, DeliveryCreate,
                  lambda d: deals_svc.add_delivery(session=session, actor=viewer.actor, deal_id=deal_id,
                                                   delivery_in=d), "delivery")


@router.post("/deals/{deal_id}/deliveries/{delivery_id}/void")
def deal_delivery_void(request: Request, session: SessionDep, viewer: CurrentViewer, deal_id: Id,
                       delivery_id: Id, form: Form) -> Response:
    return _apply(request, session, viewer, deal_id, f"void-{delivery_id}", {"reason": form.get("reason", "")},
                  DeliveryVoid, lambda v: deals_svc.void_delivery(session=session, actor=viewer.actor,
                                                                  deal_id=deal_id, delivery_id=delivery_id,
                                                                  void_in=v), "delivery_void")


@router.post("/deals/{deal_id}/deliveries/{delivery_id}/correct")
def deal_delivery_correct(request: Request, session: SessionDep, viewer: CurrentViewer, deal_id: Id,
                          delivery_id: Id, form: Form) -> Response:
    values = {k: form.get(k, "") for k in (*DELIVERY_FIELDS, "reason")}
    return _apply(request, session, viewer, deal_id, f"correct-{delivery_id}", values, DeliveryCorrection,
                  lambda c: deals_svc.correct_delivery(session=session, actor=viewer.actor, deal_id=deal_id,
                                                       delivery_id=delivery_id, correction=c), "delivery_correct")


@router.post("/deals/{deal_id}/ledger")
def deal_ledger_move(request: Request, session: SessionDep, viewer: CurrentViewer, deal_id: Id,
                     form: Form) -> Response:
    """Evidence (a party), verify or reject (a verifier) the deal's benefit figures."""
    values = {k: form.get(k, "") for k in ("action", "record_id", "note", "reference")}
    name = f"ledger-{values['action']}" if values["action"] in ("evidence", "verify", "reject") else "ledger"
    return _apply(request, session, viewer, deal_id, name, values, LedgerTransition,
                  lambda move: deals_svc.move_ledger(session=session, actor=viewer.actor, deal_id=deal_id,
                                                     move=move), f"ledger_{values['action']}")


@router.post("/deals/{deal_id}/approval")
def deal_approval(request: Request, session: SessionDep, viewer: CurrentViewer, deal_id: Id,
                  form: Form) -> Response:
    values = {k: form.get(k, "") for k in ("approved_by", "reference", "approval_date")}
    # rights before the form: no field errors for a form this user is not shown
    deals_svc.require_approval_rights(session=session, actor=viewer.actor, deal_id=deal_id)
    return _apply(request, session, viewer, deal_id, "approval", values, ApprovalCreate,
                  lambda a: deals_svc.record_approval(session=session, actor=viewer.actor, deal_id=deal_id,
                                                      approval_in=a), "approval")


# --- seeding an existing exchange ----------------------------------------------------------------------
def seed_context(session: Session, viewer: Viewer) -> dict[str, Any]:
    """Active haves and wants of the viewer's parks (park managers) or everywhere (admins)."""
    park_ids = sorted(viewer.actor.park_ids) if viewer.role == "park_manager" else [None]
    haves: list[Any] = []
    wants: list[Any] = []
    for park_id in park_ids:
        found, _ = listings_svc.list_listings(session=session, actor=viewer.actor, park_id=park_id, status="active",
                                              sort="material", limit=MAX_LIMIT)
        for x in found:
            if x.anonymised or x.visibility == "private":
                continue
            (haves if x.kind == "have" else wants).append(x)
    return {"haves": haves, "wants": wants, "materials": get_kb().materials}


@router.post("/deals/new")
def seed_deal(request: Request, session: SessionDep, viewer: CurrentViewer, form: Form) -> Response:
    require_role(viewer, "park_manager", "admin")
    values = {k: form.get(k, "") for k in ("supply_listing_id", "demand_listing_id", "quantity", "note")}
    missing: Errors = {k: FieldError(key="err.required", msg="required")
                       for k in ("supply_listing_id", "demand_listing_id", "quantity") if not values[k]}
    deal_in, errors = (None, missing) if missing else validate(DealCreate, values)
    if deal_in is not None:
        try:
            deal = deals_svc.create_deal(session=session, actor=viewer.actor, deal_in=deal_in)
            return Response(status_code=200, headers={"HX-Redirect": f"/deals/{deal.id}"})
        except InvalidInput as exc:
            session.rollback()
            errors = domain_errors(exc)
        except PermissionDenied as exc:
            session.rollback()
            errors = {"supply_listing_id": FieldError(key=None, msg=exc.message)}
        except Conflict as exc:
            session.rollback()
            errors = {"__all__": state_error(exc.message, exc.code)}
    return render(request, "deal_new.html", seed_context(session, viewer) | {"form": values, "errors": errors},
                  block="seed_form", status_code=422)

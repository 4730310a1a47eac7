"""Deals (the workflow from proposal to completed exchange), their notes, deliveries and benefit ledger;
proposals (read, and turned into deals); regional overrides of knowledge-base values (admins)."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from backend.api.deps import CurrentActor, SessionDep
from backend.api.params import Id, OptionalId, PagingDep
from backend.schemas import Page
from backend.schemas_deals import (
    ApprovalCreate,
    BenefitRecordPublic,
    DealCreate,
    DealEventPublic,
    DealNoteCreate,
    DealNotePublic,
    DealPublic,
    DealStatus,
    DealTerms,
    DealTransition,
    DeliveryCorrection,
    DeliveryCreate,
    DeliveryPublic,
    DeliveryVoid,
    LedgerPublic,
    LedgerState,
    LedgerTransition,
    OverrideCreate,
    OverridePublic,
    OverrideUpdate,
    ProposalPublic,
    ProposalStatus,
)
from backend.services import deals as svc
from backend.services import ledger

router = APIRouter(tags=["deals"])


# --- proposals -----------------------------------------------------------------------------------------
@router.get("/proposals", response_model=Page[ProposalPublic])
def list_proposals(session: SessionDep, actor: CurrentActor, paging: PagingDep, run_id: OptionalId = None,
                   status: ProposalStatus | None = None,
                   listing_id: Annotated[OptionalId, Query(description="either side")] = None) -> dict:
    data, count = svc.list_proposals(session=session, actor=actor, run_id=run_id, status=status,
                                     listing_id=listing_id, **paging.model_dump())
    return {"data": data, "count": count}


@router.get("/proposals/{proposal_id}", response_model=ProposalPublic)
def get_proposal(session: SessionDep, actor: CurrentActor, proposal_id: Id) -> ProposalPublic:
    return svc.get_proposal(session=session, actor=actor, proposal_id=proposal_id)


# --- deals ---------------------------------------------------------------------------------------------
@router.get("/deals", response_model=Page[DealPublic])
def list_deals(session: SessionDep, actor: CurrentActor, paging: PagingDep, status: DealStatus | None = None,
               listing_id: OptionalId = None,
               ledger_state: Annotated[LedgerState | None, Query(description="state of the benefit figures "
                                                                             "(evidenced: awaiting a verifier)")]
               = None) -> dict:
    data, count = svc.list_deals(session=session, actor=actor, status=status, listing_id=listing_id,
                                 ledger_state=ledger_state, **paging.model_dump())
    return {"data": data, "count": count}


@router.post("/deals", response_model=DealPublic, status_code=201)
def create_deal(session: SessionDep, actor: CurrentActor, deal_in: DealCreate) -> DealPublic:
    deal = svc.create_deal(session=session, actor=actor, deal_in=deal_in)
    return svc.get_deal(session=session, actor=actor, deal_id=deal.id or 0)


@router.get("/deals/{deal_id}", response_model=DealPublic)
def get_deal(session: SessionDep, actor: CurrentActor, deal_id: Id) -> DealPublic:
    return svc.get_deal(session=session, actor=actor, deal_id=deal_id)


@router.post("/deals/{deal_id}/transitions", response_model=DealPublic)
def move_deal(session: SessionDep, actor: CurrentActor, deal_id: Id, move: DealTransition) -> DealPublic:
    svc.transition(session=session, actor=actor, deal_id=deal_id, move=move)
    return svc.get_deal(session=session, actor=actor, deal_id=deal_id)


@router.get("/deals/{deal_id}/events", response_model=list[DealEventPublic])
def deal_events(session: SessionDep, actor: CurrentActor, deal_id: Id) -> list:
    return svc.events(session=session, actor=actor, deal_id=deal_id)


@router.patch("/deals/{deal_id}/terms", response_model=DealPublic)
def update_terms(session: SessionDep, actor: CurrentActor, deal_id: Id, terms_in: DealTerms) -> DealPublic:
    svc.update_terms(session=session, actor=actor, deal_id=deal_id, terms_in=terms_in)
    return svc.get_deal(session=session, actor=actor, deal_id=deal_id)


@router.post("/deals/{deal_id}/approval", response_model=DealPublic)
def record_approval(session: SessionDep, actor: CurrentActor, deal_id: Id,
                    approval_in: ApprovalCreate) -> DealPublic:
    svc.record_approval(session=session, actor=actor, deal_id=deal_id, approval_in=approval_in)
    return svc.get_deal(session=session, actor=actor, deal_id=deal_id)


@router.get("/deals/{deal_id}/notes", response_model=list[DealNotePublic])
def list_notes(session: SessionDep, actor: CurrentActor, deal_id: Id) -> list:
    return svc.list_notes(session=session, actor=actor, deal_id=deal_id)


@router.post("/deals/{deal_id}/notes", response_model=DealNotePublic, status_code=201)
def add_note(session: SessionDep, actor: CurrentActor, deal_id: Id, note_in: DealNoteCreate) -> object:
    return svc.add_note(session=session, actor=actor, deal_id=deal_id, note_in=note_in)


@router.get("/deals/{deal_id}/deliveries", response_model=list[DeliveryPublic])
def list_deliveries(session: SessionDep, actor: CurrentActor, deal_id: Id) -> list:
    return svc.list_deliveries(session=session, actor=actor, deal_id=deal_id)


@router.post("/deals/{deal_id}/deliveries", response_model=DeliveryPublic, status_code=201)
def add_delivery(session: SessionDep, actor: CurrentActor, deal_id: Id, delivery_in: DeliveryCreate) -> object:
    return svc.add_delivery(session=session, actor=actor, deal_id=deal_id, delivery_in=delivery_in)


@router.post("/deals/{deal_id}/deliveries/{delivery_id}/void", response_model=DeliveryPublic)
def void_delivery(session: SessionDep, actor: CurrentActor, deal_id: Id, delivery_id: Id,
                  void_in: DeliveryVoid) -> object:
    """Void a wrong delivery (kept, marked with who, when and why; it no longer counts anywhere)."""
    return svc.void_delivery(session=session, actor=actor, deal_id=deal_id, delivery_id=delivery_id,
                             void_in=void_in)


@router.post("/deals/{deal_id}/deliveries/{delivery_id}/correct", response_model=DeliveryPublic, status_code=201)
def correct_delivery(session: SessionDep, actor: CurrentActor, deal_id: Id, delivery_id: Id,
                     correction: DeliveryCorrection) -> object:
    """Re-record a delivery: the old one is voided with ``reason``, the new one checked like any delivery."""
    return svc.correct_delivery(session=session, actor=actor, deal_id=deal_id, delivery_id=delivery_id,
                                correction=correction)


@router.get("/deals/{deal_id}/ledger", response_model=LedgerPublic)
def deal_ledger(session: SessionDep, actor: CurrentActor, deal_id: Id) -> LedgerPublic:
    """The benefits computed now with today's knowledge base (not frozen); the figures of record are the
    ledger's records (``/ledger/records``)."""
    return svc.get_ledger(session=session, actor=actor, deal_id=deal_id)


@router.get("/deals/{deal_id}/ledger/records", response_model=list[BenefitRecordPublic])
def ledger_records(session: SessionDep, actor: CurrentActor, deal_id: Id) -> list[BenefitRecordPublic]:
    """The benefit figures' states, oldest first, each frozen when it happened (knowledge-base version, every
    input and factor with its source, formulas, counterfactual); the last one is the current state."""
    return svc.ledger_records(session=session, actor=actor, deal_id=deal_id)


@router.post("/deals/{deal_id}/ledger/transitions", response_model=BenefitRecordPublic, status_code=201)
def move_ledger(session: SessionDep, actor: CurrentActor, deal_id: Id,
                move: LedgerTransition) -> BenefitRecordPublic:
    """``evidence`` (the deal's parties): freeze the documented deliveries to date; ``verify`` or ``reject``
    (a verifier): sign off or send back the evidenced record ``record_id``, with ``note``."""
    record = svc.move_ledger(session=session, actor=actor, deal_id=deal_id, move=move)
    return next(r for r in svc.ledger_records(session=session, actor=actor, deal_id=deal_id) if r.id == record.id)


# --- regional overrides --------------------------------------------------------------------------------
@router.get("/overrides", response_model=list[OverridePublic], tags=["overrides"])
def list_overrides(session: SessionDep, actor: CurrentActor) -> list:
    return ledger.list_overrides(session=session, actor=actor)


@router.post("/overrides", response_model=OverridePublic, status_code=201, tags=["overrides"])
def create_override(session: SessionDep, actor: CurrentActor, override_in: OverrideCreate) -> object:
    return ledger.create_override(session=session, actor=actor, override_in=override_in)


@router.patch("/overrides/{override_id}", response_model=OverridePublic, tags=["overrides"])
def update_override(session: SessionDep, actor: CurrentActor, override_id: Id,
                    override_in: OverrideUpdate) -> object:
    return ledger.update_override(session=session, actor=actor, override_id=override_id, override_in=override_in)


@router.delete("/overrides/{override_id}", status_code=204, tags=["overrides"])
def delete_override(session: SessionDep, actor: CurrentActor, override_id: Id) -> Response:
    ledger.delete_override(session=session, actor=actor, override_id=override_id)
    return Response(status_code=204)

"""Deals: the one place where a deal changes state, with its integrity checks and regulatory gates.

States and the transitions between them (``TRANSITIONS``)::

    proposed --opt_in (both sides)--> interested --negotiate--> negotiating --agree--> agreed
             --activate--> active --complete--> completed
    any open state --decline / cancel (reason required)--> declined / cancelled

``opt_in`` records one side's yes (supplier and receiver separately); the deal becomes ``interested`` when
both sides have said yes. Who may act: see ``backend.policy`` (the firms' own users for their side, the
managers of either firm's park, admins; planners never).

Integrity: deals in ``agreed`` or ``active`` never commit more than the have's quantity, nor deliver more
than the want's. ``agree`` locks the deal and both listing rows (``SELECT ... FOR UPDATE`` on PostgreSQL;
SQLite serialises writers) and sums the committed quantities in the same transaction.

Gates (knowledge base): a hazardous material needs the receiver's valid permit covering its HW code (checked
on agree and activate); a hazardous transfer between provinces needs a recorded approval before it becomes
active; a substitution the knowledge base restricts cannot become a deal.
"""

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from backend import disclosure, policy
from backend.config import get_settings
from backend.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from backend.kb import get_kb
from backend.models import (
    BenefitRecord,
    Deal,
    DealEvent,
    DealNote,
    Delivery,
    Firm,
    Listing,
    Park,
    Permit,
    Proposal,
    Site,
    User,
    utcnow,
)
from backend.policy import Actor
from backend.schemas_deals import (
    ApprovalCreate,
    BenefitRecordPublic,
    DealCreate,
    DealGates,
    DealNoteCreate,
    DealPublic,
    DealTerms,
    DealTransition,
    DeliveryCorrection,
    DeliveryCreate,
    DeliveryPublic,
    DeliveryVoid,
    LedgerPublic,
    LedgerTransition,
)
from backend.services import ledger as ledger_svc
from backend.services.listings import lock_listings
from backend.services.listings import to_public as listing_public
from backend.services.query import apply_sort, page
from matching.economics import permit_covers

OPEN = ("proposed", "interested", "negotiating", "agreed", "active")
TERMINAL = ("completed", "declined", "cancelled")
COMMITTING = ("agreed", "active")
# action -> (states it may start from, state it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "opt_in": (("proposed",), "interested"),
    "negotiate": (("interested",), "negotiating"),
    "agree": (("negotiating",), "agreed"),
    "activate": (("agreed",), "active"),
    "complete": (("active",), "completed"),
    "decline": (OPEN, "declined"),
    "cancel": (OPEN, "cancelled"),
}
TERMS_STATES = ("interested", "negotiating")
SORTABLE = {"id": Deal.id, "status": Deal.status, "created_at": Deal.created_at, "updated_at": Deal.updated_at}
TOLERANCE = 1e-9
#: deal events whose note ISX writes with the deal's exact quantities (terms, delivery overrides, corrections)
QUANTITY_NOTES = ("terms", "delivery_override", "delivery_void", "delivery_correct")
CORRECTABLE = ("active", "completed")  # deliveries are voided or re-recorded while the deal runs or after


# --- quantities ----------------------------------------------------------------------------------------
def listing_capacity(listing: Listing) -> float:
    """A listing's quantity per year in its material's canonical unit ('once' counts as one year)."""
    return ledger_svc.canonical(listing.quantity, listing.unit, listing.material)


def committed_supply(session: Session, listing_ids: Iterable[int], *, exclude_deal: int | None = None,
                     ) -> dict[int, float]:
    """Per have listing: canonical units per year committed by agreed and active deals."""
    ids = list(listing_ids)
    if not ids:
        return {}
    stmt = (select(Deal.supply_listing_id, func.sum(Deal.agreed_quantity))
            .where(Deal.supply_listing_id.in_(ids), Deal.status.in_(COMMITTING)).group_by(Deal.supply_listing_id))
    if exclude_deal is not None:
        stmt = stmt.where(Deal.id != exclude_deal)
    return {int(k): float(v or 0.0) for k, v in session.execute(stmt).all()}


def committed_demand(session: Session, listing_ids: Iterable[int], *, exclude_deal: int | None = None,
                     ) -> dict[int, float]:
    """Per want listing: canonical units (of the want's material) per year that agreed and active deals
    deliver, i.e. agreed quantity × ratio."""
    ids = list(listing_ids)
    if not ids:
        return {}
    stmt = (select(Deal.demand_listing_id, func.sum(Deal.agreed_quantity * Deal.ratio))
            .where(Deal.demand_listing_id.in_(ids), Deal.status.in_(COMMITTING)).group_by(Deal.demand_listing_id))
    if exclude_deal is not None:
        stmt = stmt.where(Deal.id != exclude_deal)
    return {int(k): float(v or 0.0) for k, v in session.execute(stmt).all()}


# --- loading and shaping -------------------------------------------------------------------------------
class Sides:
    """A deal with both listings, firms, sites and parks loaded."""

    def __init__(self, session: Session, deal: Deal) -> None:
        self.deal = deal
        self.supply = _get(session, Listing, deal.supply_listing_id)
        self.demand = _get(session, Listing, deal.demand_listing_id)
        self.supplier = _get(session, Firm, deal.supplier_firm_id)
        self.receiver = _get(session, Firm, deal.receiver_firm_id)
        self.supply_site = _get(session, Site, self.supply.site_id)
        self.demand_site = _get(session, Site, self.demand.site_id)
        self.supply_park = _get(session, Park, self.supplier.park_id)
        self.demand_park = _get(session, Park, self.receiver.park_id)

    @property
    def both_opted_in(self) -> bool:
        return self.deal.supplier_yes_at is not None and self.deal.receiver_yes_at is not None


def _get(session: Session, model: Any, ident: int) -> Any:
    obj = session.get(model, ident)
    if obj is None:  # pragma: no cover - foreign keys keep these
        raise NotFound(f"{model.__name__.lower()} {ident} not found")
    return obj


def _readable(session: Session, actor: Actor, deal_id: int) -> Sides:
    deal = session.get(Deal, deal_id)
    if deal is None:
        raise NotFound(f"deal {deal_id} not found")
    sides = Sides(session, deal)
    if not policy.can_read_deal(actor, sides.supplier, sides.receiver):
        raise NotFound(f"deal {deal_id} not found")
    return sides


def shown_sides(actor: Actor, s: Sides) -> tuple[bool, bool]:
    """(supplier side shown whole, receiver side shown whole) to this viewer (``disclosure.counterpart_whole``)."""
    own = policy.deal_sides(actor, s.supplier, s.receiver)
    sup = disclosure.counterpart_whole(actor, s.supply, s.supplier, both_opted_in=s.both_opted_in, own_sides=own,
                                       listing_side="supplier")
    rec = disclosure.counterpart_whole(actor, s.demand, s.receiver, both_opted_in=s.both_opted_in, own_sides=own,
                                       listing_side="receiver")
    return sup, rec


def distance_seen(actor: Actor, supply: Listing, supplier: Firm, supply_site: Site, demand: Listing,
                  receiver: Firm, demand_site: Site, distance_km: float, *, whole: bool) -> float:
    """A link's distance as the viewer may see it: exact when both sides are shown whole; else the routed
    distance scaled to the great circle between the places the viewer sees (an anonymised side at its coarse
    cell's centre) and rounded, so that it is the same wherever the hidden site lies within its cell."""
    if whole:
        return distance_km
    exact = ledger_svc.great_circle_km(supply_site, demand_site)
    seen = ledger_svc.great_circle_km(_as_seen(actor, supply, supplier, supply_site),
                                      _as_seen(actor, demand, receiver, demand_site))
    return disclosure.rounded_km(distance_km * seen / exact if exact > 0 else distance_km)


def sides_distance(actor: Actor, s: Sides) -> float:
    """The deal's distance as this viewer may see it (``distance_seen``)."""
    sup_whole, rec_whole = shown_sides(actor, s)
    return distance_seen(actor, s.supply, s.supplier, s.supply_site, s.demand, s.receiver, s.demand_site,
                         s.deal.distance_km, whole=sup_whole and rec_whole)


def exact_quantities(actor: Actor, s: Sides) -> bool:
    """Does the viewer see this deal's quantities exactly (``disclosure.exact_deal_quantities``)?"""
    sup_whole, rec_whole = shown_sides(actor, s)
    return disclosure.exact_deal_quantities(actor, sides_whole=sup_whole and rec_whole)


def gates(session: Session, s: Sides, today: date | None = None) -> DealGates:
    kb = get_kb()
    today = today or date.today()
    material = kb.materials.get(s.deal.material)
    hazardous = bool(material and material.hazardous)
    hw = (s.supply.hw_code or (material.hw_code if material else None)) if hazardous else None
    permit_number = None
    if hazardous:
        for permit in session.scalars(select(Permit).where(Permit.firm_id == s.receiver.id,
                                                           Permit.valid_from <= today, Permit.valid_to >= today)
                                      .order_by(Permit.valid_to.desc())):
            if permit_covers(permit.hw_codes, hw):
                permit_number = permit.number
                break
    cross = s.supply_park.province != s.demand_park.province
    return DealGates(hazardous=hazardous, hw_code=hw, receiver_permit=permit_number,
                     permit_ok=not hazardous or permit_number is not None, cross_province=cross,
                     needs_transfer_approval=s.deal.needs_transfer_approval,
                     approval_recorded=s.deal.approval_reference is not None,
                     restriction=ledger_svc.restriction_reason(kb, s.deal.material, s.deal.replaces))


def allowed_actions(actor: Actor, s: Sides) -> list[str]:
    if not policy.can_move_deal(actor, s.supplier, s.receiver):
        return []
    own = policy.deal_sides(actor, s.supplier, s.receiver)
    out = []
    for action, (sources, _target) in TRANSITIONS.items():
        if s.deal.status not in sources:
            continue
        if action == "opt_in":
            said = {"supplier": s.deal.supplier_yes_at is not None, "receiver": s.deal.receiver_yes_at is not None}
            if all(said[side] for side in own):
                continue
        out.append(action)
    return out


def allowed_ledger_actions(actor: Actor, s: Sides, state: str | None) -> list[str]:
    """The benefit-ledger changes this viewer may ask for now (``policy.can_move_ledger`` and the states
    ``ledger.LEDGER_TRANSITIONS`` allows; evidence while the deal is active or completed)."""
    out = []
    for action in ("evidence", "verify", "reject"):
        if state not in ledger_svc.LEDGER_TRANSITIONS[action][0]:
            continue
        if action == "evidence" and s.deal.status not in CORRECTABLE:
            continue
        if policy.can_move_ledger(actor, s.supplier, s.receiver, action):
            out.append(action)
    return out


def to_public(session: Session, actor: Actor, s: Sides) -> DealPublic:
    own = policy.deal_sides(actor, s.supplier, s.receiver)
    sup_whole, rec_whole = shown_sides(actor, s)
    d = s.deal
    record = ledger_svc.current_record(session, d.id or 0)
    state = record.state if record is not None else None
    exact = disclosure.exact_deal_quantities(actor, sides_whole=sup_whole and rec_whole)
    quantity, quantity_band = disclosure.shown_quantity(d.quantity, whole=exact)
    agreed, agreed_band = disclosure.shown_quantity(d.agreed_quantity, whole=exact)
    return DealPublic(
        id=d.id or 0, status=d.status, proposal_id=d.proposal_id,
        supply=listing_public(s.supply, s.supplier, s.supply_site, s.supply_park, anonymised=not sup_whole),
        demand=listing_public(s.demand, s.receiver, s.demand_site, s.demand_park, anonymised=not rec_whole),
        supplier_firm_id=s.supplier.id if sup_whole else None,
        supplier_firm_name=s.supplier.name if sup_whole else None,
        receiver_firm_id=s.receiver.id if rec_whole else None,
        receiver_firm_name=s.receiver.name if rec_whole else None,
        material=d.material, replaces=d.replaces, unit=d.unit, ratio=d.ratio, quantity=quantity,
        quantity_band=quantity_band, distance_km=sides_distance(actor, s),
        mode=d.mode, supplier_yes=d.supplier_yes_at is not None,
        receiver_yes=d.receiver_yes_at is not None, agreed_quantity=agreed, agreed_quantity_band=agreed_band,
        price=d.price,
        logistics=d.logistics, start_date=d.start_date, end_date=d.end_date, approval_by=d.approval_by,
        approval_reference=d.approval_reference, approval_date=d.approval_date, reason=d.reason,
        ledger_state=state, ledger_actions=allowed_ledger_actions(actor, s, state),
        gates=_gates_shown(gates(session, s), rec_whole), your_sides=sorted(own),
        allowed_actions=allowed_actions(actor, s),
        created_at=d.created_at, updated_at=d.updated_at)


def _gates_shown(g: DealGates, receiver_whole: bool) -> DealGates:
    """A permit number names its holder: not shown while the receiver is anonymous to the viewer."""
    return g if receiver_whole else g.model_copy(update={"receiver_permit": None})


def _hidden_users(session: Session, actor: Actor, s: Sides) -> frozenset[int]:
    """Users of a side the viewer may not identify yet (their ids are left out of history and notes)."""
    sup_whole, rec_whole = shown_sides(actor, s)
    hidden_firms = [f.id for f, whole in ((s.supplier, sup_whole), (s.receiver, rec_whole)) if not whole]
    if not hidden_firms:
        return frozenset()
    return frozenset(session.scalars(select(User.id).where(User.firm_id.in_(hidden_firms))))


def get_deal(*, session: Session, actor: Actor, deal_id: int) -> DealPublic:
    return to_public(session, actor, _readable(session, actor, deal_id))


def list_deals(*, session: Session, actor: Actor, status: str | None = None, listing_id: int | None = None,
               ledger_state: str | None = None, sort: str | None = None, skip: int = 0,
               limit: int = 100) -> tuple[list[DealPublic], int]:
    """``ledger_state``: only deals whose benefit figures are currently in that state (``evidenced``: the
    verifiers' work list)."""
    stmt = select(Deal).where(policy.deals_clause(actor, Deal.supplier_firm_id, Deal.receiver_firm_id))
    if status:
        stmt = stmt.where(Deal.status == status)
    if ledger_state:
        latest = select(func.max(BenefitRecord.id)).group_by(BenefitRecord.deal_id)
        stmt = stmt.where(Deal.id.in_(select(BenefitRecord.deal_id).where(BenefitRecord.id.in_(latest),
                                                                          BenefitRecord.state == ledger_state)))
    if listing_id is not None:
        stmt = stmt.where(or_(Deal.supply_listing_id == listing_id, Deal.demand_listing_id == listing_id))
    rows, total = page(session, apply_sort(stmt, sort, SORTABLE, Deal.id), skip=skip, limit=limit)
    return [to_public(session, actor, Sides(session, r[0])) for r in rows], total


def events(*, session: Session, actor: Actor, deal_id: int) -> list[DealEvent]:
    s = _readable(session, actor, deal_id)
    hidden = _hidden_users(session, actor, s)
    exact = exact_quantities(actor, s)
    rows = session.scalars(select(DealEvent).where(DealEvent.deal_id == deal_id).order_by(DealEvent.id))
    out = []
    for e in rows:
        update: dict[str, Any] = {"user_id": None} if e.user_id in hidden else {}
        if not exact and e.action in QUANTITY_NOTES:  # the notes ISX writes there state exact quantities
            update["note"] = None
        out.append(e.model_copy(update=update) if update else e)
    return out


# --- creation ------------------------------------------------------------------------------------------
def _listing_row(session: Session, listing_id: int) -> tuple[Listing, Firm, Site, Park] | None:
    row = session.execute(select(Listing, Firm, Site, Park).join(Firm, Firm.id == Listing.firm_id)
                          .join(Site, Site.id == Listing.site_id).join(Park, Park.id == Firm.park_id)
                          .where(Listing.id == listing_id)).first()
    return None if row is None else (row[0], row[1], row[2], row[3])


def _visible_listing(session: Session, actor: Actor, listing_id: int) -> bool:
    return session.scalar(select(Listing.id).join(Firm, Firm.id == Listing.firm_id)
                          .where(Listing.id == listing_id, disclosure.visible_clause(actor))) is not None


def create_deal(*, session: Session, actor: Actor, deal_in: DealCreate) -> Deal:
    kb = get_kb()
    pr = ledger_svc.pricing(session)
    proposal: Proposal | None = None
    if deal_in.proposal_id is not None:
        proposal = session.get(Proposal, deal_in.proposal_id)
        if proposal is None or not proposal_visible(session, actor, proposal):
            raise InvalidInput.at(("body", "proposal_id"), f"proposal {deal_in.proposal_id} does not exist")
        supply_id, demand_id, quantity = proposal.supply_listing_id, proposal.demand_listing_id, proposal.quantity
    else:
        assert deal_in.supply_listing_id is not None and deal_in.demand_listing_id is not None
        assert deal_in.quantity is not None
        supply_id, demand_id, quantity = deal_in.supply_listing_id, deal_in.demand_listing_id, deal_in.quantity
        for field, ident in (("supply_listing_id", supply_id), ("demand_listing_id", demand_id)):
            if not _visible_listing(session, actor, ident):
                raise InvalidInput.at(("body", field), f"listing {ident} does not exist")
    lock_listings(session, [supply_id, demand_id])  # a concurrent change of kind or status waits for this deal
    sup_row, dem_row = _listing_row(session, supply_id), _listing_row(session, demand_id)
    for field, ident, row in (("supply_listing_id", supply_id, sup_row), ("demand_listing_id", demand_id, dem_row)):
        if row is None:  # deleted by a request that held the lock first
            raise InvalidInput.at(("body", "proposal_id" if proposal is not None else field),
                                  f"listing {ident} does not exist")
    assert sup_row is not None and dem_row is not None
    supply, supplier, supply_site, supply_park = sup_row
    demand, receiver, demand_site, demand_park = dem_row
    if proposal is None:
        policy.require(policy.can_seed_deal(actor, supplier, receiver),
                       "only admins and the park managers of either firm record deals by hand")
    else:
        policy.require(policy.can_move_deal(actor, supplier, receiver),
                       "only the two firms, their park managers and admins turn a proposal into a deal")
    if supply.kind != "have":
        raise InvalidInput.at(("body", "supply_listing_id"), f"listing {supply.id} is not a have")
    if demand.kind != "want":
        raise InvalidInput.at(("body", "demand_listing_id"), f"listing {demand.id} is not a want")
    for field, listing in (("supply_listing_id", supply), ("demand_listing_id", demand)):
        if listing.status != "active":
            raise InvalidInput.at(("body", field), f"listing {listing.id} is not active")
    if not policy.pair_may_be_linked(supply, supplier, demand, receiver):
        raise InvalidInput.at(("body", "demand_listing_id"),
                              "a park-only listing can be linked only within its own park")
    reason = ledger_svc.restriction_reason(kb, supply.material, demand.material)
    if reason is not None:
        raise InvalidInput.at(("body", "demand_listing_id"), f"blocked by the knowledge base: {reason}",
                              "restricted")
    industries = ledger_svc.receiver_industries(session, demand)
    hidden = disclosure.anonymised(actor, supply, supplier) or disclosure.anonymised(actor, demand, receiver)
    if proposal is not None:
        if proposal.status != "open":
            raise Conflict(f"proposal {proposal.id} already has a deal")
        lf = ledger_svc.link_figures(pr, supply=supply, demand_material=demand.material, industries=industries,
                                     distance_km=proposal.distance_km, same_site=proposal.mode == "on_site",
                                     mode=proposal.mode, quantity=quantity)
    else:
        def reach(a: Site, b: Site) -> ledger_svc.LinkFigures | None:
            return ledger_svc.link_figures(pr, supply=supply, demand_material=demand.material,
                                           industries=industries, gc_km=ledger_svc.great_circle_km(a, b),
                                           origin_province=supply_park.province,
                                           same_site=supply_site.id == demand_site.id, quantity=quantity)

        lf = reach(supply_site, demand_site)
        if hidden:  # decided from the hidden side's coarse cell: the answer is the same anywhere in the cell
            seen = reach(_as_seen(actor, supply, supplier, supply_site), _as_seen(actor, demand, receiver, demand_site))
            lf = None if seen is None else (lf or seen)
    if lf is None:
        raise InvalidInput.at(("body", "demand_listing_id"), _unreachable_message(
            supply.material, demand.material, None if hidden else ledger_svc.great_circle_km(supply_site, demand_site)),
                              "unreachable")
    distance = lf.economics.distance_km
    material = kb.materials[supply.material]
    deal = Deal(proposal_id=proposal.id if proposal else None, supply_listing_id=supply.id,
                demand_listing_id=demand.id, supplier_firm_id=supplier.id, receiver_firm_id=receiver.id,
                material=supply.material, replaces=demand.material, unit=material.unit, ratio=lf.economics.ratio,
                quantity=quantity, distance_km=distance, mode=lf.economics.mode,
                unit_benefit=lf.economics.unit_benefit, unit_co2_avoided_t=lf.economics.unit_co2_avoided_t,
                needs_transfer_approval=material.hazardous and supply_park.province != demand_park.province,
                created_by=actor.id)
    session.add(deal)
    if proposal is not None:
        proposal.status = "forwarded"
        session.add(proposal)
    session.flush()
    _event(session, actor, deal, "create", "proposed", "proposed", note=deal_in.note)
    session.flush()
    return deal


def _as_seen(actor: Actor, listing: Listing, firm: Firm, site: Site) -> Site:
    """The site as this viewer may see it: at its coarse cell's centre when the listing is anonymised."""
    if not disclosure.anonymised(actor, listing, firm):
        return site
    return Site(id=site.id, firm_id=site.firm_id, name="", lat=site.coarse_lat, lon=site.coarse_lon,
                coarse_lat=site.coarse_lat, coarse_lon=site.coarse_lon)


def _unreachable_message(material: str, wanted: str, distance_km: float | None) -> str:
    """No exact distance when a side is hidden from the caller (``disclosure``: messages reveal no place)."""
    if distance_km is None:
        return (f"{material} cannot serve a want for {wanted} at the distance between these sites "
                "(no substitution rule or transport mode allows it)")
    return (f"{material} cannot serve a want for {wanted} over {distance_km:.0f} km "
            "(no substitution rule or transport mode allows it)")


def _event(session: Session, actor: Actor, deal: Deal, action: str, from_status: str, to_status: str, *,
           note: str | None = None, reason: str | None = None) -> None:
    session.add(DealEvent(deal_id=deal.id or 0, user_id=actor.id, action=action, from_status=from_status,
                          to_status=to_status, note=note, reason=reason))


# --- the state machine ---------------------------------------------------------------------------------
def _lock_deal(session: Session, deal_id: int) -> Deal:
    deal = session.scalar(select(Deal).where(Deal.id == deal_id).with_for_update()
                          .execution_options(populate_existing=True))
    if deal is None:
        raise NotFound(f"deal {deal_id} not found")
    return deal


def _check_integrity(session: Session, s: Sides) -> None:
    """With both listing rows locked: agreed + active deals stay within the have's and the want's quantity."""
    d = s.deal
    lock_listings(session, [d.supply_listing_id, d.demand_listing_id])  # refreshes s.supply and s.demand
    qty = d.agreed_quantity or 0.0
    have_cap = listing_capacity(s.supply)
    have_used = committed_supply(session, [s.supply.id or 0], exclude_deal=d.id).get(s.supply.id or 0, 0.0)
    if have_used + qty > have_cap * (1 + TOLERANCE):
        raise Conflict(f"the have listing {s.supply.id} has {max(have_cap - have_used, 0.0):g} {d.unit}/yr "
                       f"left uncommitted; this deal needs {qty:g}")
    want_cap = listing_capacity(s.demand)
    want_used = committed_demand(session, [s.demand.id or 0], exclude_deal=d.id).get(s.demand.id or 0, 0.0)
    if want_used + qty * d.ratio > want_cap * (1 + TOLERANCE):
        raise Conflict(f"the want listing {s.demand.id} needs only {max(want_cap - want_used, 0.0):g} more per "
                       f"year; this deal would deliver {qty * d.ratio:g}")


def _check_gates(session: Session, s: Sides, *, activating: bool) -> None:
    g = gates(session, s)
    if g.restriction:
        raise Conflict(f"blocked by the knowledge base: {g.restriction}")
    if not g.permit_ok:
        raise Conflict(f"{s.deal.material} is hazardous waste ({g.hw_code}): the receiving firm needs a valid "
                       f"permit covering {g.hw_code}", code="permit_missing")
    if activating and g.needs_transfer_approval and not g.approval_recorded:
        raise Conflict("a cross-province transfer of hazardous waste needs its approval recorded "
                       f"(POST /api/v1/deals/{s.deal.id}/approval) before the deal becomes active",
                       code="approval_missing")


def transition(*, session: Session, actor: Actor, deal_id: int, move: DealTransition) -> Deal:
    s = _readable(session, actor, deal_id)
    policy.require(policy.can_move_deal(actor, s.supplier, s.receiver), "you may not move this deal")
    own = policy.deal_sides(actor, s.supplier, s.receiver)
    deal = _lock_deal(session, deal_id)
    s.deal = deal
    sources, target = TRANSITIONS[move.action]
    if deal.status not in sources:
        raise Conflict(f"cannot {move.action.replace('_', ' ')} a deal that is {deal.status}")
    before = deal.status
    if move.action in ("decline", "cancel"):
        if not move.reason:
            raise InvalidInput.at(("body", "reason"), f"give a reason to {move.action}", "missing")
        deal.reason = move.reason
    if move.action == "opt_in":
        if move.side is not None and move.side not in own:
            raise PermissionDenied(f"you do not speak for the {move.side} side of this deal")
        said = {"supplier": deal.supplier_yes_at, "receiver": deal.receiver_yes_at}
        chosen = [move.side] if move.side else [side for side in policy.DEAL_SIDES if side in own]
        chosen = [side for side in chosen if said[side] is None]
        if not chosen:
            raise Conflict("your side has already said yes")
        now = utcnow()
        for side in chosen:
            setattr(deal, f"{side}_yes_at", now)
            setattr(deal, f"{side}_yes_by", actor.id)
        both = deal.supplier_yes_at is not None and deal.receiver_yes_at is not None
        deal.status = target if both else before
        _event(session, actor, deal, "opt_in", before, deal.status, note=move.note,
               reason=f"yes from the {' and '.join(chosen)} side")
        session.add(deal)
        session.flush()
        return deal
    if move.action == "agree":
        if deal.agreed_quantity is None:
            raise Conflict(f"record the agreed quantity (PATCH /api/v1/deals/{deal.id}/terms) before agreeing",
                           code="terms_missing")
        _check_gates(session, s, activating=False)
        _check_integrity(session, s)
        _refresh_figures(session, s)
    if move.action == "activate":
        _check_gates(session, s, activating=True)
        _check_integrity(session, s)
    deal.status = target
    session.add(deal)
    _event(session, actor, deal, move.action, before, target, note=move.note, reason=move.reason)
    session.flush()
    if move.action == "agree":  # the plan's benefit figures, frozen: the ledger's first state
        ledger_svc.record_state(session, actor=actor, deal=deal, supplier=s.supplier, receiver=s.receiver,
                                action="estimate")
    return deal


def _refresh_figures(session: Session, s: Sides) -> None:
    """Store today's per-unit benefit and CO2 on the deal (KPIs sum them; the ledger recomputes live)."""
    pr = ledger_svc.pricing(session)
    lf = ledger_svc.link_figures(pr, supply=s.supply, demand_material=s.deal.replaces,
                                 industries=ledger_svc.receiver_industries(session, s.demand),
                                 distance_km=s.deal.distance_km, same_site=s.deal.mode == "on_site",
                                 mode=s.deal.mode, quantity=ledger_svc.deal_quantity(s.deal))
    if lf is not None:
        s.deal.unit_benefit = lf.economics.unit_benefit
        s.deal.unit_co2_avoided_t = lf.economics.unit_co2_avoided_t


def update_terms(*, session: Session, actor: Actor, deal_id: int, terms_in: DealTerms) -> Deal:
    s = _readable(session, actor, deal_id)
    policy.require(policy.can_move_deal(actor, s.supplier, s.receiver), "you may not negotiate this deal")
    deal = _lock_deal(session, deal_id)
    if deal.status not in TERMS_STATES:
        raise Conflict(f"terms are negotiated while a deal is interested or negotiating, not {deal.status}")
    changes = terms_in.model_dump(exclude_unset=True)
    start, end = changes.get("start_date", deal.start_date), changes.get("end_date", deal.end_date)
    if start and end and end < start:
        raise InvalidInput.at(("body", "end_date"), "end_date must not be before start_date")
    if "agreed_quantity" in changes and changes["agreed_quantity"] is None:
        raise InvalidInput.at(("body", "agreed_quantity"), "agreed_quantity may not be null")
    deal.sqlmodel_update(changes)
    session.add(deal)
    _event(session, actor, deal, "terms", deal.status, deal.status,
           note=", ".join(f"{k}={v}" for k, v in changes.items()) or None)
    session.flush()
    return deal


def require_approval_rights(*, session: Session, actor: Actor, deal_id: int) -> None:
    """404 for a deal the actor may not see, 403 unless the actor may record its transfer approval."""
    s = _readable(session, actor, deal_id)
    policy.require(policy.can_record_approval(actor, s.supplier, s.receiver),
                   "approvals are recorded by park managers or admins")


def record_approval(*, session: Session, actor: Actor, deal_id: int, approval_in: ApprovalCreate) -> Deal:
    require_approval_rights(session=session, actor=actor, deal_id=deal_id)
    deal = _lock_deal(session, deal_id)
    if deal.status in TERMINAL:
        raise Conflict(f"the deal is {deal.status}")
    if not deal.needs_transfer_approval:
        raise Conflict("this deal needs no transfer approval")
    deal.approval_by = approval_in.approved_by
    deal.approval_reference = approval_in.reference
    deal.approval_date = approval_in.approval_date
    deal.approval_recorded_by = actor.id
    session.add(deal)
    _event(session, actor, deal, "approval", deal.status, deal.status,
           note=f"{approval_in.approved_by}, {approval_in.reference}, {approval_in.approval_date.isoformat()}")
    session.flush()
    return deal


# --- notes and deliveries ------------------------------------------------------------------------------
def add_note(*, session: Session, actor: Actor, deal_id: int, note_in: DealNoteCreate) -> DealNote:
    s = _readable(session, actor, deal_id)
    policy.require(policy.can_move_deal(actor, s.supplier, s.receiver), "only the deal's parties leave notes")
    note = DealNote(deal_id=deal_id, user_id=actor.id, text=note_in.text)
    session.add(note)
    session.flush()
    return note


def list_notes(*, session: Session, actor: Actor, deal_id: int) -> list[DealNote]:
    s = _readable(session, actor, deal_id)
    hidden = _hidden_users(session, actor, s)
    rows = session.scalars(select(DealNote).where(DealNote.deal_id == deal_id).order_by(DealNote.id))
    return [n.model_copy(update={"user_id": None}) if n.user_id in hidden else n for n in rows]


def delivery_tolerance() -> float:
    """The share by which a calendar year's deliveries may exceed the agreed yearly quantity before an explicit,
    audited override (``over_agreed_reason``) is needed. A platform policy, not a measured figure: the setting
    ``ISX_DELIVERY_TOLERANCE`` (default 10 %, see ``backend.config``)."""
    return get_settings().delivery_tolerance


def _over_limit(agreed: float) -> float:
    return agreed * (1 + delivery_tolerance()) + TOLERANCE


def active_from(session: Session, deal: Deal) -> date | None:
    """The first day deliveries may be dated: the agreed start date, else the day the deal became active."""
    if deal.start_date is not None:
        return deal.start_date
    at = session.scalar(select(func.min(DealEvent.at)).where(DealEvent.deal_id == deal.id,
                                                            DealEvent.action == "activate"))
    return at.date() if at is not None else None


def delivered_in_year(session: Session, deal_id: int, year: int, *, exclude: int | None = None) -> float:
    """Canonical units delivered on a deal in a calendar year (voided deliveries do not count)."""
    stmt = select(func.coalesce(func.sum(Delivery.quantity), 0.0)).where(
        Delivery.deal_id == deal_id, Delivery.voided_at.is_(None),
        Delivery.delivered_on >= date(year, 1, 1), Delivery.delivered_on <= date(year, 12, 31))
    if exclude is not None:
        stmt = stmt.where(Delivery.id != exclude)
    return float(session.scalar(stmt) or 0.0)


def _check_delivery(session: Session, s: Sides, deal: Deal, delivery_in: DeliveryCreate, *,
                    replacing: int | None = None, today: date | None = None) -> None:
    """The rules of a delivery, checked with the deal row locked (racing deliveries wait for each other)."""
    today = today or date.today()
    if gates(session, s).hazardous and not delivery_in.manifest_number:
        raise InvalidInput.at(("body", "manifest_number"),
                              "hazardous waste deliveries need the 转移联单 manifest number", "missing")
    day = delivery_in.delivered_on
    if day > today:
        raise InvalidInput([{"loc": ["body", "delivered_on"], "type": "delivery_in_future",
                             "msg": f"a delivery cannot be dated in the future ({day.isoformat()}; today is "
                                    f"{today.isoformat()})", "ctx": {"date": day.isoformat()}}])
    start = active_from(session, deal)
    if start is not None and day < start:
        raise InvalidInput([{"loc": ["body", "delivered_on"], "type": "delivery_before_active",
                             "msg": f"the deal is active from {start.isoformat()}; a delivery cannot be dated "
                                    f"{day.isoformat()}", "ctx": {"date": start.isoformat()}}])
    agreed = deal.agreed_quantity or deal.quantity
    total = delivered_in_year(session, deal.id or 0, day.year, exclude=replacing) + delivery_in.quantity
    if total > _over_limit(agreed) and not delivery_in.over_agreed_reason:
        tolerance = f"{delivery_tolerance():.0%}"
        raise InvalidInput([{"loc": ["body", "quantity"], "type": "delivery_over_agreed",
                             "msg": f"deliveries in {day.year} would reach {total:,.1f} {deal.unit}, more than the "
                                    f"agreed {agreed:,.1f} {deal.unit} a year plus {tolerance}; "
                                    "correct the figure, or give over_agreed_reason to record it anyway",
                             "ctx": {"year": str(day.year), "total": f"{total:,.1f}", "agreed": f"{agreed:,.1f}",
                                     "unit": deal.unit, "tolerance": tolerance}}])


def _record(session: Session, actor: Actor, deal: Deal, delivery_in: DeliveryCreate, *,
            corrects: int | None = None) -> Delivery:
    fields = delivery_in.model_dump(exclude={"reason"})
    delivery = Delivery.model_validate(fields, update={"deal_id": deal.id, "created_by": actor.id,
                                                       "corrects_id": corrects})
    session.add(delivery)
    session.flush()
    agreed = deal.agreed_quantity or deal.quantity
    if delivery_in.over_agreed_reason and delivered_in_year(
            session, deal.id or 0, delivery_in.delivered_on.year) > _over_limit(agreed):
        _event(session, actor, deal, "delivery_override", deal.status, deal.status,
               note=f"delivery {delivery.id}: {delivery.quantity:g} {deal.unit} on {delivery.delivered_on}",
               reason=delivery_in.over_agreed_reason)
    return delivery


def add_delivery(*, session: Session, actor: Actor, deal_id: int, delivery_in: DeliveryCreate,
                 today: date | None = None) -> Delivery:
    s = _readable(session, actor, deal_id)
    policy.require(policy.can_move_deal(actor, s.supplier, s.receiver), "only the deal's parties record deliveries")
    deal = _lock_deal(session, deal_id)
    if deal.status != "active":
        raise Conflict(f"deliveries are recorded on active deals; this one is {deal.status}",
                       code="deal_not_active")
    _check_delivery(session, s, deal, delivery_in, today=today)
    delivery = _record(session, actor, deal, delivery_in)
    session.flush()
    return delivery


def _correctable(session: Session, actor: Actor, deal_id: int, delivery_id: int) -> tuple[Sides, Deal, Delivery]:
    s = _readable(session, actor, deal_id)
    policy.require(policy.can_move_deal(actor, s.supplier, s.receiver), "only the deal's parties correct deliveries")
    deal = _lock_deal(session, deal_id)
    delivery = session.get(Delivery, delivery_id)
    if delivery is None or delivery.deal_id != deal_id:
        raise NotFound(f"delivery {delivery_id} not found")
    if deal.status not in CORRECTABLE:
        raise Conflict(f"deliveries are corrected while a deal is active or completed, not {deal.status}",
                       code="deal_not_active")
    if delivery.voided_at is not None:
        raise Conflict(f"delivery {delivery_id} is already voided", code="delivery_voided")
    return s, deal, delivery


def _void(session: Session, actor: Actor, s: Sides, deal: Deal, delivery: Delivery, reason: str, action: str) -> None:
    """Void a delivery; if the current evidenced or verified benefit record counted it, that record is
    withdrawn (the figures return to estimated until the parties evidence them again)."""
    delivery.voided_at, delivery.voided_by, delivery.void_reason = utcnow(), actor.id, reason
    session.add(delivery)
    _event(session, actor, deal, action, deal.status, deal.status,
           note=f"delivery {delivery.id}: {delivery.quantity:g} {deal.unit} on {delivery.delivered_on}", reason=reason)
    session.flush()
    ledger_svc.withdraw_if_counted(session, actor=actor, deal=deal, supplier=s.supplier, receiver=s.receiver,
                                   delivery=delivery, reason=reason)


def void_delivery(*, session: Session, actor: Actor, deal_id: int, delivery_id: int,
                  void_in: DeliveryVoid) -> Delivery:
    """Void a wrong delivery (it stays, marked, with who, when and why; it no longer counts)."""
    s, deal, delivery = _correctable(session, actor, deal_id, delivery_id)
    _void(session, actor, s, deal, delivery, void_in.reason, "delivery_void")
    session.flush()
    return delivery


def correct_delivery(*, session: Session, actor: Actor, deal_id: int, delivery_id: int,
                     correction: DeliveryCorrection, today: date | None = None) -> Delivery:
    """Re-record a delivery: the old one is voided with the reason, the new one checked and recorded."""
    s, deal, delivery = _correctable(session, actor, deal_id, delivery_id)
    _check_delivery(session, s, deal, correction, replacing=delivery.id, today=today)
    _void(session, actor, s, deal, delivery, correction.reason, "delivery_correct")
    session.flush()
    new = _record(session, actor, deal, correction, corrects=delivery.id)
    session.flush()
    return new


def list_deliveries(*, session: Session, actor: Actor, deal_id: int) -> list[DeliveryPublic]:
    """Every delivery of the deal, voided ones included (marked). A viewer who may not see the deal's
    quantities exactly gets each delivery's band (``disclosure.exact_deal_quantities``)."""
    s = _readable(session, actor, deal_id)
    exact = exact_quantities(actor, s)
    out = []
    for d in session.scalars(select(Delivery).where(Delivery.deal_id == deal_id)
                             .order_by(Delivery.delivered_on, Delivery.id)):
        quantity, band = disclosure.shown_quantity(d.quantity, whole=exact)
        out.append(DeliveryPublic.model_validate(d.model_dump() | {"quantity": quantity, "quantity_band": band}))
    return out


def get_ledger(*, session: Session, actor: Actor, deal_id: int) -> LedgerPublic:
    """The live ledger; from the rounded distance unless both sides are shown whole, and from the quantities'
    band lower edges for a viewer who may not see the deal's quantities."""
    s = _readable(session, actor, deal_id)
    sup_whole, rec_whole = shown_sides(actor, s)
    whole = sup_whole and rec_whole
    return ledger_svc.ledger(session, s.deal, approximate=not whole, banded=not exact_quantities(actor, s),
                             seen_km=None if whole else sides_distance(actor, s))


def _scaled(values: dict[str, Any], factor: float, keys: Iterable[str]) -> dict[str, Any]:
    return values | {k: values[k] * factor for k in keys if isinstance(values.get(k), int | float)}


def _banded_record(shown: dict[str, Any], record: BenefitRecord) -> dict[str, Any]:
    """A frozen record's quantities as their band's lower edge, its figures scaled to that quantity (every
    figure of a record is proportional to its quantity); no deliveries listed."""
    low = disclosure.quantity_band(record.quantity).min
    factor = low / record.quantity if record.quantity else 0.0
    figures = _scaled(dict(shown["figures"]), factor, ("quantity", "landfill_diverted_t", "co2_avoided_t",
                                                       "cost_saved_yuan", "env_tax_avoided_yuan",
                                                       "raw_material_substituted"))
    inputs = [dict(i) | ({"value": low} if i.get("name") == "quantity" else {}) for i in shown["inputs"]]
    cf = _scaled(dict(record.counterfactual or {}), factor, ("replaced_quantity", "quantity",
                                                             "disposal_avoided_yuan", "landfilled_t"))
    return {"quantity": low, "figures": figures, "inputs": inputs, "counterfactual": cf, "deliveries": [],
            "undocumented_quantity": disclosure.quantity_band(
                float((record.evidence or {}).get("undocumented_quantity", 0.0))).min}


def _record_public(record: BenefitRecord, *, approximate: bool, banded: bool, user: User | None,
                   ) -> BenefitRecordPublic:
    shown = record.approximate if approximate and record.approximate else {"figures": record.figures,
                                                                            "inputs": record.inputs}
    evidence = record.evidence or {}
    band = _banded_record(shown, record) if banded else {}
    return BenefitRecordPublic(
        id=record.id or 0, deal_id=record.deal_id, state=record.state, action=record.action,
        from_state=record.from_state, at=record.at, user_id=user.id if user else None,
        user_name=user.name if user else None, user_role=user.role if user else None, note=record.note,
        reference=record.reference, record_id=record.record_id, kb_version=record.kb_version,
        quantity=band.get("quantity", record.quantity), unit=record.unit, period_from=record.period_from,
        period_to=record.period_to, deliveries=band.get("deliveries", evidence.get("deliveries", [])),
        undocumented_count=evidence.get("undocumented_count", 0),
        undocumented_quantity=band.get("undocumented_quantity", evidence.get("undocumented_quantity", 0.0)),
        figures=band.get("figures", shown["figures"]), inputs=band.get("inputs", shown["inputs"]),
        formulas=record.formulas, counterfactual=band.get("counterfactual", record.counterfactual),
        approximate=approximate or banded)


def ledger_records(*, session: Session, actor: Actor, deal_id: int) -> list[BenefitRecordPublic]:
    """The history of the deal's benefit figures, oldest first: one frozen record per state change (the last
    one is the current state). Viewers who may not see both places get the figures from the rounded
    distance; users of a side the viewer may not identify yet are left out."""
    s = _readable(session, actor, deal_id)
    sup_whole, rec_whole = shown_sides(actor, s)
    banded = not exact_quantities(actor, s)
    hidden = _hidden_users(session, actor, s)
    rows = session.scalars(select(BenefitRecord).where(BenefitRecord.deal_id == deal_id).order_by(BenefitRecord.id))
    out = []
    for record in rows:
        user = session.get(User, record.user_id) if record.user_id and record.user_id not in hidden else None
        out.append(_record_public(record, approximate=not (sup_whole and rec_whole), banded=banded, user=user))
    return out


def move_ledger(*, session: Session, actor: Actor, deal_id: int, move: LedgerTransition) -> BenefitRecord:
    """Evidence (a party), verify or reject (a verifier) the deal's benefit figures; see
    ``ledger.record_state`` for what each freezes and ``policy.can_move_ledger`` for who may."""
    s = _readable(session, actor, deal_id)
    policy.require(policy.can_move_ledger(actor, s.supplier, s.receiver, move.action),
                   "only the deal's parties evidence its benefits; only a verifier signs them off")
    if move.action in ("verify", "reject"):
        if move.record_id is None:
            raise InvalidInput.at(("body", "record_id"), "give the id of the evidenced record you checked",
                                  "missing")
        if not move.note:
            what = "state what you checked" if move.action == "verify" else "give the reason"
            raise InvalidInput.at(("body", "note"), what, "missing")
    deal = _lock_deal(session, deal_id)
    s.deal = deal
    if move.action == "evidence" and deal.status not in CORRECTABLE:
        raise Conflict(f"benefits are evidenced while a deal is active or completed, not {deal.status}",
                       code="deal_not_active")
    return ledger_svc.record_state(session, actor=actor, deal=deal, supplier=s.supplier, receiver=s.receiver,
                                   action=move.action, note=move.note or None, reference=move.reference,
                                   record_id=move.record_id)


# --- proposals (written by match runs, read here because deals start from them) ------------------------
SupplyL, DemandL = aliased(Listing), aliased(Listing)
SupplyF, DemandF = aliased(Firm), aliased(Firm)


def _proposal_stmt(actor: Actor) -> Any:
    """Proposals of match runs the viewer may see: both listings still active and linkable, and the viewer
    represents one of the two firms (planners and admins: all)."""
    return (select(Proposal, SupplyL, DemandL, SupplyF, DemandF)
            .join(SupplyL, SupplyL.id == Proposal.supply_listing_id)
            .join(DemandL, DemandL.id == Proposal.demand_listing_id)
            .join(SupplyF, SupplyF.id == SupplyL.firm_id).join(DemandF, DemandF.id == DemandL.firm_id)
            .where(SupplyL.status == "active", DemandL.status == "active",
                   SupplyL.visibility != "private", DemandL.visibility != "private",
                   or_(SupplyF.park_id == DemandF.park_id,
                       and_(SupplyL.visibility != "park", DemandL.visibility != "park")),
                   policy.deals_clause(actor, SupplyL.firm_id, DemandL.firm_id)))


def proposal_visible(session: Session, actor: Actor, proposal: Proposal) -> bool:
    return session.execute(_proposal_stmt(actor).where(Proposal.id == proposal.id)).first() is not None


def proposal_public(session: Session, actor: Actor, proposal: Proposal, supply: Listing, demand: Listing,
                    supplier: Firm, receiver: Firm) -> Any:
    from backend.schemas_deals import ProposalPublic

    sup_site, dem_site = _get(session, Site, supply.site_id), _get(session, Site, demand.site_id)
    sup_park, dem_park = _get(session, Park, supplier.park_id), _get(session, Park, receiver.park_id)
    sup_whole = disclosure.whole(actor, supply, supplier)
    dem_whole = disclosure.whole(actor, demand, receiver)
    exact = sup_whole and dem_whole
    deal_id = session.scalar(select(Deal.id).where(Deal.proposal_id == proposal.id).order_by(Deal.id.desc()))
    return ProposalPublic(
        id=proposal.id or 0, run_id=proposal.run_id, status=proposal.status, anonymised=not exact,
        supply=listing_public(supply, supplier, sup_site, sup_park, anonymised=not sup_whole),
        demand=listing_public(demand, receiver, dem_site, dem_park, anonymised=not dem_whole),
        material=proposal.material, replaces=proposal.replaces,
        quantity=proposal.quantity if exact else None,
        quantity_band=None if exact else disclosure.quantity_band(proposal.quantity), unit=proposal.unit,
        ratio=proposal.ratio, distance_km=distance_seen(actor, supply, supplier, sup_site, demand, receiver,
                                                       dem_site, proposal.distance_km, whole=exact),
        mode=proposal.mode,
        unit_benefit=proposal.unit_benefit if exact else round(proposal.unit_benefit, -1),
        net_benefit=proposal.net_benefit if exact else None,
        co2_avoided_t=proposal.co2_avoided_t if exact else None,
        explanation=proposal.explanation if exact else None,
        breakdown=proposal.breakdown if exact else None,
        quality_unverified=proposal.quality_unverified,
        confidence=(proposal.confidence if exact or proposal.confidence is None else round(proposal.confidence, 1)),
        reasons=[r if exact else {"code": r["code"]} for r in proposal.reasons or []
                 if exact or r.get("code") != "thin_margin"],  # the margin would tell the distance
        deal_id=deal_id, created_at=proposal.created_at)


def list_proposals(*, session: Session, actor: Actor, run_id: int | None = None, status: str | None = None,
                   listing_id: int | None = None, skip: int = 0, limit: int = 100,
                   sort: str | None = None) -> tuple[list[Any], int]:
    stmt = _proposal_stmt(actor)
    if run_id is not None:
        stmt = stmt.where(Proposal.run_id == run_id)
    if status:
        stmt = stmt.where(Proposal.status == status)
    if listing_id is not None:
        stmt = stmt.where(or_(Proposal.supply_listing_id == listing_id, Proposal.demand_listing_id == listing_id))
    # only by id: sorting on benefit or distance would order anonymised proposals by their exact figures
    rows, total = page(session, apply_sort(stmt, sort, {"id": Proposal.id}, Proposal.id), skip=skip, limit=limit)
    return [proposal_public(session, actor, *r) for r in rows], total


def get_proposal(*, session: Session, actor: Actor, proposal_id: int) -> Any:
    row = session.execute(_proposal_stmt(actor).where(Proposal.id == proposal_id)).first()
    if row is None:
        raise NotFound(f"proposal {proposal_id} not found")
    return proposal_public(session, actor, *row)

from datetime import date

from sqlalchemy import select
from sqlmodel import Session

from backend import policy
from backend.errors import InvalidInput, NotFound
from backend.models import Firm, Permit
from backend.policy import Actor
from backend.schemas import PermitCreate, PermitPublic, PermitUpdate
from backend.services.common import apply_changes, changes_of, get_or_404
from backend.services.query import apply_sort, page

SORTABLE = {"id": Permit.id, "valid_to": Permit.valid_to, "valid_from": Permit.valid_from,
            "firm_id": Permit.firm_id}


def to_public(permit: Permit, today: date | None = None) -> PermitPublic:
    today = today or date.today()
    return PermitPublic.model_validate(
        permit.model_dump() | {"active": permit.valid_from <= today <= permit.valid_to})


def _readable(session: Session, actor: Actor, permit_id: int) -> tuple[Permit, Firm]:
    permit = get_or_404(session, Permit, permit_id)
    firm = get_or_404(session, Firm, permit.firm_id)
    if not policy.can_read_firm_records(actor, firm):
        raise NotFound(f"permit {permit_id} not found")
    return permit, firm


def list_permits(*, session: Session, actor: Actor, firm_id: int | None = None, hw_code: str | None = None,
                 active_on: date | None = None, sort: str | None = None, skip: int = 0,
                 limit: int = 100) -> tuple[list[Permit], int]:
    stmt = select(Permit).join(Firm, Firm.id == Permit.firm_id).where(
        policy.firm_records_clause(actor, Permit.firm_id))
    if firm_id is not None:
        stmt = stmt.where(Permit.firm_id == firm_id)
    if active_on is not None:
        stmt = stmt.where(Permit.valid_from <= active_on, Permit.valid_to >= active_on)
    stmt = apply_sort(stmt, sort, SORTABLE, Permit.id)
    if hw_code:  # JSON arrays differ between SQLite and PostgreSQL; filter the (small) page set in Python
        permits = [r[0] for r in session.execute(stmt).all() if hw_code in r[0].hw_codes]
        return permits[skip: skip + limit], len(permits)
    rows, total = page(session, stmt, skip=skip, limit=limit)
    return [r[0] for r in rows], total


def get_permit(*, session: Session, actor: Actor, permit_id: int) -> Permit:
    return _readable(session, actor, permit_id)[0]


def create_permit(*, session: Session, actor: Actor, permit_in: PermitCreate) -> Permit:
    firm = session.get(Firm, permit_in.firm_id)
    if firm is None:
        raise InvalidInput.at(("body", "firm_id"), f"firm {permit_in.firm_id} does not exist")
    policy.require(policy.can_edit_firm_records(actor, firm), "you may not add permits for this firm")
    permit = Permit.model_validate(permit_in, update={"hw_codes": sorted(set(permit_in.hw_codes))})
    session.add(permit)
    session.flush()
    return permit


def update_permit(*, session: Session, actor: Actor, permit_id: int, permit_in: PermitUpdate) -> Permit:
    permit, firm = _readable(session, actor, permit_id)
    policy.require(policy.can_edit_firm_records(actor, firm), "you may not edit this permit")
    changes = changes_of(permit_in)
    for required in ("number", "hw_codes", "valid_from", "valid_to"):
        if required in changes and changes[required] is None:
            raise InvalidInput.at(("body", required), f"{required} may not be null")
    start, end = changes.get("valid_from", permit.valid_from), changes.get("valid_to", permit.valid_to)
    if end < start:
        raise InvalidInput.at(("body", "valid_to"), "valid_to must not be before valid_from")
    if "hw_codes" in changes:
        changes["hw_codes"] = sorted(set(changes["hw_codes"]))
    apply_changes(permit, changes)
    session.add(permit)
    session.flush()
    return permit


def delete_permit(*, session: Session, actor: Actor, permit_id: int) -> None:
    permit, firm = _readable(session, actor, permit_id)
    policy.require(policy.can_edit_firm_records(actor, firm), "you may not delete this permit")
    session.delete(permit)
    session.flush()

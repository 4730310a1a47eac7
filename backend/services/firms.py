from sqlalchemy import func, or_, select
from sqlmodel import Session

from backend import disclosure, policy
from backend.errors import Conflict, InvalidInput
from backend.models import Firm, Listing, Park, Permit, Site, User
from backend.policy import Actor
from backend.schemas import FirmCreate, FirmPublic, FirmUpdate
from backend.services.common import apply_changes, changes_of, get_or_404
from backend.services.query import apply_sort, contains, page

SORTABLE = {"id": Firm.id, "name": Firm.name, "industry_code": Firm.industry_code, "park_id": Firm.park_id,
            "created_at": Firm.created_at}


def to_public(session: Session, actor: Actor, firms: list[Firm]) -> list[FirmPublic]:
    """Firms as this viewer may see them: contact details only where ``disclosure.contact_firm_ids`` allows."""
    allowed = disclosure.contact_firm_ids(session, actor, firms)
    hidden = dict.fromkeys(disclosure.CONTACT_FIELDS)
    return [FirmPublic.model_validate(f.model_dump() | ({} if f.id in allowed else hidden)) for f in firms]


def list_firms(*, session: Session, actor: Actor, park_id: int | None = None, province: str | None = None,
               industry_code: str | None = None, q: str | None = None, sort: str | None = None,
               skip: int = 0, limit: int = 100) -> tuple[list[FirmPublic], int]:
    stmt = select(Firm).join(Park, Park.id == Firm.park_id)
    if park_id is not None:
        stmt = stmt.where(Firm.park_id == park_id)
    if province:
        stmt = stmt.where(Park.province == province)
    if industry_code:
        stmt = stmt.where(Firm.industry_code.startswith(industry_code))
    if q:
        stmt = stmt.where(or_(contains(Firm.name, q), contains(Firm.name_en, q)))
    stmt = apply_sort(stmt, sort, SORTABLE, Firm.id)
    rows, total = page(session, stmt, skip=skip, limit=limit)
    return to_public(session, actor, [r[0] for r in rows]), total


def get_firm(*, session: Session, actor: Actor, firm_id: int) -> FirmPublic:
    return to_public(session, actor, [get_or_404(session, Firm, firm_id)])[0]


def _park_must_exist(session: Session, park_id: int) -> None:
    if session.get(Park, park_id) is None:
        raise InvalidInput.at(("body", "park_id"), f"park {park_id} does not exist")


def _name_free(session: Session, park_id: int, name: str, exclude_id: int | None = None) -> None:
    other = session.scalar(select(Firm).where(Firm.park_id == park_id, Firm.name == name))
    if other is not None and other.id != exclude_id:
        raise Conflict(f"park {park_id} already has a firm named '{name}'")


def create_firm(*, session: Session, actor: Actor, firm_in: FirmCreate) -> Firm:
    _park_must_exist(session, firm_in.park_id)
    policy.require(policy.can_create_firm_in(actor, firm_in.park_id), "you do not manage this park")
    _name_free(session, firm_in.park_id, firm_in.name)
    firm = Firm.model_validate(firm_in)
    session.add(firm)
    session.flush()
    return firm


def update_firm(*, session: Session, actor: Actor, firm_id: int, firm_in: FirmUpdate) -> Firm:
    firm = get_or_404(session, Firm, firm_id)
    changes = changes_of(firm_in)
    moves = "park_id" in changes and changes["park_id"] != firm.park_id
    policy.require(policy.can_edit_firm(actor, firm, moves_park=moves), "you may not edit this firm")
    if moves:
        _park_must_exist(session, changes["park_id"])
        policy.require(policy.can_create_firm_in(actor, changes["park_id"]), "you do not manage the target park")
    _name_free(session, changes.get("park_id", firm.park_id), changes.get("name", firm.name), firm.id)
    apply_changes(firm, changes)
    session.add(firm)
    session.flush()
    return firm


def delete_firm(*, session: Session, actor: Actor, firm_id: int) -> None:
    firm = get_or_404(session, Firm, firm_id)
    policy.require(policy.can_delete_firm(actor, firm), "you may not delete this firm")
    for model, label in ((Site, "site"), (Listing, "listing"), (Permit, "permit"), (User, "user")):
        n = session.scalar(select(func.count()).select_from(model).where(model.firm_id == firm_id)) or 0
        if n:
            raise Conflict(f"firm {firm_id} still has {n} {label}(s); delete them first")
    session.delete(firm)
    session.flush()

from sqlalchemy import func, or_, select
from sqlmodel import Session

from backend import policy
from backend.errors import Conflict
from backend.models import Firm, Park
from backend.policy import Actor
from backend.schemas import ParkCreate, ParkUpdate
from backend.services.common import apply_changes, changes_of, get_or_404
from backend.services.query import apply_sort, contains, page

SORTABLE = {"id": Park.id, "code": Park.code, "name_zh": Park.name_zh, "name_en": Park.name_en,
            "province": Park.province, "created_at": Park.created_at}


def list_parks(*, session: Session, actor: Actor, province: str | None = None, q: str | None = None,
               sort: str | None = None, skip: int = 0, limit: int = 100) -> tuple[list[Park], int]:
    stmt = select(Park)
    if province:
        stmt = stmt.where(Park.province == province)
    if q:
        stmt = stmt.where(or_(contains(Park.name_zh, q), contains(Park.name_en, q), contains(Park.code, q)))
    stmt = apply_sort(stmt, sort, SORTABLE, Park.id)
    rows, total = page(session, stmt, skip=skip, limit=limit)
    return [r[0] for r in rows], total


def get_park(*, session: Session, actor: Actor, park_id: int) -> Park:
    return get_or_404(session, Park, park_id)


def _unique_code(session: Session, code: str, exclude_id: int | None = None) -> None:
    existing = session.scalar(select(Park).where(Park.code == code))
    if existing is not None and existing.id != exclude_id:
        raise Conflict(f"a park with code '{code}' already exists")


def create_park(*, session: Session, actor: Actor, park_in: ParkCreate) -> Park:
    policy.require(policy.can_create_park(actor), "only admins create parks")
    _unique_code(session, park_in.code)
    park = Park.model_validate(park_in)
    session.add(park)
    session.flush()
    return park


def update_park(*, session: Session, actor: Actor, park_id: int, park_in: ParkUpdate) -> Park:
    park = get_or_404(session, Park, park_id)
    policy.require(policy.can_edit_park(actor, park), "you do not manage this park")
    changes = changes_of(park_in)
    if "code" in changes:
        _unique_code(session, changes["code"], park.id)
    apply_changes(park, changes)
    session.add(park)
    session.flush()
    return park


def delete_park(*, session: Session, actor: Actor, park_id: int) -> None:
    park = get_or_404(session, Park, park_id)
    policy.require(policy.can_delete_park(actor, park), "only admins delete parks")
    firms = session.scalar(select(func.count()).select_from(Firm).where(Firm.park_id == park_id)) or 0
    if firms:
        raise Conflict(f"park {park_id} still has {firms} firm(s); move or delete them first")
    session.delete(park)
    session.flush()

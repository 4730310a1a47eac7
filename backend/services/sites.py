from sqlalchemy import func, select
from sqlmodel import Session

from backend import policy
from backend.disclosure import coarse_place
from backend.errors import Conflict, InvalidInput, NotFound
from backend.models import Firm, Listing, Site
from backend.policy import Actor
from backend.schemas import SiteCreate, SiteUpdate
from backend.services.common import apply_changes, changes_of, get_or_404
from backend.services.query import apply_sort, page

SORTABLE = {"id": Site.id, "name": Site.name, "firm_id": Site.firm_id, "created_at": Site.created_at}


def readable_site(session: Session, actor: Actor, site_id: int) -> tuple[Site, Firm]:
    site = get_or_404(session, Site, site_id)
    firm = get_or_404(session, Firm, site.firm_id)
    if not policy.can_read_firm_records(actor, firm):
        raise NotFound(f"site {site_id} not found")
    return site, firm


def list_sites(*, session: Session, actor: Actor, firm_id: int | None = None, sort: str | None = None,
               skip: int = 0, limit: int = 100) -> tuple[list[Site], int]:
    stmt = select(Site).join(Firm, Firm.id == Site.firm_id).where(
        policy.firm_records_clause(actor, Site.firm_id))
    if firm_id is not None:
        stmt = stmt.where(Site.firm_id == firm_id)
    stmt = apply_sort(stmt, sort, SORTABLE, Site.id)
    rows, total = page(session, stmt, skip=skip, limit=limit)
    return [r[0] for r in rows], total


def _set_coarse(site: Site) -> None:
    site.coarse_lat, site.coarse_lon = coarse_place(site.lat, site.lon)
    site.access = sorted(set(site.access or []))


def _name_free(session: Session, firm_id: int, name: str, exclude_id: int | None = None) -> None:
    other = session.scalar(select(Site).where(Site.firm_id == firm_id, Site.name == name))
    if other is not None and other.id != exclude_id:
        raise Conflict(f"firm {firm_id} already has a site named '{name}'")


def create_site(*, session: Session, actor: Actor, site_in: SiteCreate) -> Site:
    firm = session.get(Firm, site_in.firm_id)
    if firm is None:
        raise InvalidInput.at(("body", "firm_id"), f"firm {site_in.firm_id} does not exist")
    policy.require(policy.can_edit_firm_records(actor, firm), "you may not add sites to this firm")
    _name_free(session, firm.id or 0, site_in.name)
    site = Site.model_validate(site_in, update={"coarse_lat": 0.0, "coarse_lon": 0.0})
    _set_coarse(site)
    session.add(site)
    session.flush()
    return site


def update_site(*, session: Session, actor: Actor, site_id: int, site_in: SiteUpdate) -> Site:
    site, firm = readable_site(session, actor, site_id)
    policy.require(policy.can_edit_firm_records(actor, firm), "you may not edit this site")
    changes = changes_of(site_in)
    if "name" in changes:
        _name_free(session, site.firm_id, changes["name"], site.id)
    apply_changes(site, changes)
    _set_coarse(site)
    session.add(site)
    session.flush()
    return site


def delete_site(*, session: Session, actor: Actor, site_id: int) -> None:
    site, firm = readable_site(session, actor, site_id)
    policy.require(policy.can_edit_firm_records(actor, firm), "you may not delete this site")
    n = session.scalar(select(func.count()).select_from(Listing).where(Listing.site_id == site_id)) or 0
    if n:
        raise Conflict(f"site {site_id} still has {n} listing(s); move or delete them first")
    session.delete(site)
    session.flush()

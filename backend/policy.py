"""Who may see and do what. Every authorisation rule of ISX is decided here, and only here.

Roles:
- ``admin`` does everything;
- ``park_manager`` manages the firms, sites, listings, permits and firm users of the parks assigned to them;
- ``firm_user`` edits its own firm's sites, listings and permits (and its own firm's contact details);
- ``planner`` reads across the region but never sees private data and writes nothing;
- ``verifier`` reads deals as planners do and signs off (or sends back) the evidence of their benefits, and
  nothing else: an independent checker, never a party (see "the benefit ledger" below).

Listing visibility and what a viewer is shown of a listing (anonymous ones without firm, site, park, exact
place or exact quantity) are decided in ``backend.disclosure``. Objects a user may not see answer 404;
objects seen but not editable, 403.
"""

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, or_, true

from backend.errors import PermissionDenied
from backend.models import Firm, Listing, Park, User


@dataclass(frozen=True)
class Actor:
    user: User
    park_ids: frozenset[int]

    @property
    def id(self) -> int:
        assert self.user.id is not None
        return self.user.id

    @property
    def role(self) -> str:
        return self.user.role

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def firm_id(self) -> int | None:
        return self.user.firm_id if self.role == "firm_user" else None


def require(allowed: bool, message: str = "you do not have permission for this") -> None:
    if not allowed:
        raise PermissionDenied(message)


# --- parks --------------------------------------------------------------------------------------------
def can_create_park(actor: Actor) -> bool:
    return actor.is_admin


def can_edit_park(actor: Actor, park: Park) -> bool:
    return actor.is_admin or (actor.role == "park_manager" and park.id in actor.park_ids)


def can_delete_park(actor: Actor, park: Park) -> bool:
    return actor.is_admin


def can_screen_park(actor: Actor, park: Park, *, with_listings: bool = False) -> bool:
    """Screening from industry profiles: the park's managers, planners and admins. With the park's listings
    (exact quantities and places), only those who see them whole: the park's managers and admins."""
    if with_listings:
        return can_edit_park(actor, park)
    return can_edit_park(actor, park) or actor.role == "planner"


# --- firms and what belongs to them --------------------------------------------------------------------
def manages_firm(actor: Actor, firm: Firm) -> bool:
    """Full control over a firm's records: admin, or the manager of the firm's park."""
    return actor.is_admin or (actor.role == "park_manager" and firm.park_id in actor.park_ids)


def is_member(actor: Actor, firm_id: int) -> bool:
    return actor.firm_id is not None and actor.firm_id == firm_id


def can_create_firm_in(actor: Actor, park_id: int) -> bool:
    return actor.is_admin or (actor.role == "park_manager" and park_id in actor.park_ids)


def can_edit_firm(actor: Actor, firm: Firm, *, moves_park: bool = False) -> bool:
    if manages_firm(actor, firm):
        return True
    return is_member(actor, firm.id or -1) and not moves_park


def can_delete_firm(actor: Actor, firm: Firm) -> bool:
    return manages_firm(actor, firm)


def can_edit_firm_records(actor: Actor, firm: Firm) -> bool:
    """Sites, listings and permits of a firm."""
    return manages_firm(actor, firm) or is_member(actor, firm.id or -1)


def can_read_firm_records(actor: Actor, firm: Firm) -> bool:
    """Sites and permits of a firm (not listings, which have their own visibility)."""
    return can_edit_firm_records(actor, firm) or actor.role == "planner"


def firm_records_clause(actor: Actor, firm_id_column: ColumnElement[int]) -> ColumnElement[bool]:
    """SQL filter matching ``can_read_firm_records`` for rows keyed by a firm id (needs Firm joined)."""
    if actor.is_admin or actor.role == "planner":
        return true()
    if actor.role == "park_manager":
        return Firm.park_id.in_(actor.park_ids) if actor.park_ids else false()
    if actor.firm_id is not None:
        return firm_id_column == actor.firm_id
    return false()


# --- listings ------------------------------------------------------------------------------------------
# Who may know of a listing and who sees it whole (firm, site, park, exact place and quantity) is decided in
# ``backend.disclosure``, the one owner of the confidentiality rules.
def can_edit_listing(actor: Actor, listing: Listing, firm: Firm) -> bool:
    if listing.visibility == "private" and not (actor.is_admin or is_member(actor, listing.firm_id)):
        return False
    return can_edit_firm_records(actor, firm)


# --- users ---------------------------------------------------------------------------------------------
def can_manage_user(actor: Actor, target: User, target_firm: Firm | None) -> bool:
    """Create, edit or delete another account: admins all; park managers the firm users of their parks."""
    if actor.is_admin:
        return True
    return (actor.role == "park_manager" and target.role == "firm_user" and target_firm is not None
            and target_firm.park_id in actor.park_ids)


def users_clause(actor: Actor) -> ColumnElement[bool]:
    """SQL filter: the accounts a user may list (needs Firm outer-joined on User.firm_id)."""
    if actor.is_admin:
        return true()
    own = User.id == actor.id
    if actor.role == "park_manager" and actor.park_ids:
        return or_(own, and_(User.role == "firm_user", Firm.park_id.in_(actor.park_ids)))
    return own



# --- match runs, proposals and deals ---------------------------------------------------------------------
# Runs: admins run anything; park managers run over their own parks; planners run what-if scenarios only
# (stored without proposals). Proposals and deals are seen by the firms on either side, the managers of
# either firm's park, planners (read-only) and admins. A deal is moved by whoever represents one of its two
# firms (their own side for the double opt-in): the firm's users, the managers of the firm's park, admins.
# Planners never move deals. For an anonymous listing, the other side learns the firm only once both sides
# have opted in. Regional overrides of knowledge-base values are kept by admins.
DEAL_SIDES = ("supplier", "receiver")


def can_start_run(actor: Actor, kind: str, park_ids: frozenset[int] | None) -> bool:
    """``park_ids`` is the run's scope resolved to parks; ``None`` for a province or region-wide run."""
    if actor.is_admin:
        return True
    if kind == "what_if" and actor.role == "planner":
        return True
    if actor.role == "park_manager":
        return park_ids is not None and bool(park_ids) and park_ids <= actor.park_ids
    return False


def can_read_run(actor: Actor, kind: str, created_by: int | None, park_ids: frozenset[int]) -> bool:
    """``park_ids``: the parks the run covered."""
    if actor.is_admin or created_by == actor.id:
        return True
    if kind == "what_if":
        return actor.role == "planner"
    if actor.role == "planner":
        return True
    return actor.role == "park_manager" and bool(park_ids) and park_ids <= actor.park_ids


def can_cancel_run(actor: Actor, created_by: int | None) -> bool:
    return actor.is_admin or created_by == actor.id


def can_manage_overrides(actor: Actor) -> bool:
    return actor.is_admin


def can_read_overrides(actor: Actor) -> bool:
    return actor.role in ("admin", "park_manager", "planner")


def represents_firm(actor: Actor, firm: Firm) -> bool:
    """Speaks for the firm in a deal: its users, the managers of its park, admins."""
    return manages_firm(actor, firm) or is_member(actor, firm.id or -1)


def deal_sides(actor: Actor, supplier: Firm, receiver: Firm) -> frozenset[str]:
    """The sides of a deal this actor speaks for (both for admins and for managers of both parks)."""
    sides = set()
    if represents_firm(actor, supplier):
        sides.add("supplier")
    if represents_firm(actor, receiver):
        sides.add("receiver")
    return frozenset(sides)


READS_EVERY_DEAL = ("planner", "verifier")


def can_read_deal(actor: Actor, supplier: Firm, receiver: Firm) -> bool:
    return actor.role in READS_EVERY_DEAL or bool(deal_sides(actor, supplier, receiver))


def can_move_deal(actor: Actor, supplier: Firm, receiver: Firm) -> bool:
    return actor.role != "planner" and bool(deal_sides(actor, supplier, receiver))


def can_seed_deal(actor: Actor, supplier: Firm, receiver: Firm) -> bool:
    """Record by hand an exchange that already exists: admins, and the managers of either firm's park."""
    return manages_firm(actor, supplier) or manages_firm(actor, receiver)


def can_record_approval(actor: Actor, supplier: Firm, receiver: Firm) -> bool:
    """The authorities' approval of a cross-province hazardous transfer is entered by managers or admins."""
    return manages_firm(actor, supplier) or manages_firm(actor, receiver)


def firms_clause(actor: Actor, firm_id_column: ColumnElement[int]) -> ColumnElement[bool]:
    """SQL: the firm id in ``firm_id_column`` is one the actor represents (no join needed)."""
    if actor.is_admin:
        return true()
    if actor.role == "park_manager":
        if not actor.park_ids:
            return false()
        return firm_id_column.in_(Firm.__table__.select().with_only_columns(Firm.id)
                                  .where(Firm.park_id.in_(actor.park_ids)).scalar_subquery())
    if actor.firm_id is not None:
        return firm_id_column == actor.firm_id
    return false()


def deals_clause(actor: Actor, supplier_col: ColumnElement[int], receiver_col: ColumnElement[int],
                 ) -> ColumnElement[bool]:
    """SQL filter matching ``can_read_deal`` (also used for proposals, keyed by the two listings' firms)."""
    if actor.is_admin or actor.role in READS_EVERY_DEAL:
        return true()
    return or_(firms_clause(actor, supplier_col), firms_clause(actor, receiver_col))


def pair_may_be_linked(supply: Listing, supply_firm: Firm, demand: Listing, demand_firm: Firm) -> bool:
    """Confidentiality of a link: private and draft listings are never linked; a ``park`` listing only to a
    counterpart in its own park (a link shows each side to the other)."""
    for listing in (supply, demand):
        if listing.visibility == "private" or listing.status == "draft":
            return False
    same_park = supply_firm.park_id == demand_firm.park_id
    return same_park or (supply.visibility != "park" and demand.visibility != "park")


# --- the benefit ledger ----------------------------------------------------------------------------------
# A deal's benefit figures are in one of three states (``services.ledger``): estimated (frozen from the plan
# when the deal is agreed), evidenced (a party submits the deliveries that carry a document) and verified (a
# verifier signs the evidenced record off, or sends it back to estimated with a reason). Voiding or correcting
# a delivery that the current evidence counted withdraws it (back to estimated). Separation of duties: the
# sign-off belongs to the verifier role alone, which speaks for no firm; the parties, their park managers and
# admins (who speak for both sides) may move the figures only as far as evidenced.
LEDGER_PARTY_ACTIONS = ("estimate", "evidence", "withdraw")
LEDGER_VERIFIER_ACTIONS = ("verify", "reject")


def can_move_ledger(actor: Actor, supplier: Firm, receiver: Firm, action: str) -> bool:
    """May this actor make the benefit-ledger state change ``action`` on a deal between these firms?"""
    if action in LEDGER_VERIFIER_ACTIONS:
        return actor.role == "verifier"
    if action in LEDGER_PARTY_ACTIONS:
        return can_move_deal(actor, supplier, receiver)
    return False

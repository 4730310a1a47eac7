"""What each viewer sees of a listing: the one owner of ISX's confidentiality rules.

Every read path (listings and search, deals and proposals, runs and what-ifs, KPIs, the network, exports,
reports, the ledger) and every message asks this module what a viewer may be shown, and shapes places,
distances and quantities with the functions here. Nothing else decides "seen whole" or rounds a place.

**Who sees a listing whole** (``owner_side``): admins; the firm's own users; the managers of the firm's park
for every listing but a ``private`` one. **Who knows of it at all** (``visible``): the owner side; everybody
else a published (not draft) listing that is ``public`` or ``anonymous``; a ``park`` listing only from within
its park (planners region-wide); ``private`` listings and drafts never. A visible listing is **anonymised**
for a viewer who is not on its owner side when its visibility is ``anonymous``: the viewer is then shown

============  ===============================  ==========================================
  what          whole                            anonymised
============  ===============================  ==========================================
  firm          id and name                      nothing
  site          id                               nothing
  park          id                               nothing (the province only)
  place         the site's point                 the centre of its 0.1° cell (``coarse_place``)
  quantity      exact                            a half-decade band (``quantity_band``)
  distance      exact                            rounded to 10 km (``rounded_km``)
============  ===============================  ==========================================

Each rule has one SQL clause (``owner_side_clause``, ``visible_clause``, ``anonymised_clause``) and its
Python twin (``owner_side``, ``visible``, ``anonymised``); tests/backend/test_disclosure.py proves that the
two agree on every combination of role × visibility × status × ownership × park.

**Deals and proposals.** A side of a deal is shown whole when its listing is not anonymised for the viewer,
or when both sides have opted in and the viewer speaks for the other side (``counterpart_whole``). Anything
that is the quantity of an anonymised side (a proposal's or deal's quantity, the agreed quantity, deliveries, a
network edge's weight, the ledger's quantities and totals) is shown as a band, or computed from the band's
lower edge where a figure is needed (``approximate``); distances to it are rounded. Verifiers, whose sign-off
checks delivered quantities against documents, see a deal's quantities exactly, never its hidden firm or place
(``exact_deal_quantities``).

**Messages.** A refusal never carries an exact distance, place or quantity of a side the caller does not see
whole: creating a deal by hand with an anonymised side decides "too far" from that side's coarse cell (so the
answer is the same wherever the site lies within its cell) and states no distance (``services.deals``).

**What-if runs** (``services.runs``). ``result.unmatched`` entries of listings the viewer may not see whole
carry a band instead of the exact remaining quantity, and links touching them are shaped like anonymised
proposals; the run's totals add such links at their band's lower edge (``approximate``). Removing a firm
(``remove_firm_ids``) removes only the listings its creator can attribute to that firm (those not anonymised
for the creator): an anonymous listing stays in the scenario whoever owns it, so differencing two what-ifs
with and without a firm does not tell which firm owns it.

**Aggregates** (``services.kpis``, and the KPI page, exports and XLSX report that call it). k-anonymity: a row
over fewer than ``ISX_KPI_MIN_FIRMS`` firms (default 3, ``min_firms``) is withheld from a viewer who does not
represent every firm behind it (``represents_all``). Listings anonymised for the viewer (and deals whose
supply side is anonymised for the viewer) count only in province- and region-wide figures, never in a park's
(no ``park_id`` scope, no ``group_by=park``), so park-scoped and region-scoped figures cannot be differenced
to place them in a park; the same holds for the home page's per-park listing counts.

**Contacts** (``contact_firm_ids``). A firm's contact name, phone and e-mail are shown to its own users, the
managers of its park, admins, and those who represent a firm on the other side of one of its deals once both
sides have opted in (the double opt-in is when the two firms are introduced); everybody else gets null.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, literal, not_, or_, select, true
from sqlmodel import Session

from backend.config import get_settings
from backend.models import Deal, Firm, Listing
from backend.policy import Actor, deal_sides, is_member, manages_firm, represents_firm
from backend.schemas import QuantityBand

COARSE_CELL_DEG = 0.1  # about 11 km north-south; what others see of an anonymous listing's place
COARSE_PRECISION_KM = 10.0  # what a coarse place is said to be good to
ROUNDED_KM = 10.0  # distances to a side the viewer may not see whole are rounded to this
# Half-decade bands: [0, 1), [1, 3), [3, 10), [10, 30), ... in the listing's own unit.
BAND_EDGES: tuple[float, ...] = tuple(m * 10.0**k for k in range(0, 10) for m in (1, 3))


# --- shaping --------------------------------------------------------------------------------------------
def coarse(value: float) -> float:
    """Centre of the COARSE_CELL_DEG cell holding ``value``: the same for every point in the cell."""
    cell = math.floor(value / COARSE_CELL_DEG)
    return round((cell + 0.5) * COARSE_CELL_DEG, 4)


def coarse_place(lat: float, lon: float) -> tuple[float, float]:
    """The place shown for an anonymised listing: its cell's centre (stored on the site as coarse_lat/lon)."""
    return coarse(lat), coarse(lon)


def rounded_km(distance_km: float) -> float:
    """A distance to a side the viewer may not see whole, rounded to ``ROUNDED_KM``."""
    return round(distance_km / ROUNDED_KM) * ROUNDED_KM


def quantity_band(quantity: float) -> QuantityBand:
    """The half-decade band holding ``quantity``, shown instead of an anonymised quantity."""
    lower = 0.0
    for edge in BAND_EDGES:
        if quantity < edge:
            return QuantityBand(min=lower, max=edge)
        lower = edge
    return QuantityBand(min=lower, max=None)


def band_floor_sql(quantity: Any) -> Any:
    """SQL: the lower edge of ``quantity``'s band (sorting anonymised listings by what they show)."""
    whens = [(quantity < edge, literal(lower)) for lower, edge in zip((0.0, *BAND_EDGES), BAND_EDGES, strict=False)]
    return case(*whens, else_=literal(BAND_EDGES[-1]))


def shown_quantity(quantity: float | None, *, whole: bool) -> tuple[float | None, QuantityBand | None]:
    """(exact quantity or None, band or None): what a viewer is shown of a quantity."""
    if quantity is None:
        return None, None
    return (quantity, None) if whole else (None, quantity_band(quantity))


def shown_distance(distance_km: float, *, whole: bool) -> float:
    return distance_km if whole else rounded_km(distance_km)


# --- who sees a listing whole, who knows of it ----------------------------------------------------------
def owner_side(actor: Actor, listing: Listing, firm: Firm) -> bool:
    """The viewer sees the listing whole whatever its visibility (owner, owner's park manager, admin)."""
    if actor.is_admin or is_member(actor, listing.firm_id):
        return True
    return actor.role == "park_manager" and firm.park_id in actor.park_ids and listing.visibility != "private"


def owner_side_clause(actor: Actor) -> ColumnElement[bool]:
    """SQL twin of :func:`owner_side`. Needs Firm joined."""
    if actor.is_admin:
        return true()
    if actor.role == "park_manager":
        if not actor.park_ids:
            return false()
        return and_(Firm.park_id.in_(actor.park_ids), Listing.visibility != "private")
    if actor.firm_id is not None:
        return Listing.firm_id == actor.firm_id
    return false()


def visible(actor: Actor, listing: Listing, firm: Firm, *, own_park_id: int | None) -> bool:
    """May the viewer know of the listing at all? ``own_park_id``: the park of a firm user's firm."""
    if owner_side(actor, listing, firm):
        return True
    if actor.is_admin or listing.status == "draft" or listing.visibility == "private":
        return False
    if listing.visibility != "park" or actor.role == "planner":
        return True
    if actor.role == "park_manager":
        return firm.park_id in actor.park_ids
    return actor.firm_id is not None and own_park_id is not None and firm.park_id == own_park_id


def visible_clause(actor: Actor) -> ColumnElement[bool]:
    """SQL twin of :func:`visible`. Needs Firm joined."""
    whole = owner_side_clause(actor)
    if actor.is_admin:
        return whole
    published = and_(Listing.status != "draft", Listing.visibility != "private")
    if actor.role == "planner":
        return or_(whole, published)
    if actor.role == "park_manager":
        same_park = Firm.park_id.in_(actor.park_ids) if actor.park_ids else false()
    elif actor.firm_id is not None:
        same_park = Firm.park_id == (
            Firm.__table__.select().with_only_columns(Firm.park_id)
            .where(Firm.id == actor.firm_id).scalar_subquery()
        )
    else:
        same_park = false()
    return or_(whole, and_(published, or_(Listing.visibility != "park", same_park)))


def anonymised(actor: Actor, listing: Listing, firm: Firm) -> bool:
    """Shown without firm, site, park, exact place or exact quantity."""
    return listing.visibility == "anonymous" and not owner_side(actor, listing, firm)


def anonymised_clause(actor: Actor) -> ColumnElement[bool]:
    """SQL twin of :func:`anonymised`. Needs Firm joined."""
    return and_(Listing.visibility == "anonymous", not_(owner_side_clause(actor)))


def whole(actor: Actor, listing: Listing, firm: Firm) -> bool:
    """A visible listing shown whole (not anonymised) to this viewer."""
    return not anonymised(actor, listing, firm)


@dataclass(frozen=True)
class Exposure:
    """What one viewer is shown of one listing."""

    firm: bool
    site: bool
    park: bool
    place: str  # "exact" or "coarse"
    quantity: str  # "exact" or "band"


def exposure(actor: Actor, listing: Listing, firm: Firm, *, own_park_id: int | None) -> Exposure | None:
    """None when the viewer may not know of the listing."""
    if not visible(actor, listing, firm, own_park_id=own_park_id):
        return None
    if anonymised(actor, listing, firm):
        return Exposure(firm=False, site=False, park=False, place="coarse", quantity="band")
    return Exposure(firm=True, site=True, park=True, place="exact", quantity="exact")


def anonymised_ids(session: Session, actor: Actor, listing_ids: Iterable[int]) -> set[int]:
    """Of these listings, those anonymised for the viewer (or unknown to them: private, draft, park-only)."""
    ids = sorted(set(listing_ids))
    if not ids:
        return set()
    shown = set(session.scalars(select(Listing.id).join(Firm, Firm.id == Listing.firm_id)
                                .where(Listing.id.in_(ids), visible_clause(actor), not_(anonymised_clause(actor)))))
    return set(ids) - shown


# --- deals ----------------------------------------------------------------------------------------------
def counterpart_whole(actor: Actor, listing: Listing, firm: Firm, *, both_opted_in: bool,
                      own_sides: frozenset[str], listing_side: str) -> bool:
    """Is one side of a deal or proposal (``listing`` of ``firm``) shown whole to the viewer? Yes unless it is
    anonymised for them; an anonymised side is revealed to whoever speaks for the other side once both sides
    have opted in."""
    if not anonymised(actor, listing, firm):
        return True
    other_side = "receiver" if listing_side == "supplier" else "supplier"
    return both_opted_in and other_side in own_sides


def exact_deal_quantities(actor: Actor, *, sides_whole: bool) -> bool:
    """Does the viewer see a deal's quantities (proposed, agreed, delivered, the ledger's) exactly? When both
    sides are shown whole; and verifiers always, whose sign-off checks the delivered quantities against the
    evidence (they still see no firm, site or place of an anonymised side)."""
    return sides_whole or actor.role == "verifier"


# --- aggregates -----------------------------------------------------------------------------------------
def min_firms() -> int:
    """k of the k-anonymity of aggregates: ``ISX_KPI_MIN_FIRMS`` (default 3)."""
    return get_settings().kpi_min_firms


def represents_all(actor: Actor, firms: Iterable[Firm]) -> bool:
    """The viewer speaks for every one of these firms (sees their records whole)."""
    return all(represents_firm(actor, f) for f in firms)


def may_publish(actor: Actor, firms: Iterable[Firm]) -> bool:
    """k-anonymity: an aggregate over these firms may be shown to this viewer."""
    behind = {f.id: f for f in firms}
    return len(behind) >= min_firms() or represents_all(actor, behind.values())


# --- contacts -------------------------------------------------------------------------------------------
def contact_firm_ids(session: Session, actor: Actor, firms: Iterable[Firm]) -> set[int]:
    """Of these firms, those whose contact details the viewer may read (see the module's docstring)."""
    by_id = {f.id or 0: f for f in firms}
    out = {fid for fid, f in by_id.items() if manages_firm(actor, f) or is_member(actor, fid)}
    rest = sorted(set(by_id) - out)
    if not rest or actor.role not in ("firm_user", "park_manager"):
        return out
    opted = and_(Deal.supplier_yes_at.is_not(None), Deal.receiver_yes_at.is_not(None))
    rows = session.execute(select(Deal.supplier_firm_id, Deal.receiver_firm_id).where(
        opted, or_(Deal.supplier_firm_id.in_(rest), Deal.receiver_firm_id.in_(rest)))).all()
    others = {fid for pair in rows for fid in pair}
    firms_by_id = {f.id: f for f in session.scalars(select(Firm).where(Firm.id.in_(sorted(others))))}
    for sup, rec in rows:
        sf, rf = firms_by_id.get(sup), firms_by_id.get(rec)
        if sf is None or rf is None:
            continue
        sides = deal_sides(actor, sf, rf)
        if sup in by_id and "receiver" in sides:
            out.add(sup)
        if rec in by_id and "supplier" in sides:
            out.add(rec)
    return out


CONTACT_FIELDS = ("contact_name", "contact_phone", "contact_email")

"""Plausible quantities: the one owner of the rule that a figure one site states fits a plant of its kind.

The ranges come from the knowledge base (``quantity_ranges.csv``: per material, or per family and unit): a
yearly quantity above ``site_max`` (the largest plant of its kind) or a one-off lot above ``stock_max`` is
refused with a message naming the limit; above ``typical_max`` it is accepted as an outlier, with a warning
that the owner and the park manager see (``ListingPublic.warnings``, the park page, the import preview).

Listings (API, pages and import all go through ``services.listings``) and the firms' solid-waste ledgers
(``services.baseline``) call :func:`check_quantity`.
"""

from collections.abc import Sequence

from sqlalchemy import select
from sqlmodel import Session

from backend import disclosure
from backend.errors import InvalidInput
from backend.kb import get_kb
from backend.models import Firm, Listing
from backend.policy import Actor
from backend.schemas import QuantityWarningPublic
from matching.units import UnitError, to_canonical

OUTLIER = "quantity_outlier"
REFUSED = "implausible_quantity"


QuantityWarning = QuantityWarningPublic


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) < 1e15 else f"{x:.3g}"


def check_quantity(*, material: str, quantity: float, unit: str, period: str = "year",
                   loc: Sequence[str | int] = ("body", "quantity"), what: str = "a single site",
                   ) -> QuantityWarning | None:
    """Refuse (``InvalidInput`` at ``loc``) a quantity beyond the largest plant of its kind; return a warning
    for an outlier, None for a plausible figure. ``period`` ``once`` is a one-off lot (a stock)."""
    kb = get_kb()
    m = kb.materials.get(material)
    found = kb.quantity_range(material)
    if m is None or found is None:
        return None
    try:
        value = float(to_canonical(quantity, unit, m))
    except UnitError:
        return None  # the unit check reports it
    limit = found.stock_max if period == "once" else found.site_max
    if not value <= limit:  # also catches inf and nan
        per = "" if period == "once" else "/yr"
        raise InvalidInput([{"loc": list(loc), "type": REFUSED,
                             "msg": f"{_fmt(value)} {m.unit}{per} of {m.id} is more than {what} can have: the "
                                    f"largest plant of its kind is about {_fmt(limit)} {m.unit}{per} "
                                    f"(knowledge base, quantity_ranges.csv: {found.key}); check the figure and "
                                    "its unit",
                             "ctx": {"value": _fmt(value), "limit": _fmt(limit), "unit": m.unit}}],
                           f"implausible {loc[-1]}")
    if period != "once" and value > found.typical_max:
        return QuantityWarning(code=OUTLIER, field=str(loc[-1]), value=value, typical_max=found.typical_max,
                               unit=m.unit)
    return None


def listing_warnings(listing: Listing) -> list[QuantityWarning]:
    """The warnings of a stored listing (computed from today's knowledge base)."""
    try:
        found = check_quantity(material=listing.material, quantity=listing.quantity, unit=listing.unit,
                               period=listing.period)
    except InvalidInput:  # stored before the ranges existed, or the ranges changed: still worth a look
        kb = get_kb()
        m, r = kb.materials[listing.material], kb.quantity_range(listing.material)
        value = float(to_canonical(listing.quantity, listing.unit, m))
        return [QuantityWarning(code=OUTLIER, field="quantity", value=value,
                                typical_max=r.typical_max if r else value, unit=m.unit)]
    return [found] if found else []


def outlier_listings(*, session: Session, actor: Actor, park_id: int) -> list[tuple[Listing, Firm,
                                                                                  list[QuantityWarning]]]:
    """Listings of a park, seen whole by the viewer (owner, the park's managers, admins), with warnings."""
    stmt = (select(Listing, Firm).join(Firm, Firm.id == Listing.firm_id)
            .where(Firm.park_id == park_id, Listing.status != "closed", disclosure.owner_side_clause(actor))
            .order_by(Listing.id))
    out = []
    for listing, firm in session.execute(stmt).all():
        warnings = listing_warnings(listing)
        if warnings:
            out.append((listing, firm, warnings))
    return out

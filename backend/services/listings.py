"""Listings: haves and wants, shaped for each viewer by the rules of ``backend.disclosure``.

Anonymous listings are shaped here for viewers who may not see them whole: no firm, site, reference or
description; the place is the centre of the 0.1-degree cell (about 10 km) and the quantity a band. Every
filter that could single out such a listing (firm, park, text on firm names, distance) works on what the
viewer is allowed to see, so a filter cannot be used to learn more than the listing shows.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_, case, func, literal, not_, or_, select
from sqlmodel import Session

from backend import disclosure, policy
from backend.disclosure import COARSE_PRECISION_KM, quantity_band
from backend.errors import Conflict, FieldConflict, InvalidInput, NotFound
from backend.geo import bounding_box, distance_km_sql
from backend.kb import check_material_and_unit, get_kb
from backend.models import Deal, Firm, Listing, Park, Site
from backend.policy import Actor
from backend.schemas import ListingCreate, ListingPublic, ListingUpdate
from backend.services import plausibility
from backend.services.common import changes_of
from backend.services.query import apply_sort, contains, count_of


def data_quality(listing: Listing) -> str:
    """Grade A–D by completeness: quality data, economics, timing, logistics and a description."""
    score = 0
    n_attrs = len(listing.attributes or {})
    score += 2 if n_attrs >= 2 else (1 if n_attrs == 1 else 0)
    score += 1 if (listing.price is not None or listing.disposal_cost is not None) else 0
    score += 1 if listing.available_from is not None or listing.period == "year" else 0
    score += 1 if listing.logistics else 0
    score += 1 if listing.description else 0
    return "A" if score >= 5 else "B" if score >= 3 else "C" if score >= 1 else "D"


def to_public(listing: Listing, firm: Firm, site: Site, park: Park, *, anonymised: bool,
              distance_km: float | None = None) -> ListingPublic:
    common: dict[str, Any] = {
        "id": listing.id, "anonymised": anonymised, "province": park.province, "kind": listing.kind,
        "material": listing.material, "unit": listing.unit, "period": listing.period,
        "available_from": listing.available_from, "available_to": listing.available_to,
        "attributes": listing.attributes or {}, "price": listing.price, "disposal_cost": listing.disposal_cost,
        "logistics": listing.logistics, "visibility": listing.visibility, "status": listing.status,
        "hw_code": listing.hw_code, "data_quality": listing.data_quality,
        "created_at": listing.created_at, "updated_at": listing.updated_at,
        "distance_km": None if distance_km is None else round(distance_km, 3),
    }
    if anonymised:  # no warnings either: an outlier flag would tell more than the band
        return ListingPublic(**common, firm_id=None, firm_name=None, site_id=None, park_id=None, ref=None,
                             quantity=None, quantity_band=quantity_band(listing.quantity),
                             lat=site.coarse_lat, lon=site.coarse_lon,
                             location_precision_km=COARSE_PRECISION_KM, description=None)
    return ListingPublic(**common, firm_id=firm.id, firm_name=firm.name, site_id=site.id, park_id=firm.park_id,
                         ref=listing.ref, quantity=listing.quantity, quantity_band=None, lat=site.lat,
                         lon=site.lon, location_precision_km=0.0, description=listing.description,
                         warnings=plausibility.listing_warnings(listing), version=listing.version)


def list_listings(*, session: Session, actor: Actor, material: list[str] | None = None, kind: str | None = None,
                  park_id: int | None = None, province: str | None = None, firm_id: int | None = None,
                  status: str | None = None, visibility: str | None = None, q: str | None = None,
                  near_lat: float | None = None, near_lon: float | None = None, radius_km: float | None = None,
                  sort: str | None = None, skip: int = 0, limit: int = 100) -> tuple[list[ListingPublic], int]:
    anon = disclosure.anonymised_clause(actor)
    shown = not_(anon)
    lat = case((anon, Site.coarse_lat), else_=Site.lat)
    lon = case((anon, Site.coarse_lon), else_=Site.lon)
    distance = literal(None)
    stmt = (select(Listing, Firm, Site, Park, case((anon, 1), else_=0).label("anon"))
            .join(Firm, Firm.id == Listing.firm_id).join(Site, Site.id == Listing.site_id)
            .join(Park, Park.id == Firm.park_id).where(disclosure.visible_clause(actor)))
    if material:
        stmt = stmt.where(Listing.material.in_(material))
    if kind:
        stmt = stmt.where(Listing.kind == kind)
    if status:
        stmt = stmt.where(Listing.status == status)
    if visibility:
        stmt = stmt.where(Listing.visibility == visibility)
    if province:
        stmt = stmt.where(Park.province == province)
    if park_id is not None:
        stmt = stmt.where(Firm.park_id == park_id, shown)
    if firm_id is not None:
        stmt = stmt.where(Listing.firm_id == firm_id, shown)
    if q:
        stmt = stmt.where(or_(contains(Listing.material, q),
                              and_(shown, or_(contains(Firm.name, q), contains(Listing.description, q)))))
    near = (near_lat, near_lon, radius_km)
    if any(v is not None for v in near):
        missing = [n for n, v in zip(("near_lat", "near_lon", "radius_km"), near, strict=True) if v is None]
        if missing:
            raise InvalidInput([{"loc": ["query", m], "msg": "near_lat, near_lon and radius_km go together",
                                 "type": "missing"} for m in missing])
        assert near_lat is not None and near_lon is not None and radius_km is not None
        lat0, lat1, lon0, lon1 = bounding_box(near_lat, near_lon, radius_km)
        distance = distance_km_sql(lat, lon, near_lat, near_lon)
        stmt = stmt.where(lat.between(lat0, lat1), lon.between(lon0, lon1), distance <= radius_km)
        stmt = stmt.add_columns(distance.label("distance"))
    sortable: dict[str, Any] = {
        "id": Listing.id, "created_at": Listing.created_at, "updated_at": Listing.updated_at,
        "material": Listing.material, "kind": Listing.kind, "status": Listing.status,
        "data_quality": Listing.data_quality,
        "quantity": case((anon, disclosure.band_floor_sql(Listing.quantity)), else_=Listing.quantity),
    }
    if radius_km is not None:
        sortable["distance"] = distance
    stmt = apply_sort(stmt, sort, sortable, Listing.id)
    total = count_of(session, stmt)
    result = []
    for row in session.execute(stmt.offset(skip).limit(limit)).all():
        listing, firm, site, park, is_anon = row[:5]
        dist = row[5] if len(row) > 5 else None
        result.append(to_public(listing, firm, site, park, anonymised=bool(is_anon), distance_km=dist))
    return result, total


def all_listings(*, session: Session, actor: Actor, **filters: Any) -> list[ListingPublic]:
    """Every listing ``list_listings`` answers for these filters, page after page (no silent cut-off)."""
    from backend.services.query import MAX_LIMIT

    out: list[ListingPublic] = []
    skip = 0
    while True:
        page, total = list_listings(session=session, actor=actor, skip=skip, limit=MAX_LIMIT, **filters)
        out.extend(page)
        skip += MAX_LIMIT
        if skip >= total:
            return out


def _visible(session: Session, actor: Actor, listing_id: int) -> tuple[Listing, Firm, Site, Park]:
    row = session.execute(
        select(Listing, Firm, Site, Park).join(Firm, Firm.id == Listing.firm_id)
        .join(Site, Site.id == Listing.site_id).join(Park, Park.id == Firm.park_id)
        .where(Listing.id == listing_id, disclosure.visible_clause(actor))).first()
    if row is None:
        raise NotFound(f"listing {listing_id} not found")
    return row[0], row[1], row[2], row[3]


def get_listing(*, session: Session, actor: Actor, listing_id: int) -> ListingPublic:
    listing, firm, site, park = _visible(session, actor, listing_id)
    return to_public(listing, firm, site, park, anonymised=disclosure.anonymised(actor, listing, firm))


def _check_semantics(fields: dict[str, Any]) -> plausibility.QuantityWarning | None:
    """Cross-field rules checked against the knowledge base; raise InvalidInput naming the field. Returns the
    warning of an outlier quantity (accepted), see ``services.plausibility``."""
    check_material_and_unit(fields["material"], fields["unit"])
    material = get_kb().materials[fields["material"]]
    hw = fields.get("hw_code")
    if material.hazardous:
        if hw is None:
            fields["hw_code"] = material.hw_code
    elif hw is not None:
        raise InvalidInput.at(("body", "hw_code"), f"material '{material.id}' is not hazardous; drop hw_code")
    if fields.get("kind") == "want" and fields.get("disposal_cost") is not None:
        raise InvalidInput.at(("body", "disposal_cost"), "disposal_cost applies to haves only")
    start, end = fields.get("available_from"), fields.get("available_to")
    if isinstance(start, date) and isinstance(end, date) and end < start:
        raise InvalidInput.at(("body", "available_to"), "available_to must not be before available_from")
    return plausibility.check_quantity(material=fields["material"], quantity=fields["quantity"],
                                       unit=fields["unit"], period=fields.get("period") or "year")


def _ref_free(session: Session, firm_id: int, ref: str | None, exclude_id: int | None = None) -> None:
    if ref is None:
        return
    other = session.scalar(select(Listing).where(Listing.firm_id == firm_id, Listing.ref == ref))
    if other is not None and other.id != exclude_id:
        raise Conflict(f"firm {firm_id} already has a listing with ref '{ref}'")


def create_listing(*, session: Session, actor: Actor, listing_in: ListingCreate) -> Listing:
    site = session.get(Site, listing_in.site_id)
    firm = session.get(Firm, site.firm_id) if site else None
    if site is None or firm is None or not policy.can_read_firm_records(actor, firm):
        raise InvalidInput.at(("body", "site_id"), f"site {listing_in.site_id} does not exist")
    policy.require(policy.can_edit_firm_records(actor, firm), "you may not add listings for this firm")
    fields = listing_in.model_dump()
    _check_semantics(fields)
    _ref_free(session, firm.id or 0, fields.get("ref"))
    listing = Listing.model_validate(fields, update={"firm_id": firm.id})
    listing.data_quality = data_quality(listing)
    session.add(listing)
    session.flush()
    return listing


# --- changing a listing: the one writer ----------------------------------------------------------------
# Every path that changes an existing listing (API PATCH, the web form and its close button, the import, the
# CLI through them) goes through ``check_change`` and ``write_change`` with the row locked by
# ``lock_listings``: the same lock ``deals.transition`` takes before it sums what agreed and active deals
# commit, so a cut and an agreement never both pass on stale sums.
FIXED_WITH_DEALS = ("kind", "material", "unit")
REQUIRED_FIELDS = ("site_id", "kind", "material", "quantity", "unit", "period", "visibility", "status", "attributes")


def lock_listings(session: Session, listing_ids: Iterable[int]) -> dict[int, Listing]:
    """Lock these listing rows until the transaction ends (``SELECT ... FOR UPDATE``, in id order so two
    writers never wait on each other crosswise) and return them read afresh. SQLite has no row locks: it
    serialises writers itself."""
    ids = sorted(set(listing_ids))
    if not ids:
        return {}
    rows = session.scalars(select(Listing).where(Listing.id.in_(ids)).order_by(Listing.id).with_for_update()
                           .execution_options(populate_existing=True))
    return {row.id or 0: row for row in rows}


@dataclass(frozen=True)
class ListingChange:
    """A checked change of one locked listing: the fields to write (``write_change``)."""

    listing: Listing
    fields: dict[str, Any]


def check_change(session: Session, listing: Listing, changes: dict[str, Any], *,
                 expected_version: int | None = None) -> ListingChange:
    """Check a change of ``listing`` (locked by the caller with ``lock_listings``; the caller has checked that
    the actor may edit it). Raises ``FieldConflict`` (409) when ``expected_version`` is not the stored one
    (someone changed the listing since it was read) or when deals hold the listing (``_keep_deals_covered``),
    ``InvalidInput`` (422) for bad values; both name the field."""
    if expected_version is not None and expected_version != listing.version:
        raise FieldConflict(f"listing {listing.id} was changed by someone else since you read it (now version "
                            f"{listing.version}, you sent {expected_version}); read it again and redo your change",
                            code="listing_version", field="version",
                            values={"current": listing.version, "sent": expected_version})
    for required in REQUIRED_FIELDS:
        if required in changes and changes[required] is None:
            raise InvalidInput.at(("body", required), f"{required} may not be null")
    if "site_id" in changes:
        site = session.get(Site, changes["site_id"])
        if site is None or site.firm_id != listing.firm_id:
            raise InvalidInput.at(("body", "site_id"), f"site {changes['site_id']} is not a site of this firm")
    merged = listing.model_dump() | changes
    if {"quantity", "unit", "material", "kind"} & changes.keys():
        _keep_deals_covered(session, listing, merged)
    if "material" in changes and "hw_code" not in changes:
        merged["hw_code"] = None  # re-derived from the new material
    _check_semantics(merged)
    _ref_free(session, listing.firm_id, merged.get("ref"), listing.id)
    return ListingChange(listing, {k: merged[k] for k in (*changes, "hw_code")})


def write_change(session: Session, change: ListingChange) -> Listing:
    """Write a checked change; the version goes up by one when any field differs."""
    listing = change.listing
    if any(getattr(listing, k) != v for k, v in change.fields.items()):
        listing.sqlmodel_update(change.fields)
        listing.data_quality = data_quality(listing)
        listing.version += 1
        session.add(listing)
        session.flush()
    return listing


def update_listing(*, session: Session, actor: Actor, listing_id: int, listing_in: ListingUpdate) -> Listing:
    """Change a listing the actor may edit. ``listing_in.version``, when given, must be the stored version
    (else 409: a lost update refused)."""
    _visible(session, actor, listing_id)
    listing = lock_listings(session, [listing_id])[listing_id]
    firm = session.get(Firm, listing.firm_id)
    assert firm is not None
    policy.require(policy.can_edit_listing(actor, listing, firm), "you may not edit this listing")
    changes = changes_of(listing_in)
    expected = changes.pop("version", None)
    return write_change(session, check_change(session, listing, changes, expected_version=expected))


def _keep_deals_covered(session: Session, listing: Listing, merged: dict[str, Any]) -> None:
    """A listing with deals keeps its kind, material and unit, and never drops below what agreed and active
    deals already commit (read with the listing row locked)."""
    from backend.services import deals

    n_deals = session.scalar(select(func.count()).select_from(Deal).where(
        or_(Deal.supply_listing_id == listing.id, Deal.demand_listing_id == listing.id))) or 0
    if not n_deals:
        return
    for field in FIXED_WITH_DEALS:
        if merged[field] != getattr(listing, field):
            raise FieldConflict(f"listing {listing.id} is part of {n_deals} deal(s); its {field} cannot change",
                                code="listing_has_deals", field=field, values={"field": field, "deals": n_deals})
    committed = (deals.committed_supply if listing.kind == "have" else deals.committed_demand)(
        session, [listing.id or 0]).get(listing.id or 0, 0.0)
    probe = Listing.model_validate(merged)
    if deals.listing_capacity(probe) * (1 + deals.TOLERANCE) < committed:
        unit = get_kb().materials[listing.material].unit
        raise FieldConflict(f"agreed and active deals already commit {committed:g} {unit} of this listing per "
                            "year; it cannot be less", code="listing_committed", field="quantity",
                            values={"committed": f"{committed:g}", "unit": unit})


def delete_listing(*, session: Session, actor: Actor, listing_id: int) -> None:
    _visible(session, actor, listing_id)
    listing = lock_listings(session, [listing_id])[listing_id]
    firm = session.get(Firm, listing.firm_id)
    assert firm is not None
    policy.require(policy.can_edit_listing(actor, listing, firm), "you may not delete this listing")
    n_deals = session.scalar(select(func.count()).select_from(Deal).where(
        or_(Deal.supply_listing_id == listing_id, Deal.demand_listing_id == listing_id))) or 0
    if n_deals:
        raise Conflict(f"listing {listing_id} is part of {n_deals} deal(s); close it instead of deleting it",
                       code="listing_in_deals")
    session.delete(listing)
    session.flush()

"""Exports: GeoJSON (sites, listings and links), GraphML and GEXF (the network), CSV (listings, deals,
deliveries, KPIs). Each is built from the same permission-aware reads as the API, so an export never
carries more than the caller may see: private listings never, anonymous ones without firm, site, exact
place or exact quantity (see docs/deals.md for the formats).

For the tools people use: CSV files start with a UTF-8 byte-order mark (Excel on Chinese Windows reads
them as UTF-8), carry the material and transport-mode names in the chosen language (``lang``) beside the
codes, and round their figures (``ROUNDING``); GraphML and GEXF hold exchange edges only, with each firm's
park as a node attribute, so degree and centrality count exchanges, not park membership."""

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import not_, select
from sqlmodel import Session

from backend import disclosure, policy
from backend.i18n import word
from backend.kb import get_kb
from backend.models import Deal, Delivery, Firm, Listing, Park, Site
from backend.policy import Actor
from backend.services import deals as deals_svc
from backend.services import kpis as kpis_svc
from backend.services import listings as listings_svc
from backend.services import network as network_svc
from backend.services.query import MAX_LIMIT
from matching.network import exchange_graph, to_gexf, to_graphml

BOM = "\ufeff"
#: decimals kept per column in CSV exports (quantities 0.01 of a unit, distances 0.1 km, money whole yuan,
#: rates 0.01 %, coordinates about 1 m)
ROUNDING: dict[str, int] = {
    **dict.fromkeys(("quantity", "quantity_band_min", "quantity_band_max", "agreed_quantity", "generation",
                     "utilised_baseline", "stock_drawdown", "stored", "disposed", "committed", "delivered",
                     "committed_on_top", "delivered_on_top", "utilised"), 2),
    **dict.fromkeys(("rate_baseline", "rate_official", "rate_planned", "target_rate", "ratio"), 4),
    **dict.fromkeys(("price", "disposal_cost"), 2),
    "distance_km": 1, "lat": 5, "lon": 5, "location_precision_km": 1,
}

LISTING_COLUMNS = ("id", "anonymised", "kind", "material", "material_name", "quantity", "quantity_band_min",
                   "quantity_band_max",
                   "unit", "period", "firm_id", "firm_name", "site_id", "park_id", "province", "lat", "lon",
                   "location_precision_km", "visibility", "status", "hw_code", "price", "disposal_cost",
                   "available_from", "available_to", "data_quality")
DEAL_COLUMNS = ("id", "status", "proposal_id", "supply_listing_id", "demand_listing_id", "supplier_firm_id",
                "supplier_firm_name", "receiver_firm_id", "receiver_firm_name", "material", "material_name", "replaces",
                "replaces_name", "unit", "ratio", "ratio_unit", "quantity", "agreed_quantity", "price", "distance_km",
                "mode", "mode_name", "start_date", "end_date",
                "needs_transfer_approval", "approval_reference", "ledger_state", "ledger_state_name", "created_at",
                "updated_at")
DELIVERY_COLUMNS = ("id", "deal_id", "delivered_on", "quantity", "quantity_band_min", "quantity_band_max", "unit",
                    "material", "material_name",
                    "manifest_number", "document_ref", "note", "over_agreed_reason", "corrects_id", "voided",
                    "voided_at",
                    "void_reason")
KPI_COLUMNS = ("year", "group_by", "key", "name", "row", "code", "label", "unit", "firms", "generation",
               "utilised_baseline", "stock_drawdown", "stored", "disposed", "committed", "delivered",
               "delivered_on_top",
               "utilised", "rate_baseline", "rate_official", "rate_planned", "target_rate", "met", "document", "region")


def _cell(key: str, value: Any) -> Any:
    if value is None:
        return ""
    digits = ROUNDING.get(key)
    if digits is not None and isinstance(value, int | float) and not isinstance(value, bool):
        return round(float(value), digits)
    return value


def _csv(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    """CSV text with a UTF-8 byte-order mark, figures rounded (``ROUNDING``)."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(k, row.get(k)) for k in columns})
    return out.getvalue()


def material_name(material: str | None, lang: str) -> str:
    m = get_kb().materials.get(material or "")
    return "" if m is None else (m.name_zh if lang == "zh" else m.name_en)


def mode_name(mode: str | None, lang: str) -> str:
    """A transport mode's name: the knowledge base's modes, and ``on_site`` (no transport) from the backend's
    catalogue of its own codes."""
    if mode == "on_site":
        return word(lang, "mode.on_site")
    found = get_kb().transport_modes.get(mode or "")
    return "" if found is None else (found.name_zh if lang == "zh" else found.name_en)


def language(actor: Actor, lang: str | None) -> str:
    """The names' language: asked for, else the account's, else Chinese."""
    return lang if lang in ("zh", "en") else (actor.user.locale if actor.user.locale in ("zh", "en") else "zh")


def _all_listings(session: Session, actor: Actor, **filters: Any) -> list[Any]:
    return listings_svc.all_listings(session=session, actor=actor, **filters)


def listings_csv(*, session: Session, actor: Actor, park_id: int | None = None,
                 province: str | None = None, lang: str | None = None) -> str:
    lang = language(actor, lang)
    rows = []
    for item in _all_listings(session, actor, park_id=park_id, province=province):
        row = item.model_dump()
        row["material_name"] = material_name(item.material, lang)
        band = row.pop("quantity_band")
        row["quantity_band_min"] = band["min"] if band else None
        row["quantity_band_max"] = band["max"] if band else None
        rows.append(row)
    return _csv(LISTING_COLUMNS, rows)


def _all_deals(session: Session, actor: Actor) -> list[Any]:
    out, skip = [], 0
    while True:
        page, total = deals_svc.list_deals(session=session, actor=actor, skip=skip, limit=MAX_LIMIT)
        out.extend(page)
        skip += MAX_LIMIT
        if skip >= total:
            return out


def deals_csv(*, session: Session, actor: Actor, lang: str | None = None) -> str:
    lang = language(actor, lang)
    kb = get_kb()
    rows = []
    for deal in _all_deals(session, actor):
        row = deal.model_dump()
        row["material_name"], row["replaces_name"] = material_name(deal.material, lang), material_name(deal.replaces,
                                                                                                     lang)
        row["mode_name"] = mode_name(deal.mode, lang)
        if deal.material in kb.materials and deal.replaces in kb.materials:
            row["ratio_unit"] = f"{kb.materials[deal.replaces].unit}/{kb.materials[deal.material].unit}"
        row["supply_listing_id"], row["demand_listing_id"] = deal.supply.id, deal.demand.id
        row["needs_transfer_approval"] = deal.gates.needs_transfer_approval
        row["ledger_state_name"] = word(lang, f"ledger_state.{deal.ledger_state}") if deal.ledger_state else ""
        rows.append(row)
    return _csv(DEAL_COLUMNS, rows)


def deliveries_csv(*, session: Session, actor: Actor, lang: str | None = None) -> str:
    """Every delivery, voided ones included and marked (``voided``): they no longer count anywhere."""
    lang = language(actor, lang)
    stmt = (select(Delivery, Deal).join(Deal, Deal.id == Delivery.deal_id)
            .where(policy.deals_clause(actor, Deal.supplier_firm_id, Deal.receiver_firm_id))
            .order_by(Delivery.deal_id, Delivery.delivered_on, Delivery.id))
    exact: dict[int, bool] = {}
    rows = []
    for delivery, deal in session.execute(stmt).all():
        if deal.id not in exact:  # a viewer who may not see the deal's quantities gets the band
            exact[deal.id or 0] = deals_svc.exact_quantities(actor, deals_svc.Sides(session, deal))
        quantity, band = disclosure.shown_quantity(delivery.quantity, whole=exact[deal.id or 0])
        rows.append(delivery.model_dump() | {
            "quantity": quantity, "quantity_band_min": band.min if band else None,
            "quantity_band_max": band.max if band else None, "unit": deal.unit, "material": deal.material,
            "material_name": material_name(deal.material, lang), "voided": delivery.voided_at is not None})
    return _csv(DELIVERY_COLUMNS, rows)


def kpis_csv(*, session: Session, actor: Actor, group_by: str = "park", park_id: int | None = None,
             province: str | None = None, year: int | None = None, lang: str | None = None) -> str:
    """The KPI service's rows: one per group and family, and one per group and target (their own unit)."""
    lang = language(actor, lang)
    body = kpis_svc.kpis(session=session, actor=actor, group_by=group_by, park_id=park_id, province=province,
                         year=year)
    rows = []
    for g in body["groups"]:
        base = {"year": body["year"], "group_by": group_by, "key": g["key"],
                "name": g["name"] if lang == "zh" else g.get("name_en", g["name"])}
        for f in g["families"]:
            rows.append(base | f | {"row": "family", "code": f["family"],
                                    "label": word(lang, f"family.{f['family']}", default=f["family"])})
        for t in g["targets"]:
            rows.append(base | t | {"row": "target", "code": t["id"],
                                    "label": t["name_zh"] if lang == "zh" else t["name_en"]})
    return _csv(KPI_COLUMNS, rows)


def geojson(*, session: Session, actor: Actor, park_id: int | None = None, province: str | None = None,
            include_proposals: bool = True) -> dict[str, Any]:
    """A FeatureCollection (RFC 7946, WGS84 lon/lat): ``site`` points (sites whose firm records the caller
    may read), ``listing`` points (visible listings where the caller sees them: anonymous ones at their
    ~10 km cell), and ``link`` lines (deals and open proposals) between the two ends the caller may see."""
    parks = set(network_svc.scope_parks(session, park_id, province))
    features: list[dict[str, Any]] = []
    stmt = (select(Site, Firm, Park).join(Firm, Firm.id == Site.firm_id).join(Park, Park.id == Firm.park_id)
            .where(policy.firm_records_clause(actor, Site.firm_id), Firm.park_id.in_(sorted(parks)))
            .order_by(Site.id))
    if actor.role == "planner":
        # a reader of every firm's records (a planner) gets the sites of listings it sees whole: a site whose
        # only listings are anonymous would put a name and an exact place on them (backend.disclosure)
        shown = (select(Listing.site_id).join(Firm, Firm.id == Listing.firm_id)
                 .where(disclosure.visible_clause(actor), not_(disclosure.anonymised_clause(actor))))
        stmt = stmt.where(Site.id.in_(shown))
    for site, firm, park in session.execute(stmt).all():
        features.append({"type": "Feature", "id": f"site:{site.id}",
                         "geometry": {"type": "Point", "coordinates": [site.lon, site.lat]},
                         "properties": {"kind": "site", "site_id": site.id, "name": site.name, "firm_id": firm.id,
                                        "firm_name": firm.name, "park": park.code, "province": park.province}})
    for item in _all_listings(session, actor, status="active"):
        if item.park_id is not None and item.park_id not in parks:
            continue
        if item.park_id is None and province is not None and item.province != province:
            continue
        if item.park_id is None and park_id is not None:
            continue  # an anonymous listing's park is not shown, so a park-scoped export leaves it out
        band = item.quantity_band
        features.append({"type": "Feature", "id": f"listing:{item.id}",
                         "geometry": {"type": "Point", "coordinates": [item.lon, item.lat]},
                         "properties": {"kind": "listing", "listing_id": item.id, "listing_kind": item.kind,
                                        "material": item.material, "quantity": item.quantity,
                                        "quantity_band_min": band.min if band else None,
                                        "quantity_band_max": band.max if band else None, "unit": item.unit,
                                        "anonymised": item.anonymised, "firm_id": item.firm_id,
                                        "firm_name": item.firm_name, "province": item.province,
                                        "location_precision_km": item.location_precision_km}})
    net = network_svc.build(session=session, actor=actor, park_id=park_id, province=province,
                            include_proposals=include_proposals)
    for edge in net.edges:
        a = edge.attributes
        features.append({"type": "Feature", "id": edge.id,
                         "geometry": {"type": "LineString",
                                      "coordinates": [[a["from_lon"], a["from_lat"]], [a["to_lon"], a["to_lat"]]]},
                         "properties": {"kind": "link", "link_kind": edge.kind, "status": edge.status,
                                        "source": edge.source, "target": edge.target, "material": edge.material,
                                        "replaces": edge.replaces, "quantity": edge.quantity, "unit": edge.unit,
                                        "distance_km": edge.distance_km, "mode": a.get("mode"),
                                        "approximate": a.get("approximate", False)}})
    return {"type": "FeatureCollection", "features": features}


def graphml(*, session: Session, actor: Actor, park_id: int | None = None, province: str | None = None) -> str:
    net = network_svc.build(session=session, actor=actor, park_id=park_id, province=province)
    return to_graphml(exchange_graph(net.graph))


def gexf(*, session: Session, actor: Actor, park_id: int | None = None, province: str | None = None) -> str:
    net = network_svc.build(session=session, actor=actor, park_id=park_id, province=province)
    return to_gexf(exchange_graph(net.graph))

"""The regional map: parks and firms as markers, listings filterable by material, kind, park and province,
and the exchange links (open proposals dashed, deals solid, colour by material family, width by tonnage),
filterable by material, link status, park and province; keystone firms of the network are highlighted.

The page draws itself from ``/map/data`` (plain JSON, filtered and shaped by the same services and
visibility rules as the API: anonymous listings sit on their ~10 km cell without a firm). The links and
keystones come from ``backend.services.network`` (the same permission-aware network as ``/api/v1/network``
and the GeoJSON export: an end the viewer may not identify is an anonymous ~10 km point without a firm).
``run_id`` limits the links to the open proposals of one match run (the run review page).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import distinct, select
from sqlmodel import Session
from starlette.responses import JSONResponse, Response

from backend import disclosure
from backend.api.deps import SessionDep
from backend.api.params import OptionalId
from backend.errors import InvalidInput
from backend.kb import get_kb
from backend.models import Firm, Listing, Park
from backend.schemas import Kind
from backend.services import deals as deals_svc
from backend.services import listings as listings_svc
from backend.services import network as network_svc
from backend.services import runs as runs_svc
from backend.services import sites as sites_svc
from matching.network import build_network, network_metrics
from web.deps import CurrentViewer, Viewer, page_context
from web.templating import render

router = APIRouter(include_in_schema=False)
MAX_MARKERS = 500
LINK_STATUSES = ("proposal", "proposed", "interested", "negotiating", "agreed", "active", "completed")


def visible_materials(session: Session, viewer: Viewer) -> list[str]:
    stmt = (select(distinct(Listing.material)).join(Firm, Firm.id == Listing.firm_id)
            .where(disclosure.visible_clause(viewer.actor), Listing.status == "active"))
    return sorted(session.scalars(stmt))


@router.get("/map")
def map_page(request: Request, session: SessionDep, viewer: CurrentViewer) -> Response:
    parks = list(session.scalars(select(Park).order_by(Park.province, Park.id)))
    kb = get_kb()
    materials = [kb.materials[m] for m in visible_materials(session, viewer) if m in kb.materials]
    return render(request, "map.html", {
        "parks": parks, "provinces": sorted({p.province for p in parks}), "material_options": materials,
        "link_statuses": LINK_STATUSES,
        "selected": {k: request.query_params.get(k, "") for k in ("material", "park_id", "province", "kind",
                                                                   "status")}})


@router.get("/map/data")
def map_data(request: Request, session: SessionDep, viewer: CurrentViewer,
             material: Annotated[str | None, Query(max_length=64)] = None,
             park_id: OptionalId = None,
             province: Annotated[str | None, Query(max_length=40)] = None,
             kind: Kind | None = None,
             status: Annotated[str | None, Query(max_length=20)] = None,
             run_id: OptionalId = None) -> Response:
    kb = get_kb()
    name_of = page_context(request)["name_of"]
    material = material or None
    province = province or None
    parks = [p for p in session.scalars(select(Park).order_by(Park.id))
             if (park_id is None or p.id == park_id) and (province is None or p.province == province)]
    park_ids = {p.id for p in parks}
    firms = {f.id: f for f in session.scalars(select(Firm).where(Firm.park_id.in_(park_ids)))}
    sites, _ = sites_svc.list_sites(session=session, actor=viewer.actor, limit=MAX_MARKERS)
    listings, total = listings_svc.list_listings(
        session=session, actor=viewer.actor, material=[material] if material else None, kind=kind,
        park_id=park_id, province=province, status="active", limit=MAX_MARKERS)

    def listing_feature(x: Any) -> dict[str, Any]:
        m = kb.materials.get(x.material)
        return {"id": x.id, "lat": x.lat, "lon": x.lon, "kind": x.kind, "material": x.material,
                "material_name": name_of(m) if m else x.material, "family": m.family if m else None,
                "quantity": x.quantity, "band": x.quantity_band.model_dump() if x.quantity_band else None,
                "unit": x.unit, "period": x.period, "firm": x.firm_name, "anonymised": x.anonymised,
                "precision_km": x.location_precision_km}

    answer: dict[str, Any] = {
        "parks": [{"id": p.id, "name": name_of(p), "province": p.province, "lat": p.lat, "lon": p.lon}
                  for p in parks],
        "firms": [{"id": s.firm_id, "site_id": s.id, "name": name_of(firms[s.firm_id]), "site": s.name,
                   "lat": s.lat, "lon": s.lon} for s in sites if s.firm_id in firms],
        "listings": [listing_feature(x) for x in listings],
        "listings_total": total,
        **links_and_keystones(session, viewer, name_of, material=material, park_id=park_id, province=province,
                              status=status or None, run_id=run_id),
    }
    keystone_ids = {int(k["id"].split(":")[1]) for k in answer["keystones"] if k["id"].startswith("firm:")}
    for f in answer["firms"]:
        f["keystone"] = f["id"] in keystone_ids
    return JSONResponse(answer, headers={"Cache-Control": "no-store", "Vary": "Cookie"})


def links_and_keystones(session: Session, viewer: Viewer, name_of: Any, *, material: str | None,
                        park_id: int | None, province: str | None, status: str | None,
                        run_id: int | None) -> dict[str, Any]:
    """The network's edges as map lines (filtered), and its keystone firms (of the filtered network)."""
    kb = get_kb()
    run_proposals: set[str] | None = None
    if run_id is not None:
        runs_svc.get_run(session=session, actor=viewer.actor, run_id=run_id)  # 404 if not readable
        found, _ = deals_svc.list_proposals(session=session, actor=viewer.actor, run_id=run_id, status="open",
                                            limit=MAX_MARKERS)
        run_proposals = {f"proposal:{p.id}" for p in found}
    try:
        net = network_svc.build(session=session, actor=viewer.actor, park_id=park_id, province=province,
                                include_proposals=status in (None, "proposal"))
    except InvalidInput:  # no such park or no park in the province: nothing to draw (as for the listings)
        return {"links": [], "keystones": []}
    labels = {node_id: node.label for node_id, node in net.nodes.items()}
    kept = []
    for edge in net.edges:
        if material and edge.material != material:
            continue
        if status == "proposal" and edge.kind != "proposal":
            continue
        if status and status != "proposal" and (edge.kind != "deal" or edge.status != status):
            continue
        if run_proposals is not None and edge.id not in run_proposals:
            continue
        kept.append(edge)
    links = []
    for edge in kept:
        a = edge.attributes
        m, r = kb.materials.get(edge.material), kb.materials.get(edge.replaces)
        links.append({
            "id": edge.id, "kind": edge.kind, "status": edge.status, "material": edge.material,
            "family": m.family if m else None, "quantity": edge.quantity, "unit": edge.unit,
            "tonnes": edge.quantity if edge.unit == "t" else None, "distance_km": edge.distance_km,
            "approximate": a.get("approximate", False), "mode": a.get("mode"),
            "from_lat": a["from_lat"], "from_lon": a["from_lon"], "to_lat": a["to_lat"], "to_lon": a["to_lon"],
            "source": labels.get(edge.source) if edge.source.startswith("firm:") else None,
            "target": labels.get(edge.target) if edge.target.startswith("firm:") else None,
            "label": f"{name_of(m) if m else edge.material} → {name_of(r) if r else edge.replaces}",
            "deal_id": int(edge.id.split(":")[1]) if edge.kind == "deal" else None,
        })
    keystones: list[dict[str, Any]] = []
    if kept:
        try:
            metrics = network_metrics(build_network(net.nodes.values(), kept))
        except ZeroDivisionError:  # matching.network: communities of a network without tonnes (only m3/GJ links)
            metrics = {"keystones": []}
        keystones = [{"id": k["id"], "label": k["label"], "betweenness": k["betweenness"], "degree": k["degree"]}
                     for k in metrics["keystones"] if str(k["id"]).startswith("firm:")]
    return {"links": links, "keystones": keystones}

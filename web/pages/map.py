"""The regional map: parks and firms as markers, listings filterable by material, kind, park and province.

The page draws itself from ``/map/data`` (plain JSON, filtered and shaped by the same services and
visibility rules as the API: anonymous listings sit on their ~10 km cell without a firm). The ``links``
layer is drawn from the same answer; it stays empty until match proposals and deals exist.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import distinct, select
from sqlmodel import Session
from starlette.responses import JSONResponse, Response

from backend import policy
from backend.api.deps import SessionDep
from backend.kb import get_kb
from backend.models import Firm, Listing, Park
from backend.schemas import Kind
from backend.services import listings as listings_svc
from backend.services import sites as sites_svc
from web.deps import CurrentViewer, Viewer, page_context
from web.templating import render

router = APIRouter(include_in_schema=False)
MAX_MARKERS = 500


def visible_materials(session: Session, viewer: Viewer) -> list[str]:
    stmt = (select(distinct(Listing.material)).join(Firm, Firm.id == Listing.firm_id)
            .where(policy.listing_visible_clause(viewer.actor), Listing.status == "active"))
    return sorted(session.scalars(stmt))


@router.get("/map")
def map_page(request: Request, session: SessionDep, viewer: CurrentViewer) -> Response:
    parks = list(session.scalars(select(Park).order_by(Park.province, Park.id)))
    kb = get_kb()
    materials = [kb.materials[m] for m in visible_materials(session, viewer) if m in kb.materials]
    return render(request, "map.html", {
        "parks": parks, "provinces": sorted({p.province for p in parks}), "material_options": materials,
        "selected": {k: request.query_params.get(k, "") for k in ("material", "park_id", "province", "kind")}})


@router.get("/map/data")
def map_data(request: Request, session: SessionDep, viewer: CurrentViewer,
             material: Annotated[str | None, Query(max_length=64)] = None,
             park_id: int | None = None,
             province: Annotated[str | None, Query(max_length=40)] = None,
             kind: Kind | None = None) -> Response:
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

    return JSONResponse({
        "parks": [{"id": p.id, "name": name_of(p), "province": p.province, "lat": p.lat, "lon": p.lon}
                  for p in parks],
        "firms": [{"id": s.firm_id, "site_id": s.id, "name": name_of(firms[s.firm_id]), "site": s.name,
                   "lat": s.lat, "lon": s.lon} for s in sites if s.firm_id in firms],
        "listings": [listing_feature(x) for x in listings],
        "listings_total": total,
        # Exchange links (proposals dashed, deals solid) arrive with match runs and deals.
        "links": [],
    }, headers={"Cache-Control": "no-store", "Vary": "Cookie"})

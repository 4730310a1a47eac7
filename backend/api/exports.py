"""Exports for GIS, Gephi and spreadsheets; each carries only what the caller may see."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from backend.api.contract import file_response
from backend.api.deps import CurrentActor, SessionDep
from backend.api.params import OptionalId
from backend.services import exports as svc

router = APIRouter(prefix="/exports", tags=["exports"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Province = Annotated[str | None, Query(min_length=2, max_length=40)]
Lang = Annotated[Literal["zh", "en"] | None, Query(description="language of the names beside the codes "
                                                               "(default: the account's)")]


def _file(content: str, media_type: str, filename: str) -> Response:
    return Response(content=content.encode("utf-8"), media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/map.geojson", response_class=Response,
            responses=file_response("application/geo+json", "GeoJSON FeatureCollection", {"type": "object"}))
def export_geojson(session: SessionDep, actor: CurrentActor, park_id: OptionalId = None, province: Province = None,
                   include_proposals: bool = True) -> Response:
    import json

    body = svc.geojson(session=session, actor=actor, park_id=park_id, province=province,
                       include_proposals=include_proposals)
    return _file(json.dumps(body, ensure_ascii=False), "application/geo+json", "isx-map.geojson")


@router.get("/network.graphml", response_class=Response,
            responses=file_response("application/graphml+xml", "GraphML for Gephi, yEd and networkx"))
def export_graphml(session: SessionDep, actor: CurrentActor, park_id: OptionalId = None,
                   province: Province = None) -> Response:
    return _file(svc.graphml(session=session, actor=actor, park_id=park_id, province=province),
                 "application/graphml+xml", "isx-network.graphml")


@router.get("/network.gexf", response_class=Response,
            responses=file_response("application/gexf+xml", "GEXF for Gephi"))
def export_gexf(session: SessionDep, actor: CurrentActor, park_id: OptionalId = None,
                province: Province = None) -> Response:
    return _file(svc.gexf(session=session, actor=actor, park_id=park_id, province=province),
                 "application/gexf+xml", "isx-network.gexf")


@router.get("/listings.csv", response_class=Response, responses=file_response("text/csv", "CSV, UTF-8"))
def export_listings(session: SessionDep, actor: CurrentActor, park_id: OptionalId = None,
                    province: Province = None, lang: Lang = None) -> Response:
    return _file(svc.listings_csv(session=session, actor=actor, park_id=park_id, province=province, lang=lang),
                 "text/csv; charset=utf-8", "isx-listings.csv")


@router.get("/deals.csv", response_class=Response, responses=file_response("text/csv", "CSV, UTF-8"))
def export_deals(session: SessionDep, actor: CurrentActor, lang: Lang = None) -> Response:
    return _file(svc.deals_csv(session=session, actor=actor, lang=lang), "text/csv; charset=utf-8", "isx-deals.csv")


@router.get("/deliveries.csv", response_class=Response, responses=file_response("text/csv", "CSV, UTF-8"))
def export_deliveries(session: SessionDep, actor: CurrentActor, lang: Lang = None) -> Response:
    return _file(svc.deliveries_csv(session=session, actor=actor, lang=lang), "text/csv; charset=utf-8",
                 "isx-deliveries.csv")


@router.get("/kpis.csv", response_class=Response, responses=file_response("text/csv", "CSV, UTF-8"))
def export_kpis(session: SessionDep, actor: CurrentActor,
                group_by: Literal["park", "province", "region"] = "park", park_id: OptionalId = None,
                province: Province = None, year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
                lang: Lang = None) -> Response:
    return _file(svc.kpis_csv(session=session, actor=actor, group_by=group_by, park_id=park_id, province=province,
                              year=year, lang=lang),
                 "text/csv; charset=utf-8", "isx-kpis.csv")


@router.get("/report.xlsx", response_class=Response,
            responses=file_response(XLSX, "XLSX workbook"))
def export_report(session: SessionDep, actor: CurrentActor, park_id: OptionalId = None, province: Province = None,
                  year: Annotated[int | None, Query(ge=2000, le=2100)] = None, lang: Lang = None) -> Response:
    """The XLSX report of one park's (``park_id``) or one province's KPIs against the targets, its deals with
    their benefit figures and states, and the sources, for the park's management committee."""
    from backend.services import reports

    body = reports.report_xlsx(session=session, actor=actor, park_id=park_id, province=province, year=year, lang=lang)
    return Response(content=body, media_type=XLSX,
                    headers={"Content-Disposition": 'attachment; filename="isx-report.xlsx"'})

"""Exports parse (GeoJSON by a schema check, GraphML and GEXF read back by NetworkX, CSV by the csv module)
and carry nothing the caller may not see."""

import csv
import io
import json
from typing import Any

import networkx as nx
import pytest
from jsonschema import Draft202012Validator

from tests.backend.conftest import World
from tests.backend.test_deals import move, unit_of_work
from tests.backend.test_network import deals_world  # noqa: F401  (fixture)

POSITION = {"type": "array", "minItems": 2, "maxItems": 3,
            "prefixItems": [{"type": "number", "minimum": -180, "maximum": 180},
                            {"type": "number", "minimum": -90, "maximum": 90}]}
# RFC 7946, the parts ISX writes: Point and LineString features with an object of properties
GEOJSON_SCHEMA = {
    "type": "object", "required": ["type", "features"],
    "properties": {
        "type": {"const": "FeatureCollection"},
        "features": {"type": "array", "items": {
            "type": "object", "required": ["type", "geometry", "properties"],
            "properties": {
                "type": {"const": "Feature"},
                "id": {"type": ["string", "number"]},
                "properties": {"type": "object", "required": ["kind"],
                               "properties": {"kind": {"enum": ["site", "listing", "link"]}}},
                "geometry": {"oneOf": [
                    {"type": "object", "required": ["type", "coordinates"],
                     "properties": {"type": {"const": "Point"}, "coordinates": POSITION}},
                    {"type": "object", "required": ["type", "coordinates"],
                     "properties": {"type": {"const": "LineString"},
                                    "coordinates": {"type": "array", "minItems": 2, "items": POSITION}}}]},
            }}},
    },
}


def _features(client: Any, query: str = "") -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/exports/map.geojson{query}")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/geo+json")
    body = json.loads(response.content)
    errors = sorted(Draft202012Validator(GEOJSON_SCHEMA).iter_errors(body), key=str)
    assert not errors, errors[:3]
    return body["features"]


def test_geojson_structure_and_confidentiality(client_as: Any, world: World,
                                               deals_world: dict[str, int]) -> None:  # noqa: F811
    planner = _features(client_as("planner"))
    kinds = {f["properties"]["kind"] for f in planner}
    assert kinds == {"site", "listing", "link"}
    listing_ids = {f["properties"]["listing_id"] for f in planner if f["properties"]["kind"] == "listing"}
    assert world["l_private"] not in listing_ids and world["l_draft"] not in listing_ids
    anon = next(f for f in planner if f["id"] == f"listing:{world['l_anon']}")
    assert anon["properties"]["anonymised"] and anon["properties"]["firm_name"] is None
    assert anon["properties"]["quantity"] is None and anon["properties"]["quantity_band_min"] == 100_000
    assert anon["geometry"]["coordinates"] == [118.55, 39.05]  # the 0.1° cell's centre, not 118.5456, 39.0123
    link = next(f for f in planner if f["id"] == f"deal:{deals_world['anonymous']}")
    assert link["geometry"]["coordinates"][0] == [118.55, 39.05] and link["properties"]["approximate"]
    assert link["properties"]["source"] == f"anon:L{world['l_anon']}"

    other = _features(client_as("fu_other"))
    sites = {f["properties"]["firm_id"] for f in other if f["properties"]["kind"] == "site"}
    assert sites == {world["firm_b1"]}  # firm users read only their own firm's sites
    # firm_a1's public listings name it (as the listings API does); its anonymous listing and the deal on it
    # must not: no firm, no exact place, no exact quantity
    shown = {f["id"]: f for f in other}
    anon = shown[f"listing:{world['l_anon']}"]["properties"]
    assert anon["firm_id"] is None and anon["firm_name"] is None and anon["quantity"] is None
    assert shown[f"listing:{world['l_anon']}"]["geometry"]["coordinates"] == [118.55, 39.05]
    link = shown[f"deal:{deals_world['anonymous']}"]
    assert link["properties"]["source"] == f"anon:L{world['l_anon']}"
    assert link["geometry"]["coordinates"][0] == [118.55, 39.05]
    assert f"deal:{deals_world['active']}" not in shown  # not a party to it
    park_b = _features(client_as("admin"), f"?park_id={world['park_b']}")
    assert all(f["properties"].get("park", "park-b") == "park-b" for f in park_b if f["properties"]["kind"] == "site")


def test_graphml_and_gexf_read_back_without_hidden_data(client_as: Any, world: World,
                                                        deals_world: dict[str, int]) -> None:  # noqa: F811
    planner = client_as("planner")
    as_json = planner.get("/api/v1/network").json()
    graphml = planner.get("/api/v1/exports/network.graphml")
    assert graphml.status_code == 200 and "graphml" in graphml.headers["content-type"]
    g = nx.parse_graphml(graphml.text, force_multigraph=True)
    # exchange edges only: no park nodes, no membership edges; the park is a node attribute, so a firm's
    # degree counts its exchanges
    assert g.number_of_nodes() == len([n for n in as_json["nodes"] if n["kind"] != "park"])
    assert {d.get("kind") for _u, _v, d in g.edges(data=True)} <= {"deal", "proposal"}
    assert g.number_of_edges() == len(as_json["edges"]) == 3
    assert g.nodes[f"firm:{world['firm_b1']}"]["park"] == "park-b"
    for node in g.nodes:
        assert g.degree(node) == sum(1 for e in as_json["edges"] if node in (e["source"], e["target"]))
    assert g.nodes[f"firm:{world['firm_b1']}"]["label"] == "丁磷肥"
    gexf = planner.get("/api/v1/exports/network.gexf")
    h = nx.read_gexf(io.BytesIO(gexf.content))
    assert h.number_of_nodes() == g.number_of_nodes() and h.number_of_edges() == g.number_of_edges()

    def labels(graph: Any) -> set[str]:
        return {str(d.get("label")) for _n, d in graph.nodes(data=True)}

    other = client_as("fu_other")
    mine = nx.parse_graphml(other.get("/api/v1/exports/network.graphml").text, force_multigraph=True)
    theirs = nx.read_gexf(io.BytesIO(other.get("/api/v1/exports/network.gexf").content))
    for graph in (mine, theirs):
        assert "甲电厂" not in labels(graph) and f"firm:{world['firm_a1']}" not in graph
        assert all(d.get("lat") != 39.0123 for _n, d in graph.nodes(data=True))
    assert f"anon:L{world['l_anon']}" in mine
    with unit_of_work(world) as (session, admin):
        move(session, admin, deals_world["anonymous"], "opt_in")
    after = nx.parse_graphml(other.get("/api/v1/exports/network.graphml").text, force_multigraph=True)
    assert "甲电厂" in labels(after)  # both sides said yes


def _csv(client: Any, name: str, query: str = "") -> list[dict[str, str]]:
    response = client.get(f"/api/v1/exports/{name}.csv{query}")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")  # a UTF-8 BOM: Excel on Chinese Windows reads UTF-8
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_csv_exports(client_as: Any, world: World, deals_world: dict[str, int], min_firms: Any) -> None:  # noqa: F811
    admin = client_as("admin")
    admin.post(f"/api/v1/deals/{deals_world['active']}/deliveries",
               json={"delivered_on": "2026-04-01", "quantity": 120, "manifest_number": "1301-0001"})
    other = client_as("fu_other")
    listings = {int(r["id"]): r for r in _csv(other, "listings")}
    assert world["l_private"] not in listings and world["l_draft"] not in listings
    anon = listings[world["l_anon"]]
    assert anon["anonymised"] == "True" and anon["firm_name"] == "" and anon["quantity"] == ""
    assert anon["site_id"] == "" and float(anon["lat"]) == 39.05 and anon["quantity_band_min"] == "100000.0"
    assert listings[world["l_public"]]["firm_name"] == "甲电厂"  # public listings name their firm

    deals = {int(r["id"]): r for r in _csv(other, "deals")}
    assert set(deals) == {deals_world["anonymous"], deals_world["gypsum"]}
    assert deals[deals_world["anonymous"]]["supplier_firm_name"] == ""
    assert {int(r["id"]) for r in _csv(admin, "deals")} == {deals_world[k] for k in ("active", "anonymous",
                                                                                   "gypsum")}
    assert _csv(other, "deliveries") == []
    rows = _csv(client_as("fu_same_park"), "deliveries")
    assert [(r["quantity"], r["manifest_number"], r["unit"]) for r in rows] == [("120.0", "1301-0001", "t")]

    min_firms(1)  # the world is too small for k-anonymity (test_disclosure.py tests it in exports)
    kpis = _csv(client_as("planner"), "kpis", "?group_by=region&lang=en")
    assert kpis and {"year", "code", "label", "unit", "firms", "generation", "rate_official"} <= set(kpis[0])
    fly = next(r for r in kpis if r["code"] == "fly_ash_2020")
    assert float(fly["committed"]) == 1000 and float(fly["target_rate"]) == 0.75 and fly["label"] == (
        "Fly ash utilisation")
    assert len(fly["rate_official"].split(".")[-1]) <= 4  # rounded
    assert client_as("planner").get("/api/v1/exports/kpis.csv?group_by=universe").status_code == 422
    assert client_as("planner").get("/api/v1/exports/listings.csv?park_id=x").status_code == 422


@pytest.mark.parametrize("path", ["map.geojson", "network.graphml", "network.gexf", "listings.csv", "deals.csv",
                                  "deliveries.csv", "kpis.csv"])
def test_exports_need_a_login(app: Any, path: str) -> None:
    from fastapi.testclient import TestClient

    assert TestClient(app).get(f"/api/v1/exports/{path}").status_code == 401


def test_csv_names_beside_codes_in_the_chosen_language(client_as: Any, world: World,
                                                       deals_world: dict[str, int]) -> None:  # noqa: F811
    admin = client_as("admin")
    zh = {int(r["id"]): r for r in _csv(admin, "deals", "?lang=zh")}
    en = {int(r["id"]): r for r in _csv(admin, "deals", "?lang=en")}
    deal = deals_world["gypsum"]
    assert zh[deal]["material"] == "phosphogypsum" and zh[deal]["material_name"] == "磷石膏"
    assert en[deal]["material_name"] == "Phosphogypsum"
    assert zh[deal]["mode_name"] and zh[deal]["mode_name"] != en[deal]["mode_name"]
    assert en[deal]["ratio_unit"] == "t/t"
    # the state of the benefit figures, named beside the code
    assert (zh[deal]["ledger_state"], zh[deal]["ledger_state_name"]) == ("estimated", "估算")
    assert en[deal]["ledger_state_name"] == "estimated" and zh[deals_world["anonymous"]]["ledger_state"] == ""
    listings = _csv(admin, "listings", "?lang=en")
    assert {r["material_name"] for r in listings if r["material"] == "fly_ash"} == {"Coal fly ash"}
    # figures are rounded: no long binary fractions
    assert all(len(r["distance_km"].split(".")[-1]) <= 1 for r in en.values())


def test_the_on_site_mode_and_families_are_named_from_the_backend_catalogue(client_as: Any, world: World) -> None:
    """A same-site exchange has no knowledge-base transport mode: its name (and the material families') comes
    from the backend's catalogue of its own codes, the one the pages read too, in the chosen language."""
    from backend.i18n import catalogue
    from tests.backend.test_deals import add_listing, seed_deal

    with unit_of_work(world) as (session, admin):
        have = add_listing(session, admin, world["site_a2"], "have", "fly_ash", 1_000)
        want = add_listing(session, admin, world["site_a2"], "want", "fly_ash", 1_000)
        deal = seed_deal(session, admin, have, want, 500)
    admin = client_as("admin")
    for lang in ("zh", "en"):
        row = next(r for r in _csv(admin, "deals", f"?lang={lang}") if int(r["id"]) == deal)
        assert row["mode"] == "on_site" and row["mode_name"] == catalogue(lang)["mode.on_site"]
        families = [r for r in _csv(admin, "kpis", f"?lang={lang}") if r["row"] == "family"]
        ash = next(r for r in families if r["code"] == "ash")
        assert ash["label"] == catalogue(lang)["family.ash"]
    assert catalogue("zh")["mode.on_site"] != catalogue("en")["mode.on_site"]

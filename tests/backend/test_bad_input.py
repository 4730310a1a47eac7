"""Bad input is a 422 naming the field, never a 500: ids beyond the database's integer in paths, queries and
bodies, ``null`` for a field that cannot be empty, names longer than their column; text search takes ``%`` and
``_`` literally; ``/materials`` is a list like the others; the OpenAPI contract declares what the API answers."""

from typing import Any

import pytest

from tests.backend.conftest import World

TOO_BIG = [2**31, 2**63, 10**30]


PATHS = ["/api/v1/firms/{big}", "/api/v1/sites/{big}", "/api/v1/listings/{big}", "/api/v1/parks/{big}",
         "/api/v1/deals/{big}", "/api/v1/runs/{big}", "/api/v1/users/{big}", "/api/v1/permits/{big}",
         "/api/v1/proposals/{big}", "/api/v1/deals/1/deliveries/{big}/void"]
QUERIES = [("/api/v1/listings", "park_id"), ("/api/v1/firms", "park_id"), ("/api/v1/sites", "firm_id"),
           ("/api/v1/kpis", "park_id"), ("/api/v1/network", "park_id"), ("/api/v1/deals", "listing_id"),
           ("/api/v1/exports/listings.csv", "park_id"), ("/api/v1/audit", "user_id")]


def test_an_id_beyond_the_integer_in_a_path_or_query_is_a_422(client_as: Any, world: World) -> None:
    admin = client_as("admin")
    for big in TOO_BIG:
        for path in PATHS:
            method = "POST" if path.endswith("/void") else "GET"
            answer = admin.request(method, path.format(big=big), json={"reason": "x"} if method == "POST" else None)
            assert answer.status_code == 422, (path, big, answer.text)
            assert answer.json()["detail"][0]["loc"][0] == "path"
        for path, name in QUERIES:
            answer = admin.get(path, params={name: big})
            assert answer.status_code == 422, (path, big, answer.text)
            assert answer.json()["detail"][0]["loc"] == ["query", name]


@pytest.mark.parametrize(("path_key", "path", "body", "field"), [
    ("site_a1", "/api/v1/sites/{id}", {"lat": None}, "lat"),
    ("site_a1", "/api/v1/sites/{id}", {"name": None}, "name"),
    ("firm_a1", "/api/v1/firms/{id}", {"name": None}, "name"),
    ("firm_a1", "/api/v1/firms/{id}", {"park_id": None}, "park_id"),
    ("park_a", "/api/v1/parks/{id}", {"province": None}, "province"),
    ("l_public", "/api/v1/listings/{id}", {"quantity": None}, "quantity"),
    ("l_public", "/api/v1/listings/{id}", {"status": None}, "status"),
    ("permit_a1", "/api/v1/permits/{id}", {"valid_from": None}, "valid_from"),
    ("user_fu_own", "/api/v1/users/{id}", {"role": None}, "role"),
])
def test_null_for_a_field_that_cannot_be_empty_is_a_422_at_that_field(client_as: Any, world: World, path_key: str,
                                                                      path: str, body: dict[str, Any],
                                                                      field: str) -> None:
    answer = client_as("admin").patch(path.format(id=world[path_key]), json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["body", field]


def test_null_still_clears_a_field_that_may_be_empty(client_as: Any, world: World) -> None:
    admin = client_as("admin")
    site = f"/api/v1/sites/{world['site_a1']}"
    assert admin.patch(site, json={"address": "某路 1 号"}).json()["address"] == "某路 1 号"
    assert admin.patch(site, json={"address": None}).json()["address"] is None
    listing = f"/api/v1/listings/{world['l_public']}"
    assert admin.patch(listing, json={"description": None}).status_code == 200


def test_null_for_my_own_name_is_a_422(client_as: Any, world: World) -> None:
    answer = client_as("fu_own").patch("/api/v1/users/me", json={"name": None})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["body", "name"]


@pytest.mark.parametrize("length", [101, 150, 200])
def test_a_user_name_longer_than_its_column_is_a_422(client_as: Any, world: World, length: int) -> None:
    admin = client_as("admin")
    answer = admin.post("/api/v1/users", json={"email": f"long{length}@test.cn", "name": "名" * length,
                                               "role": "planner", "password": "long-enough-1"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["body", "name"]
    answer = admin.patch(f"/api/v1/users/{world['user_planner']}", json={"name": "n" * length})
    assert answer.status_code == 422, answer.text
    answer = client_as("planner").patch("/api/v1/users/me", json={"name": "n" * length})
    assert answer.status_code == 422, answer.text
    created = admin.post("/api/v1/users", json={"email": "just@test.cn", "name": "名" * 100, "role": "planner",
                                                "password": "long-enough-1"})
    assert created.status_code == 201, created.text


# --- LIKE wildcards -------------------------------------------------------------------------------------
SEARCHED = {"/api/v1/firms": ("name", "name_en"), "/api/v1/parks": ("name_zh", "name_en", "code"),
            "/api/v1/listings": ("material", "firm_name", "description"), "/api/v1/users": ("email", "name")}


def test_a_wildcard_in_a_search_matches_itself_not_everything(client_as: Any, world: World) -> None:
    admin = client_as("admin")
    for path, fields in SEARCHED.items():
        everything = admin.get(path, params={"limit": 500}).json()
        assert everything["count"] > 0
        for wildcard in ("%", "_", "%%", "\\", "%_%"):
            answer = admin.get(path, params={"q": wildcard, "limit": 500})
            assert answer.status_code == 200
            found = answer.json()["data"]
            literal = [row for row in everything["data"]
                       if any(wildcard.lower() in str(row.get(f) or "").lower() for f in fields)]
            assert len(found) == len(literal) < everything["count"], (path, wildcard, found[:2])


def test_a_search_with_a_literal_per_cent_sign_finds_it(client_as: Any, world: World) -> None:
    admin = client_as("admin")
    firm = admin.post("/api/v1/firms", json={"name": "百分百_100%环保", "industry_code": "3011",
                                             "park_id": world["park_a"]})
    assert firm.status_code == 201, firm.text
    for q in ("100%", "百_1", "%环"):
        found = admin.get("/api/v1/firms", params={"q": q}).json()
        assert [f["name"] for f in found["data"]] == ["百分百_100%环保"], q


# --- /materials and the contract -----------------------------------------------------------------------
def test_materials_answer_data_and_count_like_every_list(client_as: Any, world: World) -> None:
    client = client_as("fu_own")
    body = client.get("/api/v1/materials", params={"q": "gypsum"}).json()
    assert set(body) == {"data", "count"} and body["count"] >= len(body["data"]) > 0
    assert all("gypsum" in m["id"] or "gypsum" in m["name_en"].lower() for m in body["data"])
    first = client.get("/api/v1/materials", params={"limit": 2}).json()
    assert len(first["data"]) == 2 and first["count"] > 2


def test_the_contract_declares_the_refusals_and_the_real_content_types(app: Any) -> None:
    spec = app.openapi()
    for path, operations in spec["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            declared = set(operation["responses"])
            assert {"401", "403", "404", "409", "413", "422", "429", "503"} <= declared, (method, path)
    exports = {"/api/v1/exports/listings.csv": "text/csv", "/api/v1/exports/deals.csv": "text/csv",
               "/api/v1/exports/network.graphml": "application/graphml+xml",
               "/api/v1/exports/network.gexf": "application/gexf+xml",
               "/api/v1/exports/map.geojson": "application/geo+json",
               "/api/v1/exports/report.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    for path, media_type in exports.items():
        assert list(spec["paths"][path]["get"]["responses"]["200"]["content"]) == [media_type], path
    materials = spec["paths"]["/api/v1/materials"]["get"]["responses"]["200"]["content"]["application/json"]
    assert materials["schema"]["$ref"].endswith("Page_MaterialPublic_")

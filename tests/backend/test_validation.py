"""Bad input gets a 422 naming the field, and nothing is written."""

from typing import Any

import pytest

from tests.backend.conftest import World


def _listing(world: World, **over: Any) -> dict[str, Any]:
    return {"site_id": world["site_a1"], "kind": "have", "material": "fly_ash", "quantity": 1000, "unit": "t"} | over


def _locs(response: Any) -> list[list[Any]]:
    assert response.status_code == 422, response.text
    return [e["loc"] for e in response.json()["detail"]]


def _listing_count(client: Any) -> int:
    return client.get("/api/v1/listings").json()["count"]


@pytest.mark.parametrize(("over", "loc"), [
    ({"quantity": 0}, ["body", "quantity"]),
    ({"quantity": -5}, ["body", "quantity"]),
    ({"material": "kryptonite"}, ["body", "material"]),
    ({"unit": "furlong"}, ["body", "unit"]),
    ({"unit": "GJ"}, ["body", "unit"]),  # a unit of the wrong dimension for fly ash
    ({"kind": "swap"}, ["body", "kind"]),
    ({"visibility": "secret"}, ["body", "visibility"]),
    ({"hw_code": "HW99x"}, ["body", "hw_code"]),
    ({"hw_code": "HW08"}, ["body", "hw_code"]),  # fly ash is not hazardous
    ({"kind": "want", "material": "clinker", "disposal_cost": 30}, ["body", "disposal_cost"]),
    ({"attributes": {"LOI": 3}}, ["body", "attributes", "LOI", "[key]"]),
    ({"available_from": "2026-05-01", "available_to": "2026-01-01"}, ["body"]),
    ({"unexpected": 1}, ["body", "unexpected"]),
])
def test_bad_listing_is_refused_with_the_field(client_as: Any, world: World, over: dict[str, Any],
                                               loc: list[Any]) -> None:
    client = client_as("fu_own")
    before = _listing_count(client)
    assert loc in _locs(client.post("/api/v1/listings", json=_listing(world, **over)))
    assert _listing_count(client) == before


def test_bad_update_names_the_field_and_changes_nothing(client_as: Any, world: World) -> None:
    client = client_as("fu_own")
    url = f"/api/v1/listings/{world['l_public']}"
    assert ["body", "quantity"] in _locs(client.patch(url, json={"quantity": 0}))
    assert ["body", "unit"] in _locs(client.patch(url, json={"unit": "GJ"}))
    assert ["body", "material"] in _locs(client.patch(url, json={"material": "nope"}))
    assert client.get(url).json()["quantity"] == 123_456.0


@pytest.mark.parametrize(("lat", "lon", "field"), [(91, 118, "lat"), (-90.5, 118, "lat"), (39, 181, "lon"),
                                                  (39, -200, "lon")])
def test_coordinates_out_of_range(client_as: Any, world: World, lat: float, lon: float, field: str) -> None:
    client = client_as("pm_own")
    body = {"firm_id": world["firm_a1"], "name": "越界", "lat": lat, "lon": lon}
    assert ["body", field] in _locs(client.post("/api/v1/sites", json=body))
    park = {"code": "x-park", "name_zh": "x", "name_en": "x", "province": "河北省", "lat": lat, "lon": lon}
    assert ["body", field] in _locs(client_as("admin").post("/api/v1/parks", json=park))


def test_other_bad_bodies(client_as: Any, world: World) -> None:
    admin = client_as("admin")
    assert ["body", "industry_code"] in _locs(admin.post("/api/v1/firms", json={
        "name": "坏代码", "industry_code": "44A1", "park_id": world["park_a"]}))
    assert ["body", "park_id"] in _locs(admin.post("/api/v1/firms", json={
        "name": "无园区", "industry_code": "4411", "park_id": 999_999}))
    assert ["body", "hw_codes", 0] in _locs(admin.post("/api/v1/permits", json={
        "firm_id": world["firm_a1"], "number": "n", "hw_codes": ["HW1"], "valid_from": "2025-01-01",
        "valid_to": "2026-01-01"}))
    assert ["body", "firm_id"] in _locs(admin.post("/api/v1/users", json={
        "email": "x@test.cn", "name": "x", "role": "firm_user", "password": "long-enough-1"}))
    assert ["body", "email"] in _locs(admin.post("/api/v1/users", json={
        "email": "not-an-email", "name": "x", "role": "planner", "password": "long-enough-1"}))
    assert ["query", "sort"] in _locs(admin.get("/api/v1/listings", params={"sort": "password_hash"}))
    assert ["query", "limit"] in _locs(admin.get("/api/v1/listings", params={"limit": 100_000}))
    assert ["query", "radius_km"] in _locs(admin.get("/api/v1/listings", params={"near_lat": 39, "near_lon": 118}))
    assert ["query", "near_lat"] in _locs(admin.get("/api/v1/listings", params={"near_lat": 95, "near_lon": 118,
                                                                              "radius_km": 5}))


def test_conflicts(client_as: Any, world: World) -> None:
    admin = client_as("admin")
    dup = admin.post("/api/v1/firms", json={"name": "甲电厂", "industry_code": "4411", "park_id": world["park_a"]})
    assert dup.status_code == 409
    busy = admin.delete(f"/api/v1/firms/{world['firm_a1']}")
    assert busy.status_code == 409 and "site" in busy.json()["detail"]
    ref = admin.post("/api/v1/listings", json=_listing(world, ref="l-public"))
    assert ref.status_code == 409

"""Plausible inputs: a quantity beyond the largest plant of its kind is refused on every path (API, page,
import); an outlier is accepted with a warning the owner and the park manager see."""

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.backend.conftest import World

HEADER = ("park,firm,industry_code,site,lat,lon,ref,kind,material,quantity,unit\n")


def _listing(world: World, **extra: Any) -> dict[str, Any]:
    return {"site_id": world["site_a1"], "kind": "have", "material": "fly_ash", "quantity": 1e30, "unit": "t",
            "status": "active"} | extra


def test_api_refuses_a_quantity_beyond_the_largest_plant(client_as: Callable[[str], TestClient],
                                                         world: World) -> None:
    client = client_as("pm_own")
    refused = client.post("/api/v1/listings", json=_listing(world))
    assert refused.status_code == 422, refused.text
    (err,) = refused.json()["detail"]
    assert err["loc"] == ["body", "quantity"] and err["type"] == "implausible_quantity"
    assert "largest plant of its kind is about 5,000,000 t/yr" in err["msg"]
    # the unit counts: 6 million kg is 6,000 t, plausible; 6 billion kg (6 Mt) is not
    assert client.post("/api/v1/listings", json=_listing(world, quantity=6e6, unit="kg")).status_code == 201
    assert client.post("/api/v1/listings", json=_listing(world, quantity=6e9, unit="kg")).status_code == 422
    # one-off stocks are judged against the stock limit: 20 Mt of old ash in a yard is possible, 1e12 t is not
    assert client.post("/api/v1/listings", json=_listing(world, quantity=2e7, period="once")).status_code == 201
    assert client.post("/api/v1/listings", json=_listing(world, quantity=1e12, period="once")).status_code == 422
    # an update may not sneak it in either
    lid = world["l_public"]
    patched = client.patch(f"/api/v1/listings/{lid}", json={"quantity": 1e30})
    assert patched.status_code == 422 and patched.json()["detail"][0]["loc"] == ["body", "quantity"]
    assert client.get(f"/api/v1/listings/{lid}").json()["quantity"] == 123_456.0


def test_an_outlier_is_accepted_with_a_warning_for_owner_and_manager(client_as: Callable[[str], TestClient],
                                                                     world: World) -> None:
    manager = client_as("pm_own")
    created = manager.post("/api/v1/listings", json=_listing(world, quantity=3_000_000, visibility="anonymous"))
    assert created.status_code == 201, created.text
    lid = created.json()["id"]
    for role in ("pm_own", "fu_own", "admin"):
        (warning,) = client_as(role).get(f"/api/v1/listings/{lid}").json()["warnings"]
        assert warning == {"code": "quantity_outlier", "field": "quantity", "value": 3_000_000.0,
                           "typical_max": 1_500_000.0, "unit": "t"}
    # others see the anonymous listing as a band and no warning (it would tell more than the band)
    seen = client_as("fu_other").get(f"/api/v1/listings/{lid}").json()
    assert seen["quantity"] is None and seen["warnings"] == []
    assert client_as("fu_own").get(f"/api/v1/listings/{world['l_public']}").json()["warnings"] == []


def test_the_import_refuses_and_warns_the_same_way(client_as: Callable[[str], TestClient], world: World) -> None:
    manager = client_as("pm_own")
    rows = (HEADER + "park-a,甲电厂,4411,site_a1,39.0123,118.5456,X1,have,fly_ash,1e30,t\n"
            + "park-a,甲电厂,4411,site_a1,39.0123,118.5456,X2,have,fly_ash,3000000,t\n")
    answer = manager.post("/api/v1/imports", params={"dry_run": "false"},
                          files={"file": ("f.csv", rows.encode(), "text/csv")})
    assert answer.status_code == 422
    (err,) = answer.json()["detail"]
    assert err["loc"] == ["file", "row", 2, "quantity"] and "largest plant" in err["msg"]
    ok = HEADER + "park-a,甲电厂,4411,site_a1,39.0123,118.5456,X2,have,fly_ash,3000000,t\n"
    dry = manager.post("/api/v1/imports", files={"file": ("f.csv", ok.encode(), "text/csv")}).json()
    assert dry["ok"] and [(w["row"], w["column"], w["code"]) for w in dry["warnings"]] == [
        (2, "quantity", "quantity_outlier")]

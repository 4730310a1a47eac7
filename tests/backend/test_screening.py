"""Screening through the API: who may screen, ranked candidates with confidence and reasons, top per stream
or all, the site's own industry codes, and the import column that sets them."""

from collections import Counter
from typing import Any

from tests.backend.conftest import World
from tests.backend.test_import import HEADER, _csv, _post


def _screen(client: Any, park_id: int, **params: Any) -> Any:
    return client.get(f"/api/v1/parks/{park_id}/screening", params=params)


def test_who_may_screen_a_park(client_as: Any, world: World) -> None:
    park = world["park_a"]
    assert _screen(client_as("pm_own"), park).status_code == 200
    assert _screen(client_as("admin"), park, mode="combined").status_code == 200
    assert _screen(client_as("planner"), park).status_code == 200
    # exact listing figures: only for the park's managers and admins
    assert _screen(client_as("planner"), park, mode="combined").status_code == 403
    assert _screen(client_as("pm_other"), park).status_code == 403
    assert _screen(client_as("fu_own"), park).status_code == 403
    assert _screen(client_as("pm_own"), 999_999).status_code == 404
    bad = _screen(client_as("pm_own"), park, mode="guess")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "mode"]
    assert _screen(client_as("pm_own"), park, top=0).status_code == 422


def test_candidates_are_ranked_with_confidence_and_reasons(client_as: Any, world: World) -> None:
    # park_a: a coal power plant (4411), a cement plant (3011) and a concrete plant (3021), from profiles only
    body = _screen(client_as("pm_own"), world["park_a"]).json()
    cands = body["candidates"]
    assert body["mode"] == "profiles" and body["estimated"] > 0 and cands
    assert body["candidates_total"] >= len(cands)
    for c in cands:
        assert 0 < c["confidence"] <= 1
        assert c["rule"] and c["capacity"] > 0 and c["unit_benefit"] > 0
        codes = [r["code"] for r in c["reasons"]]
        assert "estimated_supply" in codes and "estimated_demand" in codes  # both ends come from profiles
        assert c["from_firm"] in ("甲电厂", "乙水泥", "丙空壳") and c["to_firm"] in ("甲电厂", "乙水泥", "丙空壳")
    expected = [c["expected_benefit"] for c in cands]
    assert expected == sorted(expected, reverse=True)
    assert any(c["material"] == "fly_ash" and c["to_firm"] == "乙水泥" for c in cands)
    # top=1: every kept pair is the best of its supply or of its demand
    one = _screen(client_as("pm_own"), world["park_a"], top=1).json()["candidates"]
    every = _screen(client_as("pm_own"), world["park_a"], all=True).json()
    assert len(every["candidates"]) == every["candidates_total"] >= len(cands) >= len(one)
    best_of_supply = {}
    best_of_demand = {}
    for c in every["candidates"]:  # ranked best first
        best_of_supply.setdefault(c["supply"], c)
        best_of_demand.setdefault(c["demand"], c)
    for c in one:
        assert best_of_supply[c["supply"]] == c or best_of_demand[c["demand"]] == c
    assert max(Counter(c["supply"] for c in cands).values()) <= 3 + len({c["demand"] for c in cands})


def test_a_site_carries_its_own_industry_codes(client_as: Any, world: World) -> None:
    pm = client_as("pm_own")
    spare = f"s{world['site_a1_spare']}"

    def heat_needs() -> list[dict[str, Any]]:
        streams = _screen(pm, world["park_a"]).json()["streams"]
        return [s for s in streams if s["site"] == spare and s["kind"] == "demand" and s["material"] == "heat"]

    assert heat_needs() == []  # the power plant's profile (its firm's 4411) needs no heat
    # the power firm's spare site runs its district heating (4430): it now needs heat for district heating
    patched = pm.patch(f"/api/v1/sites/{world['site_a1_spare']}", json={"industry_codes": ["4430"]})
    assert patched.status_code == 200 and patched.json()["industry_codes"] == ["4430"]
    (need,) = heat_needs()
    assert need["use"] == "district_heating" and need["estimate"]["profile"] == "4430" and need["firm"] == "甲电厂"
    bad = pm.patch(f"/api/v1/sites/{world['site_a1_spare']}", json={"industry_codes": ["44x0"]})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][:2] == ["body", "industry_codes"]


def test_site_industries_are_imported_and_checked(client_as: Any, world: World) -> None:
    client = client_as("pm_own")
    header = HEADER.replace(",site,", ",site,site_industries,")
    good = "park-a,联合厂,3110,,联合厂区,3110;3120;4412,39.0,118.6,U-1,have,bf_slag,1000,t,,public"
    assert _post(client, _csv(good, header=header), dry_run=False).json()["ok"] is True
    site = [s for s in client.get("/api/v1/sites", params={"limit": 500}).json()["data"] if s["name"] == "联合厂区"]
    assert site[0]["industry_codes"] == ["3110", "3120", "4412"]
    bad = _post(client, _csv(good.replace("3110;3120;4412", "3110;steel"), header=header)).json()
    assert bad["ok"] is False and (bad["errors"][0]["row"], bad["errors"][0]["column"]) == (2, "site_industries")

"""The benefit ledger against a hand calculation, and regional overrides (admins only, 422 on bad input)."""

import math
from typing import Any

import pytest

from tests.backend.conftest import World
from tests.backend.test_deals import add_listing, add_site, move, seed_deal, unit_of_work

R_EARTH = 6371.0088


def test_ledger_equals_a_hand_calculation(client_as: Any, world: World) -> None:
    """1000 t/yr of fly ash replacing clinker 0.1° due north (11.12 km great circle), with the admin's
    overrides: clinker at 300 yuan/t and a Hebei circuity of 1.0. Then 300 + 200 t delivered."""
    from matching.knowledge import default_knowledge_base

    kb = default_knowledge_base()
    admin = client_as("admin")
    for override in ({"kind": "price", "key": "clinker", "value": 300},
                     {"kind": "circuity", "key": "河北省", "value": 1.0}):
        assert admin.post("/api/v1/overrides", json=override).status_code == 201
    with unit_of_work(world) as (session, actor):
        south = add_site(session, actor, world["firm_a1"], "south", 39.0, 118.0)
        north = add_site(session, actor, world["firm_a2"], "north", 39.1, 118.0)
        ash = add_listing(session, actor, south, "have", "fly_ash", 5000,
                          attributes={"loss_on_ignition": 5.0, "so3": 2.0})
        clinker = add_listing(session, actor, north, "want", "clinker", 5000)
        deal_id = seed_deal(session, actor, ash, clinker, 1200)
        move(session, actor, deal_id, "opt_in", "negotiate", "agree", "activate", agreed=1000)
    for day, q in (("2026-01-10", 300), ("2026-02-10", 200)):
        assert admin.post(f"/api/v1/deals/{deal_id}/deliveries",
                          json={"delivered_on": day, "quantity": q}).status_code == 201

    # by hand: D = R·Δφ (same meridian) × circuity 1.0; the mode is the cheapest (handling + rate·D) of the
    # solid-carrying modes open to sites without a siding or wharf (all deliver ratio 1 here);
    # b = ratio·price + disposal − pretreatment − transport
    distance = R_EARTH * math.radians(0.1) * 1.0
    price, disposal, ratio, pretreatment = 300.0, 85.0, 1.0, 0.0  # disposal: 25 tax + 60 landfill (KB)
    assert kb.disposal_costs["fly_ash"] == disposal and kb.env_tax["fly_ash"] == 25.0
    solid = [m for m in kb.transport_modes.values()
             if "solid" in m.forms and m.unit == "t" and not m.needs_access]
    mode = min(solid, key=lambda m: m.handling_per_unit + m.cost_per_unit_km * distance)
    transport = mode.handling_per_unit + mode.cost_per_unit_km * distance
    b = ratio * price + disposal - pretreatment - transport
    co2 = ratio * kb.co2_factors["clinker"] - mode.co2_kg_per_unit_km * distance / 1000
    assert kb.co2_factors["clinker"] == 0.85

    ledger = admin.get(f"/api/v1/deals/{deal_id}/ledger").json()
    assert ledger["approximate"] is False
    for key, q in (("planned", 1000.0), ("realised", 500.0)):
        fig = ledger[key]
        assert fig["quantity"] == q
        assert fig["landfill_diverted_t"] == pytest.approx(q)
        assert fig["cost_saved_yuan"] == pytest.approx(q * b, rel=1e-9)
        assert fig["co2_avoided_t"] == pytest.approx(q * co2, rel=1e-9)
        assert fig["env_tax_avoided_yuan"] == pytest.approx(q * 25.0)
        assert fig["raw_material_substituted"] == pytest.approx(q * ratio)
        assert fig["raw_material"] == "clinker" and fig["raw_material_unit"] == "t"
    inputs = {i["name"]: i for i in ledger["inputs"]}
    assert inputs["distance_km"]["value"] == pytest.approx(distance, rel=1e-9)
    assert inputs["mode"]["value"] == mode.id
    assert inputs["price_replaced"]["value"] == 300 and "override" in inputs["price_replaced"]["source"]
    assert inputs["rule"]["value"] == "fly_ash_common_cement"
    assert "环境保护税法" in inputs["disposal_cost"]["source"]
    assert set(ledger["formulas"]) == {"landfill_diverted_t", "co2_avoided_t", "cost_saved_yuan",
                                       "env_tax_avoided_yuan", "raw_material_substituted"}
    deal = admin.get(f"/api/v1/deals/{deal_id}").json()
    assert deal["distance_km"] == pytest.approx(distance) and deal["mode"] == mode.id


def test_a_listing_disposal_cost_is_used_per_canonical_unit(world: World) -> None:
    """A have priced at 0.05 yuan per kg of disposal is 50 yuan per t in the figures."""
    from backend.services import deals

    with unit_of_work(world) as (session, actor):
        ash = add_listing(session, actor, world["site_a1"], "have", "fly_ash", 9_000_000, unit="kg",
                          disposal_cost=0.05)
        want = add_listing(session, actor, world["site_a1"], "want", "fly_ash", 9000)
        deal_id = seed_deal(session, actor, ash, want, 9000)
        ledger = deals.get_ledger(session=session, actor=actor, deal_id=deal_id)
    inputs = {i.name: i.value for i in ledger.inputs}
    assert inputs["disposal_cost"] == pytest.approx(50.0) and inputs["mode"] == "on_site"
    assert ledger.planned.cost_saved_yuan == pytest.approx(9000 * (200.0 + 50.0))  # same site: no transport


def test_overrides_are_kept_by_admins(client_as: Any, world: World) -> None:
    admin = client_as("admin")
    made = admin.post("/api/v1/overrides", json={"kind": "disposal_cost", "key": "fly_ash", "value": 120})
    assert made.status_code == 201
    oid = made.json()["id"]
    assert admin.post("/api/v1/overrides", json={"kind": "disposal_cost", "key": "fly_ash",
                                                 "value": 1}).status_code == 409
    for role, status in (("pm_own", 403), ("fu_own", 403), ("planner", 403)):
        assert client_as(role).post("/api/v1/overrides", json={"kind": "price", "key": "clinker",
                                                               "value": 1}).status_code == status
        assert client_as(role).patch(f"/api/v1/overrides/{oid}", json={"value": 1}).status_code == status
    assert client_as("planner").get("/api/v1/overrides").status_code == 200
    assert client_as("fu_own").get("/api/v1/overrides").status_code == 403
    for body, loc in (({"kind": "price", "key": "unobtainium", "value": 1}, ["body", "key"]),
                      ({"kind": "circuity", "key": "Atlantis", "value": 1.2}, ["body", "key"]),
                      ({"kind": "circuity", "key": "山西", "value": 9}, ["body", "value"]),
                      ({"kind": "price", "key": "clinker", "value": -1}, ["body", "value"]),
                      ({"kind": "tariff", "key": "clinker", "value": 1}, ["body", "kind"])):
        response = admin.post("/api/v1/overrides", json=body)
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == loc, body
    assert admin.patch(f"/api/v1/overrides/{oid}", json={"value": 130}).json()["value"] == 130
    assert admin.delete(f"/api/v1/overrides/{oid}").status_code == 204
    assert admin.delete(f"/api/v1/overrides/{oid}").status_code == 404

"""Screening from industry profiles, on a small knowledge base built in the test (independent of the
shipped reference data, which is written separately)."""

from __future__ import annotations

from typing import Any

import pytest

from matching.evaluate import evaluate
from matching.knowledge import (
    IndustryProfile,
    Intensity,
    KnowledgeBase,
    Material,
    Restriction,
    SubstitutionRule,
    TransportMode,
)
from matching.scenario import load_scenario
from matching.screening import screen


def mini_kb() -> KnowledgeBase:
    def mat(mid: str, hazardous: bool = False, hw: str | None = None) -> Material:
        return Material(mid, mid, mid, "test", "solid", "t", None, None, None, hazardous, hw, "test", "estimate")

    materials = {m.id: m for m in (mat("fly_ash"), mat("cement"), mat("steel_slag"), mat("clinker"),
                                   mat("waste_oil", True, "HW08"))}
    rules = (
        SubstitutionRule("fa-cement", "fly_ash", "cement", "concrete", 1.0, 0.35, (), None, 0.0, None, None,
                         "test", "estimate"),
        SubstitutionRule("ss-clinker", "steel_slag", "clinker", "common_cement", 1.0, 0.5, (), None, 0.0, None,
                         None, "test", "estimate"),
    )
    restrictions = (Restriction("steel_slag", "clinker", "common_cement", "GB 175-2023", "test", "sourced"),)
    road = TransportMode("road", "公路", "road", "t", 0.45, 15.0, 0.08, frozenset({"solid"}), None, None, None,
                         None, None, "test", "estimate")
    profiles = {
        "4411": IndustryProfile("4411", "火力发电", "coal power", "GWh", 1000.0,
                                (Intensity("fly_ash", 100.0, None, None, "test", "estimate"),), (), "test",
                                "estimate"),
        "3011": IndustryProfile("3011", "水泥制造", "cement", "t", 1e6, (),
                                (Intensity("cement", 0.2, None, None, "test", "estimate"),), "test",
                                "estimate"),
    }
    return KnowledgeBase(materials=materials, substitutions=rules, restrictions=restrictions,
                         transport_modes={"road": road}, circuity={"default": 1.3},
                         co2_factors={"cement": 0.8, "clinker": 0.85}, prices={"cement": 300.0},
                         disposal_costs={"fly_ash": 50.0}, env_tax={}, landfill_fee={}, disposal_categories={},
                         profiles=profiles, targets=(), version="test")


def park_doc(**extra: Any) -> dict[str, Any]:
    return {"name": "park", "sites": [
        {"id": "power", "lat": 38.93, "lon": 118.53, "industry": "4411", "size": {"quantity": 500, "unit": "GWh"}},
        {"id": "cement", "lat": 39.63, "lon": 118.18, "industry": "3011"},
        {"id": "other", "lat": 39.0, "lon": 118.0, "industry": "9999"}],
        "supplies": [], "demands": [], **extra}


def test_screen_estimates_and_ranks() -> None:
    kb = mini_kb()
    scenario = load_scenario(park_doc(), knowledge_base=kb)
    out = screen(scenario)
    data = out.to_json()
    est = {(e["kind"], e["site"], e["material"]): e["quantity"] for e in data["estimated_streams"]}
    assert est[("supply", "power", "fly_ash")] == pytest.approx(100.0 * 500)
    assert est[("demand", "cement", "cement")] == pytest.approx(0.2 * 1e6)
    assert all(e["estimated"] for e in data["estimated_streams"])
    (cand,) = data["candidates"]
    assert (cand["from_site"], cand["to_site"], cand["material"], cand["replaces"]) == \
        ("power", "cement", "fly_ash", "cement")
    # the max share 35 % of 200,000 t binds: 70,000 t > 50,000 t supplied, so all fly ash moves
    (link,) = out.match.links
    assert link.quantity == pytest.approx(50_000.0)
    full = scenario.replace_streams(out.estimated_supplies, out.estimated_demands)
    assert evaluate(full, out.match).ok


def test_stated_streams_take_precedence_and_restrictions_hold() -> None:
    kb = mini_kb()
    doc = park_doc(supplies=[{"id": "ss", "site": "power", "material": "steel_slag", "quantity": 10}],
                   demands=[{"id": "ck", "site": "cement", "material": "clinker", "quantity": 10}])
    out = screen(load_scenario(doc, knowledge_base=kb))
    assert out.estimated_supplies == ()  # power has a stated stream
    assert [d.site for d in out.estimated_demands] == []  # so has cement
    assert out.candidates == ()  # steel slag may not go into common cement (restriction)


def test_cli_match_and_screen(tmp_path: Any, base_doc: dict[str, Any]) -> None:
    import json

    import typer
    from typer.testing import CliRunner

    from backend.cli.match import register

    app = typer.Typer()
    register(app)
    runner = CliRunner()
    path = tmp_path / "s.json"
    path.write_text(json.dumps(base_doc))
    out = tmp_path / "r.json"
    res = runner.invoke(app, ["match", str(path), "--out", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["status"] == "optimal" and data["objective"]["net_benefit"] == pytest.approx(2400.0)
    res = runner.invoke(app, ["match", str(path), "--out", str(out), "--mode", "milp", "--time-limit", "10"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["screen", str(path), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "candidates" in json.loads(out.read_text())
    base_doc["sites"][0]["lat"] = 123
    path.write_text(json.dumps(base_doc))
    res = runner.invoke(app, ["match", str(path)])
    assert res.exit_code == 2
    assert "$.sites[0].lat" in res.output


# --- receivers, uses, several codes, confidence, permits to verify, top per stream -----------------------
def rich_kb() -> KnowledgeBase:
    """The mini knowledge base plus heat (graded uses), a hazardous waste oil a kiln usually may take, and
    profiles with a to-confirm by-product, a group fallback and a class of several activities."""
    import dataclasses

    from matching.knowledge.models import Use

    kb = mini_kb()

    def mat(mid: str, form: str = "solid", unit: str = "t") -> Material:
        return Material(mid, mid, mid, "test", form, unit, None, None, None, False, None, "test", "estimate")

    materials = {**kb.materials, "hot_water": mat("hot_water", "heat", "GJ"), "heat": mat("heat", "heat", "GJ"),
                 "coal": mat("coal")}
    rules = (*kb.substitutions,
             SubstitutionRule("hw-dh", "hot_water", "heat", "district_heating", 1.0, 1.0, (), "heat exchanger", 3.0,
                              "medium", None, "test", "estimate", receivers=("4430",)),
             SubstitutionRule("oil-kiln", "waste_oil", "coal", "kiln_fuel", 1.0, 0.3, (), None, 0.0, None, None,
                              "test", "sourced", receivers=("3011",)))
    pipe = TransportMode("pipe", "管", "pipe", "GJ", 0.02, 1.0, 0.0, frozenset({"heat"}), 40.0, 100.0, 0.0, 20,
                         0.001, "test", "estimate", frozenset({"hot_water"}), route_factor=1.1)
    road = dataclasses.replace(kb.transport_modes["road"], forms=frozenset({"solid", "liquid"}))
    uses = {u: Use(u, u, u, g, "test", "estimate") for u, g in
            (("district_heating", "medium"), ("concrete", None), ("kiln_fuel", None), ("common_cement", None))}
    profiles = {
        "4411": IndustryProfile("4411", "火力发电", "coal power", "GWh", 1000.0, (
            Intensity("fly_ash", 100.0, None, None, "test", "estimate"),
            Intensity("hot_water", 5000.0, None, None, "test", "estimate", share_of_plants=0.5)), (), "test",
            "estimate"),
        "3011": IndustryProfile("3011", "水泥制造", "cement", "t", 1e6, (), (
            Intensity("cement", 0.2, None, None, "test", "estimate", use="concrete"),
            Intensity("coal", 0.1, None, None, "test", "sourced", use="kiln_fuel")), "test", "estimate",
            permits=("HW08",)),
        "443": IndustryProfile("443", "热力", "heat supply (group)", "GJ", 1e6, (), (
            Intensity("heat", 1.0, None, None, "test", "estimate", use="district_heating"),), "test", "estimate"),
        "2511": IndustryProfile("2511", "炼油", "refining", "t", 1e6, (
            Intensity("waste_oil", 0.001, None, None, "test", "estimate"),), (), "test", "estimate"),
    }
    return dataclasses.replace(kb, materials=materials, substitutions=rules, profiles=profiles, uses=uses,
                               transport_modes={"road": road, "pipe": pipe}, prices={**kb.prices, "heat": 45.0,
                                                                                    "coal": 800.0},
                               co2_factors={**kb.co2_factors, "heat": 0.11, "coal": 1.9},
                               disposal_costs={**kb.disposal_costs, "waste_oil": 4000.0})


def _sites(*sites: tuple[str, float, float, Any]) -> dict[str, Any]:
    return {"name": "park", "supplies": [], "demands": [],
            "sites": [{"id": sid, "lat": lat, "lon": lon, **({"industry": ind} if ind else {})}
                      for sid, lat, lon, ind in sites]}


def test_rules_serve_only_their_receivers_and_uses() -> None:
    kb = rich_kb()
    doc = _sites(("power", 39.0, 118.0, "4411"), ("heating", 39.05, 118.05, "4430"),
                 ("concrete", 39.02, 118.02, "3021"))
    doc["demands"] = [{"id": "h2", "site": "concrete", "material": "heat", "quantity": 1000}]
    out = screen(load_scenario(doc, knowledge_base=kb), top=None)
    heat = [c for c in out.candidates if c["material"] == "hot_water"]
    # the heating company (4430: its group's profile 443) gets hot water for district heating; the concrete
    # plant's stated heat want is no district heating network: the rule does not serve it
    assert {c["to_site"] for c in heat} == {"heating"}
    assert all(c["use"] == "district_heating" and c["rule"] == "hw-dh" for c in heat)
    (need,) = [d for d in out.estimated_demands if d.material == "heat"]
    assert need.use == "district_heating" and need.estimate is not None and need.estimate.level == "group"
    # a stated use the rule does not have: no candidate either
    doc["demands"] = [{"id": "h3", "site": "heating", "material": "heat", "quantity": 1000, "use": "concrete"}]
    out = screen(load_scenario(doc, knowledge_base=kb), top=None)
    assert not [c for c in out.candidates if c["demand"] == "h3"]


def test_confidence_follows_share_of_plants_fallbacks_and_permits() -> None:
    kb = rich_kb()
    doc = _sites(("power", 39.0, 118.0, "4411"), ("heating", 39.05, 118.05, "4430"),
                 ("kiln", 39.03, 118.03, "3011"), ("refinery", 39.04, 118.01, ["2511", "4411"]))
    out = screen(load_scenario(doc, knowledge_base=kb), top=None)
    supplies = {(s.site, s.material): s for s in out.estimated_supplies}
    # a site of two activities gets both profiles' streams
    assert {("refinery", "waste_oil"), ("refinery", "fly_ash")} <= set(supplies)
    hot = supplies[("power", "hot_water")]
    assert hot.confidence == pytest.approx(0.7 * 0.5) and hot.estimate is not None
    assert hot.estimate.share_of_plants == 0.5
    by_pair = {(c["from_site"], c["to_site"], c["material"]): c for c in out.candidates}
    heat = by_pair[("power", "heating", "hot_water")]
    reasons = {r["code"]: r for r in heat["reasons"]}
    assert reasons["estimated_supply"]["share_of_plants"] == 0.5 and reasons["estimated_demand"]["level"] == "group"
    assert heat["confidence"] < by_pair[("power", "kiln", "fly_ash")]["confidence"]
    # the kiln's permits were not stated, its industry usually holds HW08: waste oil, permit to verify
    oil = by_pair[("refinery", "kiln", "waste_oil")]
    assert oil["permit_to_verify"] and "permit_to_verify" in {r["code"] for r in oil["reasons"]}
    # stated permits that do not cover it: no candidate
    doc["sites"][2]["permits"] = ["HW17"]
    out = screen(load_scenario(doc, knowledge_base=kb), top=None)
    assert not [c for c in out.candidates if c["material"] == "waste_oil"]


def test_each_stream_keeps_its_best_pairs() -> None:
    kb = mini_kb()
    sites = [("power", 39.0, 118.0, "4411")] + [(f"c{i}", 39.0 + 0.05 * i, 118.0, "3011") for i in range(1, 6)]
    everything = screen(load_scenario(_sites(*sites), knowledge_base=kb), top=None)
    best_two = screen(load_scenario(_sites(*sites), knowledge_base=kb), top=2)
    assert len(everything.candidates) == 5 == everything.total_candidates
    # one supply, five demands: the supply keeps its best 2, each demand its best (the only) pair: all five
    assert len(best_two.candidates) == 5
    best_one = screen(load_scenario(_sites(*sites), knowledge_base=kb), top=1)
    assert [c["to_site"] for c in best_one.candidates] == [c["to_site"] for c in everything.candidates]
    ranks = [c["expected_benefit"] for c in everything.candidates]
    assert ranks == sorted(ranks, reverse=True) and everything.candidates[0]["to_site"] == "c1"  # the nearest


def test_exchanges_too_small_to_broker_are_left_out_unless_everything_is_asked() -> None:
    kb = mini_kb()
    doc = park_doc()
    doc["sites"][0]["size"] = {"quantity": 0.2, "unit": "GWh"}  # 20 t of fly ash a year: a few thousand yuan
    small = screen(load_scenario(doc, knowledge_base=kb))
    assert small.candidates == () and small.match.links == () and small.total_candidates == 0
    everything = screen(load_scenario(doc, knowledge_base=kb), top=None)
    (cand,) = everything.candidates
    assert cand["unit_benefit"] * cand["capacity"] < 1_000_000
    lowered = screen(load_scenario(doc, knowledge_base=kb), min_annual_benefit=1_000)
    assert len(lowered.candidates) == 1 and len(lowered.match.links) == 1

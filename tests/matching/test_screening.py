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

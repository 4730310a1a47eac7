"""MILP mode: fixed costs, minimum lots, partner limits, pipelines, hubs; equals linear without them."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from matching.api import match
from matching.errors import SolverUnavailable
from matching.evaluate import evaluate
from matching.milp import available_solvers
from matching.scenario import load_scenario
from tests.matching.test_properties import scenarios


def run_milp(doc: dict[str, Any], **kw: Any) -> Any:
    scenario = load_scenario(doc)
    result = match(scenario, mode="milp", **kw)
    ev = evaluate(scenario, result)
    assert ev.ok, ev.problems
    return result


def test_fixed_cost_closes_a_thin_link(base_doc: dict[str, Any]) -> None:
    # linear: 60 t × 40 = 2,400; a fixed cost of 3,000 makes the link not worth opening
    base_doc["parameters"]["milp"] = {"fixed_cost_per_link": 1000.0}
    result = run_milp(base_doc)
    assert result.status == "optimal"
    assert result.objective.net_benefit == pytest.approx(1400.0)
    assert result.links[0].net_benefit == pytest.approx(1400.0)
    assert result.objective.fixed_costs == pytest.approx(1000.0)
    base_doc["parameters"]["milp"] = {"fixed_cost_per_link": 3000.0}
    assert run_milp(base_doc).links == ()


def test_min_lot_and_max_partners(base_doc: dict[str, Any]) -> None:
    base_doc["demands"] = [{"id": f"d{k}", "site": "B", "material": "slag", "quantity": q}
                           for k, q in enumerate([30.0, 20.0, 5.0])]
    base_doc["parameters"]["milp"] = {"min_lot": 10.0}
    result = run_milp(base_doc)
    assert {x.demand for x in result.links} == {"d0", "d1"}
    base_doc["parameters"]["milp"] = {"max_partners": 1}
    result = run_milp(base_doc)
    assert [x.demand for x in result.links] == ["d0"]


def test_pipeline_capex_counts_per_km(base_doc: dict[str, Any]) -> None:
    base_doc["parameters"]["transport"] = {"pipe": {"cost_per_tkm": 0.0, "handling_per_t": 0.0,
                                                    "annualised_capex_per_km": 20.0, "max_distance_km": 150}}
    result = run_milp(base_doc)  # 60 × 100 − 20 × 100 km = 4,000
    assert result.objective.net_benefit == pytest.approx(4000.0)
    base_doc["parameters"]["transport"]["pipe"]["max_distance_km"] = 50
    assert run_milp(base_doc).links == ()


def test_hub_is_built_when_it_pays(base_doc: dict[str, Any]) -> None:
    # price 55 makes the direct link lose (b = −5); a hub halfway with cheap handling does not help
    # (two handlings); a hub at the demand site with a fixed cost below the gain is built
    base_doc["parameters"]["prices"]["slag"] = 100.0
    base_doc["parameters"]["milp"] = {"hubs": [{"id": "H", "lat": base_doc["sites"][1]["lat"],
                                                "lon": 110.0, "capacity": 1000, "fixed_cost": 10.0}]}
    result = match(load_scenario(base_doc), mode="milp")
    assert result.status == "optimal"
    # direct: 40/t; via hub: disposal 0 − (10 + 50) + (100 − 10) = 30/t: direct wins, hub not built
    assert result.stats.extra["hubs_built"] == []


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(pipelines=False))  # no pipeline: nothing to charge as a fixed cost
def test_zero_fixed_costs_equals_linear(doc: dict[str, Any]) -> None:
    scenario = load_scenario(doc)
    linear = match(scenario)
    milp = match(scenario, mode="milp")
    assert milp.objective.net_benefit == pytest.approx(linear.objective.net_benefit, rel=1e-6, abs=1e-5)


def test_solver_selection(base_doc: dict[str, Any]) -> None:
    assert "highs" in available_solvers()
    if "scip" in available_solvers():
        assert run_milp(copy.deepcopy(base_doc), solver="scip").objective.net_benefit == pytest.approx(2400.0)
    with pytest.raises(SolverUnavailable):
        match(load_scenario(base_doc), mode="milp", solver="nope")


def test_time_limit_reports_gap(base_doc: dict[str, Any]) -> None:
    result = run_milp(base_doc, time_limit=5)
    assert result.objective.gap is not None and result.objective.gap <= 1e-4

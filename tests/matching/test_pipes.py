"""Pipes paid at the flow they carry (matching.pipes): hand-checked cases beside the properties."""

import json
from pathlib import Path
from typing import Any

import pytest

from matching.api import match
from matching.evaluate import evaluate
from matching.scenario import load_scenario


def _pipe_or_rail(on_site_t: float) -> dict[str, Any]:
    """560 t of b, 111 km from a receiver of 500 t of c; a receiver on the supplier's own site takes
    ``on_site_t`` first. A pipe (capex 50 yuan/km a year) spread over the 500 t it could carry beats rail; sized
    for what is left after the site's own use, it may not."""
    return {
        "sites": [{"id": "S0", "lat": 29.0, "lon": 109.0}, {"id": "S1", "lat": 30.0, "lon": 109.0}],
        "supplies": [{"id": "s0", "site": "S0", "material": "b", "quantity": 560.0}],
        "demands": [{"id": "d0", "site": "S0", "material": "c", "quantity": on_site_t},
                    {"id": "d1", "site": "S1", "material": "c", "quantity": 500.0}],
        "parameters": {
            "use_knowledge_base": False, "circuity": 1.0,
            "transport": {"rail": {"cost_per_tkm": 0.1, "handling_per_t": 30.0, "max_distance_km": 250.0},
                          "pipe": {"cost_per_tkm": 0.01, "handling_per_t": 1.0, "max_distance_km": 150.0,
                                   "annualised_capex_per_km": 50.0, "loss_per_km": 0.0, "route_factor": 1.1}},
            "prices": {"c": 120.0},
            "substitutions": [{"material": "b", "replaces": "c", "ratio": 1.0, "max_share": 1.0}]},
    }


def test_a_pipe_too_large_for_its_flow_gives_way_to_rail() -> None:
    scenario = load_scenario(_pipe_or_rail(480.0))
    relaxed = match(scenario, pipes="relaxed")
    assert sorted((link.demand, link.mode, link.quantity) for link in relaxed.links) == [
        ("d0", "on_site", 480.0), ("d1", "pipe", 80.0)]
    # sized for 80 t the pipe costs 50 × 122.3 km / 80 t ≈ 76 yuan/t: rail (30 + 0.1 × 111 km ≈ 41) pays more
    paid = match(scenario)
    assert sorted((link.demand, link.mode, link.quantity) for link in paid.links) == [
        ("d0", "on_site", 480.0), ("d1", "rail", 80.0)]
    assert evaluate(scenario, paid).ok, evaluate(scenario, paid).problems
    assert paid.objective.net_benefit < relaxed.objective.net_benefit


def test_a_full_pipe_stays_a_pipe() -> None:
    scenario = load_scenario(_pipe_or_rail(60.0))
    paid = match(scenario)
    assert sorted((link.demand, link.mode, link.quantity) for link in paid.links) == [
        ("d0", "on_site", 60.0), ("d1", "pipe", 500.0)]
    assert paid.objective.net_benefit == match(scenario, pipes="relaxed").objective.net_benefit


@pytest.mark.parametrize("case", ["pipe_beaten_by_rail_once_sized", "solve_moves_more_onto_a_resized_pipe"])
def test_cases_the_properties_found(case: str) -> None:
    """Scenarios hypothesis found (tests/matching/test_properties.py): the paid answer is feasible, every pipe
    sized for its flow, and never above the relaxation."""
    doc = json.loads((Path(__file__).parent / "data" / "pipes_found.json").read_text())[case]
    scenario = load_scenario(doc)
    paid = match(scenario)
    ev = evaluate(scenario, paid)
    assert ev.ok, ev.problems
    for link in paid.links:
        if link.breakdown is not None and link.breakdown.capacity is not None:
            assert link.quantity == pytest.approx(link.breakdown.capacity, rel=1e-6)
    assert paid.objective.net_benefit <= match(scenario, pipes="relaxed").objective.net_benefit + 1e-6

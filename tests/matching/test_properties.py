"""Property tests on random small scenarios: feasible, equal to an independent LP over all pairs, and the
same whether decomposed or not, by min-cost flow or by LP."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching.candidates import build_candidates
from matching.certificate import CERTIFICATE_GAP
from matching.economics import resolve_economics
from matching.evaluate import evaluate
from matching.scenario import load_scenario
from matching.solve import solve_linear
from tests.matching.conftest import oracle_lp, oracle_milp

MATERIALS = ["a", "b", "c"]


@st.composite
def scenarios(draw: Any, *, generalised: bool = True, pipelines: bool = True) -> dict[str, Any]:
    n_sites = draw(st.integers(1, 6))
    sites = [{"id": f"S{i}", "lat": draw(st.floats(29.0, 31.0)), "lon": draw(st.floats(109.0, 111.0))}
             for i in range(n_sites)]
    for site in sites:  # receivers' industries decide which rules serve them
        industry = draw(st.sampled_from([None, "3011", "4430", ["3011", "2511"]]))
        if industry is not None:
            site["industry"] = industry
    if draw(st.booleans()):
        sites[0]["permits"] = ["HW08"]
    qty = st.floats(1.0, 1000.0).map(lambda x: round(x, 3))
    supplies = [{"id": f"s{i}", "site": draw(st.sampled_from(sites))["id"],
                 "material": draw(st.sampled_from(MATERIALS)), "quantity": draw(qty),
                 "attributes": draw(st.sampled_from([{}, {"loi": 4.0}, {"loi": 12.0}]))}
                for i in range(draw(st.integers(1, 7)))]
    for s in supplies:
        if draw(st.booleans()):
            s["disposal_cost"] = draw(st.floats(0, 50))
    demands = [{"id": f"d{j}", "site": draw(st.sampled_from(sites))["id"],
                "material": draw(st.sampled_from(MATERIALS)), "quantity": draw(qty)}
               for j in range(draw(st.integers(1, 7)))]
    for d in demands:
        if draw(st.integers(0, 3)) == 0:
            d["max_distance_km"] = draw(st.floats(10, 300))
        if draw(st.integers(0, 2)) == 0:
            d["use"] = draw(st.sampled_from(["u1", "u2"]))
    ratios = [0.5, 0.8, 1.0, 1.25] if generalised else [1.0]
    rules = []
    for m in MATERIALS:
        for v in MATERIALS:
            if m != v and draw(st.integers(0, 2)) == 0:
                rule: dict[str, Any] = {"material": m, "replaces": v, "ratio": draw(st.sampled_from(ratios)),
                                        "max_share": draw(st.sampled_from([1.0, 1.0, 0.5, 0.25])),
                                        "pretreatment_cost": draw(st.sampled_from([0.0, 5.0]))}
                if draw(st.booleans()):
                    rule["gates"] = [{"attribute": "loi", "op": "<=", "value": 8.0,
                                      "required": draw(st.booleans())}]
                if draw(st.booleans()):
                    rule["receivers"] = draw(st.sampled_from([["30"], ["44"], ["3011", "25"]]))
                if draw(st.booleans()):
                    rule["use"] = draw(st.sampled_from(["u1", "u2"]))
                rules.append(rule)
    distances = []
    if n_sites > 1 and draw(st.booleans()):
        distances.append({"from": "S0", "to": "S1", "km": draw(st.floats(0, 200))})
    transport: dict[str, Any] = {
        "road": {"cost_per_tkm": draw(st.floats(0.1, 1.0)), "handling_per_t": 10.0},
        "rail": {"cost_per_tkm": 0.1, "handling_per_t": 30.0, "max_distance_km": 250.0}}
    if pipelines:  # a pipeline with capex, losses and its own route factor
        transport["pipe"] = {"cost_per_tkm": 0.01, "handling_per_t": 1.0, "max_distance_km": 150.0,
                             "annualised_capex_per_km": draw(st.sampled_from([50.0, 500.0, 5000.0])),
                             "loss_per_km": draw(st.sampled_from([0.0, 0.002])), "route_factor": 1.1}
    params: dict[str, Any] = {
        "use_knowledge_base": False, "circuity": draw(st.sampled_from([1.0, 1.3])), "transport": transport,
        "prices": {m: draw(st.floats(20.0, 200.0)) for m in MATERIALS},
        "substitutions": rules,
    }
    if draw(st.booleans()):
        params["materials"] = {"c": {"hazardous": True, "hw_code": "HW08"}}
    if draw(st.integers(0, 3)) == 0:
        params["max_distance_km"] = {"a": 80.0}
    return {"name": "prop", "sites": sites, "supplies": supplies, "demands": demands,
            "distances": distances, "parameters": params}


SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(scenarios())
def test_optimal_and_feasible(doc: dict[str, Any]) -> None:
    from matching.api import match

    scenario = load_scenario(doc)
    relaxed = match(scenario, pipes="relaxed")  # the exact LP: each pipe's capex spread over its link's capacity
    ev = evaluate(scenario, relaxed)
    assert ev.ok, ev.problems
    expected = oracle_lp(doc)
    assert relaxed.objective.net_benefit == pytest.approx(expected, rel=1e-6, abs=1e-6)
    # pipes paid at the flow they carry (the default): feasible, every pipe sized for its flow, never above the
    # relaxation, and equal to it when no pipe had to be resized
    paid = match(scenario)
    ev = evaluate(scenario, paid)
    assert ev.ok, ev.problems
    assert paid.objective.net_benefit <= expected + 1e-6 * max(1.0, abs(expected))
    def short_pipes(result: Any) -> list[Any]:
        return [link for link in result.links if link.breakdown is not None and link.breakdown.capacity is not None
                and link.quantity < link.breakdown.capacity * (1 - 1e-6)]

    assert short_pipes(paid) == []
    if not short_pipes(relaxed):
        assert paid.objective.net_benefit == pytest.approx(expected, rel=1e-6, abs=1e-6)
    # the certificate: its bound is a true upper bound of the independent LP's optimum, and meets the answer
    cert = relaxed.stats.extra.get("certificate", {"bound": 0.0, "gap": 0.0})
    assert cert["bound"] >= expected - 1e-6 * max(1.0, abs(expected))
    assert cert["gap"] <= CERTIFICATE_GAP


@SETTINGS
@given(scenarios(generalised=False, pipelines=False))
def test_pure_networks_go_to_the_network_simplex_and_match_or_tools(doc: dict[str, Any]) -> None:
    scenario = load_scenario(doc)
    cands = build_candidates(scenario, resolve_economics(scenario))
    lemon = solve_linear(cands, workers=1)
    oracle = solve_linear(cands, workers=1, engines=("ortools",))
    assert lemon.solver in ("lemon-network-simplex", "none")
    assert oracle.solver in ("ortools-min-cost-flow", "none")
    assert float(np.dot(lemon.flow, cands.unit_benefit)) == pytest.approx(
        float(np.dot(oracle.flow, cands.unit_benefit)), rel=1e-9, abs=1e-9)
    assert lemon.certificate is not None and lemon.certificate.gap <= CERTIFICATE_GAP


@SETTINGS
@given(scenarios())
def test_milp_is_exact_and_the_linear_mode_its_relaxation(doc: dict[str, Any]) -> None:
    # pipelines as fixed charges: the MILP equals an independent MILP over every viable pair, the linear
    # mode with pipes relaxed (capex spread over each link's capacity) is its LP relaxation, so it is never
    # below (the default, pipes paid at their flow, sizes pipes differently and is not comparable)
    from matching.api import match
    from matching.milp import solve_milp

    scenario = load_scenario(doc)
    milp = solve_milp(scenario, gap=1e-9)
    assert milp.status == "optimal"
    ev = evaluate(scenario, milp)
    assert ev.ok, ev.problems
    assert milp.objective.net_benefit == pytest.approx(oracle_milp(doc), rel=1e-6, abs=1e-6)
    assert match(scenario, pipes="relaxed").objective.net_benefit >= milp.objective.net_benefit - 1e-6 * max(
        1.0, abs(milp.objective.net_benefit))


@SETTINGS
@given(scenarios())
def test_decomposed_equals_monolithic_and_lp(doc: dict[str, Any]) -> None:
    scenario = load_scenario(doc)
    econ = resolve_economics(scenario)
    cands = build_candidates(scenario, econ)
    parts = solve_linear(cands, workers=1)
    whole = solve_linear(cands, decompose=False, workers=1)
    lp = solve_linear(cands, force_lp=True, workers=1)
    objs = [float(np.dot(s.flow, cands.unit_benefit)) for s in (parts, whole, lp)]
    assert objs[0] == pytest.approx(objs[1], rel=1e-6, abs=1e-6)
    assert objs[0] == pytest.approx(objs[2], rel=1e-6, abs=1e-6)
    for sol in (parts, whole, lp):  # every answer carries a certificate that checks out
        assert sol.certificate is not None and sol.certificate.ok


@settings(max_examples=10, deadline=None)
@given(scenarios(generalised=False, pipelines=False))
def test_parallel_workers_give_the_same_answer(doc: dict[str, Any]) -> None:
    scenario = load_scenario(doc)
    cands = build_candidates(scenario, resolve_economics(scenario))
    one = solve_linear(cands, workers=1)
    two = solve_linear(cands, workers=2, batch_arcs=1)  # one chunk per component: uses the pool
    assert float(np.dot(one.flow, cands.unit_benefit)) == pytest.approx(
        float(np.dot(two.flow, cands.unit_benefit)), rel=1e-9, abs=1e-9)



@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_interior_point_lp_equals_oracle(doc: dict[str, Any]) -> None:
    # large LP batches go to HiGHS' interior point method (with crossover): force it on small ones
    import matching.flow as flow_mod

    scenario = load_scenario(doc)
    cands = build_candidates(scenario, resolve_economics(scenario))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(flow_mod, "LP_IPM_MIN_ARCS", 0)
        sol = solve_linear(cands, force_lp=True, workers=1)
    got = float(np.dot(sol.flow, cands.unit_benefit))
    assert got == pytest.approx(oracle_lp(doc), rel=1e-6, abs=1e-6)


def _parse_both(doc: dict[str, Any]) -> tuple[Any, Any]:
    """Parse a document as is (plain records take the fast path) and with a neutral key added to every
    record (forcing the full checks): the outcome, scenario or errors, must be the same."""
    import copy

    from matching.errors import ScenarioError

    slow = copy.deepcopy(doc)
    for site in slow["sites"]:
        if isinstance(site, dict):
            site["park"] = None
    for key in ("supplies", "demands"):
        for rec in slow[key]:
            if isinstance(rec, dict):
                rec["note"] = "full path"
    out = []
    for d in (doc, slow):
        try:
            sc = load_scenario(d)
            out.append((sc.sites, sc.supplies, sc.demands))
        except ScenarioError as exc:
            out.append(exc.errors)
    return out[0], out[1]


@SETTINGS
@given(scenarios(), st.data())
def test_fast_parsing_path_is_the_full_one(doc: dict[str, Any], data: Any) -> None:
    bad_values = [0, -1.0, "x", True, None, float("nan"), 1e300 * 10, 2**60]
    for key, field_names in (("supplies", ["id", "site", "material", "quantity"]),
                             ("demands", ["id", "site", "material", "quantity"]),
                             ("sites", ["id", "lat", "lon"])):
        recs = doc[key]
        for _ in range(data.draw(st.integers(0, 2))):
            rec = recs[data.draw(st.integers(0, len(recs) - 1))]
            name = data.draw(st.sampled_from(field_names))
            rec[name] = data.draw(st.sampled_from([*bad_values, recs[0].get(name), "S0", 95.0]))
        if data.draw(st.booleans()):
            for rec in recs:
                rec.pop("attributes", None)
                rec.pop("disposal_cost", None)
                rec.pop("max_distance_km", None)
    fast, full = _parse_both(doc)
    assert fast == full


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_restricted_master_equals_oracle(doc: dict[str, Any]) -> None:
    # generalised batches by a restricted master seeded by the network simplex (lp_method="restricted")
    import matching.flow as flow_mod

    scenario = load_scenario(doc)
    cands = build_candidates(scenario, resolve_economics(scenario))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(flow_mod, "RESTRICTED_ADD", 1)  # one arc per round: many rounds
        sol = solve_linear(cands, workers=1, engines=("lemon",), batch_arcs=10**9, lp_method="restricted")
    got = float(np.dot(sol.flow, cands.unit_benefit))
    assert got == pytest.approx(oracle_lp(doc), rel=1e-6, abs=1e-6)
    assert sol.certificate is not None and sol.certificate.ok

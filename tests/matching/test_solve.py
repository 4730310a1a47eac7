"""Hand-checked small cases of the exact linear mode; each figure is worked out in the comment."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from matching.api import match
from matching.evaluate import evaluate
from matching.scenario import load_scenario
from tests.matching.conftest import oracle_lp


def run(doc: dict[str, Any], **kw: Any) -> tuple[Any, Any]:
    scenario = load_scenario(doc)
    result = match(scenario, **kw)
    ev = evaluate(scenario, result)
    assert ev.ok, ev.problems
    return scenario, result


def test_single_link_figures(base_doc: dict[str, Any]) -> None:
    # b = 100 (price) − 10 (handling) − 0.5 × 100 km = 40 yuan/t; demand 60 t binds
    _, result = run(base_doc)
    assert result.status == "optimal"
    (link,) = result.links
    assert link.quantity == pytest.approx(60.0, rel=1e-12)
    assert link.distance_km == pytest.approx(100.0, rel=1e-9)
    assert link.unit_benefit == pytest.approx(40.0, rel=1e-9)
    assert link.net_benefit == pytest.approx(2400.0, rel=1e-9)
    assert link.mode == "road"
    assert "demand filled" in link.explanation
    assert result.objective.net_benefit == math.fsum(x.net_benefit for x in result.links)
    assert [r.id for r in result.unmatched_supplies] == ["s1"]
    assert result.unmatched_supplies[0].remaining == pytest.approx(40.0)
    assert result.to_json()["objective"]["net_benefit"] == result.objective.net_benefit


def test_beyond_break_even_radius_gets_nothing(base_doc: dict[str, Any]) -> None:
    base_doc["parameters"]["prices"]["slag"] = 55.0  # 55 − 10 − 50 = −5 < 0
    _, result = run(base_doc)
    assert result.links == ()
    assert result.stats.candidates == 0
    base_doc["parameters"]["disposal_costs"] = {"slag": 10.0}  # avoided disposal makes it pay: +5
    _, result = run(base_doc)
    assert result.links[0].unit_benefit == pytest.approx(5.0)


def test_same_site_link_needs_no_transport(base_doc: dict[str, Any]) -> None:
    base_doc["parameters"]["prices"]["slag"] = 5.0  # below handling: only the same-site link pays
    base_doc["demands"].append({"id": "d2", "site": "A", "material": "slag", "quantity": 30.0})
    _, result = run(base_doc)
    (link,) = result.links
    assert (link.demand, link.mode, link.distance_km) == ("d2", "on_site", 0.0)
    assert link.unit_benefit == pytest.approx(5.0)
    assert "on the same site" in link.explanation


def test_hazardous_needs_permit(base_doc: dict[str, Any]) -> None:
    base_doc["parameters"]["materials"] = {"slag": {"hazardous": True, "hw_code": "HW08"}}
    _, result = run(base_doc)
    assert result.links == ()
    base_doc["sites"][1]["permits"] = ["HW17"]
    assert run(base_doc)[1].links == ()
    base_doc["sites"][1]["permits"] = ["HW08"]
    assert len(run(base_doc)[1].links) == 1


def _rule_doc(base_doc: dict[str, Any], **rule: Any) -> dict[str, Any]:
    doc = copy.deepcopy(base_doc)
    doc["supplies"][0]["material"] = "fly_ash"
    doc["demands"][0]["material"] = "cement"
    doc["parameters"]["prices"] = {"cement": 100.0}
    doc["parameters"]["substitutions"] = [{"material": "fly_ash", "replaces": "cement", "ratio": 1.0, **rule}]
    return doc


def test_quality_gate(base_doc: dict[str, Any]) -> None:
    doc = _rule_doc(base_doc, gates=[{"attribute": "loi", "op": "<=", "value": 8}])
    doc["supplies"][0]["attributes"] = {"loi": 10.0}
    assert run(doc)[1].links == ()
    doc["supplies"][0]["attributes"] = {"loi": 5.0}
    (link,) = run(doc)[1].links
    assert not link.quality_unverified
    doc["supplies"][0]["attributes"] = {}
    (link,) = run(doc)[1].links
    assert link.quality_unverified and "quality unverified" in link.explanation


def test_max_share(base_doc: dict[str, Any]) -> None:
    doc = _rule_doc(base_doc, max_share=0.3)
    (link,) = run(doc)[1].links
    assert link.quantity == pytest.approx(0.3 * 60.0, rel=1e-12)
    assert "max share 30%" in link.explanation


def test_ratio_not_one_uses_generalised_scaling(base_doc: dict[str, Any]) -> None:
    # 1 t fly ash replaces 0.5 t cement: all 100 t fit into the 60 t demand (50 t consumed);
    # b = 0.5 × 100 − 10 − 50 = −10 → does not pay; with price 300: 150 − 60 = 90 yuan/t
    doc = _rule_doc(base_doc, ratio=0.5)
    doc["parameters"]["prices"]["cement"] = 300.0
    _, result = run(doc)
    (link,) = result.links
    assert link.quantity == pytest.approx(100.0, rel=1e-12)
    assert link.unit_benefit == pytest.approx(90.0)
    assert result.unmatched_demands[0].remaining == pytest.approx(10.0)
    assert result.objective.net_benefit == pytest.approx(oracle_lp(doc), rel=1e-9)


def test_max_distance_limits(base_doc: dict[str, Any]) -> None:
    base_doc["demands"][0]["max_distance_km"] = 99.0
    assert run(base_doc)[1].links == ()
    base_doc["demands"][0]["max_distance_km"] = 101.0
    assert len(run(base_doc)[1].links) == 1
    base_doc["parameters"]["max_distance_km"] = {"slag": 50.0}
    assert run(base_doc)[1].links == ()


def test_explicit_distance_overrides_estimate(base_doc: dict[str, Any]) -> None:
    base_doc["distances"] = [{"from": "B", "to": "A", "km": 20.0}]  # either direction
    (link,) = run(base_doc)[1].links
    assert link.distance_km == 20.0
    assert link.unit_benefit == pytest.approx(100 - 10 - 0.5 * 20)
    base_doc["distances"] = [{"from": "A", "to": "B", "km": 500.0}]
    assert run(base_doc)[1].links == ()


def test_cheapest_mode_per_pair(base_doc: dict[str, Any]) -> None:
    base_doc["parameters"]["transport"]["rail"] = {"cost_per_tkm": 0.1, "handling_per_t": 40.0}
    (link,) = run(base_doc)[1].links  # road 10 + 50 = 60 > rail 40 + 10 = 50
    assert link.mode == "rail" and link.unit_benefit == pytest.approx(50.0)
    base_doc["parameters"]["transport"]["rail"]["max_distance_km"] = 80.0
    (link,) = run(base_doc)[1].links
    assert link.mode == "road"
    base_doc["parameters"]["transport"]["road"]["forms"] = ["liquid"]
    base_doc["parameters"]["materials"] = {"slag": {"form": "solid"}}
    assert run(base_doc)[1].links == ()  # road cannot carry a solid, rail not that far


def test_competition_nearer_supply_wins(base_doc: dict[str, Any]) -> None:
    base_doc["sites"].append({"id": "C", "lat": 30.0, "lon": 110.5})
    base_doc["supplies"].append({"id": "s2", "site": "B", "material": "slag", "quantity": 50.0})
    _, result = run(base_doc)
    by = {x.supply: x.quantity for x in result.links}
    assert by["s2"] == pytest.approx(50.0)  # same site, 100 yuan/t
    assert by["s1"] == pytest.approx(10.0)
    assert result.objective.net_benefit == pytest.approx(50 * 100 + 10 * 40)


def test_pipeline_loss(base_doc: dict[str, Any]) -> None:
    base_doc["parameters"]["transport"]["pipe"] = {"cost_per_tkm": 0.0, "handling_per_t": 0.0,
                                                   "loss_per_km": 0.001}
    # pipe: delivered 0.9 per unit, b = 90; road b = 40 → pipe; 60 / 0.9 units fill the demand
    _, result = run(base_doc)
    (link,) = result.links
    assert link.mode == "pipe"
    assert link.quantity == pytest.approx(60 / 0.9, rel=1e-9)
    # a lone lossy arc is still a pure network after node scaling (u = 1, v = 1/0.9): network simplex,
    # certified against the LP's dual bound
    assert result.stats.solver == "lemon-network-simplex"
    assert result.stats.extra["certificate"]["gap"] <= 1e-9


def test_co2_and_diverted_objectives(base_doc: dict[str, Any]) -> None:
    base_doc["parameters"]["co2_factors"] = {"slag": 0.5}
    _, result = run(base_doc, objective="co2")
    # per t: 0.5 − 0.08 kg × 100 km / 1000 = 0.492 t
    assert result.links[0].co2_avoided_t == pytest.approx(60 * 0.492)
    assert result.objective.landfill_diverted_t == pytest.approx(60.0)
    _, weighted = run(base_doc, objective={"benefit": 1.0, "co2": 100.0})
    assert weighted.to_json()["objective"]["kind"] == "weighted"


def test_evaluate_catches_tampering(base_doc: dict[str, Any]) -> None:
    scenario, result = run(base_doc)
    data = result.to_json()
    data["links"][0]["quantity"] = 70.0
    ev = evaluate(scenario, data)
    assert not ev.ok
    assert any("delivered" in p for p in ev.problems)
    data = result.to_json()
    data["objective"]["net_benefit"] += 1.0
    assert not evaluate(scenario, data).ok


def _cands(supply: list[int], demand: list[int], ratio: list[float], weight: list[float], n_s: int, n_d: int,
           s_qty: float = 10.0, d_qty: float = 10.0) -> Any:
    import numpy as np

    from matching.candidates import CandidateSet

    k = len(supply)
    i64 = np.asarray
    return CandidateSet(
        supply=i64(supply, dtype=np.int64), demand=i64(demand, dtype=np.int64), distance_km=np.zeros(k),
        mode=np.full(k, -2, dtype=np.int64), ratio=np.asarray(ratio, dtype=np.float64),
        unit_benefit=np.asarray(weight, dtype=np.float64), unit_co2=np.zeros(k), rule=np.zeros(k, dtype=np.int64),
        quality_unknown=np.zeros(k, dtype=bool), share_group=np.full(k, -1, dtype=np.int64),
        group_cap=np.zeros(0), group_demand=np.zeros(0, dtype=np.int64), group_rule=np.zeros(0, dtype=np.int64),
        rules=(), supply_qty=np.full(n_s, s_qty), demand_qty=np.full(n_d, d_qty))


def test_node_scales_with_many_nodes() -> None:
    # regression: s·n_d + d overflowed int32 beyond ~46k nodes a side, so consistent ratios (here a cycle
    # s1→d1 1, s1→d2 0.9, s2→d2 0.9, s2→d1 1) were taken for a generalised network
    import numpy as np

    from matching.solve import _node_scales, arc_components

    n = 60_000
    c = _cands([n - 2, n - 2, n - 1, n - 1], [n - 2, n - 1, n - 1, n - 2], [1.0, 0.9, 0.9, 1.0], [5.0, 6.0, 4.0, 3.0],
               n, n)
    n_comp, arc_comp = arc_components(c, n, n)
    u, v, pure = _node_scales(c, n, n, arc_comp, n_comp)
    assert pure.all()
    assert np.allclose(v[c.demand] / u[c.supply], c.ratio, rtol=1e-12)



def test_two_jobs_network_and_lp_match_one_process() -> None:
    # component 1 is a pure network, component 2 a generalised one (ratios 1, 0.9, 1, 1 around a cycle):
    # with two workers, a forked worker solves one job while this process solves the other
    import numpy as np

    from matching.solve import solve_linear

    c = _cands([0, 0, 1, 2, 2, 3, 3], [0, 1, 1, 2, 3, 3, 2], [1.0, 1.0, 1.0, 1.0, 0.9, 1.0, 1.0],
               [5.0, 4.0, 3.0, 6.0, 7.0, 2.0, 4.0], 4, 4, s_qty=10.0, d_qty=8.0)
    one = solve_linear(c, workers=1)
    two = solve_linear(c, workers=2)
    whole = solve_linear(c, workers=1, decompose=False, force_lp=True)
    assert (one.network_components, one.lp_components) == (1, 1)
    assert one.solver == "lemon-network-simplex+highs-lp"
    objs = [float(np.dot(s.flow, c.unit_benefit)) for s in (one, two, whole)]
    assert objs[0] == pytest.approx(objs[1], rel=1e-9)
    assert objs[0] == pytest.approx(objs[2], rel=1e-9)

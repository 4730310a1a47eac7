"""Mode choice respects site access: rail and water only between sites that both have a siding or wharf."""

import math

import pytest

from matching.economics import link_economics, resolve_economics
from matching.knowledge import default_knowledge_base
from matching.scenario import parse_scenario

pytestmark = pytest.mark.nodb


def _econ():  # type: ignore[no-untyped-def]
    scenario = parse_scenario({"name": "x", "sites": [{"id": "a", "lat": 39.0, "lon": 118.0}],
                               "supplies": [], "demands": []}, knowledge_base=default_knowledge_base())
    return resolve_economics(scenario)


def test_access_modes_are_flagged_in_the_knowledge_base() -> None:
    modes = default_knowledge_base().transport_modes
    assert {m.id for m in modes.values() if m.needs_access} == {"rail", "inland_water", "coastal_water"}


def test_bulk_goes_by_road_unless_both_ends_have_access() -> None:
    econ = _econ()
    by_road = link_economics(econ, material="fly_ash", replaces="cement", distance_km=300)
    assert by_road is not None and by_road.mode == "road"
    by_water = link_economics(econ, material="fly_ash", replaces="cement", distance_km=300,
                              access=frozenset({"inland_water"}))
    assert by_water is not None and by_water.mode == "inland_water"
    assert by_water.unit_benefit > by_road.unit_benefit
    by_rail = link_economics(econ, material="fly_ash", replaces="cement", distance_km=300,
                             access=frozenset({"rail"}))
    assert by_rail is not None and by_rail.mode == "rail"
    forced = link_economics(econ, material="fly_ash", replaces="cement", distance_km=300, mode="rail")
    assert forced is not None and forced.mode == "rail"  # re-checking a given link's mode


def _port_scenario(access_a: list[str], access_b: list[str]) -> dict:  # type: ignore[type-arg]
    return {"name": "ports",
            "sites": [{"id": "a", "lat": 38.93, "lon": 118.53, "access": access_a},
                      {"id": "b", "lat": 31.32, "lon": 120.72, "access": access_b}],  # Caofeidian → Suzhou
            "supplies": [{"id": "ash", "site": "a", "material": "fly_ash", "quantity": 100000}],
            "demands": [{"id": "cem", "site": "b", "material": "cement", "quantity": 100000}]}


def test_matcher_uses_water_only_between_sites_with_wharves() -> None:
    from matching.api import match
    from matching.evaluate import evaluate
    from matching.scenario import load_scenario

    both = load_scenario(_port_scenario(["coastal_water", "rail"], ["coastal_water"]))
    result = match(both)
    assert [link.mode for link in result.links] == ["coastal_water"]
    assert evaluate(both, result).ok
    one_end = load_scenario(_port_scenario(["coastal_water"], []))
    assert [link.mode for link in match(one_end).links] in ([], ["road"])  # ~1,000 km: road may not pay
    assert evaluate(one_end, match(one_end)).ok
    # A result that claims water without the wharf is caught by the independent check.
    forged = result.to_json()
    assert not evaluate(one_end, forged).ok


def test_unknown_access_mode_is_named_at_its_path() -> None:
    from matching import load_scenario
    from matching.errors import ScenarioError

    with pytest.raises(ScenarioError) as err:
        load_scenario(_port_scenario(["canal"], []))
    assert ("$.sites[0].access[0]", "unknown transport mode 'canal'") in [tuple(e) for e in err.value.errors]


# --- pipelines: capex spread over the link's capacity (linear) or charged as a fixed cost (MILP) ----------
def _pipe_doc(capex_per_km: float) -> dict:
    from tests.matching.conftest import scenario_doc

    lat2 = 30.0 + 10.0 / 6371.0088 * 180.0 / math.pi  # 10 km north
    return scenario_doc(
        sites=[{"id": "A", "lat": 30.0, "lon": 110.0}, {"id": "B", "lat": lat2, "lon": 110.0}],
        supplies=[{"id": "s", "site": "A", "material": "heat", "quantity": 1000.0}],
        demands=[{"id": "d", "site": "B", "material": "heat", "quantity": 500.0}],
        prices={"heat": 50.0},
        transport={"pipe": {"cost_per_tkm": 0.1, "handling_per_t": 1.0, "annualised_capex_per_km": capex_per_km,
                            "route_factor": 1.2}})


def test_pipeline_capex_is_spread_over_what_the_link_can_carry() -> None:
    from matching.api import match
    from matching.milp import solve_milp
    from matching.scenario import load_scenario

    # 10 km great circle × route factor 1.2 = 12 km; capex 1,000 yuan/km·yr → 12,000 a year over
    # U = min(1,000 supplied, 500 wanted) = 500 GJ: 24 yuan/GJ. b = 50 − 1 − 0.1 × 12 − 24 = 23.8
    scenario = load_scenario(_pipe_doc(1000.0))
    (link,) = match(scenario).links
    assert link.distance_km == pytest.approx(12.0, rel=1e-3)
    assert link.breakdown is not None and link.breakdown.pipeline == pytest.approx(24.0, rel=1e-3)
    assert link.unit_benefit == pytest.approx(23.8, rel=1e-3)
    assert link.net_benefit == pytest.approx(23.8 * 500, rel=1e-3)
    # the MILP charges the pipe once: 500 × (50 − 1 − 1.2) − 12,000 = 11,900, the same when the link is full
    (milp_link,) = solve_milp(scenario, gap=1e-9).links
    assert milp_link.fixed_cost == pytest.approx(12_000, rel=1e-3)
    assert milp_link.net_benefit == pytest.approx(11_900, rel=1e-3)


def test_a_pipe_its_link_cannot_pay_is_no_candidate() -> None:
    from matching.api import match
    from matching.scenario import load_scenario

    # capex 5,000 yuan/km·yr: 60,000 a year over 500 GJ = 120 yuan/GJ, more than the heat is worth
    result = match(load_scenario(_pipe_doc(5000.0)))
    assert result.links == () and result.stats.candidates == 0


def test_a_pipe_is_sized_for_its_link() -> None:
    from matching.api import match
    from matching.scenario import load_scenario

    doc = _pipe_doc(1000.0)
    doc["demands"][0]["quantity"] = 50.0  # a small receiver: a tenth of before
    kb_free = load_scenario(doc)
    econ = resolve_economics(kb_free)
    # without scaling the pipe costs 12,000 a year whatever it carries: 240 yuan/GJ for 50 GJ, more than heat
    assert match(kb_free).links == ()
    import dataclasses

    pipe = next(m for m in econ.modes if m.id == "pipe")
    scaled = dataclasses.replace(pipe, capex_reference_capacity=500.0, capex_scale_exponent=0.6,
                                 min_annualised_capex_per_km=100.0)
    # a pipe for 50 GJ a year: 1,000 × (50 / 500) ^ 0.6 = 251.2 yuan/km·a, above the 100 floor
    assert scaled.capex_per_km(50.0) == pytest.approx(1000 * 0.1 ** 0.6)
    assert scaled.capex_per_km(0.5) == pytest.approx(100.0)  # the smallest pipe worth laying
    assert scaled.capex_per_km(5000.0) == pytest.approx(1000 * 10 ** 0.6)
    from matching.economics import Economics, link_economics

    small = Economics({}, {"heat": 50.0}, {}, {}, (scaled,), {})
    le = link_economics(small, material="heat", replaces="heat", distance_km=12.0, supply_qty=1000.0,
                        demand_qty=50.0)
    assert le is not None and le.capacity == pytest.approx(50.0)
    assert le.fixed_cost == pytest.approx(1000 * 0.1 ** 0.6 * 12.0)
    assert le.pipeline == pytest.approx(le.fixed_cost / 50.0)
    assert le.unit_benefit == pytest.approx(50.0 - 1.0 - 0.1 * 12.0 - le.fixed_cost / 50.0)

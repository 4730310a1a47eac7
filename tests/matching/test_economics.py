"""Mode choice respects site access: rail and water only between sites that both have a siding or wharf."""

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

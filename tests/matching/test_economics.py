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

"""Unit conversion: within a dimension, mass and volume through density, nothing else."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matching.knowledge import default_knowledge_base
from matching.units import UNITS, UnitError, convert, dimension, is_compatible, to_canonical

pytestmark = pytest.mark.nodb


def test_dimensions() -> None:
    assert dimension("t") == dimension("kg") == "mass"
    assert dimension("m3") == dimension("L") == "volume"
    assert {dimension(u) for u in ("GJ", "MJ", "MWh", "kWh")} == {"energy"}
    with pytest.raises(UnitError, match="unknown unit 'tons'"):
        dimension("tons")


@pytest.mark.parametrize(("quantity", "unit", "to_unit", "expected"), [
    (1500, "kg", "t", 1.5),
    (2, "t", "kg", 2000),
    (250, "L", "m3", 0.25),
    (1, "MWh", "GJ", 3.6),
    (1000, "kWh", "GJ", 3.6),
    (3.6, "GJ", "MWh", 1.0),
    (500, "MJ", "GJ", 0.5),
    (7, "t", "t", 7),
])
def test_convert_within_a_dimension(quantity: float, unit: str, to_unit: str, expected: float) -> None:
    assert convert(quantity, unit, to_unit) == pytest.approx(expected)


def test_mass_and_volume_only_through_density() -> None:
    assert convert(10, "m3", "t", density_t_per_m3=0.8) == pytest.approx(8)
    assert convert(8, "t", "m3", density_t_per_m3=0.8) == pytest.approx(10)
    assert convert(400, "kg", "L", density_t_per_m3=0.8) == pytest.approx(500)
    with pytest.raises(UnitError, match="needs a positive density"):
        convert(1, "m3", "t")
    with pytest.raises(UnitError, match="needs a positive density"):
        convert(1, "m3", "t", density_t_per_m3=0)
    with pytest.raises(UnitError, match="cannot convert mass"):
        convert(1, "t", "GJ", density_t_per_m3=1.0)


def test_round_trip_through_every_unit_of_a_dimension() -> None:
    for unit, (dim, _) in UNITS.items():
        for other, (other_dim, _) in UNITS.items():
            if dim == other_dim:
                assert convert(convert(3.7, unit, other), other, unit) == pytest.approx(3.7)


def test_to_canonical_and_compatibility() -> None:
    kb = default_knowledge_base()
    fly_ash, hot_water, water = kb.materials["fly_ash"], kb.materials["hot_water"], kb.materials["fresh_water"]
    assert to_canonical(2500, "kg", fly_ash) == pytest.approx(2.5)
    assert to_canonical(10, "m3", fly_ash) == pytest.approx(10 * (fly_ash.density_t_per_m3 or 0))
    assert to_canonical(1, "MWh", hot_water) == pytest.approx(3.6)
    assert to_canonical(2, "t", water) == pytest.approx(2)
    assert is_compatible("kWh", hot_water)
    assert not is_compatible("t", hot_water)
    assert not is_compatible("m3", kb.materials["co2"])  # a gas without density: tonnes only
    assert not is_compatible("furlong", fly_ash)
    with pytest.raises(UnitError):
        to_canonical(1, "t", hot_water)


@given(quantity=st.floats(min_value=0, max_value=1e9, allow_nan=False),
       unit=st.sampled_from(["t", "kg", "m3", "L"]), to_unit=st.sampled_from(["t", "kg", "m3", "L"]),
       density=st.floats(min_value=0.01, max_value=20))
def test_mass_volume_conversion_round_trips(quantity: float, unit: str, to_unit: str, density: float) -> None:
    there = convert(quantity, unit, to_unit, density_t_per_m3=density)
    assert there >= 0
    assert convert(there, to_unit, unit, density_t_per_m3=density) == pytest.approx(quantity, rel=1e-9, abs=1e-9)

"""Units of quantity and conversion between them.

Every material in the knowledge base has one canonical unit (``t``, ``m3`` or ``GJ``). Listings may be
entered in any unit of the same dimension (``kg`` of fly ash, ``MWh`` of hot water); this module converts
them. Mass and volume convert into each other only through a density.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matching.knowledge import Material

__all__ = ["BASE_UNITS", "UNITS", "UnitError", "convert", "dimension", "is_compatible", "to_canonical"]


class UnitError(ValueError):
    """A unit is unknown, or two units cannot be converted into each other."""


#: unit -> (dimension, factor to the dimension's base unit)
UNITS: Mapping[str, tuple[str, float]] = MappingProxyType({
    "t": ("mass", 1.0),
    "kg": ("mass", 0.001),
    "m3": ("volume", 1.0),
    "L": ("volume", 0.001),
    "GJ": ("energy", 1.0),
    "MJ": ("energy", 0.001),
    "MWh": ("energy", 3.6),
    "kWh": ("energy", 0.0036),
})

#: dimension -> its base unit (the canonical units of the knowledge base)
BASE_UNITS: Mapping[str, str] = MappingProxyType({"mass": "t", "volume": "m3", "energy": "GJ"})


def dimension(unit: str) -> str:
    """Return the dimension (``mass``, ``volume`` or ``energy``) of a unit.

    Parameters
    ----------
    unit : str
        A unit symbol, case-sensitive (``"MWh"``, not ``"mwh"``).

    Returns
    -------
    str
        The dimension name.

    Raises
    ------
    UnitError
        If the unit is not known.

    Examples
    --------
    >>> dimension("kWh")
    'energy'
    """
    try:
        return UNITS[unit][0]
    except KeyError:
        known = ", ".join(UNITS)
        raise UnitError(f"unknown unit '{unit}' (known: {known})") from None


def convert(quantity: float, unit: str, to_unit: str, *, density_t_per_m3: float | None = None) -> float:
    """Convert a quantity from one unit to another.

    Parameters
    ----------
    quantity : float
        The amount, in ``unit``.
    unit, to_unit : str
        Source and target units.
    density_t_per_m3 : float, optional
        Needed only to convert between mass and volume.

    Returns
    -------
    float
        The amount in ``to_unit``.

    Raises
    ------
    UnitError
        If a unit is unknown, the dimensions differ (other than mass and volume), or mass and volume are
        mixed without a positive density.

    Examples
    --------
    >>> convert(2.5, "MWh", "GJ")
    9.0
    >>> convert(10, "m3", "t", density_t_per_m3=0.8)
    8.0
    """
    dim_from, dim_to = dimension(unit), dimension(to_unit)
    base = quantity * UNITS[unit][1]
    if dim_from != dim_to:
        if {dim_from, dim_to} != {"mass", "volume"}:
            raise UnitError(f"cannot convert {dim_from} ('{unit}') to {dim_to} ('{to_unit}')")
        if density_t_per_m3 is None or density_t_per_m3 <= 0:
            raise UnitError(f"converting '{unit}' to '{to_unit}' needs a positive density")
        base = base * density_t_per_m3 if dim_from == "volume" else base / density_t_per_m3
    return base / UNITS[to_unit][1]


def to_canonical(quantity: float, unit: str, material: Material) -> float:
    """Convert a quantity of ``material`` into the material's canonical unit.

    Raises
    ------
    UnitError
        If ``unit`` does not fit the material (see :func:`is_compatible`).

    Examples
    --------
    >>> from matching.knowledge import default_knowledge_base
    >>> to_canonical(500, "kg", default_knowledge_base().materials["fly_ash"])
    0.5
    """
    return convert(quantity, unit, material.unit, density_t_per_m3=material.density_t_per_m3)


def is_compatible(unit: str, material: Material) -> bool:
    """Tell whether a quantity of ``material`` can be given in ``unit``.

    The unit fits when it has the dimension of the material's canonical unit, or when it is a mass for a
    volume-measured material (or the other way round) and the material has a density.
    Unknown units are not compatible.

    Examples
    --------
    >>> from matching.knowledge import default_knowledge_base
    >>> kb = default_knowledge_base()
    >>> is_compatible("MWh", kb.materials["hot_water"]), is_compatible("t", kb.materials["hot_water"])
    (True, False)
    """
    try:
        convert(1.0, unit, material.unit, density_t_per_m3=material.density_t_per_m3)
    except UnitError:
        return False
    return True

"""Economics of one exchange link: unit benefit, transport mode, CO2. The one source of truth for these
figures: the matcher, :mod:`matching.evaluate` and the backend's deal ledger all call these functions.

For a supply of material ``m`` serving a demand for ``v`` over ``D`` km by mode ``k``, per unit of supply moved::

    delivered = ratio · (1 − loss_k · D)                      (loss only on pipelines; 0 on the same site)
    b         = delivered · price(v) + disposal(m) − pretreatment − handling_k − rate_k · D
    CO2       = delivered · ef(v) − co2_k · D / 1000           (t CO2 avoided per unit of supply)

``rate_k`` and ``handling_k`` are per unit of the supply material (converted from the mode's unit through the
material's density where needed). On the same site no transport is needed: mode ``on_site``, no cost.
The mode of a pair is the allowed mode (carries the form, within its maximum distance, and for a mode that needs
access — rail, water — listed in the `access` of both sites) with the largest ``b``.

:func:`resolve_economics` merges the knowledge base with a scenario's overrides into :class:`Economics`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from matching.knowledge import KnowledgeBase
    from matching.scenario import Scenario

__all__ = [
    "NOT_DIVERTED_FORMS",
    "ON_SITE",
    "Economics",
    "Gate",
    "LinkEconomics",
    "MaterialInfo",
    "Mode",
    "Rule",
    "best_mode",
    "counts_as_diverted",
    "link_economics",
    "permit_covers",
    "resolve_economics",
    "unit_benefit",
]

ON_SITE = "on_site"
#: forms whose exchange keeps nothing out of landfill (energy carriers): only solids and liquids in t count
NOT_DIVERTED_FORMS = frozenset({"heat", "gas", "electricity"})


def counts_as_diverted(unit: str | None, form: str | None) -> bool:
    """Moving a material in this unit and form keeps tonnes out of landfill (a solid or liquid in t)."""
    return unit == "t" and form not in NOT_DIVERTED_FORMS
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class MaterialInfo:
    id: str
    unit: str | None = None
    form: str | None = None
    hazardous: bool = False
    hw_code: str | None = None
    density_t_per_m3: float | None = None
    name: str | None = None


@dataclass(frozen=True)
class Mode:
    """A transport mode with costs per unit of what it carries (its ``unit``; ``None`` = any)."""

    id: str
    cost_per_unit_km: float
    handling_per_unit: float = 0.0
    co2_kg_per_unit_km: float = 0.0
    forms: frozenset[str] | None = None
    max_distance_km: float | None = None
    loss_per_km: float = 0.0
    annualised_capex_per_km: float = 0.0
    unit: str | None = None
    materials: frozenset[str] = frozenset()
    needs_access: bool = False  # rail and water: only between sites that both declare this mode in ``access``

    @property
    def is_pipeline(self) -> bool:
        return self.annualised_capex_per_km > 0 or self.id.startswith("pipeline")

    def unit_factor(self, material: MaterialInfo) -> float | None:
        """Mode units per unit of ``material`` (``None`` if the mode cannot carry it)."""
        if self.materials and material.id not in self.materials:
            return None
        if self.forms is not None and material.form is not None and material.form not in self.forms:
            return None
        if self.unit is None or material.unit is None or self.unit == material.unit:
            return 1.0
        from matching.units import UnitError, convert

        try:
            return convert(1.0, material.unit, self.unit, density_t_per_m3=material.density_t_per_m3)
        except UnitError:
            return None


@dataclass(frozen=True)
class Gate:
    attribute: str
    op: str
    value: float

    def check(self, attributes: Mapping[str, float]) -> str:
        """``"pass"``, ``"fail"`` or ``"unknown"`` (attribute not reported)."""
        raw = attributes.get(self.attribute)
        if raw is None:
            return "unknown"
        x = float(raw)
        ok = {"<=": x <= self.value, ">=": x >= self.value, "<": x < self.value,
              ">": x > self.value, "==": x == self.value}[self.op]
        return "pass" if ok else "fail"

    def __str__(self) -> str:
        return f"{self.attribute}{self.op}{self.value:g}"


@dataclass(frozen=True)
class Rule:
    """Supply ``material`` may serve a demand for ``replaces``: ``ratio`` units of it per unit supplied,
    covering at most ``max_share`` of the demand."""

    material: str
    replaces: str
    ratio: float = 1.0
    max_share: float = 1.0
    pretreatment_cost: float = 0.0
    gates: tuple[Gate, ...] = ()
    id: str = ""
    use: str | None = None
    co2_factor: float | None = None

    def check(self, attributes: Mapping[str, float]) -> str:
        results = {g.check(attributes) for g in self.gates}
        if "fail" in results:
            return "fail"
        return "unknown" if "unknown" in results else "pass"

    @property
    def is_identity(self) -> bool:
        return self.material == self.replaces


@dataclass(frozen=True)
class LinkEconomics:
    """Every per-unit figure of one (supply, demand) pair; ``unit_benefit`` is per unit of supply moved."""

    mode: str
    distance_km: float
    ratio: float
    delivered_ratio: float
    price: float
    disposal_cost: float
    pretreatment_cost: float
    handling: float
    rate: float
    unit_benefit: float
    unit_co2_avoided_t: float
    max_share: float

    @property
    def transport_cost_per_unit(self) -> float:
        return self.handling + self.rate * self.distance_km


@dataclass(frozen=True, eq=False)
class Economics:
    """Knowledge base and scenario overrides merged: what every link's figures are computed from."""

    materials: Mapping[str, MaterialInfo]
    prices: Mapping[str, float]
    disposal_costs: Mapping[str, float]
    co2_factors: Mapping[str, float]
    modes: tuple[Mode, ...]
    rules: Mapping[tuple[str, str], tuple[Rule, ...]]
    circuity_default: float = 1.3
    circuity_by_province: Mapping[str, float] = field(default_factory=dict)
    circuity_fixed: float | None = None
    max_distance_km: Mapping[str, float] = field(default_factory=dict)
    kb: KnowledgeBase | None = None

    def material(self, material_id: str) -> MaterialInfo:
        return self.materials.get(material_id) or MaterialInfo(material_id)

    def price(self, material_id: str) -> float:
        return float(self.prices.get(material_id, 0.0))

    def disposal_cost(self, material_id: str) -> float:
        return float(self.disposal_costs.get(material_id, 0.0))

    def co2_factor(self, material_id: str) -> float:
        return float(self.co2_factors.get(material_id, 0.0))

    def circuity(self, province: str | None) -> float:
        if self.circuity_fixed is not None:
            return self.circuity_fixed
        if province and self.kb is not None:
            return float(self.kb.circuity_for(province))
        return self.circuity_default

    def rules_for(self, material: str, replaces: str) -> tuple[Rule, ...]:
        """Rules letting ``material`` serve a demand for ``replaces`` (identity when they are equal)."""
        if material == replaces:
            return (Rule(material, replaces, id="same material"),)
        return self.rules.get((material, replaces), ())

    def sources_of(self, replaces: str) -> list[str]:
        """Materials that can serve a demand for ``replaces``: itself and the rules' by-products."""
        out = [replaces]
        out.extend(sorted({m for (m, v) in self.rules if v == replaces and m != replaces}))
        return out

    def modes_for(self, material: str) -> list[tuple[Mode, float]]:
        """Modes able to carry ``material``, each with its unit factor (mode units per material unit)."""
        info = self.material(material)
        out = []
        for mode in self.modes:
            factor = mode.unit_factor(info)
            if factor is not None:
                out.append((mode, factor))
        return out


def permit_covers(permits: Sequence[str], hw_code: str | None) -> bool:
    """True when one of a site's hazardous-waste permits covers ``hw_code``.

    A permit covers a code when it is the same code, or a category (``HW08``) that the code belongs to
    (``HW08`` itself or an eight-digit code ``251-001-08`` ending in its number).

    Examples
    --------
    >>> permit_covers(["HW08"], "900-249-08"), permit_covers(["HW08"], "HW17")
    (True, False)
    """
    if hw_code is None:
        return True
    code = hw_code.strip().upper()
    category = code if code.startswith("HW") else f"HW{code[-2:]}"
    for permit in permits:
        p = permit.strip().upper()
        if p in (code, category):
            return True
    return False


def unit_benefit(*, ratio: float, price: float, disposal_cost: float, pretreatment_cost: float,
                 handling: float, rate: float, distance_km: float, loss_per_km: float = 0.0) -> float:
    """Net benefit per unit of supply moved (yuan per unit).

    ``b = ratio·(1 − loss·D)·price + disposal − pretreatment − handling − rate·D``

    Examples
    --------
    >>> unit_benefit(ratio=1, price=200, disposal_cost=25, pretreatment_cost=0, handling=15,
    ...              rate=0.4, distance_km=100)
    170.0
    """
    delivered = ratio * (1.0 - loss_per_km * distance_km)
    return delivered * price + disposal_cost - pretreatment_cost - handling - rate * distance_km


def best_mode(modes: Sequence[tuple[Mode, float]], distance_km: FloatArray, *, ratio: FloatArray | float,
              price: float, same_site: npt.NDArray[np.bool_] | None = None,
              access: Callable[[str], npt.NDArray[np.bool_] | bool] | None = None,
              ) -> tuple[npt.NDArray[np.int64], FloatArray, FloatArray, FloatArray, FloatArray]:
    """Vectorised mode choice: for each distance, the allowed mode with the largest benefit.

    ``access(mode_id)`` says, per pair, whether both ends can use a mode that ``needs_access`` (rail, water);
    without it such modes are not offered.

    Returns ``(mode index or -1 when none / -2 on the same site, transport cost per unit, delivered ratio,
    co2 kg per unit, rate per unit km)``; the cost is ``inf`` where no mode is allowed. The benefit is then
    ``delivered·price + disposal − pretreatment − cost``.
    """
    d = np.asarray(distance_km, dtype=np.float64)
    r = np.broadcast_to(np.asarray(ratio, dtype=np.float64), d.shape)
    best_net = np.full(d.shape, -np.inf)  # delivered·price − transport cost, the mode-dependent part
    best_idx = np.full(d.shape, -1, dtype=np.int64)
    best_cost = np.full(d.shape, np.inf)
    best_deliv = r.copy()
    best_co2 = np.zeros(d.shape)
    best_rate = np.zeros(d.shape)
    for k, (mode, factor) in enumerate(modes):
        rate = mode.cost_per_unit_km * factor
        cost = mode.handling_per_unit * factor + rate * d
        deliv = r * (1.0 - mode.loss_per_km * d) if mode.loss_per_km else r
        net = deliv * price - cost
        ok = net > best_net
        if mode.needs_access:
            ok &= access(mode.id) if access is not None else False
        if mode.max_distance_km is not None:
            ok &= d <= mode.max_distance_km
        if mode.loss_per_km:
            ok &= mode.loss_per_km * d < 1.0
        best_net = np.where(ok, net, best_net)
        best_idx = np.where(ok, k, best_idx)
        best_cost = np.where(ok, cost, best_cost)
        best_deliv = np.where(ok, deliv, best_deliv)
        best_co2 = np.where(ok, mode.co2_kg_per_unit_km * factor * d, best_co2)
        best_rate = np.where(ok, rate, best_rate)
    if same_site is not None and same_site.any():
        best_idx = np.where(same_site, -2, best_idx)
        best_cost = np.where(same_site, 0.0, best_cost)
        best_deliv = np.where(same_site, r, best_deliv)
        best_co2 = np.where(same_site, 0.0, best_co2)
        best_rate = np.where(same_site, 0.0, best_rate)
    return best_idx, best_cost, best_deliv, best_co2, best_rate


def link_economics(econ: Economics, *, material: str, replaces: str, distance_km: float,
                   same_site: bool = False, disposal_cost: float | None = None, rule: Rule | None = None,
                   mode: str | None = None, access: frozenset[str] = frozenset()) -> LinkEconomics | None:
    """Figures of one link: its mode, unit benefit and CO2 avoided per unit of supply.

    Parameters
    ----------
    econ : Economics
        From :func:`resolve_economics`.
    material, replaces : str
        The supply's material and the demand's material.
    distance_km : float
        Transport distance (already with circuity or from the scenario's explicit distances).
    same_site : bool
        Supply and demand on one site: no transport.
    disposal_cost : float, optional
        The supply's own avoided disposal cost (default: the material's).
    rule : Rule, optional
        The substitution rule; defaults to the first rule for the pair (identity when equal).
    mode : str, optional
        Force a mode (used to re-check a given result); default the best allowed one.
    access : frozenset of str
        Modes that need access (rail, water) which both ends have; a forced ``mode`` counts as accessible.

    Returns
    -------
    LinkEconomics or None
        ``None`` when no rule or no transport mode allows the pair.

    Examples
    --------
    >>> from matching.economics import Economics, Mode
    >>> econ = Economics({}, {"x": 100.0}, {}, {}, (Mode("road", 0.5, 10.0),), {})
    >>> link_economics(econ, material="x", replaces="x", distance_km=40).unit_benefit
    70.0
    """
    if rule is None:
        rules = econ.rules_for(material, replaces)
        if not rules:
            return None
        rule = rules[0]
    disposal = econ.disposal_cost(material) if disposal_cost is None else disposal_cost
    price = econ.price(replaces)
    modes = econ.modes_for(material)
    if mode is not None and mode != ON_SITE:
        modes = [(m, f) for m, f in modes if m.id == mode]
    d = np.array([0.0 if same_site else distance_km])
    usable = access | {mode} if mode is not None else access
    idx, cost, deliv, co2_kg, rate = best_mode(modes, d, ratio=rule.ratio, price=price,
                                            same_site=np.array([same_site]),
                                            access=lambda mode_id: mode_id in usable)
    if idx[0] == -1:
        return None
    mode_id = ON_SITE if idx[0] == -2 else modes[int(idx[0])][0].id
    rate_km = float(rate[0])
    handling = float(cost[0]) - rate_km * float(d[0])
    delivered = float(deliv[0])
    b = delivered * price + disposal - rule.pretreatment_cost - float(cost[0])
    ef = rule.co2_factor if rule.co2_factor is not None else econ.co2_factor(replaces)
    co2 = delivered * ef - float(co2_kg[0]) / 1000.0
    return LinkEconomics(mode_id, float(d[0]), rule.ratio, delivered, price, disposal, rule.pretreatment_cost,
                         handling, rate_km, b, co2, rule.max_share)


# ---------------------------------------------------------------------------------------------------------
# Merging the knowledge base with a scenario
# ---------------------------------------------------------------------------------------------------------
def resolve_economics(scenario: Scenario) -> Economics:
    """Merge the scenario's knowledge base (if used) with its ``parameters`` overrides.

    Substitution rules stated in the scenario replace the knowledge base's rules for the same pair of
    materials. Rules the knowledge base restricts (e.g. steel slag in common cement) are left out.
    Prices, disposal costs and CO2 factors not given anywhere count as 0.
    """
    params = scenario.parameters
    kb = scenario.knowledge_base if params.use_knowledge_base else None
    materials: dict[str, MaterialInfo] = {}
    prices: dict[str, float] = {}
    disposal: dict[str, float] = {}
    co2: dict[str, float] = {}
    modes: dict[str, Mode] = {}
    rules: dict[tuple[str, str], list[Rule]] = {}
    circuity_default = 1.3
    if kb is not None:
        for m in kb.materials.values():
            materials[m.id] = MaterialInfo(m.id, m.unit, m.form, m.hazardous, m.hw_code, m.density_t_per_m3,
                                           m.name_en)
        prices.update(kb.prices)
        disposal.update(kb.disposal_costs)
        co2.update(kb.co2_factors)
        for t in kb.transport_modes.values():
            modes[t.id] = Mode(t.id, t.cost_per_unit_km, t.handling_per_unit, t.co2_kg_per_unit_km,
                               frozenset(t.forms), t.max_distance_km, t.loss_per_km or 0.0,
                               t.annualised_capex_per_km or 0.0, t.unit, frozenset(t.materials),
                               t.needs_access)
        for r in kb.substitutions:
            if r.material == r.replaces or kb.restriction_for(r.material, r.replaces, r.use) is not None:
                continue
            gates = tuple(Gate(g.attribute, g.op, g.value) for g in r.gates)
            rules.setdefault((r.material, r.replaces), []).append(
                Rule(r.material, r.replaces, r.ratio, r.max_share, r.pretreatment_cost, gates, r.id, r.use,
                     r.co2_factor))
        circuity_default = float(kb.circuity.get("default", circuity_default))
    for mid, mspec in params.materials.items():
        base = materials.get(mid, MaterialInfo(mid))
        materials[mid] = MaterialInfo(mid, mspec.unit or base.unit, mspec.form or base.form,
                                      mspec.hazardous or base.hazardous, mspec.hw_code or base.hw_code,
                                      base.density_t_per_m3, base.name)
    if kb is None:  # units stated by the streams themselves
        for stream in scenario.supplies:
            if stream.unit and stream.material not in materials:
                materials[stream.material] = MaterialInfo(stream.material, stream.unit)
        for want in scenario.demands:
            if want.unit and want.material not in materials:
                materials[want.material] = MaterialInfo(want.material, want.unit)
    prices.update(params.prices)
    disposal.update(params.disposal_costs)
    co2.update(params.co2_factors)
    for mode_id, spec in params.transport.items():
        base_mode = modes.get(mode_id, Mode(mode_id, 0.0))
        modes[mode_id] = Mode(
            mode_id,
            base_mode.cost_per_unit_km if spec.cost_per_unit_km is None else spec.cost_per_unit_km,
            base_mode.handling_per_unit if spec.handling_per_unit is None else spec.handling_per_unit,
            base_mode.co2_kg_per_unit_km if spec.co2_kg_per_unit_km is None else spec.co2_kg_per_unit_km,
            base_mode.forms if spec.forms is None else frozenset(spec.forms),
            base_mode.max_distance_km if spec.max_distance_km is None else spec.max_distance_km,
            base_mode.loss_per_km if spec.loss_per_km is None else spec.loss_per_km,
            base_mode.annualised_capex_per_km if spec.annualised_capex_per_km is None
            else spec.annualised_capex_per_km,
            base_mode.unit, base_mode.materials)
    stated: dict[tuple[str, str], list[Rule]] = {}
    for s in params.substitutions:
        gates = tuple(Gate(g.attribute, g.op, g.value) for g in s.gates)
        stated.setdefault((s.material, s.replaces), []).append(
            Rule(s.material, s.replaces, s.ratio, s.max_share, s.pretreatment_cost, gates,
                 f"{s.material}->{s.replaces}", None, s.co2_factor))
    rules.update(stated)
    if params.circuity is not None and not math.isnan(params.circuity):
        fixed: float | None = params.circuity
    else:
        fixed = None if kb is not None else circuity_default
    return Economics(materials, prices, disposal, co2, tuple(modes.values()),
                     {k: tuple(v) for k, v in rules.items()}, circuity_default, {}, fixed,
                     dict(params.max_distance_km), kb)

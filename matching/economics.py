"""Economics of exchange links: which rule applies, by which mode, at what unit benefit and CO2.

This module is the one place where these figures are computed. Candidates (:mod:`matching.candidates`), the
explanations, the MILP's hub legs, :mod:`matching.evaluate` and the backend's deal ledger all call
:func:`price_pairs` (vectorised) or its one-pair form :func:`link_economics`, and choose rules with
:func:`best_rules` / :func:`choose_rule`.

For a supply of material ``m`` serving a demand for ``v`` with rule ``r`` by mode ``k``, per unit of supply::

    D_k       = stated km, else great-circle km × (route_factor_k for pipelines, circuity of the origin otherwise)
    delivered = ratio_r · (1 − loss_k · D_k)                    (loss only on pipelines)
    U_k       = min(q_s, cap_d / delivered)                      (the most the link could carry a year)
    b         = delivered · price(v) + disposal(m) − pretreatment_r − handling_k − rate_k · D_k
                − capex_k(U_k) · D_k / U_k                       (annualised pipeline capex spread over U_k)
    CO2       = delivered · ef_r(v) − co2_k · D_k / 1000         (t CO2 avoided per unit of supply)

``cap_d`` is what the demand can take through the rule: ``min(1, max_share) · q_d`` (in units of ``v``).
``capex_k(U)`` is the pipe's annualised capex per km, sized for the link: the knowledge base's figure at its
reference capacity scaled by ``(U / reference) ^ exponent`` (the six-tenths rule), never below a minimum pipe.
Charging ``capex · D / U`` per unit is the LP relaxation of the MILP's fixed charge ``capex · D · y`` with
``x ≤ U · y``, so the linear mode stays a relaxation of the MILP and the MILP the exact answer; a pipeline
link that cannot pay its pipe even at ``U`` has ``b ≤ 0`` and is no candidate. On the same site no transport
is needed (mode ``on_site``). A pair's mode is the allowed mode with the largest ``b``: the mode carries the
form, the routed distance is within the mode's and the material's limits, and rail and water need access
(a siding or wharf) at both sites.

A rule applies to a pair when its quality gates (on the attributes after pretreatment) do not fail, it
serves the receiver's industry (``receivers``) and the demand's use (when the demand states one). Among the
rules that apply, the one with the largest distance-free benefit ``ratio · price(v) − pretreatment`` is
taken (the first such in knowledge-base order on a tie).

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
    "PairFigures",
    "Rule",
    "best_rules",
    "breakeven_gc_km",
    "choose_rule",
    "counts_as_diverted",
    "leg_economics",
    "link_economics",
    "permit_covers",
    "permit_status",
    "price_pairs",
    "resolve_economics",
    "rule_applies",
    "unit_benefit",
]

ON_SITE = "on_site"
#: forms whose exchange keeps nothing out of landfill (energy carriers): only solids and liquids in t count
NOT_DIVERTED_FORMS = frozenset({"heat", "gas", "electricity"})

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def counts_as_diverted(unit: str | None, form: str | None) -> bool:
    """Moving a material in this unit and form keeps tonnes out of landfill (a solid or liquid in t)."""
    return unit == "t" and form not in NOT_DIVERTED_FORMS


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
    """A transport mode with costs per unit of what it carries (its ``unit``; ``None`` = any).

    ``route_factor`` (pipelines): route length ÷ great-circle distance; road, rail and water use the
    circuity of the origin's province instead.
    """

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
    route_factor: float | None = None
    #: capex scaling with the link's capacity U: ``annualised_capex_per_km · (U / reference) ^ exponent``, at
    #: least ``min_annualised_capex_per_km`` (no scaling when ``capex_reference_capacity`` is None)
    capex_reference_capacity: float | None = None
    capex_scale_exponent: float = 1.0
    min_annualised_capex_per_km: float = 0.0

    @property
    def is_pipeline(self) -> bool:
        return self.annualised_capex_per_km > 0 or self.id.startswith("pipeline")

    def capex_per_km(self, capacity: npt.ArrayLike) -> FloatArray:
        """Annualised capex per km of a pipe sized for ``capacity`` units a year (yuan per km·year)."""
        u = np.asarray(capacity, dtype=np.float64)
        if not self.annualised_capex_per_km:
            return np.zeros(u.shape)
        if self.capex_reference_capacity is None:
            return np.full(u.shape, self.annualised_capex_per_km)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            scaled = self.annualised_capex_per_km * np.power(np.maximum(u, 0.0) / self.capex_reference_capacity,
                                                             self.capex_scale_exponent)
        return np.maximum(np.nan_to_num(scaled, nan=0.0, posinf=np.inf), self.min_annualised_capex_per_km)

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
    required: bool = False  # an unreported attribute fails a required gate

    def check(self, attributes: Mapping[str, float]) -> str:
        """``"pass"``, ``"fail"`` or ``"unknown"`` (attribute not reported; ``"fail"`` when required)."""
        raw = attributes.get(self.attribute)
        if raw is None:
            return "fail" if self.required else "unknown"
        x = float(raw)
        ok = {"<=": x <= self.value, ">=": x >= self.value, "<": x < self.value,
              ">": x > self.value, "==": x == self.value}[self.op]
        return "pass" if ok else "fail"

    def __str__(self) -> str:
        return f"{self.attribute}{self.op}{self.value:g}{'!' if self.required else ''}"


@dataclass(frozen=True)
class Rule:
    """Supply ``material`` may serve a demand for ``replaces``: ``ratio`` units of it per unit supplied,
    covering at most ``max_share`` of the demand, for receivers of ``receivers`` (GB/T 4754 prefixes; empty:
    anyone) using it for ``use``. ``effects`` are what the pretreatment leaves of gated attributes."""

    material: str
    replaces: str
    ratio: float = 1.0
    max_share: float = 1.0
    pretreatment_cost: float = 0.0
    gates: tuple[Gate, ...] = ()
    id: str = ""
    use: str | None = None
    co2_factor: float | None = None
    receivers: tuple[str, ...] = ()
    effects: tuple[tuple[str, float], ...] = ()
    grade: str | None = None  # heat rules: the supply's temperature grade
    confidence: str | None = None  # sourced / unverified / estimate (None: stated by the scenario)
    gate_fee: float | None = None
    pretreatment: str | None = None

    def after_pretreatment(self, attributes: Mapping[str, float]) -> Mapping[str, float]:
        if not self.effects:
            return attributes
        out = dict(attributes)
        for name, factor in self.effects:
            if name in out:
                out[name] = float(out[name]) * factor
        return out

    def check(self, attributes: Mapping[str, float]) -> str:
        """Gates on the attributes after pretreatment: ``"fail"``, else ``"unknown"``, else ``"pass"``."""
        seen = self.after_pretreatment(attributes)
        results = {g.check(seen) for g in self.gates}
        if "fail" in results:
            return "fail"
        return "unknown" if "unknown" in results else "pass"

    def serves(self, industries: Sequence[str]) -> bool:
        """One of the receiver's GB/T 4754 codes starts with one of ``receivers`` (or either is empty)."""
        if not self.receivers or not industries:
            return True
        return any(code.startswith(p) for code in industries for p in self.receivers)

    def value(self, price: float) -> float:
        """The distance-free part of the benefit by which rules are chosen: ``ratio · price − pretreatment``."""
        return self.ratio * price - self.pretreatment_cost

    @property
    def is_identity(self) -> bool:
        return self.material == self.replaces


def rule_applies(rule: Rule, *, industries: Sequence[str] = (), use: str | None = None) -> bool:
    """Whether ``rule`` may serve a receiver of these industries that wants the material for ``use``."""
    if use is not None and rule.use is not None and rule.use != use:
        return False
    return rule.serves(industries)


def best_rules(rules: Sequence[Rule], attributes: Sequence[Mapping[str, float]], price: float,
               ) -> tuple[IntArray, BoolArray]:
    """Per supply (given by its attributes), the index of the rule to use in ``rules`` (−1: none applies)
    and whether its quality is unverified (a gate's attribute not reported).

    The rules are those that serve the receiver (see :func:`rule_applies`); among those whose gates do not
    fail, the one with the largest :meth:`Rule.value` wins, the first on a tie.
    """
    n = len(attributes)
    best_val = np.full(n, -np.inf)
    best = np.full(n, -1, dtype=np.int64)
    unknown = np.zeros(n, dtype=bool)
    for k, rule in enumerate(rules):
        val = rule.value(price)
        if rule.gates:
            verdict = [rule.check(a) for a in attributes]
            ok = np.fromiter((v != "fail" for v in verdict), dtype=bool, count=n)
            unk = np.fromiter((v == "unknown" for v in verdict), dtype=bool, count=n)
        else:
            ok = np.ones(n, dtype=bool)
            unk = np.zeros(n, dtype=bool)
        better = ok & (val > best_val)
        best_val = np.where(better, val, best_val)
        best = np.where(better, k, best)
        unknown = np.where(better, unk, unknown)
    return best, unknown


def choose_rule(econ: Economics, material: str, replaces: str, attributes: Mapping[str, float], *,
                industries: Sequence[str] = (), use: str | None = None) -> tuple[Rule | None, bool]:
    """The rule a link from a supply of ``material`` (with these attributes) to a demand for ``replaces``
    uses, and whether its quality is unverified; ``(None, False)`` when no rule applies."""
    rules = [r for r in econ.rules_for(material, replaces) if rule_applies(r, industries=industries, use=use)]
    idx, unknown = best_rules(rules, [attributes], econ.price(replaces))
    return (rules[int(idx[0])], bool(unknown[0])) if idx[0] >= 0 else (None, False)


@dataclass(frozen=True, eq=False)
class PairFigures:
    """Per-unit figures of many (supply, demand) pairs of one material pair, as parallel arrays.

    ``mode`` indexes the modes given to :func:`price_pairs` (−1: no mode allowed, −2: same site).
    """

    mode: IntArray
    distance_km: FloatArray
    delivered: FloatArray
    handling: FloatArray
    rate: FloatArray
    pipeline: FloatArray  # annualised pipeline capex spread over the capacity, per unit
    fixed: FloatArray  # annualised pipeline capex of the link (yuan a year): the MILP's fixed charge
    capacity: FloatArray
    unit_benefit: FloatArray
    unit_co2: FloatArray

    @property
    def transport(self) -> FloatArray:
        return self.handling + self.rate * self.distance_km


def price_pairs(modes: Sequence[tuple[Mode, float]], *, gc_km: npt.ArrayLike, circuity: npt.ArrayLike,
                ratio: npt.ArrayLike, price: float, disposal: npt.ArrayLike, pretreatment: npt.ArrayLike,
                co2_factor: npt.ArrayLike, supply_qty: npt.ArrayLike, demand_cap: npt.ArrayLike,
                stated_km: npt.ArrayLike | None = None, same_site: npt.ArrayLike | None = None,
                max_km: npt.ArrayLike | None = None,
                access: Callable[[str], npt.NDArray[np.bool_] | bool] | None = None) -> PairFigures:
    """The formula of the module docstring for many pairs at once, choosing each pair's best mode.

    Parameters
    ----------
    modes : sequence of (Mode, unit factor)
        The modes able to carry the supply's material (:meth:`Economics.modes_for`).
    gc_km, circuity : array_like
        Great-circle km and the origin's road circuity per pair.
    ratio, price, disposal, pretreatment, co2_factor : array_like
        The rule's ratio, the price of the replaced material, the supply's avoided disposal cost, the
        rule's pretreatment cost and the CO2 avoided per unit of the replaced material.
    supply_qty, demand_cap : array_like
        The supply's quantity and what the demand can take through the rule (units of ``replaces``).
    stated_km : array_like, optional
        Stated distances (NaN where none): used for every mode instead of the routed estimate.
    same_site : array_like of bool, optional
        No transport at all.
    max_km : array_like, optional
        Largest allowed routed distance per pair (demand limit, material's economic radius).
    access : callable, optional
        ``access(mode_id)``: per pair, whether both ends can use a mode that needs access.

    Returns
    -------
    PairFigures
    """
    gc = np.asarray(gc_km, dtype=np.float64)
    shape = gc.shape
    circ = np.broadcast_to(np.asarray(circuity, dtype=np.float64), shape)
    r = np.broadcast_to(np.asarray(ratio, dtype=np.float64), shape)
    disp = np.broadcast_to(np.asarray(disposal, dtype=np.float64), shape)
    pre = np.broadcast_to(np.asarray(pretreatment, dtype=np.float64), shape)
    ef = np.broadcast_to(np.asarray(co2_factor, dtype=np.float64), shape)
    q_s = np.broadcast_to(np.asarray(supply_qty, dtype=np.float64), shape)
    cap_d = np.broadcast_to(np.asarray(demand_cap, dtype=np.float64), shape)
    stated = None if stated_km is None else np.broadcast_to(np.asarray(stated_km, dtype=np.float64), shape)
    limit = None if max_km is None else np.broadcast_to(np.asarray(max_km, dtype=np.float64), shape)

    best_net = np.full(shape, -np.inf)  # delivered·price − transport − pipeline: the mode-dependent part
    out = {name: np.zeros(shape) for name in ("distance", "delivered", "handling", "rate", "pipeline", "fixed",
                                               "capacity", "co2_kg")}
    out["delivered"] = r.copy()
    out["capacity"] = np.minimum(q_s, np.divide(cap_d, r, out=np.full(shape, np.inf), where=r > 0))
    best = np.full(shape, -1, dtype=np.int64)
    for k, (mode, factor) in enumerate(modes):
        route = mode.route_factor if mode.route_factor is not None else circ
        d = gc * route if stated is None else np.where(np.isnan(stated), gc * route, stated)
        rate = mode.cost_per_unit_km * factor
        handling = mode.handling_per_unit * factor
        deliv = r * (1.0 - mode.loss_per_km * d) if mode.loss_per_km else r
        cap = np.minimum(q_s, np.divide(cap_d, deliv, out=np.full(shape, np.inf), where=deliv > 0))
        if mode.annualised_capex_per_km:
            fixed = mode.capex_per_km(np.where(np.isfinite(cap), cap, 0.0)) * d
            pipe = np.divide(fixed, cap, out=np.zeros(shape), where=cap > 0)
        else:
            fixed = pipe = np.zeros(shape)
        net = deliv * price - handling - rate * d - pipe
        ok = net > best_net
        if mode.needs_access:
            ok &= access(mode.id) if access is not None else False
        if mode.max_distance_km is not None:
            ok &= d <= mode.max_distance_km
        if limit is not None:
            ok &= d <= limit
        if mode.loss_per_km:
            ok &= mode.loss_per_km * d < 1.0
        best_net = np.where(ok, net, best_net)
        best = np.where(ok, k, best)
        for name, value in (("distance", d), ("delivered", deliv), ("handling", handling), ("rate", rate),
                            ("pipeline", pipe), ("fixed", fixed), ("capacity", cap),
                            ("co2_kg", mode.co2_kg_per_unit_km * factor * d)):
            out[name] = np.where(ok, value, out[name])
    if same_site is not None:
        same = np.broadcast_to(np.asarray(same_site, dtype=bool), shape)
        if same.any():
            best = np.where(same, -2, best)
            for name in ("distance", "handling", "rate", "pipeline", "fixed", "co2_kg"):
                out[name] = np.where(same, 0.0, out[name])
            out["delivered"] = np.where(same, r, out["delivered"])
            out["capacity"] = np.where(same, np.minimum(q_s, np.divide(cap_d, r, out=np.full(shape, np.inf),
                                                                       where=r > 0)), out["capacity"])
    benefit = (out["delivered"] * price + disp - pre - out["handling"] - out["rate"] * out["distance"]
               - out["pipeline"])
    benefit = np.where(best == -1, -np.inf, benefit)
    co2 = out["delivered"] * ef - out["co2_kg"] / 1000.0
    return PairFigures(best, out["distance"], out["delivered"], out["handling"], out["rate"], out["pipeline"],
                       out["fixed"], out["capacity"], benefit, co2)


def breakeven_gc_km(modes: Sequence[tuple[Mode, float]], *, head: FloatArray, ratio: FloatArray, price: float,
                    supply_qty: FloatArray, circuity: FloatArray, limit_km: float | None = None) -> FloatArray:
    """Per supply, an upper bound on the great-circle distance at which any pair can still pay (−1: none).

    ``head`` is the distance-free part ``ratio·price + disposal − pretreatment``. By mode ``k`` the benefit
    falls at least as fast as ``rate_k + ratio·loss_k·price + capex_k(q_s) / q_s`` per routed km (the capacity
    ``U`` never exceeds ``q_s`` and a pipe's capex per unit of capacity falls as it grows: ``capex_k(U) / U`` is
    decreasing), so no pair beyond ``(head − handling_k) / slope_k`` routed km pays; dividing by
    the mode's route factor (or the origin's circuity) turns it into great-circle km. Exact, never too small.
    """
    radius = np.full(len(head), -1.0)
    for mode, factor in modes:
        h = mode.handling_per_unit * factor
        slope = (mode.cost_per_unit_km * factor + ratio * mode.loss_per_km * price
                 + np.divide(mode.capex_per_km(supply_qty), supply_qty, out=np.zeros(len(head)),
                             where=supply_qty > 0))
        room = head - h
        with np.errstate(divide="ignore", invalid="ignore"):
            r_k = np.where(slope > 0, room / np.where(slope > 0, slope, 1.0), np.inf)
        r_k = np.where(room > 0, r_k, -1.0)
        for cap in (mode.max_distance_km, limit_km, 1.0 / mode.loss_per_km if mode.loss_per_km else None):
            if cap is not None:
                r_k = np.minimum(r_k, cap)
        route = mode.route_factor if mode.route_factor is not None else circuity
        radius = np.maximum(radius, np.where(r_k >= 0, r_k / route, -1.0))
    return np.where(head > 0, np.maximum(radius, 0.0), radius)  # same-site links need no transport


@dataclass(frozen=True)
class LinkEconomics:
    """Every per-unit figure of one (supply, demand) pair; ``unit_benefit`` is per unit of supply moved,
    net of the pipeline's annualised capex spread over ``capacity`` (``pipeline``)."""

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
    pipeline: float = 0.0
    fixed_cost: float = 0.0
    capacity: float = math.inf

    @property
    def transport_cost_per_unit(self) -> float:
        return self.handling + self.rate * self.distance_km

    @property
    def unit_benefit_before_pipeline(self) -> float:
        """The unit benefit the MILP uses beside its fixed charge for the pipe."""
        return self.unit_benefit + self.pipeline


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

    def rule_co2_factor(self, rule: Rule) -> float:
        """t CO2 avoided per unit of the replaced material by this rule."""
        return rule.co2_factor if rule.co2_factor is not None else self.co2_factor(rule.replaces)

    def circuity(self, province: str | None) -> float:
        if self.circuity_fixed is not None:
            return self.circuity_fixed
        if province and self.kb is not None:
            return float(self.kb.circuity_for(province))
        return self.circuity_default

    def radius(self, material_id: str) -> float:
        """The material's economic radius (routed km; inf when none is known)."""
        return float(self.max_distance_km.get(material_id, math.inf))

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
                 handling: float, rate: float, distance_km: float, loss_per_km: float = 0.0,
                 pipeline: float = 0.0) -> float:
    """Net benefit per unit of supply moved (yuan per unit), the module's formula for one pair.

    ``b = ratio·(1 − loss·D)·price + disposal − pretreatment − handling − rate·D − pipeline``

    Examples
    --------
    >>> unit_benefit(ratio=1, price=200, disposal_cost=25, pretreatment_cost=0, handling=15,
    ...              rate=0.4, distance_km=100)
    170.0
    """
    delivered = ratio * (1.0 - loss_per_km * distance_km)
    return delivered * price + disposal_cost - pretreatment_cost - handling - rate * distance_km - pipeline


def link_economics(econ: Economics, *, material: str, replaces: str, distance_km: float | None = None,
                   gc_km: float | None = None, circuity: float | None = None, same_site: bool = False,
                   disposal_cost: float | None = None, rule: Rule | None = None, mode: str | None = None,
                   access: frozenset[str] = frozenset(), supply_qty: float = math.inf,
                   demand_qty: float = math.inf, max_km: float | None = None) -> LinkEconomics | None:
    """Figures of one link: its mode, unit benefit and CO2 avoided per unit of supply (:func:`price_pairs`).

    Parameters
    ----------
    econ : Economics
        From :func:`resolve_economics`.
    material, replaces : str
        The supply's material and the demand's material.
    distance_km : float, optional
        A stated distance, used for every mode.
    gc_km, circuity : float, optional
        Otherwise: great-circle km and the origin's road circuity (pipelines use their route factor).
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
    supply_qty, demand_qty : float
        The quantities that bound the link's capacity (pipeline capex is spread over it).
    max_km : float, optional
        Largest routed distance allowed (default: the material's economic radius).

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
    usable = access | {mode} if mode is not None else access
    if distance_km is None and gc_km is None and not same_site:
        raise ValueError("give distance_km (stated) or gc_km (with circuity)")
    limit = econ.radius(material) if max_km is None else max_km
    fig = price_pairs(
        modes, gc_km=np.array([gc_km or 0.0]), circuity=circuity if circuity is not None else econ.circuity(None),
        ratio=rule.ratio, price=price, disposal=disposal, pretreatment=rule.pretreatment_cost,
        co2_factor=econ.rule_co2_factor(rule), supply_qty=supply_qty,
        demand_cap=min(1.0, rule.max_share) * demand_qty,
        stated_km=None if distance_km is None else np.array([distance_km]), same_site=np.array([same_site]),
        max_km=limit, access=lambda mode_id: mode_id in usable)
    idx = int(fig.mode[0])
    if idx == -1:
        return None
    return LinkEconomics(ON_SITE if idx == -2 else modes[idx][0].id, float(fig.distance_km[0]), rule.ratio,
                         float(fig.delivered[0]), price, disposal, rule.pretreatment_cost, float(fig.handling[0]),
                         float(fig.rate[0]), float(fig.unit_benefit[0]), float(fig.unit_co2[0]), rule.max_share,
                         float(fig.pipeline[0]), float(fig.fixed[0]), float(fig.capacity[0]))


# ---------------------------------------------------------------------------------------------------------
# Merging the knowledge base with a scenario
# ---------------------------------------------------------------------------------------------------------
def resolve_economics(scenario: Scenario) -> Economics:
    """Merge the scenario's knowledge base (if used) with its ``parameters`` overrides.

    Substitution rules stated in the scenario replace the knowledge base's rules for the same pair of
    materials. Rules the knowledge base restricts (e.g. steel slag in common cement) are left out.
    Prices, disposal costs and CO2 factors not given anywhere count as 0. The knowledge base's economic radii
    are the default maximum distances per material; ``parameters.max_distance_km`` overrides them.
    """
    params = scenario.parameters
    kb = scenario.knowledge_base if params.use_knowledge_base else None
    materials: dict[str, MaterialInfo] = {}
    prices: dict[str, float] = {}
    disposal: dict[str, float] = {}
    co2: dict[str, float] = {}
    modes: dict[str, Mode] = {}
    rules: dict[tuple[str, str], list[Rule]] = {}
    radii: dict[str, float] = {}
    circuity_default = 1.3
    if kb is not None:
        for m in kb.materials.values():
            materials[m.id] = MaterialInfo(m.id, m.unit, m.form, m.hazardous, m.hw_code, m.density_t_per_m3,
                                           m.name_en)
        prices.update(kb.prices)
        disposal.update(kb.disposal_costs)
        co2.update(kb.co2_factors)
        radii.update(kb.economic_radii)
        for t in kb.transport_modes.values():
            modes[t.id] = Mode(t.id, t.cost_per_unit_km, t.handling_per_unit, t.co2_kg_per_unit_km,
                               frozenset(t.forms), t.max_distance_km, t.loss_per_km or 0.0,
                               t.annualised_capex_per_km or 0.0, t.unit, frozenset(t.materials),
                               t.needs_access, t.route_factor, t.capex_reference_capacity,
                               t.capex_scale_exponent or 1.0,
                               (t.capex_min_per_km or 0.0) * (t.capital_recovery_factor or 0.0))
        for r in kb.substitutions:
            if r.material == r.replaces or kb.restriction_for(r.material, r.replaces, r.use) is not None:
                continue
            gates = tuple(Gate(g.attribute, g.op, g.value, g.required) for g in r.gates)
            rules.setdefault((r.material, r.replaces), []).append(
                Rule(r.material, r.replaces, r.ratio, r.max_share, r.pretreatment_cost, gates, r.id, r.use,
                     r.co2_factor, r.receivers, r.pretreatment_effects, r.temperature_grade, r.confidence,
                     r.gate_fee, r.pretreatment))
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
            base_mode.unit, base_mode.materials, base_mode.needs_access,
            base_mode.route_factor if spec.route_factor is None else spec.route_factor,
            base_mode.capex_reference_capacity, base_mode.capex_scale_exponent,
            base_mode.min_annualised_capex_per_km)
    stated: dict[tuple[str, str], list[Rule]] = {}
    for s in params.substitutions:
        gates = tuple(Gate(g.attribute, g.op, g.value, g.required) for g in s.gates)
        stated.setdefault((s.material, s.replaces), []).append(
            Rule(s.material, s.replaces, s.ratio, s.max_share, s.pretreatment_cost, gates,
                 s.id or f"{s.material}->{s.replaces}", s.use, s.co2_factor, s.receivers))
    rules.update(stated)
    radii.update(params.max_distance_km)
    if params.circuity is not None and not math.isnan(params.circuity):
        fixed: float | None = params.circuity
    else:
        fixed = None if kb is not None else circuity_default
    return Economics(materials, prices, disposal, co2, tuple(modes.values()),
                     {k: tuple(v) for k, v in rules.items()}, circuity_default, {}, fixed, radii, kb)


def leg_economics(econ: Economics, *, material: str, gc_km: float, circuity: float, into_hub: bool,
                  disposal_cost: float = 0.0, hub_handling: float = 0.0, capacity: float = math.inf,
                  ) -> LinkEconomics | None:
    """Figures of a hub leg (MILP mode), per unit moved, by the formula of the module docstring.

    A leg into the hub is worth the supply's avoided disposal minus the hub's handling (the material keeps
    no value until it leaves: price 0); a leg out of the hub is worth the material's price. Both pay their
    transport and, by pipeline, their pipe spread over ``capacity``. ``None`` when no mode carries it.
    """
    rule = Rule(material, material, pretreatment_cost=hub_handling if into_hub else 0.0, id="hub leg")
    price = 0.0 if into_hub else econ.price(material)
    modes = econ.modes_for(material)
    fig = price_pairs(modes, gc_km=np.array([gc_km]), circuity=circuity, ratio=1.0, price=price,
                      disposal=disposal_cost if into_hub else 0.0, pretreatment=rule.pretreatment_cost,
                      co2_factor=0.0, supply_qty=capacity, demand_cap=capacity, max_km=econ.radius(material))
    idx = int(fig.mode[0])
    if idx < 0:
        return None
    return LinkEconomics(modes[idx][0].id, float(fig.distance_km[0]), 1.0, float(fig.delivered[0]), price,
                         disposal_cost if into_hub else 0.0, rule.pretreatment_cost, float(fig.handling[0]),
                         float(fig.rate[0]), float(fig.unit_benefit[0]), 0.0, 1.0, float(fig.pipeline[0]),
                         float(fig.fixed[0]), float(fig.capacity[0]))


def permit_status(permits: Sequence[str], hw_code: str | None, *, permits_known: bool = True,
                  industries: Sequence[str] = (), kb: KnowledgeBase | None = None) -> str:
    """Whether a receiver may take a hazardous material: ``"held"``, ``"to_verify"`` or ``"missing"``.

    ``"to_verify"`` only for a site whose permits nobody stated (screening) and whose industry usually holds
    a permit covering the code (the profiles' ``permits``): proposed, marked "permit to verify".
    """
    if permit_covers(permits, hw_code):
        return "held"
    if not permits_known and kb is not None:
        for code in industries:
            profile = kb.profile_for(code)
            if profile is not None and permit_covers(profile.permits, hw_code):
                return "to_verify"
    return "missing"

"""Candidate pairs (supply, demand) with positive unit benefit, found exactly and without a loop per pair.

Every figure comes from :mod:`matching.economics` (:func:`~matching.economics.price_pairs`, rule choice with
:func:`~matching.economics.best_rules`); this module only decides which pairs to price.

Demands of a material are grouped by the rules that may serve them: a rule serves a demand when it serves
the receiving site's industries (``receivers``) and the demand's use (when stated). Within a group, each
supply takes its best applicable rule (quality gates on the attributes after pretreatment; a gate whose
attribute is not reported lets the supply through, marked "quality unverified", unless the gate is required).

Pruning is exact. With the rule's distance-free head ``A_s = ratio·price(v) + disposal(s) − pretreatment``,
the benefit by mode ``k`` falls at least ``rate_k + ratio·loss_k·price(v) + capex_k / q_s`` per routed km,
so no pair beyond the break-even distance of :func:`~matching.economics.breakeven_gc_km` (turned into
great-circle km by the route factor or the origin's circuity) can pay. Every demand within it is fetched from
a k-d tree on unit vectors, then each pair's exact distance, mode and benefit are computed with numpy and only
pairs with ``b > 0`` within every limit (demand's maximum distance, material's economic radius, mode's
maximum) are kept. Pairs between sites with a stated distance are evaluated at that distance instead.

Hazardous materials go only to sites whose permits cover the HW code. In screening (sites whose permits
nobody stated), a site of an industry that usually holds the permit is kept, marked "permit to verify".
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from matching.economics import (
    Economics,
    MaterialInfo,
    Mode,
    Rule,
    best_rules,
    breakeven_gc_km,
    permit_status,
    price_pairs,
    rule_applies,
)
from matching.geo import SpatialIndex, haversine_km
from matching.scenario import Scenario, Site

if TYPE_CHECKING:
    from matching.knowledge import KnowledgeBase

__all__ = ["CandidateSet", "build_candidates"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class CandidateSet:
    """Parallel arrays, one entry per candidate pair; indices refer to ``scenario.supplies/demands``.

    ``mode`` indexes ``econ.modes`` (−2 = same site, no transport). ``ratio`` is the delivered ratio:
    units of the demand's material consumed per unit of supply moved. ``unit_benefit`` is net of
    ``pipeline``, the annualised pipeline capex (``fixed`` a year) spread over ``capacity``, the most the
    link could carry. ``margin`` is the share of the link's gross benefit left after distance costs (1 on the
    same site). ``share_group`` indexes ``group_cap`` / ``group_demand`` (−1 = no max-share limit).
    """

    supply: IntArray
    demand: IntArray
    distance_km: FloatArray
    mode: IntArray
    ratio: FloatArray
    unit_benefit: FloatArray
    unit_co2: FloatArray
    rule: IntArray
    quality_unknown: BoolArray
    share_group: IntArray
    group_cap: FloatArray
    group_demand: IntArray
    group_rule: IntArray
    rules: tuple[Rule, ...]
    supply_qty: FloatArray
    demand_qty: FloatArray
    seconds: float = 0.0
    info: dict[str, int] = field(default_factory=dict)
    pipeline: FloatArray = field(default_factory=lambda: np.zeros(0))
    fixed: FloatArray = field(default_factory=lambda: np.zeros(0))
    capacity: FloatArray = field(default_factory=lambda: np.zeros(0))
    margin: FloatArray = field(default_factory=lambda: np.zeros(0))
    permit_to_verify: BoolArray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __post_init__(self) -> None:
        # sets built by hand (tests, benchmarks) may leave the economic extras out: no pipe, full margin
        n = len(self.supply)
        for name, fill, dtype in (("pipeline", 0.0, np.float64), ("fixed", 0.0, np.float64),
                                  ("capacity", np.inf, np.float64), ("margin", 1.0, np.float64),
                                  ("permit_to_verify", False, np.bool_)):
            if len(getattr(self, name)) != n:
                object.__setattr__(self, name, np.full(n, fill, dtype=dtype))

    def __len__(self) -> int:
        return len(self.supply)

    def subset(self, mask: BoolArray | IntArray) -> CandidateSet:
        """The candidates selected by a mask or index array (groups are kept whole)."""
        return CandidateSet(self.supply[mask], self.demand[mask], self.distance_km[mask], self.mode[mask],
                            self.ratio[mask], self.unit_benefit[mask], self.unit_co2[mask], self.rule[mask],
                            self.quality_unknown[mask], self.share_group[mask], self.group_cap,
                            self.group_demand, self.group_rule, self.rules, self.supply_qty, self.demand_qty,
                            self.seconds, dict(self.info), self.pipeline[mask], self.fixed[mask],
                            self.capacity[mask], self.margin[mask], self.permit_to_verify[mask])


def build_candidates(scenario: Scenario, econ: Economics, *, pairs: Collection[tuple[str, str]] | None = None,
                     likely_permits: bool = False) -> CandidateSet:
    """Every (supply, demand) pair that can carry positive benefit within the stated limits.

    Parameters
    ----------
    scenario : Scenario
    econ : Economics
        From :func:`matching.economics.resolve_economics`.
    pairs : collection of (supply material, demand material), optional
        Build only these material pairs (default: all).
    likely_permits : bool
        Screening: a site whose permits nobody stated may take a hazardous material its industry usually holds
        the permit for (marked "permit to verify"). Otherwise a site holds exactly the permits it states.

    Returns
    -------
    CandidateSet
    """
    t0 = time.perf_counter()
    inst = _Instance.of(scenario, econ, likely_permits)
    sup, dem, sites = scenario.supplies, scenario.demands, scenario.sites
    by_mat_s: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(sup):
        by_mat_s[s.material].append(i)
    by_mat_d: dict[str, list[int]] = defaultdict(list)
    for j, d in enumerate(dem):
        by_mat_d[d.material].append(j)

    rule_ids: dict[int, int] = {}
    rules: list[Rule] = []
    parts: dict[str, list[npt.NDArray[np.generic]]] = defaultdict(list)
    n_queried = 0

    def rule_index(rule: Rule) -> int:
        rid = rule_ids.setdefault(id(rule), len(rules))
        if rid == len(rules):
            rules.append(rule)
        return rid

    for v, d_list in by_mat_d.items():
        price = econ.price(v)
        for m in econ.sources_of(v):
            s_list = by_mat_s.get(m)
            if not s_list or (pairs is not None and (m, v) not in pairs):
                continue
            pair_rules = econ.rules_for(m, v)
            modes = econ.modes_for(m)
            if not pair_rules or not modes:
                continue
            # demands grouped by the rules that serve them (receiver's industries, demand's use)
            classes: dict[tuple[int, ...], list[int]] = defaultdict(list)
            for j in d_list:
                industries = sites[inst.d_site[j]].industries
                serving = tuple(k for k, r in enumerate(pair_rules)
                                if rule_applies(r, industries=industries, use=dem[j].use))
                if serving:
                    classes[serving].append(j)
            s_all = np.asarray(s_list, dtype=np.int64)
            info_m = econ.material(m)
            for served_by, dj_list in classes.items():
                served = [pair_rules[k] for k in served_by]
                local, unknown_all = best_rules(served, [sup[i].attributes for i in s_list], price)
                keep = local >= 0
                if not keep.any():
                    continue
                s_m = s_all[keep]
                rule_g = np.array([rule_index(served[k]) for k in local[keep].tolist()], dtype=np.int64)
                unknown = unknown_all[keep]
                d_all = np.asarray(dj_list, dtype=np.int64)
                n_queried += _price_class(parts, inst, sup_idx=s_m, dem_idx=d_all, rule_g=rule_g,
                                          unknown=unknown, rules=rules, price=price, modes=modes, info_m=info_m)

    def cat(name: str, empty: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
        return np.concatenate(parts[name]) if parts[name] else empty

    supply = cat("supply", _empty_i()).astype(np.int64)
    demand = cat("demand", _empty_i()).astype(np.int64)
    rule_arr = cat("rule", _empty_i()).astype(np.int64)
    share = np.array([r.max_share for r in rules], dtype=np.float64)
    limited = share[rule_arr] < 1.0 if len(rule_arr) else np.zeros(0, dtype=bool)
    group = np.full(len(supply), -1, dtype=np.int64)
    if limited.any():
        key = demand[limited] * max(len(rules), 1) + rule_arr[limited]
        uniq, inv = np.unique(key, return_inverse=True)
        group[limited] = inv
        group_demand = (uniq // max(len(rules), 1)).astype(np.int64)
        group_rule = (uniq % max(len(rules), 1)).astype(np.int64)
        group_cap = share[group_rule] * inst.d_qty[group_demand]
    else:
        group_demand = _empty_i()
        group_rule = _empty_i()
        group_cap = _empty_f()
    return CandidateSet(
        supply=supply, demand=demand,
        distance_km=cat("distance", _empty_f()).astype(np.float64),
        mode=cat("mode", _empty_i()).astype(np.int64),
        ratio=cat("ratio", _empty_f()).astype(np.float64),
        unit_benefit=cat("benefit", _empty_f()).astype(np.float64),
        unit_co2=cat("co2", _empty_f()).astype(np.float64),
        rule=rule_arr, quality_unknown=cat("unknown", np.zeros(0, dtype=bool)).astype(bool),
        share_group=group, group_cap=group_cap, group_demand=group_demand, group_rule=group_rule,
        rules=tuple(rules), supply_qty=inst.s_qty, demand_qty=inst.d_qty,
        seconds=time.perf_counter() - t0, info={"queried_pairs": n_queried},
        pipeline=cat("pipeline", _empty_f()).astype(np.float64),
        fixed=cat("fixed", _empty_f()).astype(np.float64),
        capacity=cat("capacity", _empty_f()).astype(np.float64),
        margin=cat("margin", _empty_f()).astype(np.float64),
        permit_to_verify=cat("permit", np.zeros(0, dtype=bool)).astype(bool))


@dataclass(frozen=True, eq=False)
class _Instance:
    """Per-site and per-stream arrays of a scenario, shared by every material pair's pricing."""

    econ: Economics
    sites: tuple[Site, ...]
    kb: KnowledgeBase | None
    s_site: IntArray
    d_site: IntArray
    site_lat: FloatArray
    site_lon: FloatArray
    site_circ: FloatArray
    site_access: dict[str, BoolArray]
    s_qty: FloatArray
    d_qty: FloatArray
    s_disp: FloatArray
    d_maxd: FloatArray
    explicit: dict[tuple[int, int], float]
    explicit_keys: IntArray
    likely_permits: bool = False

    @classmethod
    def of(cls, scenario: Scenario, econ: Economics, likely_permits: bool = False) -> _Instance:
        sites, sup, dem = scenario.sites, scenario.supplies, scenario.demands
        site_index = {s.id: i for i, s in enumerate(sites)}
        explicit: dict[tuple[int, int], float] = {}
        for stated in scenario.distances:
            a, b = site_index[stated.origin], site_index[stated.destination]
            explicit[(a, b)] = stated.km
            explicit.setdefault((b, a), stated.km)
        return cls(
            econ, sites, scenario.knowledge_base,
            np.fromiter((site_index[s.site] for s in sup), dtype=np.int64, count=len(sup)),
            np.fromiter((site_index[d.site] for d in dem), dtype=np.int64, count=len(dem)),
            np.array([s.lat for s in sites], dtype=np.float64), np.array([s.lon for s in sites], dtype=np.float64),
            np.array([econ.circuity(s.province) for s in sites], dtype=np.float64),
            # rail and water: per mode, which sites have the siding or wharf (both ends of a pair must)
            {m.id: np.array([m.id in st.access for st in sites], dtype=bool) for m in econ.modes if m.needs_access},
            np.fromiter((s.quantity for s in sup), dtype=np.float64, count=len(sup)),
            np.fromiter((d.quantity for d in dem), dtype=np.float64, count=len(dem)),
            np.fromiter((econ.disposal_cost(s.material) if s.disposal_cost is None else s.disposal_cost
                         for s in sup), dtype=np.float64, count=len(sup)),
            np.fromiter((np.inf if d.max_distance_km is None else d.max_distance_km for d in dem),
                        dtype=np.float64, count=len(dem)),
            explicit, np.array([a * len(sites) + b for (a, b) in explicit], dtype=np.int64), likely_permits)


def _price_class(parts: dict[str, list[npt.NDArray[np.generic]]], inst: _Instance, *, sup_idx: IntArray,
                 dem_idx: IntArray, rule_g: IntArray, unknown: BoolArray, rules: list[Rule], price: float,
                 modes: list[tuple[Mode, float]], info_m: MaterialInfo) -> int:
    """Price the pairs of one group of supplies (with their rules) and one group of demands; append the
    viable ones to ``parts``. Returns the number of pairs fetched from the spatial index."""
    econ, sites, s_site, d_site = inst.econ, inst.sites, inst.s_site, inst.d_site
    lat, lon = inst.site_lat, inst.site_lon
    ratio_s = np.array([rules[r].ratio for r in rule_g.tolist()], dtype=np.float64)
    pre_s = np.array([rules[r].pretreatment_cost for r in rule_g.tolist()], dtype=np.float64)
    ef_s = np.array([econ.rule_co2_factor(rules[r]) for r in rule_g.tolist()], dtype=np.float64)
    head = ratio_s * price - pre_s + inst.s_disp[sup_idx]
    radius_m = econ.radius(info_m.id)
    gc_radius = breakeven_gc_km(modes, head=head, ratio=ratio_s, price=price, supply_qty=inst.s_qty[sup_idx],
                                circuity=inst.site_circ[s_site[sup_idx]],
                                limit_km=None if np.isinf(radius_m) else radius_m)
    gc_radius = np.minimum(gc_radius, 20040.0)
    # demands allowed for a hazardous material (and those whose permit is only likely: screening)
    d_ok: BoolArray | None = None
    d_verify = np.zeros(len(dem_idx), dtype=bool)
    if info_m.hazardous:
        status = [permit_status(st.permits, info_m.hw_code,
                                permits_known=st.permits_known or not inst.likely_permits,
                                industries=st.industries, kb=inst.kb) for st in (sites[d_site[j]] for j in dem_idx)]
        d_verify = np.array([x == "to_verify" for x in status], dtype=bool)
        d_ok = d_verify | np.array([x == "held" for x in status], dtype=bool)
    index = SpatialIndex(lat[d_site[dem_idx]], lon[d_site[dem_idx]])
    qi, di = index.pairs_within(lat[s_site[sup_idx]], lon[s_site[sup_idx]], gc_radius)
    n_queried = len(qi)
    stated = np.full(len(qi), np.nan)
    if len(inst.explicit):  # pairs between sites with a stated distance: at that distance, whatever the radius
        key = s_site[sup_idx[qi]] * len(sites) + d_site[dem_idx[di]]
        keep = ~np.isin(key, inst.explicit_keys)
        qi, di, stated = qi[keep], di[keep], stated[keep]
        s_by_site: dict[int, list[int]] = defaultdict(list)
        for q, i in enumerate(sup_idx.tolist()):
            s_by_site[int(s_site[i])].append(q)
        d_by_site: dict[int, list[int]] = defaultdict(list)
        for p, j in enumerate(dem_idx.tolist()):
            d_by_site[int(d_site[j])].append(p)
        eq, ed, ekm = [], [], []
        for (a, b), km in inst.explicit.items():
            for q in s_by_site.get(a, ()):
                for p in d_by_site.get(b, ()):
                    eq.append(q)
                    ed.append(p)
                    ekm.append(0.0 if a == b else km)
        if eq:
            qi = np.concatenate([qi, np.asarray(eq, dtype=np.int64)])
            di = np.concatenate([di, np.asarray(ed, dtype=np.int64)])
            stated = np.concatenate([stated, np.asarray(ekm, dtype=np.float64)])
    if d_ok is not None:
        ok = d_ok[di]
        qi, di, stated = qi[ok], di[ok], stated[ok]
    if len(qi) == 0:
        return n_queried
    si, dj = sup_idx[qi], dem_idx[di]
    ss, ds = s_site[si], d_site[dj]
    same = ss == ds
    gc = np.where(same, 0.0, haversine_km(lat[ss], lon[ss], lat[ds], lon[ds]))
    rule_q = rule_g[qi]
    share = np.array([min(1.0, rules[r].max_share) for r in rule_q.tolist()], dtype=np.float64)

    def both_ends(mode_id: str) -> BoolArray:
        has = inst.site_access.get(mode_id)
        return has[ss] & has[ds] if has is not None else np.zeros(len(ss), dtype=bool)

    fig = price_pairs(modes, gc_km=gc, circuity=inst.site_circ[ss], ratio=ratio_s[qi], price=price,
                      disposal=inst.s_disp[si], pretreatment=pre_s[qi], co2_factor=ef_s[qi],
                      supply_qty=inst.s_qty[si], demand_cap=share * inst.d_qty[dj], stated_km=stated,
                      same_site=same, max_km=np.minimum(inst.d_maxd[dj], radius_m), access=both_ends)
    ok = (fig.mode != -1) & (fig.unit_benefit > 0)
    if not ok.any():
        return n_queried
    global_mode = np.array([econ.modes.index(mk) for mk, _ in modes] + [-2, -1], dtype=np.int64)
    b = fig.unit_benefit[ok]
    distance_costs = fig.rate[ok] * fig.distance_km[ok] + fig.pipeline[ok]
    for name, value in (("supply", si), ("demand", dj), ("distance", fig.distance_km),
                        ("mode", global_mode[fig.mode]), ("ratio", fig.delivered), ("benefit", fig.unit_benefit),
                        ("co2", fig.unit_co2), ("rule", rule_q), ("unknown", unknown[qi]),
                        ("pipeline", fig.pipeline), ("fixed", fig.fixed), ("capacity", fig.capacity),
                        ("permit", d_verify[di])):
        parts[name].append(value[ok])
    parts["margin"].append(b / (b + distance_costs))
    return n_queried


def _empty_i() -> IntArray:
    return np.empty(0, dtype=np.int64)


def _empty_f() -> FloatArray:
    return np.empty(0, dtype=np.float64)

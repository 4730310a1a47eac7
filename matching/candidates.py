"""Candidate pairs (supply, demand) with positive unit benefit, found exactly and without a loop per pair.

Pruning is exact. For a supply ``s`` serving demand material ``v`` with its best rule, the benefit by mode
``k`` falls linearly with distance, ``b_k(D) = A_s − h_k − (r_k + ratio·loss_k·price(v))·D`` with
``A_s = ratio·price(v) + disposal(s) − pretreatment``, so no pair farther than the break-even radius::

    R_s = max_k min(maxD_k, (A_s − h_k) / (r_k + ratio·loss_k·price(v)))

can pay. Every demand within ``R_s / circuity(s)`` great-circle km is fetched from a k-d tree on unit
vectors (no "k nearest"), then each pair's exact distance, mode and benefit is computed with numpy and
only pairs with ``b > 0`` within every stated maximum distance (demand, material, mode) are kept. Pairs
between sites with an explicit distance are evaluated at that distance instead.

Rule choice: when several rules let material ``m`` serve ``v`` (different uses), each supply takes the
applicable rule (gates not failed, not restricted) with the largest distance-free benefit
``ratio·price(v) − pretreatment``. A gate whose attribute the supply does not report does not exclude it;
the link is marked "quality unverified" instead (the knowledge base's policy).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from matching.economics import Economics, Rule, best_mode, permit_covers
from matching.geo import SpatialIndex, haversine_km
from matching.scenario import Scenario

__all__ = ["CandidateSet", "build_candidates"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class CandidateSet:
    """Parallel arrays, one entry per candidate pair; indices refer to ``scenario.supplies/demands``.

    ``mode`` indexes ``econ.modes`` (−2 = same site, no transport). ``ratio`` is the delivered ratio:
    units of the demand's material consumed per unit of supply moved. ``share_group`` indexes
    ``group_cap`` / ``group_demand`` (−1 = no max-share limit).
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

    def __len__(self) -> int:
        return len(self.supply)

    def subset(self, mask: BoolArray | IntArray) -> CandidateSet:
        """The candidates selected by a mask or index array (groups are kept whole)."""
        return CandidateSet(self.supply[mask], self.demand[mask], self.distance_km[mask], self.mode[mask],
                            self.ratio[mask], self.unit_benefit[mask], self.unit_co2[mask], self.rule[mask],
                            self.quality_unknown[mask], self.share_group[mask], self.group_cap,
                            self.group_demand, self.group_rule, self.rules, self.supply_qty, self.demand_qty,
                            self.seconds, dict(self.info))


def _empty_i() -> IntArray:
    return np.empty(0, dtype=np.int64)


def _empty_f() -> FloatArray:
    return np.empty(0, dtype=np.float64)


def build_candidates(scenario: Scenario, econ: Economics, *,
                     pairs: Collection[tuple[str, str]] | None = None) -> CandidateSet:
    """Every (supply, demand) pair that can carry positive benefit within the stated limits.

    Parameters
    ----------
    scenario : Scenario
    econ : Economics
        From :func:`matching.economics.resolve_economics`.
    pairs : collection of (supply material, demand material), optional
        Only these material pairs (used to build one material class at a time); default all.

    Returns
    -------
    CandidateSet
    """
    t0 = time.perf_counter()
    sites = scenario.sites
    site_index = {s.id: i for i, s in enumerate(sites)}
    site_lat = np.array([s.lat for s in sites], dtype=np.float64)
    site_lon = np.array([s.lon for s in sites], dtype=np.float64)
    site_circ = np.array([econ.circuity(s.province) for s in sites], dtype=np.float64)
    sup = scenario.supplies
    dem = scenario.demands
    s_site = np.fromiter((site_index[s.site] for s in sup), dtype=np.int64, count=len(sup))
    d_site = np.fromiter((site_index[d.site] for d in dem), dtype=np.int64, count=len(dem))
    # rail and water: per mode, which sites have the siding or wharf (both ends of a pair must)
    site_access = {m.id: np.array([m.id in st.access for st in sites], dtype=bool)
                   for m in econ.modes if m.needs_access}
    s_qty = np.fromiter((s.quantity for s in sup), dtype=np.float64, count=len(sup))
    d_qty = np.fromiter((d.quantity for d in dem), dtype=np.float64, count=len(dem))
    s_disp = np.fromiter((econ.disposal_cost(s.material) if s.disposal_cost is None else s.disposal_cost
                          for s in sup), dtype=np.float64, count=len(sup))
    d_maxd = np.fromiter((np.inf if d.max_distance_km is None else d.max_distance_km for d in dem),
                         dtype=np.float64, count=len(dem))

    by_mat_s: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(sup):
        by_mat_s[s.material].append(i)
    by_mat_d: dict[str, list[int]] = defaultdict(list)
    for j, d in enumerate(dem):
        by_mat_d[d.material].append(j)

    explicit: dict[tuple[int, int], float] = {}
    for stated in scenario.distances:
        a, b = site_index[stated.origin], site_index[stated.destination]
        explicit[(a, b)] = stated.km
        explicit.setdefault((b, a), stated.km)
    explicit_keys = np.array([a * len(sites) + b for (a, b) in explicit], dtype=np.int64)

    rule_ids: dict[int, int] = {}
    rules: list[Rule] = []
    parts: dict[str, list[npt.NDArray[np.generic]]] = defaultdict(list)
    n_queried = 0

    for v, d_list in by_mat_d.items():
        sources = [m for m in econ.sources_of(v) if pairs is None or (m, v) in pairs]
        if not sources:
            continue
        d_all = np.asarray(d_list, dtype=np.int64)
        price = econ.price(v)
        index = SpatialIndex(site_lat[d_site[d_all]], site_lon[d_site[d_all]])
        for m in sources:
            s_list = by_mat_s.get(m)
            if not s_list:
                continue
            pair_rules = econ.rules_for(m, v)
            modes = econ.modes_for(m)
            if not pair_rules:
                continue
            s_all = np.asarray(s_list, dtype=np.int64)
            # best applicable rule per supply
            best_val = np.full(len(s_all), -np.inf)
            best_rule = np.full(len(s_all), -1, dtype=np.int64)
            unknown = np.zeros(len(s_all), dtype=bool)
            for rule in pair_rules:
                rid = rule_ids.setdefault(id(rule), len(rules))
                if rid == len(rules):
                    rules.append(rule)
                val = rule.ratio * price - rule.pretreatment_cost
                if rule.gates:
                    verdict = [rule.check(sup[i].attributes) for i in s_all.tolist()]
                    ok = np.array([x != "fail" for x in verdict], dtype=bool)
                    unk = np.array([x == "unknown" for x in verdict], dtype=bool)
                else:
                    ok = np.ones(len(s_all), dtype=bool)
                    unk = np.zeros(len(s_all), dtype=bool)
                better = ok & (val > best_val)
                best_val = np.where(better, val, best_val)
                best_rule = np.where(better, rid, best_rule)
                unknown = np.where(better, unk, unknown)
            keep = best_rule >= 0
            s_m, best_val, best_rule, unknown = s_all[keep], best_val[keep], best_rule[keep], unknown[keep]
            if len(s_m) == 0:
                continue
            ratio_s = np.array([rules[r].ratio for r in best_rule.tolist()], dtype=np.float64)
            a_s = best_val + s_disp[s_m]
            # break-even radius per supply (road km), over the modes able to carry m
            radius = np.full(len(s_m), -1.0)
            for mode, factor in modes:
                h = mode.handling_per_unit * factor
                slope = mode.cost_per_unit_km * factor + ratio_s * mode.loss_per_km * price
                with np.errstate(divide="ignore", invalid="ignore"):
                    r_k = np.where(slope > 0, (a_s - h) / np.where(slope > 0, slope, 1.0),
                                   np.where(a_s - h > 0, np.inf, -1.0))
                r_k = np.where(a_s - h > 0, r_k, -1.0)
                if mode.max_distance_km is not None:
                    r_k = np.minimum(r_k, mode.max_distance_km)
                if mode.loss_per_km:
                    r_k = np.minimum(r_k, 1.0 / mode.loss_per_km)
                radius = np.maximum(radius, r_k)
            cap_m = econ.max_distance_km.get(m)
            if cap_m is not None:
                radius = np.minimum(radius, cap_m)
            radius = np.where(a_s > 0, np.maximum(radius, 0.0), radius)  # same-site links need no transport
            # demands allowed for hazardous material m
            info_m = econ.material(m)
            if info_m.hazardous:
                d_ok = np.fromiter((permit_covers(sites[d_site[j]].permits, info_m.hw_code)
                                    for j in d_all.tolist()), dtype=bool, count=len(d_all))
            else:
                d_ok = None
            gc_radius = np.where(radius >= 0, radius / site_circ[s_site[s_m]], -1.0)
            gc_radius = np.minimum(gc_radius, 20040.0)
            qi, di = index.pairs_within(site_lat[s_site[s_m]], site_lon[s_site[s_m]], gc_radius)
            n_queried += len(qi)
            si = s_m[qi]
            dj = d_all[di]
            ss, ds = s_site[si], d_site[dj]
            if len(explicit):
                key = ss * len(sites) + ds
                not_explicit = ~np.isin(key, explicit_keys)
                qi, si, dj, ss, ds = qi[not_explicit], si[not_explicit], dj[not_explicit], \
                    ss[not_explicit], ds[not_explicit]
                if d_ok is not None:
                    di = di[not_explicit]
            if d_ok is not None:
                ok = d_ok[di]
                qi, si, dj, ss, ds = qi[ok], si[ok], dj[ok], ss[ok], ds[ok]
            dist = haversine_km(site_lat[ss], site_lon[ss], site_lat[ds], site_lon[ds]) * site_circ[ss]
            same = ss == ds
            dist = np.where(same, 0.0, dist)
            if len(explicit):
                # pairs between sites with an explicit distance, at that distance
                s_by_site: dict[int, list[int]] = defaultdict(list)
                for q, i in enumerate(s_m.tolist()):
                    s_by_site[int(s_site[i])].append(q)
                d_by_site: dict[int, list[int]] = defaultdict(list)
                for p, j in enumerate(d_all.tolist()):
                    if d_ok is None or d_ok[p]:
                        d_by_site[int(d_site[j])].append(j)
                eq, ej, ed = [], [], []
                for (a, b), km in explicit.items():
                    if a in s_by_site and b in d_by_site:
                        for q in s_by_site[a]:
                            for j in d_by_site[b]:
                                eq.append(q)
                                ej.append(j)
                                ed.append(0.0 if a == b else km)
                if eq:
                    eq_a = np.asarray(eq, dtype=np.int64)
                    qi = np.concatenate([qi, eq_a])
                    si = np.concatenate([si, s_m[eq_a]])
                    dj = np.concatenate([dj, np.asarray(ej, dtype=np.int64)])
                    dist = np.concatenate([dist, np.asarray(ed, dtype=np.float64)])
                    same = np.concatenate([same, s_site[s_m[eq_a]] == d_site[np.asarray(ej, dtype=np.int64)]])
            if len(qi) == 0:
                continue
            ratio = ratio_s[qi]
            pair_s, pair_d = s_site[si], d_site[dj]

            def both_ends(mode_id: str, pair_s: IntArray = pair_s, pair_d: IntArray = pair_d) -> BoolArray:
                has = site_access.get(mode_id)
                return has[pair_s] & has[pair_d] if has is not None else np.zeros(len(pair_s), dtype=bool)

            mode_idx, cost, deliv, co2_kg, _rate = best_mode(modes, dist, ratio=ratio, price=price,
                                                             same_site=same, access=both_ends)
            rule_q = best_rule[qi]
            pre = np.array([rules[r].pretreatment_cost for r in range(len(rules))])[rule_q]
            benefit = deliv * price + s_disp[si] - pre - cost
            ok = (mode_idx != -1) & (benefit > 0) & (dist <= d_maxd[dj])
            if cap_m is not None:
                ok &= dist <= cap_m
            if not ok.any():
                continue
            ef_rule = np.array([r.co2_factor if r.co2_factor is not None else econ.co2_factor(r.replaces)
                                for r in rules])[rule_q]
            global_mode = np.array([econ.modes.index(mk) for mk, _ in modes] + [-2, -1], dtype=np.int64)
            parts["supply"].append(si[ok])
            parts["demand"].append(dj[ok])
            parts["distance"].append(dist[ok])
            parts["mode"].append(global_mode[mode_idx[ok]])
            parts["ratio"].append(deliv[ok])
            parts["benefit"].append(benefit[ok])
            parts["co2"].append(deliv[ok] * ef_rule[ok] - co2_kg[ok] / 1000.0)
            parts["rule"].append(rule_q[ok])
            parts["unknown"].append(unknown[qi][ok])

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
        group_cap = share[group_rule] * d_qty[group_demand]
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
        rules=tuple(rules), supply_qty=s_qty, demand_qty=d_qty,
        seconds=time.perf_counter() - t0, info={"queried_pairs": n_queried})

"""Pipes paid at the flow they carry: the linear mode's last step when pipeline links are proposed.

The linear model charges a pipeline link its annualised capex spread over ``U``, the most the link could carry
(:mod:`matching.economics`): the LP relaxation of the MILP's fixed charge. When the optimum moves less than
``U`` over such a link, the pipe would cost more than the link was charged; proposing it would tell a planner
a pipe pays when it does not. So the link is re-priced for the pipe it needs (and again, larger, should a
later solve move more onto it) — sized for the flow ``q`` it
carries: ``capex(q) · D`` a year, ``capex(q) · D / q`` per unit — and the parts of the problem it touches are
solved again; links that cannot pay even so drop out. A pair whose pipe, sized for its flow, pays less than
another mode allowed between its sites (a truck or a train charges no capex) switches to that mode, as a
planner would, with that mode's capacity. The rounds are bounded: after :data:`MAX_ROUNDS` any link whose
pipe is still not sized for its flow is dropped and its part solved once more.

The answer is the exact, certified optimum of the last LP, and every pipeline link in it is charged its whole
pipe (``fixed`` = ``capex(q) · D``): a feasible plan, never above the LP relaxation. It is a heuristic for the
fixed-charge problem, not its optimum, and not comparable with the MILP mode's objective either way: the MILP
sizes each pipe for its link's full capacity ``U`` (``capex(U) · D``), which a plan carrying less pays too much.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from matching.candidates import CandidateSet
from matching.economics import Economics, LinkEconomics, link_economics
from matching.geo import haversine_km
from matching.scenario import Scenario
from matching.solve import LinearSolution, arc_components, solve_linear

__all__ = ["MAX_ROUNDS", "Reprice", "pay_for_pipes", "scenario_repricer"]

FloatArray = npt.NDArray[np.float64]
# a candidate's figures by its best allowed mode, a pipe sized for the given flow (None: the full capacity)
Reprice = Callable[[int, float | None, str | None], LinkEconomics | None]
MAX_ROUNDS = 8
SHORT = 1e-6  # a link carrying less than (1 − SHORT) of its capacity is short


def _short(cands: CandidateSet, flow: FloatArray) -> npt.NDArray[np.bool_]:
    """Pipeline links whose pipe is not sized for their flow: short of it, or (after a solve that moved flow
    onto a resized link, whose size the LP does not bound) beyond it."""
    tol = 1e-9 * np.maximum(cands.capacity, 1.0)
    carried = (cands.fixed > 0) & (flow > tol)
    return carried & ((flow < cands.capacity * (1.0 - SHORT)) | (flow > cands.capacity * (1.0 + SHORT)))


def scenario_repricer(scenario: Scenario, econ: Economics, cands: CandidateSet) -> Reprice:
    """Figures of candidate ``i`` by :func:`matching.economics.link_economics`, from the scenario's streams and
    sites, as :func:`matching.evaluate.evaluate` recomputes them: the best allowed mode with a pipe sized for
    ``sized_for`` (or the given ``mode``)."""
    sites = scenario.site_map()
    stated: dict[tuple[str, str], float] = {}
    for dist in scenario.distances:
        stated[(dist.origin, dist.destination)] = dist.km
        stated.setdefault((dist.destination, dist.origin), dist.km)

    def reprice(i: int, sized_for: float | None, mode: str | None) -> LinkEconomics | None:
        s, d = scenario.supplies[int(cands.supply[i])], scenario.demands[int(cands.demand[i])]
        site_s, site_d = sites[s.site], sites[d.site]
        same = s.site == d.site
        gc = 0.0 if same else float(haversine_km(site_s.lat, site_s.lon, site_d.lat, site_d.lon))
        limit = min(d.max_distance_km if d.max_distance_km is not None else np.inf, econ.radius(s.material))
        return link_economics(econ, material=s.material, replaces=d.material,
                              distance_km=stated.get((s.site, d.site)), gc_km=gc,
                              circuity=econ.circuity(site_s.province), same_site=same,
                              disposal_cost=s.disposal_cost, rule=cands.rules[int(cands.rule[i])],
                              supply_qty=s.quantity, demand_qty=d.quantity, max_km=float(limit), mode=mode,
                              access=frozenset(site_s.access) & frozenset(site_d.access), sized_for=sized_for)

    return reprice


def _resized(cands: CandidateSet, econ: Economics, arcs: npt.NDArray[np.int64], flow: FloatArray,
             reprice: Reprice | None = None) -> CandidateSet:
    """The candidates with the pipes of ``arcs`` sized for ``flow`` (their unit benefit, charge and margin), or
    moved to another mode where that now pays more (``reprice``)."""
    capacity, fixed, pipeline = cands.capacity.copy(), cands.fixed.copy(), cands.pipeline.copy()
    benefit, margin = cands.unit_benefit.copy(), cands.margin.copy()
    mode, distance, ratio, co2 = cands.mode.copy(), cands.distance_km.copy(), cands.ratio.copy(), cands.unit_co2.copy()
    for mode_idx in np.unique(cands.mode[arcs]).tolist():
        sel = arcs[cands.mode[arcs] == mode_idx]
        q = flow[sel]
        new_fixed = econ.modes[mode_idx].capex_per_km(q) * cands.distance_km[sel]
        new_pipe = new_fixed / q
        distance_costs = benefit[sel] / margin[sel] - benefit[sel] - pipeline[sel]  # rate × D
        benefit[sel] = benefit[sel] + pipeline[sel] - new_pipe
        margin[sel] = benefit[sel] / (benefit[sel] + distance_costs + new_pipe)
        capacity[sel], fixed[sel], pipeline[sel] = q, new_fixed, new_pipe
    if reprice is not None:
        mode_ids = [m.id for m in econ.modes]
        for i in arcs.tolist():
            best = reprice(i, float(flow[i]), None)
            if best is None or best.mode == mode_ids[mode[i]] or best.mode not in mode_ids \
                    or best.unit_benefit <= benefit[i] + 1e-9 * max(1.0, abs(benefit[i])):
                continue
            full = reprice(i, None, best.mode)  # the new mode's own capacity, not the pipe's size
            if full is None:
                continue
            mode[i], distance[i], ratio[i] = mode_ids.index(full.mode), full.distance_km, full.delivered_ratio
            benefit[i], co2[i], pipeline[i] = full.unit_benefit, full.unit_co2_avoided_t, full.pipeline
            fixed[i], capacity[i] = full.fixed_cost, full.capacity
            distance_costs = full.rate * full.distance_km + full.pipeline
            margin[i] = full.unit_benefit / (full.unit_benefit + distance_costs)
    return CandidateSet(cands.supply, cands.demand, distance, mode, ratio, benefit,
                        co2, cands.rule, cands.quality_unknown, cands.share_group, cands.group_cap,
                        cands.group_demand, cands.group_rule, cands.rules, cands.supply_qty, cands.demand_qty,
                        cands.seconds, dict(cands.info), pipeline, fixed, capacity, margin, cands.permit_to_verify)


def pay_for_pipes(cands: CandidateSet, solution: LinearSolution, econ: Economics,
                  weights: Callable[[CandidateSet], FloatArray], *, scenario: Scenario | None = None,
                  **solve: Any) -> tuple[CandidateSet, LinearSolution]:
    """Re-price and re-solve until every pipeline link carries what its pipe is sized for (module docstring).

    Parameters
    ----------
    cands, solution
        A candidate set and its linear solution.
    econ : Economics
        For the pipes' capex by size.
    weights : callable
        The objective coefficients of a candidate set (they change with the unit benefits).
    scenario : Scenario, optional
        The scenario the candidates index: with it, a pair whose resized pipe pays less than another allowed
        mode moves to that mode.
    **solve
        Passed to :func:`matching.solve.solve_linear`.

    Returns
    -------
    (CandidateSet, LinearSolution)
        The final candidates (pipes sized for their flows; links that could not pay removed) and their solution,
        with the certificate of a full solve when anything changed.
    """
    for _attempt in range(3):  # a full solve can move flow between equal links: check it again
        cands, changed = _rounds(cands, solution.flow, econ, weights, solve, scenario)
        if not changed:
            return cands, solution
        solution = solve_linear(cands, weights(cands), **solve)  # one full solve: flows with their certificate
        if not _short(cands, solution.flow).any():
            return cands, solution
    keep = ~_short(cands, solution.flow)  # ties still moving: the short links leave
    cands = cands.subset(keep)
    return cands, solve_linear(cands, weights(cands), **solve)


def _rounds(cands: CandidateSet, flow: FloatArray, econ: Economics, weights: Callable[[CandidateSet], FloatArray],
            solve: dict[str, Any], scenario: Scenario | None) -> tuple[CandidateSet, bool]:
    """Resize the short pipes and solve their parts again, round after round (see the module docstring)."""
    changed = False
    for round_ in range(MAX_ROUNDS + 1):
        short = _short(cands, flow)
        if not short.any():
            break
        changed = True
        arcs = np.flatnonzero(short)
        touched_s, touched_d = np.unique(cands.supply[arcs]), np.unique(cands.demand[arcs])
        if round_ < MAX_ROUNDS:
            reprice = scenario_repricer(scenario, econ, cands) if scenario is not None else None
            cands = _resized(cands, econ, arcs, flow, reprice)
            keep = cands.unit_benefit > 0
        else:  # still short after every round: these links do not pay their pipes; leave them out
            keep = ~short
        cands, flow = cands.subset(keep), flow[keep]
        # solve again the parts (connected components) holding a stream of a changed link
        n_comp, arc_comp = arc_components(cands, len(cands.supply_qty), len(cands.demand_qty))
        near = np.isin(cands.supply, touched_s) | np.isin(cands.demand, touched_d)
        idx = np.flatnonzero(np.isin(arc_comp, np.unique(arc_comp[near]))) if n_comp else np.empty(0, np.int64)
        if len(idx):
            sub = cands.subset(idx)
            flow = flow.copy()
            flow[idx] = solve_linear(sub, weights(sub), **solve).flow
    return cands, changed

"""Pipes paid at the flow they carry: the linear mode's last step when pipeline links are proposed.

The linear model charges a pipeline link its annualised capex spread over ``U``, the most the link could carry
(:mod:`matching.economics`): the LP relaxation of the MILP's fixed charge. When the optimum moves less than
``U`` over such a link, the pipe would cost more than the link was charged; proposing it would tell a planner
a pipe pays when it does not. So the link is re-priced for the pipe it needs — sized for the flow ``q`` it
carries: ``capex(q) · D`` a year, ``capex(q) · D / q`` per unit — and the parts of the problem it touches are
solved again; links that cannot pay even so drop out. Capacities only fall and links only leave, so the rounds
end (after :data:`MAX_ROUNDS` any link still short is dropped and its part solved once more).

The answer is the exact, certified optimum of the last LP, every pipeline link in it is charged its full pipe
(``fixed`` = ``capex(q) · D``, what the MILP would charge for that link), and so its objective is the value of
a feasible MILP solution: between the MILP's optimum and the LP relaxation's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from matching.candidates import CandidateSet
from matching.economics import Economics
from matching.solve import LinearSolution, arc_components, solve_linear

__all__ = ["MAX_ROUNDS", "pay_for_pipes"]

FloatArray = npt.NDArray[np.float64]
MAX_ROUNDS = 8
SHORT = 1e-6  # a link carrying less than (1 − SHORT) of its capacity is short


def _short(cands: CandidateSet, flow: FloatArray) -> npt.NDArray[np.bool_]:
    tol = 1e-9 * np.maximum(cands.capacity, 1.0)
    return (cands.fixed > 0) & (flow > tol) & (flow < cands.capacity * (1.0 - SHORT))


def _resized(cands: CandidateSet, econ: Economics, arcs: npt.NDArray[np.int64], flow: FloatArray) -> CandidateSet:
    """The candidates with the pipes of ``arcs`` sized for ``flow`` (their unit benefit, charge and margin)."""
    capacity, fixed, pipeline = cands.capacity.copy(), cands.fixed.copy(), cands.pipeline.copy()
    benefit, margin = cands.unit_benefit.copy(), cands.margin.copy()
    for mode_idx in np.unique(cands.mode[arcs]).tolist():
        sel = arcs[cands.mode[arcs] == mode_idx]
        q = flow[sel]
        new_fixed = econ.modes[mode_idx].capex_per_km(q) * cands.distance_km[sel]
        new_pipe = new_fixed / q
        distance_costs = benefit[sel] / margin[sel] - benefit[sel] - pipeline[sel]  # rate × D
        benefit[sel] = benefit[sel] + pipeline[sel] - new_pipe
        margin[sel] = benefit[sel] / (benefit[sel] + distance_costs + new_pipe)
        capacity[sel], fixed[sel], pipeline[sel] = q, new_fixed, new_pipe
    return CandidateSet(cands.supply, cands.demand, cands.distance_km, cands.mode, cands.ratio, benefit,
                        cands.unit_co2, cands.rule, cands.quality_unknown, cands.share_group, cands.group_cap,
                        cands.group_demand, cands.group_rule, cands.rules, cands.supply_qty, cands.demand_qty,
                        cands.seconds, dict(cands.info), pipeline, fixed, capacity, margin, cands.permit_to_verify)


def pay_for_pipes(cands: CandidateSet, solution: LinearSolution, econ: Economics,
                  weights: Callable[[CandidateSet], FloatArray], **solve: Any) -> tuple[CandidateSet, LinearSolution]:
    """Re-price and re-solve until every pipeline link carries what its pipe is sized for (module docstring).

    Parameters
    ----------
    cands, solution
        A candidate set and its linear solution.
    econ : Economics
        For the pipes' capex by size.
    weights : callable
        The objective coefficients of a candidate set (they change with the unit benefits).
    **solve
        Passed to :func:`matching.solve.solve_linear`.

    Returns
    -------
    (CandidateSet, LinearSolution)
        The final candidates (pipes sized for their flows; links that could not pay removed) and their solution,
        with the certificate of a full solve when anything changed.
    """
    for _attempt in range(3):  # a full solve can move flow between equal links: check it again
        cands, changed = _rounds(cands, solution.flow, econ, weights, solve)
        if not changed:
            return cands, solution
        solution = solve_linear(cands, weights(cands), **solve)  # one full solve: flows with their certificate
        if not _short(cands, solution.flow).any():
            return cands, solution
    keep = ~_short(cands, solution.flow)  # ties still moving: the short links leave
    cands = cands.subset(keep)
    return cands, solve_linear(cands, weights(cands), **solve)


def _rounds(cands: CandidateSet, flow: FloatArray, econ: Economics, weights: Callable[[CandidateSet], FloatArray],
            solve: dict[str, Any]) -> tuple[CandidateSet, bool]:
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
            cands = _resized(cands, econ, arcs, flow)
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

"""The linear mode's pipeline: candidates built one material class at a time, overlapped with solving.

Materials linked by the rules (supply material ``m`` serves demand material ``v``) form a small graph whose
connected components — material classes — never share a candidate arc, a supply or a demand: each class is
an independent problem. With two cores and a large scenario, the class with the most potential pairs is built
first and handed to a forked worker (it inherits the candidate arrays; only its answer comes back pickled),
while this process builds and solves every other class; the two answers are then joined. Otherwise
everything is built at once and :func:`matching.solve.solve_linear` spreads the parts over the cores.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from matching.candidates import CandidateSet, build_candidates
from matching.certificate import Certificate
from matching.economics import Economics
from matching.scenario import Scenario
from matching.solve import LinearSolution, solve_linear

__all__ = ["OVERLAP_MIN_STREAMS", "Solved", "build_and_solve", "concat_candidates", "material_classes"]

FloatArray = npt.NDArray[np.float64]
Pair = tuple[str, str]

#: scenarios with fewer streams (supplies + demands) are built and solved in one go (a worker costs more)
OVERLAP_MIN_STREAMS = 20_000


@dataclass(frozen=True)
class Solved:
    """Candidates, their flows and solution, and the seconds spent building candidates in this process."""

    cands: CandidateSet
    solution: LinearSolution
    candidate_seconds: float


def material_classes(scenario: Scenario, econ: Economics) -> list[tuple[frozenset[Pair], int]]:
    """The material classes of a scenario, largest first: (material pairs, potential pairs of streams).

    A pair ``(m, v)`` belongs to the graph when the scenario has supplies of ``m``, demands for ``v`` and a
    rule (or identity) lets ``m`` serve ``v``; the potential count ``#supplies(m) · #demands(v)`` ranks them.
    """
    n_sup = Counter(s.material for s in scenario.supplies)
    n_dem = Counter(d.material for d in scenario.demands)
    parent: dict[Any, Any] = {}

    def find(x: Any) -> Any:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    pairs = [(m, v) for v in n_dem for m in econ.sources_of(v) if n_sup.get(m) and econ.rules_for(m, v)]
    for m, v in pairs:
        parent[find(("s", m))] = find(("d", v))
    groups: dict[Any, list[Pair]] = {}
    for m, v in pairs:
        groups.setdefault(find(("s", m)), []).append((m, v))
    out = [(frozenset(ps), sum(n_sup[m] * n_dem[v] for m, v in ps)) for ps in groups.values()]
    return sorted(out, key=lambda item: (-item[1], sorted(item[0])))


#: CandidateSet fields that are per share group, per scenario stream, or indices needing an offset; every
#: other array field is per arc or per group and is joined as it is (new fields need no change here)
_STREAM_FIELDS = ("supply_qty", "demand_qty")


def concat_candidates(parts: Sequence[CandidateSet]) -> CandidateSet:
    """One candidate set from sets built over disjoint material pairs of the same scenario (rule and share
    group indices are offset; supplies and demands are already the scenario's)."""
    if len(parts) == 1:
        return parts[0]
    rule_off = np.cumsum([0] + [len(p.rules) for p in parts])[:-1]
    group_off = np.cumsum([0] + [len(p.group_cap) for p in parts])[:-1]
    values: dict[str, Any] = {}
    for f in fields(CandidateSet):
        name = f.name
        first = getattr(parts[0], name)
        if name in ("rule", "group_rule"):  # index cands.rules
            values[name] = np.concatenate([getattr(p_, name) + off for p_, off in zip(parts, rule_off, strict=True)])
        elif name == "share_group":
            values[name] = np.concatenate([np.where(p_.share_group >= 0, p_.share_group + off, -1)
                                           for p_, off in zip(parts, group_off, strict=True)])
        elif name == "rules":
            values[name] = tuple(r for p_ in parts for r in p_.rules)
        elif name in _STREAM_FIELDS:
            values[name] = first
        elif name == "seconds":
            values[name] = sum(p_.seconds for p_ in parts)
        elif name == "info":
            values[name] = {k: sum(p_.info.get(k, 0) for p_ in parts) for k in first}
        elif isinstance(first, np.ndarray):  # per arc, or per share group
            values[name] = np.concatenate([getattr(p_, name) for p_ in parts])
        else:
            values[name] = first
    return CandidateSet(**values)


def _join(parts: Sequence[LinearSolution], seconds: float) -> LinearSolution:
    """One solution from solutions of disjoint problems (their certificates add up: no shared row)."""
    certs = [p.certificate for p in parts if p.certificate is not None]
    objective = sum(c.objective for c in certs)
    bound = sum(c.bound for c in certs)
    cert = Certificate(objective, bound, max(bound - objective, 0.0) / max(1.0, abs(objective)),
                       max((c.violation for c in certs), default=0.0))
    names = [n for p in parts for n in p.solver.split("+") if n != "none"]
    order = ("lemon-network-simplex", "ortools-min-cost-flow", "highs-lp")
    solver = "+".join(n for n in order if n in names) or "none"
    return LinearSolution(np.concatenate([p.flow for p in parts]), sum(p.components for p in parts),
                          sum(p.network_components for p in parts), sum(p.lp_components for p in parts), solver,
                          seconds, cert, sum(p.classes for p in parts))


#: what a forked worker inherits: (candidates, weights) by call key
_SHARED: dict[int, tuple[CandidateSet, FloatArray]] = {}


def _solve_shared(key: int) -> LinearSolution:
    cands, weight = _SHARED[key]
    return solve_linear(cands, weight, workers=1)


def build_and_solve(scenario: Scenario, econ: Economics, weights: Callable[[CandidateSet], FloatArray], *,
                    workers: int | None = None, decompose: bool = True) -> Solved:
    """Build the candidates and solve the linear model, overlapping the two where it pays.

    Parameters
    ----------
    scenario : Scenario
    econ : Economics
    weights : callable
        Objective coefficient per candidate of a candidate set (e.g. ``objective_weights`` bound to the
        scenario and objective).
    workers : int, optional
        Processes (default: 2 where there are two cores and the scenario has ``OVERLAP_MIN_STREAMS`` streams).
    decompose : bool
        ``False`` builds everything and solves it as one problem (tests).

    Returns
    -------
    Solved
    """
    import multiprocessing as mp

    t0 = time.perf_counter()
    n_streams = len(scenario.supplies) + len(scenario.demands)
    n_workers = workers if workers is not None else (
        min(2, os.cpu_count() or 1) if n_streams >= OVERLAP_MIN_STREAMS else 1)
    classes = material_classes(scenario, econ) if decompose and n_workers > 1 else []
    if len(classes) < 2 or "fork" not in mp.get_all_start_methods():
        cands = build_candidates(scenario, econ)
        t_cand = time.perf_counter() - t0
        sol = solve_linear(cands, weights(cands), decompose=decompose, workers=n_workers)
        return Solved(cands, sol, t_cand)
    first = build_candidates(scenario, econ, pairs=classes[0][0])
    w_first = weights(first)
    t_first = time.perf_counter() - t0
    rest_pairs = frozenset().union(*(ps for ps, _ in classes[1:]))
    key = id(first)
    _SHARED[key] = (first, w_first)  # the forked worker inherits the arrays: only its answer is pickled
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("fork")) as pool:
            future = pool.submit(_solve_shared, key)
            t1 = time.perf_counter()
            rest = build_candidates(scenario, econ, pairs=rest_pairs)
            t_rest = time.perf_counter() - t1
            sol_rest = solve_linear(rest, weights(rest), workers=1)
            sol_first = future.result()
    finally:
        del _SHARED[key]
    cands = concat_candidates([first, rest])
    return Solved(cands, _join([sol_first, sol_rest], time.perf_counter() - t0), t_first + t_rest)

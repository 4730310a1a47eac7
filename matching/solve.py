"""Exact linear mode: the LP optimum of the matching model, by min-cost flow where the model is a network.

The model (quantities per year, ``x_sd`` in units of the supply)::

    maximise    Σ_sd w_sd · x_sd                    (w = b for the ``benefit`` objective)
    subject to  Σ_d x_sd            ≤ q_s            for every supply s
                Σ_s ρ_sd · x_sd     ≤ q_d            for every demand d        (ρ = delivered ratio)
                Σ_(s∈g) ρ_sd · x_sd ≤ σ_g · q_d      for every rule g with max share σ_g < 1 into d
                x_sd ≥ 0, and x_sd = 0 where b_sd ≤ 0 (such pairs are not candidates)

Solving:

1. Components. The bipartite graph of candidate pairs splits into connected components
   (``scipy.sparse.csgraph.connected_components``, a union-find in C); each is solved alone.
2. Pure networks. When node scales ``u_s``, ``v_d`` exist with ``ρ_sd = v_d / u_s`` on every arc of a
   component (always so when every ρ = 1, and whenever ratios depend only on the pair of materials
   consistently), substituting ``y = x / u_s`` gives a pure network: supply node ``s`` (capacity
   ``q_s/u_s``) → [share node g, capacity ``σ_g q_d / v_d``] → demand node ``d`` (capacity ``q_d / v_d``)
   → sink, plus a bypass ``s → sink`` for what stays unmatched. OR-Tools ``SimpleMinCostFlow`` solves it
   with integer data: quantities × ``QUANTITY_SCALE`` (floored, so the flow stays feasible) and costs
   ``−w·u_s`` × ``cost_scale`` (rounded), both chosen per component from its data so that nothing overflows
   int64 and the reported objective is within ~1e-9 relative of the LP optimum.
   The scales come from one BFS tree over all components (log potentials along the tree, int64 indices),
   then every arc is checked against them.
3. Generalised networks (ratios without such scales, e.g. pipeline losses or rules whose ratios disagree
   around a cycle): the LP above with HiGHS on sparse matrices (``scipy.optimize.linprog``), dual simplex,
   or interior point with crossover (still a vertex) from ``LP_IPM_MIN_ARCS`` arcs, where it is faster.
4. Components are spread over up to two jobs, longest first; with two, a forked worker solves one (it
   inherits the arrays, only arc indices are pickled) while this process solves the other.

The solver status is checked before any flow is read.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components

from matching.candidates import CandidateSet
from matching.errors import SolverError

__all__ = ["COST_RESOLUTION", "LinearSolution", "solve_linear"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: the largest integer arc cost used: costs are scaled so that max |w| maps to this (or less, if the
#: component is so large that OR-Tools' internal cost scaling by (nodes + 1) could overflow)
COST_RESOLUTION = 2**31
#: the largest total integer flow of a component (quantities are scaled so that Σ q_s maps to this)
FLOW_RESOLUTION = 2**40
_INT64_SAFE = 2**62
#: arcs below which everything is solved in this process (a worker costs more than it saves)
PARALLEL_MIN_ARCS = 150_000
#: small components are merged into one flow problem up to this many arcs (cuts per-call overhead)
BATCH_ARCS = 20_000


@dataclass(frozen=True)
class LinearSolution:
    flow: FloatArray  # per candidate, in supply units
    components: int
    network_components: int
    lp_components: int
    solver: str
    seconds: float


def _components(cands: CandidateSet, n_s: int, n_d: int) -> tuple[int, IntArray]:
    """Component label per candidate arc."""
    if len(cands) == 0:
        return 0, np.empty(0, dtype=np.int64)
    n = n_s + n_d
    graph = coo_matrix((np.ones(len(cands), dtype=np.int8), (cands.supply, n_s + cands.demand)),
                       shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=False)
    arc_label = labels[cands.supply]
    uniq, arc_comp = np.unique(arc_label, return_inverse=True)
    return len(uniq), arc_comp.astype(np.int64)


def _node_scales(cands: CandidateSet, n_s: int, n_d: int, arc_comp: IntArray, n_comp: int,
                 ) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Scales u_s, v_d with ρ_sd = v_d / u_s, and per component whether they exist (pure network)."""
    u = np.ones(n_s)
    v = np.ones(n_d)
    pure = np.ones(n_comp, dtype=bool)
    not_one = np.abs(cands.ratio - 1.0) > 1e-12
    if not not_one.any():
        return u, v, pure
    odd = np.unique(arc_comp[not_one])
    sel = np.isin(arc_comp, odd)
    sub_s, sub_d, sub_r = cands.supply[sel], cands.demand[sel], cands.ratio[sel]
    n = n_s + n_d
    root = n  # a virtual root joined to one node of every component: one BFS spans them all
    graph = csr_matrix((np.ones(len(sub_s)), (sub_s, n_s + sub_d)), shape=(n + 1, n + 1))
    _, node_label = connected_components(graph, directed=False)
    reps = np.unique(node_label[sub_s], return_index=True)[1]
    reps = sub_s[reps]
    hub = csr_matrix((np.ones(len(reps)), (np.full(len(reps), root), reps)), shape=(n + 1, n + 1))
    sym = (graph + graph.T + hub + hub.T).tocsr()
    # log potentials with log ρ_sd = pot_d − pot_s, propagated along the BFS tree
    key = sub_s * n_d + sub_d
    key_order = np.argsort(key)
    key_sorted = key[key_order]
    log_r = np.log(sub_r)[key_order]
    order, pred = breadth_first_order(sym, root, directed=False, return_predecessors=True)
    # int64: scipy returns int32 indices, and s·n_d + d overflows int32 beyond ~46k nodes a side
    nodes = order[1:].astype(np.int64)
    parents = pred[nodes].astype(np.int64)
    from_root = parents == root
    is_dem = nodes >= n_s
    s_end = np.where(is_dem, parents, nodes)
    d_end = np.where(is_dem, nodes, parents) - n_s
    lookup = np.where(from_root, 0, s_end * n_d + d_end)
    edge = np.where(from_root, 0.0, log_r[np.minimum(np.searchsorted(key_sorted, lookup), len(key_sorted) - 1)])
    step = np.where(is_dem, 1.0, -1.0) * edge
    pot_list = [0.0] * (n + 1)
    for node, parent, e in zip(nodes.tolist(), parents.tolist(), step.tolist(), strict=True):
        pot_list[node] = pot_list[parent] + e
    pot = np.asarray(pot_list[:n])
    u = np.exp(pot[:n_s])
    v = np.exp(pot[n_s:])
    implied = v[cands.demand] / u[cands.supply]
    bad = np.abs(implied - cands.ratio) > 1e-12 * np.maximum(cands.ratio, 1.0)
    if bad.any():
        pure[np.unique(arc_comp[bad])] = False
    return u, v, pure


def _solve_network(supply: IntArray, demand: IntArray, group: IntArray, weight: FloatArray,
                   s_cap: FloatArray, d_cap: FloatArray, g_cap: FloatArray, g_dem: IntArray,
                   ) -> FloatArray:
    """Min-cost flow on one batch (local indices); returns the flow per arc in scaled units (y)."""
    from ortools.graph.python import min_cost_flow

    ns, nd, ng = len(s_cap), len(d_cap), len(g_cap)
    sink = ns + nd + ng
    total = float(s_cap.sum())
    if total <= 0 or len(supply) == 0:
        return np.zeros(len(supply))
    # a power of ten, so that quantities with few decimals stay exact integers
    q_scale = 10.0 ** math.floor(math.log10(FLOW_RESOLUTION / total))
    s_int = np.floor(s_cap * q_scale).astype(np.int64)
    d_int = np.floor(d_cap * q_scale).astype(np.int64)
    g_int = np.floor(g_cap * q_scale).astype(np.int64)
    n_nodes = sink + 1
    wmax = float(np.max(np.abs(weight)))
    cost_max = min(COST_RESOLUTION, _INT64_SAFE // (4 * (n_nodes + 1)))
    c_scale = cost_max / wmax
    cost = -np.rint(weight * c_scale).astype(np.int64)
    if np.any(np.abs(cost) > _INT64_SAFE // (n_nodes + 1)):  # overflow check (cannot happen by construction)
        raise SolverError("cost scaling would overflow int64")
    head = np.where(group >= 0, ns + nd + group, ns + demand)
    tails = np.concatenate([supply, np.arange(ns), ns + np.arange(nd), ns + nd + np.arange(ng)])
    heads = np.concatenate([head, np.full(ns, sink), np.full(nd, sink), ns + g_dem])
    caps = np.concatenate([s_int[supply], s_int, d_int, g_int])
    costs = np.concatenate([cost, np.zeros(ns + nd + ng, dtype=np.int64)])
    mcf = min_cost_flow.SimpleMinCostFlow()
    mcf.add_arcs_with_capacity_and_unit_cost(tails.astype(np.int32), heads.astype(np.int32), caps, costs)
    supplies = np.zeros(n_nodes, dtype=np.int64)
    supplies[:ns] = s_int
    supplies[sink] = -int(s_int.sum())
    mcf.set_nodes_supplies(np.arange(n_nodes, dtype=np.int32), supplies)
    status = mcf.solve()
    if status != mcf.OPTIMAL:  # never read flows after another status
        raise SolverError(f"min-cost flow ended with status {status}")
    y = mcf.flows(np.arange(len(supply), dtype=np.int32)).astype(np.float64)
    return y / q_scale


#: LP batches with at least this many arcs use HiGHS' interior point method (with crossover, so the answer
#: is still a vertex): on the large degenerate transportation LPs here it beats dual simplex several times
LP_IPM_MIN_ARCS = 150_000


def _solve_lp(supply: IntArray, demand: IntArray, group: IntArray, weight: FloatArray, ratio: FloatArray,
              s_cap: FloatArray, d_cap: FloatArray, g_cap: FloatArray) -> FloatArray:
    """The LP on one batch with HiGHS; returns x per arc."""
    from scipy.optimize import linprog

    k = len(supply)
    ns, nd, ng = len(s_cap), len(d_cap), len(g_cap)
    cols = np.arange(k)
    gsel = group >= 0
    rows = np.concatenate([supply, ns + demand, ns + nd + group[gsel]])
    cc = np.concatenate([cols, cols, cols[gsel]])
    vals = np.concatenate([np.ones(k), ratio, ratio[gsel]])
    a_ub = csr_matrix((vals, (rows, cc)), shape=(ns + nd + ng, k))
    b_ub = np.concatenate([s_cap, d_cap, g_cap])
    method = "highs-ipm" if k >= LP_IPM_MIN_ARCS else "highs"
    res = linprog(-weight, A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method=method)
    if res.status != 0:  # never read values after another status
        raise SolverError(f"HiGHS LP ended with status {res.status}: {res.message}")
    return np.maximum(np.asarray(res.x, dtype=np.float64), 0.0)


def _localise(idx: IntArray) -> tuple[IntArray, IntArray]:
    uniq, inv = np.unique(idx, return_inverse=True)
    return uniq, inv.astype(np.int64)


def _solve_batch(kind: str, supply: IntArray, demand: IntArray, group: IntArray, weight: FloatArray,
                 ratio: FloatArray, u: FloatArray, v: FloatArray, cands_s_qty: FloatArray,
                 cands_d_qty: FloatArray, g_cap_all: FloatArray, g_dem_all: IntArray,
                 chunks: Sequence[IntArray]) -> list[FloatArray]:
    """Solve each chunk (arc index array) of a batch; returns x per arc of each chunk."""
    out = []
    for arcs in chunks:
        s_glob, s_loc = _localise(supply[arcs])
        d_glob, d_loc = _localise(demand[arcs])
        g = group[arcs]
        has_g = g >= 0
        g_glob, g_loc_part = _localise(g[has_g])
        g_loc = np.full(len(arcs), -1, dtype=np.int64)
        g_loc[has_g] = g_loc_part
        d_of_g = np.searchsorted(d_glob, g_dem_all[g_glob])
        if kind == "network":
            us = u[s_glob]
            vd_g = v[g_dem_all[g_glob]]
            y = _solve_network(s_loc, d_loc, g_loc, weight[arcs] * us[s_loc], cands_s_qty[s_glob] / us,
                               cands_d_qty[d_glob] / v[d_glob], g_cap_all[g_glob] / vd_g, d_of_g)
            out.append(y * us[s_loc])
        else:
            out.append(_solve_lp(s_loc, d_loc, g_loc, weight[arcs], ratio[arcs], cands_s_qty[s_glob],
                                 cands_d_qty[d_glob], g_cap_all[g_glob]))
    return out


def _chunks(arc_comp: IntArray, comps: IntArray, batch_arcs: int = BATCH_ARCS) -> list[IntArray]:
    """Arc index arrays, one per component, small components merged up to BATCH_ARCS arcs."""
    order = np.argsort(arc_comp, kind="stable")
    sorted_comp = arc_comp[order]
    bounds = np.searchsorted(sorted_comp, np.concatenate([comps, comps + 1])).reshape(2, -1).T
    out: list[IntArray] = []
    pending: list[IntArray] = []
    pending_n = 0
    for lo, hi in bounds.tolist():
        arcs = order[lo:hi]
        if hi - lo >= batch_arcs:
            out.append(arcs)
            continue
        pending.append(arcs)
        pending_n += hi - lo
        if pending_n >= batch_arcs:
            out.append(np.concatenate(pending))
            pending, pending_n = [], 0
    if pending:
        out.append(np.concatenate(pending))
    return out


#: the arrays shared with forked workers, by call (an entry lives only while its pool runs; keyed so that
#: concurrent calls from several threads do not see each other's arrays)
_SHARED: dict[int, tuple[Any, ...]] = {}


def _work(kind: str, arcs: IntArray) -> float:
    """Rough relative cost of solving a chunk, for balancing the workers."""
    return len(arcs) * math.log(len(arcs) + 2) * (4.0 if kind == "lp" else 1.0)


def _solve_job(job: Sequence[tuple[str, IntArray]], common: tuple[Any, ...] | int) -> list[FloatArray]:
    """Solve the chunks of one job (in a forked worker, ``common`` is the key of the inherited arrays)."""
    arrays = _SHARED[common] if isinstance(common, int) else common
    solve: Any = _solve_batch  # the arrays' count and types are _solve_batch's
    return [solve(kind, *arrays, [arcs])[0] for kind, arcs in job]


def solve_linear(cands: CandidateSet, weight: FloatArray | None = None, *, decompose: bool = True,
                 workers: int | None = None, force_lp: bool = False, batch_arcs: int = BATCH_ARCS,
                 ) -> LinearSolution:
    """Solve the linear model exactly on a candidate set.

    Parameters
    ----------
    cands : CandidateSet
    weight : array, optional
        Objective coefficient per candidate (default the unit benefit). Arcs with weight ≤ 0 get no flow.
    decompose : bool
        Solve connected components separately (default). ``False`` solves everything as one problem
        (used by the tests to check that decomposing changes nothing).
    workers : int, optional
        Worker processes (default: ``min(2, cpu count)`` for large problems, 1 otherwise).
    force_lp : bool
        Use the LP solver for every component (a check on the network path).
    batch_arcs : int
        Components smaller than this are merged into one solver call of about this many arcs.

    Returns
    -------
    LinearSolution

    Raises
    ------
    SolverError
        When a solver ends without an optimal status.
    """
    t0 = time.perf_counter()
    n_s, n_d = len(cands.supply_qty), len(cands.demand_qty)
    w = cands.unit_benefit if weight is None else np.asarray(weight, dtype=np.float64)
    flow = np.zeros(len(cands))
    active = np.flatnonzero(w > 0)
    if len(active) == 0:
        return LinearSolution(flow, 0, 0, 0, "none", time.perf_counter() - t0)
    sub = cands.subset(active) if len(active) < len(cands) else cands
    w_sub = w[active]
    n_comp, arc_comp = _components(sub, n_s, n_d)
    if not decompose:
        arc_comp = np.zeros(len(sub), dtype=np.int64)
        n_comp_eff = 1
    else:
        n_comp_eff = n_comp
    u, v, pure = _node_scales(sub, n_s, n_d, arc_comp, n_comp_eff)
    if force_lp:
        pure[:] = False
    comp_ids = np.arange(n_comp_eff)
    net_chunks = _chunks(arc_comp, comp_ids[pure], batch_arcs)
    lp_chunks = _chunks(arc_comp, comp_ids[~pure], batch_arcs)
    if not decompose:
        net_chunks = [np.arange(len(sub))] if pure[0] else []
        lp_chunks = [] if pure[0] else [np.arange(len(sub))]

    n_workers = workers if workers is not None else (
        min(2, os.cpu_count() or 1) if len(sub) >= PARALLEL_MIN_ARCS else 1)
    # one job per worker, longest-processing-time-first over both kinds (an LP arc costs more than a flow arc)
    items = [("network", ch) for ch in net_chunks] + [("lp", ch) for ch in lp_chunks]
    jobs: list[list[tuple[str, IntArray]]] = [[] for _ in range(max(1, n_workers))]
    loads = [0.0] * len(jobs)
    for kind, ch in sorted(items, key=lambda it: _work(*it), reverse=True):
        b = loads.index(min(loads))
        jobs[b].append((kind, ch))
        loads[b] += _work(kind, ch)
    jobs = [job for job in jobs if job]

    common = (sub.supply, sub.demand, sub.share_group, w_sub, sub.ratio, u, v, sub.supply_qty,
              sub.demand_qty, sub.group_cap, sub.group_demand)
    results: list[list[FloatArray]]
    if len(jobs) > 1:
        import multiprocessing as mp

        fork = "fork" in mp.get_all_start_methods()
        key = id(common)
        _SHARED[key] = common  # a forked worker inherits the arrays: only arc indices are pickled
        try:
            with ProcessPoolExecutor(max_workers=len(jobs) - 1,
                                     mp_context=mp.get_context("fork") if fork else None) as pool:
                futures = [pool.submit(_solve_job, job, key if fork else common) for job in jobs[1:]]
                first = _solve_job(jobs[0], common)  # this process takes the first job meanwhile
                results = [first] + [f.result() for f in futures]
        finally:
            del _SHARED[key]
    else:
        results = [_solve_job(job, common) for job in jobs]
    sub_flow = np.zeros(len(sub))
    for job, xs in zip(jobs, results, strict=True):
        for (_kind, arcs), x in zip(job, xs, strict=True):
            sub_flow[arcs] = x
    flow[active] = sub_flow
    n_net = int(pure.sum()) if decompose else int(pure[0])
    solver = "+".join(name for name, used in (("ortools-min-cost-flow", bool(net_chunks)),
                                                ("highs-lp", bool(lp_chunks))) if used)
    return LinearSolution(flow, n_comp, n_net, n_comp_eff - n_net if decompose else 1 - n_net, solver,
                          time.perf_counter() - t0)

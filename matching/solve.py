"""Exact linear mode: the LP optimum of the matching model, by network simplex where the model is a network.

The model (quantities per year, ``x_sd`` in units of the supply)::

    maximise    Σ_sd w_sd · x_sd                    (w = b for the ``benefit`` objective)
    subject to  Σ_d x_sd            ≤ q_s            for every supply s
                Σ_s ρ_sd · x_sd     ≤ q_d            for every demand d        (ρ = delivered ratio)
                Σ_(s∈g) ρ_sd · x_sd ≤ σ_g · q_d      for every rule g with max share σ_g < 1 into d
                x_sd ≥ 0, and x_sd = 0 where b_sd ≤ 0 (such pairs are not candidates)

Solving:

1. Material classes. Materials linked by the rules the candidates use (supply material ``m`` → demand
   material ``v``) form a small graph; its connected components (classes) are unions of connected
   components of the candidate graph, so each is solved alone. Node scales come from the same small graph:
   log-potentials ``U_m``, ``V_v`` along a spanning tree of each class with ``log ρ = V_v − U_m`` per rule,
   then *every arc* is checked (``|V_v/U_m − ρ_a| ≤ 1e-12 ρ_a``; pipeline losses or several rules for one
   pair with other ratios fail it).
2. Classes that pass are pure networks (substituting ``y = x/u_s`` turns ``ρ`` into 1). A class that fails
   is split into the connected components of its candidate graph (``scipy.sparse.csgraph``) with node scales
   per component from one BFS over all of them (int64 keys); components with consistent scales are pure
   networks, the rest generalised networks.
3. Pure networks → LEMON's network simplex (``pylmcf``), OR-Tools' min-cost flow as fallback; generalised
   networks → HiGHS LP (see :mod:`matching.flow`). Every solve returns duals, and every batch's answer is
   checked against the dual bound of :mod:`matching.certificate` (gap ≤ ``CERTIFICATE_GAP``): a batch whose
   certificate fails goes to the next engine (LEMON → OR-Tools → LP), and an LP whose certificate fails is
   an error. The bound of the whole answer (the sum over batches) is returned with it.
4. Batches are spread over up to two jobs, longest first; with two, a forked worker solves one (it inherits
   the arrays, only arc indices are pickled) while this process solves the other.

Solver statuses are checked before any value is read.
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
from matching.certificate import Certificate, certify
from matching.errors import SolverError, SolverUnavailable
from matching.flow import (
    Batch,
    BatchSolution,
    solve_lp,
    solve_lp_restricted,
    solve_network,
)

__all__ = ["ENGINES", "LinearSolution", "arc_components", "solve_linear"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: arcs below which everything is solved in this process (a worker costs more than it saves)
PARALLEL_MIN_ARCS = 150_000
#: small classes and components are merged into one solver call up to this many arcs (cuts per-call overhead)
BATCH_ARCS = 20_000
#: the engines for pure networks, in the order tried (an engine whose answer is not certified hands the batch on)
ENGINES = ("lemon", "ortools")


@dataclass(frozen=True)
class LinearSolution:
    """Flows per candidate, how the problem split, the engines used and the dual certificate of the answer."""

    flow: FloatArray  # per candidate, in supply units
    components: int  # independent parts solved: pure material classes + components of the other classes
    network_components: int
    lp_components: int
    solver: str
    seconds: float
    certificate: Certificate | None = None
    classes: int = 0  # material classes


def arc_components(cands: CandidateSet, n_s: int, n_d: int) -> tuple[int, IntArray]:
    """Component label per candidate arc (connected components of the bipartite candidate graph)."""
    if len(cands) == 0:
        return 0, np.empty(0, dtype=np.int64)
    n = n_s + n_d
    graph = coo_matrix((np.ones(len(cands), dtype=np.int8), (cands.supply, n_s + cands.demand)),
                       shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=False)
    arc_label = labels[cands.supply]
    uniq, arc_comp = np.unique(arc_label, return_inverse=True)
    return len(uniq), arc_comp.astype(np.int64)


def _material_classes(cands: CandidateSet, n_s: int, n_d: int,
                      ) -> tuple[int, IntArray, FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Material classes: (count, class per arc, scales u per supply and v per demand, pure per class).

    The graph has a node per supply material and per demand material and an edge per rule the arcs use
    (rule ``r`` links ``r.material`` to ``r.replaces``; a same-material link is the identity rule). Scales
    ``U``, ``V`` follow a BFS tree of each class; every arc is then checked against them.
    """
    u = np.ones(n_s)
    v = np.ones(n_d)
    if len(cands) == 0:
        return 0, np.empty(0, dtype=np.int64), u, v, np.zeros(0, dtype=bool)
    if len(cands.rules) == 0 or int(cands.rule.min()) < 0 or int(cands.rule.max()) >= len(cands.rules):
        # arcs without their rules (hand-built sets): one class, scaled per component instead
        return 1, np.zeros(len(cands), dtype=np.int64), u, v, np.zeros(1, dtype=bool)
    n_rules = len(cands.rules)
    used = np.bincount(cands.rule, minlength=n_rules) > 0  # O(arcs), no sort: only rules with arcs link
    rules = cands.rules
    names = sorted({r.material for r in rules} | {r.replaces for r in rules})
    index = {m: i for i, m in enumerate(names)}
    n_m = len(names)
    r_sup = np.array([index[r.material] for r in rules], dtype=np.int64)
    r_dem = np.array([n_m + index[r.replaces] for r in rules], dtype=np.int64)
    graph = csr_matrix((np.ones(int(used.sum())), (r_sup[used], r_dem[used])), shape=(2 * n_m, 2 * n_m))
    _, labels = connected_components(graph, directed=False)
    # log-scales along a BFS over the small graph (a few dozen nodes: plain Python)
    adj: dict[int, list[tuple[int, float]]] = {}
    for r in np.flatnonzero(used).tolist():
        a, b, ratio = int(r_sup[r]), int(r_dem[r]), rules[r].ratio
        adj.setdefault(a, []).append((b, math.log(ratio)))
        adj.setdefault(b, []).append((a, -math.log(ratio)))
    pot: dict[int, float] = {}
    for start in sorted(adj):
        if start in pot:
            continue
        pot[start] = 0.0
        queue = [start]
        while queue:
            node = queue.pop()
            for nxt, step in adj[node]:
                if nxt not in pot:
                    pot[nxt] = pot[node] + step
                    queue.append(nxt)
    scale = np.exp(np.array([pot.get(i, 0.0) for i in range(2 * n_m)]))
    u[cands.supply] = scale[r_sup][cands.rule]  # a supply has one material: its arcs all write one value
    v[cands.demand] = scale[r_dem][cands.rule]
    uniq, rule_cls = np.unique(np.where(used, labels[r_sup], -1), return_inverse=True)
    if uniq[0] == -1:  # unused rules
        rule_cls = rule_cls - 1
        uniq = uniq[1:]
    arc_cls = rule_cls[cands.rule]
    pure = np.ones(len(uniq), dtype=bool)
    implied = v[cands.demand] / u[cands.supply]
    bad = np.abs(implied - cands.ratio) > 1e-12 * np.maximum(cands.ratio, 1.0)
    if bad.any():
        pure[np.unique(arc_cls[bad])] = False
    return len(uniq), arc_cls.astype(np.int64), u, v, pure


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


def _localise(idx: IntArray, size: int) -> tuple[IntArray, IntArray]:
    """(the distinct values of ``idx`` in order, the local index of each entry) without sorting."""
    present = np.zeros(size, dtype=bool)
    present[idx] = True
    local = np.cumsum(present, dtype=np.int64) - 1
    return np.flatnonzero(present).astype(np.int64), local[idx]


@dataclass(frozen=True)
class _ChunkResult:
    """A chunk's flows and duals with the global indices of its rows, its certificate and the engine used."""

    x: FloatArray
    s_glob: IntArray
    y_s: FloatArray
    d_glob: IntArray
    y_d: FloatArray
    g_glob: IntArray
    y_g: FloatArray
    certificate: Certificate
    engine: str


def _solve_chunk(kind: str, supply: IntArray, demand: IntArray, group: IntArray, weight: FloatArray,
                 ratio: FloatArray, u: FloatArray, v: FloatArray, s_qty: FloatArray, d_qty: FloatArray,
                 g_cap_all: FloatArray, g_dem_all: IntArray, engines: Sequence[str], lp_method: str,
                 arcs: IntArray) -> _ChunkResult:
    """Solve one chunk (arc index array) and certify it; a pure network whose answer an engine cannot
    certify goes to the next engine, then to the LP."""
    s_glob, s_loc = _localise(supply[arcs], len(s_qty))
    d_glob, d_loc = _localise(demand[arcs], len(d_qty))
    g = group[arcs]
    has_g = g >= 0
    g_glob, g_loc_part = _localise(g[has_g], len(g_cap_all))
    g_loc = np.full(len(arcs), -1, dtype=np.int64)
    g_loc[has_g] = g_loc_part
    batch = Batch(s_loc, d_loc, g_loc, weight[arcs], ratio[arcs], s_qty[s_glob], d_qty[d_glob],
                  g_cap_all[g_glob], np.searchsorted(d_glob, g_dem_all[g_glob]))

    def check(sol: BatchSolution) -> Certificate:
        return certify(supply=batch.supply, demand=batch.demand, group=batch.group, weight=batch.weight,
                       ratio=batch.ratio, s_cap=batch.s_cap, d_cap=batch.d_cap, g_cap=batch.g_cap, x=sol.x,
                       y_s=sol.y_s, y_d=sol.y_d, y_g=sol.y_g)

    problems: list[str] = []
    if kind == "network":
        for engine in engines:
            if engine == "lp":
                break
            try:
                sol = solve_network(batch, u[s_glob], v[d_glob], engine=engine)
            except SolverUnavailable as exc:
                problems.append(str(exc))
                continue
            except SolverError as exc:
                problems.append(f"{engine}: {exc}")
                continue
            cert = check(sol)
            if cert.ok:
                return _ChunkResult(sol.x, s_glob, sol.y_s, d_glob, sol.y_d, g_glob, sol.y_g, cert, sol.engine)
            problems.append(f"{engine}: certificate gap {cert.gap:.2e}, violation {cert.violation:.2e}")
    lp_sol: BatchSolution | None = None
    if lp_method == "restricted" and "lemon" in engines:
        try:  # a restricted master seeded from the network simplex (exact; see matching.flow)
            lp_sol = solve_lp_restricted(batch, u[s_glob], v[d_glob])
        except SolverError as exc:
            problems.append(f"restricted master: {exc}")
    sol = lp_sol if lp_sol is not None else solve_lp(batch)
    cert = check(sol)
    if not cert.ok:
        raise SolverError(f"no engine certified a batch of {len(arcs)} arcs ({'; '.join(problems)}; HiGHS: "
                          f"gap {cert.gap:.2e}, violation {cert.violation:.2e})")
    return _ChunkResult(sol.x, s_glob, sol.y_s, d_glob, sol.y_d, g_glob, sol.y_g, cert, sol.engine)


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
    return len(arcs) * math.log(len(arcs) + 2) * (8.0 if kind == "lp" else 1.0)


def _solve_job(job: Sequence[tuple[str, IntArray]], common: tuple[Any, ...] | int) -> list[_ChunkResult]:
    """Solve the chunks of one job (in a forked worker, ``common`` is the key of the inherited arrays)."""
    arrays = _SHARED[common] if isinstance(common, int) else common
    solve: Any = _solve_chunk  # the arrays' count and types are _solve_chunk's
    return [solve(kind, *arrays, arcs) for kind, arcs in job]


def solve_linear(cands: CandidateSet, weight: FloatArray | None = None, *, decompose: bool = True,
                 workers: int | None = None, force_lp: bool = False, batch_arcs: int = BATCH_ARCS,
                 engines: Sequence[str] = ENGINES, lp_method: str = "highs") -> LinearSolution:
    """Solve the linear model exactly on a candidate set, with a dual certificate.

    Parameters
    ----------
    cands : CandidateSet
    weight : array, optional
        Objective coefficient per candidate (default the unit benefit). Arcs with weight ≤ 0 get no flow.
    decompose : bool
        Solve material classes (and components) separately (default). ``False`` solves everything as one
        problem (used by the tests to check that decomposing changes nothing).
    workers : int, optional
        Worker processes (default: ``min(2, cpu count)`` for large problems, 1 otherwise).
    force_lp : bool
        Use the LP solver for every batch (a check on the network path).
    batch_arcs : int
        Parts smaller than this are merged into one solver call of about this many arcs.
    engines : sequence of str
        Pure-network engines in the order tried (default ``("lemon", "ortools")``; the tests use
        ``("ortools",)`` as an oracle). A batch no engine certifies goes to the LP.
    lp_method : {"highs", "restricted"}
        Generalised batches: HiGHS on all their arcs (default: dual simplex, interior point from
        ``LP_IPM_MIN_ARCS``), or a restricted master seeded by the network simplex
        (:func:`matching.flow.solve_lp_restricted`; faster on some instances, much slower on others — see
        docs/matcher.md).

    Returns
    -------
    LinearSolution
        With ``certificate``: the objective, the dual bound and their relative gap (≤ ``CERTIFICATE_GAP``).

    Raises
    ------
    SolverError
        When a solver ends without an optimal status and no other engine certifies the batch.

    Examples
    --------
    >>> from matching.api import match
    >>> doc = {"sites": [{"id": "a", "lat": 30.0, "lon": 110.0}],
    ...        "supplies": [{"id": "s", "site": "a", "material": "slag", "quantity": 5}],
    ...        "demands": [{"id": "d", "site": "a", "material": "slag", "quantity": 3}],
    ...        "parameters": {"use_knowledge_base": False, "prices": {"slag": 10},
    ...                       "transport": {"road": {"cost_per_tkm": 0.4}}}}
    >>> match(doc).stats.extra["certificate"]["bound"]
    30.0
    """
    t0 = time.perf_counter()
    n_s, n_d = len(cands.supply_qty), len(cands.demand_qty)
    w = cands.unit_benefit if weight is None else np.asarray(weight, dtype=np.float64)
    flow = np.zeros(len(cands))
    active = np.flatnonzero(w > 0)
    if len(active) == 0:
        return LinearSolution(flow, 0, 0, 0, "none", time.perf_counter() - t0, Certificate(0.0, 0.0, 0.0, 0.0))
    sub = cands.subset(active) if len(active) < len(cands) else cands
    w_sub = w[active]
    engines = ("lp",) if force_lp else tuple(engines)
    n_cls, arc_cls, u, v, pure_cls = _material_classes(sub, n_s, n_d)
    items: list[tuple[str, IntArray]] = []
    if decompose:
        items += [("network", ch) for ch in _chunks(arc_cls, np.flatnonzero(pure_cls), batch_arcs)]
        n_parts = n_net = int(pure_cls.sum())
        n_lp = 0
        impure = np.flatnonzero(~pure_cls[arc_cls])
        if len(impure):
            part = sub.subset(impure)
            n_comp, arc_comp = arc_components(part, n_s, n_d)
            u_c, v_c, pure_comp = _node_scales(part, n_s, n_d, arc_comp, n_comp)
            u[part.supply] = u_c[part.supply]
            v[part.demand] = v_c[part.demand]
            items += [("network", impure[ch]) for ch in _chunks(arc_comp, np.flatnonzero(pure_comp), batch_arcs)]
            items += [("lp", impure[ch]) for ch in _chunks(arc_comp, np.flatnonzero(~pure_comp), batch_arcs)]
            n_parts += n_comp
            n_net += int(pure_comp.sum())
            n_lp += n_comp - int(pure_comp.sum())
    else:
        kind = "network"
        if not pure_cls.all():
            u_c, v_c, pure_one = _node_scales(sub, n_s, n_d, np.zeros(len(sub), dtype=np.int64), 1)
            u, v = u_c, v_c
            kind = "network" if pure_one[0] else "lp"
        items = [(kind, np.arange(len(sub)))]
        n_parts, n_net, n_lp = 1, int(kind == "network"), int(kind == "lp")

    n_workers = workers if workers is not None else (
        min(2, os.cpu_count() or 1) if len(sub) >= PARALLEL_MIN_ARCS else 1)
    # one job per worker, longest-processing-time-first over both kinds (an LP arc costs more than a flow arc)
    jobs: list[list[tuple[str, IntArray]]] = [[] for _ in range(max(1, n_workers))]
    loads = [0.0] * len(jobs)
    for kind, ch in sorted(items, key=lambda it: _work(*it), reverse=True):
        b = loads.index(min(loads))
        jobs[b].append((kind, ch))
        loads[b] += _work(kind, ch)
    jobs = [job for job in jobs if job]

    common = (sub.supply, sub.demand, sub.share_group, w_sub, sub.ratio, u, v, sub.supply_qty,
              sub.demand_qty, sub.group_cap, sub.group_demand, engines, lp_method)
    results: list[list[_ChunkResult]]
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
    used: set[str] = set()
    objective = bound = violation = 0.0
    for job, chunk_results in zip(jobs, results, strict=True):
        for (_kind, arcs), res in zip(job, chunk_results, strict=True):
            sub_flow[arcs] = res.x
            used.add(res.engine)
            objective += res.certificate.objective
            bound += res.certificate.bound
            violation = max(violation, res.certificate.violation)
    flow[active] = sub_flow
    # the batches share no row, so the bounds add up to a bound of the whole problem
    cert = Certificate(objective, bound, max(bound - objective, 0.0) / max(1.0, abs(objective)), violation)
    if not cert.ok:  # pragma: no cover - every batch was certified; a sum cannot fail unless by rounding
        raise SolverError(f"the answer's certificate fails: gap {cert.gap:.2e}, violation {cert.violation:.2e}")
    solver = "+".join(name for name in ("lemon-network-simplex", "ortools-min-cost-flow", "highs-lp")
                      if name in used)
    return LinearSolution(flow, n_parts, n_net, n_lp, solver, time.perf_counter() - t0, cert, n_cls)

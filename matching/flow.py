"""Exact solvers for one batch of the linear model, each returning its flows and the LP duals that certify them.

A batch is a set of candidate arcs with local indices (supplies ``0..ns−1``, demands ``0..nd−1``, share groups
``0..ng−1``)::

    maximise    Σ_a w_a · x_a
    subject to  Σ_(a out of s) x_a          ≤ q_s      (dual y_s ≥ 0)
                Σ_(a into d)   ρ_a · x_a    ≤ q_d      (dual y_d ≥ 0)
                Σ_(a in g)     ρ_a · x_a    ≤ c_g      (dual y_g ≥ 0)
                x ≥ 0

Every solver here returns ``x`` and the duals ``y``; :mod:`matching.certificate` turns them into a bound that
proves how far ``x`` can be from the optimum.

**Pure networks** (ratios ``ρ_a = v_d / u_s`` for node scales ``u``, ``v``; ``y = x / u_s``) become a
min-cost flow: supply ``s`` (``q_s/u_s``) → [share node ``g``, capacity ``c_g/v_d``] → demand ``d``
(capacity ``q_d/v_d``) → sink ``t``, plus a bypass ``s → t`` for what stays unmatched. Integer data:
quantities × ``q_scale`` (a power of ten, floored so the flow stays feasible, total ≤ ``FLOW_RESOLUTION``:
2^50 for LEMON, 2^40 for OR-Tools), costs ``−w_a·u_s`` × ``c_scale`` (rounded, largest ≤ ``COST_RESOLUTION``:
2^40 and 2^31, and small enough that neither LEMON's potentials nor OR-Tools' internal cost scaling can
overflow int64); at these resolutions LEMON's answers on the benchmarks are certified within ~1e-10.
Every arc out of ``s``, the bypass included, gets ``+W_s = max_a (w_a·u_s·c_scale)``: each unit of supply
leaves ``s`` once, so this shifts the objective by a constant and makes every cost ≥ 0, as LEMON's network
simplex requires.

- ``lemon``: LEMON's network simplex (block-search pivoting) from the ``pylmcf`` wheel. It raises on a
  non-optimal status, so flows are read only after a successful solve; the node potentials ``π`` come with
  the optimum (reduced cost ``c_uv + π_u − π_v``).
- ``ortools``: OR-Tools' ``SimpleMinCostFlow`` (cost-scaling push-relabel), the fallback and the test
  oracle. Its status is checked before any flow is read; potentials are shortest-path distances in the
  residual graph (Bellman–Ford, exact in integers).

From potentials (shift undone, in yuan per unit of ``y``): ``y_s = max(0, π_s − π_t)/u_s``,
``y_d = max(0, π_t − π_d)/v_d``, ``y_g = max(0, π_d − π_g)/v_d``.

**Generalised networks**: the LP above with HiGHS on sparse matrices (``scipy.optimize.linprog``), dual
simplex, or interior point with crossover (still a vertex) from ``LP_IPM_MIN_ARCS`` arcs; the duals are the
negated marginals of the rows. On request, a restricted master warm-started from the network part
(:func:`solve_lp_restricted`; measured faster on some instances and much slower on others): LEMON solves
the batch with the ratios of a spanning tree's node scales (exact on the tree, approximate elsewhere); its
support plus each supply's best arcs form the first restricted LP; every round prices *all* arcs with the
LP's duals (``w_a − y_s − ρ_a (y_d + y_g)``) and adds the violating ones, until none is left — then the
restricted optimum is the batch's optimum (LP duality), which the certificate checks again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from matching.errors import SolverError, SolverUnavailable

__all__ = ["COST_RESOLUTION", "FLOW_RESOLUTION", "Batch", "BatchSolution", "solve_lp", "solve_lp_restricted",
           "solve_network"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: per engine, the largest total integer flow of a batch (quantities are scaled so that Σ q_s/u_s maps to this
#: or less) and the largest integer arc cost (the largest w·u maps to this, or less when the batch is so large
#: that potentials could overflow int64: LEMON's stay within (nodes + 1) · cost + its artificial cost 2^62;
#: OR-Tools multiplies costs by (nodes + 1) internally and sums cost × flow)
FLOW_RESOLUTION = {"lemon": 2**50, "ortools": 2**40}
COST_RESOLUTION = {"lemon": 2**40, "ortools": 2**31}
_COST_TIMES_NODES = {"lemon": 2**58, "ortools": 2**60}
#: LP batches with at least this many arcs use HiGHS' interior point method (with crossover, so the answer
#: is still a vertex): on the large degenerate transportation LPs here it beats dual simplex several times
LP_IPM_MIN_ARCS = 150_000
#: at most this many violating arcs (the most violated) join the restricted LP per round
RESTRICTED_ADD = 20_000


@dataclass(frozen=True)
class Batch:
    """One batch of arcs with local indices; ``g_dem`` is the local demand of each share group."""

    supply: IntArray
    demand: IntArray
    group: IntArray  # −1: no share limit
    weight: FloatArray
    ratio: FloatArray
    s_cap: FloatArray
    d_cap: FloatArray
    g_cap: FloatArray
    g_dem: IntArray


@dataclass(frozen=True)
class BatchSolution:
    """Flow per arc (supply units) and the duals of the supply, demand and share rows (all ≥ 0)."""

    x: FloatArray
    y_s: FloatArray
    y_d: FloatArray
    y_g: FloatArray
    engine: str


@dataclass(frozen=True)
class _IntegerNetwork:
    tails: IntArray
    heads: IntArray
    caps: IntArray
    costs: IntArray
    supplies: IntArray
    q_scale: float
    c_scale: float
    shift: IntArray  # W_s per supply node
    n_arcs: int  # the first n_arcs arcs are the batch's candidate arcs


def _units(cap: FloatArray, q_scale: float) -> IntArray:
    """Capacities in integer units: floored (the flow stays feasible), except that a product within 1e-6 of
    an integer is that integer (``12345.6 × 1000`` is 12345599.999999998 in floats, and means 12345600)."""
    scaled = cap * q_scale
    near = np.rint(scaled)
    return np.where(np.abs(scaled - near) <= 1e-6, near, np.floor(scaled)).astype(np.int64)


def _integer_network(b: Batch, u: FloatArray, v: FloatArray, engine: str) -> _IntegerNetwork:
    """The batch as an integer min-cost flow with costs ≥ 0 for ``engine`` (see the module docstring)."""
    ns, nd, ng = len(b.s_cap), len(b.d_cap), len(b.g_cap)
    sink = ns + nd + ng
    n_nodes = sink + 1
    s_cap = b.s_cap / u
    d_cap = b.d_cap / v
    g_cap = b.g_cap / v[b.g_dem]
    total = float(s_cap.sum())
    # a power of ten, so that quantities with few decimals stay exact integers
    q_scale = 10.0 ** math.floor(math.log10(FLOW_RESOLUTION[engine] / total))
    s_int, d_int, g_int = (_units(cap, q_scale) for cap in (s_cap, d_cap, g_cap))
    value = b.weight * u[b.supply]  # yuan per unit of y
    cost_max = min(COST_RESOLUTION[engine], _COST_TIMES_NODES[engine] // (n_nodes + 1))
    c_scale = cost_max / float(np.max(value))
    gain = np.rint(value * c_scale).astype(np.int64)
    if np.any(gain > cost_max) or np.any(gain < 0):  # overflow check (cannot happen by construction)
        raise SolverError("cost scaling out of range")
    shift = np.zeros(ns, dtype=np.int64)
    np.maximum.at(shift, b.supply, gain)
    head = np.where(b.group >= 0, ns + nd + b.group, ns + b.demand)
    tails = np.concatenate([b.supply, np.arange(ns), ns + np.arange(nd), ns + nd + np.arange(ng)])
    heads = np.concatenate([head, np.full(ns, sink), np.full(nd, sink), ns + b.g_dem])
    caps = np.concatenate([s_int[b.supply], s_int, d_int, g_int])
    costs = np.concatenate([shift[b.supply] - gain, shift, np.zeros(nd + ng, dtype=np.int64)])
    supplies = np.zeros(n_nodes, dtype=np.int64)
    supplies[:ns] = s_int
    supplies[sink] = -int(s_int.sum())
    return _IntegerNetwork(tails.astype(np.int64), heads.astype(np.int64), caps, costs, supplies, q_scale,
                           c_scale, shift, len(b.supply))


def _lemon(net: _IntegerNetwork) -> tuple[IntArray, IntArray]:
    """LEMON's network simplex: (flow per arc, potential per node)."""
    try:
        from pylmcf.pylmcf_cpp import CGraph
    except ImportError as exc:  # pragma: no cover - pylmcf is a dependency; the fallback covers its absence
        raise SolverUnavailable(f"pylmcf (LEMON's network simplex) is not installed: {exc}") from exc
    n_nodes = len(net.supplies)
    order = np.argsort(net.tails * n_nodes + net.heads, kind="stable")  # the graph wants arcs by (tail, head)
    graph = CGraph(n_nodes, net.tails[order].astype(np.int32), net.heads[order].astype(np.int32))
    graph.set_node_supply(net.supplies)
    graph.set_edge_capacities(net.caps[order])
    graph.set_edge_costs(net.costs[order])
    try:
        graph.solve()  # raises unless the status is OPTIMAL
    except RuntimeError as exc:
        raise SolverError(f"network simplex: {exc}") from exc
    flow = np.empty(len(order), dtype=np.int64)
    flow[order] = graph.result()
    return flow, np.asarray(graph.potentials(), dtype=np.int64)


def _ortools(net: _IntegerNetwork, *, duals: bool = True) -> tuple[IntArray, IntArray]:
    """OR-Tools' min-cost flow, potentials from the residual graph (zeros without ``duals``): (flow per arc,
    potential per node)."""
    from ortools.graph.python import min_cost_flow

    n_nodes = len(net.supplies)
    mcf = min_cost_flow.SimpleMinCostFlow()
    mcf.add_arcs_with_capacity_and_unit_cost(net.tails.astype(np.int32), net.heads.astype(np.int32), net.caps,
                                            net.costs)
    mcf.set_nodes_supplies(np.arange(n_nodes, dtype=np.int32), net.supplies)
    status = mcf.solve()
    if status != mcf.OPTIMAL:  # never read flows after another status: OR-Tools may crash the process
        raise SolverError(f"min-cost flow ended with status {status}")
    flow = mcf.flows(np.arange(len(net.tails), dtype=np.int32)).astype(np.int64)
    if not duals:
        return flow, np.zeros(n_nodes, dtype=np.int64)
    return flow, residual_potentials(net.tails, net.heads, net.caps, net.costs, flow, n_nodes)


def residual_potentials(tails: IntArray, heads: IntArray, caps: IntArray, costs: IntArray, flow: IntArray,
                        n_nodes: int) -> IntArray:
    """Potentials ``π`` with ``c_uv + π_u − π_v ≥ 0`` on every residual arc of an optimal integer flow.

    Shortest-path distances from a virtual root joined to every node by a 0-cost arc, with Bellman–Ford
    (exact: integer costs, sums far below 2^53). Raises :class:`SolverError` on a negative cycle (the flow
    was not optimal).
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import NegativeCycleError, bellman_ford

    fwd = flow < caps
    bwd = flow > 0
    root = n_nodes
    u = np.concatenate([tails[fwd], heads[bwd], np.full(n_nodes, root)])
    v = np.concatenate([heads[fwd], tails[bwd], np.arange(n_nodes)])
    c = np.concatenate([costs[fwd], -costs[bwd], np.zeros(n_nodes, dtype=np.int64)])
    key = u * (n_nodes + 1) + v
    order = np.lexsort((c, key))  # the cheapest of parallel residual arcs first
    key, c = key[order], c[order]
    first = np.concatenate([[True], key[1:] != key[:-1]])
    key, c = key[first], c[first]
    graph = csr_matrix((c.astype(np.float64), (key // (n_nodes + 1), key % (n_nodes + 1))),
                       shape=(n_nodes + 1, n_nodes + 1))
    try:
        dist = bellman_ford(graph, directed=True, indices=root)
    except NegativeCycleError as exc:
        raise SolverError("min-cost flow: the flow is not optimal (negative residual cycle)") from exc
    return np.rint(dist[:n_nodes]).astype(np.int64)


def solve_network(b: Batch, u: FloatArray, v: FloatArray, *, engine: str = "lemon",
                  duals: bool = True) -> BatchSolution:
    """A pure-network batch by min-cost flow (``engine``: ``lemon`` or ``ortools``).

    Parameters
    ----------
    b : Batch
    u, v : arrays
        Node scales per local supply and demand with ``ρ_a = v_d / u_s`` on every arc.
    engine : {"lemon", "ortools"}
    duals : bool
        ``False`` skips OR-Tools' potentials (Bellman–Ford on the residual graph, often slower than the solve
        itself): the duals are then zeros and cannot certify anything. For timing the solver alone
        (benchmarks); LEMON's potentials come with its solve.

    Returns
    -------
    BatchSolution

    Raises
    ------
    SolverError
        When the solver ends without an optimal status (flows are then never read).
    SolverUnavailable
        When the engine is not installed.
    """
    ns, nd = len(b.s_cap), len(b.d_cap)
    if len(b.supply) == 0 or float(b.s_cap.sum()) <= 0:
        zero = np.zeros
        return BatchSolution(zero(len(b.supply)), zero(ns), zero(nd), zero(len(b.g_cap)), engine)
    if engine not in FLOW_RESOLUTION:
        raise SolverUnavailable(f"unknown network engine '{engine}' (expected lemon or ortools)")
    net = _integer_network(b, u, v, engine)
    flow, pot = _lemon(net) if engine == "lemon" else _ortools(net, duals=duals)
    x = flow[: net.n_arcs] / net.q_scale * u[b.supply]
    if not duals and engine != "lemon":
        return BatchSolution(x, np.zeros(ns), np.zeros(nd), np.zeros(len(b.g_cap)), "ortools-min-cost-flow")
    pot = pot.copy()
    pot[:ns] += net.shift  # undo the cost shift on the arcs out of each supply
    sink = len(pot) - 1
    p_s, p_d, p_g, p_t = pot[:ns], pot[ns:ns + nd], pot[ns + nd:sink], pot[sink]
    # integer differences first (potentials may sit near LEMON's artificial cost 2^62), then to yuan
    y_s = np.maximum(p_s - p_t, 0) / net.c_scale / u
    y_d = np.maximum(p_t - p_d, 0) / net.c_scale / v
    y_g = np.maximum(p_d[b.g_dem] - p_g, 0) / net.c_scale / v[b.g_dem]
    return BatchSolution(x, y_s.astype(np.float64), y_d.astype(np.float64), y_g.astype(np.float64),
                         "lemon-network-simplex" if engine == "lemon" else "ortools-min-cost-flow")


def solve_lp(b: Batch) -> BatchSolution:
    """A batch as an LP with HiGHS (any ratios).

    Raises
    ------
    SolverError
        When HiGHS ends without an optimal status (values are then never read).
    """
    from scipy.optimize import linprog
    from scipy.sparse import csr_matrix

    k = len(b.supply)
    ns, nd, ng = len(b.s_cap), len(b.d_cap), len(b.g_cap)
    if k == 0:
        return BatchSolution(np.zeros(0), np.zeros(ns), np.zeros(nd), np.zeros(ng), "highs-lp")
    cols = np.arange(k)
    gsel = b.group >= 0
    rows = np.concatenate([b.supply, ns + b.demand, ns + nd + b.group[gsel]])
    cc = np.concatenate([cols, cols, cols[gsel]])
    vals = np.concatenate([np.ones(k), b.ratio, b.ratio[gsel]])
    a_ub = csr_matrix((vals, (rows, cc)), shape=(ns + nd + ng, k))
    b_ub = np.concatenate([b.s_cap, b.d_cap, b.g_cap])
    method = "highs-ipm" if k >= LP_IPM_MIN_ARCS else "highs"
    res = linprog(-b.weight, A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method=method)
    if res.status != 0:  # never read values after another status
        raise SolverError(f"HiGHS LP ended with status {res.status}: {res.message}")
    y = np.maximum(-np.asarray(res.ineqlin.marginals, dtype=np.float64), 0.0)
    return BatchSolution(np.maximum(np.asarray(res.x, dtype=np.float64), 0.0), y[:ns], y[ns:ns + nd],
                         y[ns + nd:], "highs-lp")


def solve_lp_restricted(b: Batch, u: FloatArray, v: FloatArray, *, best_per_supply: int = 3,
                        max_rounds: int = 50) -> BatchSolution:
    """The LP of a generalised batch by a restricted master seeded from the network simplex (exact).

    Parameters
    ----------
    b : Batch
    u, v : arrays
        Node scales per local supply and demand from a spanning tree (``v_d / u_s`` is exact on the tree's
        arcs and approximates ``ρ`` elsewhere): the seed network uses these ratios.
    best_per_supply : int
        Each supply's best arcs (by weight) also join the first restricted LP.
    max_rounds : int
        Rounds before giving up (:class:`SolverError`; the caller then solves the full LP).

    Returns
    -------
    BatchSolution
        ``x`` over all arcs (0 outside the final restricted set) and the final duals, which price every arc
        within the tolerance: the optimum of the batch.

    Raises
    ------
    SolverError
        When HiGHS fails or the rounds do not converge.
    """
    k = len(b.supply)
    approx = Batch(b.supply, b.demand, b.group, b.weight, v[b.demand] / u[b.supply], b.s_cap, b.d_cap, b.g_cap,
                   b.g_dem)
    seed = solve_network(approx, u, v, engine="lemon").x
    order = np.lexsort((-b.weight, b.supply))
    starts = np.flatnonzero(np.concatenate([[True], b.supply[order][1:] != b.supply[order][:-1]]))
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k) - np.repeat(starts, np.diff(np.concatenate([starts, [k]])))
    chosen = (seed > 0) | (rank < best_per_supply)
    has_g = b.group >= 0
    g_idx = np.where(has_g, b.group, 0)
    tol = 1e-9 * np.maximum(1.0, np.abs(b.weight))
    for _ in range(max_rounds):
        sel = np.flatnonzero(chosen)
        sol = solve_lp(Batch(b.supply[sel], b.demand[sel], b.group[sel], b.weight[sel], b.ratio[sel], b.s_cap,
                             b.d_cap, b.g_cap, b.g_dem))
        y_g_arc = np.where(has_g, sol.y_g[g_idx] if len(sol.y_g) else 0.0, 0.0)
        reduced = b.weight - sol.y_s[b.supply] - b.ratio * (sol.y_d[b.demand] + y_g_arc)
        violating = np.flatnonzero((reduced > tol) & ~chosen)
        if len(violating) == 0:
            x = np.zeros(k)
            x[sel] = sol.x
            return BatchSolution(x, sol.y_s, sol.y_d, sol.y_g, "highs-lp")
        if len(violating) > RESTRICTED_ADD:
            violating = violating[np.argsort(-reduced[violating])[:RESTRICTED_ADD]]
        chosen[violating] = True
    raise SolverError(f"restricted master did not converge in {max_rounds} rounds")

"""`make bench`: time the matcher at national scale and compare it with peers on the same candidate arcs.

    python -m benchmarks.run                      # 2k, 20k, 100k streams (network and generalised) + MILP 2k
    python -m benchmarks.run --sizes 2000 --no-milp --highs-limit 60
    python -m benchmarks.run --sizes 20000 --kinds mix --reach 1.0   # a generalised network the LP solves

For each size: seconds to load the JSON file, build candidates and solve (the whole process), then on the
same arcs: scipy's HiGHS LP (time ratio), networkx network_simplex where it finishes (pure networks up to
--nx-max-arcs), and a greedy nearest-first matcher (benefit reached ÷ optimum). Figures, not pass/fail.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import csr_matrix

from benchmarks.generate import generate
from matching.candidates import CandidateSet, build_candidates
from matching.economics import resolve_economics
from matching.scenario import load_scenario
from matching.solve import solve_linear


def highs_lp(c: CandidateSet, time_limit: float) -> tuple[float, float | None]:
    """scipy HiGHS on the same arcs: (seconds, objective or None if it hit the limit)."""
    k = len(c)
    ns, nd, ng = len(c.supply_qty), len(c.demand_qty), len(c.group_cap)
    cols = np.arange(k)
    gsel = c.share_group >= 0
    a = csr_matrix((np.concatenate([np.ones(k), c.ratio, c.ratio[gsel]]),
                    (np.concatenate([c.supply, ns + c.demand, ns + nd + c.share_group[gsel]]),
                     np.concatenate([cols, cols, cols[gsel]]))), shape=(ns + nd + ng, k))
    b = np.concatenate([c.supply_qty, c.demand_qty, c.group_cap])
    t = time.perf_counter()
    res = linprog(-c.unit_benefit, A_ub=a, b_ub=b, bounds=(0, None), method="highs",
                  options={"time_limit": time_limit})
    dt = time.perf_counter() - t
    return dt, (float(-res.fun) if res.status == 0 else None)


def nx_simplex(c: CandidateSet) -> tuple[float, float]:
    """networkx network_simplex on the pure network (integer data: kg and 1e-3 yuan)."""
    import networkx as nx

    g = nx.DiGraph()
    ns = len(c.supply_qty)
    q_s = np.floor(c.supply_qty * 1000).astype(int)
    q_d = np.floor(c.demand_qty * 1000).astype(int)
    total = int(q_s.sum())
    for i in np.unique(c.supply).tolist():
        g.add_node(("s", i), demand=-int(q_s[i]))
        g.add_edge(("s", i), "sink", weight=0, capacity=int(q_s[i]))
    g.add_node("sink", demand=int(sum(q_s[i] for i in np.unique(c.supply).tolist())))
    for j in np.unique(c.demand).tolist():
        g.add_edge(("d", j), "sink", weight=0, capacity=int(q_d[j]))
    for s, d, b in zip(c.supply.tolist(), c.demand.tolist(), c.unit_benefit.tolist(), strict=True):
        g.add_edge(("s", s), ("d", d), weight=-round(b * 1000), capacity=total)
    del ns
    t = time.perf_counter()
    _cost, flow = nx.network_simplex(g)
    dt = time.perf_counter() - t
    obj = sum(f * c.unit_benefit[a] for a, (s, d) in enumerate(zip(c.supply.tolist(), c.demand.tolist(),
                                                                     strict=True))
              for f in [flow[("s", s)].get(("d", d), 0) / 1000])
    return dt, float(obj)


def greedy_nearest(c: CandidateSet) -> float:
    """Nearest-first: walk the pairs by distance and move as much as the remaining quantities allow."""
    s_left = c.supply_qty.copy()
    d_left = c.demand_qty.copy()
    g_left = c.group_cap.copy()
    total = 0.0
    for a in np.argsort(c.distance_km, kind="stable").tolist():
        s, d, r, g = int(c.supply[a]), int(c.demand[a]), float(c.ratio[a]), int(c.share_group[a])
        x = min(s_left[s], d_left[d] / r, g_left[g] / r if g >= 0 else math.inf)
        if x <= 0:
            continue
        s_left[s] -= x
        d_left[d] -= x * r
        if g >= 0:
            g_left[g] -= x * r
        total += x * float(c.unit_benefit[a])
    return total


def bench_linear(n: int, kind: str, args: argparse.Namespace) -> dict[str, Any]:
    generalised = kind in ("gen", "mix")
    doc = generate(n, seed=args.seed, generalised=generalised, mixed=kind == "mix", reach=args.reach)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scenario.json"
        path.write_text(json.dumps(doc))
        t0 = time.perf_counter()
        scenario = load_scenario(path)
        t1 = time.perf_counter()
    econ = resolve_economics(scenario)
    cands = build_candidates(scenario, econ)
    t2 = time.perf_counter()
    sol = solve_linear(cands, workers=args.workers)
    t3 = time.perf_counter()
    opt = float(np.dot(sol.flow, cands.unit_benefit))
    row: dict[str, Any] = {"case": f"{n // 1000}k {kind}", "streams": n,
                           "pairs": len(cands), "load": t1 - t0, "cand": t2 - t1, "solve": t3 - t2,
                           "total": t3 - t0, "objective": opt, "solver": sol.solver}
    if not args.no_highs:
        h_t, h_obj = highs_lp(cands, args.highs_limit)
        row["highs"] = h_t
        row["highs_done"] = h_obj is not None
        row["x_highs"] = h_t / max(t3 - t2, 1e-9)
        row["highs_rel_diff"] = abs(h_obj - opt) / max(abs(opt), 1.0) if h_obj is not None else None
    if not generalised and len(cands) <= args.nx_max_arcs:
        nx_t, nx_obj = nx_simplex(cands)
        row["nx"] = nx_t
        row["x_nx"] = nx_t / max(t3 - t2, 1e-9)
        row["nx_rel_diff"] = abs(nx_obj - opt) / max(abs(opt), 1.0)
    row["greedy"] = greedy_nearest(cands) / opt if opt > 0 else float("nan")
    return row


def bench_milp(n: int, args: argparse.Namespace) -> dict[str, Any]:
    from matching.api import match

    doc = generate(n, seed=args.seed, milp=True, regional=True)
    scenario = load_scenario(doc)
    t0 = time.perf_counter()
    result = match(scenario, mode="milp", time_limit=args.milp_limit)
    dt = time.perf_counter() - t0
    return {"case": f"{n // 1000}k milp", "streams": n, "pairs": result.stats.candidates, "status": result.status,
            "gap": result.objective.gap, "total": dt, "links": len(result.links),
            "binaries": result.stats.extra.get("binaries")}


def fmt(x: Any, spec: str = ".2f") -> str:
    if x is None:
        return "—"
    if isinstance(x, float) and math.isnan(x):
        return "—"
    return format(x, spec) if isinstance(x, int | float) else str(x)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000, 100000])
    parser.add_argument("--kinds", nargs="+", default=["net", "gen"], choices=["net", "gen", "mix"],
                        help="net: ratios 1; gen: ratios ≠ 1 and max shares (pure after node scaling); "
                             "mix: gen plus rules with cycle-inconsistent ratios (solved by the LP)")
    parser.add_argument("--reach", type=float, default=1.3,
                        help="scales the stated maximum distances (1.3: about 1.5M pairs at 100k gen)")
    parser.add_argument("--milp-size", type=int, default=2000)
    parser.add_argument("--no-milp", action="store_true")
    parser.add_argument("--milp-limit", type=float, default=60.0)
    parser.add_argument("--no-highs", action="store_true")
    parser.add_argument("--highs-limit", type=float, default=120.0, help="seconds per HiGHS run")
    parser.add_argument("--nx-max-arcs", type=int, default=60_000)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    rows = []
    head = (f"{'case':<10} {'pairs':>9} {'load s':>7} {'cand s':>7} {'solve s':>8} {'total s':>8} "
            f"{'HiGHS s':>8} {'×HiGHS':>7} {'nx s':>7} {'×nx':>6} {'greedy':>7}  Δobj")
    print(head)
    print("-" * len(head))
    for n in args.sizes:
        for kind in args.kinds:
            r = bench_linear(n, kind, args)
            rows.append(r)
            highs = fmt(r.get("highs")) + ("" if r.get("highs_done", True) else "+")
            diff = max(v for v in (r.get("highs_rel_diff"), r.get("nx_rel_diff"), 0.0) if v is not None)
            print(f"{r['case']:<10} {r['pairs']:>9} {r['load']:>7.2f} {r['cand']:>7.2f} {r['solve']:>8.2f} "
                  f"{r['total']:>8.2f} {highs:>8} {fmt(r.get('x_highs'), '.1f'):>7} {fmt(r.get('nx')):>7} "
                  f"{fmt(r.get('x_nx'), '.1f'):>6} {fmt(r['greedy'], '.3f'):>7}  {diff:.1e}", flush=True)
    if not args.no_milp:
        m = bench_milp(args.milp_size, args)
        rows.append(m)
        print(f"{m['case']:<10} {m['pairs']:>9} status {m['status']}, gap {fmt(m['gap'], '.2%')}, "
              f"{m['total']:.1f} s, {m['links']} links, {m['binaries']} binaries", flush=True)
    print("HiGHS '+' = stopped at --highs-limit (ratio is then a lower bound). greedy = benefit of nearest-first "
          "÷ optimum. Δobj = largest relative difference of the optimum found by the peers.")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    main()

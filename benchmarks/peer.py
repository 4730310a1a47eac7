"""A peer's whole process, for `make bench`: the same load, candidates and result writing as `isx match`, with
another solver on the same arcs.

    python -m benchmarks.peer SCENARIO OUT --solver highs [--time-limit 300]
    python -m benchmarks.peer SCENARIO OUT --solver ortools

``highs``: scipy's HiGHS LP (``linprog(method="highs")``, its own choice of simplex or interior point) on all
candidate arcs at once, as a modeller would write the model. ``ortools``: OR-Tools' min-cost flow on every pure
network part (the matcher's previous engine; generalised parts by HiGHS as before), with the matcher's
decomposition, in one process, without potentials or certificate. Prints one JSON line: seconds per step,
status, objective.
"""

from __future__ import annotations

import argparse
import time

T0 = time.perf_counter()

import orjson  # noqa: E402  (timed from the first line: imports are part of a whole process)

from matching.api import assemble_result  # noqa: E402
from matching.candidates import build_candidates  # noqa: E402
from matching.economics import resolve_economics  # noqa: E402
from matching.result import json_bytes  # noqa: E402
from matching.scenario import load_scenario  # noqa: E402


def highs(cands, time_limit: float):  # type: ignore[no-untyped-def]
    """(flow or None, status text): scipy's HiGHS on every arc."""
    import numpy as np
    from scipy.optimize import linprog
    from scipy.sparse import csr_matrix

    k = len(cands)
    ns, nd, ng = len(cands.supply_qty), len(cands.demand_qty), len(cands.group_cap)
    cols = np.arange(k)
    gsel = cands.share_group >= 0
    a = csr_matrix((np.concatenate([np.ones(k), cands.ratio, cands.ratio[gsel]]),
                    (np.concatenate([cands.supply, ns + cands.demand, ns + nd + cands.share_group[gsel]]),
                     np.concatenate([cols, cols, cols[gsel]]))), shape=(ns + nd + ng, k))
    b = np.concatenate([cands.supply_qty, cands.demand_qty, cands.group_cap])
    res = linprog(-cands.unit_benefit, A_ub=a, b_ub=b, bounds=(0, None), method="highs",
                  options={"time_limit": time_limit})
    if res.status != 0:
        return None, "time_limit" if res.status == 1 else f"status {res.status}"
    return np.maximum(np.asarray(res.x), 0.0), "optimal"


def ortools(cands):  # type: ignore[no-untyped-def]
    """Flow per arc: OR-Tools' min-cost flow on every pure part (the matcher's material classes and node
    scales), HiGHS on the rest, in one process and without the certificate's potentials (their Bellman–Ford
    would be charged to OR-Tools)."""
    import numpy as np

    from matching.flow import Batch, solve_lp, solve_network
    from matching.solve import _chunks, _localise, _material_classes, _node_scales, arc_components

    n_s, n_d = len(cands.supply_qty), len(cands.demand_qty)
    active = np.flatnonzero(cands.unit_benefit > 0)
    sub = cands.subset(active)
    _, arc_cls, u, v, pure = _material_classes(sub, n_s, n_d)
    items = [("network", ch) for ch in _chunks(arc_cls, np.flatnonzero(pure))]
    impure = np.flatnonzero(~pure[arc_cls])
    if len(impure):
        part = sub.subset(impure)
        n_comp, comp = arc_components(part, n_s, n_d)
        u_c, v_c, pure_c = _node_scales(part, n_s, n_d, comp, n_comp)
        u[part.supply], v[part.demand] = u_c[part.supply], v_c[part.demand]
        items += [("network", impure[ch]) for ch in _chunks(comp, np.flatnonzero(pure_c))]
        items += [("lp", impure[ch]) for ch in _chunks(comp, np.flatnonzero(~pure_c))]
    x = np.zeros(len(sub))
    for kind, arcs in items:
        s_glob, s_loc = _localise(sub.supply[arcs], n_s)
        d_glob, d_loc = _localise(sub.demand[arcs], n_d)
        g = sub.share_group[arcs]
        g_glob, g_part = _localise(g[g >= 0], len(sub.group_cap))
        g_loc = np.full(len(arcs), -1, dtype=np.int64)
        g_loc[g >= 0] = g_part
        b = Batch(s_loc, d_loc, g_loc, sub.unit_benefit[arcs], sub.ratio[arcs], sub.supply_qty[s_glob],
                  sub.demand_qty[d_glob], sub.group_cap[g_glob], np.searchsorted(d_glob, sub.group_demand[g_glob]))
        sol = (solve_network(b, u[s_glob], v[d_glob], engine="ortools", duals=False) if kind == "network"
               else solve_lp(b))
        x[arcs] = sol.x
    flow = np.zeros(len(cands))
    flow[active] = x
    return flow


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario")
    parser.add_argument("out")
    parser.add_argument("--solver", choices=["highs", "ortools"], required=True)
    parser.add_argument("--time-limit", type=float, default=300.0)
    args = parser.parse_args(argv)
    t_import = time.perf_counter()
    scenario = load_scenario(args.scenario)
    t_load = time.perf_counter()
    econ = resolve_economics(scenario)
    cands = build_candidates(scenario, econ)
    t_cand = time.perf_counter()
    if args.solver == "highs":
        flow, status = highs(cands, args.time_limit)
        name = "highs-lp (all arcs)"
    else:
        flow, status, name = ortools(cands), "optimal", "ortools-min-cost-flow+highs-lp"
    t_solve = time.perf_counter()
    objective = None
    if flow is not None:
        result = assemble_result(scenario, econ, cands, flow, status=status, solver=name, components=0,
                                 seconds={"load": t_load - t_import, "candidates": t_cand - t_load,
                                          "solve": t_solve - t_cand})
        with open(args.out, "wb") as fh:
            fh.write(json_bytes(result.to_json()) + b"\n")
        objective = result.objective.net_benefit
    t_end = time.perf_counter()
    print(orjson.dumps({"status": status, "objective": objective, "pairs": len(cands), "import": t_import - T0,
                        "load": t_load - t_import, "candidates": t_cand - t_load, "solve": t_solve - t_cand,
                        "write": t_end - t_solve}).decode())


if __name__ == "__main__":
    main()

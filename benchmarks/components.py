"""Where the linear mode's time goes: the largest independent parts and each engine's time on them.

    python -m benchmarks.components                       # 100k generalised, reach 1.3 (~1.5M pairs)
    python -m benchmarks.components --size 100000 --kind net --top 3

For the largest parts solved as pure networks (material classes, or components of a class that is not a
pure network) it prints their size and the CPU seconds of LEMON's network simplex and of OR-Tools'
SimpleMinCostFlow on the same integer network, each with its certificate's gap (see matching.certificate).
A part cannot be split further without changing the optimum, so the largest one bounds the solve time however
the others are spread over the cores.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.generate import generate
from matching.candidates import build_candidates
from matching.certificate import certify
from matching.economics import resolve_economics
from matching.flow import Batch, solve_network
from matching.scenario import load_scenario
from matching.solve import _chunks, _localise, _material_classes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--kind", choices=["net", "gen"], default="gen")
    parser.add_argument("--reach", type=float, default=1.3)
    parser.add_argument("--top", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    doc = generate(args.size, seed=args.seed, generalised=args.kind == "gen", reach=args.reach)
    scenario = load_scenario(doc)
    c = build_candidates(scenario, resolve_economics(scenario))
    n_s, n_d = len(c.supply_qty), len(c.demand_qty)
    n_cls, arc_cls, u, v, pure = _material_classes(c, n_s, n_d)
    chunks = sorted(_chunks(arc_cls, np.flatnonzero(pure), batch_arcs=1), key=len, reverse=True)
    print(f"{args.size // 1000}k {args.kind}: {len(c)} pairs, {n_cls} material classes ({int(pure.sum())} pure); "
          f"largest arcs: {[len(ch) for ch in chunks[:6]]}")
    print(f"{'part':>4} {'arcs':>8} {'nodes':>7} {'LEMON s':>8} {'gap':>8} {'OR-Tools s':>10} {'gap':>8}")
    for rank, arcs in enumerate(chunks[: args.top], 1):
        s_glob, s_loc = _localise(c.supply[arcs], n_s)
        d_glob, d_loc = _localise(c.demand[arcs], n_d)
        g = c.share_group[arcs]
        g_glob, g_part = _localise(g[g >= 0], len(c.group_cap))
        g_loc = np.full(len(arcs), -1, dtype=np.int64)
        g_loc[g >= 0] = g_part
        b = Batch(s_loc, d_loc, g_loc, c.unit_benefit[arcs], c.ratio[arcs], c.supply_qty[s_glob],
                  c.demand_qty[d_glob], c.group_cap[g_glob], np.searchsorted(d_glob, c.group_demand[g_glob]))
        row = []
        for engine in ("lemon", "ortools"):
            t0 = time.process_time()
            solve_network(b, u[s_glob], v[d_glob], engine=engine, duals=False)  # the solve alone
            dt = time.process_time() - t0
            sol = solve_network(b, u[s_glob], v[d_glob], engine=engine)  # again with potentials, for the gap
            cert = certify(supply=b.supply, demand=b.demand, group=b.group, weight=b.weight, ratio=b.ratio,
                           s_cap=b.s_cap, d_cap=b.d_cap, g_cap=b.g_cap, x=sol.x, y_s=sol.y_s, y_d=sol.y_d,
                           y_g=sol.y_g)
            row += [dt, cert.gap]
        nodes = len(s_glob) + len(d_glob) + len(g_glob)
        print(f"{rank:>4} {len(arcs):>8} {nodes:>7} {row[0]:>8.2f} {row[1]:>8.1e} {row[2]:>10.2f} {row[3]:>8.1e}")
    print("CPU seconds of one core: build the integer network, solve, read the flows (LEMON: and its potentials; "
          "OR-Tools' potentials, by Bellman-Ford on the residual graph for the gap, are not timed).")


if __name__ == "__main__":
    main()

"""Where the linear mode's time goes at national scale: the largest components and OR-Tools on each.

    python -m benchmarks.components                       # 100k generalised, reach 1.3 (~1.5M pairs)
    python -m benchmarks.components --size 100000 --kind net --top 3

For the largest components of the candidate graph it prints their size and the CPU seconds of OR-Tools'
SimpleMinCostFlow on the whole component, then on the component's optimal support alone (the arcs that
carry flow in the optimum, i.e. the smallest arc set a perfect column generation could end with), both at
the solver's cost resolution. A component cannot be split further without changing the optimum, so the
largest one bounds the solve time however the others are spread over the cores.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.generate import generate
from matching.candidates import build_candidates
from matching.economics import resolve_economics
from matching.scenario import load_scenario
from matching.solve import _chunks, _components, _localise, _node_scales, _solve_network


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
    cands = build_candidates(scenario, resolve_economics(scenario))
    n_s, n_d = len(cands.supply_qty), len(cands.demand_qty)
    n_comp, arc_comp = _components(cands, n_s, n_d)
    u, v, pure = _node_scales(cands, n_s, n_d, arc_comp, n_comp)
    chunks = sorted(_chunks(arc_comp, np.arange(n_comp)[pure], batch_arcs=1), key=len, reverse=True)
    print(f"{args.size // 1000}k {args.kind}: {len(cands)} pairs, {n_comp} components; largest arcs: "
          f"{[len(c) for c in chunks[:6]]}")
    print(f"{'component':>9} {'arcs':>8} {'nodes':>7} {'all arcs s':>11} {'support':>8} {'support s':>10}")
    for rank, arcs in enumerate(chunks[: args.top], 1):
        s_glob, s_loc = _localise(cands.supply[arcs])
        d_glob, d_loc = _localise(cands.demand[arcs])
        g = cands.share_group[arcs]
        g_glob, g_part = _localise(g[g >= 0])
        g_loc = np.full(len(arcs), -1, dtype=np.int64)
        g_loc[g >= 0] = g_part
        d_of_g = np.searchsorted(d_glob, cands.group_demand[g_glob])
        us = u[s_glob]
        weight = cands.unit_benefit[arcs] * us[s_loc]
        caps = (cands.supply_qty[s_glob] / us, cands.demand_qty[d_glob] / v[d_glob],
                cands.group_cap[g_glob] / v[cands.group_demand[g_glob]], d_of_g)
        t0 = time.process_time()
        y = _solve_network(s_loc, d_loc, g_loc, weight, *caps)
        t_all = time.process_time() - t0
        support = np.flatnonzero(y > 0)
        t0 = time.process_time()
        y_sup = _solve_network(s_loc[support], d_loc[support], g_loc[support], weight[support], *caps)
        t_sup = time.process_time() - t0
        same = abs(float(y_sup @ weight[support]) - float(y @ weight)) <= 1e-9 * abs(float(y @ weight))
        nodes = len(s_glob) + len(d_glob) + len(g_glob)
        print(f"{rank:>9} {len(arcs):>8} {nodes:>7} {t_all:>11.2f} {len(support):>8} {t_sup:>10.2f}"
              f"{'' if same else '  (support optimum differs!)'}")
    print("CPU seconds of SimpleMinCostFlow.solve with its graph build, one core.")


if __name__ == "__main__":
    main()

"""`make bench`: the matcher's whole process against peers on the same scenarios, per instance family and size.

    python -m benchmarks.run                                   # every family at 10k and 100k streams, + MILP 2k
    python -m benchmarks.run --families uniform --sizes 10000 --highs-limit 120
    python -m benchmarks.run --sizes 10000 50000 100000 --markdown var/bench.md --json var/bench.json

For each family (:mod:`benchmarks.families`) and size, the scenario is written to a JSON file, then each of
these runs as its own process, timed from start to result file (imports, load, candidates, solve, result
assembly and writing — the whole process):

- ``isx match`` (this matcher);
- scipy's HiGHS LP on all candidate arcs (:mod:`benchmarks.peer`; stopped at ``--highs-limit``, the ratio is
  then a lower bound, shown with ``>``);
- OR-Tools' min-cost flow on the same arcs (the matcher's previous engine, :mod:`benchmarks.peer`).

Reported: pairs, the matcher's seconds (load / candidates / solve as it reports them, and the whole
process, with its CPU seconds: user + system of the process and its worker, a figure a loaded machine
inflates less than wall time), the peers' whole process (wall and CPU) and the ratios (peer ÷ matcher:
whole process wall, whole process CPU, and in brackets solve ÷ solve), peak memory (the matcher's process
tree, proportional set size sampled every 0.1 s, so that pages a forked worker shares are counted once), the
certificate's gap and the largest relative difference of the peers' optimum.
Figures, never pass/fail; on a shared machine compare ratios from the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.families import FAMILIES, PURE_FAMILIES, make

ISX = ("import sys\nfrom backend.cli import main\nsys.argv = ['isx', *sys.argv[1:]]\nmain()",)


def _tree(pid: int) -> list[int]:
    """The process and its descendants (Linux /proc)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(OSError):
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
    return out


def _pss_mb(pids: list[int]) -> float:
    total = 0.0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += float(line.split()[1]) / 1024
                    break
        except OSError:
            pass
    return total


def timed(cmd: list[str]) -> dict[str, Any]:
    """Run a command: wall seconds, exit code, output and the peak PSS of its process tree (MB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _pss_mb(_tree(proc.pid)))
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the process and its waited-for workers
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "code": proc.returncode, "stdout": out, "stderr": err, "pss_mb": peak[0]}


def run_case(family: str, n: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    doc = make(family, n, seed=args.seed, reach=args.reach)
    path = tmp / f"{family}-{n}.json"
    path.write_bytes(json.dumps(doc).encode())
    del doc
    out = tmp / f"{family}-{n}.result.json"
    ours = timed([sys.executable, "-c", ISX[0], "match", str(path), "--out", str(out)])
    if ours["code"] != 0:
        raise RuntimeError(f"isx match failed on {family} {n}: {ours['stderr'][-2000:]}")
    result = json.loads(out.read_text())
    stats = result["stats"]
    row: dict[str, Any] = {
        "family": family, "streams": n, "pairs": stats["candidates"], "total": ours["wall"], "cpu": ours["cpu"],
        "load": stats["seconds"]["load"], "cand": stats["seconds"]["candidates"],
        "solve": stats["seconds"]["solve"], "match_total": stats["seconds"]["total"], "solver": stats["solver"],
        "classes": stats.get("classes"), "lp_components": stats.get("lp_components"),
        "gap": stats.get("certificate", {}).get("gap"), "pss_mb": ours["pss_mb"],
        "objective": result["objective"]["net_benefit"], "pure": family in PURE_FAMILIES,
    }
    out.unlink()
    diffs = []
    for peer in ("highs", "ortools"):
        if getattr(args, f"no_{peer}"):
            continue
        peer_out = tmp / f"{family}-{n}.{peer}.json"
        cmd = [sys.executable, "-m", "benchmarks.peer", str(path), str(peer_out), "--solver", peer,
               "--time-limit", str(args.highs_limit)]
        run = timed(cmd)
        if run["code"] != 0:
            raise RuntimeError(f"peer {peer} failed on {family} {n}: {run['stderr'][-2000:]}")
        info = json.loads(run["stdout"].strip().splitlines()[-1])
        done = info["status"] == "optimal"
        row[f"{peer}_total"] = run["wall"]
        row[f"{peer}_cpu"] = run["cpu"]
        row[f"x_{peer}_cpu"] = run["cpu"] / max(ours["cpu"], 1e-9)
        row[f"{peer}_solve"] = info["solve"]
        row[f"{peer}_done"] = done
        row[f"x_{peer}"] = run["wall"] / ours["wall"]
        row[f"x_{peer}_solve"] = info["solve"] / max(row["solve"], 1e-9)
        if done:
            diffs.append(abs(info["objective"] - row["objective"]) / max(1.0, abs(row["objective"])))
        peer_out.unlink(missing_ok=True)
    row["rel_diff"] = max(diffs) if diffs else None
    path.unlink()
    return row


def bench_milp(n: int, args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.generate import generate
    from matching.api import match
    from matching.scenario import load_scenario

    scenario = load_scenario(generate(n, seed=args.seed, milp=True, regional=True))
    t0 = time.perf_counter()
    result = match(scenario, mode="milp", time_limit=args.milp_limit)
    return {"family": "milp-regional", "streams": n, "pairs": result.stats.candidates, "status": result.status,
            "gap": result.objective.gap, "total": time.perf_counter() - t0, "links": len(result.links),
            "binaries": result.stats.extra.get("binaries")}


def _f(x: Any, spec: str = ".2f") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return format(x, spec)


def _ratio(r: dict[str, Any], peer: str) -> str:
    if f"x_{peer}" not in r:
        return "—"
    mark = "" if r[f"{peer}_done"] else ">"
    return f"{mark}{r[f'x_{peer}']:.1f} / {mark}{r[f'x_{peer}_cpu']:.1f} ({mark}{r[f'x_{peer}_solve']:.0f})"


HEADER = ("| family | streams | pairs | load s | cand s | solve s | whole s | CPU s | HiGHS whole s (CPU) "
          "| × HiGHS whole / CPU (solve) | OR-Tools whole s (CPU) | × OR-Tools whole / CPU (solve) | peak MB | gap "
          "| Δobj |")


def markdown_row(r: dict[str, Any]) -> str:
    def peer(name: str) -> str:
        if f"{name}_total" not in r:
            return "—"
        limit = "" if r[f"{name}_done"] else ", limit"
        return f"{_f(r[f'{name}_total'])} ({_f(r[f'{name}_cpu'])}{limit})"

    return (f"| {r['family']} | {r['streams']:,} | {r['pairs']:,} | {_f(r['load'])} | {_f(r['cand'])} | "
            f"{_f(r['solve'])} | **{_f(r['total'])}** | {_f(r['cpu'])} | {peer('highs')} | **{_ratio(r, 'highs')}** "
            f"| {peer('ortools')} | {_ratio(r, 'ortools')} | {r['pss_mb']:.0f} | {_f(r['gap'], '.0e')} | "
            f"{_f(r['rel_diff'], '.0e')} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--reach", type=float, default=1.3, help="cities-*: scales the stated maximum distances")
    parser.add_argument("--highs-limit", type=float, default=300.0, help="seconds per HiGHS run")
    parser.add_argument("--no-highs", action="store_true")
    parser.add_argument("--no-ortools", action="store_true")
    parser.add_argument("--milp-size", type=int, default=2000)
    parser.add_argument("--no-milp", action="store_true")
    parser.add_argument("--milp-limit", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--markdown", type=Path, help="also write the table here (the README's format)")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{os.cpu_count()} cores, load average {load:.1f} at start; seconds are wall time, each run its own "
          "process", flush=True)
    print(HEADER, flush=True)
    print("|" + "---|" * (HEADER.count("|") - 1), flush=True)
    rows: list[dict[str, Any]] = []
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            for family in args.families:
                r = run_case(family, n, args, Path(tmp))
                rows.append(r)
                lines.append(markdown_row(r))
                print(lines[-1], flush=True)
    if not args.no_milp:
        m = bench_milp(args.milp_size, args)
        rows.append(m)
        print(f"MILP {m['streams']} regional: {m['pairs']} pairs, status {m['status']}, gap {_f(m['gap'], '.2%')}, "
              f"{m['total']:.1f} s, {m['links']} links, {m['binaries']} binaries", flush=True)
    end_load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {end_load:.1f} at the end. × = peer ÷ matcher: whole process wall time / CPU seconds "
          "(in brackets solve ÷ solve); '>' = the peer stopped at its limit. gap = the matcher's certificate (bound − "
          "objective) / objective; Δobj = largest relative difference of a peer's optimum.")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2, default=str))
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text("\n".join([HEADER, "|" + "---|" * (HEADER.count("|") - 1), *lines]) + "\n")


if __name__ == "__main__":
    main()

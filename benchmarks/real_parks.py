"""Screening measured on published real parks: recall, precision and F1 per case and pooled (``make eval``).

Each case file (``../shared/evaluation/real-parks/*.json``, see its README) lists a park's firms with their
GB/T 4754 class and place, and the exchanges the literature documents between them as ``(from, to,
family)``. The case becomes a scenario holding only the sites (no streams); :func:`matching.screening.screen`
proposes links and ranked candidates; every proposed pair between two different sites counts once as the
triple ``(from_site, to_site, family of the supplied material)``. Recall = documented triples found ÷
documented; precision = documented triples found ÷ proposed triples (a lower bound: a proposal no paper
documents may still be sound).

Families follow the cases' README: heat (steam, hot water, low-grade heat), ash (fly and bottom ash),
slag, gypsum, fuel_gas, sulphur, water, sludge, feed (whatever replaces animal feed), bagasse, molasses,
vinasse, lime (lime mud, filter mud, carbide slag); any other material stands for itself.

Run ``python -m benchmarks.real_parks [--cases DIR] [--top N | --all] [-v]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matching.knowledge import KnowledgeBase, default_knowledge_base
from matching.scenario import load_scenario
from matching.screening import DEFAULT_TOP, screen

DEFAULT_CASES = Path(__file__).resolve().parents[2] / "shared" / "evaluation" / "real-parks"
#: the cases' families by material (by knowledge-base family for the rest; other materials stand for themselves)
FAMILY_OF_MATERIAL = {
    "steam": "heat", "hot_water": "heat", "low_grade_heat": "heat", "heat": "heat",
    "fuel_gas": "fuel_gas", "sulphur": "sulphur",
    "yeast_slurry": "feed", "distillers_grains": "feed",
    "lime_mud": "lime", "filter_mud": "lime", "carbide_slag": "lime",
    "flue_gas_co2": "co2",  # CO2 is CO2 whether a stack or a purified stream delivers it
}
FAMILY_OF_KB_FAMILY = {"slag": "slag", "ash": "ash", "gypsum": "gypsum", "sludge": "sludge", "water": "water"}


def family(material: str, kb: KnowledgeBase, replaces: str | None = None) -> str:
    """The case family of a supplied material (anything fed to animals is ``feed``)."""
    if replaces == "animal_feed":
        return "feed"
    if material in FAMILY_OF_MATERIAL:
        return FAMILY_OF_MATERIAL[material]
    found = kb.materials.get(material)
    return FAMILY_OF_KB_FAMILY.get(found.family, material) if found is not None else material


@dataclass(frozen=True)
class Score:
    name: str
    documented: int
    proposed: int
    found: int
    missed: tuple[tuple[str, str, str], ...] = ()
    extra: tuple[tuple[str, str, str], ...] = ()

    @property
    def recall(self) -> float:
        return self.found / self.documented if self.documented else 0.0

    @property
    def precision(self) -> float:
        return self.found / self.proposed if self.proposed else 0.0

    @property
    def f1(self) -> float:
        r, p = self.recall, self.precision
        return 2 * r * p / (r + p) if r + p else 0.0


def score_case(case: dict[str, Any], *, top: int | None, kb: KnowledgeBase) -> Score:
    """Screen one case and compare the proposed triples with the documented ones."""
    sites = [{"id": f["id"], "name": f["name"], "lat": f["lat"], "lon": f["lon"], "industry": f["industry"]}
             for f in case["firms"]]
    scenario = load_scenario({"name": case["name"], "sites": sites, "supplies": [], "demands": []},
                             knowledge_base=kb)
    out = screen(scenario, top=top).to_json()
    proposed = {(c["from_site"], c["to_site"], family(c["material"], kb, c["replaces"]))
                for c in out["candidates"] + out["links"] if c["from_site"] != c["to_site"]}
    documented = {(e["from"], e["to"], e["family"]) for e in case["exchanges"]}
    found = documented & proposed
    return Score(case["name"], len(documented), len(proposed), len(found), tuple(sorted(documented - proposed)),
                 tuple(sorted(proposed - documented)))


def pooled(scores: list[Score]) -> Score:
    return Score("pooled", sum(s.documented for s in scores), sum(s.proposed for s in scores),
                 sum(s.found for s in scores))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=Path, default=DEFAULT_CASES, help="folder of case files (*.json)")
    parser.add_argument("--top", type=int, default=DEFAULT_TOP, help="pairs kept per stream (default %(default)s)")
    parser.add_argument("--all", action="store_true", help="keep every viable pair")
    parser.add_argument("-v", "--verbose", action="store_true", help="list missed and extra triples")
    args = parser.parse_args(argv)
    files = sorted(args.cases.glob("*.json"))
    if not files:
        print(f"no case files in {args.cases}", file=sys.stderr)
        return 2
    kb = default_knowledge_base()
    scores = [score_case(json.loads(f.read_text(encoding="utf-8")), top=None if args.all else args.top, kb=kb)
              for f in files]
    print(f"Screening on {len(files)} real parks ({args.cases}), top {'all' if args.all else args.top} "
          f"per stream, knowledge base {kb.version}")
    print(f"{'case':44s} {'documented':>10s} {'proposed':>8s} {'found':>5s} {'recall':>6s} {'precision':>9s} "
          f"{'F1':>5s}")
    for s in [*scores, pooled(scores)]:
        print(f"{s.name[:44]:44s} {s.documented:10d} {s.proposed:8d} {s.found:5d} {s.recall:6.2f} "
              f"{s.precision:9.2f} {s.f1:5.2f}")
        if args.verbose:
            for t in s.missed:
                print(f"    missed {t}")
            for t in s.extra:
                print(f"    extra  {t}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Material classes, candidates built one class at a time, and solving overlapped with building."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from matching.api import match, objective_weights
from matching.candidates import build_candidates
from matching.economics import resolve_economics
from matching.evaluate import evaluate
from matching.pipeline import build_and_solve, concat_candidates, material_classes
from matching.scenario import load_scenario
from matching.solve import solve_linear
from tests.matching.conftest import scenario_doc
from tests.matching.test_properties import scenarios

pytestmark = pytest.mark.nodb
ROOT = Path(__file__).resolve().parents[2]


def _doc() -> dict[str, Any]:
    # fly ash serves fly ash and (ratio 0.8) cement, GGBS serves GGBS and cement: one class; slag alone another;
    # gypsum has supplies but no demand anywhere: no class
    sites = [{"id": f"S{i}", "lat": 30.0 + 0.1 * i, "lon": 110.0 + 0.1 * (i % 3)} for i in range(6)]
    supplies = [{"id": f"s{i}", "site": f"S{i}", "material": m, "quantity": 100.0 + i}
                for i, m in enumerate(["fly_ash", "ggbs", "slag", "slag", "gypsum", "fly_ash"])]
    demands = [{"id": f"d{j}", "site": f"S{5 - j}", "material": m, "quantity": 80.0 + j}
               for j, m in enumerate(["cement", "fly_ash", "slag", "ggbs", "cement"])]
    return scenario_doc(sites=sites, supplies=supplies, demands=demands,
                        prices={"fly_ash": 150.0, "ggbs": 200.0, "slag": 60.0, "cement": 300.0, "gypsum": 40.0},
                        substitutions=[{"material": "fly_ash", "replaces": "cement", "ratio": 0.8, "max_share": 0.4},
                                       {"material": "ggbs", "replaces": "cement", "ratio": 1.0, "max_share": 0.5}])


def test_material_classes_of_a_hand_made_scenario() -> None:
    sc = load_scenario(_doc())
    classes = material_classes(sc, resolve_economics(sc))
    assert [sorted(pairs) for pairs, _ in classes] == [
        [("fly_ash", "cement"), ("fly_ash", "fly_ash"), ("ggbs", "cement"), ("ggbs", "ggbs")],
        [("slag", "slag")]]
    # potential pairs: fly ash 2 supplies × (2 cement + 1 fly ash demands) + GGBS 1 × (2 + 1) = 9; slag 2 × 1
    assert [n for _, n in classes] == [9, 2]


def test_building_by_class_gives_every_candidate_once() -> None:
    sc = load_scenario(_doc())
    econ = resolve_economics(sc)
    whole = build_candidates(sc, econ)
    parts = [build_candidates(sc, econ, pairs=pairs) for pairs, _ in material_classes(sc, econ)]
    joined = concat_candidates(parts)
    assert sorted(zip(joined.supply.tolist(), joined.demand.tolist(), strict=True)) == sorted(
        zip(whole.supply.tolist(), whole.demand.tolist(), strict=True))
    assert len(joined) == len(whole) and len(joined.group_cap) == len(whole.group_cap)
    # rules and share groups still point at the right things after the offsets
    key = {(s, d): (joined.rules[r].replaces, g >= 0 and joined.group_demand[g] == d)
           for s, d, r, g in zip(joined.supply.tolist(), joined.demand.tolist(), joined.rule.tolist(),
                                 joined.share_group.tolist(), strict=True)}
    for s, d, r, g in zip(whole.supply.tolist(), whole.demand.tolist(), whole.rule.tolist(),
                          whole.share_group.tolist(), strict=True):
        assert key[(s, d)] == (whole.rules[r].replaces, g >= 0 and whole.group_demand[g] == d)


def _overlapped_equals_one_go(doc: dict[str, Any]) -> None:
    sc = load_scenario(doc)
    econ = resolve_economics(sc)

    def weights(c: Any) -> Any:
        return objective_weights(sc, econ, c, "benefit")

    overlapped = build_and_solve(sc, econ, weights, workers=2)  # forks a worker when there are two classes
    one_go = build_and_solve(sc, econ, weights, workers=1)
    a = float(np.dot(overlapped.solution.flow, overlapped.cands.unit_benefit))
    b = float(np.dot(one_go.solution.flow, one_go.cands.unit_benefit))
    assert a == pytest.approx(b, rel=1e-9, abs=1e-9)
    assert overlapped.solution.certificate is not None and overlapped.solution.certificate.ok
    assert overlapped.solution.certificate.objective == pytest.approx(a, rel=1e-12, abs=1e-9)


def test_overlapped_building_and_solving_equals_one_go() -> None:
    _overlapped_equals_one_go(_doc())
    result = match(load_scenario(_doc()), workers=2)
    ev = evaluate(load_scenario(_doc()), result)
    assert ev.ok, ev.problems
    assert result.stats.extra["classes"] == 2


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_overlap_property(doc: dict[str, Any]) -> None:
    _overlapped_equals_one_go(doc)


def test_match_reports_the_certificate() -> None:
    result = match(load_scenario(_doc()))
    cert = result.stats.extra["certificate"]
    assert cert["gap"] <= 1e-9 and cert["violation"] <= 1e-12
    assert cert["objective"] == pytest.approx(result.objective.net_benefit, rel=1e-12)
    assert cert["bound"] >= cert["objective"]
    sc = load_scenario(_doc())
    cands = build_candidates(sc, resolve_economics(sc))
    assert solve_linear(cands, force_lp=True).certificate.objective == pytest.approx(  # type: ignore[union-attr]
        cert["objective"], rel=1e-9)


def test_cli_match_imports_only_what_matching_needs(tmp_path: Path) -> None:
    # `isx match` used to import the whole backend (database layer, web stack) before matching
    doc = copy.deepcopy(_doc())
    path = tmp_path / "s.json"
    path.write_text(json.dumps(doc))
    out = tmp_path / "r.json"
    heavy = ("sqlalchemy", "sqlmodel", "fastapi", "starlette", "alembic", "jinja2", "ortools", "networkx", "httpx",
             "uvicorn", "argon2", "openpyxl", "web", "backend.config", "backend.db", "backend.cli.core",
             "backend.cli.kb")
    probe = "\n".join([
        "import sys",
        "from backend.cli import main",
        "sys.argv = ['isx', 'match', sys.argv[1], '--out', sys.argv[2]]",
        "try:",
        "    main()",
        "except SystemExit as exc:",
        "    assert not exc.code, exc.code",
        f"heavy = {heavy!r}",
        "print('MODULES:', *sorted(m for m in sys.modules if m in heavy or m.split('.')[0] in heavy), file=sys.stderr)",
    ])
    run = subprocess.run([sys.executable, "-c", probe, str(path), str(out)], capture_output=True, text=True,
                         cwd=ROOT, check=False)
    assert run.returncode == 0, run.stderr
    (line,) = [x for x in run.stderr.splitlines() if x.startswith("MODULES:")]
    assert line == "MODULES:"  # none of them
    assert json.loads(out.read_text())["status"] == "optimal"

"""The network simplex, its fallback and the dual certificate on hand-checked batches."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import matching.solve as solve_mod
from matching.certificate import CERTIFICATE_GAP, certify
from matching.errors import SolverError, SolverUnavailable
from matching.flow import Batch, BatchSolution, residual_potentials, solve_lp, solve_network
from tests.matching.test_solve import _cands


def _batch() -> Batch:
    # two supplies (10, 6) and two demands (8, 7); arcs s0→d0 5, s0→d1 4, s1→d0 3, s1→d1 1 (yuan per unit).
    # Optimum: s1 (6) goes where it is worth most, d0 (3 > 1), but s0 is worth 5 there: s0 fills d1 (7) first, the
    # rest of s0 (3) and 5 of s1 fill d0: 3·5 + 7·4 + 5·3 = 58; one unit more of s0 to d0 instead of s1 is −2.
    return Batch(supply=np.array([0, 0, 1, 1]), demand=np.array([0, 1, 0, 1]), group=np.full(4, -1),
                 weight=np.array([5.0, 4.0, 3.0, 1.0]), ratio=np.ones(4), s_cap=np.array([10.0, 6.0]),
                 d_cap=np.array([8.0, 7.0]), g_cap=np.zeros(0), g_dem=np.zeros(0, dtype=np.int64))


def _check(b: Batch, sol: BatchSolution) -> Any:
    return certify(supply=b.supply, demand=b.demand, group=b.group, weight=b.weight, ratio=b.ratio,
                   s_cap=b.s_cap, d_cap=b.d_cap, g_cap=b.g_cap, x=sol.x, y_s=sol.y_s, y_d=sol.y_d, y_g=sol.y_g)


@pytest.mark.parametrize("engine", ["lemon", "ortools"])
def test_engines_find_the_hand_checked_optimum_with_its_duals(engine: str) -> None:
    b = _batch()
    sol = solve_network(b, np.ones(2), np.ones(2), engine=engine)
    assert sol.x == pytest.approx([3.0, 7.0, 5.0, 0.0], abs=1e-9)
    # duals: s1 keeps 1 unit spare (y = 0), so d0 is worth 3 (s1→d0), s0 is worth 5 − 3 = 2 and d1 4 − 2 = 2;
    # bound 10·2 + 8·3 + 7·2 = 58 = objective
    assert sol.y_s == pytest.approx([2.0, 0.0], abs=1e-9)
    assert sol.y_d == pytest.approx([3.0, 2.0], abs=1e-9)
    cert = _check(b, sol)
    assert cert.objective == pytest.approx(58.0) and cert.bound == pytest.approx(58.0) and cert.ok


def test_or_tools_without_potentials_for_timing() -> None:
    b = _batch()
    sol = solve_network(b, np.ones(2), np.ones(2), engine="ortools", duals=False)
    assert sol.x == pytest.approx([3.0, 7.0, 5.0, 0.0], abs=1e-9)
    assert not sol.y_s.any() and not sol.y_d.any() and not _check(b, sol).ok  # nothing certified without duals


def test_lp_gives_the_same_optimum_and_duals() -> None:
    b = _batch()
    sol = solve_lp(b)
    assert _check(b, sol).bound == pytest.approx(58.0)
    assert sol.x @ b.weight == pytest.approx(58.0)


def test_certificate_catches_a_suboptimal_or_infeasible_flow() -> None:
    b = _batch()
    good = solve_network(b, np.ones(2), np.ones(2))
    worse = BatchSolution(np.array([8.0, 2.0, 0.0, 5.0]), good.y_s, good.y_d, good.y_g, "test")
    cert = _check(b, worse)  # 40 + 8 + 5 = 53 against the bound 58
    assert cert.objective == pytest.approx(53.0) and cert.gap == pytest.approx(5 / 53) and not cert.ok
    over = BatchSolution(np.array([4.0, 7.0, 5.0, 0.0]), good.y_s, good.y_d, good.y_g, "test")
    assert _check(b, over).violation == pytest.approx(1 / 8) and not _check(b, over).ok  # d0 gets 9 > 8
    no_duals = BatchSolution(good.x, np.zeros(2), np.zeros(2), np.zeros(0), "test")
    # without duals every arc counts at its largest feasible flow: 5·8 + 4·7 + 3·6 + 1·6 = 92
    assert _check(b, no_duals).bound == pytest.approx(92.0)


def test_ratios_and_share_groups_map_to_the_lp_duals() -> None:
    # one supply (10) → demand (6) at ratio 0.5 through a share group capped at 2 (σ·q_d): x ≤ 4;
    # a second arc to another demand (w 1) takes the rest. Node scales u = 1, v = 0.5.
    b = Batch(supply=np.array([0, 0]), demand=np.array([0, 1]), group=np.array([0, -1]),
              weight=np.array([3.0, 1.0]), ratio=np.array([0.5, 1.0]), s_cap=np.array([10.0]),
              d_cap=np.array([6.0, 100.0]), g_cap=np.array([2.0]), g_dem=np.array([0]))
    for engine in ("lemon", "ortools"):
        sol = solve_network(b, np.ones(1), np.array([0.5, 1.0]), engine=engine)
        assert sol.x == pytest.approx([4.0, 6.0])
        cert = _check(b, sol)
        assert cert.bound == pytest.approx(18.0) and cert.ok  # 4·3 + 6·1
        assert sol.y_g == pytest.approx([4.0])  # a unit of the cap (2 per 4 moved): (3 − 1) / 0.5


def test_residual_potentials_detect_a_non_optimal_flow() -> None:
    # 0 → 1 costs 1, 0 → 2 costs 5, 1 → 2 costs 1 (capacities 10): sending 4 units 0 → 2 directly is not optimal
    tails, heads = np.array([0, 0, 1]), np.array([1, 2, 2])
    caps, costs = np.full(3, 10), np.array([1, 5, 1])
    with pytest.raises(SolverError, match="not optimal"):
        residual_potentials(tails, heads, caps, costs, np.array([0, 4, 0]), 3)
    pot = residual_potentials(tails, heads, caps, costs, np.array([4, 0, 4]), 3)
    assert (costs + pot[tails] - pot[heads] >= 0).all()


def test_an_uncertified_engine_hands_the_batch_on(monkeypatch: pytest.MonkeyPatch) -> None:
    c = _cands([0, 0, 1, 1], [0, 1, 0, 1], [1.0] * 4, [5.0, 4.0, 3.0, 1.0], 2, 2)
    best = float(np.dot(solve_mod.solve_linear(c).flow, c.unit_benefit))
    real = solve_mod.solve_network

    def wrong_lemon(b: Batch, u: Any, v: Any, *, engine: str = "lemon") -> BatchSolution:
        if engine == "lemon":  # a wrong answer: nothing moved, no duals
            return BatchSolution(np.zeros(len(b.supply)), np.zeros(len(b.s_cap)), np.zeros(len(b.d_cap)),
                                 np.zeros(len(b.g_cap)), "lemon-network-simplex")
        return real(b, u, v, engine=engine)

    monkeypatch.setattr(solve_mod, "solve_network", wrong_lemon)
    sol = solve_mod.solve_linear(c)
    assert sol.solver == "ortools-min-cost-flow"
    assert float(np.dot(sol.flow, c.unit_benefit)) == pytest.approx(best)

    def missing(b: Batch, u: Any, v: Any, *, engine: str = "lemon") -> BatchSolution:
        raise SolverUnavailable(f"{engine} is not installed")

    monkeypatch.setattr(solve_mod, "solve_network", missing)
    sol = solve_mod.solve_linear(c)
    assert sol.solver == "highs-lp" and sol.certificate is not None and sol.certificate.gap <= CERTIFICATE_GAP
    assert float(np.dot(sol.flow, c.unit_benefit)) == pytest.approx(best)


def test_a_failing_lp_certificate_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    c = _cands([0, 0, 1, 1], [0, 1, 1, 0], [1.0, 0.9, 1.0, 1.0], [5.0, 4.0, 3.0, 1.0], 2, 2)  # not a network

    def half(b: Batch) -> BatchSolution:
        sol = solve_lp(b)
        return BatchSolution(sol.x / 2, sol.y_s, sol.y_d, sol.y_g, sol.engine)

    monkeypatch.setattr(solve_mod, "solve_lp", half)
    with pytest.raises(SolverError, match="no engine certified"):
        solve_mod.solve_linear(c)


def test_restricted_master_reaches_the_lp_optimum() -> None:
    # a cycle whose ratios disagree (1, 0.9, 1, 1): not a network. The seed (ratios from u = v = 1) is wrong on
    # one arc; pricing with the duals must add what the seed and the best arc per supply leave out.
    from matching.flow import solve_lp_restricted

    rng = np.random.default_rng(3)
    n = 12
    sup = np.repeat(np.arange(n), n)
    dem = np.tile(np.arange(n), n)
    ratio = np.where((sup + dem) % 5 == 0, 0.9, 1.0)
    b = Batch(supply=sup, demand=dem, group=np.full(n * n, -1), weight=rng.uniform(1, 10, n * n), ratio=ratio,
              s_cap=rng.uniform(5, 20, n), d_cap=rng.uniform(5, 20, n), g_cap=np.zeros(0),
              g_dem=np.zeros(0, dtype=np.int64))
    full = solve_lp(b)
    restricted = solve_lp_restricted(b, np.ones(n), np.ones(n), best_per_supply=1)
    assert restricted.x @ b.weight == pytest.approx(full.x @ b.weight, rel=1e-9)
    assert _check(b, restricted).ok

"""Entry points: :func:`match` (linear or MILP mode) and the assembly of a :class:`MatchResult`."""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt

from matching.candidates import CandidateSet
from matching.confidence import pair_confidence, pair_reasons
from matching.economics import ON_SITE, Economics, counts_as_diverted, resolve_economics
from matching.errors import MatchingError
from matching.pipeline import build_and_solve
from matching.pipes import pay_for_pipes
from matching.result import Breakdown, Link, MatchResult, Objective, Remaining, Stats
from matching.scenario import Scenario, load_scenario

__all__ = ["OBJECTIVES", "assemble_result", "match", "objective_weights"]

OBJECTIVES = ("benefit", "co2", "diverted")
# the English words of the binding codes of a link's breakdown (its ``binding`` string)
_BINDING_TEXT = {"supply": "supply fully used", "demand": "demand filled",
                 "share": "max share {share:.0%} of the demand reached"}


def _diverted_mask(scenario: Scenario, econ: Economics, supply_idx: npt.NDArray[np.int64]
                   ) -> npt.NDArray[np.bool_]:
    """Per arc: does moving the supply keep tonnes out of landfill (a solid/liquid measured in t)?"""
    per_material: dict[str, bool] = {}
    for s in scenario.supplies:
        if s.material not in per_material:
            info = econ.material(s.material)
            unit = info.unit or s.unit or "t"
            per_material[s.material] = counts_as_diverted(unit, info.form)
    flags = np.array([per_material[s.material] for s in scenario.supplies], dtype=bool)
    return flags[supply_idx] if len(supply_idx) else np.zeros(0, dtype=bool)


def objective_weights(scenario: Scenario, econ: Economics, cands: CandidateSet,
                      objective: str | Mapping[str, float] = "benefit", *, model: str = "linear",
                      ) -> npt.NDArray[np.float64]:
    """Objective coefficient per candidate: ``benefit`` (yuan), ``co2`` (t), ``diverted`` (t), or a weighted
    sum given as a mapping such as ``{"benefit": 1.0, "co2": 200.0}``.

    In the ``milp`` model the benefit leaves out the pipeline capex spread per unit: the MILP charges it as
    the link's fixed cost.
    """
    weights = {objective: 1.0} if isinstance(objective, str) else dict(objective)
    bad = [k for k in weights if k not in OBJECTIVES]
    if bad:
        raise MatchingError(f"unknown objective(s) {bad}; expected {', '.join(OBJECTIVES)} or a weighted sum")
    out = np.zeros(len(cands))
    if weights.get("benefit"):
        benefit = cands.unit_benefit + cands.pipeline if model == "milp" else cands.unit_benefit
        out += weights["benefit"] * benefit
    if weights.get("co2"):
        out += weights["co2"] * cands.unit_co2
    if weights.get("diverted"):
        out += weights["diverted"] * _diverted_mask(scenario, econ, cands.supply)
    return out


def _fmt(x: float) -> str:
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def assemble_result(scenario: Scenario, econ: Economics, cands: CandidateSet, flow: npt.NDArray[np.float64],
                    *, status: str, solver: str, components: int, seconds: dict[str, float],
                    gap: float | None = None, objective_kind: str = "benefit", fixed_costs: float = 0.0,
                    extra_links: tuple[Link, ...] = (), extra: dict[str, Any] | None = None,
                    model: str = "linear") -> MatchResult:
    """Turn flows on candidate arcs into links with figures, explanations and confidence, and the unmatched
    rest. In the ``milp`` model a link's unit benefit leaves the pipeline out (the MILP charges its fixed
    cost on the link afterwards)."""
    sup, dem = scenario.supplies, scenario.demands
    tol = 1e-9 * np.maximum(cands.supply_qty[cands.supply], 1.0) if len(cands) else np.zeros(0)
    used = np.flatnonzero(flow > tol)
    x = flow[used]
    s_used = np.bincount(cands.supply[used], weights=x, minlength=len(sup))
    d_used = np.bincount(cands.demand[used], weights=x * cands.ratio[used], minlength=len(dem))
    g_used = (np.bincount(cands.share_group[used][cands.share_group[used] >= 0],
                          weights=(x * cands.ratio[used])[cands.share_group[used] >= 0],
                          minlength=len(cands.group_cap)) if len(cands.group_cap) else np.zeros(0))
    s_rem = cands.supply_qty - s_used
    d_rem = cands.demand_qty - d_used
    mode_names = [m.id for m in econ.modes]
    diverted = _diverted_mask(scenario, econ, cands.supply[used])
    confidence = pair_confidence(cands.subset(used), scenario) if len(used) else np.zeros(0)
    links: list[Link] = []
    for k, a in enumerate(used.tolist()):
        s = sup[int(cands.supply[a])]
        d = dem[int(cands.demand[a])]
        q = float(x[k])
        pipeline = 0.0 if model == "milp" else float(cands.pipeline[a])
        b = float(cands.unit_benefit[a]) + float(cands.pipeline[a]) - pipeline
        rule = cands.rules[int(cands.rule[a])]
        mode = ON_SITE if cands.mode[a] == -2 else mode_names[int(cands.mode[a])]
        dist = float(cands.distance_km[a])
        unit = econ.material(s.material).unit or s.unit or "t"
        codes: list[str] = []
        if s_rem[cands.supply[a]] <= 1e-9 * max(s.quantity, 1.0):
            codes.append("supply")
        if d_rem[cands.demand[a]] <= 1e-9 * max(d.quantity, 1.0):
            codes.append("demand")
        g = int(cands.share_group[a])
        if g >= 0 and cands.group_cap[g] - g_used[g] <= 1e-9 * max(cands.group_cap[g], 1.0):
            codes.append("share")
        binding = "; ".join(_BINDING_TEXT[c].format(share=rule.max_share) for c in codes) or \
            "none (a better use of the rest exists)"
        use = rule.use or d.use
        what = (f"{s.material} replaces {d.material}" + (f" at ratio {rule.ratio:g}" if rule.ratio != 1 else "")
                if s.material != d.material else f"{s.material} meets the demand for it")
        need = f" for {use}" if use else ""
        where = "on the same site" if mode == ON_SITE else f"{dist:.1f} km by {mode}"
        price = econ.price(d.material)
        value = float(cands.ratio[a]) * price
        disp = econ.disposal_cost(s.material) if s.disposal_cost is None else s.disposal_cost
        # the residual, so that the parts add up to b exactly as the candidates computed it
        transport = 0.0 if mode == ON_SITE else value + disp - rule.pretreatment_cost - pipeline - b
        explanation = (f"{what}{need} (rule {rule.id}), {where}: {_fmt(b)} yuan per {unit} net "
                       f"({_fmt(value)} value"
                       + (f" + {_fmt(disp)} disposal avoided" if disp else "")
                       + (f" − {_fmt(rule.pretreatment_cost)} pretreatment" if rule.pretreatment_cost else "")
                       + (f" − {_fmt(transport)} transport" if mode != ON_SITE else "")
                       + (f" − {_fmt(pipeline)} pipeline capex" if pipeline else "")
                       + f"); binding: {binding}"
                       + ("; quality unverified (attribute not reported)" if cands.quality_unknown[a] else "")
                       + ("; permit to verify" if cands.permit_to_verify[a] else "")
                       + ".")
        parts = Breakdown(value=value, disposal_avoided=float(disp), pretreatment=float(rule.pretreatment_cost),
                          transport=float(transport), ratio=float(rule.ratio), binding=tuple(codes),
                          max_share=float(rule.max_share) if "share" in codes else None, pipeline=pipeline,
                          rule=rule.id, use=use, pretreatment_name=rule.pretreatment, gate_fee=rule.gate_fee,
                          capacity=float(cands.capacity[a]) if pipeline else None)
        links.append(Link(s.id, d.id, s.site, d.site, s.material, d.material, q, unit, dist, mode, b, b * q,
                          float(cands.unit_co2[a]) * q, explanation, float(cands.ratio[a]), binding,
                          bool(cands.quality_unknown[a]), breakdown=parts, confidence=round(float(confidence[k]), 4),
                          reasons=tuple(pair_reasons(cands, a, scenario, econ))))
    links.extend(extra_links)
    net = math.fsum(link.net_benefit for link in links) - fixed_costs
    quantity = math.fsum(link.quantity for link in links)
    co2 = math.fsum(link.co2_avoided_t for link in links)
    div = math.fsum(float(v) for v in x[diverted]) + math.fsum(
        link.quantity for link in extra_links if link.unit == "t")
    rem_tol_s = 1e-9 * np.maximum(cands.supply_qty, 1.0)
    rem_tol_d = 1e-9 * np.maximum(cands.demand_qty, 1.0)
    unmatched_s = tuple(Remaining(sup[i].id, float(s_rem[i])) for i in np.flatnonzero(s_rem > rem_tol_s))
    unmatched_d = tuple(Remaining(dem[j].id, float(d_rem[j])) for j in np.flatnonzero(d_rem > rem_tol_d))
    stats = Stats(len(cands), components, solver, {k: round(v, 4) for k, v in seconds.items()})
    return MatchResult(status, Objective(net, quantity, co2, div, gap, fixed_costs), tuple(links), unmatched_s,
                       unmatched_d, stats, objective_kind, extra or {}, model)


def match(scenario: Scenario | str | Mapping[str, Any], *, mode: str = "linear",
          objective: str | Mapping[str, float] = "benefit", time_limit: float | None = None,
          solver: str | None = None, workers: int | None = None, decompose: bool = True,
          knowledge_base: Any = None, pipes: str = "paid") -> MatchResult:
    """Propose the exchange links that maximise the objective.

    Parameters
    ----------
    scenario : Scenario, path or mapping
        A validated scenario, or something :func:`load_scenario` reads.
    mode : {"linear", "milp"}
        ``linear`` (default): the exact LP optimum. ``milp``: fixed costs, minimum lots, partner limits,
        pipelines and hubs (see :mod:`matching.milp`).
    objective : str or mapping
        ``benefit`` (default), ``co2``, ``diverted`` or weights such as ``{"benefit": 1, "co2": 100}``.
    time_limit : float, optional
        Seconds (MILP mode).
    solver : str, optional
        MILP solver: ``highs`` (default), ``scip`` or ``cpsat``.
    workers : int, optional
        Processes for the linear mode (default: 2 for large problems).
    decompose : bool
        Solve components separately (default True).
    pipes : {"paid", "relaxed"}
        Linear mode with pipeline links: ``paid`` (default) sizes each link's pipe for the flow it carries
        and solves again until every pipe is paid in full (:mod:`matching.pipes`); ``relaxed`` returns the
        exact LP relaxation (each pipe's capex spread over the most its link could carry).

    Returns
    -------
    MatchResult

    Raises
    ------
    ScenarioError
        For bad input (before any solving).
    SolverError
        When a solver fails.

    Examples
    --------
    >>> doc = {"sites": [{"id": "a", "lat": 39.6, "lon": 118.2}, {"id": "b", "lat": 39.7, "lon": 118.3}],
    ...        "supplies": [{"id": "s1", "site": "a", "material": "slag", "quantity": 100}],
    ...        "demands": [{"id": "d1", "site": "b", "material": "slag", "quantity": 60}],
    ...        "parameters": {"use_knowledge_base": False, "prices": {"slag": 50},
    ...                       "transport": {"road": {"cost_per_tkm": 0.4, "handling_per_t": 10}}}}
    >>> result = match(doc)
    >>> result.status, round(result.links[0].quantity)
    ('optimal', 60)
    """
    with gc_paused():
        return _match(scenario, mode=mode, objective=objective, time_limit=time_limit, solver=solver,
                      workers=workers, decompose=decompose, knowledge_base=knowledge_base, pipes=pipes)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a match builds its hundreds of thousands of objects.

    The matcher makes no reference cycles worth collecting, but every few hundred new containers (the scenario's
    records, the links, their JSON) the collector walks the live ones again: on the 100k benchmark that was a
    third of the time spent reading the scenario and assembling the result. The collector's previous state is
    restored (if another thread paused it first, it stays as that thread leaves it).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _match(scenario: Scenario | str | Mapping[str, Any], *, mode: str, objective: str | Mapping[str, float],
           time_limit: float | None, solver: str | None, workers: int | None, decompose: bool,
           knowledge_base: Any, pipes: str) -> MatchResult:
    t0 = time.perf_counter()
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario, knowledge_base=knowledge_base)
    t_load = time.perf_counter()
    if mode == "milp":
        from matching.milp import solve_milp

        return solve_milp(scenario, objective=objective, time_limit=time_limit, solver=solver,
                          load_seconds=t_load - t0)
    if mode != "linear":
        raise MatchingError(f"unknown mode '{mode}' (expected linear or milp)")
    if pipes not in ("paid", "relaxed"):
        raise MatchingError(f"unknown pipes '{pipes}' (expected paid or relaxed)")
    econ = resolve_economics(scenario)
    # candidates are built one material class at a time, overlapped with solving (matching.pipeline)
    def weights(c: CandidateSet) -> npt.NDArray[np.float64]:
        return objective_weights(scenario, econ, c, objective)

    solved = build_and_solve(scenario, econ, weights, workers=workers, decompose=decompose)
    cands, sol = solved.cands, solved.solution
    if pipes == "paid":  # pipeline links charged for the pipe they need at the flow they carry (matching.pipes)
        cands, sol = pay_for_pipes(cands, sol, econ, weights, scenario=scenario, workers=workers,
                                  decompose=decompose)
    t_solve = time.perf_counter()
    kind = objective if isinstance(objective, str) else "weighted"
    result = assemble_result(scenario, econ, cands, sol.flow, status="optimal", solver=sol.solver,
                             components=sol.components, objective_kind=kind,
                             seconds={"load": t_load - t0, "candidates": solved.candidate_seconds,
                                      "solve": t_solve - t_load - solved.candidate_seconds, "total": 0.0})
    result.stats.seconds["total"] = round(time.perf_counter() - t0, 4)
    result.stats.extra["pipes"] = pipes
    result.stats.extra["classes"] = sol.classes
    result.stats.extra["network_components"] = sol.network_components
    result.stats.extra["lp_components"] = sol.lp_components
    if sol.certificate is not None:
        result.stats.extra["certificate"] = sol.certificate.to_json()
    return result

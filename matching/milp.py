"""MILP mode: what a linear model cannot say, with OR-Tools MathOpt (HiGHS by default; SCIP or CP-SAT).

On the same candidate pairs as the linear mode (pruning stays exact: a fixed cost only lowers a pair's
benefit), with ``y_a ∈ {0,1}`` saying whether link ``a`` is opened and ``z_h ∈ {0,1}`` whether hub ``h`` is
built::

    maximise   Σ_a w_a x_a − Σ_a F_a y_a + Σ_legs w_l f_l − Σ_h F_h z_h
    subject to the linear model's supply, demand and max-share rows (hub legs included), and
               x_a ≤ M_a y_a                  M_a = min(q_s, q_d / ρ_a, share cap / ρ_a)
               x_a ≥ L y_a                    minimum lot L per link
               Σ_(a touching site i) y_a ≤ P  maximum partners per firm (a site is a firm)
               Σ_in f = Σ_out f  per hub and material;  Σ_in f ≤ C_h z_h

``F_a`` = the scenario's fixed cost per link + for pipeline modes the annualised capex per km × distance.
``w_a`` is the linear mode's weight with the pipeline's capex put back (``b + capex·D/M_a``): the MILP
charges the pipe through ``F_a y_a`` instead, so the linear mode (which spreads it over ``M_a``) is exactly
this model's LP relaxation. Pipeline losses and maximum lengths act through the delivered ratio and the
mode's limit, as in the linear mode. A hub receives supply ``s`` of material ``m`` (leg benefit
``disposal(s) − transport(s→h) − hub handling``) and sends it to demands for ``m`` (leg benefit
``price(m) − transport(h→d)``), by the best mode per leg (:func:`matching.economics.leg_economics`). Links
keep their own figures; each link's ``net_benefit`` is ``b·x − F_a`` so that ``objective.net_benefit`` stays
the sum over the links; hub fixed costs are charged to the hub's inbound legs in proportion to their
quantity.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import replace
from functools import cache

import numpy as np

from matching.candidates import CandidateSet, build_candidates
from matching.economics import Economics, leg_economics, resolve_economics
from matching.errors import SolverError, SolverUnavailable
from matching.geo import haversine_km
from matching.result import Link, MatchResult
from matching.scenario import Scenario

__all__ = ["SOLVERS", "available_solvers", "link_fixed_costs", "solve_milp"]

SOLVERS = {"highs": "HIGHS", "scip": "GSCIP", "cpsat": "CP_SAT"}


@cache
def available_solvers() -> tuple[str, ...]:
    """Probe each MILP solver once with a one-variable model; the names that work."""
    from ortools.math_opt.python import mathopt

    ok = []
    for name, attr in SOLVERS.items():
        model = mathopt.Model(name="probe")
        v = model.add_integer_variable(lb=0, ub=1)
        model.maximize(v)
        try:
            res = mathopt.solve(model, getattr(mathopt.SolverType, attr))
            if res.termination.reason == mathopt.TerminationReason.OPTIMAL:
                ok.append(name)
        except Exception:  # solver not linked into this OR-Tools build
            continue
    return tuple(ok)


def link_fixed_costs(scenario: Scenario, econ: Economics, cands: CandidateSet) -> np.ndarray:
    """Fixed cost per candidate link and year: contract/set-up cost + annualised pipeline capex."""
    return np.full(len(cands), scenario.parameters.milp.fixed_cost_per_link, dtype=np.float64) + cands.fixed


def solve_milp(scenario: Scenario, *, objective: str | Mapping[str, float] = "benefit",
               time_limit: float | None = None, solver: str | None = None, gap: float = 1e-4,
               load_seconds: float = 0.0) -> MatchResult:
    """Solve the MILP model (see the module docstring).

    Parameters
    ----------
    scenario : Scenario
    objective : str or mapping
        As for :func:`matching.match`.
    time_limit : float, optional
        Seconds; the best solution found is returned with status ``time_limit`` and its gap.
    solver : {"highs", "scip", "cpsat"}, optional
        Default ``highs``.
    gap : float
        Relative gap at which the search stops (default 1e-4).

    Returns
    -------
    MatchResult
        ``objective.gap`` holds the relative gap between the solution and the best bound.

    Raises
    ------
    SolverUnavailable
        When the solver is not in this OR-Tools build.
    SolverError
        When the solver fails without a solution.
    """
    from ortools.math_opt.python import mathopt

    from matching.api import assemble_result, objective_weights

    t0 = time.perf_counter()
    name = (solver or "highs").lower()
    if name not in SOLVERS:
        raise SolverUnavailable(f"unknown MILP solver '{name}' (expected {', '.join(SOLVERS)})")
    if name not in available_solvers():
        raise SolverUnavailable(f"MILP solver '{name}' is not available in this OR-Tools build "
                                f"(available: {', '.join(available_solvers()) or 'none'})")
    econ = resolve_economics(scenario)
    cands = build_candidates(scenario, econ)
    t_cand = time.perf_counter()
    w = objective_weights(scenario, econ, cands, objective, model="milp")
    mp = scenario.parameters.milp
    fixed = link_fixed_costs(scenario, econ, cands)
    binary_needed = bool(mp.min_lot > 0 or mp.max_partners is not None or np.any(fixed > 0))
    use = np.flatnonzero(w > 0)
    model = mathopt.Model(name=scenario.name or "isx")
    sup, dem = scenario.supplies, scenario.demands
    s_rows: list[list[tuple[float, mathopt.Variable]]] = [[] for _ in sup]
    d_rows: list[list[tuple[float, mathopt.Variable]]] = [[] for _ in dem]
    g_rows: dict[int, list[tuple[float, mathopt.Variable]]] = {}
    site_links: dict[str, list[mathopt.Variable]] = {}
    obj_terms: list[mathopt.LinearExpression] = []
    xs: dict[int, mathopt.Variable] = {}
    ys: dict[int, mathopt.Variable] = {}
    weight_benefit = (isinstance(objective, str) and objective == "benefit") or (
        not isinstance(objective, str) and set(objective) == {"benefit"})
    fixed_weight = 1.0 if weight_benefit else float(
        objective.get("benefit", 0.0) if not isinstance(objective, str) else 0.0)
    for a in use.tolist():
        s, d = int(cands.supply[a]), int(cands.demand[a])
        ratio = float(cands.ratio[a])
        big_m = min(cands.supply_qty[s], cands.demand_qty[d] / ratio)
        g = int(cands.share_group[a])
        if g >= 0:
            big_m = min(big_m, cands.group_cap[g] / ratio)
        x = model.add_variable(lb=0.0, ub=float(big_m), name=f"x{a}")
        xs[a] = x
        s_rows[s].append((1.0, x))
        d_rows[d].append((ratio, x))
        if g >= 0:
            g_rows.setdefault(g, []).append((ratio, x))
        obj_terms.append(float(w[a]) * x)
        if binary_needed:
            y = model.add_binary_variable(name=f"y{a}")
            ys[a] = y
            model.add_linear_constraint(x - float(big_m) * y <= 0.0)
            if mp.min_lot > 0:
                model.add_linear_constraint(x - min(mp.min_lot, float(big_m)) * y >= 0.0)
                if mp.min_lot > big_m:  # the lot cannot be met: the link cannot open
                    model.add_linear_constraint(y <= 0.0)
            if fixed[a] > 0 and fixed_weight:
                obj_terms.append(-fixed_weight * float(fixed[a]) * y)
            site_links.setdefault(sup[s].site, []).append(y)
            if dem[d].site != sup[s].site:
                site_links.setdefault(dem[d].site, []).append(y)

    # hubs: transshipment legs
    legs: list[tuple[str, int, str, str, float, mathopt.Variable, float, str, float]] = []
    hub_vars: dict[str, mathopt.Variable] = {}
    if mp.hubs and (isinstance(objective, str) and objective == "benefit"):
        sites = scenario.site_map()
        for hub in mp.hubs:
            z = model.add_binary_variable(name=f"z_{hub.id}")
            hub_vars[hub.id] = z
            obj_terms.append(-hub.fixed_cost * z)
            inflow: list[mathopt.Variable] = []
            for m in sorted({s.material for s in sup} & {d.material for d in dem}):
                if hub.materials and m not in hub.materials:
                    continue
                ins: list[mathopt.Variable] = []
                outs: list[mathopt.Variable] = []
                for i, sp in enumerate(sup):
                    if sp.material != m:
                        continue
                    st = sites[sp.site]
                    gc = float(haversine_km(st.lat, st.lon, hub.lat, hub.lon))
                    disp = econ.disposal_cost(m) if sp.disposal_cost is None else sp.disposal_cost
                    leg = leg_economics(econ, material=m, gc_km=gc, circuity=econ.circuity(st.province),
                                        into_hub=True, disposal_cost=disp, hub_handling=hub.handling_per_unit,
                                        capacity=sp.quantity)
                    if leg is None:
                        continue
                    f = model.add_variable(lb=0.0, ub=sp.quantity, name=f"in_{hub.id}_{sp.id}")
                    s_rows[i].append((1.0, f))
                    obj_terms.append(leg.unit_benefit * f)
                    ins.append(f)
                    legs.append(("in", i, hub.id, m, leg.distance_km, f, leg.unit_benefit, leg.mode, 0.0))
                for j, dq in enumerate(dem):
                    if dq.material != m:
                        continue
                    dt = sites[dq.site]
                    gc = float(haversine_km(hub.lat, hub.lon, dt.lat, dt.lon))
                    leg = leg_economics(econ, material=m, gc_km=gc, circuity=econ.circuity(None), into_hub=False,
                                        capacity=dq.quantity)
                    if leg is None or (dq.max_distance_km is not None and leg.distance_km > dq.max_distance_km):
                        continue
                    f = model.add_variable(lb=0.0, ub=dq.quantity, name=f"out_{hub.id}_{dq.id}")
                    d_rows[j].append((1.0, f))
                    obj_terms.append(leg.unit_benefit * f)
                    outs.append(f)
                    legs.append(("out", j, hub.id, m, leg.distance_km, f, leg.unit_benefit, leg.mode, 0.0))
                if ins or outs:
                    model.add_linear_constraint(mathopt.fast_sum(ins) - mathopt.fast_sum(outs) == 0.0)
                    inflow.extend(ins)
            if inflow:
                model.add_linear_constraint(mathopt.fast_sum(inflow) - hub.capacity * z <= 0.0)

    for i, row in enumerate(s_rows):
        if len(row) > 1 or (row and len(row) == 1 and row[0][1].upper_bound > cands.supply_qty[i]):
            model.add_linear_constraint(mathopt.fast_sum(c * v for c, v in row) <= float(cands.supply_qty[i]))
    for j, row in enumerate(d_rows):
        if len(row) > 1:
            model.add_linear_constraint(mathopt.fast_sum(c * v for c, v in row) <= float(cands.demand_qty[j]))
    for g, row in g_rows.items():
        if len(row) > 1:
            model.add_linear_constraint(mathopt.fast_sum(c * v for c, v in row) <= float(cands.group_cap[g]))
    if mp.max_partners is not None:
        for links in site_links.values():
            if len(links) > mp.max_partners:
                model.add_linear_constraint(mathopt.fast_sum(links) <= float(mp.max_partners))
    model.maximize(mathopt.fast_sum(obj_terms))
    t_build = time.perf_counter()

    params = mathopt.SolveParameters(relative_gap_tolerance=gap)
    if time_limit is not None:
        from datetime import timedelta

        params.time_limit = timedelta(seconds=float(time_limit))
    try:
        res = mathopt.solve(model, getattr(mathopt.SolverType, SOLVERS[name]), params=params)
    except Exception as exc:
        raise SolverError(f"{name} failed: {exc}") from exc
    reason = res.termination.reason
    TR = mathopt.TerminationReason
    if reason in (TR.INFEASIBLE, TR.INFEASIBLE_OR_UNBOUNDED):
        status = "infeasible"
    elif reason == TR.OPTIMAL:
        status = "optimal"
    elif res.has_primal_feasible_solution():
        status = "time_limit" if res.termination.limit is not None and "TIME" in str(
            res.termination.limit) else "feasible"
    else:
        raise SolverError(f"{name} ended without a solution: {reason} {res.termination.detail}")
    t_solve = time.perf_counter()
    flow = np.zeros(len(cands))
    opened = np.zeros(len(cands), dtype=bool)
    if status != "infeasible":
        values = res.variable_values()
        for a, x in xs.items():
            flow[a] = max(values[x], 0.0)
            opened[a] = ys[a] in values and values[ys[a]] > 0.5 if a in ys else flow[a] > 0
        flow[~opened] = 0.0 if ys else flow[~opened]
    primal = res.objective_value() if status != "infeasible" else 0.0
    try:
        bound = res.best_objective_bound()
    except Exception:
        bound = primal
    gap_value = (abs(bound - primal) / max(abs(primal), 1e-9)) if status != "infeasible" and math.isfinite(
        bound) else None
    hub_links: list[Link] = []
    if status != "infeasible" and legs:
        values = res.variable_values()
        built = {h: values[z] > 0.5 for h, z in hub_vars.items()}
        inflow_q: dict[str, float] = {}
        for kind, _i, hub_id, _m, _km, f, _b, _mode, _ in legs:
            if kind == "in" and values[f] > 1e-9:
                inflow_q[hub_id] = inflow_q.get(hub_id, 0.0) + values[f]
        hub_fixed = {h.id: h.fixed_cost for h in mp.hubs}
        for kind, i, hub_id, m, km, f, b, mode_id, _ in legs:
            q = values[f]
            if q <= 1e-9 or not built[hub_id]:
                continue
            charge = hub_fixed[hub_id] * q / inflow_q[hub_id] if kind == "in" else 0.0
            if kind == "in":
                si = sup[i]
                hub_links.append(Link(si.id, hub_id, si.site, hub_id, m, m, q, econ.material(m).unit or "t", km,
                                      mode_id, b, b * q - charge, 0.0,
                                      f"{m} to hub {hub_id}, {km:.1f} km by {mode_id}: {b:.2f} yuan per unit "
                                      f"(disposal avoided − transport − hub handling).", via_hub=hub_id))
            else:
                dj = dem[i]
                hub_links.append(Link(hub_id, dj.id, hub_id, dj.site, m, m, q, econ.material(m).unit or "t", km,
                                      mode_id, b, b * q, 0.0,
                                      f"{m} from hub {hub_id}, {km:.1f} km by {mode_id}: {b:.2f} yuan per unit "
                                      f"(value − transport).", via_hub=hub_id))
    kind_name = objective if isinstance(objective, str) else "weighted"
    result = assemble_result(
        scenario, econ, cands, flow, status=status, solver=f"mathopt-{name}", components=1,
        seconds={"load": load_seconds, "candidates": t_cand - t0, "solve": t_solve - t_cand, "total": 0.0},
        gap=gap_value, objective_kind=kind_name, extra_links=tuple(hub_links), model="milp")
    # charge each opened link its fixed cost, so that the objective stays the sum over the links
    fixed_by_pair = {(sup[int(cands.supply[a])].id, dem[int(cands.demand[a])].id): float(fixed[a])
                     for a in np.flatnonzero(opened & (flow > 0)).tolist()}
    charged = tuple(replace(link, net_benefit=link.net_benefit - fixed_by_pair.get((link.supply, link.demand), 0.0),
                          fixed_cost=fixed_by_pair.get((link.supply, link.demand), 0.0))
                    if link.via_hub is None else link for link in result.links)
    net = math.fsum(link.net_benefit for link in charged)
    objective_out = replace(result.objective, net_benefit=net,
                            fixed_costs=math.fsum(fixed_by_pair.values()) + sum(
                                h.fixed_cost for h in mp.hubs if h.id in hub_vars and status != "infeasible"
                                and res.variable_values()[hub_vars[h.id]] > 0.5))
    seconds = dict(result.stats.seconds)
    seconds["total"] = round(time.perf_counter() - t0 + load_seconds, 4)
    stats = replace(result.stats, seconds=seconds,
                    extra={"build_seconds": round(t_build - t_cand, 4), "binaries": len(ys) + len(hub_vars),
                           "hubs_built": [h for h, z in hub_vars.items()
                                          if status != "infeasible" and res.variable_values()[z] > 0.5]})
    return replace(result, links=charged, objective=objective_out, stats=stats)

"""Screening: from who is in a park to the exchanges worth a closer look.

For each site with an ``industry`` (GB/T 4754 code) and no stated streams of its own, the knowledge base's
industry profile gives its typical by-products and needs per unit of output; scaled by the site's ``size``
(or the profile's typical size) they become estimated supplies and demands (``estimated: true``). Stated
streams take precedence: a site with any stated stream gets no estimates. The matcher then runs as usual;
the output adds ``estimated_streams`` and ``candidates``: every viable pair with positive benefit, ranked by
unit benefit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from matching.api import assemble_result, objective_weights
from matching.candidates import build_candidates
from matching.economics import ON_SITE, resolve_economics
from matching.result import MatchResult
from matching.scenario import Demand, Scenario, Supply
from matching.solve import solve_linear

__all__ = ["ScreeningResult", "estimate_streams", "screen"]


@dataclass(frozen=True)
class ScreeningResult:
    match: MatchResult
    estimated_supplies: tuple[Supply, ...]
    estimated_demands: tuple[Demand, ...]
    candidates: tuple[dict[str, Any], ...]

    def to_json(self) -> dict[str, Any]:
        out = self.match.to_json()
        out["estimated_streams"] = (
            [{"kind": "supply", "id": s.id, "site": s.site, "material": s.material, "quantity": s.quantity,
              "estimated": True} for s in self.estimated_supplies]
            + [{"kind": "demand", "id": d.id, "site": d.site, "material": d.material, "quantity": d.quantity,
                "estimated": True} for d in self.estimated_demands])
        out["candidates"] = list(self.candidates)
        return out


def estimate_streams(scenario: Scenario) -> tuple[tuple[Supply, ...], tuple[Demand, ...]]:
    """Estimated supplies and demands for the sites with an industry and no stated streams.

    Returns empty tuples when the scenario does not use the knowledge base (no profiles).
    """
    kb = scenario.knowledge_base if scenario.parameters.use_knowledge_base else None
    if kb is None:
        return (), ()
    with_streams = {s.site for s in scenario.supplies} | {d.site for d in scenario.demands}
    supplies: list[Supply] = []
    demands: list[Demand] = []
    for site in scenario.sites:
        if not site.industry or site.id in with_streams:
            continue
        profile = kb.profile_for(site.industry)
        if profile is None:
            continue
        size = profile.typical_size
        if site.size_quantity is not None:
            size = site.size_quantity
            if site.size_unit and site.size_unit != profile.output_unit:
                from matching.units import UnitError, convert

                try:
                    size = convert(site.size_quantity, site.size_unit, profile.output_unit)
                except UnitError:
                    size = profile.typical_size
        for k, item in enumerate(profile.byproducts):
            q = item.per_unit_output * size
            if q > 0 and item.material in kb.materials:
                supplies.append(Supply(f"{site.id}~est-s{k}", site.id, item.material, q,
                                       kb.materials[item.material].unit, {}, None, True))
        for k, item in enumerate(profile.needs):
            q = item.per_unit_output * size
            if q > 0 and item.material in kb.materials:
                demands.append(Demand(f"{site.id}~est-d{k}", site.id, item.material, q,
                                      kb.materials[item.material].unit, None, True))
    return tuple(supplies), tuple(demands)


def screen(scenario: Scenario) -> ScreeningResult:
    """Estimate streams from industry profiles, match, and rank every viable pair.

    Parameters
    ----------
    scenario : Scenario
        Sites with ``industry`` (and optionally ``size``); stated streams are kept as they are.

    Returns
    -------
    ScreeningResult
        ``to_json()`` gives the match output plus ``estimated_streams`` and ``candidates``.

    Examples
    --------
    >>> from matching.scenario import load_scenario
    >>> sc = load_scenario({"sites": [{"id": "a", "lat": 30, "lon": 110}], "supplies": [], "demands": [],
    ...     "parameters": {"use_knowledge_base": False, "transport": {"road": {"cost_per_tkm": 1}}}})
    >>> screen(sc).candidates
    ()
    """
    est_s, est_d = estimate_streams(scenario)
    full = scenario.replace_streams(scenario.supplies + est_s, scenario.demands + est_d)
    econ = resolve_economics(full)
    cands = build_candidates(full, econ)
    sol = solve_linear(cands, objective_weights(full, econ, cands, "benefit"))
    result = assemble_result(full, econ, cands, sol.flow, status="optimal", solver=sol.solver,
                             components=sol.components, seconds={"candidates": cands.seconds,
                                                                 "solve": sol.seconds})
    mode_names = [m.id for m in econ.modes]
    order = np.argsort(-cands.unit_benefit, kind="stable")
    ranked = []
    for a in order.tolist():
        s = full.supplies[int(cands.supply[a])]
        d = full.demands[int(cands.demand[a])]
        ranked.append({
            "supply": s.id, "demand": d.id, "from_site": s.site, "to_site": d.site, "material": s.material,
            "replaces": d.material, "distance_km": float(cands.distance_km[a]),
            "mode": ON_SITE if cands.mode[a] == -2 else mode_names[int(cands.mode[a])],
            "unit_benefit": float(cands.unit_benefit[a]), "estimated": s.estimated or d.estimated,
            "quality_unverified": bool(cands.quality_unknown[a]),
        })
    result = replace(result, extra={})
    return ScreeningResult(result, est_s, est_d, tuple(ranked))

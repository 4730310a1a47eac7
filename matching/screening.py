"""Screening: from who is in a park to the exchanges worth a closer look.

For each site with industry codes (GB/T 4754-2017; a site may carry several) and no stated streams of its
own, the knowledge base's industry profiles give its typical by-products and needs per unit of output;
scaled by the site's ``size`` (or the profile's typical size) they become estimated supplies and demands
(``estimated: true``). A need keeps its use (what the receiver does with the material: for heat the grade it
needs), so that only rules serving that use and the receiver's industry apply. Stated streams take
precedence: a site with any stated stream gets no estimates.

Each estimated stream has a confidence: the profile entry's confidence (sourced 1.0, unverified 0.85,
estimate 0.7) × the share of plants of the class that have the stream (``share_of_plants``, "to confirm"
below 1) × 0.8 when the profile is the group's fallback, 0.6 when it is the division's. Sites whose permits
nobody stated may receive hazardous streams their industry usually holds a permit for ("permit to verify").

By default screening proposes only exchanges worth brokering: a pair whose annual benefit at full capacity
(unit benefit × capacity, at the estimated plant sizes) is below ``min_annual_benefit`` (1 million yuan a
year by default: below that, contracts, sampling, permits and logistics set-up eat the gain of an exchange
between two firms) is left out before matching. The matcher then runs as usual on the rest; the output adds
``estimated_streams`` and ``candidates``: the viable pairs, each with its unit benefit, the most it could
carry, its confidence and the reasons for it (:mod:`matching.confidence`). Only each stream's best ``top``
pairs are kept (best by expected annual benefit: confidence × unit benefit × capacity), from the supply's side
and from the demand's; ``top=None`` keeps every viable pair, whatever its size, ranked.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from matching.api import assemble_result, objective_weights
from matching.candidates import CandidateSet, build_candidates
from matching.confidence import CONFIDENCE_OF, pair_confidence, pair_reasons
from matching.economics import ON_SITE, resolve_economics
from matching.pipes import pay_for_pipes
from matching.result import MatchResult
from matching.scenario import Demand, Estimate, Scenario, Site, Supply
from matching.solve import solve_linear

__all__ = ["DEFAULT_MIN_ANNUAL_BENEFIT", "DEFAULT_TOP", "FALLBACK_FACTOR", "ScreeningResult", "estimate_streams",
           "screen"]

#: how many pairs each stream keeps by default (from either end)
DEFAULT_TOP = 3
#: yuan a year below which an exchange is not worth brokering between two firms (see the module docstring)
DEFAULT_MIN_ANNUAL_BENEFIT = 1_000_000.0
#: the confidence left to a stream estimated from a fallback profile (the class has none of its own)
FALLBACK_FACTOR = {"own": 1.0, "group": 0.8, "division": 0.6}


@dataclass(frozen=True)
class ScreeningResult:
    match: MatchResult
    estimated_supplies: tuple[Supply, ...]
    estimated_demands: tuple[Demand, ...]
    candidates: tuple[dict[str, Any], ...]
    total_candidates: int = 0

    def to_json(self) -> dict[str, Any]:
        out = self.match.to_json()
        out["estimated_streams"] = (
            [{"kind": "supply", "id": s.id, "site": s.site, "material": s.material, "quantity": s.quantity,
              "estimated": True, "confidence": round(s.confidence, 4),
              "estimate": s.estimate.to_json() if s.estimate else None}
             for s in self.estimated_supplies]
            + [{"kind": "demand", "id": d.id, "site": d.site, "material": d.material, "quantity": d.quantity,
                "use": d.use, "estimated": True, "confidence": round(d.confidence, 4),
                "estimate": d.estimate.to_json() if d.estimate else None}
               for d in self.estimated_demands])
        out["candidates"] = list(self.candidates)
        out["candidates_total"] = self.total_candidates
        return out


def _size(site: Site, output_unit: str, typical: float) -> float:
    if site.size_quantity is None:
        return typical
    if site.size_unit and site.size_unit != output_unit:
        from matching.units import UnitError, convert

        try:
            return convert(site.size_quantity, site.size_unit, output_unit)
        except UnitError:
            return typical
    return site.size_quantity


def estimate_streams(scenario: Scenario) -> tuple[tuple[Supply, ...], tuple[Demand, ...]]:
    """Estimated supplies and demands for the sites with industry codes and no stated streams.

    Returns empty tuples when the scenario does not use the knowledge base (no profiles).
    """
    kb = scenario.knowledge_base if scenario.parameters.use_knowledge_base else None
    if kb is None:
        return (), ()
    with_streams = {s.site for s in scenario.supplies} | {d.site for d in scenario.demands}
    supplies: list[Supply] = []
    demands: list[Demand] = []
    for site in scenario.sites:
        if site.id in with_streams:
            continue
        for code in site.industries:
            found = kb.profile_match(code)
            if found is None:
                continue
            profile, level = found
            size = _size(site, profile.output_unit, profile.typical_size)
            prefix = f"{site.id}~{code}" if len(site.industries) > 1 else site.id
            for k, item in enumerate(profile.byproducts):
                q = item.per_unit_output * size
                if q > 0 and item.material in kb.materials:
                    conf = CONFIDENCE_OF[item.confidence] * item.share_of_plants * FALLBACK_FACTOR[level]
                    supplies.append(Supply(f"{prefix}~est-s{k}", site.id, item.material, q,
                                           kb.materials[item.material].unit, {}, None, True, conf,
                                           Estimate(profile.code, level, item.share_of_plants)))
            for k, item in enumerate(profile.needs):
                q = item.per_unit_output * size
                if q > 0 and item.material in kb.materials:
                    conf = CONFIDENCE_OF[item.confidence] * item.share_of_plants * FALLBACK_FACTOR[level]
                    demands.append(Demand(f"{prefix}~est-d{k}", site.id, item.material, q,
                                          kb.materials[item.material].unit, None, True, item.use, conf,
                                          Estimate(profile.code, level, item.share_of_plants)))
    return tuple(supplies), tuple(demands)


def top_per_stream(cands: CandidateSet, score: npt.NDArray[np.float64], top: int) -> npt.NDArray[np.int64]:
    """Indices of the candidates among the ``top`` best (by ``score``) of their supply or of their demand,
    in decreasing order of score."""
    order = np.argsort(-score, kind="stable")
    keep = np.zeros(len(cands), dtype=bool)
    for ends in (cands.supply, cands.demand):
        ranked = ends[order]
        # rank of each candidate within its stream: position minus the position of the stream's first
        first: dict[int, int] = {}
        rank = np.empty(len(order), dtype=np.int64)
        for pos, end in enumerate(ranked.tolist()):
            rank[pos] = pos - first.setdefault(end, pos)
        keep[order[rank < top]] = True
    return order[keep[order]]


def screen(scenario: Scenario, *, top: int | None = DEFAULT_TOP,
           min_annual_benefit: float = DEFAULT_MIN_ANNUAL_BENEFIT) -> ScreeningResult:
    """Estimate streams from industry profiles, match, and rank the viable pairs.

    Parameters
    ----------
    scenario : Scenario
        Sites with ``industry`` codes (and optionally ``size``); stated streams are kept as they are.
    top : int or None
        Keep each stream's ``top`` best pairs (from its supply's or its demand's side); ``None`` keeps every
        viable pair (and no minimum benefit applies).
    min_annual_benefit : float
        Yuan a year at full capacity below which a pair is not proposed (with ``top``).

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
    cands = build_candidates(full, econ, likely_permits=True)
    if len(cands):  # a site's own estimated by-product never answers its own estimated need: in-house practice
        sup, dem = full.supplies, full.demands
        own = np.fromiter((sup[i].estimated and dem[j].estimated and sup[i].site == dem[j].site
                           for i, j in zip(cands.supply.tolist(), cands.demand.tolist(), strict=True)),
                          dtype=bool, count=len(cands))
        keep = ~own
        if top is not None and min_annual_benefit > 0:
            keep &= cands.unit_benefit * cands.capacity >= min_annual_benefit
        cands = cands.subset(keep)
    def weights(c: CandidateSet) -> npt.NDArray[np.float64]:
        return objective_weights(full, econ, c, "benefit")

    cands, sol = pay_for_pipes(cands, solve_linear(cands, weights(cands)), econ, weights, scenario=full)
    result = assemble_result(full, econ, cands, sol.flow, status="optimal", solver=sol.solver,
                             components=sol.components, seconds={"candidates": cands.seconds,
                                                                 "solve": sol.seconds})
    confidence = pair_confidence(cands, full)
    expected = confidence * cands.unit_benefit * np.minimum(cands.capacity, cands.supply_qty[cands.supply])
    chosen = (np.argsort(-expected, kind="stable") if top is None
              else top_per_stream(cands, expected, top)) if len(cands) else np.zeros(0, dtype=np.int64)
    mode_names = [m.id for m in econ.modes]
    ranked = []
    for a in chosen.tolist():
        s = full.supplies[int(cands.supply[a])]
        d = full.demands[int(cands.demand[a])]
        rule = cands.rules[int(cands.rule[a])]
        ranked.append({
            "supply": s.id, "demand": d.id, "from_site": s.site, "to_site": d.site, "material": s.material,
            "replaces": d.material, "rule": rule.id, "use": rule.use or d.use,
            "distance_km": float(cands.distance_km[a]),
            "mode": ON_SITE if cands.mode[a] == -2 else mode_names[int(cands.mode[a])],
            "unit_benefit": float(cands.unit_benefit[a]), "capacity": float(cands.capacity[a]),
            "expected_benefit": float(expected[a]), "confidence": round(float(confidence[a]), 4),
            "reasons": pair_reasons(cands, a, full, econ), "estimated": s.estimated or d.estimated,
            "quality_unverified": bool(cands.quality_unknown[a]),
            "permit_to_verify": bool(cands.permit_to_verify[a]),
        })
    result = replace(result, extra={})
    return ScreeningResult(result, est_s, est_d, tuple(ranked), len(cands))

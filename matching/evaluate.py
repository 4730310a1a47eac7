"""An independent check of a result: recompute every figure from the scenario and check every constraint.

It does not use the candidate arrays or the solver: for each link it looks the streams up by id, recomputes
the distance (explicit, or great-circle × circuity, 0 on the same site), the rule, the mode and the figures
with :func:`matching.economics.link_economics`, then checks quantities against supplies, demands and max
shares, hazardous permits, quality gates and maximum distances, and that the totals add up. A link's
``breakdown`` (the parts of its explanation) must agree with the recomputed figures, add up to its unit
benefit, and name only limits that are reached.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from matching.economics import ON_SITE, LinkEconomics, Rule, link_economics, permit_covers, resolve_economics
from matching.geo import haversine_km
from matching.result import BINDING_CODES, MatchResult
from matching.scenario import Scenario

__all__ = ["Evaluation", "evaluate"]


@dataclass(frozen=True)
class Evaluation:
    """``ok`` when no problem was found; the recomputed totals are given either way."""

    ok: bool
    problems: tuple[str, ...]
    net_benefit: float
    co2_avoided_t: float
    quantity: float
    details: dict[str, float] = field(default_factory=dict, hash=False)


def _close(a: float, b: float, rel: float, abs_: float = 1e-6) -> bool:
    return abs(a - b) <= max(abs_, rel * max(abs(a), abs(b)))


def evaluate(scenario: Scenario, result: MatchResult | Mapping[str, Any], *, rel_tol: float = 1e-7
             ) -> Evaluation:
    """Recompute a result's figures and check every constraint of the model.

    Parameters
    ----------
    scenario : Scenario
        The scenario the result answers.
    result : MatchResult or mapping
        The result, or its JSON form.
    rel_tol : float
        Relative tolerance for figures and for capacities.

    Returns
    -------
    Evaluation
        ``ok`` and the list of problems, each naming the link or stream.

    Examples
    --------
    >>> from matching.api import match
    >>> doc = {"sites": [{"id": "a", "lat": 30, "lon": 110}],
    ...        "supplies": [{"id": "s", "site": "a", "material": "m", "quantity": 5}],
    ...        "demands": [{"id": "d", "site": "a", "material": "m", "quantity": 3}],
    ...        "parameters": {"use_knowledge_base": False, "prices": {"m": 10},
    ...                       "transport": {"road": {"cost_per_tkm": 1}}}}
    >>> from matching.scenario import load_scenario
    >>> sc = load_scenario(doc)
    >>> evaluate(sc, match(sc)).ok
    True
    """
    data = result.to_json() if isinstance(result, MatchResult) else result
    econ = resolve_economics(scenario)
    problems: list[str] = []
    sites = scenario.site_map()
    sup = {s.id: s for s in scenario.supplies}
    dem = {d.id: d for d in scenario.demands}
    explicit: dict[tuple[str, str], float] = {}
    for dist in scenario.distances:
        explicit[(dist.origin, dist.destination)] = dist.km
        explicit.setdefault((dist.destination, dist.origin), dist.km)
    used_s: dict[str, float] = defaultdict(float)
    used_d: dict[str, float] = defaultdict(float)
    used_g: dict[tuple[str, str], float] = defaultdict(float)
    total_b = total_co2 = total_q = 0.0
    seen: set[tuple[str, str]] = set()
    claims: list[tuple[str, str, str, tuple[str, ...]]] = []  # (supply, demand, rule, binding codes)
    for n, link in enumerate(data.get("links", [])):
        if link.get("via_hub"):
            continue  # hub flows are checked by the MILP's own evaluation
        where = f"links[{n}] ({link.get('supply')}→{link.get('demand')})"
        s = sup.get(link["supply"])
        d = dem.get(link["demand"])
        if s is None or d is None:
            problems.append(f"{where}: unknown supply or demand id")
            continue
        if (s.id, d.id) in seen:
            problems.append(f"{where}: the pair appears twice")
        seen.add((s.id, d.id))
        q = float(link["quantity"])
        if q < 0:
            problems.append(f"{where}: negative quantity {q}")
        if link["from_site"] != s.site or link["to_site"] != d.site or link["material"] != s.material \
                or link["replaces"] != d.material:
            problems.append(f"{where}: sites or materials do not match the streams")
        site_s, site_d = sites[s.site], sites[d.site]
        same = s.site == d.site
        if same:
            km = 0.0
        elif (s.site, d.site) in explicit:
            km = explicit[(s.site, d.site)]
        else:
            km = float(haversine_km(site_s.lat, site_s.lon, site_d.lat, site_d.lon)) * econ.circuity(
                site_s.province)
        if not _close(km, float(link["distance_km"]), 1e-9, 1e-6):
            problems.append(f"{where}: distance {link['distance_km']} ≠ recomputed {km}")
        # rule: the applicable one with the best distance-free benefit (same policy as the candidates)
        rules = econ.rules_for(s.material, d.material)
        applicable: list[Rule] = [r for r in rules if r.check(s.attributes) != "fail"]
        if not applicable:
            problems.append(f"{where}: no rule lets {s.material} serve {d.material} (or a quality gate fails)")
            continue
        price = econ.price(d.material)
        rule = max(applicable, key=lambda r: r.ratio * price - r.pretreatment_cost)
        info = econ.material(s.material)
        if info.hazardous and not permit_covers(site_d.permits, info.hw_code):
            problems.append(f"{where}: hazardous {s.material} ({info.hw_code}) to a site without the permit")
        limit = min(d.max_distance_km if d.max_distance_km is not None else math.inf,
                    econ.max_distance_km.get(s.material, math.inf))
        if km > limit * (1 + 1e-12):
            problems.append(f"{where}: {km:.3f} km beyond the maximum distance {limit}")
        le = link_economics(econ, material=s.material, replaces=d.material, distance_km=km, same_site=same,
                            disposal_cost=s.disposal_cost, rule=rule,
                            mode=None if link["mode"] == ON_SITE else link["mode"])
        if le is None:
            problems.append(f"{where}: mode {link['mode']} cannot carry {s.material} {km:.1f} km")
            continue
        both = frozenset(site_s.access) & frozenset(site_d.access)
        mode_obj = next((m for m in econ.modes if m.id == le.mode), None)
        if mode_obj is not None and mode_obj.needs_access and le.mode not in both:
            problems.append(f"{where}: mode {le.mode} needs access at both sites")
        best = link_economics(econ, material=s.material, replaces=d.material, distance_km=km, same_site=same,
                              disposal_cost=s.disposal_cost, rule=rule, access=both)
        if best is not None and best.mode != le.mode and best.unit_benefit > le.unit_benefit * (1 + 1e-9) + 1e-9:
            problems.append(f"{where}: mode {le.mode} is not the cheapest allowed ({best.mode})")
        if le.unit_benefit <= 0:
            problems.append(f"{where}: unit benefit {le.unit_benefit} ≤ 0 carries flow")
        if not _close(le.unit_benefit, float(link["unit_benefit"]), rel_tol):
            problems.append(f"{where}: unit benefit {link['unit_benefit']} ≠ recomputed {le.unit_benefit}")
        parts = link.get("breakdown")
        if parts is not None:
            problems.extend(_breakdown_problems(where, parts, le, float(link["unit_benefit"]), rel_tol))
            claims.append((s.id, d.id, rule.id, tuple(parts.get("binding", ()))))
        link_fixed = float(link.get("fixed_cost", 0.0))
        if not _close(le.unit_benefit * q - link_fixed, float(link["net_benefit"]), rel_tol):
            problems.append(f"{where}: net benefit {link['net_benefit']} ≠ recomputed "
                            f"{le.unit_benefit * q - link_fixed}")
        if not _close(le.unit_co2_avoided_t * q, float(link["co2_avoided_t"]), rel_tol):
            problems.append(f"{where}: CO2 {link['co2_avoided_t']} ≠ recomputed {le.unit_co2_avoided_t * q}")
        used_s[s.id] += q
        used_d[d.id] += le.delivered_ratio * q
        if rule.max_share < 1:
            used_g[(d.id, rule.id)] += le.delivered_ratio * q
        total_b += le.unit_benefit * q - link_fixed
        total_co2 += le.unit_co2_avoided_t * q
        total_q += q
    for sid, used in used_s.items():
        if used > sup[sid].quantity * (1 + rel_tol) + 1e-9:
            problems.append(f"supply {sid}: {used} moved > {sup[sid].quantity} available")
    for did, used in used_d.items():
        if used > dem[did].quantity * (1 + rel_tol) + 1e-9:
            problems.append(f"demand {did}: {used} delivered > {dem[did].quantity} wanted")
    for (did, rid), used in used_g.items():
        rule_share = _share_of(econ, rid, dem[did].material)
        cap = (rule_share if rule_share is not None else 1.0) * dem[did].quantity
        if used > cap * (1 + rel_tol) + 1e-9:
            problems.append(f"demand {did}: rule {rid} covers {used} > max share cap {cap}")
    for sid, did, rid, codes in claims:  # a limit a link names as binding is reached
        if "supply" in codes and used_s[sid] < sup[sid].quantity * (1 - 1e-6):
            problems.append(f"{sid}→{did}: binding 'supply' but only {used_s[sid]} of {sup[sid].quantity} moved")
        if "demand" in codes and used_d[did] < dem[did].quantity * (1 - 1e-6):
            problems.append(f"{sid}→{did}: binding 'demand' but only {used_d[did]} of {dem[did].quantity} delivered")
        share = _share_of(econ, rid, dem[did].material)
        if "share" in codes and (share is None or used_g[(did, rid)] < share * dem[did].quantity * (1 - 1e-6)):
            problems.append(f"{sid}→{did}: binding 'share' but the max share of rule {rid} is not reached")
    obj = data.get("objective", {})
    fixed = 0.0  # fixed costs are inside each link's net benefit
    hub_b = sum(float(link["net_benefit"]) for link in data.get("links", []) if link.get("via_hub"))
    if not _close(total_b + hub_b - fixed, float(obj.get("net_benefit", 0.0)), rel_tol):
        problems.append(f"objective.net_benefit {obj.get('net_benefit')} ≠ recomputed {total_b + hub_b - fixed}")
    link_sum = math.fsum(float(link["net_benefit"]) for link in data.get("links", []))
    if not _close(link_sum - fixed, float(obj.get("net_benefit", 0.0)), 1e-12):
        problems.append("objective.net_benefit is not the sum of the links' net benefit")
    if not _close(total_co2, float(obj.get("co2_avoided_t", 0.0)) - sum(
            float(link["co2_avoided_t"]) for link in data.get("links", []) if link.get("via_hub")), rel_tol):
        problems.append(f"objective.co2_avoided_t {obj.get('co2_avoided_t')} ≠ recomputed {total_co2}")
    # unmatched amounts
    unmatched = data.get("unmatched", {})
    rem_s = {r["id"]: float(r["remaining"]) for r in unmatched.get("supplies", [])}
    for s in scenario.supplies:
        left = s.quantity - used_s.get(s.id, 0.0)
        has_hub = any(link.get("via_hub") for link in data.get("links", []))
        if not has_hub and not _close(left, rem_s.get(s.id, 0.0), 1e-6, 1e-6 * max(1.0, s.quantity)):
            problems.append(f"supply {s.id}: remaining {rem_s.get(s.id, 0.0)} ≠ recomputed {left}")
    rem_d = {r["id"]: float(r["remaining"]) for r in unmatched.get("demands", [])}
    for d in scenario.demands:
        left = d.quantity - used_d.get(d.id, 0.0)
        if not _close(left, rem_d.get(d.id, 0.0), 1e-6, 1e-6 * max(1.0, d.quantity)):
            problems.append(f"demand {d.id}: remaining {rem_d.get(d.id, 0.0)} ≠ recomputed {left}")
    return Evaluation(not problems, tuple(problems), total_b + hub_b - fixed, total_co2, total_q)


def _breakdown_problems(where: str, parts: Mapping[str, Any], le: LinkEconomics, unit_benefit: float,
                        rel_tol: float) -> list[str]:
    """The parts of a link's explanation agree with the recomputed figures and add up to its unit benefit."""
    out: list[str] = []
    scale = max(1.0, abs(le.delivered_ratio * le.price), abs(le.disposal_cost), abs(unit_benefit))
    expected = {"value": le.delivered_ratio * le.price, "disposal_avoided": le.disposal_cost,
                "pretreatment": le.pretreatment_cost, "transport": le.transport_cost_per_unit, "ratio": le.ratio}
    for key, want in expected.items():
        got = float(parts.get(key, math.nan))
        if not _close(got, want, rel_tol, rel_tol * scale):
            out.append(f"{where}: breakdown {key} {got} ≠ recomputed {want}")
    total = (float(parts.get("value", 0.0)) + float(parts.get("disposal_avoided", 0.0))
             - float(parts.get("pretreatment", 0.0)) - float(parts.get("transport", 0.0)))
    if not _close(total, unit_benefit, 1e-9, 1e-9 * scale):
        out.append(f"{where}: breakdown adds up to {total}, not the unit benefit {unit_benefit}")
    codes = list(parts.get("binding", ()))
    if set(codes) - set(BINDING_CODES) or len(set(codes)) != len(codes):
        out.append(f"{where}: breakdown binding {codes} (expected distinct codes of {', '.join(BINDING_CODES)})")
    if ("share" in codes) != (parts.get("max_share") is not None):
        out.append(f"{where}: breakdown max_share goes with the binding code 'share'")
    return out


def _share_of(econ: Any, rule_id: str, replaces: str) -> float | None:
    for (_m, v), rules in econ.rules.items():
        if v != replaces:
            continue
        for r in rules:
            if r.id == rule_id:
                return float(r.max_share)
    return None

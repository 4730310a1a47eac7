"""An independent check of a result: recompute every figure from the scenario and check every constraint.

It does not use the candidate arrays or the solver: for each link it looks the streams up by id, recomputes
the rule the receiver may use (:func:`matching.economics.choose_rule`), the distance (stated, or great-circle
× the mode's route factor or the origin's circuity, 0 on the same site), the mode and the figures with
:func:`matching.economics.link_economics` (pipelines: capex spread over the link's capacity in the linear
model, a fixed cost per link in the MILP), then checks quantities against supplies, demands and max shares,
hazardous permits, quality gates and maximum distances (the demand's and the material's economic radius),
and that the totals add up. A link's ``breakdown`` (the parts of its explanation) must agree with the
recomputed figures, add up to its unit benefit, name the rule used and only limits that are reached. Legs
through hubs (MILP) are recomputed with :func:`matching.economics.leg_economics`; flows through each hub must
balance per material and stay within its capacity.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from matching.economics import (
    ON_SITE,
    Economics,
    LinkEconomics,
    Rule,
    choose_rule,
    leg_economics,
    link_economics,
    permit_status,
    resolve_economics,
)
from matching.geo import haversine_km
from matching.result import BINDING_CODES, MatchResult
from matching.scenario import Demand, Scenario, Supply

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


def evaluate(scenario: Scenario, result: MatchResult | Mapping[str, Any], *, rel_tol: float = 1e-7,
             likely_permits: bool = False) -> Evaluation:
    """Recompute a result's figures and check every constraint of the model.

    Parameters
    ----------
    scenario : Scenario
        The scenario the result answers.
    result : MatchResult or mapping
        The result, or its JSON form.
    rel_tol : float
        Relative tolerance for figures and for capacities.
    likely_permits : bool
        A screening's result: sites whose permits nobody stated may take what their industry usually has a
        permit for.

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
    kb = scenario.knowledge_base
    milp = data.get("model") == "milp"
    # pipes paid at the flow they carry (matching.pipes): a mode is compared with a pipe sized for the link's flow
    paid = not milp and (data.get("stats") or {}).get("pipes") == "paid"
    per_link_fixed = scenario.parameters.milp.fixed_cost_per_link if milp else 0.0
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
    hub_links: list[tuple[int, Mapping[str, Any]]] = []
    for n, link in enumerate(data.get("links", [])):
        if link.get("via_hub"):
            hub_links.append((n, link))
            continue
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
        stated = explicit.get((s.site, d.site))
        gc = 0.0 if same else float(haversine_km(site_s.lat, site_s.lon, site_d.lat, site_d.lon))
        # rule: the one the receiver may use with the best distance-free benefit (economics.choose_rule)
        rule, _unverified = choose_rule(econ, s.material, d.material, s.attributes, industries=site_d.industries,
                                        use=d.use)
        if rule is None:
            problems.append(f"{where}: no rule lets {s.material} serve {d.material} at this receiver (or a "
                            "quality gate fails)")
            continue
        info = econ.material(s.material)
        if info.hazardous and permit_status(site_d.permits, info.hw_code,
                                            permits_known=site_d.permits_known or not likely_permits,
                                            industries=site_d.industries, kb=kb) == "missing":
            problems.append(f"{where}: hazardous {s.material} ({info.hw_code}) to a site without the permit")
        limit = min(d.max_distance_km if d.max_distance_km is not None else math.inf, econ.radius(s.material))
        both = frozenset(site_s.access) & frozenset(site_d.access)
        parts_in = link.get("breakdown") or {}
        sized_for = None if milp else parts_in.get("capacity")  # a pipe sized for the flow it carries
        if sized_for is None and paid and q > 0:
            sized_for = q  # another mode was chosen over a pipe that would be sized for this flow
        pair = _Pair(econ, s, d, rule, stated, gc, econ.circuity(site_s.province), same,
                     None if sized_for is None else float(sized_for))
        le = pair.figures(None if link["mode"] == ON_SITE else link["mode"], math.inf, frozenset())
        if le is None:
            problems.append(f"{where}: mode {link['mode']} cannot carry {s.material} here")
            continue
        if not _close(le.distance_km, float(link["distance_km"]), 1e-9, 1e-6):
            problems.append(f"{where}: distance {link['distance_km']} ≠ recomputed {le.distance_km}")
        if le.distance_km > limit * (1 + 1e-12):
            problems.append(f"{where}: {le.distance_km:.3f} km beyond the maximum distance {limit}")
        mode_obj = next((m for m in econ.modes if m.id == le.mode), None)
        if mode_obj is not None and mode_obj.needs_access and le.mode not in both:
            problems.append(f"{where}: mode {le.mode} needs access at both sites")
        best = pair.figures(None, limit, both)
        if best is not None and best.mode != le.mode and best.unit_benefit > le.unit_benefit * (1 + 1e-9) + 1e-9:
            problems.append(f"{where}: mode {le.mode} is not the best allowed ({best.mode})")
        if le.unit_benefit <= 0:
            problems.append(f"{where}: unit benefit {le.unit_benefit} ≤ 0 (pipeline included) carries flow")
        if sized_for is not None:
            most = min(s.quantity, min(1.0, rule.max_share) * d.quantity / le.delivered_ratio)
            if q > float(sized_for) * (1 + 1e-6) + 1e-9 or float(sized_for) > most * (1 + 1e-9) + 1e-9:
                problems.append(f"{where}: a pipe sized for {sized_for} cannot carry {q} (or is larger than the "
                                f"link's {most})")
        unit_b = le.unit_benefit_before_pipeline if milp else le.unit_benefit
        if not _close(unit_b, float(link["unit_benefit"]), rel_tol):
            problems.append(f"{where}: unit benefit {link['unit_benefit']} ≠ recomputed {unit_b}")
        link_fixed = float(link.get("fixed_cost", 0.0))
        if milp and le.fixed_cost > 0 and q > 0 and not _close(link_fixed, le.fixed_cost + per_link_fixed, rel_tol):
            problems.append(f"{where}: fixed cost {link_fixed} ≠ pipeline capex {le.fixed_cost} + "
                            f"{per_link_fixed} per link")
        parts = link.get("breakdown")
        if parts is not None:
            problems.extend(_breakdown_problems(where, parts, le, unit_b, rel_tol, milp=milp))
            if parts.get("rule") is not None and parts.get("rule") != rule.id:
                problems.append(f"{where}: breakdown names rule {parts.get('rule')}, the receiver gets {rule.id}")
            claims.append((s.id, d.id, rule.id, tuple(parts.get("binding", ()))))
        if not _close(unit_b * q - link_fixed, float(link["net_benefit"]), rel_tol):
            problems.append(f"{where}: net benefit {link['net_benefit']} ≠ recomputed {unit_b * q - link_fixed}")
        if not _close(le.unit_co2_avoided_t * q, float(link["co2_avoided_t"]), rel_tol):
            problems.append(f"{where}: CO2 {link['co2_avoided_t']} ≠ recomputed {le.unit_co2_avoided_t * q}")
        used_s[s.id] += q
        used_d[d.id] += le.delivered_ratio * q
        if rule.max_share < 1:
            used_g[(d.id, rule.id)] += le.delivered_ratio * q
        total_b += unit_b * q - link_fixed
        total_co2 += le.unit_co2_avoided_t * q
        total_q += q
    hub_b = _hub_problems(scenario, econ, hub_links, sup, dem, used_s, used_d, problems, rel_tol)
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
    if not _close(total_b + hub_b, float(obj.get("net_benefit", 0.0)), rel_tol):
        problems.append(f"objective.net_benefit {obj.get('net_benefit')} ≠ recomputed {total_b + hub_b}")
    link_sum = math.fsum(float(link["net_benefit"]) for link in data.get("links", []))
    if not _close(link_sum, float(obj.get("net_benefit", 0.0)), 1e-12):
        problems.append("objective.net_benefit is not the sum of the links' net benefit")
    if not _close(total_co2, float(obj.get("co2_avoided_t", 0.0)) - sum(
            float(link["co2_avoided_t"]) for _, link in hub_links), rel_tol):
        problems.append(f"objective.co2_avoided_t {obj.get('co2_avoided_t')} ≠ recomputed {total_co2}")
    # unmatched amounts
    unmatched = data.get("unmatched", {})
    rem_s = {r["id"]: float(r["remaining"]) for r in unmatched.get("supplies", [])}
    for s in scenario.supplies:
        left = s.quantity - used_s.get(s.id, 0.0)
        if not hub_links and not _close(left, rem_s.get(s.id, 0.0), 1e-6, 1e-6 * max(1.0, s.quantity)):
            problems.append(f"supply {s.id}: remaining {rem_s.get(s.id, 0.0)} ≠ recomputed {left}")
    rem_d = {r["id"]: float(r["remaining"]) for r in unmatched.get("demands", [])}
    for d in scenario.demands:
        left = d.quantity - used_d.get(d.id, 0.0)
        if not hub_links and not _close(left, rem_d.get(d.id, 0.0), 1e-6, 1e-6 * max(1.0, d.quantity)):
            problems.append(f"demand {d.id}: remaining {rem_d.get(d.id, 0.0)} ≠ recomputed {left}")
    return Evaluation(not problems, tuple(problems), total_b + hub_b, total_co2, total_q)


@dataclass(frozen=True)
class _Pair:
    """One link's streams, rule and distance: its figures by a given (or the best) mode."""

    econ: Economics
    supply: Supply
    demand: Demand
    rule: Rule
    stated_km: float | None
    gc_km: float
    circuity: float
    same_site: bool
    sized_for: float | None = None

    def figures(self, mode: str | None, max_km: float, access: frozenset[str]) -> LinkEconomics | None:
        s, d = self.supply, self.demand
        return link_economics(self.econ, material=s.material, replaces=d.material, distance_km=self.stated_km,
                              gc_km=self.gc_km, circuity=self.circuity, same_site=self.same_site,
                              disposal_cost=s.disposal_cost, rule=self.rule, supply_qty=s.quantity,
                              demand_qty=d.quantity, max_km=max_km, mode=mode, access=access,
                              sized_for=self.sized_for)


def _hub_problems(scenario: Scenario, econ: Economics, hub_links: list[tuple[int, Mapping[str, Any]]],
                  sup: Mapping[str, Supply], dem: Mapping[str, Demand], used_s: dict[str, float],
                  used_d: dict[str, float], problems: list[str], rel_tol: float) -> float:
    """Check the legs through hubs (MILP mode): each leg's figures by :func:`leg_economics`, flow kept per hub
    and material, capacity, each built hub's fixed cost charged once to its inbound legs. Adds the legs'
    quantities to the streams' use; returns the legs' net benefit."""
    hubs = {h.id: h for h in scenario.parameters.milp.hubs}
    sites = scenario.site_map()
    balance: dict[tuple[str, str], float] = defaultdict(float)
    inflow: dict[str, float] = defaultdict(float)
    charged: dict[str, float] = defaultdict(float)
    total = 0.0
    for n, link in hub_links:
        where = f"links[{n}] ({link.get('supply')}→{link.get('demand')}, hub {link.get('via_hub')})"
        hub = hubs.get(str(link["via_hub"]))
        if hub is None:
            problems.append(f"{where}: unknown hub")
            continue
        q = float(link["quantity"])
        m = link["material"]
        into = link["demand"] == hub.id
        if into:
            s = sup.get(link["supply"])
            if s is None or s.material != m:
                problems.append(f"{where}: the leg does not start at a supply of {m}")
                continue
            st = sites[s.site]
            disp = econ.disposal_cost(m) if s.disposal_cost is None else s.disposal_cost
            leg = leg_economics(econ, material=m, gc_km=float(haversine_km(st.lat, st.lon, hub.lat, hub.lon)),
                                circuity=econ.circuity(st.province), into_hub=True, disposal_cost=disp,
                                hub_handling=hub.handling_per_unit, capacity=s.quantity)
            used_s[s.id] += q
            balance[(hub.id, m)] += q
            inflow[hub.id] += q
        else:
            d = dem.get(link["demand"])
            if d is None or d.material != m or link["supply"] != hub.id:
                problems.append(f"{where}: the leg does not end at a demand for {m}")
                continue
            dt = sites[d.site]
            leg = leg_economics(econ, material=m, gc_km=float(haversine_km(hub.lat, hub.lon, dt.lat, dt.lon)),
                                circuity=econ.circuity(None), into_hub=False, capacity=d.quantity)
            used_d[d.id] += q
            balance[(hub.id, m)] -= q
        if leg is None:
            problems.append(f"{where}: no mode carries {m} on this leg")
            continue
        if not _close(leg.unit_benefit, float(link["unit_benefit"]), rel_tol):
            problems.append(f"{where}: unit benefit {link['unit_benefit']} ≠ recomputed {leg.unit_benefit}")
        if not _close(leg.distance_km, float(link["distance_km"]), 1e-9, 1e-6):
            problems.append(f"{where}: distance {link['distance_km']} ≠ recomputed {leg.distance_km}")
        charge = leg.unit_benefit * q - float(link["net_benefit"])
        if into:
            charged[hub.id] += charge
        elif not _close(charge, 0.0, rel_tol, 1e-6 * max(1.0, abs(leg.unit_benefit * q))):
            problems.append(f"{where}: an outbound leg carries a charge of {charge}")
        total += float(link["net_benefit"])
    for (hub_id, m), left in balance.items():
        if not _close(left, 0.0, rel_tol, 1e-6 * max(1.0, inflow[hub_id])):
            problems.append(f"hub {hub_id}: {m} in and out differ by {left}")
    for hub_id, q in inflow.items():
        hub = hubs[hub_id]
        if q > hub.capacity * (1 + rel_tol) + 1e-9:
            problems.append(f"hub {hub_id}: {q} through it > capacity {hub.capacity}")
        if not _close(charged[hub_id], hub.fixed_cost, rel_tol, 1e-6 * max(1.0, hub.fixed_cost)):
            problems.append(f"hub {hub_id}: inbound legs carry {charged[hub_id]} of its fixed cost "
                            f"{hub.fixed_cost}")
    return total


def _breakdown_problems(where: str, parts: Mapping[str, Any], le: LinkEconomics, unit_benefit: float,
                        rel_tol: float, *, milp: bool) -> list[str]:
    """The parts of a link's explanation agree with the recomputed figures and add up to its unit benefit."""
    out: list[str] = []
    scale = max(1.0, abs(le.delivered_ratio * le.price), abs(le.disposal_cost), abs(unit_benefit))
    expected = {"value": le.delivered_ratio * le.price, "disposal_avoided": le.disposal_cost,
                "pretreatment": le.pretreatment_cost, "transport": le.transport_cost_per_unit, "ratio": le.ratio,
                "pipeline": 0.0 if milp else le.pipeline}
    for key, want in expected.items():
        got = float(parts.get(key, math.nan))
        if not _close(got, want, rel_tol, rel_tol * scale):
            out.append(f"{where}: breakdown {key} {got} ≠ recomputed {want}")
    total = (float(parts.get("value", 0.0)) + float(parts.get("disposal_avoided", 0.0))
             - float(parts.get("pretreatment", 0.0)) - float(parts.get("transport", 0.0))
             - float(parts.get("pipeline", 0.0)))
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

"""Builders for small scenarios stated in full (no knowledge base), and an independent LP oracle."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from scipy.optimize import linprog
from scipy.sparse import csr_matrix, diags, hstack, identity

from matching.geo import haversine_km

ROAD = {"cost_per_tkm": 0.5, "handling_per_t": 10.0, "co2_kg_per_tkm": 0.08}


def scenario_doc(*, sites: list[dict[str, Any]], supplies: list[dict[str, Any]],
                 demands: list[dict[str, Any]], prices: dict[str, float] | None = None,
                 **params: Any) -> dict[str, Any]:
    """A scenario document with every parameter stated (``use_knowledge_base: false``)."""
    parameters: dict[str, Any] = {"use_knowledge_base": False, "circuity": 1.0,
                                  "transport": {"road": dict(ROAD)}, "prices": prices or {}}
    parameters.update(params)
    return {"name": "test", "sites": sites, "supplies": supplies, "demands": demands,
            "parameters": parameters}


@pytest.fixture
def base_doc() -> dict[str, Any]:
    """Two sites 100 km apart on a meridian (circuity 1), one supply and one demand of ``slag``."""
    lat2 = 30.0 + 100.0 / 6371.0088 * 180.0 / np.pi
    return copy.deepcopy(scenario_doc(
        sites=[{"id": "A", "lat": 30.0, "lon": 110.0}, {"id": "B", "lat": lat2, "lon": 110.0}],
        supplies=[{"id": "s1", "site": "A", "material": "slag", "quantity": 100.0}],
        demands=[{"id": "d1", "site": "B", "material": "slag", "quantity": 60.0}],
        prices={"slag": 100.0}))


def _gate_ok(g: dict[str, Any], attrs: dict[str, float]) -> bool:
    a = attrs.get(g["attribute"])
    if a is None:
        return not g.get("required", False)
    return {"<=": a <= g["value"], ">=": a >= g["value"], "<": a < g["value"], ">": a > g["value"],
            "==": a == g["value"]}[g["op"]]


def oracle_columns(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every viable (supply, demand) pair of a scenario stated in full, priced independently of the library
    (no pruning, no shortcuts): the best rule the receiver may use (gates, receivers, use), then per mode the
    routed distance (route factor or circuity, or the stated km), losses, the capacity ``U`` and the benefit
    with the pipeline's capex spread over ``U``; the best mode wins."""
    p = doc["parameters"]
    sites = {s["id"]: s for s in doc["sites"]}
    circ = p.get("circuity", 1.0)
    prices, disposal = p.get("prices", {}), p.get("disposal_costs", {})
    mats = p.get("materials", {})
    rules: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in p.get("substitutions", []):
        rules.setdefault((r["material"], r["replaces"]), []).append(r)
    explicit = {}
    for e in doc.get("distances", []):
        explicit[(e["from"], e["to"])] = e["km"]
        explicit.setdefault((e["to"], e["from"]), e["km"])
    out: list[dict[str, Any]] = []
    sup, dem = doc["supplies"], doc["demands"]
    for i, s in enumerate(sup):
        for j, d in enumerate(dem):
            m, v = s["material"], d["material"]
            site_d = sites[d["site"]]
            industries = site_d.get("industry") or []
            industries = [industries] if isinstance(industries, str) else industries
            if m == v:
                cand = [{"ratio": 1.0, "max_share": 1.0, "pretreatment_cost": 0.0, "gates": []}]
            else:
                cand = rules.get((m, v), [])
            best = None
            for r in cand:
                if d.get("use") and r.get("use") and r["use"] != d["use"]:
                    continue
                receivers = r.get("receivers") or []
                if receivers and industries and not any(c.startswith(x) for c in industries for x in receivers):
                    continue
                ok = all(_gate_ok(g, s.get("attributes", {})) for g in r.get("gates", []))
                if ok and (best is None or r["ratio"] * prices.get(v, 0) - r.get("pretreatment_cost", 0)
                           > best["ratio"] * prices.get(v, 0) - best.get("pretreatment_cost", 0)):
                    best = r
            if best is None:
                continue
            info = mats.get(m, {})
            if info.get("hazardous"):
                perms = site_d.get("permits", [])
                if info["hw_code"] not in perms:
                    continue
            a_, b_ = sites[s["site"]], sites[d["site"]]
            same = s["site"] == d["site"]
            gc = 0.0 if same else float(haversine_km(a_["lat"], a_["lon"], b_["lat"], b_["lon"]))
            stated = explicit.get((s["site"], d["site"]))
            limit = min(d.get("max_distance_km", np.inf), p.get("max_distance_km", {}).get(m, np.inf))
            disp = s.get("disposal_cost", disposal.get(m, 0.0))
            ratio = best["ratio"]
            head = prices.get(v, 0.0) * ratio + disp - best.get("pretreatment_cost", 0.0)
            cap_d = min(1.0, best.get("max_share", 1.0)) * d["quantity"]
            choice = None
            if same:
                u = min(s["quantity"], cap_d / ratio)
                choice = (head, ratio, 0.0, u)
            else:
                for mode in p["transport"].values():
                    km = stated if stated is not None else gc * mode.get("route_factor", circ)
                    if km > limit or (mode.get("max_distance_km") is not None and km > mode["max_distance_km"]):
                        continue
                    deliv = ratio * (1.0 - mode.get("loss_per_km", 0.0) * km)
                    if deliv <= 0:
                        continue
                    u = min(s["quantity"], cap_d / deliv)
                    fixed = mode.get("annualised_capex_per_km", 0.0) * km
                    b = (deliv * prices.get(v, 0.0) + disp - best.get("pretreatment_cost", 0.0)
                         - mode.get("handling_per_t", 0.0) - mode["cost_per_tkm"] * km - fixed / u)
                    if choice is None or b > choice[0]:
                        choice = (b, deliv, fixed, u)
            if choice is None or choice[0] <= 0:
                continue
            b, deliv, fixed, u = choice
            out.append({"supply": i, "demand": j, "benefit": b, "ratio": deliv, "fixed": fixed, "capacity": u,
                        "group": (j, id(best)) if best.get("max_share", 1.0) < 1 else None,
                        "cap": min(1.0, best.get("max_share", 1.0)) * d["quantity"]})
    return out


def _rows(doc: dict[str, Any], cols: list[dict[str, Any]]) -> tuple[csr_matrix, list[float]]:
    sup, dem = doc["supplies"], doc["demands"]
    gkeys = sorted({c["group"] for c in cols if c["group"] is not None}, key=str)
    gindex = {g: n for n, g in enumerate(gkeys)}
    gcap = {c["group"]: c["cap"] for c in cols if c["group"] is not None}
    rr, cc, vv = [], [], []
    for k, c in enumerate(cols):
        rr += [c["supply"], len(sup) + c["demand"]]
        cc += [k, k]
        vv += [1.0, c["ratio"]]
        if c["group"] is not None:
            rr.append(len(sup) + len(dem) + gindex[c["group"]])
            cc.append(k)
            vv.append(c["ratio"])
    a = csr_matrix((vv, (rr, cc)), shape=(len(sup) + len(dem) + len(gkeys), len(cols)))
    b_ub = [s["quantity"] for s in sup] + [d["quantity"] for d in dem] + [gcap[g] for g in gkeys]
    return a, b_ub


def oracle_lp(doc: dict[str, Any]) -> float:
    """The linear model's optimum by brute force over :func:`oracle_columns`, with scipy's HiGHS."""
    cols = oracle_columns(doc)
    if not cols:
        return 0.0
    a, b_ub = _rows(doc, cols)
    res = linprog(-np.array([c["benefit"] for c in cols]), A_ub=a, b_ub=b_ub, bounds=(0, None), method="highs")
    assert res.status == 0
    return float(-res.fun)


def oracle_milp(doc: dict[str, Any]) -> float:
    """The MILP's optimum (pipelines as fixed charges: ``x ≤ U·y``, ``y`` binary) over the same columns, with
    scipy's HiGHS MILP: weights put the spread capex back and charge ``capex·D·y`` instead."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    cols = oracle_columns(doc)
    if not cols:
        return 0.0
    a, b_ub = _rows(doc, cols)
    k = len(cols)
    w = np.array([c["benefit"] + c["fixed"] / c["capacity"] for c in cols] + [-c["fixed"] for c in cols])
    big_a = hstack([a, csr_matrix((a.shape[0], k))])
    link = hstack([identity(k), -diags([c["capacity"] for c in cols])])
    res = milp(-w, integrality=np.r_[np.zeros(k), np.ones(k)],
               bounds=Bounds(np.zeros(2 * k), np.r_[np.full(k, np.inf), np.ones(k)]),
               constraints=[LinearConstraint(big_a, -np.inf, b_ub), LinearConstraint(link, -np.inf, 0.0)],
               options={"mip_rel_gap": 1e-9})
    assert res.status == 0
    return float(-res.fun)

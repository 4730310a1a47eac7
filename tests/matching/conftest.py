"""Builders for small scenarios stated in full (no knowledge base), and an independent LP oracle."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from scipy.optimize import linprog
from scipy.sparse import csr_matrix

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


def oracle_lp(doc: dict[str, Any]) -> float:
    """The model's optimum by brute force: every (supply, demand) pair, written independently of the
    library (no pruning, no mode choice shortcuts), solved with scipy's HiGHS."""
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
    cols, ws, rows_s, rows_d, ratios, groups = [], [], [], [], [], []
    sup, dem = doc["supplies"], doc["demands"]
    for i, s in enumerate(sup):
        for j, d in enumerate(dem):
            m, v = s["material"], d["material"]
            if m == v:
                cand = [{"ratio": 1.0, "max_share": 1.0, "pretreatment_cost": 0.0, "gates": []}]
            else:
                cand = rules.get((m, v), [])
            best = None
            for r in cand:
                ok = True
                for g in r.get("gates", []):
                    a = s.get("attributes", {}).get(g["attribute"])
                    if a is not None and not {"<=": a <= g["value"], ">=": a >= g["value"],
                                              "<": a < g["value"], ">": a > g["value"],
                                              "==": a == g["value"]}[g["op"]]:
                        ok = False
                if ok and (best is None or r["ratio"] * prices.get(v, 0) - r.get("pretreatment_cost", 0)
                           > best["ratio"] * prices.get(v, 0) - best.get("pretreatment_cost", 0)):
                    best = r
            if best is None:
                continue
            info = mats.get(m, {})
            if info.get("hazardous"):
                perms = sites[d["site"]].get("permits", [])
                if info["hw_code"] not in perms:
                    continue
            a_, b_ = sites[s["site"]], sites[d["site"]]
            if s["site"] == d["site"]:
                km, same = 0.0, True
            elif (s["site"], d["site"]) in explicit:
                km, same = explicit[(s["site"], d["site"])], False
            else:
                km, same = float(haversine_km(a_["lat"], a_["lon"], b_["lat"], b_["lon"])) * circ, False
            limit = min(d.get("max_distance_km", np.inf), p.get("max_distance_km", {}).get(m, np.inf))
            if km > limit:
                continue
            disp = s.get("disposal_cost", disposal.get(m, 0.0))
            ratio = best["ratio"]
            value = ratio * prices.get(v, 0.0) + disp - best.get("pretreatment_cost", 0.0)
            if same:
                b = value
            else:
                b = -np.inf
                for mode in p["transport"].values():
                    if mode.get("max_distance_km") is not None and km > mode["max_distance_km"]:
                        continue
                    b = max(b, value - mode.get("handling_per_t", 0.0) - mode["cost_per_tkm"] * km)
            if b <= 0:
                continue
            cols.append((i, j))
            ws.append(b)
            rows_s.append(i)
            rows_d.append(j)
            ratios.append(ratio)
            groups.append((j, id(best)) if best.get("max_share", 1.0) < 1 else None)
    if not cols:
        return 0.0
    k = len(cols)
    gkeys = sorted({g for g in groups if g is not None}, key=str)
    gindex = {g: n for n, g in enumerate(gkeys)}
    rr, cc, vv = [], [], []
    for c in range(k):
        rr += [rows_s[c], len(sup) + rows_d[c]]
        cc += [c, c]
        vv += [1.0, ratios[c]]
        if groups[c] is not None:
            rr.append(len(sup) + len(dem) + gindex[groups[c]])
            cc.append(c)
            vv.append(ratios[c])
    share_of = {}
    for c in range(k):
        if groups[c] is not None:
            j = rows_d[c]
            rule = next(r for r in rules[(sup[rows_s[c]]["material"], dem[j]["material"])]
                        if id(r) == groups[c][1])
            share_of[groups[c]] = rule["max_share"] * dem[j]["quantity"]
    a = csr_matrix((vv, (rr, cc)), shape=(len(sup) + len(dem) + len(gkeys), k))
    b_ub = [s["quantity"] for s in sup] + [d["quantity"] for d in dem] + [share_of[g] for g in gkeys]
    res = linprog(-np.array(ws), A_ub=a, b_ub=b_ub, bounds=(0, None), method="highs")
    assert res.status == 0
    return float(-res.fun)

"""Seeded generator of national-scale scenarios: sites over China, about 20 materials, realistic quantities.

Sites cluster around the industrial cities of the domain reference (§6) plus a uniform background over
mainland China's box; every scenario states all its parameters (``use_knowledge_base: false``), so the
benchmark does not depend on the knowledge base's current figures.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["CITIES", "generate"]

CITIES = [
    (38.93, 118.53), (40.01, 118.70), (40.15, 118.31), (39.63, 118.18), (39.05, 117.71), (36.60, 114.49),
    (37.10, 114.55), (37.91, 112.18), (37.87, 112.55), (39.33, 112.43), (40.40, 109.99), (40.64, 109.84),
    (38.10, 106.63), (39.67, 106.82), (36.58, 116.25), (36.67, 117.00), (36.86, 117.74), (35.10, 119.35),
    (31.32, 120.72), (30.81, 121.43), (31.69, 118.51), (30.53, 111.43), (31.17, 112.58), (27.06, 106.97),
    (26.65, 107.56), (27.13, 107.55), (24.92, 102.48), (29.83, 107.08), (23.10, 109.60), (23.33, 107.58),
    (28.15, 109.20), (26.59, 104.84), (23.13, 113.26), (22.54, 114.06), (30.59, 114.31), (28.23, 112.94),
    (34.27, 108.95), (34.75, 113.62), (36.06, 103.83), (41.80, 123.43), (43.82, 125.32), (45.80, 126.53),
    (32.06, 118.80), (30.27, 120.16), (26.07, 119.30), (25.04, 102.71), (29.56, 106.55), (30.66, 104.07),
]

# (id, price yuan/t, disposal yuan/t): ~20 bulk materials with the domain reference's orders of magnitude
MATERIALS = [
    ("fly_ash", 200, 25), ("ggbs", 260, 25), ("steel_slag", 30, 25), ("fgd_gypsum", 40, 25),
    ("phosphogypsum", 30, 25), ("tailings", 25, 15), ("red_mud", 20, 25), ("coal_gangue", 40, 5),
    ("carbide_slag", 60, 25), ("lime_mud", 50, 25), ("bottom_ash", 60, 25), ("waste_sand", 45, 25),
    ("scrap_steel", 2400, 0), ("waste_glass", 300, 25), ("bagasse", 250, 10), ("molasses", 900, 10),
    ("biosludge", 80, 120), ("spent_catalyst", 1500, 200), ("waste_oil", 2500, 300), ("co2", 300, 0),
]
# generalised rules (ratio ≠ 1): by-product → what it replaces
RULES = [
    ("ggbs", "clinker", 1.0, 0.7), ("fly_ash", "clinker", 0.9, 0.4), ("steel_slag", "aggregate", 1.1, 0.5),
    ("fgd_gypsum", "natural_gypsum", 0.95, 1.0), ("phosphogypsum", "natural_gypsum", 0.85, 1.0),
    ("tailings", "aggregate", 0.8, 1.0), ("red_mud", "clinker", 0.3, 0.3), ("coal_gangue", "clay", 0.9, 1.0),
    ("carbide_slag", "limestone", 1.2, 0.6), ("lime_mud", "limestone", 0.8, 0.6),
]
EXTRA_PRICES = {"clinker": 320, "aggregate": 60, "natural_gypsum": 140, "clay": 50, "limestone": 90}
# rules whose ratios are inconsistent around cycles with RULES (fly ash and GGBS replace cement 1:1 but
# clinker at 0.9 and 1.0): no node scaling turns such components into pure networks, they need the LP
MIXED_RULES = [("fly_ash", "cement", 1.0, 0.3), ("ggbs", "cement", 1.0, 0.5)]
MIXED_PRICES = {"cement": 380}
# stated maxima (domain reference §5 economic radii; permits and contracts for hazardous waste)
MAX_DISTANCE_KM = {"fly_ash": 160.0, "ggbs": 160.0, "fgd_gypsum": 120.0, "phosphogypsum": 120.0,
                   "tailings": 50.0, "steel_slag": 60.0, "coal_gangue": 30.0, "red_mud": 60.0,
                   "scrap_steel": 120.0, "molasses": 120.0, "spent_catalyst": 120.0, "waste_oil": 120.0,
                   "waste_glass": 120.0, "bagasse": 80.0, "co2": 120.0, "biosludge": 60.0, "carbide_slag": 80.0,
                   "bottom_ash": 80.0, "lime_mud": 80.0, "waste_sand": 80.0}


def generate(n_streams: int, *, seed: int = 0, generalised: bool = False, radius_scale: float = 1.0,
             milp: bool = False, regional: bool = False, reach: float = 1.0, mixed: bool = False,
             ) -> dict[str, Any]:
    """A scenario document with about ``n_streams`` supplies + demands.

    Parameters
    ----------
    n_streams : int
        Supplies plus demands (half each).
    seed : int
    generalised : bool
        Half the demands ask for what by-products replace, through rules with ratios ≠ 1 and max shares.
    radius_scale : float
        Scales transport costs down (larger break-even radii; the stated maximum distances still bind).
    reach : float
        Scales the stated maximum distances per material (more candidate pairs: about ``reach²`` times).
    mixed : bool
        With ``generalised``: add rules whose ratios are inconsistent around cycles (a generalised network
        that node scaling cannot make pure, solved by the LP).
    milp : bool
        Add MILP parameters: a fixed cost per link and a minimum lot.
    regional : bool
        Sites around the Beijing–Tianjin–Hebei cities only (a regional instance, denser).
    """
    rng = np.random.default_rng(seed)
    n_sites = max(4, n_streams // 2)
    # the reference cities plus ~250 seeded prefecture-level centres over the mainland box
    extra = np.column_stack([rng.uniform(22, 46, 250), rng.uniform(100, 125, 250)])
    centres = np.vstack([np.array(CITIES), extra])
    if regional:
        centres = np.array(CITIES[:7])
    city = rng.integers(0, len(centres), n_sites)
    centre = centres[city]
    clustered = rng.random(n_sites) < (1.0 if regional else 0.7)
    lat = np.where(clustered, centre[:, 0] + rng.normal(0, 0.6, n_sites), rng.uniform(22, 46, n_sites))
    lon = np.where(clustered, centre[:, 1] + rng.normal(0, 0.6, n_sites), rng.uniform(100, 125, n_sites))
    sites = [{"id": f"S{i}", "lat": round(float(a), 5), "lon": round(float(b), 5)}
             for i, (a, b) in enumerate(zip(lat, lon, strict=True))]
    n_sup = n_streams // 2
    n_dem = n_streams - n_sup
    mats = [m[0] for m in MATERIALS]
    weights = np.linspace(2.0, 0.5, len(mats))
    weights /= weights.sum()
    s_mat = rng.choice(len(mats), n_sup, p=weights)
    d_mat = rng.choice(len(mats), n_dem, p=weights)
    s_site = rng.integers(0, n_sites, n_sup)
    d_site = rng.integers(0, n_sites, n_dem)
    s_qty = np.round(rng.lognormal(9.0, 1.2, n_sup), 1) + 1.0
    d_qty = np.round(rng.lognormal(9.0, 1.2, n_dem), 1) + 1.0
    supplies = [{"id": f"s{i}", "site": f"S{s_site[i]}", "material": mats[s_mat[i]], "quantity": float(s_qty[i])}
                for i in range(n_sup)]
    demand_material = [mats[k] for k in d_mat]
    rules = RULES + (MIXED_RULES if mixed else [])
    if generalised:
        rule_targets = sorted({r[1] for r in rules})
        switch = rng.random(n_dem) < 0.5
        for j in np.flatnonzero(switch):
            demand_material[j] = rule_targets[rng.integers(0, len(rule_targets))]
    demands = [{"id": f"d{j}", "site": f"S{d_site[j]}", "material": demand_material[j],
                "quantity": float(d_qty[j])} for j in range(n_dem)]
    prices = {m: float(p) for m, p, _ in MATERIALS}
    prices.update({k: float(v) for k, v in EXTRA_PRICES.items()})
    if mixed:
        prices.update({k: float(v) for k, v in MIXED_PRICES.items()})
    scale = 1.0 / radius_scale
    params: dict[str, Any] = {
        "use_knowledge_base": False,
        "circuity": 1.3,
        "transport": {
            "road": {"cost_per_tkm": 0.45 * scale, "handling_per_t": 15.0, "co2_kg_per_tkm": 0.08},
            "rail": {"cost_per_tkm": 0.13 * scale, "handling_per_t": 35.0, "co2_kg_per_tkm": 0.02},
        },
        "prices": prices,
        "disposal_costs": {m: float(d) for m, _, d in MATERIALS},
        "co2_factors": {"clinker": 0.85, "natural_gypsum": 0.01, "aggregate": 0.005, "limestone": 0.4},
        "max_distance_km": {m: km * reach for m, km in MAX_DISTANCE_KM.items()},
        "materials": {"spent_catalyst": {"hazardous": True, "hw_code": "HW50"},
                      "waste_oil": {"hazardous": True, "hw_code": "HW08"}},
    }
    if generalised:
        params["substitutions"] = [{"material": m, "replaces": v, "ratio": r, "max_share": s}
                                   for m, v, r, s in rules]
    if milp:
        params["milp"] = {"fixed_cost_per_link": 2000.0, "min_lot": 50.0}
    permitted = rng.random(n_sites) < 0.2
    for i in np.flatnonzero(permitted):
        sites[i]["permits"] = ["HW08", "HW50"]
    return {"name": f"bench-{n_streams}-{'gen' if generalised else 'net'}-{seed}", "sites": sites,
            "supplies": supplies, "demands": demands, "parameters": params}

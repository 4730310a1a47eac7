"""Benchmark instance families, so that the matcher's speed is measured on instances unlike the one it was
tuned on.

- ``cities-net`` / ``cities-gen`` / ``cities-mix``: the default generator (:mod:`benchmarks.generate`): sites
  clustered around ~300 city centres over all of China, 20 materials; ``net`` exchanges each material for
  itself (ratios 1), ``gen`` adds substitution rules with ratios ≠ 1 and max shares (consistent per pair of
  materials: pure networks after node scaling), ``mix`` adds rules whose ratios disagree around cycles.
- ``uniform`` / ``uniform-mix``: few materials — a dozen by-products and five virgin materials — sites spread
  uniformly over eastern and central China, most demands for virgin materials through rules with a max
  share below 1. ``uniform`` draws every ratio as ``V_v / U_m`` from per-material scales (pure after
  scaling, but not 1); ``uniform-mix`` perturbs a few rules so that cycles disagree (one large generalised
  component). At 10,000 streams (5k × 5k) about 350,000 candidate pairs.

Every scenario states all its parameters (``use_knowledge_base: false``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.generate import EXTRA_PRICES, MATERIALS, generate

__all__ = ["FAMILIES", "PURE_FAMILIES", "make", "uniform_few"]

BYPRODUCTS = ["fly_ash", "ggbs", "steel_slag", "fgd_gypsum", "phosphogypsum", "red_mud", "carbide_slag",
              "coal_gangue", "tailings", "bottom_ash", "waste_sand", "lime_mud"]
VIRGIN = ["clinker", "aggregate", "natural_gypsum", "limestone", "clay"]
# which virgin materials each by-product may replace (one or two uses each)
USES = {"fly_ash": ["clinker", "aggregate"], "ggbs": ["clinker"], "steel_slag": ["aggregate", "clinker"],
        "fgd_gypsum": ["natural_gypsum"], "phosphogypsum": ["natural_gypsum", "clay"], "red_mud": ["clinker"],
        "carbide_slag": ["limestone"], "coal_gangue": ["clay", "aggregate"], "tailings": ["aggregate"],
        "bottom_ash": ["aggregate", "clay"], "waste_sand": ["aggregate"], "lime_mud": ["limestone", "clinker"]}
# eastern and central China (Hebei–Guangdong, Shanxi–Hunan): the box the sites are spread over uniformly
LAT = (22.0, 41.5)
LON = (108.0, 122.0)


def uniform_few(n_streams: int, *, seed: int = 0, mixed: bool = False, max_km: float | None = None,
                ) -> dict[str, Any]:
    """A few-material scenario with sites spread uniformly (see the module docstring).

    Parameters
    ----------
    n_streams : int
        Supplies plus demands (half each).
    seed : int
    mixed : bool
        Perturb some rules' ratios so that cycles of rules disagree (not a pure network after scaling).
    max_km : float, optional
        Stated maximum distance of every material (sets the number of candidate pairs); default 350 km at
        10,000 streams (~350k pairs), shrinking as ``(10,000 / n)^0.68`` above, so that pairs grow about as
        ``n^0.64`` (~1.5M pairs at 100,000, as the cities families; pairs ∝ n² · max_km²).
    """
    if max_km is None:
        max_km = 350.0 * min(1.0, 10_000 / n_streams) ** 0.68
    rng = np.random.default_rng(seed)
    n_sup = n_streams // 2
    n_dem = n_streams - n_sup
    n_sites = max(4, n_streams // 2)
    lat = rng.uniform(*LAT, n_sites)
    lon = rng.uniform(*LON, n_sites)
    sites = [{"id": f"U{i}", "lat": round(float(a), 5), "lon": round(float(b), 5)}
             for i, (a, b) in enumerate(zip(lat, lon, strict=True))]
    s_mat = rng.integers(0, len(BYPRODUCTS), n_sup)
    s_site = rng.integers(0, n_sites, n_sup)
    d_site = rng.integers(0, n_sites, n_dem)
    s_qty = np.round(rng.lognormal(9.0, 1.2, n_sup), 1) + 1.0
    d_qty = np.round(rng.lognormal(9.5, 1.2, n_dem), 1) + 1.0
    # 30 % of demands ask for a by-product itself, 70 % for a virgin material
    own = rng.random(n_dem) < 0.3
    d_mat = np.where(own, rng.integers(0, len(BYPRODUCTS), n_dem),
                     len(BYPRODUCTS) + rng.integers(0, len(VIRGIN), n_dem))
    names = BYPRODUCTS + VIRGIN
    supplies = [{"id": f"s{i}", "site": f"U{s_site[i]}", "material": BYPRODUCTS[s_mat[i]],
                 "quantity": float(s_qty[i])} for i in range(n_sup)]
    demands = [{"id": f"d{j}", "site": f"U{d_site[j]}", "material": names[d_mat[j]], "quantity": float(d_qty[j])}
               for j in range(n_dem)]
    # per-material scales: a rule m → v has ratio V_v / U_m, so every cycle of rules agrees
    scale = {m: float(rng.uniform(0.8, 1.25)) for m in names}
    substitutions = []
    for m in BYPRODUCTS:
        for k, v in enumerate(USES[m]):
            ratio = scale[v] / scale[m]
            if mixed and k == 1:  # a second use off by 10 %: cycles through it disagree
                ratio *= 1.1
            substitutions.append({"material": m, "replaces": v, "ratio": ratio,
                                  "max_share": float(rng.choice([0.2, 0.3, 0.4, 0.5, 0.6, 0.8]))})
    prices = {m: float(p) for m, p, _ in MATERIALS if m in BYPRODUCTS}
    prices.update({k: float(v) for k, v in EXTRA_PRICES.items()})
    return {"name": f"uniform-{n_streams}-{'mix' if mixed else 'pure'}-{seed}", "sites": sites,
            "supplies": supplies, "demands": demands,
            "parameters": {
                "use_knowledge_base": False, "circuity": 1.3,
                "transport": {
                    "road": {"cost_per_tkm": 0.45, "handling_per_t": 15.0, "co2_kg_per_tkm": 0.08},
                    "rail": {"cost_per_tkm": 0.13, "handling_per_t": 35.0, "co2_kg_per_tkm": 0.02},
                },
                "prices": prices,
                "disposal_costs": {m: float(d) for m, _, d in MATERIALS if m in BYPRODUCTS},
                "co2_factors": {"clinker": 0.85, "natural_gypsum": 0.01, "aggregate": 0.005, "limestone": 0.4},
                "max_distance_km": {m: max_km for m in BYPRODUCTS},
                "substitutions": substitutions,
            }}


FAMILIES: dict[str, Callable[..., dict[str, Any]]] = {
    "cities-net": lambda n, seed, reach: generate(n, seed=seed, reach=reach),
    "cities-gen": lambda n, seed, reach: generate(n, seed=seed, generalised=True, reach=reach),
    "cities-mix": lambda n, seed, reach: generate(n, seed=seed, generalised=True, mixed=True, reach=reach),
    "uniform": lambda n, seed, reach: uniform_few(n, seed=seed),
    "uniform-mix": lambda n, seed, reach: uniform_few(n, seed=seed, mixed=True),
}
#: families whose every component is a pure network (after node scaling): the ≥ 20× HiGHS target applies
PURE_FAMILIES = ("cities-net", "cities-gen", "uniform")


def make(family: str, n_streams: int, *, seed: int = 0, reach: float = 1.3) -> dict[str, Any]:
    """The scenario document of a family at a size."""
    return FAMILIES[family](n_streams, seed, reach)

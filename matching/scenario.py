"""The scenario: sites, supplies (haves), demands (wants) and parameter overrides, read from JSON or YAML.

A scenario is plain data. :func:`parse_scenario` checks all of it before any solving and reports every
problem together, each with its JSON path (``$.supplies[3].quantity``), in one :class:`ScenarioError`.

File layout (``?`` = optional)::

    {"name": "...",
     "sites":    [{"id", "name"?, "lat", "lon", "park"?, "province"?, "industry"? (GB/T 4754 code, or a list of
                   codes), "size"? {"quantity", "unit"}, "permits"? [HW codes],
                   "access"? [transport modes needing a siding or wharf: rail, ...]}],
     "supplies": [{"id", "site", "material", "quantity" (> 0 per year), "unit"?, "attributes"? {name: number},
                   "disposal_cost"?, "quality"? (A–D) | "confidence"? (0–1]}],
     "demands":  [{"id", "site", "material", "quantity" (> 0 per year), "unit"?, "max_distance_km"?,
                   "use"? (a use of the knowledge base), "quality"? | "confidence"?}],
     "distances"?: [{"from", "to", "km"}],
     "parameters"?: {"use_knowledge_base": true, "circuity", "transport": {mode: {...}}, "prices", "disposal_costs",
                     "co2_factors", "substitutions": [...], "max_distance_km": {material: km},
                     "materials": {id: {"unit", "form", "hazardous", "hw_code"}}, "milp": {...}}}

Quantities are converted to the material's canonical unit (knowledge base) on load; ``unit`` keeps what the
file said. Without the knowledge base (``use_knowledge_base: false``) any material id is allowed and a
material's unit is the one its streams state (they must agree) unless ``parameters.materials`` declares it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from matching.errors import ScenarioError, json_path

if TYPE_CHECKING:
    from matching.knowledge import KnowledgeBase

__all__ = [
    "Demand",
    "Distance",
    "Estimate",
    "GateSpec",
    "Hub",
    "MaterialSpec",
    "MilpParameters",
    "ModeSpec",
    "Parameters",
    "Scenario",
    "Site",
    "SubstitutionSpec",
    "Supply",
    "load_scenario",
    "parse_scenario",
]

FORMS = ("solid", "slurry", "liquid", "gas", "heat", "electricity")
GATE_OPS = ("<=", ">=", "<", ">", "==")


@dataclass(frozen=True)
class Site:
    id: str
    lat: float
    lon: float
    name: str | None = None
    park: str | None = None
    province: str | None = None
    industries: tuple[str, ...] = ()  # GB/T 4754-2017 codes of what the site does (several are allowed)
    size_quantity: float | None = None
    size_unit: str | None = None
    permits: tuple[str, ...] = ()
    access: tuple[str, ...] = ()  # transport modes needing a siding or wharf that the site has (rail, water)
    permits_known: bool = True  # False: no "permits" stated; screening then takes the industry's usual ones

    @property
    def industry(self) -> str | None:
        """The site's first industry code (its main activity)."""
        return self.industries[0] if self.industries else None


@dataclass(frozen=True)
class Estimate:
    """Where an estimated stream comes from: an industry profile (its code), found as the site's own class
    (``"own"``) or as the group's or division's fallback, and the share of plants of the class that have it
    (below 1: "to confirm")."""

    profile: str
    level: str
    share_of_plants: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return {"profile": self.profile, "level": self.level, "share_of_plants": self.share_of_plants}


@dataclass(frozen=True)
class Supply:
    """A have: ``quantity`` per year in the material's canonical unit (``unit`` is what the file said)."""

    id: str
    site: str
    material: str
    quantity: float
    unit: str | None = None
    attributes: Mapping[str, float] = field(default_factory=dict, hash=False)
    disposal_cost: float | None = None
    estimated: bool = False
    #: how far the stream can be trusted, in (0, 1]: a listing's data-quality grade, or for an estimated stream
    #: the profile's confidence (see :mod:`matching.confidence`)
    confidence: float = 1.0
    estimate: Estimate | None = None  # estimated streams: the profile they come from


@dataclass(frozen=True)
class Demand:
    """A want: ``quantity`` per year of ``material`` (canonical unit); ``use`` is what the receiver does
    with it (a use of the knowledge base: decides which rules, and for heat which grade, serve it)."""

    id: str
    site: str
    material: str
    quantity: float
    unit: str | None = None
    max_distance_km: float | None = None
    estimated: bool = False
    use: str | None = None
    confidence: float = 1.0
    estimate: Estimate | None = None


@dataclass(frozen=True)
class Distance:
    origin: str
    destination: str
    km: float


@dataclass(frozen=True)
class ModeSpec:
    """A transport-mode override; ``None`` fields keep the knowledge base's value."""

    id: str
    cost_per_unit_km: float | None = None
    handling_per_unit: float | None = None
    co2_kg_per_unit_km: float | None = None
    forms: tuple[str, ...] | None = None
    max_distance_km: float | None = None
    loss_per_km: float | None = None
    annualised_capex_per_km: float | None = None
    route_factor: float | None = None


@dataclass(frozen=True)
class GateSpec:
    attribute: str
    op: str
    value: float
    required: bool = False


@dataclass(frozen=True)
class SubstitutionSpec:
    material: str
    replaces: str
    ratio: float
    max_share: float = 1.0
    pretreatment_cost: float = 0.0
    gates: tuple[GateSpec, ...] = ()
    co2_factor: float | None = None
    id: str | None = None
    use: str | None = None
    receivers: tuple[str, ...] = ()


@dataclass(frozen=True)
class MaterialSpec:
    id: str
    unit: str | None = None
    form: str | None = None
    hazardous: bool = False
    hw_code: str | None = None


@dataclass(frozen=True)
class Hub:
    """A candidate transshipment station (MILP mode): build it for ``fixed_cost`` per year to pass material
    through it, up to ``capacity`` units per year, at ``handling_per_unit``."""

    id: str
    lat: float
    lon: float
    capacity: float
    fixed_cost: float
    handling_per_unit: float = 0.0
    materials: tuple[str, ...] = ()


@dataclass(frozen=True)
class MilpParameters:
    fixed_cost_per_link: float = 0.0
    min_lot: float = 0.0
    max_partners: int | None = None
    hubs: tuple[Hub, ...] = ()


@dataclass(frozen=True)
class Parameters:
    use_knowledge_base: bool = True
    circuity: float | None = None
    transport: Mapping[str, ModeSpec] = field(default_factory=dict, hash=False)
    prices: Mapping[str, float] = field(default_factory=dict, hash=False)
    disposal_costs: Mapping[str, float] = field(default_factory=dict, hash=False)
    co2_factors: Mapping[str, float] = field(default_factory=dict, hash=False)
    substitutions: tuple[SubstitutionSpec, ...] = ()
    max_distance_km: Mapping[str, float] = field(default_factory=dict, hash=False)
    materials: Mapping[str, MaterialSpec] = field(default_factory=dict, hash=False)
    milp: MilpParameters = field(default_factory=MilpParameters)


@dataclass(frozen=True, eq=False)
class Scenario:
    """A validated scenario. Build it with :func:`load_scenario` or :func:`parse_scenario`."""

    name: str
    sites: tuple[Site, ...]
    supplies: tuple[Supply, ...]
    demands: tuple[Demand, ...]
    distances: tuple[Distance, ...] = ()
    parameters: Parameters = field(default_factory=Parameters)
    knowledge_base: KnowledgeBase | None = field(default=None, repr=False)

    def site_map(self) -> dict[str, Site]:
        return {s.id: s for s in self.sites}

    def replace_streams(self, supplies: tuple[Supply, ...], demands: tuple[Demand, ...]) -> Scenario:
        """A copy with other streams (used by screening to add estimated ones)."""
        return Scenario(self.name, self.sites, supplies, demands, self.distances, self.parameters,
                        self.knowledge_base)


# ---------------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------------
def load_scenario(source: str | Path | Mapping[str, Any], *,
                  knowledge_base: KnowledgeBase | None = None) -> Scenario:
    """Read and validate a scenario from a JSON or YAML file (or an already-parsed mapping).

    Parameters
    ----------
    source : str, Path or mapping
        A path ending in ``.json``, ``.yaml`` or ``.yml``, or the parsed document.
    knowledge_base : KnowledgeBase, optional
        Used when the scenario has ``use_knowledge_base`` (the default); defaults to the shipped one.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        Listing every problem with its JSON path (also for unreadable files: path ``$``).

    Examples
    --------
    >>> sc = load_scenario({"sites": [{"id": "a", "lat": 39.6, "lon": 118.2}],
    ...     "supplies": [{"id": "s", "site": "a", "material": "x", "quantity": 5}], "demands": [],
    ...     "parameters": {"use_knowledge_base": False, "transport": {"road": {"cost_per_tkm": 0.4}}}})
    >>> sc.supplies[0].quantity
    5.0
    """
    if isinstance(source, Mapping):
        return parse_scenario(source, knowledge_base=knowledge_base)
    path = Path(source)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError([("$", f"cannot read {path}: {exc.strerror or exc}")]) from exc
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(raw.decode("utf-8"))
        else:
            data = _parse_json(raw)
    except Exception as exc:  # json.JSONDecodeError, UnicodeDecodeError, yaml.YAMLError
        raise ScenarioError([("$", f"not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}")]) from exc
    scenario = parse_scenario(data, knowledge_base=knowledge_base)
    if scenario.name == "":
        scenario = Scenario(path.stem, scenario.sites, scenario.supplies, scenario.demands,
                            scenario.distances, scenario.parameters, scenario.knowledge_base)
    return scenario


def _parse_json(raw: bytes) -> Any:
    """JSON with orjson (compiled, ~5× the standard library); what orjson refuses but the standard library
    reads (NaN, integers beyond 64 bits) is read by the latter, so that validation reports it at its path."""
    import orjson

    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw.decode("utf-8"))


class _Checker:
    """Collects (path, message) pairs while reading a document."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []

    def add(self, path: tuple[str | int, ...], message: str) -> None:
        self.errors.append((json_path(*path), message))

    def obj(self, value: Any, path: tuple[str | int, ...]) -> Mapping[str, Any] | None:
        if not isinstance(value, Mapping):
            self.add(path, f"expected an object, got {type(value).__name__}")
            return None
        return value

    def array(self, value: Any, path: tuple[str | int, ...]) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.add(path, f"expected an array, got {type(value).__name__}")
            return []
        return value

    def text(self, obj: Mapping[str, Any], key: str, path: tuple[str | int, ...], *,
             required: bool = True) -> str | None:
        value = obj.get(key)
        if value is None:
            if required:
                self.add((*path, key), "is required")
            return None
        if not isinstance(value, str) or not value.strip():
            self.add((*path, key), "must be a non-empty string")
            return None
        return value

    def number(self, obj: Mapping[str, Any], key: str, path: tuple[str | int, ...], *, required: bool = True,
               minimum: float | None = None, maximum: float | None = None, positive: bool = False,
               ) -> float | None:
        value = obj.get(key)
        if value is None:
            if required:
                self.add((*path, key), "is required")
            return None
        return self.value_number(value, (*path, key), minimum=minimum, maximum=maximum, positive=positive)

    def value_number(self, value: Any, path: tuple[str | int, ...], *, minimum: float | None = None,
                     maximum: float | None = None, positive: bool = False) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.add(path, f"must be a finite number, got {value!r}")
            return None
        x = float(value)
        if positive and x <= 0:
            self.add(path, f"must be > 0, got {value!r}")
            return None
        if (minimum is not None and x < minimum) or (maximum is not None and x > maximum):
            lo = "-inf" if minimum is None else f"{minimum:g}"
            hi = "inf" if maximum is None else f"{maximum:g}"
            self.add(path, f"{value!r} is out of range [{lo}, {hi}]")
            return None
        return x

    def number_map(self, value: Any, path: tuple[str | int, ...], *, positive: bool = False,
                   minimum: float | None = None) -> dict[str, float]:
        out: dict[str, float] = {}
        if value is None:
            return out
        obj = self.obj(value, path)
        if obj is None:
            return out
        for k, v in obj.items():
            x = self.value_number(v, (*path, str(k)), positive=positive, minimum=minimum)
            if x is not None:
                out[str(k)] = x
        return out


_FAST_SITE_KEYS = frozenset({"id", "lat", "lon", "permits"})
_FAST_STREAM_KEYS = frozenset({"id", "site", "material", "quantity"})


def _plain_number(value: Any) -> bool:
    """An int or float (not a bool) that is finite."""
    return (type(value) is float and math.isfinite(value)) or (type(value) is int and abs(value) <= 2**53)


# -- bulk fast path ----------------------------------------------------------------------------------------
# A whole array of plain well-formed records is checked column by column (set operations and numpy on the
# columns, no Python call per record) and built in one go. Anything unusual in any record makes the bulk
# check give up (return None), and the array is then read record by record with the full checks, so every
# error message and its JSON path are the full path's. A record with a field outside the fast keys (a new
# site field, say) simply takes the full path.

def _column(records: list[dict[str, Any]], key: str) -> list[Any]:
    """The values of a required key (None where it is missing: the checks then fail and the full path runs)."""
    try:
        return list(map(itemgetter(key), records))
    except KeyError:
        return [r.get(key) for r in records]


def _plain_records(raw: Any, keys: frozenset[str]) -> list[dict[str, Any]] | None:
    """``raw`` when it is a list of dicts using only ``keys``, else None."""
    if type(raw) is not list or (raw and set(map(type, raw)) != {dict}):
        return None
    if not all(map(keys.issuperset, raw)):  # iterating a dict gives its keys
        return None
    return raw


def _plain_texts(values: list[Any]) -> bool:
    """Every value a non-empty string (not only blanks)."""
    return not values or (set(map(type, values)) == {str} and all(map(str.strip, values)))


def _plain_numbers(values: list[Any], lo: float, hi: float, *, positive: bool = False) -> list[float] | None:
    """The values as floats when every one is a finite int or float within [lo, hi] (> 0 if positive)."""
    if not values:
        return []
    kinds = set(map(type, values))
    if not kinds <= {int, float}:
        return None
    if int in kinds and max(abs(v) for v in values if type(v) is int) > 2**53:
        return None
    arr = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(arr) & (arr >= lo) & (arr <= hi)
    if positive:
        ok &= arr > 0
    return arr.tolist() if bool(ok.all()) else None


def _bulk_sites(raw: Any) -> list[Site] | None:
    """The sites of a plain ``sites`` array (id, lat, lon, permits), or None to take the full path."""
    records = _plain_records(raw, _FAST_SITE_KEYS)
    if records is None:
        return None
    ids = _column(records, "id")
    if not _plain_texts(ids) or len(set(ids)) != len(ids):
        return None
    lat = _plain_numbers(_column(records, "lat"), -90.0, 90.0)
    lon = _plain_numbers(_column(records, "lon"), -180.0, 180.0)
    if lat is None or lon is None:
        return None
    permits: list[tuple[str, ...]] = [()] * len(records)
    stated = [False] * len(records)  # permits nobody stated (a screened site) may be likely ones
    for k, r in enumerate(records):
        if "permits" in r:
            p = r["permits"]
            if type(p) is not list:
                return None
            permits[k] = tuple(str(x).strip().upper() for x in p)
            stated[k] = True
    return [Site(i, a, b, permits=p, permits_known=k)
            for i, a, b, p, k in zip(ids, lat, lon, permits, stated, strict=True)]


def _bulk_streams(raw: Any, site_ids: set[str], known: set[str] | None,
                  ) -> tuple[list[str], list[str], list[str], list[float]] | None:
    """(ids, sites, materials, quantities) of a plain stream array, or None to take the full path."""
    records = _plain_records(raw, _FAST_STREAM_KEYS)
    if records is None:
        return None
    ids, sites, mats = _column(records, "id"), _column(records, "site"), _column(records, "material")
    if not (_plain_texts(ids) and _plain_texts(mats) and len(set(ids)) == len(ids)):
        return None
    if (sites and set(map(type, sites)) != {str}) or not set(sites) <= site_ids:
        return None
    if known is not None and not set(mats) <= known:
        return None
    qty = _plain_numbers(_column(records, "quantity"), 0.0, math.inf, positive=True)
    if qty is None:
        return None
    return ids, sites, mats, qty


def _known_keys(check: _Checker, obj: Mapping[str, Any], allowed: set[str],
                path: tuple[str | int, ...]) -> None:
    for key in obj:
        if key not in allowed:
            check.add((*path, str(key)), f"unknown field (expected one of: {', '.join(sorted(allowed))})")


_MODE_ALIASES = {
    "cost_per_tkm": "cost_per_unit_km", "cost_per_unit_km": "cost_per_unit_km",
    "handling_per_t": "handling_per_unit", "handling_per_unit": "handling_per_unit",
    "co2_kg_per_tkm": "co2_kg_per_unit_km", "co2_kg_per_unit_km": "co2_kg_per_unit_km",
    "max_distance_km": "max_distance_km", "loss_per_km": "loss_per_km",
    "annualised_capex_per_km": "annualised_capex_per_km", "route_factor": "route_factor",
}


def _industry_codes(check: _Checker, raw: Any, path: tuple[str | int, ...]) -> tuple[str, ...]:
    """GB/T 4754 codes given as one string or a list of strings (2 to 4 digits each)."""
    if raw is None:
        return ()
    items = [raw] if isinstance(raw, str | int) and not isinstance(raw, bool) else check.array(raw, path)
    out: list[str] = []
    for k, item in enumerate(items):
        code = str(item).strip() if isinstance(item, str | int) and not isinstance(item, bool) else ""
        if not (code.isdigit() and 2 <= len(code) <= 4):
            where = path if isinstance(raw, str | int) else (*path, k)
            check.add(where, f"{item!r} is not a GB/T 4754 industry code (2 to 4 digits)")
        elif code not in out:
            out.append(code)
    return tuple(out)


_QUALITY = {"A": 1.0, "B": 0.85, "C": 0.7, "D": 0.55}


def _stream_confidence(check: _Checker, obj: Mapping[str, Any], path: tuple[str | int, ...]) -> float:
    """A stream's ``quality`` grade (A–D, as listings are graded) or its ``confidence`` in (0, 1]."""
    grade = obj.get("quality")
    if grade is not None:
        if grade not in _QUALITY:
            check.add((*path, "quality"), f"must be one of {', '.join(_QUALITY)} (data-quality grade)")
            return 1.0
        return _QUALITY[grade]
    value = check.number(obj, "confidence", path, required=False, minimum=0.0, maximum=1.0)
    if value is not None and value <= 0:
        check.add((*path, "confidence"), "must be > 0")
        return 1.0
    return 1.0 if value is None else value


def _parse_parameters(check: _Checker, raw: Any) -> Parameters:
    path: tuple[str | int, ...] = ("parameters",)
    if raw is None:
        return Parameters()
    obj = check.obj(raw, path)
    if obj is None:
        return Parameters()
    _known_keys(check, obj, {"use_knowledge_base", "circuity", "transport", "prices", "disposal_costs",
                             "co2_factors", "substitutions", "max_distance_km", "materials", "milp"}, path)
    use_kb = obj.get("use_knowledge_base", True)
    if not isinstance(use_kb, bool):
        check.add((*path, "use_knowledge_base"), "must be true or false")
        use_kb = True
    circuity = check.number(obj, "circuity", path, required=False, minimum=1.0, maximum=5.0)

    transport: dict[str, ModeSpec] = {}
    t_raw = obj.get("transport")
    if t_raw is not None and (t_obj := check.obj(t_raw, (*path, "transport"))) is not None:
        for mode_id, spec in t_obj.items():
            mpath = (*path, "transport", str(mode_id))
            m_obj = check.obj(spec, mpath)
            if m_obj is None:
                continue
            values: dict[str, Any] = {}
            for key, val in m_obj.items():
                if key == "forms":
                    forms = check.array(val, (*mpath, "forms"))
                    bad = [f for f in forms if f not in FORMS]
                    if bad:
                        check.add((*mpath, "forms"), f"unknown form(s) {bad} (expected {', '.join(FORMS)})")
                    values["forms"] = tuple(str(f) for f in forms)
                elif key in _MODE_ALIASES:
                    x = check.value_number(val, (*mpath, key), minimum=0.0)
                    if x is not None:
                        if key in ("max_distance_km",) and x <= 0:
                            check.add((*mpath, key), "must be > 0")
                        if key == "route_factor" and x < 1:
                            check.add((*mpath, key), "must be >= 1 (a route is never shorter than the "
                                      "great circle)")
                        values[_MODE_ALIASES[key]] = x
                else:
                    check.add((*mpath, str(key)), "unknown field (expected cost_per_tkm, handling_per_t, "
                              "co2_kg_per_tkm, forms, max_distance_km, loss_per_km, annualised_capex_per_km, "
                              "route_factor)")
            if values.get("loss_per_km", 0.0) >= 1.0:
                check.add((*mpath, "loss_per_km"), "must be < 1 (a fraction lost per km)")
            transport[str(mode_id)] = ModeSpec(id=str(mode_id), **values)
    if not use_kb and not transport:
        check.add((*path, "transport"), "at least one transport mode is required when use_knowledge_base "
                  "is false")
    if not use_kb:
        for mode_id, mode in transport.items():
            if mode.cost_per_unit_km is None:
                check.add((*path, "transport", mode_id, "cost_per_tkm"),
                          "is required when use_knowledge_base is false")

    substitutions: list[SubstitutionSpec] = []
    for i, item in enumerate(check.array(obj.get("substitutions"), (*path, "substitutions"))):
        spath = (*path, "substitutions", i)
        s_obj = check.obj(item, spath)
        if s_obj is None:
            continue
        _known_keys(check, s_obj, {"id", "material", "replaces", "ratio", "max_share", "pretreatment_cost",
                                   "gates", "co2_factor", "use", "receivers"}, spath)
        rule_id = check.text(s_obj, "id", spath, required=False)
        rule_use = check.text(s_obj, "use", spath, required=False)
        receivers = _industry_codes(check, s_obj.get("receivers"), (*spath, "receivers"))
        material = check.text(s_obj, "material", spath)
        replaces = check.text(s_obj, "replaces", spath)
        ratio = check.number(s_obj, "ratio", spath, positive=True)
        share = check.number(s_obj, "max_share", spath, required=False, minimum=0.0, maximum=1.0)
        if share is not None and share <= 0:
            check.add((*spath, "max_share"), "must be > 0")
        pre = check.number(s_obj, "pretreatment_cost", spath, required=False)
        co2 = check.number(s_obj, "co2_factor", spath, required=False)
        gates: list[GateSpec] = []
        for g, gate in enumerate(check.array(s_obj.get("gates"), (*spath, "gates"))):
            gpath = (*spath, "gates", g)
            g_obj = check.obj(gate, gpath)
            if g_obj is None:
                continue
            attr = check.text(g_obj, "attribute", gpath)
            op = g_obj.get("op")
            if op not in GATE_OPS:
                check.add((*gpath, "op"), f"must be one of {', '.join(GATE_OPS)}")
            val = check.number(g_obj, "value", gpath)
            required = g_obj.get("required", False)
            if not isinstance(required, bool):
                check.add((*gpath, "required"), "must be true or false")
                required = False
            if attr is not None and op in GATE_OPS and val is not None:
                gates.append(GateSpec(attr, str(op), val, required))
        if material and replaces and material == replaces:
            check.add((*spath, "replaces"), "a material always serves a demand for itself; a rule needs two "
                      "different materials")
        if material and replaces and ratio is not None:
            substitutions.append(SubstitutionSpec(material, replaces, ratio, 1.0 if share is None else share,
                                                  pre or 0.0, tuple(gates), co2, rule_id, rule_use, receivers))

    materials: dict[str, MaterialSpec] = {}
    m_raw = obj.get("materials")
    if m_raw is not None and (m_obj2 := check.obj(m_raw, (*path, "materials"))) is not None:
        for mid, spec in m_obj2.items():
            mpath = (*path, "materials", str(mid))
            sp = check.obj(spec, mpath)
            if sp is None:
                continue
            _known_keys(check, sp, {"unit", "form", "hazardous", "hw_code"}, mpath)
            form = sp.get("form")
            if form is not None and form not in FORMS:
                check.add((*mpath, "form"), f"unknown form '{form}' (expected {', '.join(FORMS)})")
                form = None
            hazardous = sp.get("hazardous", False)
            if not isinstance(hazardous, bool):
                check.add((*mpath, "hazardous"), "must be true or false")
                hazardous = False
            hw = check.text(sp, "hw_code", mpath, required=False)
            if hazardous and hw is None:
                check.add((*mpath, "hw_code"), "a hazardous material needs its HW code")
            unit = check.text(sp, "unit", mpath, required=False)
            materials[str(mid)] = MaterialSpec(str(mid), unit, form, hazardous, hw)

    milp = MilpParameters()
    mi_raw = obj.get("milp")
    if mi_raw is not None and (mi := check.obj(mi_raw, (*path, "milp"))) is not None:
        mpath = (*path, "milp")
        _known_keys(check, mi, {"fixed_cost_per_link", "min_lot", "max_partners", "hubs"}, mpath)
        fixed = check.number(mi, "fixed_cost_per_link", mpath, required=False, minimum=0.0) or 0.0
        lot = check.number(mi, "min_lot", mpath, required=False, minimum=0.0) or 0.0
        partners_raw = mi.get("max_partners")
        partners: int | None = None
        if partners_raw is not None:
            if isinstance(partners_raw, bool) or not isinstance(partners_raw, int) or partners_raw < 1:
                check.add((*mpath, "max_partners"), "must be an integer >= 1")
            else:
                partners = partners_raw
        hubs: list[Hub] = []
        for h, hub in enumerate(check.array(mi.get("hubs"), (*mpath, "hubs"))):
            hpath = (*mpath, "hubs", h)
            h_obj = check.obj(hub, hpath)
            if h_obj is None:
                continue
            hid = check.text(h_obj, "id", hpath)
            lat = check.number(h_obj, "lat", hpath, minimum=-90, maximum=90)
            lon = check.number(h_obj, "lon", hpath, minimum=-180, maximum=180)
            cap = check.number(h_obj, "capacity", hpath, positive=True)
            fc = check.number(h_obj, "fixed_cost", hpath, minimum=0.0)
            hh = check.number(h_obj, "handling_per_unit", hpath, required=False, minimum=0.0) or 0.0
            mats = tuple(str(m) for m in check.array(h_obj.get("materials"), (*hpath, "materials")))
            if hid and lat is not None and lon is not None and cap is not None and fc is not None:
                hubs.append(Hub(hid, lat, lon, cap, fc, hh, mats))
        milp = MilpParameters(fixed, lot, partners, tuple(hubs))

    return Parameters(
        use_knowledge_base=use_kb, circuity=circuity, transport=transport,
        prices=check.number_map(obj.get("prices"), (*path, "prices")),
        disposal_costs=check.number_map(obj.get("disposal_costs"), (*path, "disposal_costs")),
        co2_factors=check.number_map(obj.get("co2_factors"), (*path, "co2_factors")),
        substitutions=tuple(substitutions),
        max_distance_km=check.number_map(obj.get("max_distance_km"), (*path, "max_distance_km"), positive=True),
        materials=materials, milp=milp)


def parse_scenario(data: Any, *, knowledge_base: KnowledgeBase | None = None) -> Scenario:
    """Validate a parsed scenario document and build the :class:`Scenario`.

    Parameters
    ----------
    data : mapping
        The document (as from ``json.load``).
    knowledge_base : KnowledgeBase, optional
        Used when ``parameters.use_knowledge_base`` is true (the default); defaults to the shipped one.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        With every problem found, each as (JSON path, message).
    """
    check = _Checker()
    root = check.obj(data, ())
    if root is None:
        raise ScenarioError(check.errors)
    _known_keys(check, root, {"name", "description", "sites", "supplies", "demands", "distances",
                              "parameters"}, ())
    name = root.get("name") or ""
    if not isinstance(name, str):
        check.add(("name",), "must be a string")
        name = ""
    params = _parse_parameters(check, root.get("parameters"))

    kb: KnowledgeBase | None = None
    if params.use_knowledge_base:
        if knowledge_base is None:
            from matching.knowledge import default_knowledge_base

            try:
                knowledge_base = default_knowledge_base()
            except Exception as exc:
                raise ScenarioError([("$.parameters.use_knowledge_base",
                                      f"the knowledge base cannot be loaded: {exc}")]) from exc
        kb = knowledge_base

    # -- sites ---------------------------------------------------------------------------------------
    bulk_sites = _bulk_sites(root.get("sites"))
    sites: list[Site] = bulk_sites or []
    site_ids: set[str] = {site.id for site in sites}
    for i, raw in enumerate(() if bulk_sites is not None else check.array(root.get("sites"), ("sites",))):
        # fast path for the common well-formed record (same result; anything unusual takes the full checks)
        if type(raw) is dict and raw.keys() <= _FAST_SITE_KEYS:
            sid: Any = raw.get("id")
            lat: Any = raw.get("lat")
            lon: Any = raw.get("lon")
            permits_raw: Any = raw.get("permits", [])
            if (type(sid) is str and sid.strip() and sid not in site_ids and _plain_number(lat)
                    and -90.0 <= lat <= 90.0 and _plain_number(lon) and -180.0 <= lon <= 180.0
                    and type(permits_raw) is list):
                site_ids.add(sid)
                sites.append(Site(sid, float(lat), float(lon),
                                  permits=tuple(str(p).strip().upper() for p in permits_raw),
                                  permits_known="permits" in raw))
                continue
        path: tuple[str | int, ...] = ("sites", i)
        obj = check.obj(raw, path)
        if obj is None:
            continue
        _known_keys(check, obj, {"id", "name", "lat", "lon", "park", "province", "industry", "size",
                                 "permits", "access"}, path)
        sid = check.text(obj, "id", path)
        lat = check.number(obj, "lat", path, minimum=-90.0, maximum=90.0)
        lon = check.number(obj, "lon", path, minimum=-180.0, maximum=180.0)
        if sid is not None:
            if sid in site_ids:
                check.add((*path, "id"), f"duplicate site id '{sid}'")
            site_ids.add(sid)
        size_q = size_u = None
        if obj.get("size") is not None and (size := check.obj(obj["size"], (*path, "size"))) is not None:
            size_q = check.number(size, "quantity", (*path, "size"), positive=True)
            size_u = check.text(size, "unit", (*path, "size"), required=False)
        permits = tuple(str(p).strip().upper() for p in check.array(obj.get("permits"), (*path, "permits")))
        access: list[str] = []
        for k, mode_id in enumerate(check.array(obj.get("access"), (*path, "access"))):
            if not isinstance(mode_id, str) or not mode_id.strip():
                check.add((*path, "access", k), "must be a transport mode id such as 'rail' or 'inland_water'")
            elif kb is not None and mode_id not in kb.transport_modes and mode_id not in params.transport:
                check.add((*path, "access", k), f"unknown transport mode '{mode_id}'")
            else:
                access.append(mode_id.strip())
        industries = _industry_codes(check, obj.get("industry"), (*path, "industry"))
        if sid is not None and lat is not None and lon is not None:
            sites.append(Site(sid, lat, lon, obj.get("name"), obj.get("park"), obj.get("province"), industries,
                              size_q, size_u, permits, tuple(sorted(set(access))), "permits" in obj))

    for key in ("supplies", "demands"):
        if root.get(key) is None and key not in root:
            check.add((key,), "is required (an empty array is fine)")

    # -- materials and units -------------------------------------------------------------------------
    declared_units: dict[str, str] = {m: s.unit for m, s in params.materials.items() if s.unit}
    seen_units: dict[str, tuple[str, str]] = {}  # material -> (unit, path) without a knowledge base

    def material_and_quantity(obj: Mapping[str, Any], path: tuple[str | int, ...]
                              ) -> tuple[str | None, float | None, str | None]:
        material = check.text(obj, "material", path)
        quantity = check.number(obj, "quantity", path, positive=True)
        unit = check.text(obj, "unit", path, required=False)
        if material is None:
            return None, quantity, unit
        if kb is not None:
            found = kb.materials.get(material)
            if found is None and material not in params.materials:
                check.add((*path, "material"), f"unknown material id '{material}'")
                return None, quantity, unit
            if found is not None and unit is not None:
                from matching.units import UnitError, to_canonical

                try:
                    if quantity is not None:
                        quantity = to_canonical(quantity, unit, found)
                except UnitError as exc:
                    check.add((*path, "unit"), f"unit '{unit}' does not fit material '{material}' "
                              f"(measured in {found.unit}): {exc}")
                    return material, None, unit
            return material, quantity, unit
        if unit is not None:
            want = declared_units.get(material)
            if want is not None and want != unit:
                check.add((*path, "unit"), f"unit '{unit}' does not fit material '{material}' "
                          f"(declared in {want})")
            elif want is None:
                prev = seen_units.setdefault(material, (unit, json_path(*path, "unit")))
                if prev[0] != unit:
                    check.add((*path, "unit"), f"unit '{unit}' does not fit material '{material}' "
                              f"(measured in {prev[0]} at {prev[1]})")
        return material, quantity, unit

    def fast_stream(raw: dict[str, Any], ids: set[str]) -> tuple[str, str, str, float] | None:
        """(id, site, material, quantity) of a plain well-formed stream record, else None (full checks)."""
        sid: Any = raw.get("id")
        site: Any = raw.get("site")
        material: Any = raw.get("material")
        quantity: Any = raw.get("quantity")
        if not (type(sid) is str and sid.strip() and sid not in ids and type(site) is str and site in site_ids
                and type(material) is str and material.strip() and _plain_number(quantity) and quantity > 0):
            return None
        if kb is not None and material not in kb.materials and material not in params.materials:
            return None
        ids.add(sid)
        return sid, site, material, float(quantity)

    known = None if kb is None else set(kb.materials) | set(params.materials)
    bulk = _bulk_streams(root.get("supplies"), site_ids, known)
    supplies: list[Supply] = [] if bulk is None else list(map(Supply, *bulk))
    ids: set[str] = set()
    for i, raw in enumerate(() if bulk is not None else check.array(root.get("supplies"), ("supplies",))):
        if type(raw) is dict and raw.keys() <= _FAST_STREAM_KEYS and (fast := fast_stream(raw, ids)):
            supplies.append(Supply(*fast))
            continue
        path = ("supplies", i)
        obj = check.obj(raw, path)
        if obj is None:
            continue
        _known_keys(check, obj, {"id", "site", "material", "quantity", "unit", "attributes",
                                 "disposal_cost", "estimated", "name", "note", "quality", "confidence"}, path)
        sid = check.text(obj, "id", path)
        if sid is not None:
            if sid in ids:
                check.add((*path, "id"), f"duplicate supply id '{sid}'")
            ids.add(sid)
        site = check.text(obj, "site", path)
        if site is not None and site not in site_ids:
            check.add((*path, "site"), f"unknown site id '{site}'")
        material, quantity, unit = material_and_quantity(obj, path)
        attributes = check.number_map(obj.get("attributes"), (*path, "attributes"))
        disposal = check.number(obj, "disposal_cost", path, required=False)
        confidence = _stream_confidence(check, obj, path)
        if sid and site and material and quantity is not None:
            supplies.append(Supply(sid, site, material, quantity, unit, attributes, disposal,
                                   bool(obj.get("estimated", False)), confidence))

    bulk = _bulk_streams(root.get("demands"), site_ids, known)
    demands: list[Demand] = [] if bulk is None else list(map(Demand, *bulk))
    ids = set()
    for i, raw in enumerate(() if bulk is not None else check.array(root.get("demands"), ("demands",))):
        if type(raw) is dict and raw.keys() <= _FAST_STREAM_KEYS and (fast := fast_stream(raw, ids)):
            demands.append(Demand(*fast))
            continue
        path = ("demands", i)
        obj = check.obj(raw, path)
        if obj is None:
            continue
        _known_keys(check, obj, {"id", "site", "material", "quantity", "unit", "max_distance_km",
                                 "estimated", "name", "note", "use", "quality", "confidence"}, path)
        did = check.text(obj, "id", path)
        if did is not None:
            if did in ids:
                check.add((*path, "id"), f"duplicate demand id '{did}'")
            ids.add(did)
        site = check.text(obj, "site", path)
        if site is not None and site not in site_ids:
            check.add((*path, "site"), f"unknown site id '{site}'")
        material, quantity, unit = material_and_quantity(obj, path)
        maxd = check.number(obj, "max_distance_km", path, required=False, positive=True)
        use = check.text(obj, "use", path, required=False)
        if use is not None and kb is not None and kb.uses and use not in kb.uses:
            check.add((*path, "use"), f"unknown use '{use}' (the knowledge base's uses.csv lists them)")
            use = None
        confidence = _stream_confidence(check, obj, path)
        if did and site and material and quantity is not None:
            demands.append(Demand(did, site, material, quantity, unit, maxd, bool(obj.get("estimated", False)),
                                  use, confidence))

    distances: list[Distance] = []
    for i, raw in enumerate(check.array(root.get("distances"), ("distances",))):
        path = ("distances", i)
        obj = check.obj(raw, path)
        if obj is None:
            continue
        _known_keys(check, obj, {"from", "to", "km"}, path)
        a = check.text(obj, "from", path)
        b = check.text(obj, "to", path)
        for key, value in (("from", a), ("to", b)):
            if value is not None and value not in site_ids:
                check.add((*path, key), f"unknown site id '{value}'")
        km = check.number(obj, "km", path, minimum=0.0)
        if a and b and km is not None:
            distances.append(Distance(a, b, km))

    # -- references inside parameters ----------------------------------------------------------------
    if kb is not None:
        known = set(kb.materials) | set(params.materials)
        for i, rule in enumerate(params.substitutions):
            for key in ("material", "replaces"):
                value = getattr(rule, key)
                if value not in known:
                    check.add(("parameters", "substitutions", i, key), f"unknown material id '{value}'")
        for table in ("prices", "disposal_costs", "co2_factors", "max_distance_km"):
            for mid in getattr(params, table):
                if mid not in known:
                    check.add(("parameters", table, mid), f"unknown material id '{mid}'")
        for mode_id in params.transport:
            if mode_id not in kb.transport_modes and params.transport[mode_id].cost_per_unit_km is None:
                check.add(("parameters", "transport", mode_id),
                          f"unknown transport mode '{mode_id}' (a new mode needs cost_per_tkm)")
        for h, hub in enumerate(params.milp.hubs):
            for mid in hub.materials:
                if mid not in known:
                    check.add(("parameters", "milp", "hubs", h, "materials"), f"unknown material id '{mid}'")

    if check.errors:
        raise ScenarioError(check.errors)
    return Scenario(name, tuple(sites), tuple(supplies), tuple(demands), tuple(distances), params, kb)

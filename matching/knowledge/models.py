"""Typed, immutable records of the knowledge base.

Everything here is plain data: frozen dataclasses holding tuples, frozensets and read-only mappings, so a
loaded knowledge base can be shared between threads and cached for the life of a process.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, get_args

Confidence = Literal["sourced", "unverified", "estimate"]
Form = Literal["solid", "slurry", "liquid", "gas", "heat", "electricity"]
Unit = Literal["t", "m3", "GJ"]
GateOp = Literal["<=", ">=", "<", ">", "=="]
GateResult = Literal["pass", "fail", "unknown"]
TemperatureGrade = Literal["high", "medium", "low"]

CONFIDENCES: frozenset[str] = frozenset(get_args(Confidence))
FORMS: frozenset[str] = frozenset(get_args(Form))
CANONICAL_UNITS: frozenset[str] = frozenset(get_args(Unit))
GATE_OPS: tuple[str, ...] = ("<=", ">=", "==", "<", ">")  # two-character operators first, for parsing
TEMPERATURE_GRADES: frozenset[str] = frozenset(get_args(TemperatureGrade))
#: temperature grades from coldest to hottest: a heat source serves a use of its own grade or a colder one
GRADE_ORDER: dict[str, int] = {"low": 0, "medium": 1, "high": 2}
#: GB/T 4754-2017 divisions whose every class resolves to an industry profile (its own, its group's or its
#: division's): mining, manufacturing and utilities (06–46), environmental and public-facility services (77, 78)
COVERED_DIVISIONS: tuple[str, ...] = (*(f"{d:02d}" for d in range(6, 47)), "77", "78")
#: words that name a heat pump in a rule's pretreatment (the only way to lift heat to a hotter grade)
HEAT_PUMP_WORDS: tuple[str, ...] = ("heat pump", "热泵")

#: valid hazardous-waste categories of the 国家危险废物名录 (2021): HW01–HW40 and HW45–HW50
HW_CODES: frozenset[str] = frozenset(
    [f"HW{n:02d}" for n in range(1, 41)] + [f"HW{n:02d}" for n in range(45, 51)])
SW_CODE = re.compile(r"^SW(0[1-9]|[1-5][0-9])$")

@dataclass(frozen=True)
class Material:
    """A by-product, waste, raw material or utility that listings and rules refer to by ``id``."""

    id: str
    name_zh: str
    name_en: str
    family: str
    form: Form
    unit: Unit
    density_t_per_m3: float | None
    gb_code: str | None
    ewc_code: str | None
    hazardous: bool
    hw_code: str | None
    source: str
    confidence: Confidence
    disposal_category: str | None = None
    note: str | None = None

    @property
    def is_heat(self) -> bool:
        return self.form == "heat"


@dataclass(frozen=True)
class Attribute:
    """A quality attribute that listings report and gates test (e.g. ``loss_on_ignition`` in %)."""

    id: str
    unit: str
    name_zh: str
    name_en: str
    note: str | None = None


@dataclass(frozen=True)
class QualityGate:
    """A limit on one listing attribute, e.g. ``loss_on_ignition <= 8`` (per cent).

    A listing that does not report the attribute cannot be checked: :meth:`check` returns ``"unknown"``,
    and :meth:`passes` lets it through (the match is then shown as "quality unverified" so a person asks
    for a test report) instead of silently dropping an exchange that may well be feasible.
    """

    attribute: str
    op: GateOp
    value: float
    #: a required gate (written ``al2o3>=40!``) fails when the attribute is not reported: most of the material
    #: does not qualify, so the receiver must see a test report before anything is proposed
    required: bool = False

    def check(self, attributes: Mapping[str, float]) -> GateResult:
        """Return ``"pass"``, ``"fail"`` or ``"unknown"`` (attribute not reported; ``"fail"`` if required)."""
        raw = attributes.get(self.attribute)
        if raw is None:
            return "fail" if self.required else "unknown"
        x = float(raw)
        ok = {
            "<=": x <= self.value, ">=": x >= self.value, "<": x < self.value,
            ">": x > self.value, "==": x == self.value,
        }[self.op]
        return "pass" if ok else "fail"

    def passes(self, attributes: Mapping[str, float]) -> bool:
        """True unless the attribute is reported and breaks the limit (missing attributes pass)."""
        return self.check(attributes) != "fail"

    def __str__(self) -> str:
        return f"{self.attribute}{self.op}{self.value:g}{'!' if self.required else ''}"


@dataclass(frozen=True)
class SubstitutionRule:
    """A by-product ``material`` standing in for ``replaces`` in a receiving ``use``.

    ``ratio`` is in units of ``replaces`` per unit of ``material`` (canonical units of each), and
    ``max_share`` the largest fraction of the receiver's need of ``replaces`` the by-product may cover.
    ``co2_factor``, when set, overrides the knowledge base's default avoided CO2 for ``replaces``
    (t CO2 per canonical unit of the replaced material) for this rule only.
    """

    id: str
    material: str
    replaces: str
    use: str
    ratio: float
    max_share: float
    gates: tuple[QualityGate, ...]
    pretreatment: str | None
    pretreatment_cost: float
    temperature_grade: TemperatureGrade | None
    restrictions: str | None
    source: str
    confidence: Confidence
    co2_factor: float | None = None
    note: str | None = None
    #: GB/T 4754 prefixes of the industries the rule serves (empty: any receiving industry)
    receivers: tuple[str, ...] = ()
    #: what the pretreatment leaves of an attribute, as (attribute, factor): gates see the value after it
    pretreatment_effects: tuple[tuple[str, float], ...] = ()
    #: what a treatment receiver usually charges per unit of the by-product (informational; yuan)
    gate_fee: float | None = None

    def after_pretreatment(self, attributes: Mapping[str, float]) -> Mapping[str, float]:
        """The attributes as the gates see them: as listed, times the pretreatment's effect where it has one."""
        if not self.pretreatment_effects:
            return attributes
        out = dict(attributes)
        for name, factor in self.pretreatment_effects:
            if name in out:
                out[name] = float(out[name]) * factor
        return out

    def check(self, attributes: Mapping[str, float]) -> GateResult:
        """Combine the gates on the attributes after pretreatment: ``"fail"`` if any fails, else ``"unknown"``
        if any is unknown, else ``"pass"``."""
        seen = self.after_pretreatment(attributes)
        results = {gate.check(seen) for gate in self.gates}
        if "fail" in results:
            return "fail"
        return "unknown" if "unknown" in results else "pass"

    def passes(self, attributes: Mapping[str, float]) -> bool:
        return self.check(attributes) != "fail"

    @property
    def gates_text(self) -> str:
        return "; ".join(str(g) for g in self.gates)

    def serves(self, industries: tuple[str, ...]) -> bool:
        """Whether the rule serves a receiver of these GB/T 4754 codes (one matching prefix is enough).

        A rule without receivers serves everyone; a receiver without industry codes is not excluded (its
        listing says what it wants).
        """
        return industry_matches(industries, self.receivers)


def industry_matches(industries: tuple[str, ...], prefixes: tuple[str, ...]) -> bool:
    """True when no prefixes are given, no industries are known, or one code starts with one prefix.

    Examples
    --------
    >>> industry_matches(("3011",), ("301", "3021")), industry_matches(("4430",), ("3011",))
    (True, False)
    """
    if not prefixes or not industries:
        return True
    return any(code.startswith(p) for code in industries for p in prefixes)


@dataclass(frozen=True)
class Restriction:
    """A use that is not allowed: ``material`` may not replace ``replaces`` in ``use`` (``None`` = any use)."""

    material: str
    replaces: str
    use: str | None
    reason: str
    source: str
    confidence: Confidence


@dataclass(frozen=True)
class TransportMode:
    """A way of moving material, with costs per canonical ``unit`` (t for bulk modes, GJ for heat and gas)."""

    id: str
    name_zh: str
    name_en: str
    unit: Unit
    cost_per_unit_km: float
    handling_per_unit: float
    co2_kg_per_unit_km: float
    forms: frozenset[str]
    max_distance_km: float | None
    capex_per_km: float | None
    annualisation_rate: float | None
    lifetime_years: int | None
    loss_per_km: float | None
    source: str
    confidence: Confidence
    materials: frozenset[str] = frozenset()  # when not empty, the only materials the mode carries
    note: str | None = None
    # Rail and water need a siding or a wharf at both ends: usable only between sites that declare access.
    needs_access: bool = False
    #: pipelines: route length ÷ great-circle distance (they follow corridors, not roads); None = road circuity
    route_factor: float | None = None
    #: pipelines: the capacity (canonical units a year) ``capex_per_km`` is for; a link of capacity U costs
    #: ``capex_per_km · (U / capex_reference_capacity) ^ capex_scale_exponent``, never below ``capex_min_per_km``
    capex_reference_capacity: float | None = None
    capex_scale_exponent: float | None = None
    capex_min_per_km: float | None = None

    @property
    def capital_recovery_factor(self) -> float | None:
        if self.lifetime_years is None:
            return None
        r, n = self.annualisation_rate or 0.0, self.lifetime_years
        return 1.0 / n if r == 0 else r / (1.0 - (1.0 + r) ** -n)

    @property
    def annualised_capex_per_km(self) -> float | None:
        """Capital cost per km (at the reference capacity) spread over the lifetime with the capital recovery
        factor (yuan per km·year)."""
        crf = self.capital_recovery_factor
        if self.capex_per_km is None or crf is None:
            return None
        return self.capex_per_km * crf

    @property
    def is_pipeline(self) -> bool:
        return self.capex_per_km is not None

    def carries(self, material: Material) -> bool:
        """True when the mode can move ``material``: its form is carried, its unit converts to ``unit``
        and, for modes limited to some materials (pipelines), it is one of them."""
        from matching.units import is_compatible

        if self.materials and material.id not in self.materials:
            return False
        return material.form in self.forms and is_compatible(self.unit, material)


@dataclass(frozen=True)
class Intensity:
    """How much of a material a unit of an industry's output comes with (by-product) or needs (input)."""

    material: str
    per_unit_output: float
    low: float | None
    high: float | None
    source: str
    confidence: Confidence
    note: str | None = None
    #: share of the plants of the class that have this stream; below 1 the stream is "to confirm"
    share_of_plants: float = 1.0
    #: needs: what the receiver does with the material (a use of uses.csv; required for heat)
    use: str | None = None
    #: needs no substitution rule serves: why only virgin supply meets it (the KB check asks for a reason)
    virgin_only: str | None = None

    @property
    def to_confirm(self) -> bool:
        return self.share_of_plants < 1.0


@dataclass(frozen=True)
class Industry:
    """A GB/T 4754-2017 code: division (2 digits), group (3) or class (4)."""

    code: str
    name_zh: str
    name_en: str
    note: str | None = None

    @property
    def level(self) -> str:
        return {2: "division", 3: "group"}.get(len(self.code), "class")


@dataclass(frozen=True)
class Use:
    """What a receiver does with a material; heat uses carry the temperature grade the process needs."""

    id: str
    name_zh: str
    name_en: str
    temperature_grade: TemperatureGrade | None
    source: str
    confidence: Confidence
    note: str | None = None


@dataclass(frozen=True)
class IndustryProfile:
    """Typical by-products and needs of an industry (GB/T 4754-2017 class, group or division)."""

    code: str
    name_zh: str
    name_en: str
    output_unit: str
    typical_size: float
    byproducts: tuple[Intensity, ...]
    needs: tuple[Intensity, ...]
    source: str
    confidence: Confidence
    note: str | None = None
    #: hazardous-waste categories the industry usually holds a permit for (screening: "permit to verify")
    permits: tuple[str, ...] = ()



@dataclass(frozen=True)
class Target:
    """A policy target: share of generation that should be utilised by ``year``."""

    id: str
    name_zh: str
    name_en: str
    year: int
    rate: float
    families: tuple[str, ...]
    materials: tuple[str, ...]
    source: str
    confidence: Confidence
    #: the document that sets it (title and number as cited), the year it was issued, where it applies
    #: (``national`` or a province's short name) and to what (``all`` parks, or only ``demonstration_base``s)
    document: str = ""
    issued: int | None = None
    region: str = "national"
    applies_to: str = "all"

    def covers(self, material: Material) -> bool:
        return material.id in self.materials or material.family in self.families


@dataclass(frozen=True)
class QuantityRange:
    """What one site can plausibly generate or need of a material per year, in its canonical ``unit``.

    ``key`` is a material id or ``<family>@<unit>``. Above ``typical_max`` a listing is an outlier (accepted,
    with a warning); above ``site_max`` (the largest plant of its kind) it is refused; one-off lots (stocks)
    are refused above ``stock_max``. ``basis`` says how the figures were reached.
    """

    key: str
    unit: Unit
    typical_max: float
    site_max: float
    stock_max: float
    basis: str
    source: str
    confidence: Confidence


@dataclass(frozen=True)
class Factor:
    """One number of a factor table (price, CO2 factor, circuity) with its range and provenance."""

    key: str
    value: float
    low: float | None
    high: float | None
    unit: str
    source: str
    confidence: Confidence
    note: str | None = None


@dataclass(frozen=True)
class DisposalCategory:
    """A category of the environmental protection tax on solid waste, with the landfill gate fee assumed."""

    id: str
    name_zh: str
    name_en: str
    env_tax: float
    landfill_fee: float
    source: str  # of the tax
    confidence: Confidence
    landfill_source: str = ""
    landfill_confidence: Confidence = "estimate"

    @property
    def total(self) -> float:
        return self.env_tax + self.landfill_fee


@dataclass(frozen=True)
class KBIssue:
    """One problem found while loading: the file, the row (line number or YAML path) and what is wrong."""

    file: str
    row: int | str | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file}:{self.row}"
        return f"{where}: {self.message}"


class KnowledgeBaseError(ValueError):
    """The knowledge base files are invalid; ``errors`` lists every problem found."""

    def __init__(self, errors: list[KBIssue]) -> None:
        self.errors = list(errors)
        lines = "\n".join(f"  {e}" for e in self.errors)
        super().__init__(f"knowledge base has {len(self.errors)} error(s):\n{lines}")


class UnknownMaterial(KeyError):
    """A material id is not in the knowledge base."""

    def __init__(self, material: str) -> None:
        self.material = material
        super().__init__(material)

    def __str__(self) -> str:
        return f"unknown material '{self.material}'"


@dataclass(frozen=True, eq=False)
class KnowledgeBase:
    """The loaded, validated knowledge base. Build it with :func:`load_knowledge_base`."""

    materials: Mapping[str, Material]
    substitutions: tuple[SubstitutionRule, ...]
    restrictions: tuple[Restriction, ...]
    transport_modes: Mapping[str, TransportMode]
    circuity: Mapping[str, float]
    co2_factors: Mapping[str, float]
    prices: Mapping[str, float]
    disposal_costs: Mapping[str, float]
    profiles: Mapping[str, IndustryProfile]
    targets: tuple[Target, ...]
    version: str
    # breakdown of disposal_costs (per material id) and provenance tables; defaulted so that tests can
    # build a small knowledge base by hand
    env_tax: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    landfill_fee: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    disposal_categories: Mapping[str, DisposalCategory] = field(default_factory=lambda: MappingProxyType({}))
    factors: Mapping[str, Mapping[str, Factor]] = field(default_factory=lambda: MappingProxyType({}))
    attributes: Mapping[str, Attribute] = field(default_factory=lambda: MappingProxyType({}))
    path: str | None = None
    industries: Mapping[str, Industry] = field(default_factory=lambda: MappingProxyType({}))
    uses: Mapping[str, Use] = field(default_factory=lambda: MappingProxyType({}))
    #: per material, the distance (km as routed) beyond which an exchange is not offered
    economic_radii: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    quantity_ranges: Mapping[str, QuantityRange] = field(default_factory=lambda: MappingProxyType({}))

    # -- materials -------------------------------------------------------------------------------------
    def material(self, material_id: str) -> Material:
        """The material with this id; raises :class:`UnknownMaterial`."""
        try:
            return self.materials[material_id]
        except KeyError:
            raise UnknownMaterial(material_id) from None

    def families(self) -> tuple[str, ...]:
        return tuple(sorted({m.family for m in self.materials.values()}))

    # -- substitution ----------------------------------------------------------------------------------
    def rules_from(self, material: str) -> tuple[SubstitutionRule, ...]:
        """Rules in which ``material`` is the by-product (what it can replace)."""
        return tuple(r for r in self.substitutions if r.material == material)

    def rules_to(self, replaced: str) -> tuple[SubstitutionRule, ...]:
        """Rules that replace ``replaced`` (what can stand in for it)."""
        return tuple(r for r in self.substitutions if r.replaces == replaced)

    def rule(self, rule_id: str) -> SubstitutionRule | None:
        return next((r for r in self.substitutions if r.id == rule_id), None)

    def restriction_for(self, material: str, replaces: str, use: str | None = None) -> Restriction | None:
        """The restriction forbidding ``material`` for ``replaces`` (in ``use``), if any.

        A restriction without a use forbids every use; with ``use=None`` any matching restriction is returned.
        """
        for r in self.restrictions:
            if r.material == material and r.replaces == replaces and (
                    r.use is None or use is None or r.use == use):
                return r
        return None

    def co2_avoided(self, rule: SubstitutionRule) -> float:
        """t CO2 avoided per canonical unit of the rule's by-product (before transport emissions)."""
        factor = rule.co2_factor if rule.co2_factor is not None else self.co2_factors.get(rule.replaces, 0.0)
        return rule.ratio * factor

    # -- economics -------------------------------------------------------------------------------------
    def price_of(self, material: str) -> float | None:
        return self.prices.get(material)

    def disposal_cost_of(self, material: str) -> float:
        """Landfill fee plus environmental tax per unit of ``material`` (0 when it has no category)."""
        return self.disposal_costs.get(material, 0.0)

    def circuity_for(self, province: str | None) -> float:
        """Road-distance ÷ great-circle-distance factor for a province (Chinese name, with or without 省/市).

        Unknown or missing provinces get the ``default`` row (1.0, no detour, if even that is absent,
        which only happens in hand-built knowledge bases: the loader requires it).
        """
        if province:
            key = normalise_province(province)
            if key in self.circuity:
                return self.circuity[key]
        return self.circuity.get("default", 1.0)

    # -- industries ------------------------------------------------------------------------------------
    def profile_for(self, code: str) -> IndustryProfile | None:
        """The profile of a GB/T 4754 code, falling back from class (4) to group (3) to division (2 digits)."""
        found = self.profile_match(code)
        return found[0] if found is not None else None

    def profile_match(self, code: str) -> tuple[IndustryProfile, str] | None:
        """The profile of a code and how it was found: ``"own"``, ``"group"`` or ``"division"`` (fallbacks)."""
        code = code.strip()
        for length in (4, 3, 2):
            if len(code) >= length and code[:length] in self.profiles:
                level = "own" if length == len(code) else {3: "group", 2: "division"}[length]
                return self.profiles[code[:length]], level
        return None

    def industry_name(self, code: str) -> Industry | None:
        """The GB/T 4754 entry of a code, or of its nearest group or division when the class is unknown."""
        code = code.strip()
        for length in (4, 3, 2):
            if len(code) >= length and code[:length] in self.industries:
                return self.industries[code[:length]]
        return None

    def use_grade(self, use: str | None) -> str | None:
        """The temperature grade a heat use needs (``None`` for other uses or an unknown one)."""
        found = self.uses.get(use) if use else None
        return found.temperature_grade if found is not None else None

    def quantity_range(self, material_id: str) -> QuantityRange | None:
        """The plausible quantities of one site for a material: its own row, else its family's (same unit)."""
        m = self.materials.get(material_id)
        if m is None:
            return None
        return self.quantity_ranges.get(m.id) or self.quantity_ranges.get(f"{m.family}@{m.unit}")

    def targets_for(self, material: str) -> tuple[Target, ...]:
        m = self.materials.get(material)
        return () if m is None else tuple(t for t in self.targets if t.covers(m))

    # -- provenance ------------------------------------------------------------------------------------
    def source_of(self, kind: str, key: str) -> tuple[str, Confidence]:
        """``(source, confidence)`` of one entry.

        ``kind`` is ``material``, ``substitution`` (rule id), ``transport_mode``, ``profile``, ``target``,
        ``disposal_category`` (the environmental tax), ``landfill_fee`` (by category) or a factor table:
        ``price``, ``co2_factor``, ``circuity``.
        Raises ``KeyError`` when there is no such entry.
        """
        tables: dict[str, Mapping[str, Any]] = {
            "material": self.materials,
            "substitution": {r.id: r for r in self.substitutions},
            "transport_mode": self.transport_modes,
            "profile": self.profiles,
            "target": {t.id: t for t in self.targets},
            "quantity_range": self.quantity_ranges,
            "disposal_category": self.disposal_categories,
            "use": self.uses,
            **self.factors,
        }
        if kind == "landfill_fee":
            category = self.disposal_categories[key]
            return category.landfill_source, category.landfill_confidence
        if kind not in tables:
            raise KeyError(f"unknown kind '{kind}' (known: {', '.join(tables)})")
        entry = tables[kind][key]
        return entry.source, entry.confidence


_PROVINCE_SUFFIXES = ("壮族自治区", "回族自治区", "维吾尔自治区", "特别行政区", "自治区", "省", "市")


def normalise_province(name: str) -> str:
    """``'贵州省'`` → ``'贵州'``, ``'广西壮族自治区'`` → ``'广西'``; other text is returned stripped."""
    name = name.strip()
    for suffix in _PROVINCE_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name

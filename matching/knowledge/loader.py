"""Read the knowledge-base folder (CSV and YAML), apply an overrides file, validate, build the records.

Loading runs in three steps:

1. every file is read into raw rows (``dict[str, str]`` plus the file name and line number);
2. an optional overrides file patches those raw rows (replacing fields of matching keys, adding new ones),
   so the overrides go through exactly the same checks as the shipped files;
3. the rows are parsed into records and cross-checked. Problems are collected, never raised one by one:
   at the end a single :class:`KnowledgeBaseError` lists every problem with its file and row.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar, cast

import yaml

from matching.knowledge.models import (
    CANONICAL_UNITS,
    CONFIDENCES,
    FORMS,
    GATE_OPS,
    GRADE_ORDER,
    HEAT_PUMP_WORDS,
    HW_CODES,
    SW_CODE,
    TEMPERATURE_GRADES,
    Attribute,
    Confidence,
    DisposalCategory,
    Factor,
    Industry,
    IndustryProfile,
    Intensity,
    KBIssue,
    KnowledgeBase,
    KnowledgeBaseError,
    Material,
    QualityGate,
    QuantityRange,
    Restriction,
    SubstitutionRule,
    Target,
    TransportMode,
    Use,
    normalise_province,
)

__all__ = ["DEFAULT_KB_DIR", "default_knowledge_base", "kb_dir", "load_knowledge_base", "need_service"]

#: the shipped knowledge base, found relative to the package (overridable with ``ISX_KB_DIR``)
DEFAULT_KB_DIR = Path(__file__).resolve().parents[2] / "seed_data" / "reference"

ID = re.compile(r"^[a-z][a-z0-9_]*$")
INDUSTRY_CODE = re.compile(r"^\d{2,4}$")

T = TypeVar("T")


def kb_dir() -> Path:
    """The folder :func:`load_knowledge_base` reads when given no path."""
    env = os.environ.get("ISX_KB_DIR")
    return Path(env) if env else DEFAULT_KB_DIR


# ---------------------------------------------------------------------------------------------------------
# File layout: one table per file, its key column(s) and its required columns.
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Table:
    name: str  # section name in an overrides file
    file: str
    key: tuple[str, ...]
    required: tuple[str, ...]
    value_column: str | None = None  # what a scalar in an overrides file sets


TABLES: tuple[Table, ...] = (
    Table("attributes", "attributes.csv", ("attribute",), ("attribute", "unit", "name_zh", "name_en")),
    Table("materials", "materials.csv", ("id",),
          ("id", "name_zh", "name_en", "family", "form", "unit", "density_t_per_m3", "gb_code", "ewc_code",
           "hazardous", "hw_code", "disposal_category", "source", "confidence")),
    Table("substitutions", "substitutions.csv", ("id",),
          ("id", "material", "replaces", "use", "ratio", "ratio_unit", "max_share", "gates", "pretreatment",
           "pretreatment_cost", "temperature_grade", "co2_factor", "restrictions", "source", "confidence")),
    Table("restrictions", "restrictions.csv", ("material", "replaces", "use"),
          ("material", "replaces", "use", "reason", "source", "confidence")),
    Table("transport_modes", "transport_modes.csv", ("id",),
          ("id", "name_zh", "name_en", "unit", "cost_per_unit_km", "handling_per_unit", "co2_kg_per_unit_km",
           "forms", "max_distance_km", "capex_per_km", "annualisation_rate", "lifetime_years", "loss_per_km",
           "needs_access", "source", "confidence")),
    Table("circuity", "circuity.csv", ("province",),
          ("province", "name_en", "factor", "source", "confidence"), "factor"),
    Table("co2_factors", "co2_factors.csv", ("material",),
          ("material", "t_co2_per_unit", "unit", "low", "high", "source", "confidence"), "t_co2_per_unit"),
    Table("prices", "prices.csv", ("material",),
          ("material", "price", "unit", "low", "high", "source", "confidence"), "price"),
    Table("disposal_costs", "disposal_costs.csv", ("category",),
          ("category", "name_zh", "name_en", "env_tax", "source", "confidence", "landfill_fee",
           "landfill_source", "landfill_confidence")),
    Table("targets", "targets.csv", ("id",),
          ("id", "name_zh", "name_en", "year", "rate", "families", "materials", "document", "issued", "region",
           "applies_to", "source", "confidence")),
    Table("quantity_ranges", "quantity_ranges.csv", ("key",),
          ("key", "unit", "typical_max", "site_max", "stock_max", "basis", "source", "confidence")),
    Table("industries", "industries.csv", ("code",), ("code", "name_zh", "name_en")),
    Table("uses", "uses.csv", ("use",), ("use", "name_zh", "name_en", "temperature_grade", "source", "confidence")),
    Table("economic_radii", "economic_radii.csv", ("material",), ("material", "max_km", "source", "confidence"),
          "max_km"),
)
TABLE_BY_NAME = {t.name: t for t in TABLES}
PROFILES_FILE = "profiles.yaml"
META_FILE = "meta.yaml"


@dataclass
class RawRow:
    file: str
    row: int | str
    data: dict[str, str]


@dataclass
class Raw:
    tables: dict[str, list[RawRow]] = field(default_factory=dict)
    profiles: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (file, path, mapping)
    version: str = "unversioned"


class Issues:
    def __init__(self) -> None:
        self.items: list[KBIssue] = []

    def add(self, file: str, row: int | str | None, message: str) -> None:
        self.items.append(KBIssue(file, row, message))


# ---------------------------------------------------------------------------------------------------------
# Step 1: reading
# ---------------------------------------------------------------------------------------------------------
def _cell(value: object) -> str:
    """A YAML value as the text a CSV cell would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "; ".join(_cell(v) for v in value)
    return str(value).strip()


def _read_csv(path: Path, table: Table, issues: Issues) -> list[RawRow]:
    if not path.is_file():
        issues.add(table.file, None, "file is missing")
        return []
    rows: list[RawRow] = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            issues.add(table.file, 1, "file is empty (no header row)")
            return []
        header = [h.strip() for h in header]
        missing = [c for c in table.required if c not in header]
        if missing:
            issues.add(table.file, 1, f"missing column(s): {', '.join(missing)}")
            return []
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                continue
            if len(cells) > len(header):
                issues.add(table.file, line, f"{len(cells)} cells but the header has {len(header)} columns "
                                             "(an unquoted comma?)")
                continue
            data = {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header)}
            rows.append(RawRow(table.file, line, data))
    return rows


def _read_yaml(path: Path, issues: Issues, file: str) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        issues.add(file, mark.line + 1 if mark is not None else None, f"invalid YAML: {exc}")
    except OSError as exc:
        issues.add(file, None, f"cannot read: {exc.strerror}")
    return None


def _read_profiles(data: Any, file: str, issues: Issues) -> list[tuple[str, str, dict[str, Any]]]:
    profiles = data.get("profiles") if isinstance(data, dict) else None
    if not isinstance(profiles, list):
        issues.add(file, None, "expected a top-level 'profiles:' list")
        return []
    out = []
    for i, item in enumerate(profiles):
        if not isinstance(item, dict):
            issues.add(file, f"profiles[{i}]", "each profile must be a mapping")
            continue
        out.append((file, f"profiles[{i}]", item))
    return out


def read_folder(path: Path, issues: Issues) -> Raw:
    raw = Raw()
    if not path.is_dir():
        issues.add(str(path), None, "knowledge-base folder does not exist")
        return raw
    for table in TABLES:
        raw.tables[table.name] = _read_csv(path / table.file, table, issues)
    if (path / PROFILES_FILE).is_file():
        raw.profiles = _read_profiles(_read_yaml(path / PROFILES_FILE, issues, PROFILES_FILE), PROFILES_FILE,
                                      issues)
    else:
        issues.add(PROFILES_FILE, None, "file is missing")
    meta = _read_yaml(path / META_FILE, issues, META_FILE) if (path / META_FILE).is_file() else None
    if isinstance(meta, dict) and meta.get("version"):
        raw.version = str(meta["version"])
    else:
        issues.add(META_FILE, None, "missing (or has no 'version:')")
    return raw


# ---------------------------------------------------------------------------------------------------------
# Step 2: overrides
# ---------------------------------------------------------------------------------------------------------
OVERRIDE_SECTIONS = (*TABLE_BY_NAME, "profiles")


def apply_overrides(raw: Raw, path: Path, issues: Issues) -> None:
    """Patch ``raw`` with an overrides YAML file.

    Table sections map a key to a mapping of columns (or, for prices, co2_factors and circuity, to a bare
    number). A key that exists has just those columns replaced; a new key adds a row, which must then be
    complete. Top-level ``source`` and ``confidence`` apply to entries that give none. ``restrictions``
    is a list of complete rows (added); ``profiles`` maps codes to complete profiles (replaced or added).
    """
    file = path.name
    data = _read_yaml(path, issues, file)
    if data is None:
        return
    if not isinstance(data, dict):
        issues.add(file, None, "an overrides file must be a mapping of sections")
        return
    default_source = _cell(data.get("source"))
    default_conf = _cell(data.get("confidence"))
    for section, body in data.items():
        if section in ("source", "confidence", "version"):
            continue
        if section not in OVERRIDE_SECTIONS:
            issues.add(file, section, f"unknown section (known: {', '.join(OVERRIDE_SECTIONS)})")
            continue
        if section == "profiles":
            _override_profiles(raw, body, file, default_source, default_conf, issues)
        elif section == "restrictions":
            if not isinstance(body, list):
                issues.add(file, section, "expected a list of restrictions")
                continue
            for i, item in enumerate(body):
                row = _override_row(item, f"{section}[{i}]", file, None, default_source, default_conf, issues)
                if row is not None:
                    raw.tables[section].append(row)
        else:
            _override_table(raw, TABLE_BY_NAME[section], body, file, default_source, default_conf, issues)
    label = _cell(data.get("version")) or path.stem
    raw.version = f"{raw.version}+{label}"


def _override_row(item: Any, where: str, file: str, value_column: str | None, default_source: str,
                  default_conf: str, issues: Issues) -> RawRow | None:
    if not isinstance(item, dict):
        if value_column is None or isinstance(item, list):
            issues.add(file, where, "expected a mapping of column: value")
            return None
        item = {value_column: item}
    data = {str(k): _cell(v) for k, v in item.items()}
    data.setdefault("source", default_source)
    data.setdefault("confidence", default_conf)
    if not data["source"]:
        data.pop("source")
    if not data["confidence"]:
        data.pop("confidence")
    return RawRow(file, where, data)


def _override_table(raw: Raw, table: Table, body: Any, file: str, default_source: str, default_conf: str,
                    issues: Issues) -> None:
    if not isinstance(body, dict):
        issues.add(file, table.name, "expected a mapping of key: values")
        return
    (key_col,) = table.key
    rows = raw.tables.setdefault(table.name, [])
    index = {r.data.get(key_col, ""): r for r in rows}
    for key, item in body.items():
        where = f"{table.name}.{key}"
        patch = _override_row(item, where, file, table.value_column, default_source, default_conf, issues)
        if patch is None:
            continue
        patch.data[key_col] = str(key)
        existing = index.get(str(key))
        if existing is None:
            rows.append(patch)
            index[str(key)] = patch
            continue
        if "source" in table.required and "source" not in patch.data:
            issues.add(file, where, "missing source: an override must say where its figures come from "
                                    "(give 'source' in the entry or at the top of the file)")
        merged = dict(existing.data)
        if table.value_column in patch.data and "low" in merged:
            # the shipped range described the shipped value; drop it unless the override gives one
            merged["low"], merged["high"] = "", ""
        if table.name == "disposal_costs" and "landfill_fee" in patch.data:
            # the tax and the landfill fee have separate provenance: a new fee must not relabel the tax
            merged["landfill_source"] = patch.data.get("landfill_source", patch.data.get("source", ""))
            merged["landfill_confidence"] = patch.data.get("landfill_confidence",
                                                           patch.data.get("confidence", ""))
            if "env_tax" not in patch.data:
                patch.data.pop("source", None)
                patch.data.pop("confidence", None)
        merged.update(patch.data)
        existing.file, existing.row, existing.data = file, where, merged


def _override_profiles(raw: Raw, body: Any, file: str, default_source: str, default_conf: str,
                       issues: Issues) -> None:
    if not isinstance(body, dict):
        issues.add(file, "profiles", "expected a mapping of industry code: profile")
        return
    for code, item in body.items():
        where = f"profiles.{code}"
        if not isinstance(item, dict):
            issues.add(file, where, "expected a complete profile mapping")
            continue
        item = {"code": str(code), **item}
        for entry in [item, *(e for k in ("byproducts", "needs") if isinstance(item.get(k), list)
                              for e in item[k] if isinstance(e, dict))]:
            if default_source:
                entry.setdefault("source", default_source)
            if default_conf:
                entry.setdefault("confidence", default_conf)
        raw.profiles = [p for p in raw.profiles if str(p[2].get("code")) != str(code)]
        raw.profiles.append((file, where, item))


# ---------------------------------------------------------------------------------------------------------
# Step 3: parsing and validation
# ---------------------------------------------------------------------------------------------------------
class Row:
    """Typed access to the cells of one raw row; every problem is recorded, never raised."""

    def __init__(self, raw: RawRow, issues: Issues) -> None:
        self.raw, self.issues = raw, issues
        self.ok = True

    def error(self, message: str) -> None:
        self.ok = False
        self.issues.add(self.raw.file, self.raw.row, message)

    def text(self, col: str) -> str:
        value = self.raw.data.get(col, "").strip()
        if not value:
            self.error(f"missing {col}")
        return value

    def optional(self, col: str) -> str | None:
        return self.raw.data.get(col, "").strip() or None

    def ident(self, col: str) -> str:
        value = self.text(col)
        if value and not ID.match(value):
            self.error(f"{col} '{value}' is not a snake_case id")
        return value

    def number(self, col: str, *, required: bool = True, minimum: float | None = None,
               above: float | None = None, maximum: float | None = None) -> float | None:
        value = self.raw.data.get(col, "").strip()
        if not value:
            if required:
                self.error(f"missing {col}")
            return None
        try:
            x = float(value)
        except ValueError:
            self.error(f"{col} '{value}' is not a number")
            return None
        if x != x or x in (float("inf"), float("-inf")):
            self.error(f"{col} must be a finite number")
        elif minimum is not None and x < minimum:
            self.error(f"{col} {value} must be >= {minimum:g}")
        elif above is not None and x <= above:
            self.error(f"{col} {value} must be > {above:g}")
        elif maximum is not None and x > maximum:
            self.error(f"{col} {value} must be <= {maximum:g}")
        return x

    def flag(self, col: str) -> bool:
        value = self.raw.data.get(col, "").strip().lower()
        if value in ("true", "yes", "1", "y"):
            return True
        if value in ("false", "no", "0", "n", ""):
            return False
        self.error(f"{col} '{value}' must be true or false")
        return False

    def choice(self, col: str, choices: Iterable[str]) -> str:
        value = self.text(col)
        options = sorted(choices)
        if value and value not in options:
            self.error(f"{col} '{value}' must be one of: {', '.join(options)}")
        return value

    def provenance(self, prefix: str = "") -> tuple[str, Confidence]:
        source = self.raw.data.get(f"{prefix}source", "").strip()
        if not source:
            self.error(f"missing {prefix}source")
        conf = self.raw.data.get(f"{prefix}confidence", "").strip()
        if not conf:
            self.error(f"missing {prefix}confidence")
        elif conf not in CONFIDENCES:
            self.error(f"{prefix}confidence '{conf}' must be one of: {', '.join(sorted(CONFIDENCES))}")
        return source, cast(Confidence, conf)

    def range(self, value: float | None, low: float | None, high: float | None, what: str) -> None:
        if value is None:
            return
        if low is not None and low > value:
            self.error(f"low {low:g} is above the {what} {value:g}")
        if high is not None and high < value:
            self.error(f"high {high:g} is below the {what} {value:g}")


def parse_gates(text: str) -> tuple[tuple[QualityGate, ...], list[str]]:
    """Parse ``'loss_on_ignition<=8; so3<=3.5'`` into gates, returning any problems as messages.

    A gate ending in ``!`` (``al2o3>=40!``) is required: an unreported attribute fails it.
    """
    gates: list[QualityGate] = []
    problems: list[str] = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        op = next((o for o in GATE_OPS if o in part), None)
        if op is None:
            problems.append(f"gate '{part}' has no operator ({', '.join(GATE_OPS)})")
            continue
        attribute, _, value = (s.strip() for s in part.partition(op))
        required = value.endswith("!")
        value = value.removesuffix("!").strip()
        if not ID.match(attribute):
            problems.append(f"gate '{part}': attribute '{attribute}' is not a snake_case name")
            continue
        try:
            gates.append(QualityGate(attribute, cast(Any, op), float(value), required))
        except ValueError:
            problems.append(f"gate '{part}': '{value}' is not a number")
    return tuple(gates), problems


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (text or "").split(";") if p.strip())


class Builder:
    """Parses raw rows into records and runs every check, collecting issues."""

    def __init__(self, raw: Raw, issues: Issues) -> None:
        self.raw, self.issues = raw, issues
        self.materials: dict[str, Material] = {}
        self.categories: dict[str, DisposalCategory] = {}
        self.factors: dict[str, dict[str, Factor]] = {}
        self.attributes: dict[str, Attribute] = {}
        self.industries: dict[str, Industry] = {}
        self.uses: dict[str, Use] = {}

    def rows(self, table: str) -> list[Row]:
        return [Row(r, self.issues) for r in self.raw.tables.get(table, [])]

    def unique(self, row: Row, seen: dict[Any, RawRow], key: Any, what: str) -> bool:
        first = seen.get(key)
        if first is not None:
            row.error(f"duplicate {what} {key!r} (first defined at {first.file}:{first.row})")
            return False
        seen[key] = row.raw
        return True

    def ref(self, row: Row, col: str, value: str | None) -> Material | None:
        if not value:
            return None
        found = self.materials.get(value)
        if found is None:
            row.error(f"{col} '{value}' is not a material id in materials.csv")
        return found

    def build_attributes(self) -> None:
        seen: dict[Any, RawRow] = {}
        for row in self.rows("attributes"):
            aid = row.ident("attribute")
            unit = row.raw.data.get("unit", "").strip()
            name_zh, name_en = row.text("name_zh"), row.text("name_en")
            if self.unique(row, seen, aid, "attribute") and row.ok:
                self.attributes[aid] = Attribute(aid, unit, name_zh, name_en, row.optional("note"))

    # -- materials and disposal categories --------------------------------------------------------------
    def build_categories(self) -> None:
        seen: dict[Any, RawRow] = {}
        for row in self.rows("disposal_costs"):
            cid = row.ident("category")
            name_zh, name_en = row.text("name_zh"), row.text("name_en")
            tax = row.number("env_tax", minimum=0)
            source, conf = row.provenance()
            fee = row.number("landfill_fee", minimum=0)
            fee_source, fee_conf = row.provenance("landfill_")
            if self.unique(row, seen, cid, "disposal category") and row.ok:
                self.categories[cid] = DisposalCategory(cid, name_zh, name_en, cast(float, tax),
                                                        cast(float, fee), source, conf, fee_source, fee_conf)

    def build_materials(self) -> None:
        seen: dict[Any, RawRow] = {}
        for row in self.rows("materials"):
            mid = row.ident("id")
            name_zh, name_en, family = row.text("name_zh"), row.text("name_en"), row.ident("family")
            form = row.choice("form", FORMS)
            unit = row.text("unit")
            if unit and unit not in CANONICAL_UNITS:
                row.error(f"unit '{unit}' is not a canonical unit ({', '.join(sorted(CANONICAL_UNITS))}); "
                          "enter the material in t, m3 or GJ")
            density = row.number("density_t_per_m3", required=False, above=0)
            if form in ("heat", "electricity") and unit and unit != "GJ":
                row.error(f"{form} is measured in GJ, not '{unit}'")
            if form in ("heat", "electricity") and density is not None:
                row.error(f"{form} has no density")
            gb = row.optional("gb_code")
            hazardous = row.flag("hazardous")
            hw = row.optional("hw_code")
            if hazardous and not hw:
                row.error("hazardous material without hw_code (HW01–HW50)")
            if hw and hw not in HW_CODES:
                row.error(f"hw_code '{hw}' is not a category of the 国家危险废物名录 (HW01–HW40, HW45–HW50)")
            if hw and not hazardous:
                row.error(f"hw_code '{hw}' given but hazardous is false")
            if gb and not SW_CODE.match(gb) and gb not in HW_CODES:
                row.error(f"gb_code '{gb}' must be SW01–SW59 or HW01–HW50")
            if gb and hazardous and gb != hw:
                row.error(f"hazardous material: gb_code '{gb}' must equal hw_code '{hw}'")
            if gb and gb.startswith("HW") and not hazardous:
                row.error(f"gb_code '{gb}' is a hazardous-waste category but hazardous is false")
            category = row.optional("disposal_category")
            if category and category not in self.categories:
                row.error(f"disposal_category '{category}' is not a category in disposal_costs.csv")
            if category and hazardous and category != "hazardous":
                row.error(f"hazardous material must use disposal_category 'hazardous', not '{category}'")
            if category and unit and unit != "t":
                row.error(f"disposal_category applies to materials measured in t (fees are per t), not '{unit}'")
            source, conf = row.provenance()
            if self.unique(row, seen, mid, "material id") and row.ok:
                self.materials[mid] = Material(
                    mid, name_zh, name_en, family, cast(Any, form), cast(Any, unit), density, gb,
                    row.optional("ewc_code"), hazardous, hw, source, conf, category, row.optional("note"))

    # -- substitution and restrictions ----------------------------------------------------------------
    def build_restrictions(self) -> tuple[Restriction, ...]:
        out: list[Restriction] = []
        seen: dict[Any, RawRow] = {}
        for row in self.rows("restrictions"):
            mat, rep = row.ident("material"), row.ident("replaces")
            self.ref(row, "material", mat)
            self.ref(row, "replaces", rep)
            use = row.optional("use")
            if use and not ID.match(use):
                row.error(f"use '{use}' is not a snake_case name")
            reason = row.text("reason")
            source, conf = row.provenance()
            if self.unique(row, seen, (mat, rep, use), "restriction") and row.ok:
                out.append(Restriction(mat, rep, use, reason, source, conf))
        return tuple(out)

    def build_substitutions(self, restrictions: tuple[Restriction, ...]) -> tuple[SubstitutionRule, ...]:
        out: list[SubstitutionRule] = []
        ids: dict[Any, RawRow] = {}
        triples: dict[Any, RawRow] = {}
        for row in self.rows("substitutions"):
            rid = row.ident("id")
            mat_id, rep_id, use = row.ident("material"), row.ident("replaces"), row.ident("use")
            mat, rep = self.ref(row, "material", mat_id), self.ref(row, "replaces", rep_id)
            if mat_id and mat_id == rep_id:
                row.error("a material cannot replace itself")
            ratio = row.number("ratio", above=0)
            ratio_unit = row.text("ratio_unit")
            if mat and rep and ratio_unit and ratio_unit != f"{rep.unit}/{mat.unit}":
                row.error(f"ratio_unit '{ratio_unit}' does not match the materials' units: expected "
                          f"'{rep.unit}/{mat.unit}' ({rep.id} per {mat.id})")
            share = row.number("max_share", above=0, maximum=1)
            gates, problems = parse_gates(row.raw.data.get("gates", ""))
            for problem in problems:
                row.error(problem)
            for gate in gates:
                if self.attributes and gate.attribute not in self.attributes:
                    row.error(f"gate attribute '{gate.attribute}' is not defined in attributes.csv")
            pretreatment = row.optional("pretreatment")
            cost = row.number("pretreatment_cost", required=False, minimum=0) or 0.0
            if cost > 0 and not pretreatment:
                row.error("pretreatment_cost given without a pretreatment")
            grade = row.optional("temperature_grade")
            if grade and grade not in TEMPERATURE_GRADES:
                row.error(f"temperature_grade '{grade}' must be one of: {', '.join(sorted(TEMPERATURE_GRADES))}")
            if mat and mat.is_heat and not grade:
                row.error(f"heat rule needs a temperature_grade ({', '.join(sorted(TEMPERATURE_GRADES))})")
            if mat and not mat.is_heat and grade:
                row.error(f"temperature_grade given but '{mat.id}' is not heat")
            found_use = self.uses.get(use)
            if use and self.uses and found_use is None:
                row.error(f"use '{use}' is not defined in uses.csv")
            needed = found_use.temperature_grade if found_use is not None else None
            if mat and mat.is_heat and grade in GRADE_ORDER and needed in GRADE_ORDER \
                    and GRADE_ORDER[grade] < GRADE_ORDER[needed] \
                    and not any(w in (pretreatment or "").lower() for w in HEAT_PUMP_WORDS):
                row.error(f"{grade}-grade heat cannot serve '{use}', which needs {needed} grade, without a heat "
                          "pump (name it in pretreatment, with its cost)")
            receivers = _split(row.raw.data.get("receivers"))
            for prefix in receivers:
                self.industry_ref(row, "receivers", prefix)
            effects = self._effects(row)
            gate_fee = row.number("gate_fee", required=False, minimum=0)
            co2 = row.number("co2_factor", required=False)
            source, conf = row.provenance()
            restricted = next((r for r in restrictions if r.material == mat_id and r.replaces == rep_id
                               and r.use in (None, use)), None)
            if restricted is not None:
                row.error(f"rule contradicts restrictions.csv: {mat_id} may not replace {rep_id}"
                          f"{' in ' + restricted.use if restricted.use else ''} ({restricted.reason})")
            fresh = self.unique(row, ids, rid, "rule id")
            fresh = self.unique(row, triples, (mat_id, rep_id, use), "rule (material, replaces, use)") and fresh
            if fresh and row.ok:
                out.append(SubstitutionRule(
                    rid, mat_id, rep_id, use, cast(float, ratio), cast(float, share), gates, pretreatment,
                    cost, cast(Any, grade), row.optional("restrictions"), source, conf, co2,
                    row.optional("note"), receivers, effects, gate_fee))
        return tuple(out)

    def _effects(self, row: Row) -> tuple[tuple[str, float], ...]:
        """``'soluble_p2o5*0.25; soluble_f*0.3'``: what a pretreatment leaves of each attribute."""
        out: list[tuple[str, float]] = []
        text = row.raw.data.get("pretreatment_effects", "")
        for part in _split(text):
            name, star, factor = (p.strip() for p in part.partition("*"))
            if not star or not ID.match(name):
                row.error(f"pretreatment effect '{part}' must read attribute*factor")
                continue
            if self.attributes and name not in self.attributes:
                row.error(f"pretreatment effect on '{name}', which is not defined in attributes.csv")
            try:
                value = float(factor)
            except ValueError:
                row.error(f"pretreatment effect '{part}': '{factor}' is not a number")
                continue
            if not 0 <= value <= 10:
                row.error(f"pretreatment effect '{part}': the factor must be between 0 and 10")
                continue
            out.append((name, value))
        if out and not row.optional("pretreatment"):
            row.error("pretreatment_effects given without a pretreatment")
        return tuple(out)

    def industry_ref(self, row: Row, col: str, code: str) -> None:
        if not INDUSTRY_CODE.match(code):
            row.error(f"{col} '{code}' must be a GB/T 4754 code of 2 to 4 digits")
        elif self.industries and code not in self.industries:
            row.error(f"{col} '{code}' is not a GB/T 4754-2017 code in industries.csv")

    # -- industries, uses and radii ------------------------------------------------------------------------
    def build_industries(self) -> None:
        seen: dict[Any, RawRow] = {}
        for row in self.rows("industries"):
            code = row.text("code")
            if code and not INDUSTRY_CODE.match(code):
                row.error(f"code '{code}' must be a GB/T 4754 code of 2 to 4 digits")
            name_zh, name_en = row.text("name_zh"), row.text("name_en")
            if self.unique(row, seen, code, "industry code") and row.ok:
                self.industries[code] = Industry(code, name_zh, name_en, row.optional("note"))
        for code in self.industries:
            for parent in (code[:2], code[:3]) if len(code) == 4 else (code[:2],) if len(code) == 3 else ():
                if parent not in self.industries:
                    self.issues.add("industries.csv", None, f"'{code}' has no parent '{parent}' in the file")

    def build_uses(self) -> None:
        seen: dict[Any, RawRow] = {}
        for row in self.rows("uses"):
            uid = row.ident("use")
            name_zh, name_en = row.text("name_zh"), row.text("name_en")
            grade = row.optional("temperature_grade")
            if grade and grade not in TEMPERATURE_GRADES:
                row.error(f"temperature_grade '{grade}' must be one of: {', '.join(sorted(TEMPERATURE_GRADES))}")
            source, conf = row.provenance()
            if self.unique(row, seen, uid, "use") and row.ok:
                self.uses[uid] = Use(uid, name_zh, name_en, cast(Any, grade), source, conf, row.optional("note"))

    def build_radii(self) -> dict[str, float]:
        factors: dict[str, Factor] = {}
        seen: dict[Any, RawRow] = {}
        for row in self.rows("economic_radii"):
            mid = row.text("material")
            self.ref(row, "material", mid)
            km = row.number("max_km", above=0)
            source, conf = row.provenance()
            if self.unique(row, seen, mid, "economic radius for") and row.ok:
                factors[mid] = Factor(mid, cast(float, km), None, None, "km", source, conf, row.optional("note"))
        self.factors["economic_radius"] = factors
        return {k: f.value for k, f in factors.items()}

    # -- transport ---------------------------------------------------------------------------------------
    def build_transport(self) -> dict[str, TransportMode]:
        out: dict[str, TransportMode] = {}
        seen: dict[Any, RawRow] = {}
        for row in self.rows("transport_modes"):
            mid = row.ident("id")
            unit = row.choice("unit", CANONICAL_UNITS)
            cost = row.number("cost_per_unit_km", minimum=0)
            handling = row.number("handling_per_unit", minimum=0)
            co2 = row.number("co2_kg_per_unit_km", minimum=0)
            forms = frozenset(_split(row.raw.data.get("forms")))
            if not forms:
                row.error("missing forms")
            for bad in sorted(forms - FORMS):
                row.error(f"form '{bad}' must be one of: {', '.join(sorted(FORMS))}")
            carried = frozenset(_split(row.raw.data.get("materials")))
            for mat in sorted(carried):
                self.ref(row, "materials", mat)
            max_km = row.number("max_distance_km", required=False, above=0)
            capex = row.number("capex_per_km", required=False, minimum=0)
            rate = row.number("annualisation_rate", required=False, minimum=0, maximum=1)
            life = row.number("lifetime_years", required=False, above=0)
            loss = row.number("loss_per_km", required=False, minimum=0, maximum=0.5)
            if capex is not None and (rate is None or life is None):
                row.error("a capex_per_km needs annualisation_rate and lifetime_years")
            if life is not None and life != int(life):
                row.error(f"lifetime_years {life:g} must be a whole number")
            route = row.number("route_factor", required=False, minimum=1.0, maximum=3.0)
            if route is not None and capex is None:
                row.error("route_factor applies to pipelines (modes with a capex_per_km); road, rail and water "
                          "use circuity.csv")
            ref_cap = row.number("capex_reference_capacity", required=False, above=0)
            exponent = row.number("capex_scale_exponent", required=False, above=0, maximum=1)
            capex_min = row.number("capex_min_per_km", required=False, minimum=0)
            scaling = (ref_cap, exponent)
            if any(x is not None for x in (*scaling, capex_min)) and capex is None:
                row.error("capex scaling (capex_reference_capacity, capex_scale_exponent, capex_min_per_km) "
                          "applies to pipelines with a capex_per_km")
            elif (ref_cap is None) != (exponent is None):
                row.error("capex_reference_capacity and capex_scale_exponent go together")
            elif capex_min is not None and capex is not None and capex_min > capex:
                row.error(f"capex_min_per_km {capex_min:g} is above capex_per_km {capex:g}")
            source, conf = row.provenance()
            if self.unique(row, seen, mid, "transport mode") and row.ok:
                out[mid] = TransportMode(
                    mid, row.text("name_zh"), row.text("name_en"), cast(Any, unit), cast(float, cost),
                    cast(float, handling), cast(float, co2), forms, max_km, capex, rate,
                    int(life) if life is not None else None, loss, source, conf, carried,
                    row.optional("note"), row.flag("needs_access"), route, ref_cap, exponent, capex_min)
        return out

    # -- factor tables ---------------------------------------------------------------------------------
    def build_factors(self, table: str, key_col: str, value_col: str, *, kind: str,
                      unit_of: Callable[[Material], str] | None, minimum: float | None = None,
                      ) -> dict[str, Factor]:
        out: dict[str, Factor] = {}
        seen: dict[Any, RawRow] = {}
        for row in self.rows(table):
            key = row.text(key_col)
            material = self.ref(row, key_col, key) if unit_of is not None else None
            value = row.number(value_col, minimum=minimum)
            low, high = row.number("low", required=False), row.number("high", required=False)
            row.range(value, low, high, value_col)
            unit = row.raw.data.get("unit", "").strip()
            if material is not None and unit_of is not None and unit != unit_of(material):
                row.error(f"unit '{unit}' does not match the material's canonical unit: expected "
                          f"'{unit_of(material)}'")
            source, conf = row.provenance()
            if self.unique(row, seen, key, f"{kind} for") and row.ok:
                out[key] = Factor(key, cast(float, value), low, high, unit, source, conf, row.optional("note"))
        self.factors[kind] = out
        return out

    def build_circuity(self) -> dict[str, float]:
        out: dict[str, float] = {}
        seen: dict[Any, RawRow] = {}
        factors: dict[str, Factor] = {}
        rows = self.rows("circuity")
        for row in rows:
            province = row.text("province")
            key = province if province == "default" else normalise_province(province)
            value = row.number("factor", minimum=1.0, maximum=3.0)
            source, conf = row.provenance()
            if self.unique(row, seen, key, "circuity for") and row.ok:
                out[key] = cast(float, value)
                factors[key] = Factor(key, cast(float, value), None, None, "", source, conf,
                                      row.optional("name_en"))
        if rows and "default" not in out:
            self.issues.add("circuity.csv", None, "needs a 'default' row for provinces not listed")
        self.factors["circuity"] = factors
        return out

    # -- profiles and targets ----------------------------------------------------------------------------
    def build_profiles(self) -> dict[str, IndustryProfile]:
        out: dict[str, IndustryProfile] = {}
        first: dict[str, str] = {}
        for file, where, item in self.raw.profiles:
            row = Row(RawRow(file, where, {k: _cell(v) for k, v in item.items()
                                           if not isinstance(v, list | dict)}), self.issues)
            code = row.text("code")
            if code:
                self.industry_ref(row, "code", code)
            size = row.number("typical_size", above=0)
            permits = item.get("permits") or []
            if not isinstance(permits, list):
                row.error("permits must be a list of HW categories")
                permits = []
            for hw in permits:
                if str(hw) not in HW_CODES:
                    row.error(f"permit '{hw}' is not a category of the 国家危险废物名录 (HW01–HW40, HW45–HW50)")
            source, conf = row.provenance()
            lists: dict[str, tuple[Intensity, ...]] = {}
            for kind in ("byproducts", "needs"):
                lists[kind] = self._intensities(item.get(kind), file, f"{where}.{kind}", row,
                                                needs=kind == "needs")
            if not lists["byproducts"] and not lists["needs"]:
                row.error("a profile needs at least one by-product or need")
            if code in first:
                row.error(f"duplicate profile code '{code}' (first defined at {first[code]})")
                continue
            first[code] = f"{file}:{where}"
            if row.ok:
                out[code] = IndustryProfile(code, row.text("name_zh"), row.text("name_en"),
                                            row.text("output_unit"), cast(float, size), lists["byproducts"],
                                            lists["needs"], source, conf, row.optional("note"),
                                            tuple(str(p) for p in permits))
        return out

    def check_needs_served(self, profiles: Mapping[str, IndustryProfile],
                           rules: tuple[SubstitutionRule, ...]) -> None:
        """Every profile need is served, or marked ``virgin_only`` with its reason (see :func:`need_service`)."""
        if not self.industries:
            return
        for code, need, served in need_service(profiles, rules, self.industries):
            if not served and need.virgin_only is None:
                what = f"profile {code} need '{need.material}'" + (f" ({need.use})" if need.use else "")
                self.issues.add("profiles.yaml", code, f"{what} is served by no substitution rule: add the "
                                "class to a rule's receivers, or mark the need virgin_only with the reason")

    def _intensities(self, items: Any, file: str, where: str, parent: Row, *, needs: bool,
                     ) -> tuple[Intensity, ...]:
        if items is None:
            return ()
        if not isinstance(items, list):
            parent.error(f"{where.rsplit('.', 1)[-1]} must be a list")
            return ()
        out: list[Intensity] = []
        seen: dict[Any, RawRow] = {}
        for i, entry in enumerate(items):
            if not isinstance(entry, dict):
                parent.error(f"{where}[{i}] must be a mapping")
                continue
            row = Row(RawRow(file, f"{where}[{i}]", {k: _cell(v) for k, v in entry.items()}), self.issues)
            mat = row.ident("material")
            self.ref(row, "material", mat)
            value = row.number("per_unit_output", above=0)
            low = row.number("low", required=False, minimum=0)
            high = row.number("high", required=False, minimum=0)
            row.range(value, low, high, "per_unit_output")
            share = row.number("share_of_plants", required=False, above=0, maximum=1)
            use = row.optional("use")
            material = self.materials.get(mat)
            if use is not None and not needs:
                row.error("use applies to needs, not to by-products")
            elif use is not None and self.uses and use not in self.uses:
                row.error(f"use '{use}' is not defined in uses.csv")
            elif needs and material is not None and material.is_heat:
                if use is None:
                    row.error("a heat need must name its use (the grade the process needs)")
                elif self.uses and self.uses[use].temperature_grade is None:
                    row.error(f"use '{use}' of a heat need has no temperature_grade in uses.csv")
            virgin_only = row.optional("virgin_only")
            if virgin_only is not None and not needs:
                row.error("virgin_only applies to needs, not to by-products")
            source, conf = row.provenance()
            # a need is one material for one use (a dye house needs process steam and hot water)
            self.unique(row, seen, (mat, use) if needs else mat, "material (and use) in this list")
            if row.ok:
                out.append(Intensity(mat, cast(float, value), low, high, source, conf, row.optional("note"),
                                     1.0 if share is None else share, use, virgin_only))
            else:
                parent.ok = False
        return tuple(out)

    def build_targets(self) -> tuple[Target, ...]:
        out: list[Target] = []
        seen: dict[Any, RawRow] = {}
        families = {m.family for m in self.materials.values()}
        for row in self.rows("targets"):
            tid = row.ident("id")
            year = row.number("year", minimum=2000, maximum=2100)
            rate = row.number("rate", above=0, maximum=1)
            fams, mats = _split(row.raw.data.get("families")), _split(row.raw.data.get("materials"))
            if not fams and not mats:
                row.error("a target must name the families or materials it measures")
            for fam in fams:
                if self.materials and fam not in families:
                    row.error(f"family '{fam}' is not the family of any material")
            for mat in mats:
                self.ref(row, "materials", mat)
            source, conf = row.provenance()
            scope = self.target_scope(row, fams, mats)
            if self.unique(row, seen, tid, "target id") and row.ok:
                out.append(Target(tid, row.text("name_zh"), row.text("name_en"), int(cast(float, year)),
                                  cast(float, rate), fams, mats, source, conf, **scope))
        return tuple(out)

    def target_scope(self, row: Row, fams: tuple[str, ...], mats: tuple[str, ...]) -> dict[str, Any]:
        """A target's document, issue year, region and what it applies to; its materials share one unit."""
        document = row.text("document")
        issued = row.number("issued", minimum=2000, maximum=2100)
        region = row.text("region")
        if region and region != "national" and normalise_province(region) != region:
            row.error(f"region '{region}' must be 'national' or a province's short name ({normalise_province(region)})")
        applies_to = row.choice("applies_to", ("all", "demonstration_base"))
        units = {m.unit for m in self.materials.values() if m.id in mats or m.family in fams}
        if len(units) > 1:
            row.error(f"a target's materials must share one unit; these are in {', '.join(sorted(units))}")
        return {"document": document, "issued": None if issued is None else int(issued), "region": region,
                "applies_to": applies_to}

    # -- plausible quantities (quantity_ranges.csv) -----------------------------------------------------------
    def build_quantity_ranges(self) -> dict[str, QuantityRange]:
        """One range per material id or ``<family>@<unit>``; every material must be covered by one of them."""
        out: dict[str, QuantityRange] = {}
        seen: dict[Any, RawRow] = {}
        family_units = {f"{m.family}@{m.unit}" for m in self.materials.values()}
        for row in self.rows("quantity_ranges"):
            key, unit = row.text("key"), row.text("unit")
            expected: str | None = None
            if "@" in key:
                if self.materials and key not in family_units:
                    row.error(f"'{key}' is no family@unit of any material (known: {', '.join(sorted(family_units))})")
                expected = key.split("@", 1)[1]
            else:
                material = self.ref(row, "key", key)
                expected = material.unit if material else None
            if expected and unit != expected:
                row.error(f"unit '{unit}' must be the canonical unit {expected}")
            typical = row.number("typical_max", above=0)
            site = row.number("site_max", above=0)
            stock = row.number("stock_max", above=0)
            if typical is not None and site is not None and typical > site:
                row.error(f"typical_max {typical:g} is above site_max {site:g}")
            if site is not None and stock is not None and site > stock:
                row.error(f"site_max {site:g} is above stock_max {stock:g}")
            basis = row.text("basis")
            source, conf = row.provenance()
            if self.unique(row, seen, key, "quantity range") and row.ok:
                out[key] = QuantityRange(key, cast(Any, unit), cast(float, typical), cast(float, site),
                                         cast(float, stock), basis, source, conf)
        if self.raw.tables.get("quantity_ranges") is not None:
            for m in self.materials.values():
                if m.id not in out and f"{m.family}@{m.unit}" not in out:
                    self.issues.add("quantity_ranges.csv", None, f"no range covers material '{m.id}' "
                                                                 f"(add '{m.id}' or '{m.family}@{m.unit}')")
        return out

    # -- everything ----------------------------------------------------------------------------------------
    def build(self, path: Path) -> KnowledgeBase:
        self.build_attributes()
        self.build_industries()
        self.build_uses()
        self.build_categories()
        self.build_materials()
        restrictions = self.build_restrictions()
        rules = self.build_substitutions(restrictions)
        transport = self.build_transport()
        circuity = self.build_circuity()
        co2 = self.build_factors("co2_factors", "material", "t_co2_per_unit", kind="co2_factor",
                                 unit_of=lambda m: f"t CO2/{m.unit}")
        prices = self.build_factors("prices", "material", "price", kind="price",
                                    unit_of=lambda m: f"yuan/{m.unit}")
        for rule in rules:
            if rule.replaces not in co2 and rule.co2_factor is None:
                self.issues.add("co2_factors.csv", None, f"no CO2 factor for '{rule.replaces}', which rule "
                                                         f"'{rule.id}' replaces (add a row or a co2_factor)")
        profiles = self.build_profiles()
        self.check_needs_served(profiles, rules)
        targets = self.build_targets()
        radii = self.build_radii()
        quantity_ranges = self.build_quantity_ranges()
        disposal = {m.id: self.categories[m.disposal_category] for m in self.materials.values()
                    if m.disposal_category in self.categories}

        def frozen(d: Mapping[str, T]) -> Mapping[str, T]:
            return MappingProxyType(dict(d))

        return KnowledgeBase(
            materials=frozen(self.materials), substitutions=rules, restrictions=restrictions,
            transport_modes=frozen(transport), circuity=frozen(circuity),
            co2_factors=frozen({k: f.value for k, f in co2.items()}),
            prices=frozen({k: f.value for k, f in prices.items()}),
            disposal_costs=frozen({k: c.total for k, c in disposal.items()}),
            env_tax=frozen({k: c.env_tax for k, c in disposal.items()}),
            landfill_fee=frozen({k: c.landfill_fee for k, c in disposal.items()}),
            disposal_categories=frozen(self.categories), profiles=frozen(profiles), targets=targets,
            version=self.raw.version, factors=frozen({k: frozen(v) for k, v in self.factors.items()}),
            attributes=frozen(self.attributes), path=str(path), industries=frozen(self.industries),
            uses=frozen(self.uses), economic_radii=frozen(radii), quantity_ranges=frozen(quantity_ranges))


def need_service(profiles: Mapping[str, IndustryProfile], rules: Iterable[SubstitutionRule],
                 industries: Iterable[str]) -> list[tuple[str, Intensity, list[str]]]:
    """For every profile need, what may serve it: ``(profile code, need, [rule ids or "same material ..."])``.

    A need is served when another profile lists its material as a by-product (the same material changes
    hands), or when a rule replacing its material, of its use (or of any use when the need names none),
    admits one of the classes the profile stands for: the class itself, or for a group or division
    profile the classes of ``industries`` that fall back to it (all its classes when none does: a site
    coded at group level). A need nothing serves is a demand screening can never answer; the loader
    refuses it unless it is marked ``virgin_only: <reason>`` (a test keeps the shipped marks from going
    stale: a marked need that something serves).
    """
    codes = [c for c in industries if len(c) == 4]
    classes: dict[str, list[str]] = {}
    for code in codes:
        for cut in (4, 3, 2):
            if code[:cut] in profiles:
                classes.setdefault(code[:cut], []).append(code)
                break
    for code in profiles:
        if len(code) < 4 and code not in classes:
            classes[code] = [c for c in codes if c.startswith(code)]
    by_replaced: dict[str, list[SubstitutionRule]] = {}
    for rule in rules:
        by_replaced.setdefault(rule.replaces, []).append(rule)
    supplied_by: dict[str, list[str]] = {}
    for code, profile in profiles.items():
        for item in profile.byproducts:
            supplied_by.setdefault(item.material, []).append(code)
    out: list[tuple[str, Intensity, list[str]]] = []
    for code, profile in profiles.items():
        stands_for = (code, *classes.get(code, ()))
        for need in profile.needs:
            served = [r.id for r in by_replaced.get(need.material, ())
                      if (need.use is None or r.use is None or r.use == need.use) and r.serves(stands_for)]
            served += [f"the same material from profile {c}" for c in supplied_by.get(need.material, ())
                       if c != code]
            out.append((code, need, served))
    return out


# ---------------------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------------------
def load_knowledge_base(path: Path | str | None = None, *, overrides: Path | str | None = None,
                        ) -> KnowledgeBase:
    """Load and validate a knowledge-base folder, optionally overlaid with an overrides file.

    Parameters
    ----------
    path : Path, optional
        Folder holding ``materials.csv`` and the other files (see ``seed_data/reference/README.md``).
        Defaults to ``$ISX_KB_DIR`` or the shipped ``seed_data/reference``.
    overrides : Path, optional
        A YAML file whose sections (``prices``, ``disposal_costs``, ``circuity``, ``co2_factors``,
        ``substitutions``, ...) replace matching entries or add new ones; checked like the folder.

    Returns
    -------
    KnowledgeBase
        Immutable, validated records.

    Raises
    ------
    KnowledgeBaseError
        Listing every problem found, each with its file and row.

    Examples
    --------
    >>> kb = load_knowledge_base()
    >>> kb.rules_from("fly_ash")[0].replaces in kb.materials
    True
    """
    folder = Path(path) if path is not None else kb_dir()
    issues = Issues()
    raw = read_folder(folder, issues)
    if overrides is not None:
        apply_overrides(raw, Path(overrides), issues)
    kb = Builder(raw, issues).build(folder)
    if issues.items:
        raise KnowledgeBaseError(issues.items)
    return kb


@cache
def default_knowledge_base() -> KnowledgeBase:
    """The shipped knowledge base (or ``$ISX_KB_DIR``), loaded once per process."""
    return load_knowledge_base()

"""The firms' statutory solid-waste ledgers (一般工业固体废物管理台账) as the baseline of the KPIs.

Firms and park managers import their ledger from CSV or XLSX (the project's one upload reader,
``services.imports.read_table``): one row per firm, material and month (1–12) or whole year (month empty or
0) with the quantities generated, utilised in-house, sent out for utilisation, stored and disposed, and the
part of the utilised quantities that came from earlier years' storage. Like the listings import, the file is
checked whole first and written only when every row is right (all or nothing); rows upsert by firm, material,
year and month, so importing the same file again changes nothing.

Figures beyond the largest plant of their kind are refused, outliers accepted with a warning
(``services.plausibility``). The time series by month and year (``series``) is what the KPI and baseline pages
and ``GET /api/v1/baseline/series`` show; ``services.kpis`` reads the entries for the official rate.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from backend import policy
from backend.config import get_settings
from backend.errors import InvalidInput
from backend.kb import get_kb
from backend.models import Deal, Delivery, Firm, Park, WasteLedgerEntry
from backend.policy import Actor
from backend.schemas import ImportIssue
from backend.services import plausibility
from backend.services.imports import read_table
from matching.units import UnitError, is_compatible, to_canonical

FIGURES = ("generated", "utilised_in_house", "sent_for_utilisation", "stored", "disposed", "stock_utilised")
COLUMNS = ("park", "firm", "material", "year", "month", "unit", *FIGURES)
#: the statutory ledger's own Chinese headings are accepted as well
ALIASES = {"园区": "park", "企业": "firm", "单位名称": "firm", "材料": "material", "固废": "material", "年": "year",
           "年份": "year", "月": "month", "月份": "month", "计量单位": "unit", "产生量": "generated",
           "自行利用量": "utilised_in_house", "委托利用量": "sent_for_utilisation", "贮存量": "stored",
           "处置量": "disposed", "利用往年贮存量": "stock_utilised"}
BALANCE_TOLERANCE = 0.05  # generated vs (utilised − stock) + stored + disposed: a looser balance is worth a look


@dataclass
class _Plan:
    rows: int = 0
    errors: list[ImportIssue] = field(default_factory=list)
    warnings: list[ImportIssue] = field(default_factory=list)
    entries: dict[tuple[int, str, int, int], dict[str, Any]] = field(default_factory=dict)

    def error(self, row: int | None, column: str | None, msg: str, code: str | None = None,
              values: dict[str, Any] | None = None) -> None:
        self.errors.append(ImportIssue(row=row, column=column, msg=msg, code=code,
                                       values={k: str(v) for k, v in (values or {}).items()}))


class LedgerImportRejected(InvalidInput):
    """A real run found problems: nothing was written; ``summary`` lists every one."""

    def __init__(self, summary: dict[str, Any]) -> None:
        errors = summary["errors"]
        super().__init__([{"loc": ["file", "row", e.row, e.column] if e.row else ["file", e.column or ""],
                           "msg": e.msg, "type": e.code or "import_error"} for e in errors],
                         f"{len(errors)} problem(s) in the ledger file; nothing was imported")
        self.summary = summary


def _can_import_for(actor: Actor | None, firm: Firm) -> bool:
    return actor is None or policy.can_edit_firm_records(actor, firm)


def _plan(session: Session, actor: Actor | None, data: bytes, filename: str, today: date) -> _Plan:
    kb = get_kb()
    plan = _Plan()
    header, rows = read_table(data, filename, max_rows=get_settings().max_import_rows)
    header = [ALIASES.get(h, h) for h in header]
    plan.rows = len(rows)
    for name in header:
        if name and name not in COLUMNS:
            plan.error(1, name, f"unknown column '{name}'; columns are: {', '.join(COLUMNS)}", "ledger_unknown_column",
                       {"column": name, "columns": ", ".join(COLUMNS)})
    for name in ("material", "year", "generated"):
        if name not in header:
            plan.error(1, name, f"missing column '{name}'", "ledger_missing_column", {"column": name})
    if not rows:
        plan.error(None, None, "the file has a header but no data rows", "ledger_no_rows")
    if plan.errors:
        return plan
    parks = {p.code: p for p in session.scalars(select(Park))}
    own_firm = session.get(Firm, actor.firm_id) if actor is not None and actor.firm_id else None
    for number, cells in rows:
        raw = {name: (cells[i].strip() if i < len(cells) else "") for i, name in enumerate(header) if name}
        n_before = len(plan.errors)
        firm: Firm | None
        if not raw.get("firm") and own_firm is not None:
            firm = own_firm
        else:
            park = parks.get(raw.get("park", ""))
            if park is None:
                plan.error(number, "park", f"unknown park code '{raw.get('park', '')}'", "ledger_unknown_park",
                           {"park": raw.get("park", "")})
                continue
            firm = session.scalar(select(Firm).where(Firm.park_id == park.id, Firm.name == raw.get("firm", "")))
            if firm is None:
                plan.error(number, "firm", f"no firm '{raw.get('firm', '')}' in park '{park.code}'",
                           "ledger_unknown_firm", {"firm": raw.get("firm", ""), "park": park.code})
                continue
        if not _can_import_for(actor, firm):
            plan.error(number, "firm", f"you may not record the ledger of '{firm.name}'", "ledger_not_yours",
                       {"firm": firm.name})
            continue
        material = kb.materials.get(raw.get("material", ""))
        if material is None:
            plan.error(number, "material", f"unknown material id '{raw.get('material', '')}'", "unknown_material",
                       {"material": raw.get("material", "")})
            continue
        unit = raw.get("unit") or material.unit
        if not is_compatible(unit, material):
            plan.error(number, "unit", f"unit '{unit}' does not fit '{material.id}' (measured in {material.unit})",
                       "bad_unit")
            continue
        try:
            year = int(raw.get("year", ""))
            month = int(raw.get("month") or 0)
        except ValueError:
            plan.error(number, "year" if not raw.get("year", "").isdigit() else "month", "not a whole number",
                       "ledger_not_integer")
            continue
        if not 2000 <= year <= today.year:
            plan.error(number, "year", f"year {year} must be between 2000 and {today.year}", "ledger_year_range",
                       {"year": year, "max": today.year})
        if not 0 <= month <= 12:
            plan.error(number, "month", "month must be 1–12, or empty (0) for the whole year", "ledger_month_range")
        elif month and date(year if 2000 <= year <= 9999 else today.year, month, 1) > today:
            plan.error(number, "month", f"{year}-{month:02d} is in the future", "ledger_month_future",
                       {"month": f"{year}-{month:02d}"})
        values: dict[str, float] = {}
        for name in FIGURES:
            text = raw.get(name, "").replace(",", "")
            try:
                x = float(text) if text else 0.0
            except ValueError:
                plan.error(number, name, f"'{raw.get(name)}' is not a number", "ledger_not_number",
                           {"value": raw.get(name, "")})
                continue
            if not x >= 0 or x == float("inf"):
                plan.error(number, name, "must be a finite number ≥ 0", "ledger_negative")
                continue
            try:
                values[name] = float(to_canonical(x, unit, material))
            except UnitError as exc:  # pragma: no cover - is_compatible checked it
                plan.error(number, "unit", str(exc))
        if len(plan.errors) > n_before:
            continue
        used = values["utilised_in_house"] + values["sent_for_utilisation"]
        if values["stock_utilised"] > used * (1 + 1e-9):
            plan.error(number, "stock_utilised", "earlier years' stock utilised cannot exceed what was utilised",
                       "ledger_stock_exceeds_utilised")
            continue
        try:
            warning = plausibility.check_quantity(material=material.id, quantity=values["generated"],
                                                  unit=material.unit, loc=("file", "row", number, "generated"),
                                                  what="a single firm's ledger")
        except InvalidInput as exc:
            for err in exc.errors:
                plan.error(number, "generated", err["msg"], err["type"], err.get("ctx"))
            continue
        if warning is not None:
            plan.warnings.append(ImportIssue(row=number, column="generated", code=warning.code, msg=(
                f"{warning.value:,.0f} {warning.unit}/yr is above a typical large plant ({warning.typical_max:,.0f})"),
                values={"value": f"{warning.value:,.0f}", "typical_max": f"{warning.typical_max:,.0f}",
                        "unit": warning.unit}))
        balance = used - values["stock_utilised"] + values["stored"] + values["disposed"]
        if values["generated"] and abs(balance - values["generated"]) > BALANCE_TOLERANCE * values["generated"]:
            plan.warnings.append(ImportIssue(row=number, column="generated", code="ledger_unbalanced", msg=(
                f"generated {values['generated']:,.0f} ≠ utilised − earlier stock + stored + disposed "
                f"{balance:,.0f}"), values={"generated": f"{values['generated']:,.0f}",
                                            "balance": f"{balance:,.0f}", "unit": material.unit}))
        key = (firm.id or 0, material.id, year, month)
        if key in plan.entries:
            plan.error(number, "month", f"repeats row {plan.entries[key]['_row']} (same firm, material, year, month)",
                       "ledger_duplicate_row", {"row": plan.entries[key]["_row"]})
            continue
        plan.entries[key] = values | {"_row": number, "_firm": firm.name}
    # a year is recorded either as one whole-year row or as months, never both
    kinds: dict[tuple[int, str, int], set[str]] = defaultdict(set)
    for (fid, mat, year, month) in plan.entries:
        kinds[(fid, mat, year)].add("year" if month == 0 else "month")
    stored_kinds = defaultdict(set)
    if plan.entries:
        firm_ids = sorted({k[0] for k in plan.entries})
        for e in session.scalars(select(WasteLedgerEntry).where(WasteLedgerEntry.firm_id.in_(firm_ids))):
            if (e.firm_id, e.material, e.year, e.month) not in plan.entries:
                stored_kinds[(e.firm_id, e.material, e.year)].add("year" if e.month == 0 else "month")
    for (fid, mat, year, month), v in plan.entries.items():
        both = kinds[(fid, mat, year)] | stored_kinds.get((fid, mat, year), set())
        if len(both) > 1 and month == 0:
            plan.error(v["_row"], "month", f"{year} of {mat} at {v['_firm']} is recorded by month as well as for the "
                                           "whole year; give one or the other", "ledger_year_and_months",
                       {"year": year, "material": mat, "firm": v["_firm"]})
    return plan


def require_ledger_importer(actor: Actor) -> None:
    """Who may import ledger lines: firm users, park managers and admins (checked before a file is read)."""
    policy.require(actor.is_admin or actor.role in ("park_manager", "firm_user"),
                   "firms and park managers import ledgers")


def import_ledger(*, session: Session, actor: Actor | None, data: bytes, filename: str, dry_run: bool = True,
                  today: date | None = None) -> dict[str, Any]:
    """Check a ledger file; on a real run with no problem, write it (all or nothing)."""
    if actor is not None:
        require_ledger_importer(actor)
    plan = _plan(session, actor, data, filename, today or date.today())
    summary: dict[str, Any] = {"dry_run": dry_run, "ok": not plan.errors, "rows": plan.rows,
                               "created": 0, "updated": 0, "unchanged": 0,
                               "errors": sorted(plan.errors, key=lambda i: (i.row or 0, i.column or "")),
                               "warnings": plan.warnings, "preview": []}
    if plan.errors:
        if dry_run:
            return summary
        raise LedgerImportRejected(summary)
    for (fid, mat, year, month), values in plan.entries.items():
        figures = {k: values[k] for k in FIGURES}
        row = session.scalar(select(WasteLedgerEntry).where(
            WasteLedgerEntry.firm_id == fid, WasteLedgerEntry.material == mat, WasteLedgerEntry.year == year,
            WasteLedgerEntry.month == month))
        if row is None:
            summary["created"] += 1
            action = "create"
            if not dry_run:
                session.add(WasteLedgerEntry(firm_id=fid, material=mat, year=year, month=month, source=filename[:200],
                                             created_by=actor.id if actor else None, **figures))
        elif any(abs(getattr(row, k) - v) > 1e-9 for k, v in figures.items()):
            summary["updated"] += 1
            action = "update"
            if not dry_run:
                row.sqlmodel_update(figures | {"source": filename[:200]})
                session.add(row)
        else:
            summary["unchanged"] += 1
            action = "unchanged"
        if len(summary["preview"]) < 50:
            summary["preview"].append({"row": values["_row"], "action": action, "firm": values["_firm"],
                                       "material": mat, "year": year, "month": month, **figures})
    if not dry_run:
        session.flush()
    return summary


def entries_clause(actor: Actor) -> Any:
    """Ledger lines a viewer may read one by one: the firm's own users, its park managers, admins."""
    return policy.firm_records_clause(actor, WasteLedgerEntry.firm_id) if actor.role != "planner" else \
        WasteLedgerEntry.id.is_(None)


def list_entries(*, session: Session, actor: Actor, firm_id: int | None = None, park_id: int | None = None,
                 year: int | None = None, material: str | None = None) -> list[WasteLedgerEntry]:
    stmt = (select(WasteLedgerEntry).join(Firm, Firm.id == WasteLedgerEntry.firm_id).where(entries_clause(actor))
            .order_by(WasteLedgerEntry.firm_id, WasteLedgerEntry.material, WasteLedgerEntry.year,
                      WasteLedgerEntry.month))
    if firm_id is not None:
        stmt = stmt.where(WasteLedgerEntry.firm_id == firm_id)
    if park_id is not None:
        stmt = stmt.where(Firm.park_id == park_id)
    if year is not None:
        stmt = stmt.where(WasteLedgerEntry.year == year)
    if material is not None:
        stmt = stmt.where(WasteLedgerEntry.material == material)
    return list(session.scalars(stmt))


def series(*, session: Session, actor: Actor, period: str = "year", park_id: int | None = None,
           province: str | None = None, family: str | None = None) -> dict[str, Any]:
    """Ledger figures (and ISX deliveries) by month or year for a scope, one series per unit family.

    A year recorded by months counts in the yearly series as the sum of its months; a whole-year row has no
    monthly figures. Every point goes through ``kpis.publish`` with the number of firms behind it; a park's
    series leaves out deliveries on deals whose supply listing is anonymised for the viewer, wider series count
them at their band's lower edge (as the KPIs do).
    """
    from backend import disclosure
    from backend.services.kpis import publish, scope_parks

    if period not in ("month", "year"):
        raise InvalidInput.at(("query", "period"), "period must be month or year")
    kb = get_kb()
    parks = scope_parks(session, park_id, province)
    park_ids = [p.id for p in parks]
    stmt = (select(WasteLedgerEntry).join(Firm, Firm.id == WasteLedgerEntry.firm_id)
            .where(Firm.park_id.in_(park_ids)))
    points: dict[tuple[str, str], dict[str, Any]] = {}

    def point(unit: str, label: str) -> dict[str, Any]:
        return points.setdefault((unit, label), {"unit": unit, "period": label, "firm_ids": set(),
                                                 **dict.fromkeys((*FIGURES, "delivered_isx"), 0.0)})

    for e in session.scalars(stmt):
        m = kb.materials.get(e.material)
        if m is None or (family and m.family != family):
            continue
        if period == "month" and e.month == 0:
            continue
        label = str(e.year) if period == "year" else f"{e.year}-{e.month:02d}"
        p = point(m.unit, label)
        p["firm_ids"].add(e.firm_id)
        for k in FIGURES:
            p[k] += getattr(e, k)
    deliveries = (select(Delivery, Deal).join(Deal, Deal.id == Delivery.deal_id)
                  .join(Firm, Firm.id == Deal.supplier_firm_id)
                  .where(Firm.park_id.in_(park_ids), Delivery.voided_at.is_(None)))
    rows = session.execute(deliveries).all()
    hidden = disclosure.anonymised_ids(session, actor, {deal.supply_listing_id for _d, deal in rows})
    for d, deal in rows:
        m = kb.materials.get(deal.material)
        if m is None or (family and m.family != family) or (park_id is not None and deal.supply_listing_id in hidden):
            continue
        label = str(d.delivered_on.year) if period == "year" else f"{d.delivered_on.year}-{d.delivered_on.month:02d}"
        p = point(m.unit, label)
        p["firm_ids"].add(deal.supplier_firm_id)
        p["delivered_isx"] += (disclosure.quantity_band(d.quantity).min if deal.supply_listing_id in hidden
                               else d.quantity)
    firms = {f.id or 0: f for f in session.scalars(select(Firm).where(Firm.park_id.in_(park_ids)))}
    out = []
    for (_unit, _label), p in sorted(points.items()):
        used = p["utilised_in_house"] + p["sent_for_utilisation"]
        base = p["generated"] + p["stock_utilised"]
        p["utilised"] = used
        p["rate"] = used / base if base > 0 else None
        firm_ids = p.pop("firm_ids")
        published = publish(p, firm_ids, actor=actor, firms=firms)
        if published is not None:
            out.append(published)
    return {"period": period, "scope": {"park_id": park_id, "province": province, "family": family},
            "points": out}


def ledger_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(WasteLedgerEntry)) or 0)

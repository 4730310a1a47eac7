"""The XLSX report of a park's or a province's KPIs and deals, for the park's management committee (管委会).

Three sheets, every figure from the services the API and pages use, so the report never says more (or
otherwise) than they do:

- **KPIs** — the KPI service's targets (each with its document, region and scope, the official, baseline and
  planned rates, met or not), the figures by material family, the delivered benefits by the state of their
  figures (estimated / evidenced / verified) and, for a province, the families by park;
- **Deals** — the deals of the scope the reader may see (a side's park or province as the reader sees it), with
  their status and the benefit figures of record: the current frozen benefit record, its state, date and
  knowledge-base version (from the rounded distance where the reader may not see both places);
- **Sources** — every source behind those figures: the targets' documents, and each input and factor of the
  deals' frozen records with its value, unit and source, and the counterfactual's landfill fee and tax.

Names come in the chosen language beside the codes (materials from the knowledge base; families, statuses,
states and headings from the backend's catalogue ``backend.i18n``); figures are rounded (quantities 0.01 of a
unit, rates 0.01 %, money 0.01 万元) and formatted by Excel. Confidentiality is exactly that of the KPI
service, ``deals.list_deals`` / ``ledger_records`` and ``list_deliveries``: private listings never count for
others, anonymous ones only as their band's lower edge, anonymous sides without name or park.
"""

import io
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlmodel import Session

from backend.errors import InvalidInput
from backend.i18n import word
from backend.models import Park
from backend.policy import Actor
from backend.services import deals as deals_svc
from backend.services import kpis as kpis_svc
from backend.services.exports import language, material_name
from backend.services.query import MAX_LIMIT

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
QUANTITY, RATE, MONEY, TEXT, COUNT = "#,##0.00", "0.00%", "#,##0.00", None, "#,##0"
#: deals that have benefit figures: agreed, under way or done
WITH_FIGURES = ("agreed", "active", "completed")

Column = tuple[str, Callable[[dict[str, Any]], Any], str | None]  # catalogue key, value, number format

TARGET_COLUMNS: list[Column] = [
    ("report.col.code", lambda r: r["id"], TEXT), ("report.col.name", lambda r: r["_name"], TEXT),
    ("report.col.document", lambda r: r["document"], TEXT), ("report.col.issued", lambda r: r["issued"], TEXT),
    ("report.col.region", lambda r: r["region"], TEXT), ("report.col.applies_to", lambda r: r["_applies"], TEXT),
    ("report.col.target_year", lambda r: r["year"], TEXT), ("report.col.target_rate", lambda r: r["target_rate"], RATE),
    ("report.col.unit", lambda r: r["unit"], TEXT), ("report.col.firms", lambda r: r["firms"], COUNT),
    ("report.col.generation", lambda r: r["generation"], QUANTITY),
    ("report.col.stock_drawdown", lambda r: r["stock_drawdown"], QUANTITY),
    ("report.col.utilised", lambda r: r["utilised"], QUANTITY),
    ("report.col.rate_baseline", lambda r: r["rate_baseline"], RATE),
    ("report.col.rate_official", lambda r: r["rate_official"], RATE),
    ("report.col.rate_planned", lambda r: r["rate_planned"], RATE),
    ("report.col.met", lambda r: r["_met"], TEXT), ("report.col.gap", lambda r: r["gap"], RATE),
    ("report.col.source", lambda r: r["source"], TEXT), ("report.col.confidence", lambda r: r["confidence"], TEXT),
]
FAMILY_COLUMNS: list[Column] = [
    ("report.col.code", lambda r: r["family"], TEXT), ("report.col.name", lambda r: r["_name"], TEXT),
    ("report.col.unit", lambda r: r["unit"], TEXT), ("report.col.firms", lambda r: r["firms"], COUNT),
    ("report.col.generation", lambda r: r["generation"], QUANTITY),
    ("report.col.utilised_baseline", lambda r: r["utilised_baseline"], QUANTITY),
    ("report.col.committed", lambda r: r["committed"], QUANTITY),
    ("report.col.delivered", lambda r: r["delivered"], QUANTITY),
    ("report.col.delivered_on_top", lambda r: r["delivered_on_top"], QUANTITY),
    ("report.col.utilised", lambda r: r["utilised"], QUANTITY),
    ("report.col.stored", lambda r: r["stored"], QUANTITY), ("report.col.disposed", lambda r: r["disposed"], QUANTITY),
    ("report.col.stock_drawdown", lambda r: r["stock_drawdown"], QUANTITY),
    ("report.col.rate_baseline", lambda r: r["rate_baseline"], RATE),
    ("report.col.rate_official", lambda r: r["rate_official"], RATE),
    ("report.col.rate_planned", lambda r: r["rate_planned"], RATE),
]
PARK_FAMILY_COLUMNS: list[Column] = [("report.col.park", lambda r: r["_park"], TEXT), *FAMILY_COLUMNS]
STATE_COLUMNS: list[Column] = [
    ("report.col.ledger_state", lambda r: r["state"], TEXT), ("report.col.name", lambda r: r["_name"], TEXT),
    ("report.col.deals", lambda r: r["deals"], COUNT), ("report.col.firms", lambda r: r["firms"], COUNT),
    ("report.col.co2_avoided_t", lambda r: r["co2_avoided_t"], QUANTITY),
    ("report.col.cost_saved_wan", lambda r: _wan(r["cost_saved_yuan"]), MONEY),
    ("report.col.landfill_diverted_t", lambda r: r["landfill_diverted_t"], QUANTITY),
]
DEAL_COLUMNS: list[Column] = [
    ("report.col.deal", lambda r: r["id"], TEXT), ("report.col.status", lambda r: r["status"], TEXT),
    ("report.col.status_name", lambda r: r["_status"], TEXT),
    ("report.col.supplier", lambda r: r["supplier_firm_name"] or r["_anonymous"], TEXT),
    ("report.col.receiver", lambda r: r["receiver_firm_name"] or r["_anonymous"], TEXT),
    ("report.col.material", lambda r: r["material"], TEXT),
    ("report.col.material_name", lambda r: r["_material"], TEXT),
    ("report.col.replaces", lambda r: r["replaces"], TEXT),
    ("report.col.replaces_name", lambda r: r["_replaces"], TEXT), ("report.col.unit", lambda r: r["unit"], TEXT),
    ("report.col.agreed_quantity", lambda r: r["agreed_quantity"], QUANTITY),
    ("report.col.delivered_total", lambda r: r["_delivered"], QUANTITY),
    ("report.col.ledger_state", lambda r: r["_state_code"], TEXT),
    ("report.col.ledger_state_name", lambda r: r["_state"], TEXT),
    ("report.col.frozen_on", lambda r: r["_frozen_on"], TEXT), ("report.col.kb_version", lambda r: r["_kb"], TEXT),
    ("report.col.record_quantity", lambda r: r["_fig"].get("quantity"), QUANTITY),
    ("report.col.landfill_diverted_t", lambda r: r["_fig"].get("landfill_diverted_t"), QUANTITY),
    ("report.col.co2_avoided_t", lambda r: r["_fig"].get("co2_avoided_t"), QUANTITY),
    ("report.col.cost_saved_wan", lambda r: _wan(r["_fig"].get("cost_saved_yuan")), MONEY),
    ("report.col.env_tax_avoided_wan", lambda r: _wan(r["_fig"].get("env_tax_avoided_yuan")), MONEY),
    ("report.col.waste_route", lambda r: r["_route"], TEXT),
    ("report.col.verified_by", lambda r: r["_verified_by"], TEXT),
    ("report.col.approximate", lambda r: r["_approximate"], TEXT),
]
SOURCE_COLUMNS: list[Column] = [
    ("report.col.kind", lambda r: r["kind"], TEXT), ("report.col.code", lambda r: r["code"], TEXT),
    ("report.col.name", lambda r: r["name"], TEXT), ("report.col.value", lambda r: r["value"], TEXT),
    ("report.col.unit", lambda r: r["unit"], TEXT), ("report.col.source", lambda r: r["source"], TEXT),
    ("report.col.confidence", lambda r: r.get("confidence"), TEXT),
    ("report.col.used_by", lambda r: r["used_by"], TEXT),
]
#: every catalogue key the report writes (tests check both languages have them)
KEYS = sorted({c[0] for cols in (TARGET_COLUMNS, PARK_FAMILY_COLUMNS, STATE_COLUMNS, DEAL_COLUMNS, SOURCE_COLUMNS)
               for c in cols} | {
    "report.title", "report.scope.park", "report.scope.province", "report.year", "report.generated",
    "report.kb_version", "report.definition", "report.approximate", "report.section.targets",
    "report.section.families", "report.section.states", "report.section.parks", "report.planned_state",
    "report.sheet.kpis", "report.sheet.deals", "report.sheet.sources", "report.deals_note", "report.anonymous",
    "report.yes", "report.no", "report.applies_to.all", "report.applies_to.demonstration_base",
    "report.kind.target", "report.kind.input", "report.kind.counterfactual", "report.route.landfill",
    "report.route.stated", "report.route.released", "report.cf.landfill_fee", "report.cf.env_tax",
    "report.cf.replaced_price", "report.not_frozen"})


def _wan(yuan: Any) -> float | None:
    return None if yuan is None else round(float(yuan) / 1e4, 2)


def _rounded(value: Any, fmt: str | None) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if fmt == RATE:
        return round(float(value), 4)
    if fmt in (QUANTITY, MONEY):
        return round(float(value), 2)
    return value


class _Sheet:
    """Rows written one after another; tables with a bold header and Excel number formats."""

    def __init__(self, ws: Worksheet, lang: str) -> None:
        self.ws, self.lang, self.row = ws, lang, 1
        self.widths: dict[int, int] = {}

    def line(self, *values: Any, bold: bool = False) -> None:
        for col, value in enumerate(values, start=1):
            cell = self.ws.cell(row=self.row, column=col, value=value)
            if bold:
                cell.font = Font(bold=True)
        self.row += 1

    def table(self, columns: Sequence[Column], rows: Sequence[dict[str, Any]], title: str | None = None) -> int:
        """Write a titled table; returns the header's row number."""
        if title:
            self.line(title, bold=True)
        header = self.row
        self.line(*(word(self.lang, key) for key, _get, _fmt in columns), bold=True)
        for r in rows:
            for col, (_key, get, fmt) in enumerate(columns, start=1):
                value = _rounded(get(r), fmt)
                cell = self.ws.cell(row=self.row, column=col, value=value)
                if fmt and isinstance(value, int | float):
                    cell.number_format = fmt
                self.widths[col] = max(self.widths.get(col, 8), min(len(str(value)) + 2, 60))
            self.row += 1
        self.row += 1
        return header

    def finish(self) -> None:
        for col, width in self.widths.items():
            self.ws.column_dimensions[get_column_letter(col)].width = width


def _scope(session: Session, park_id: int | None, province: str | None) -> tuple[list[Park], Park | None]:
    if (park_id is None) == (province is None):
        raise InvalidInput.at(("query", "park_id"), "give either park_id or province (the report is of one park "
                                                    "or one province)")
    parks = kpis_svc.scope_parks(session, park_id, province)
    return parks, (parks[0] if park_id is not None else None)


def report_xlsx(*, session: Session, actor: Actor, park_id: int | None = None, province: str | None = None,
                year: int | None = None, lang: str | None = None, now: datetime | None = None) -> bytes:
    """The report as XLSX bytes (see the module docstring)."""
    parks, park = _scope(session, park_id, province)
    lang = language(actor, lang)
    now = now or datetime.now(UTC)
    body = kpis_svc.kpis(session=session, actor=actor, group_by="park" if park else "province", park_id=park_id,
                         province=province, year=year)
    group = body["groups"][0] if body["groups"] else {"families": [], "targets": [], "totals": {}}
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = word(lang, "report.sheet.kpis")
    sheet = _Sheet(ws, lang)
    scope_name = (f"{park.name_zh if lang == 'zh' else park.name_en} ({park.code})" if park else province)
    sheet.line(word(lang, "report.title"), bold=True)
    sheet.line(word(lang, "report.scope.park" if park else "report.scope.province"), scope_name)
    sheet.line(word(lang, "report.year"), body["year"])
    sheet.line(word(lang, "report.generated"), now.strftime("%Y-%m-%d %H:%M UTC"))
    sheet.line(word(lang, "report.kb_version"), body["kb_version"])
    sheet.line(word(lang, "report.definition"))
    if body["approximate"]:
        sheet.line(word(lang, "report.approximate"))
    sheet.row += 1
    yes, no = word(lang, "report.yes"), word(lang, "report.no")
    targets = [t | {"_name": t["name_zh"] if lang == "zh" else t["name_en"], "_met": yes if t["met"] else no,
                    "_applies": word(lang, f"report.applies_to.{t['applies_to']}", default=t["applies_to"])}
               for t in group["targets"]]
    sheet.table(TARGET_COLUMNS, targets, word(lang, "report.section.targets"))

    def family_rows(families: list[dict[str, Any]], park_name: str = "") -> list[dict[str, Any]]:
        return [f | {"_name": word(lang, f"family.{f['family']}", default=f["family"]), "_park": park_name}
                for f in families]

    sheet.table(FAMILY_COLUMNS, family_rows(group["families"]), word(lang, "report.section.families"))
    totals = group.get("totals") or {}
    states = [s | {"_name": word(lang, f"ledger_state.{s['state']}")} for s in totals.get("realised_by_state", [])]
    sheet.table(STATE_COLUMNS, states, word(lang, "report.section.states"))
    sheet.line(word(lang, "report.planned_state", state=word(lang, "ledger_state.estimated")))
    if park is None:
        by_park = kpis_svc.kpis(session=session, actor=actor, group_by="park", province=province, year=year)
        rows = [r for g in by_park["groups"]
                for r in family_rows(g["families"], f"{g['name'] if lang == 'zh' else g['name_en']} ({g['key']})")]
        sheet.row += 1
        sheet.table(PARK_FAMILY_COLUMNS, rows, word(lang, "report.section.parks"))
    sheet.finish()

    deals, sources = _deals(session, actor, parks, park, lang)
    ws = wb.create_sheet(word(lang, "report.sheet.deals"))
    sheet = _Sheet(ws, lang)
    sheet.line(word(lang, "report.deals_note"))
    header = sheet.table(DEAL_COLUMNS, deals)
    ws.freeze_panes = ws.cell(row=header + 1, column=2)
    sheet.finish()

    for t in group["targets"]:
        sources.append({"kind": word(lang, "report.kind.target"), "code": t["id"],
                        "name": t["name_zh"] if lang == "zh" else t["name_en"], "value": t["target_rate"],
                        "unit": "%", "source": f"{t['document']}; {t['source']}", "confidence": t["confidence"],
                        "used_by": ""})
    ws = wb.create_sheet(word(lang, "report.sheet.sources"))
    sheet = _Sheet(ws, lang)
    header = sheet.table(SOURCE_COLUMNS, _merged(sources))
    ws.freeze_panes = ws.cell(row=header + 1, column=1)
    sheet.finish()
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _in_scope(deal: Any, parks: list[Park], park: Park | None) -> bool:
    """A deal belongs to the scope by a side's park (or province) as the reader sees that side: an anonymous
    side shows no park, so it never places a deal in a park's report (that would tell where it is)."""
    if park is not None:
        return park.id in (deal.supply.park_id, deal.demand.park_id)
    provinces = {p.province for p in parks}
    return deal.supply.province in provinces or deal.demand.province in provinces


def _deals(session: Session, actor: Actor, parks: list[Park], park: Park | None,
           lang: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    sources: list[dict[str, Any]] = []
    skip = 0
    found: list[Any] = []
    while True:
        page, total = deals_svc.list_deals(session=session, actor=actor, skip=skip, limit=MAX_LIMIT)
        found.extend(page)
        skip += MAX_LIMIT
        if skip >= total:
            break
    for deal in found:
        if deal.status not in WITH_FIGURES or not _in_scope(deal, parks, park):
            continue
        records = deals_svc.ledger_records(session=session, actor=actor, deal_id=deal.id)
        record = records[-1] if records else None
        delivered = sum(d.quantity if d.quantity is not None else (d.quantity_band.min if d.quantity_band else 0.0)
                        for d in deals_svc.list_deliveries(session=session, actor=actor, deal_id=deal.id)
                        if d.voided_at is None)
        verified = next((r for r in reversed(records) if r.action == "verify"), None) \
            if record is not None and record.state == "verified" else None
        row = deal.model_dump() | {
            "_status": word(lang, f"deal.status.{deal.status}"), "_anonymous": word(lang, "report.anonymous"),
            "_material": material_name(deal.material, lang), "_replaces": material_name(deal.replaces, lang),
            "_delivered": delivered,
            "_state_code": record.state if record else "",
            "_state": word(lang, f"ledger_state.{record.state}") if record else word(lang, "report.not_frozen"),
            "_frozen_on": record.at.date().isoformat() if record else "",
            "_kb": record.kb_version if record else "", "_fig": record.figures.model_dump() if record else {},
            "_route": word(lang, f"report.route.{record.counterfactual.waste_route}") if record else "",
            "_verified_by": (f"{verified.user_name or ''} {verified.reference or ''}".strip() if verified else ""),
            "_approximate": (word(lang, "report.yes") if record.approximate else "") if record else "",
        }
        rows.append(row)
        if record is None:
            continue
        for i in record.inputs:
            if i.name in ("quantity",):
                continue
            source = word(lang, f"ledger.src.{i.source_code}", default=i.source) if i.source_code else i.source
            sources.append({"kind": word(lang, "report.kind.input"), "code": i.name,
                            "name": word(lang, f"ledger.in.{i.name}", default=i.name),
                            "value": float(f"{i.value:.6g}") if isinstance(i.value, float) else i.value,
                            "unit": i.unit, "source": source, "used_by": deal.id})
        cf = record.counterfactual
        for key, value, unit, cited in (
                ("landfill_fee", cf.landfill_fee, "yuan/t", cf.landfill_fee_source),
                ("env_tax", cf.env_tax, "yuan/t", cf.env_tax_source),
                ("replaced_price", cf.replaced_price, f"yuan per unit of {cf.replaced}", cf.replaced_price_source)):
            if value is not None and cited:
                sources.append({"kind": word(lang, "report.kind.counterfactual"), "code": key,
                                "name": word(lang, f"report.cf.{key}"), "value": value, "unit": unit,
                                "source": cited, "used_by": deal.id})
    return rows, sources


def _merged(sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (kind, code, value, unit, source), with the deals that used it."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for s in sources:
        key = (s["kind"], s["code"], str(s["value"]), s["unit"], s["source"])
        row = merged.setdefault(key, s | {"used_by": []})
        if s["used_by"] != "":
            row["used_by"].append(s["used_by"])
    out = []
    for row in merged.values():
        out.append(row | {"used_by": ", ".join(f"#{i}" for i in sorted(set(row["used_by"])))})
    return sorted(out, key=lambda r: (r["kind"], r["code"], r["used_by"]))

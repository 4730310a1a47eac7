"""The one KPI service: the park page, the KPI page, the exports and ``GET /api/v1/kpis`` all read it.

Definitions (one KPI year ``Y``; quantities in each material's canonical unit, per year; every figure is
summed only within one unit: t, GJ and m³ never mix). Per firm ``f`` and material ``m``:

- **baseline year** ``B``: the latest year ≤ Y that the firm's solid-waste ledger (一般工业固体废物管理台账,
  ``services.baseline``) covers completely (a whole-year line, or all twelve months); none if it has no ledger;
- **generation** ``G``: the ledger's ``generated`` in B; without a ledger, the firm's active have listings of m
  (a one-off lot counts as one year; an anonymous listing the viewer may not see whole counts with the lower
  edge of its band, and the answer says ``approximate``);
- **utilisation by recorded baseline** ``U_b``: the ledger's utilised in-house + sent for utilisation in B;
- **stock drawdown** ``S``: the part of U_b that came from earlier years' storage (综合利用往年贮存量);
  **storage** and **disposal**: the ledger's stored and disposed in B;
- **utilisation by deals** ``C``: the yearly agreed quantity of ``agreed`` and ``active`` ISX deals on f's
  haves of m; **by deliveries** ``D``: the deliveries (not voided) dated in Y on those deals;
- **ISX on top of the baseline**: only deals that started after B's end add to it (``C⁺``, ``D⁺``); a deal
  that ran during B is already in B's ledger (start = the agreed start date, else the activation day;
  without a ledger every deal is on top);
- **official rate** (综合利用率) = (U_b + D⁺) ÷ (G + S); **planned rate** = (U_b + C⁺) ÷ (G + S);
  **baseline rate** = U_b ÷ (G + S).

Targets (``targets.csv``) are data: each names its document, year, region (national, or a province's own:
then only that province's firms count) and what it applies to (all parks, or demonstration bases). A target
is met when the official rate reaches it. CO2 and money come from the figures frozen on each deal when it
was agreed (``Deal.unit_co2_avoided_t``, ``Deal.unit_benefit``): planned = C × unit figure, realised = D × unit
figure; the KPIs never recompute them live.

The year's realised CO2 and money are also reported by the **state** of their figures
(``totals.realised_by_state``): deliveries counted by a deal's current evidenced or verified benefit record are
in that state at the record's frozen per-unit figures; the others are estimated, at the per-unit figures frozen
when the deal was agreed. Planned figures are always estimated (``totals.planned_state``).

Every aggregate (a group, a family, a material, a target, a series point) carries ``firms``, the number of
distinct firms behind it, and passes through :func:`publish`, where ``backend.disclosure``'s k-anonymity
applies: a row over fewer than ``ISX_KPI_MIN_FIRMS`` firms is withheld from a viewer who does not represent
them all (the answer counts them in ``withheld``). Listings anonymised for the viewer, and deals whose supply
listing is, count only in province- and region-wide figures, never when the figures are park-level
(``park_id`` given or ``group_by=park``): differencing a park's figures against the region's cannot place
them in a park; in province- and region-wide figures their quantities (and the figures derived from them) count
at the lower edge of their band (``approximate``).
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import case, func, select
from sqlmodel import Session

from backend import disclosure
from backend.errors import InvalidInput
from backend.kb import get_kb
from backend.models import (
    LEDGER_STATES,
    BenefitRecord,
    Deal,
    DealEvent,
    Delivery,
    Firm,
    Listing,
    Park,
    WasteLedgerEntry,
)
from backend.policy import Actor
from backend.services.deals import COMMITTING
from backend.services.ledger import canonical, current_records
from matching.knowledge import normalise_province

GROUPS = ("park", "province", "region")
FIGURES = ("generation", "generation_ledger", "generation_listings", "utilised_baseline", "stock_drawdown",
           "stored", "disposed", "committed", "delivered", "committed_on_top", "delivered_on_top",
           "co2_avoided_t_planned", "co2_avoided_t_realised", "cost_saved_yuan_planned", "cost_saved_yuan_realised")
#: what the year's realised benefits are reported in, by the state of their figures
STATE_FIGURES = ("co2_avoided_t", "cost_saved_yuan", "landfill_diverted_t")


def publish(row: dict[str, Any], firm_ids: Iterable[int], *, actor: Actor,
            firms: Mapping[int, Firm]) -> dict[str, Any] | None:
    """Every aggregate leaves the KPI service through here, with the number of distinct firms behind it.
    Returns the row to show, or None to withhold it (k-anonymity, ``disclosure.may_publish``). ``firms``: the
    firms of the scope by id."""
    ids = set(firm_ids)
    row["firms"] = len(ids)
    if ids and not disclosure.may_publish(actor, [firms[i] for i in ids if i in firms]):
        return None
    return row


def _rate(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None


def scope_parks(session: Session, park_id: int | None, province: str | None) -> list[Park]:
    stmt = select(Park).order_by(Park.code)
    if park_id is not None:
        if session.get(Park, park_id) is None:
            raise InvalidInput.at(("query", "park_id"), f"park {park_id} does not exist")
        stmt = stmt.where(Park.id == park_id)
    if province is not None:
        stmt = stmt.where(Park.province == province)
    parks = list(session.scalars(stmt))
    if province is not None and not parks:
        raise InvalidInput.at(("query", "province"), f"no park in province '{province}'")
    return parks


@dataclass
class Contribution:
    """What one firm adds for one material in the KPI year (canonical unit)."""

    firm_id: int
    park: Park
    material: str
    unit: str
    baseline_year: int | None = None
    figures: dict[str, float] = field(default_factory=lambda: dict.fromkeys(FIGURES, 0.0))
    deals_committing: int = 0
    # the benefits of the year's deliveries by the state of their figures (estimated, evidenced, verified)
    by_state: dict[str, dict[str, float]] = field(
        default_factory=lambda: defaultdict(lambda: dict.fromkeys(STATE_FIGURES, 0.0)))
    state_deals: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))


def _complete_years(entries: list[WasteLedgerEntry]) -> dict[int, list[WasteLedgerEntry]]:
    by_year: dict[int, list[WasteLedgerEntry]] = defaultdict(list)
    for e in entries:
        by_year[e.year].append(e)
    return {y: rows for y, rows in by_year.items()
            if any(r.month == 0 for r in rows) or len({r.month for r in rows if r.month}) == 12}


def deal_starts(session: Session, deal_ids: list[int]) -> dict[int, date]:
    """The day each deal started: its agreed start date, else the day it became active."""
    if not deal_ids:
        return {}
    out = {int(i): at.date() for i, at in session.execute(
        select(DealEvent.deal_id, func.min(DealEvent.at)).where(DealEvent.deal_id.in_(deal_ids),
                                                                DealEvent.action == "activate")
        .group_by(DealEvent.deal_id)).all() if at is not None}
    for i, start in session.execute(select(Deal.id, Deal.start_date).where(Deal.id.in_(deal_ids),
                                                                           Deal.start_date.is_not(None))).all():
        out[int(i)] = start
    return out


def contributions(session: Session, actor: Actor, parks: list[Park], year: int, *, park_level: bool = False,
                  ) -> tuple[list[Contribution], bool, dict[int, Firm]]:
    """Per firm and material: the baseline, the listings where no ledger exists, and ISX's deals; with the
    firms of the parks by id. ``park_level``: the figures will be shown per park (or for one park), so
    listings anonymised for the viewer and deals on them are left out."""
    kb = get_kb()
    park_of = {p.id: p for p in parks}
    firms = {f.id: f for f in session.scalars(select(Firm).where(Firm.park_id.in_(list(park_of))))}
    out: dict[tuple[int, str], Contribution] = {}

    def contribution(firm_id: int, material: str) -> Contribution:
        key = (firm_id, material)
        if key not in out:
            out[key] = Contribution(firm_id, park_of[firms[firm_id].park_id], material, kb.materials[material].unit)
        return out[key]

    ledger: dict[tuple[int, str], list[WasteLedgerEntry]] = defaultdict(list)
    for e in session.scalars(select(WasteLedgerEntry).where(WasteLedgerEntry.firm_id.in_(list(firms)),
                                                            WasteLedgerEntry.year <= year)):
        if e.material in kb.materials:
            ledger[(e.firm_id, e.material)].append(e)
    for (fid, mat), entries in ledger.items():
        complete = _complete_years(entries)
        if not complete:
            continue
        b = max(complete)
        c = contribution(fid, mat)
        c.baseline_year = b
        rows = complete[b]
        if any(r.month == 0 for r in rows):
            rows = [r for r in rows if r.month == 0]
        f = c.figures
        for r in rows:
            f["generation_ledger"] += r.generated
            f["utilised_baseline"] += r.utilised_in_house + r.sent_for_utilisation
            f["stock_drawdown"] += r.stock_utilised
            f["stored"] += r.stored
            f["disposed"] += r.disposed

    anon = disclosure.anonymised_clause(actor)
    approximate = False
    stmt = (select(Listing, case((anon, 1), else_=0)).join(Firm, Firm.id == Listing.firm_id)
            .where(Firm.park_id.in_(list(park_of)), Listing.kind == "have", Listing.status == "active",
                   disclosure.visible_clause(actor)))
    for listing, is_anon in session.execute(stmt).all():
        if listing.material not in kb.materials or (is_anon and park_level):
            continue
        c = contribution(listing.firm_id, listing.material)
        if c.baseline_year is not None:
            continue  # the ledger is the figure of record
        quantity = listing.quantity
        if is_anon:
            quantity = disclosure.quantity_band(listing.quantity).min
            approximate = True
        c.figures["generation_listings"] += canonical(quantity, listing.unit, listing.material)

    deals = list(session.scalars(select(Deal).where(Deal.supplier_firm_id.in_(list(firms)))))
    hidden = disclosure.anonymised_ids(session, actor, {d.supply_listing_id for d in deals})
    if park_level:
        deals = [d for d in deals if d.supply_listing_id not in hidden]
    starts = deal_starts(session, [d.id or 0 for d in deals])
    deliveries: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for delivery_id, deal_id, quantity in session.execute(
            select(Delivery.id, Delivery.deal_id, Delivery.quantity)
            .where(Delivery.deal_id.in_([d.id for d in deals]), Delivery.voided_at.is_(None),
                   Delivery.delivered_on >= date(year, 1, 1), Delivery.delivered_on <= date(year, 12, 31))).all():
        deliveries[int(deal_id)].append((int(delivery_id), float(quantity)))
    records = current_records(session, [d.id or 0 for d in deals])
    for deal in deals:
        if deal.material not in kb.materials:
            continue
        c = contribution(deal.supplier_firm_id, deal.material)
        f = c.figures
        start = starts.get(deal.id or 0)
        on_top = c.baseline_year is None or start is None or start > date(c.baseline_year, 12, 31)
        banded = deal.supply_listing_id in hidden  # its quantities count at their bands' lower edges
        approximate = approximate or (banded and deal.status in COMMITTING)
        if deal.status in COMMITTING and deal.agreed_quantity:
            agreed = disclosure.quantity_band(deal.agreed_quantity).min if banded else deal.agreed_quantity
            f["committed"] += agreed
            f["co2_avoided_t_planned"] += agreed * deal.unit_co2_avoided_t
            f["cost_saved_yuan_planned"] += agreed * deal.unit_benefit
            c.deals_committing += 1
            if on_top:
                f["committed_on_top"] += agreed
        exact_done = sum(q for _i, q in deliveries.get(deal.id or 0, []))
        done = disclosure.quantity_band(exact_done).min if banded and exact_done else exact_done
        scale = done / exact_done if exact_done else 0.0
        if done:
            f["delivered"] += done
            for state, figures in realised_by_state(deal, deliveries[deal.id or 0], records.get(deal.id or 0)):
                figures = {k: v * scale for k, v in figures.items()}
                for k, v in figures.items():
                    c.by_state[state][k] += v
                c.state_deals[state].add(deal.id or 0)
                f["co2_avoided_t_realised"] += figures["co2_avoided_t"]
                f["cost_saved_yuan_realised"] += figures["cost_saved_yuan"]
            if on_top:
                f["delivered_on_top"] += done
    for c in out.values():
        c.figures["generation"] = c.figures["generation_ledger"] + c.figures["generation_listings"]
    return list(out.values()), approximate, firms


def realised_by_state(deal: Deal, done: list[tuple[int, float]], record: BenefitRecord | None,
                      ) -> list[tuple[str, dict[str, float]]]:
    """The benefits of a deal's deliveries ``(id, quantity)`` by the state of their figures: those the current
    evidenced or verified record counted are in its state, at its frozen per-unit figures; the others (no
    document, or not evidenced yet) are estimated, at the per-unit figures frozen when the deal was agreed."""
    counted: set[int] = set()
    per_record: dict[str, float] = {}
    if record is not None and record.state in ("evidenced", "verified") and record.quantity > 0:
        counted = {int(d["id"]) for d in (record.evidence or {}).get("deliveries", [])}
        per_record = {k: float(record.figures.get(k, 0.0)) / record.quantity for k in STATE_FIGURES}
    per_plan = {"co2_avoided_t": deal.unit_co2_avoided_t, "cost_saved_yuan": deal.unit_benefit,
                "landfill_diverted_t": 1.0 if _diverted(deal.material) else 0.0}
    out: dict[str, dict[str, float]] = {}
    for delivery_id, quantity in done:
        state, per = (record.state, per_record) if delivery_id in counted and record is not None else \
            ("estimated", per_plan)
        acc = out.setdefault(state, dict.fromkeys(STATE_FIGURES, 0.0))
        for k in STATE_FIGURES:
            acc[k] += quantity * per[k]
    return list(out.items())


def _aggregate(items: list[Contribution]) -> tuple[dict[str, Any], set[int]]:
    """Sum contributions (all in one unit) and derive the rates."""
    row: dict[str, Any] = dict.fromkeys(FIGURES, 0.0)
    firms: set[int] = set()
    years: set[int] = set()
    for c in items:
        for k in FIGURES:
            row[k] += c.figures[k]
        if c.figures["generation"] or c.figures["utilised_baseline"] or c.figures["committed"]:
            firms.add(c.firm_id)
        if c.baseline_year is not None:
            years.add(c.baseline_year)
    base = row["generation"] + row["stock_drawdown"]
    row["utilised"] = row["utilised_baseline"] + row["delivered_on_top"]
    row["rate_baseline"] = _rate(row["utilised_baseline"], base)
    row["rate_official"] = _rate(row["utilised"], base)
    row["rate_planned"] = _rate(row["utilised_baseline"] + row["committed_on_top"], base)
    row["baseline_years"] = sorted(years)
    return row, firms


def kpis(*, session: Session, actor: Actor, group_by: str = "park", park_id: int | None = None,
         province: str | None = None, year: int | None = None) -> dict[str, Any]:
    if group_by not in GROUPS:
        raise InvalidInput.at(("query", "group_by"), f"group_by must be one of {', '.join(GROUPS)}")
    year = year or date.today().year
    if not 2000 <= year <= date.today().year:
        raise InvalidInput.at(("query", "year"), f"year must be between 2000 and {date.today().year}")
    kb = get_kb()
    parks = scope_parks(session, park_id, province)
    items, approximate, firms = contributions(session, actor, parks, year,
                                              park_level=park_id is not None or group_by == "park")
    withheld = 0

    def shown(row: dict[str, Any], firm_ids: Iterable[int]) -> dict[str, Any] | None:
        nonlocal withheld
        out = publish(row, firm_ids, actor=actor, firms=firms)
        withheld += out is None
        return out

    def key_of(park: Park) -> tuple[str, str, str]:
        if group_by == "park":
            return park.code, park.name_zh, park.name_en
        if group_by == "province":
            return park.province, park.province, park.province
        return "region", "region", "region"

    grouped: dict[str, list[Contribution]] = defaultdict(list)
    names: dict[str, tuple[str, str]] = {}
    for park in parks:
        key, zh, en = key_of(park)
        names[key] = (zh, en)
        grouped.setdefault(key, [])
    for c in items:
        grouped[key_of(c.park)[0]].append(c)

    groups = []
    for key in sorted(grouped):
        members = grouped[key]
        families: dict[tuple[str, str], list[Contribution]] = defaultdict(list)
        materials: dict[str, list[Contribution]] = defaultdict(list)
        for c in members:
            m = kb.materials[c.material]
            families[(m.family, m.unit)].append(c)
            materials[c.material].append(c)
        family_rows = []
        for (fam, unit), cs in sorted(families.items()):
            row, firm_ids = _aggregate(cs)
            published = shown(row | {"family": fam, "unit": unit}, firm_ids)
            if published is not None and (row["generation"] or row["committed"] or row["utilised_baseline"]):
                family_rows.append(published)
        material_rows = []
        for mid, cs in sorted(materials.items()):
            row, firm_ids = _aggregate(cs)
            published = shown(row | {"material": mid, "unit": kb.materials[mid].unit}, firm_ids)
            if published is not None and (row["generation"] or row["committed"] or row["utilised_baseline"]):
                material_rows.append(published)
        target_rows = []
        demo_bases = {c.park.id for c in members if c.park.demonstration_base}
        for target in sorted(kb.targets, key=lambda t: (-t.year, -(t.issued or 0), t.id)):
            cs = [c for c in members if target.covers(kb.materials[c.material])
                  and (target.region == "national" or normalise_province(c.park.province) == target.region)
                  and (target.applies_to == "all" or c.park.id in demo_bases)]
            row, firm_ids = _aggregate(cs)
            if row["generation"] <= 0:
                continue
            rate = row["rate_official"]
            row |= {"id": target.id, "name_zh": target.name_zh, "name_en": target.name_en, "year": target.year,
                    "target_rate": target.rate, "document": target.document, "issued": target.issued,
                    "region": target.region, "applies_to": target.applies_to,
                    "unit": kb.materials[cs[0].material].unit, "materials": sorted({c.material for c in cs}),
                    "met": rate is not None and rate >= target.rate,
                    "gap": None if rate is None else target.rate - rate,
                    "source": target.source, "confidence": target.confidence}
            published = shown(row, firm_ids)
            if published is not None:
                target_rows.append(published)
        totals, firm_ids = _aggregate(members)
        money = {k: totals[k] for k in ("co2_avoided_t_planned", "co2_avoided_t_realised", "cost_saved_yuan_planned",
                                        "cost_saved_yuan_realised")}
        money["deals_committing"] = sum(c.deals_committing for c in members)
        money["diverted_t_planned"] = sum(c.figures["committed"] for c in members if _diverted(c.material))
        money["diverted_t_realised"] = sum(c.figures["delivered"] for c in members if _diverted(c.material))
        money["planned_state"] = "estimated"  # planned figures are the plan's, frozen when each deal was agreed
        money["realised_by_state"] = []
        for state in LEDGER_STATES:
            having = [c for c in members if c.state_deals.get(state)]
            if not having:
                continue
            row = {"state": state, "deals": len(set().union(*(c.state_deals[state] for c in having)))}
            row |= {k: sum(c.by_state[state][k] for c in having) for k in STATE_FIGURES}
            published = shown(row, (c.firm_id for c in having))
            if published is not None:
                money["realised_by_state"].append(published)
        group = shown({"key": key, "name": names[key][0], "name_en": names[key][1], "families": family_rows,
                         "materials": material_rows, "targets": target_rows, "totals": money}, firm_ids)
        if group is not None:
            groups.append(group)
    return {"year": year, "group_by": group_by, "scope": {"park_id": park_id, "province": province},
            "approximate": approximate, "kb_version": kb.version, "groups": groups, "withheld": withheld,
            "min_firms": disclosure.min_firms()}


def _diverted(material: str) -> bool:
    from backend.services.ledger import is_diverted

    return is_diverted(get_kb(), material)

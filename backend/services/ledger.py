"""Economics for the backend: the knowledge base merged with admins' regional overrides, per-link figures
and the benefit ledger of a deal.

Every figure comes from :mod:`matching.economics` (the matcher's one source of truth): a run's scenario, a
seeded deal's distance and mode, and the ledger all call :func:`matching.economics.link_economics` on the
same :class:`~matching.economics.Economics`. This module only adapts listings to it and adds the figures
the matcher does not need (environmental tax avoided, landfill diverted, raw material substituted).

Ledger, for a quantity ``Q`` of the supply material (canonical unit) moved over the deal's link::

    landfill diverted   = Q                       if the material is a solid/liquid measured in t, else 0
    CO2 avoided (t)     = Q · (delivered · ef(replaced) − co2_mode · D / 1000)
    cost saved (yuan)   = Q · b,   b = delivered · price(replaced) + disposal − pretreatment − transport
                                       − pipeline capex · D / Q  (pipelines: the pipe is built for the deal)
    env. tax avoided    = Q · env_tax(material)   for diverted tonnes
    raw material        = Q · delivered           units of the replaced material

Planned figures use the agreed quantity (the proposed one before agreement), realised ones the sum of the
recorded deliveries. That is the ledger computed now (``ledger``); the figures of record are the deal's
**benefit records** (``record_state``), one per state change of its figures, each frozen with the
knowledge-base version, every input and factor with its source, the formulas and the counterfactual::

    (none) --estimate (agree)--> estimated --evidence (documented deliveries)--> evidenced --verify--> verified
    evidenced --reject--> estimated;  evidenced/verified --withdraw (a counted delivery voided)--> estimated
    estimated/evidenced/verified --evidence (more documented deliveries: cumulative)--> evidenced

Who may make which change is ``policy.can_move_ledger``.
"""

import dataclasses
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from backend import policy
from backend.disclosure import quantity_band, rounded_km
from backend.errors import Conflict, InvalidInput, NotFound
from backend.kb import get_kb
from backend.models import BenefitRecord, Deal, Delivery, Firm, Listing, RegionalOverride, Site
from backend.policy import Actor
from backend.schemas_deals import LedgerFigures, LedgerInput, LedgerPublic, OverrideCreate, OverrideUpdate
from matching.economics import (
    Economics,
    LinkEconomics,
    Rule,
    choose_rule,
    counts_as_diverted,  # the matcher's definition of "kept out of landfill"
    link_economics,
    resolve_economics,
)
from matching.geo import haversine_km
from matching.knowledge import KnowledgeBase, normalise_province
from matching.scenario import parse_scenario
from matching.units import to_canonical

#: where a ledger input comes from when it is not a knowledge-base row (``source_code`` names it, so that an
#: interface can word it in its own language; knowledge-base rows cite their own source and have no code)
FIXED_SOURCES = {
    "agreed_quantity": "agreed quantity",
    "proposed_quantity": "proposed quantity",
    "deliveries": "recorded deliveries",
    "distance_rounded": "rounded to 10 km (the other side's place is not shown to you)",
    "distance_estimate": "great-circle × circuity of the origin province (road) or the pipeline's route factor, "
                         "or the match run's distance",
    "same_site": "same site, no transport",
    "same_material": "a material serves a demand for itself",
    "rule": "rule",
    "loss_formula": "ratio × (1 − loss × D)",
    "listing_disposal": "the have listing's own disposal cost",
    "transport_mode": "transport mode",
    "override": "regional override (admin)",
    "computed": "matching.economics.link_economics",
    "none": "none",
    "documented_deliveries": "recorded deliveries that carry a document (weighbridge ticket, invoice, receipt or "
                             "转移联单 manifest), not voided",
}


@dataclass(frozen=True)
class Pricing:
    """The knowledge base with overrides applied, the economics built from it, and what was overridden."""

    kb: KnowledgeBase
    econ: Economics
    parameters: dict[str, Any]
    overrides: Mapping[tuple[str, str], float]


def override_parameters(session: Session) -> tuple[KnowledgeBase, dict[str, Any], dict[tuple[str, str], float]]:
    """The knowledge base (circuity overridden per province) and scenario ``parameters`` (prices, disposal)."""
    kb = get_kb()
    rows = session.scalars(select(RegionalOverride).order_by(RegionalOverride.id)).all()
    found = {(r.kind, r.key): r.value for r in rows}
    circuity = {normalise_province(k) if k != "default" else k: v for (kind, k), v in found.items()
                if kind == "circuity"}
    if circuity:
        kb = dataclasses.replace(kb, circuity={**kb.circuity, **circuity})
    params: dict[str, Any] = {
        "prices": {k: v for (kind, k), v in found.items() if kind == "price"},
        "disposal_costs": {k: v for (kind, k), v in found.items() if kind == "disposal_cost"},
    }
    return kb, params, found


def pricing(session: Session) -> Pricing:
    kb, params, found = override_parameters(session)
    scenario = parse_scenario({"sites": [], "supplies": [], "demands": [], "parameters": params},
                              knowledge_base=kb)
    return Pricing(kb, resolve_economics(scenario), params, found)


def canonical(quantity: float, unit: str, material: str) -> float:
    """A listing quantity in its material's canonical unit (per year; one-off listings count as one year)."""
    return float(to_canonical(quantity, unit, get_kb().materials[material]))


def disposal_per_canonical_unit(listing: Listing) -> float | None:
    """The have's own disposal cost (yuan per listing unit) per canonical unit of its material."""
    if listing.disposal_cost is None:
        return None
    per = canonical(1.0, listing.unit, listing.material)
    return listing.disposal_cost / per if per else None


def is_diverted(kb: KnowledgeBase, material: str) -> bool:
    """Moving this material keeps tonnes out of landfill (a solid or liquid measured in t)."""
    m = kb.materials.get(material)
    return m is not None and counts_as_diverted(m.unit, m.form)


def restriction_reason(kb: KnowledgeBase, material: str, replaces: str) -> str | None:
    """Why the knowledge base forbids ``material`` for ``replaces`` (every use restricted), else None."""
    if material == replaces:
        return None
    rules = [r for r in kb.substitutions if r.material == material and r.replaces == replaces]
    if not rules:
        found = kb.restriction_for(material, replaces)
        return found.reason if found else None
    blocks = [kb.restriction_for(material, replaces, r.use) for r in rules]
    if all(blocks):
        first = blocks[0]
        return first.reason if first else None
    return None


def great_circle_km(a: Site, b: Site) -> float:
    """Great-circle km between two sites (0 on the same site); the economics route it by mode."""
    return 0.0 if a.id == b.id else float(haversine_km(a.lat, a.lon, b.lat, b.lon))


def receiver_industries(session: Session, demand: Listing) -> tuple[str, ...]:
    """The GB/T 4754 codes of the receiving firm: which substitution rules may serve its want."""
    firm = session.get(Firm, demand.firm_id)
    return (firm.industry_code,) if firm is not None and firm.industry_code else ()


@dataclass(frozen=True)
class LinkFigures:
    economics: LinkEconomics
    rule: Rule
    disposal_cost: float
    disposal_from_listing: bool


def link_figures(pr: Pricing, *, supply: Listing, demand_material: str, industries: tuple[str, ...] = (),
                 same_site: bool, distance_km: float | None = None, gc_km: float | None = None,
                 origin_province: str | None = None, mode: str | None = None,
                 quantity: float | None = None) -> LinkFigures | None:
    """Per-unit figures of a link from ``supply`` to a want for ``demand_material`` (None: not viable).

    ``distance_km`` is a distance already routed for ``mode`` (a proposal's or a deal's); otherwise the
    economics route ``gc_km`` by mode from the origin's province. ``quantity`` (canonical units a year) is
    what a pipeline's capex is spread over; ``industries`` are the receiver's, which decide the rule.
    """
    rule, _unverified = choose_rule(pr.econ, supply.material, demand_material, supply.attributes or {},
                                    industries=industries)
    if rule is None:
        return None
    own = disposal_per_canonical_unit(supply)
    disposal = pr.econ.disposal_cost(supply.material) if own is None else own
    figures = functools.partial(
        link_economics, pr.econ, material=supply.material, replaces=demand_material, distance_km=distance_km,
        gc_km=gc_km, circuity=pr.econ.circuity(origin_province), same_site=same_site, disposal_cost=disposal,
        rule=rule, supply_qty=quantity if quantity is not None else math.inf, max_km=math.inf)
    le = figures(mode=None if mode in (None, "on_site") else mode)
    if le is None and mode is not None:  # the stored mode may no longer exist: take the best one now
        le = figures()
    if le is None:
        return None
    return LinkFigures(le, rule, disposal, own is not None)


# --- the ledger ----------------------------------------------------------------------------------------
FORMULAS = {
    "landfill_diverted_t": "Q if the material is a solid or liquid measured in t, else 0",
    "co2_avoided_t": "Q × (delivered_ratio × co2_factor(replaced) − transport_co2_kg_per_unit_km × D / 1000)",
    "cost_saved_yuan": "Q × (delivered_ratio × price(replaced) + disposal_cost − pretreatment − handling − "
                       "rate × D − pipeline capex × D / Q)",
    "env_tax_avoided_yuan": "Q × env_tax(material) for diverted tonnes",
    "raw_material_substituted": "Q × delivered_ratio (units of the replaced material)",
}


def _source(kb: KnowledgeBase, kind: str, key: str) -> str:
    try:
        source, confidence = kb.source_of(kind, key)
    except KeyError:
        return "not in the knowledge base"
    return f"{source} ({confidence})"


def deal_quantity(deal: Deal) -> float:
    """What a deal moves a year: the agreed quantity, the proposed one before agreement."""
    return deal.agreed_quantity if deal.agreed_quantity is not None else deal.quantity


def figures(kb: KnowledgeBase, le: LinkEconomics, *, material: str, replaces: str, quantity: float) -> LedgerFigures:
    diverted = is_diverted(kb, material)
    tax = kb.env_tax.get(material, 0.0) if diverted else 0.0
    replaced = kb.materials.get(replaces)
    return LedgerFigures(
        quantity=quantity,
        landfill_diverted_t=quantity if diverted else 0.0,
        co2_avoided_t=quantity * le.unit_co2_avoided_t,
        cost_saved_yuan=quantity * le.unit_benefit,
        env_tax_avoided_yuan=quantity * tax,
        raw_material_substituted=quantity * le.delivered_ratio,
        raw_material=replaces,
        raw_material_unit=replaced.unit if replaced else "",
    )


@dataclass(frozen=True)
class Calculation:
    """A deal's per-unit figures as computed now, and every input behind them (except the quantities) with
    its source: what the live ledger shows and what a benefit record freezes."""

    kb: KnowledgeBase
    pricing: Pricing
    link: LinkFigures
    factors: list[LedgerInput]
    approximate: bool


def calculate(session: Session, deal: Deal, *, approximate: bool = False, seen_km: float | None = None,
              ) -> Calculation:
    """Today's figures of a deal's link (knowledge base, overrides, the deal's distance and mode).

    ``approximate``: the viewer may not see the other side's place, so the distance is rounded to
    ``ROUNDED_KM`` and every figure is computed from the rounded distance (nothing exact is revealed);
    ``seen_km``: the distance the viewer is shown instead (``deals.distance_seen``), when given.
    """
    pr = pricing(session)
    kb = pr.kb
    supply = session.get(Listing, deal.supply_listing_id)
    if supply is None:
        raise NotFound(f"deal {deal.id} not found")
    distance = deal.distance_km
    if approximate:
        distance = rounded_km(distance) if seen_km is None else seen_km
    same_site = deal.mode == "on_site"
    demand = session.get(Listing, deal.demand_listing_id)
    lf = link_figures(pr, supply=supply, demand_material=deal.replaces, distance_km=distance,
                      same_site=same_site, mode=deal.mode, quantity=deal_quantity(deal),
                      industries=receiver_industries(session, demand) if demand is not None else ())
    if lf is None:
        raise Conflict("no transport mode or substitution rule allows this link with today's knowledge base")
    le = lf.economics

    def fixed(code: str) -> dict[str, str]:
        return {"source": FIXED_SOURCES[code], "source_code": code}

    def cited(kind: str, key: str | None) -> dict[str, str]:
        """A regional override where an admin set one, else the knowledge base row's source."""
        return fixed("override") if (kind, key) in pr.overrides else {"source": _source(kb, kind, key)}

    mode_row = next((m for m in pr.econ.modes if m.id == le.mode), None)
    material = kb.materials.get(deal.material)
    category = material.disposal_category if material else None
    ef = lf.rule.co2_factor if lf.rule.co2_factor is not None else pr.econ.co2_factor(deal.replaces)
    unit = deal.unit
    if lf.disposal_from_listing:
        disposal_src = fixed("listing_disposal")
    elif ("disposal_cost", deal.material) in pr.overrides:
        disposal_src = fixed("override")
    elif category:
        disposal_src = {"source": f"environmental tax + landfill fee, category {category}: "
                                  f"{_source(kb, 'disposal_category', category)}"}
    else:
        disposal_src = fixed("none")
    factors = [
        LedgerInput(name="distance_km", value=distance, unit="km",
                    **fixed("distance_rounded" if approximate else "distance_estimate")),
        LedgerInput(name="mode", value=le.mode, unit="",
                    **({"source": _source(kb, "transport_mode", le.mode)} if mode_row else fixed("same_site"))),
        LedgerInput(name="rule", value=lf.rule.id or "same material", unit="",
                    **({"source": _source(kb, "substitution", lf.rule.id)}
                       if lf.rule.id and not lf.rule.is_identity else fixed("same_material"))),
        LedgerInput(name="ratio", value=le.ratio, unit=f"{deal.replaces} per {deal.material}", **fixed("rule")),
        LedgerInput(name="delivered_ratio", value=le.delivered_ratio, unit="", **fixed("loss_formula")),
        LedgerInput(name="price_replaced", value=le.price, unit=f"yuan per unit of {deal.replaces}",
                    **cited("price", deal.replaces)),
        LedgerInput(name="disposal_cost", value=le.disposal_cost, unit=f"yuan/{unit}", **disposal_src),
        LedgerInput(name="pretreatment_cost", value=le.pretreatment_cost, unit=f"yuan/{unit}", **fixed("rule")),
        LedgerInput(name="handling", value=le.handling, unit=f"yuan/{unit}", **fixed("transport_mode")),
        LedgerInput(name="rate", value=le.rate, unit=f"yuan/({unit}·km)", **fixed("transport_mode")),
        LedgerInput(name="co2_factor_replaced", value=ef, unit=f"t CO2 per unit of {deal.replaces}",
                    **(fixed("rule") if lf.rule.co2_factor is not None else cited("co2_factor", deal.replaces))),
        LedgerInput(name="transport_co2_kg_per_unit_km",
                    value=(mode_row.co2_kg_per_unit_km if mode_row else 0.0), unit=f"kg CO2/({unit}·km)",
                    **fixed("transport_mode")),
        LedgerInput(name="env_tax", value=kb.env_tax.get(deal.material, 0.0), unit="yuan/t",
                    **({"source": _source(kb, "disposal_category", category)} if category else fixed("none"))),
        LedgerInput(name="unit_benefit", value=le.unit_benefit, unit=f"yuan/{unit}", **fixed("computed")),
        LedgerInput(name="unit_co2_avoided_t", value=le.unit_co2_avoided_t, unit=f"t CO2/{unit}",
                    **fixed("computed")),
    ]
    return Calculation(kb=kb, pricing=pr, link=lf, factors=factors, approximate=approximate)


def _quantity_input(name: str, value: float, unit: str, code: str) -> LedgerInput:
    return LedgerInput(name=name, value=value, unit=unit, source=FIXED_SOURCES[code], source_code=code)


def ledger(session: Session, deal: Deal, *, approximate: bool = False, banded: bool = False,
           seen_km: float | None = None) -> LedgerPublic:
    """Planned and realised benefits of a deal computed now (not frozen), with every input and its source.
    The figures of record are the deal's benefit records (``record_state``), frozen at each state change.
    ``banded``: the viewer may not see the deal's quantities (``disclosure.exact_deal_quantities``): the
    figures are computed from the lower edges of the quantities' bands."""
    calc = calculate(session, deal, approximate=approximate, seen_km=seen_km)
    le = calc.link.economics
    planned_q = deal_quantity(deal)
    delivered = session.scalar(select(func.coalesce(func.sum(Delivery.quantity), 0.0))
                               .where(Delivery.deal_id == deal.id, Delivery.voided_at.is_(None))) or 0.0
    if banded:
        planned_q = quantity_band(planned_q).min
        delivered = quantity_band(float(delivered)).min
    planned = figures(calc.kb, le, material=deal.material, replaces=deal.replaces, quantity=planned_q)
    realised = figures(calc.kb, le, material=deal.material, replaces=deal.replaces, quantity=float(delivered))
    inputs = [
        _quantity_input("quantity_planned", planned_q, f"{deal.unit}/yr",
                        "agreed_quantity" if deal.agreed_quantity is not None else "proposed_quantity"),
        _quantity_input("quantity_delivered", float(delivered), deal.unit, "deliveries"),
        *calc.factors,
    ]
    return LedgerPublic(deal_id=deal.id or 0, unit=deal.unit, planned=planned, realised=realised, formulas=FORMULAS,
                        inputs=inputs, approximate=approximate or banded)


# --- the benefit records: estimated → evidenced → verified, frozen at each state change ------------------
#: action -> (current states it may start from (None: no record yet), the state it leads to). Who may take
#: which action: ``policy.can_move_ledger``.
LEDGER_TRANSITIONS: dict[str, tuple[tuple[str | None, ...], str]] = {
    "estimate": ((None,), "estimated"),  # when the deal is agreed: the plan's figures
    "evidence": ((None, "estimated", "evidenced", "verified"), "evidenced"),  # documented deliveries, cumulative
    "verify": (("evidenced",), "verified"),  # a verifier signs the current evidenced record off
    "reject": (("evidenced",), "estimated"),  # ... or sends it back, with a reason
    "withdraw": (("evidenced", "verified"), "estimated"),  # a delivery it counted was voided or corrected
}


def documented(delivery: Delivery) -> bool:
    """A delivery is evidence when it carries a document: a weighbridge ticket, invoice or receipt number, or
    the 转移联单 manifest number of a hazardous-waste transfer."""
    return bool((delivery.document_ref or "").strip() or (delivery.manifest_number or "").strip())


def evidence_of(session: Session, deal: Deal) -> dict[str, Any]:
    """The deal's deliveries that count as evidence (not voided, with a document) and what is left out."""
    rows = session.scalars(select(Delivery).where(Delivery.deal_id == deal.id, Delivery.voided_at.is_(None))
                           .order_by(Delivery.delivered_on, Delivery.id)).all()
    counted = [d for d in rows if documented(d)]
    left = [d for d in rows if not documented(d)]
    return {
        "deliveries": [{"id": d.id, "delivered_on": d.delivered_on.isoformat(), "quantity": d.quantity,
                        "document_ref": d.document_ref, "manifest_number": d.manifest_number} for d in counted],
        "quantity": sum(d.quantity for d in counted),
        "undocumented_count": len(left), "undocumented_quantity": sum(d.quantity for d in left),
    }


def counterfactual(calc: Calculation, deal: Deal, quantity: float) -> dict[str, Any]:
    """What the exchange replaced and where the waste would otherwise have gone, with the figures and sources
    the record is computed from. ``waste_route``: ``landfill`` (a solid or liquid in t: its landfill fee and
    environmental protection tax, by the knowledge base's disposal category), ``stated`` (the supplier's own
    disposal cost per unit, from its listing), or ``released`` (heat, gas or water: nothing is landfilled)."""
    kb, pr, lf = calc.kb, calc.pricing, calc.link
    le = lf.economics
    replaced = kb.materials.get(deal.replaces)
    material = kb.materials.get(deal.material)
    out: dict[str, Any] = {
        "replaced": deal.replaces, "replaced_unit": replaced.unit if replaced else "",
        "replaced_quantity": quantity * le.delivered_ratio, "replaced_price": le.price,
        "replaced_price_source": FIXED_SOURCES["override"] if ("price", deal.replaces) in pr.overrides
        else _source(kb, "price", deal.replaces),
        "material": deal.material, "unit": deal.unit, "quantity": quantity,
        "disposal_cost": le.disposal_cost, "disposal_avoided_yuan": quantity * le.disposal_cost,
    }
    category = material.disposal_category if material else None
    if lf.disposal_from_listing:
        out |= {"waste_route": "stated", "disposal_source": FIXED_SOURCES["listing_disposal"]}
    elif is_diverted(kb, deal.material):
        out |= {"waste_route": "landfill", "landfilled_t": quantity}
        if category and category in kb.disposal_categories:
            cat = kb.disposal_categories[category]
            out |= {"disposal_category": category, "disposal_category_zh": cat.name_zh,
                    "disposal_category_en": cat.name_en, "landfill_fee": cat.landfill_fee, "env_tax": cat.env_tax,
                    "landfill_fee_source": _source(kb, "landfill_fee", category),
                    "env_tax_source": _source(kb, "disposal_category", category)}
        if ("disposal_cost", deal.material) in pr.overrides:
            out["disposal_source"] = FIXED_SOURCES["override"]
    else:
        out |= {"waste_route": "released"}
    return out


def snapshot(session: Session, deal: Deal, quantity: float, basis: str) -> dict[str, Any]:
    """Everything a benefit record freezes, computed now for ``quantity`` (``basis``: ``agreed_quantity`` or
    ``documented_deliveries``): the knowledge-base version, the figures, every input with its source, the
    formulas, the counterfactual, and the same figures and inputs from the rounded distance."""
    exact = calculate(session, deal)
    rounded = calculate(session, deal, approximate=True)
    quantity_in = _quantity_input("quantity", quantity, deal.unit, basis)

    def part(calc: Calculation) -> dict[str, Any]:
        return {"figures": figures(calc.kb, calc.link.economics, material=deal.material, replaces=deal.replaces,
                                   quantity=quantity).model_dump(),
                "inputs": [i.model_dump() for i in (quantity_in, *calc.factors)]}

    main = part(exact)
    return {"kb_version": exact.kb.version, "quantity": quantity, "unit": deal.unit, "figures": main["figures"],
            "inputs": main["inputs"], "formulas": dict(FORMULAS),
            "counterfactual": counterfactual(exact, deal, quantity), "approximate": part(rounded)}


def current_records(session: Session, deal_ids: list[int]) -> dict[int, BenefitRecord]:
    """The latest benefit record (the current state) of each deal that has one."""
    if not deal_ids:
        return {}
    latest = (select(func.max(BenefitRecord.id)).where(BenefitRecord.deal_id.in_(deal_ids))
              .group_by(BenefitRecord.deal_id))
    return {r.deal_id: r for r in session.scalars(select(BenefitRecord).where(BenefitRecord.id.in_(latest)))}


def current_record(session: Session, deal_id: int) -> BenefitRecord | None:
    return current_records(session, [deal_id]).get(deal_id)


FROZEN = ("kb_version", "quantity", "unit", "figures", "inputs", "formulas", "counterfactual", "approximate")


def record_state(session: Session, *, actor: Actor, deal: Deal, supplier: Firm, receiver: Firm, action: str,
                 note: str | None = None, reference: str | None = None, record_id: int | None = None,
                 ) -> BenefitRecord:
    """Make one state change of the deal's benefit figures and freeze it in a new record.

    The caller holds the deal's row lock. ``estimate`` freezes the plan (the agreed quantity) with today's
    knowledge base; ``evidence`` freezes the documented deliveries to date with today's knowledge base;
    ``verify`` signs off the current evidenced record ``record_id`` and copies its frozen figures (what the
    verifier checked, even if the knowledge base has changed since); ``reject`` and ``withdraw`` return to the
    plan's frozen figures (the latest estimate). Raises PermissionDenied (``policy.can_move_ledger``),
    Conflict (wrong state, evidence changed meanwhile, nothing to evidence) or InvalidInput.
    """
    policy.require(policy.can_move_ledger(actor, supplier, receiver, action),
                   "only the deal's parties estimate and evidence its benefits; only a verifier signs them off")
    sources, target = LEDGER_TRANSITIONS[action]
    current = current_record(session, deal.id or 0)
    state = current.state if current is not None else None
    if state not in sources:
        raise Conflict(f"the benefits of deal {deal.id} are {state or 'not recorded yet'}; cannot {action} them",
                       code="ledger_state")
    record = BenefitRecord(deal_id=deal.id or 0, state=target, action=action, from_state=state, user_id=actor.id,
                           note=note, reference=reference, kb_version="", quantity=0.0, unit=deal.unit)
    if action in ("verify", "reject"):
        assert current is not None
        if record_id != current.id:
            raise Conflict(f"the evidence of deal {deal.id} is now record {current.id}, not {record_id}: read it "
                           "again before you sign it off", code="evidence_changed")
        record.record_id = current.id
    if action == "estimate":
        frozen = snapshot(session, deal, deal_quantity(deal), "agreed_quantity")
    elif action == "evidence":
        found = evidence_of(session, deal)
        if not found["deliveries"]:
            raise Conflict("no delivery of this deal carries a document (weighbridge ticket, invoice, receipt or "
                           "manifest number): there is nothing to evidence", code="no_evidence")
        frozen = snapshot(session, deal, found["quantity"], "documented_deliveries")
        days = [d["delivered_on"] for d in found["deliveries"]]
        record.evidence = found
        record.period_from, record.period_to = date.fromisoformat(min(days)), date.fromisoformat(max(days))
    elif action == "verify":
        assert current is not None
        frozen = {k: getattr(current, k) for k in FROZEN}
        record.evidence, record.period_from, record.period_to = current.evidence, current.period_from, \
            current.period_to
    else:  # reject, withdraw: back to the plan as it was frozen
        if current is not None and action == "withdraw":
            record.record_id = current.id
        plan = session.scalar(select(BenefitRecord).where(BenefitRecord.deal_id == deal.id,
                                                          BenefitRecord.action == "estimate")
                              .order_by(BenefitRecord.id.desc()))
        frozen = ({k: getattr(plan, k) for k in FROZEN} if plan is not None
                  else snapshot(session, deal, deal_quantity(deal), "agreed_quantity"))
    for key, value in frozen.items():
        setattr(record, key, value)
    session.add(record)
    session.flush()
    return record


def withdraw_if_counted(session: Session, *, actor: Actor, deal: Deal, supplier: Firm, receiver: Firm,
                        delivery: Delivery, reason: str) -> BenefitRecord | None:
    """A voided or corrected delivery that the current evidenced or verified record counted withdraws that
    record: the figures return to estimated (the record stays in the history)."""
    current = current_record(session, deal.id or 0)
    if current is None or current.state not in ("evidenced", "verified"):
        return None
    if delivery.id not in {d["id"] for d in current.evidence.get("deliveries", [])}:
        return None
    return record_state(session, actor=actor, deal=deal, supplier=supplier, receiver=receiver, action="withdraw",
                        note=f"delivery {delivery.id}: {reason}")


# --- regional overrides --------------------------------------------------------------------------------
def _check_override_key(kind: str, key: str) -> str:
    kb = get_kb()
    if kind in ("price", "disposal_cost"):
        if key not in kb.materials:
            raise InvalidInput.at(("body", "key"), f"unknown material id '{key}'", "unknown_material")
        return key
    if key == "default":
        return key
    normal = normalise_province(key)
    if normal not in kb.circuity:
        raise InvalidInput.at(("body", "key"), f"unknown province '{key}'")
    return normal


def list_overrides(*, session: Session, actor: Actor) -> list[RegionalOverride]:
    policy.require(policy.can_read_overrides(actor), "you may not read regional overrides")
    return list(session.scalars(select(RegionalOverride).order_by(RegionalOverride.kind, RegionalOverride.key)))


def create_override(*, session: Session, actor: Actor, override_in: OverrideCreate) -> RegionalOverride:
    policy.require(policy.can_manage_overrides(actor), "only admins keep regional overrides")
    key = _check_override_key(override_in.kind, override_in.key)
    if override_in.kind == "circuity" and not 1.0 <= override_in.value <= 5.0:
        raise InvalidInput.at(("body", "value"), "circuity must be between 1 and 5")
    existing = session.scalar(select(RegionalOverride).where(RegionalOverride.kind == override_in.kind,
                                                             RegionalOverride.key == key))
    if existing is not None:
        raise Conflict(f"an override of {override_in.kind} for '{key}' exists (id {existing.id}); update it")
    row = RegionalOverride.model_validate(override_in, update={"key": key})
    session.add(row)
    session.flush()
    return row


def update_override(*, session: Session, actor: Actor, override_id: int,
                    override_in: OverrideUpdate) -> RegionalOverride:
    policy.require(policy.can_read_overrides(actor), "you may not read regional overrides")
    row = session.get(RegionalOverride, override_id)
    if row is None:
        raise NotFound(f"override {override_id} not found")
    policy.require(policy.can_manage_overrides(actor), "only admins keep regional overrides")
    changes = override_in.model_dump(exclude_unset=True)
    if "value" in changes:
        if changes["value"] is None:
            raise InvalidInput.at(("body", "value"), "value may not be null")
        if row.kind == "circuity" and not 1.0 <= changes["value"] <= 5.0:
            raise InvalidInput.at(("body", "value"), "circuity must be between 1 and 5")
    row.sqlmodel_update(changes)
    session.add(row)
    session.flush()
    return row


def delete_override(*, session: Session, actor: Actor, override_id: int) -> None:
    policy.require(policy.can_read_overrides(actor), "you may not read regional overrides")
    row = session.get(RegionalOverride, override_id)
    if row is None:
        raise NotFound(f"override {override_id} not found")
    policy.require(policy.can_manage_overrides(actor), "only admins keep regional overrides")
    session.delete(row)
    session.flush()

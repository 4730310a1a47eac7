"""KPIs per park, province or the whole region, and per material family, ready for charts.

Definitions (all per year, in the material's canonical unit; see docs/deals.md):

- **generation**: the sum of active haves the viewer may see (a one-off listing counts as one year);
- **committed**: the agreed quantity of ``agreed`` and ``active`` deals on those haves;
- **delivered**: the sum of recorded deliveries on deals on those haves (to date);
- **rate_committed / rate_delivered**: committed / generation and delivered / generation;
- **targets**: the same figures over the materials each knowledge-base target covers (the guideline's 2020
  targets: fly ash 75 %, phosphogypsum 50 %, tailings 25 %, steel-making solid waste 95 %, industrial solid
  waste 73 %; and the 2025 ones), with the target rate and the gap;
- **CO2 and cost**: planned (committed × the deal's per-unit figures from ``matching.economics``) and realised
  (delivered × the same figures).

Confidentiality: private listings and drafts count only for admins (``listing_visible_clause``); an anonymous
listing the viewer may not see whole counts with the lower edge of its quantity band, and the answer says
``approximate: true``, so no total can be used to recover its exact quantity.
"""

from collections import defaultdict
from typing import Any

from sqlalchemy import case, func, select
from sqlmodel import Session

from backend import policy
from backend.errors import InvalidInput
from backend.kb import get_kb
from backend.models import Deal, Delivery, Firm, Listing, Park
from backend.policy import Actor
from backend.services.deals import COMMITTING
from backend.services.ledger import canonical
from backend.services.listings import quantity_band

GROUPS = ("park", "province", "region")


def _rate(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None


def kpis(*, session: Session, actor: Actor, group_by: str = "park", park_id: int | None = None,
         province: str | None = None) -> dict[str, Any]:
    if group_by not in GROUPS:
        raise InvalidInput.at(("query", "group_by"), f"group_by must be one of {', '.join(GROUPS)}")
    kb = get_kb()
    anon = policy.anonymised_clause(actor)
    stmt = (select(Listing, Park, case((anon, 1), else_=0)).join(Firm, Firm.id == Listing.firm_id)
            .join(Park, Park.id == Firm.park_id)
            .where(Listing.kind == "have", Listing.status == "active", policy.listing_visible_clause(actor)))
    if park_id is not None:
        if session.get(Park, park_id) is None:
            raise InvalidInput.at(("query", "park_id"), f"park {park_id} does not exist")
        stmt = stmt.where(Park.id == park_id)
    if province is not None:
        if session.scalar(select(Park.id).where(Park.province == province).limit(1)) is None:
            raise InvalidInput.at(("query", "province"), f"no park in province '{province}'")
        stmt = stmt.where(Park.province == province)

    def key_of(park: Park) -> tuple[str, str]:
        if group_by == "park":
            return park.code, park.name_zh
        if group_by == "province":
            return park.province, park.province
        return "region", "region"

    generation: dict[str, dict[tuple[str, str], float]] = defaultdict(lambda: defaultdict(float))
    by_material: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    names: dict[str, str] = {}
    listing_group: dict[int, str] = {}
    approximate = False
    for listing, park, is_anon in session.execute(stmt).all():
        key, name = key_of(park)
        names[key] = name
        quantity = listing.quantity
        if is_anon:
            quantity = quantity_band(listing.quantity).min
            approximate = True
        q = canonical(quantity, listing.unit, listing.material)
        material = kb.materials[listing.material]
        generation[key][(material.family, material.unit)] += q
        by_material[key][listing.material] += q
        listing_group[listing.id or 0] = key

    committed: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    delivered: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    money: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    ids = sorted(listing_group)
    if ids:
        delivered_per_deal: dict[int, float] = dict(session.execute(
            select(Delivery.deal_id, func.sum(Delivery.quantity)).join(Deal, Deal.id == Delivery.deal_id)
            .where(Deal.supply_listing_id.in_(ids)).group_by(Delivery.deal_id)).all())
        for deal in session.scalars(select(Deal).where(Deal.supply_listing_id.in_(ids))):
            key = listing_group[deal.supply_listing_id]
            done = float(delivered_per_deal.get(deal.id, 0.0) or 0.0)
            if deal.status in COMMITTING and deal.agreed_quantity:
                committed[key][deal.material] += deal.agreed_quantity
                money[key]["co2_avoided_t_planned"] += deal.agreed_quantity * deal.unit_co2_avoided_t
                money[key]["cost_saved_yuan_planned"] += deal.agreed_quantity * deal.unit_benefit
                money[key]["deals_committing"] += 1
            if done:
                delivered[key][deal.material] += done
                money[key]["co2_avoided_t_realised"] += done * deal.unit_co2_avoided_t
                money[key]["cost_saved_yuan_realised"] += done * deal.unit_benefit

    groups = []
    for key in sorted(names):
        fam_committed: dict[tuple[str, str], float] = defaultdict(float)
        fam_delivered: dict[tuple[str, str], float] = defaultdict(float)
        for table, out in ((committed[key], fam_committed), (delivered[key], fam_delivered)):
            for material_id, q in table.items():
                m = kb.materials[material_id]
                out[(m.family, m.unit)] += q
        families = [{"family": fam, "unit": unit, "generation": gen, "committed": fam_committed[(fam, unit)],
                     "delivered": fam_delivered[(fam, unit)],
                     "rate_committed": _rate(fam_committed[(fam, unit)], gen),
                     "rate_delivered": _rate(fam_delivered[(fam, unit)], gen)}
                    for (fam, unit), gen in sorted(generation[key].items())]
        targets = []
        for target in kb.targets:
            covered = {mid for mid in by_material[key] if target.covers(kb.materials[mid])}
            gen = sum(by_material[key][m] for m in covered)
            if gen <= 0:
                continue
            com = sum(committed[key].get(m, 0.0) for m in covered)
            dlv = sum(delivered[key].get(m, 0.0) for m in covered)
            rate_c = _rate(com, gen)
            targets.append({"id": target.id, "name_zh": target.name_zh, "name_en": target.name_en,
                            "year": target.year, "target_rate": target.rate, "materials": sorted(covered),
                            "generation": gen, "committed": com, "delivered": dlv, "rate_committed": rate_c,
                            "rate_delivered": _rate(dlv, gen),
                            "gap_committed": None if rate_c is None else target.rate - rate_c,
                            "met_committed": rate_c is not None and rate_c >= target.rate, "source": target.source})
        totals = {k: money[key].get(k, 0.0) for k in ("co2_avoided_t_planned", "cost_saved_yuan_planned",
                                                      "co2_avoided_t_realised", "cost_saved_yuan_realised")}
        totals["deals_committing"] = int(money[key].get("deals_committing", 0))
        groups.append({"key": key, "name": names[key], "families": families, "targets": targets,
                       "totals": totals})
    target_ids = sorted({t["id"] for g in groups for t in g["targets"]})
    series = {
        "labels": [g["key"] for g in groups],
        "datasets": [{"label": tid, "kind": "rate_committed",
                      "target_rate": next(t.rate for t in kb.targets if t.id == tid),
                      "data": [next((t["rate_committed"] for t in g["targets"] if t["id"] == tid), None)
                               for g in groups]} for tid in target_ids],
    }
    return {"group_by": group_by, "scope": {"park_id": park_id, "province": province},
            "approximate": approximate, "groups": groups, "series": series}

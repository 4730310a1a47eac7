"""The exchange network of a scope as one viewer may see it, its metrics, and firm-removal resilience.

Edges are the deals the viewer may see (every status but declined and cancelled) and the open proposals
of match runs the viewer may see, between firms of the scope (either end in the scope's parks). An end the
viewer may not identify (an anonymous listing, before both sides of its deal have opted in) becomes its own
node ``anon:L<listing id>`` with no firm, no park and the coarse (~10 km) place; such an edge's distance is
rounded to 10 km and its quantity (a deal's or a proposal's) is the lower edge of its band (``approximate``,
``quantity_band``), as ``backend.disclosure`` rules.
"""

from dataclasses import dataclass, field
from typing import Any

import networkx as nx
from sqlalchemy import select
from sqlmodel import Session

from backend import disclosure, policy
from backend.errors import InvalidInput, NotFound
from backend.models import Deal, Firm, Listing, MatchRun, Park, Proposal, Site
from backend.policy import Actor
from backend.services import deals as deals_svc
from backend.services import ledger as ledger_svc
from backend.services import runs as runs_svc
from matching.api import match
from matching.network import NetworkEdge, NetworkNode, build_network, firm_removal_impact, network_metrics
from matching.scenario import parse_scenario

HIDDEN_DEALS = ("declined", "cancelled")


@dataclass
class Network:
    graph: nx.MultiDiGraph
    nodes: dict[str, NetworkNode] = field(default_factory=dict)
    edges: list[NetworkEdge] = field(default_factory=list)
    park_ids: list[int] = field(default_factory=list)
    benefit: dict[str, float] = field(default_factory=dict)  # edge id -> yuan per year


def scope_parks(session: Session, park_id: int | None, province: str | None) -> list[int]:
    if park_id is not None:
        if session.get(Park, park_id) is None:
            raise InvalidInput.at(("query", "park_id"), f"park {park_id} does not exist")
        return [park_id]
    if province is not None:
        ids = sorted(session.scalars(select(Park.id).where(Park.province == province)))
        if not ids:
            raise InvalidInput.at(("query", "province"), f"no park in province '{province}'")
        return ids
    return sorted(session.scalars(select(Park.id)))


class _Builder:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.nodes: dict[str, NetworkNode] = {}
        self.parks: dict[int, Park] = {}

    def park(self, park_id: int) -> Park:
        if park_id not in self.parks:
            park = self.session.get(Park, park_id)
            assert park is not None
            self.parks[park_id] = park
            self.nodes[f"park:{park.code}"] = NetworkNode(f"park:{park.code}", "park", park.name_zh, park=park.code,
                                                          province=park.province, lat=park.lat, lon=park.lon,
                                                          attributes={"name_en": park.name_en})
        return self.parks[park_id]

    def end(self, listing: Listing, firm: Firm, site: Site, whole: bool) -> tuple[str, float, float]:
        """The node id of one end and the point the viewer may see."""
        park = self.session.get(Park, firm.park_id)
        assert park is not None
        if not whole:
            node_id = f"anon:L{listing.id}"
            self.nodes.setdefault(node_id, NetworkNode(node_id, "anonymous", "anonymous", province=park.province,
                                                       lat=site.coarse_lat, lon=site.coarse_lon))
            return node_id, site.coarse_lat, site.coarse_lon
        self.park(park.id or 0)
        node_id = f"firm:{firm.id}"
        self.nodes.setdefault(node_id, NetworkNode(node_id, "firm", firm.name, park=park.code, province=park.province,
                                                   lat=site.lat, lon=site.lon,
                                                   attributes={"industry_code": firm.industry_code}))
        return node_id, site.lat, site.lon


def build(*, session: Session, actor: Actor, park_id: int | None = None, province: str | None = None,
          include_proposals: bool = True) -> Network:
    parks = set(scope_parks(session, park_id, province))
    b = _Builder(session)
    edges: list[NetworkEdge] = []
    benefit: dict[str, float] = {}
    stmt = (select(Deal).where(policy.deals_clause(actor, Deal.supplier_firm_id, Deal.receiver_firm_id),
                               Deal.status.not_in(HIDDEN_DEALS)).order_by(Deal.id))
    for deal in session.scalars(stmt):
        s = deals_svc.Sides(session, deal)
        if s.supplier.park_id not in parks and s.receiver.park_id not in parks:
            continue
        sup_whole, rec_whole = deals_svc.shown_sides(actor, s)
        src, slat, slon = b.end(s.supply, s.supplier, s.supply_site, sup_whole)
        dst, dlat, dlon = b.end(s.demand, s.receiver, s.demand_site, rec_whole)
        exact = sup_whole and rec_whole
        quantity = deal.agreed_quantity if deal.agreed_quantity is not None else deal.quantity
        band = (None if disclosure.exact_deal_quantities(actor, sides_whole=exact)
                else disclosure.quantity_band(quantity))
        if band is not None:
            quantity = band.min
        edge_id = f"deal:{deal.id}"
        benefit[edge_id] = quantity * deal.unit_benefit
        edges.append(NetworkEdge(
            edge_id, src, dst, "deal", deal.status, deal.material, deal.replaces, quantity, deal.unit,
            deals_svc.sides_distance(actor, s),
            attributes={"supply": f"L{deal.supply_listing_id}", "demand": f"L{deal.demand_listing_id}",
                        "ratio": deal.ratio, "mode": deal.mode, "approximate": not exact or band is not None,
                        "quantity_band": None if band is None else band.model_dump(), "from_lat": slat,
                        "from_lon": slon, "to_lat": dlat, "to_lon": dlon}))
    if include_proposals:
        rows = session.execute(deals_svc._proposal_stmt(actor).where(Proposal.status == "open")).all()
        for proposal, supply, demand, supplier, receiver in rows:
            if supplier.park_id not in parks and receiver.park_id not in parks:
                continue
            sup_whole = disclosure.whole(actor, supply, supplier)
            dem_whole = disclosure.whole(actor, demand, receiver)
            sup_site, dem_site = session.get(Site, supply.site_id), session.get(Site, demand.site_id)
            assert sup_site is not None and dem_site is not None
            src, slat, slon = b.end(supply, supplier, sup_site, sup_whole)
            dst, dlat, dlon = b.end(demand, receiver, dem_site, dem_whole)
            exact = sup_whole and dem_whole
            band = None if exact else disclosure.quantity_band(proposal.quantity)
            quantity = proposal.quantity if band is None else band.min
            edge_id = f"proposal:{proposal.id}"
            benefit[edge_id] = quantity * proposal.unit_benefit
            edges.append(NetworkEdge(
                edge_id, src, dst, "proposal", "open", proposal.material, proposal.replaces, quantity,
                proposal.unit, deals_svc.distance_seen(actor, supply, supplier, sup_site, demand, receiver, dem_site,
                                                       proposal.distance_km, whole=exact),
                attributes={"supply": f"L{proposal.supply_listing_id}", "demand": f"L{proposal.demand_listing_id}",
                            "ratio": proposal.ratio, "mode": proposal.mode, "approximate": not exact,
                            "quantity_band": None if band is None else band.model_dump(),
                            "from_lat": slat, "from_lon": slon, "to_lat": dlat, "to_lon": dlon}))
    graph = build_network(b.nodes.values(), edges)
    return Network(graph, b.nodes, edges, sorted(parks), benefit)


def _node_json(node: NetworkNode) -> dict[str, Any]:
    return {"id": node.id, "kind": node.kind, "label": node.label, "park": node.park, "province": node.province,
            "lat": node.lat, "lon": node.lon, **dict(node.attributes)}


def _edge_json(edge: NetworkEdge) -> dict[str, Any]:
    return {"id": edge.id, "source": edge.source, "target": edge.target, "kind": edge.kind, "status": edge.status,
            "material": edge.material, "replaces": edge.replaces, "quantity": edge.quantity, "unit": edge.unit,
            "distance_km": edge.distance_km, **dict(edge.attributes)}


def network(*, session: Session, actor: Actor, park_id: int | None = None, province: str | None = None,
            include_proposals: bool = True) -> dict[str, Any]:
    net = build(session=session, actor=actor, park_id=park_id, province=province,
                include_proposals=include_proposals)
    return {"nodes": [_node_json(n) for n in net.nodes.values()], "edges": [_edge_json(e) for e in net.edges],
            "metrics": network_metrics(net.graph)}


def resilience(*, session: Session, actor: Actor, firm_id: int, park_id: int | None = None,
               province: str | None = None, rerun: bool = True) -> dict[str, Any]:
    """If firm ``firm_id`` stops: the exchanges and tonnes lost, the wants left unmet, the supplies left
    without a taker, and (``rerun``) whether the matcher finds substitutes for the unmet wants among the
    scope's remaining supplies, and at what benefit."""
    net = build(session=session, actor=actor, park_id=park_id, province=province)
    node = f"firm:{firm_id}"
    if node not in net.graph:
        raise NotFound(f"firm {firm_id} has no exchange you may see in this scope")
    impact = firm_removal_impact(net.graph, node)
    lost_benefit = sum(net.benefit.get(e, 0.0) for e in impact.lost_edges)
    out: dict[str, Any] = {
        "firm": node, "lost_links": list(impact.lost_edges), "lost_quantity_t": impact.lost_quantity_t,
        "lost_by_unit": dict(impact.lost_by_unit), "lost_benefit_yuan": lost_benefit,
        "unmet_wants": list(impact.unmet_wants), "stranded_supplies": list(impact.stranded_supplies),
    }
    if not rerun or not impact.unmet_wants:
        out["substitutes"] = None
        return out
    needed: dict[int, float] = {}
    for want in impact.unmet_wants:
        if want.get("demand"):
            lid = int(str(want["demand"])[1:])
            needed[lid] = needed.get(lid, 0.0) + float(want["quantity_wanted"])
    probe = MatchRun(kind="what_if", created_by=actor.id, scope={"resolved_park_ids": net.park_ids},
                     options={}, what_if={"remove_firm_ids": [firm_id]})
    data = runs_svc.load_scope(session, probe)
    data.rows = [r for r in data.rows if r[0].kind == "have" or (r[0].id or 0) in needed]
    for lid, q in needed.items():
        if lid in data.remaining or any(r[0].id == lid for r in data.rows):
            data.remaining[lid] = q
    wants_present = {r[0].id for r in data.rows if r[0].kind == "want"}
    for lid, q in needed.items():  # a want the lost supply had fully served is no longer "remaining": add it
        if lid not in wants_present:
            row = session.execute(select(Listing, Firm, Site, Park).join(Firm, Firm.id == Listing.firm_id)
                                  .join(Site, Site.id == Listing.site_id).join(Park, Park.id == Firm.park_id)
                                  .where(Listing.id == lid)).first()
            if row is not None:
                data.rows.append((row[0], row[1], row[2], row[3]))
                data.remaining[lid] = q
    pr = ledger_svc.pricing(session)
    doc = runs_svc.build_scenario(data, probe, pr)
    # Everything is read: end the read before the solver works, so no transaction stays idle meanwhile (which
    # PostgreSQL ends after ISX_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS, and which holds back vacuum). Nothing is
    # written here; what follows uses plain data only.
    session.rollback()
    result = match(parse_scenario(doc, knowledge_base=pr.kb))
    found: dict[int, dict[str, float]] = {}
    for link in result.links:
        demand_id = runs_svc._listing_id(link.demand)
        if demand_id is not None and demand_id in needed:
            lid = demand_id
            entry = found.setdefault(lid, {"quantity_supplied": 0.0, "quantity_received": 0.0, "net_benefit": 0.0})
            entry["quantity_supplied"] += link.quantity
            entry["quantity_received"] += link.quantity * link.ratio
            entry["net_benefit"] += link.net_benefit
    substitutes = [{"demand": f"L{lid}", "needed": q, "found": found.get(lid, {}).get("quantity_received", 0.0),
                    "net_benefit": found.get(lid, {}).get("net_benefit", 0.0)} for lid, q in sorted(needed.items())]
    out["substitutes"] = {"wants": substitutes,
                          "share_replaced": (sum(s["found"] for s in substitutes) / sum(needed.values())
                                             if needed else None),
                          "net_benefit_yuan": sum(s["net_benefit"] for s in substitutes)}
    return out

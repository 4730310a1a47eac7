"""The exchange network: firms and parks as nodes, exchanges (deals by status, open proposals) as edges.

Plain data in, plain data out; NetworkX does the graph work. The backend builds :class:`NetworkNode` and
:class:`NetworkEdge` records from what a viewer may see and calls :func:`build_network`, then
:func:`network_metrics`, :func:`firm_removal_impact` or the GraphML/GEXF writers on the result.

Graph: a :class:`networkx.MultiDiGraph`. Firm nodes (``kind="firm"``) carry their park and province; park
nodes (``kind="park"``) are joined to their firms by ``kind="member"`` edges (left out of every metric);
exchange edges (``kind="deal"`` or ``"proposal"``) go from the supplying firm to the receiving one with
``quantity``, ``unit``, ``material``, ``replaces``, ``distance_km`` and ``status``.

Metrics on the exchange edges:

- links, tonnage (quantities in t), cross-park and cross-province shares (by count and by tonnage);
- degree centrality and betweenness centrality of firms on the undirected simple exchange graph, and the
  keystone firms (highest betweenness, ties by degree; only firms with betweenness > 0 or degree ≥ 2);
- communities: greedy modularity (deterministic) on the undirected graph weighted by tonnage;
- cycles: closed loops of exchange (directed simple cycles, at most ``max_cycles``, length ≤ ``max_length``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

__all__ = [
    "NetworkEdge",
    "NetworkNode",
    "RemovalImpact",
    "build_network",
    "exchange_graph",
    "firm_removal_impact",
    "network_metrics",
    "to_gexf",
    "to_graphml",
]

EXCHANGE_KINDS = ("deal", "proposal")


@dataclass(frozen=True)
class NetworkNode:
    """A firm or a park. ``id`` is unique across kinds (e.g. ``"firm:12"``, ``"park:3"``)."""

    id: str
    kind: str
    label: str
    park: str | None = None
    province: str | None = None
    lat: float | None = None
    lon: float | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class NetworkEdge:
    """An exchange from ``source`` (supplier) to ``target`` (receiver)."""

    id: str
    source: str
    target: str
    kind: str
    status: str
    material: str
    replaces: str
    quantity: float
    unit: str
    distance_km: float | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class RemovalImpact:
    """What is lost if a firm stops: its exchange edges, their tonnage, the other side's unmet wants and
    stranded supplies (edge ids and quantities)."""

    firm: str
    lost_edges: tuple[str, ...]
    lost_quantity_t: float
    lost_by_unit: Mapping[str, float]
    unmet_wants: tuple[dict[str, Any], ...]
    stranded_supplies: tuple[dict[str, Any], ...]


def build_network(nodes: Iterable[NetworkNode], edges: Iterable[NetworkEdge]) -> nx.MultiDiGraph:
    """Build the exchange network; park nodes get ``member`` edges to their firms.

    Parameters
    ----------
    nodes : iterable of NetworkNode
    edges : iterable of NetworkEdge
        Endpoints must be nodes.

    Returns
    -------
    networkx.MultiDiGraph

    Raises
    ------
    ValueError
        If an edge names a node that was not given.

    Examples
    --------
    >>> g = build_network([NetworkNode("firm:1", "firm", "A"), NetworkNode("firm:2", "firm", "B")],
    ...                   [NetworkEdge("deal:1", "firm:1", "firm:2", "deal", "active", "fly_ash", "fly_ash", 10, "t")])
    >>> g.number_of_edges()
    1
    """
    g = nx.MultiDiGraph()
    parks: dict[str, str] = {}
    for node in nodes:
        data = {"kind": node.kind, "label": node.label, **dict(node.attributes)}
        for key in ("park", "province", "lat", "lon"):
            value = getattr(node, key)
            if value is not None:
                data[key] = value
        g.add_node(node.id, **data)
        if node.kind == "park":
            parks[node.label if node.park is None else node.park] = node.id
    for node_id, data in list(g.nodes(data=True)):
        if data["kind"] != "park" and data.get("park") in parks:
            g.add_edge(parks[data["park"]], node_id, key=f"member:{node_id}", kind="member")
    for edge in edges:
        for end in (edge.source, edge.target):
            if end not in g:
                raise ValueError(f"edge {edge.id} names unknown node {end!r}")
        data = {"kind": edge.kind, "status": edge.status, "material": edge.material, "replaces": edge.replaces,
                "quantity": float(edge.quantity), "unit": edge.unit, **dict(edge.attributes)}
        if edge.distance_km is not None:
            data["distance_km"] = float(edge.distance_km)
        g.add_edge(edge.source, edge.target, key=edge.id, **data)
    return g


def exchange_graph(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """The sub-graph of exchange edges (no park nodes, no membership edges)."""
    h = nx.MultiDiGraph()
    h.add_nodes_from((n, d) for n, d in g.nodes(data=True) if d.get("kind") != "park")
    h.add_edges_from((u, v, k, d) for u, v, k, d in g.edges(keys=True, data=True)
                     if d.get("kind") in EXCHANGE_KINDS)
    return h


def _tonnes(d: Mapping[str, Any]) -> float:
    return float(d.get("quantity", 0.0)) if d.get("unit") == "t" else 0.0


def network_metrics(g: nx.MultiDiGraph, *, keystones: int = 5, max_cycles: int = 100,
                    max_length: int = 6) -> dict[str, Any]:
    """Counts, shares, centralities, keystone firms, communities and cycles of the exchange network.

    Parameters
    ----------
    g : networkx.MultiDiGraph
        From :func:`build_network`.
    keystones : int
        How many keystone firms to name.
    max_cycles, max_length : int
        Bounds on the cycle enumeration.

    Returns
    -------
    dict
        ``links``, ``tonnage_t``, ``by_unit``, ``by_kind``, ``cross_park_share``, ``cross_province_share``
        (by count), ``cross_park_tonnage_share``, ``cross_province_tonnage_share``, ``degree``,
        ``betweenness``, ``keystones``, ``communities``, ``cycles``.

    Examples
    --------
    >>> nodes = [NetworkNode(f"firm:{i}", "firm", f"F{i}", park="p") for i in (1, 2, 3)]
    >>> edges = [NetworkEdge("e1", "firm:1", "firm:2", "deal", "active", "a", "a", 5, "t"),
    ...          NetworkEdge("e2", "firm:2", "firm:3", "deal", "active", "b", "b", 5, "t"),
    ...          NetworkEdge("e3", "firm:3", "firm:1", "deal", "active", "c", "c", 5, "t")]
    >>> m = network_metrics(build_network(nodes, edges))
    >>> m["links"], m["tonnage_t"], len(m["cycles"])
    (3, 15.0, 1)
    """
    h = exchange_graph(g)
    edges = list(h.edges(data=True))
    n_links = len(edges)
    tonnage = math.fsum(_tonnes(d) for _u, _v, d in edges)
    by_unit: dict[str, float] = {}
    by_kind: dict[str, int] = {}
    cross_park = cross_prov = 0
    cross_park_t = cross_prov_t = 0.0
    for u, v, d in edges:
        by_unit[d.get("unit", "")] = by_unit.get(d.get("unit", ""), 0.0) + float(d.get("quantity", 0.0))
        key = f"{d.get('kind')}:{d.get('status')}"
        by_kind[key] = by_kind.get(key, 0) + 1
        nu, nv = h.nodes[u], h.nodes[v]
        if nu.get("park") is not None and nv.get("park") is not None and nu.get("park") != nv.get("park"):
            cross_park += 1
            cross_park_t += _tonnes(d)
        if (nu.get("province") is not None and nv.get("province") is not None
                and nu.get("province") != nv.get("province")):
            cross_prov += 1
            cross_prov_t += _tonnes(d)
    simple = nx.Graph()
    simple.add_nodes_from(h.nodes)
    for u, v, d in edges:
        if u == v:
            continue
        w = simple.get_edge_data(u, v, {}).get("weight", 0.0)
        simple.add_edge(u, v, weight=w + max(_tonnes(d), 0.0))
    degree = nx.degree_centrality(simple) if simple.number_of_nodes() > 1 else dict.fromkeys(simple, 0.0)
    between = nx.betweenness_centrality(simple, normalized=True) if simple.number_of_nodes() > 2 else \
        dict.fromkeys(simple, 0.0)
    raw_degree = dict(simple.degree())
    ranked = sorted(simple.nodes, key=lambda n: (-between[n], -raw_degree[n], str(n)))
    keystone = [{"id": n, "label": h.nodes[n].get("label"), "betweenness": between[n], "degree": raw_degree[n]}
                for n in ranked if between[n] > 0 or raw_degree[n] >= 2][:keystones]
    active = simple.subgraph([n for n in simple if raw_degree[n] > 0])
    if active.number_of_edges():
        # Weighted by tonnes; links in GJ or m3 weigh nothing, so a network of only those is taken unweighted
        # (modularity divides by the total weight).
        weighted = any(d["weight"] > 0 for _u, _v, d in active.edges(data=True))
        communities = [sorted(c) for c in nx.algorithms.community.greedy_modularity_communities(
            active, weight="weight" if weighted else None)]
    else:
        communities = []
    directed = nx.DiGraph()
    directed.add_edges_from((u, v) for u, v, _d in edges if u != v)
    cycles: list[list[str]] = []
    for cycle in nx.simple_cycles(directed, length_bound=max_length):
        cycles.append(list(cycle))
        if len(cycles) >= max_cycles:
            break
    return {
        "links": n_links, "tonnage_t": tonnage, "by_unit": by_unit, "by_kind": by_kind,
        "cross_park_share": cross_park / n_links if n_links else None,
        "cross_province_share": cross_prov / n_links if n_links else None,
        "cross_park_tonnage_share": cross_park_t / tonnage if tonnage else None,
        "cross_province_tonnage_share": cross_prov_t / tonnage if tonnage else None,
        "degree": degree, "betweenness": between, "keystones": keystone,
        "communities": sorted(communities, key=lambda c: (-len(c), c)), "cycles": cycles,
    }


def firm_removal_impact(g: nx.MultiDiGraph, firm: str) -> RemovalImpact:
    """Which exchanges and tonnes are lost if ``firm`` stops, which wants go unmet and which supplies are
    left without a taker.

    Parameters
    ----------
    g : networkx.MultiDiGraph
    firm : str
        A firm node id.

    Returns
    -------
    RemovalImpact

    Raises
    ------
    KeyError
        If ``firm`` is not a node.

    Examples
    --------
    >>> nodes = [NetworkNode("firm:1", "firm", "A"), NetworkNode("firm:2", "firm", "B")]
    >>> edges = [NetworkEdge("deal:7", "firm:1", "firm:2", "deal", "active", "fly_ash", "clinker", 40, "t",
    ...                      attributes={"demand": "L9"})]
    >>> impact = firm_removal_impact(build_network(nodes, edges), "firm:1")
    >>> impact.lost_quantity_t, impact.unmet_wants[0]["firm"]
    (40.0, 'firm:2')
    """
    if firm not in g:
        raise KeyError(firm)
    h = exchange_graph(g)
    lost: list[str] = []
    by_unit: dict[str, float] = {}
    unmet: list[dict[str, Any]] = []
    stranded: list[dict[str, Any]] = []
    for u, v, k, d in h.edges(keys=True, data=True):
        if firm not in (u, v) or u == v:
            continue
        lost.append(str(k))
        by_unit[d.get("unit", "")] = by_unit.get(d.get("unit", ""), 0.0) + float(d.get("quantity", 0.0))
        row = {"edge": str(k), "material": d.get("material"), "replaces": d.get("replaces"),
               "quantity": float(d.get("quantity", 0.0)), "unit": d.get("unit"), "kind": d.get("kind"),
               "status": d.get("status")}
        if u == firm:  # firm supplied v: v's want loses this much of the replaced material (× ratio)
            unmet.append(row | {"firm": v, "demand": d.get("demand"),
                                "quantity_wanted": float(d.get("quantity", 0.0)) * float(d.get("ratio", 1.0))})
        else:
            stranded.append(row | {"firm": u, "supply": d.get("supply")})
    return RemovalImpact(firm, tuple(lost), by_unit.get("t", 0.0), by_unit, tuple(unmet), tuple(stranded))


def _plain(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """A copy whose attributes GraphML/GEXF can store: numbers, strings and booleans only (None dropped)."""
    out = nx.MultiDiGraph()
    for n, d in g.nodes(data=True):
        out.add_node(n, **{k: v if isinstance(v, bool | int | float | str) else str(v)
                           for k, v in d.items() if v is not None})
    for u, v, k, d in g.edges(keys=True, data=True):
        out.add_edge(u, v, key=k, **{a: b if isinstance(b, bool | int | float | str) else str(b)
                                     for a, b in d.items() if b is not None})
    return out


def to_graphml(g: nx.MultiDiGraph) -> str:
    """GraphML text of the network (for Gephi, yEd, NetworkX)."""
    return "\n".join(nx.generate_graphml(_plain(g), encoding="utf-8", prettyprint=True))


def to_gexf(g: nx.MultiDiGraph) -> str:
    """GEXF 1.2 text of the network (for Gephi)."""
    return "\n".join(nx.generate_gexf(_plain(g), encoding="utf-8", prettyprint=True))

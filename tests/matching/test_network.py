"""Network analytics on small hand-checked cases; GraphML and GEXF read back by NetworkX."""

import io

import networkx as nx
import pytest

from matching.network import (
    NetworkEdge,
    NetworkNode,
    build_network,
    firm_removal_impact,
    network_metrics,
    to_gexf,
    to_graphml,
)

pytestmark = pytest.mark.nodb


def _case() -> nx.MultiDiGraph:
    """A→B 10 t, B→C 20 t, C→A 30 t (a loop in park p, Hebei), C→D 5 GJ of heat to park q (Shanxi),
    E alone in q; plus an open proposal D→E of 7 t."""
    nodes = [NetworkNode("park:p", "park", "P", park="p", province="河北省", lat=39.0, lon=118.0),
             NetworkNode("park:q", "park", "Q", park="q", province="山西省", lat=37.9, lon=112.5)]
    for name, park, province in (("A", "p", "河北省"), ("B", "p", "河北省"), ("C", "p", "河北省"),
                                 ("D", "q", "山西省"), ("E", "q", "山西省")):
        nodes.append(NetworkNode(f"firm:{name}", "firm", name, park=park, province=province))
    edges = [
        NetworkEdge("deal:1", "firm:A", "firm:B", "deal", "active", "fly_ash", "clinker", 10, "t", 12.0,
                    {"demand": "L2", "supply": "L1", "ratio": 1.0}),
        NetworkEdge("deal:2", "firm:B", "firm:C", "deal", "agreed", "fgd_gypsum", "natural_gypsum", 20, "t", 5.0,
                    {"demand": "L4", "supply": "L3"}),
        NetworkEdge("deal:3", "firm:C", "firm:A", "deal", "active", "bf_slag", "clinker", 30, "t", 8.0,
                    {"demand": "L6", "supply": "L5", "ratio": 0.5}),
        NetworkEdge("deal:4", "firm:C", "firm:D", "deal", "completed", "hot_water", "heat", 5, "GJ", 300.0,
                    {"demand": "L8", "supply": "L7"}),
        NetworkEdge("proposal:9", "firm:D", "firm:E", "proposal", "open", "coal_gangue", "clay", 7, "t", 3.0),
    ]
    return build_network(nodes, edges)


def test_counts_and_shares_by_hand() -> None:
    m = network_metrics(_case())
    assert m["links"] == 5
    assert m["tonnage_t"] == 67.0  # 10 + 20 + 30 + 7 (the heat is in GJ)
    assert m["by_unit"] == {"t": 67.0, "GJ": 5.0}
    assert m["by_kind"] == {"deal:active": 2, "deal:agreed": 1, "deal:completed": 1, "proposal:open": 1}
    assert m["cross_park_share"] == pytest.approx(1 / 5) and m["cross_province_share"] == pytest.approx(1 / 5)
    assert m["cross_park_tonnage_share"] == 0.0  # the only cross-park link carries GJ


def test_centrality_keystones_communities_and_cycles() -> None:
    m = network_metrics(_case())
    # undirected simple graph A-B, B-C, C-A, C-D, D-E: C and D bridge to E; C lies on 6 of the shortest paths
    assert m["betweenness"]["firm:C"] == pytest.approx(4 / 6)  # normalised by (n-1)(n-2)/2 = 6
    assert m["betweenness"]["firm:D"] == pytest.approx(3 / 6)
    assert m["betweenness"]["firm:A"] == 0.0
    assert m["degree"]["firm:C"] == pytest.approx(3 / 4)
    assert [k["id"] for k in m["keystones"][:2]] == ["firm:C", "firm:D"]
    assert m["keystones"][0]["label"] == "C"
    assert sorted(map(sorted, m["communities"])) == [["firm:A", "firm:B", "firm:C"], ["firm:D", "firm:E"]]
    assert len(m["cycles"]) == 1 and sorted(m["cycles"][0]) == ["firm:A", "firm:B", "firm:C"]
    assert "park:p" not in m["degree"]  # parks are not exchange nodes


def test_removing_a_firm_by_hand() -> None:
    impact = firm_removal_impact(_case(), "firm:C")
    assert sorted(impact.lost_edges) == ["deal:2", "deal:3", "deal:4"]
    assert impact.lost_quantity_t == 50.0 and impact.lost_by_unit == {"t": 50.0, "GJ": 5.0}
    unmet = {w["firm"]: w for w in impact.unmet_wants}
    assert set(unmet) == {"firm:A", "firm:D"}
    assert unmet["firm:A"]["quantity_wanted"] == 15.0  # 30 t of slag at ratio 0.5 replaces 15 t of clinker
    assert unmet["firm:A"]["demand"] == "L6"
    assert [s["firm"] for s in impact.stranded_supplies] == ["firm:B"]
    with pytest.raises(KeyError):
        firm_removal_impact(_case(), "firm:Z")


def test_empty_and_unknown_nodes() -> None:
    empty = network_metrics(build_network([NetworkNode("firm:1", "firm", "x")], []))
    assert empty["links"] == 0 and empty["cross_park_share"] is None and empty["cycles"] == []
    with pytest.raises(ValueError, match="unknown node"):
        build_network([], [NetworkEdge("e", "a", "b", "deal", "active", "m", "m", 1, "t")])


def test_graphml_and_gexf_read_back() -> None:
    g = _case()
    back = nx.parse_graphml(to_graphml(g), force_multigraph=True)
    assert back.number_of_nodes() == g.number_of_nodes() and back.number_of_edges() == g.number_of_edges()
    assert back.nodes["firm:C"]["label"] == "C" and back.nodes["park:q"]["province"] == "山西省"
    quantities = sorted(d["quantity"] for _u, _v, d in back.edges(data=True) if d.get("kind") != "member")
    assert quantities == [5.0, 7.0, 10.0, 20.0, 30.0]
    gexf = nx.read_gexf(io.BytesIO(to_gexf(g).encode("utf-8")))
    assert gexf.number_of_nodes() == g.number_of_nodes() and gexf.number_of_edges() == g.number_of_edges()
    assert {d.get("material") for _u, _v, d in gexf.edges(data=True)} >= {"fly_ash", "hot_water"}


def test_metrics_of_a_network_without_tonnes() -> None:
    """Heat and water links (GJ, m3) carry no tonnage: communities fall back to unweighted links."""
    from matching.network import NetworkEdge, NetworkNode, build_network, network_metrics

    nodes = [NetworkNode(f"firm:{i}", "firm", f"F{i}", park="p") for i in (1, 2, 3)]
    edges = [NetworkEdge("e1", "firm:1", "firm:2", "deal", "active", "steam", "heat", 9000, "GJ"),
             NetworkEdge("e2", "firm:2", "firm:3", "proposal", "open", "treated_wastewater", "fresh_water", 500,
                         "m3")]
    metrics = network_metrics(build_network(nodes, edges))
    assert metrics["links"] == 2 and metrics["tonnage_t"] == 0.0
    assert sorted(n for c in metrics["communities"] for n in c) == ["firm:1", "firm:2", "firm:3"]
    assert metrics["keystones"][0]["id"] == "firm:2"

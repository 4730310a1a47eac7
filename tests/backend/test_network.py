"""The exchange network as each viewer sees it, and firm-removal resilience with a re-run for substitutes."""

import os
from typing import Any

import pytest

from tests.backend.conftest import World
from tests.backend.test_deals import add_listing, add_site, move, seed_deal, unit_of_work


@pytest.fixture
def deals_world(world: World) -> dict[str, int]:
    """firm_a1 → firm_a2 fly ash (active, 1000 t); firm_a1's anonymous fly ash → firm_b1 (proposed, 10 t);
    firm_b1's phosphogypsum → firm_a2 (agreed, 500 t, across provinces); spare fly ash at firm_a3."""
    with unit_of_work(world) as (session, admin):
        want_a2 = add_listing(session, admin, world["site_a2"], "want", "fly_ash", 10_000)
        want_b1 = add_listing(session, admin, world["site_b1"], "want", "fly_ash", 10_000)
        site_a3 = add_site(session, admin, world["firm_a3"], "a3 yard", 39.05, 118.45)
        spare = add_listing(session, admin, site_a3, "have", "fly_ash", 5_000)
        active = seed_deal(session, admin, world["l_public"], want_a2, 1000)
        move(session, admin, active, "opt_in", "negotiate", "agree", "activate")
        anonymous = seed_deal(session, admin, world["l_anon"], want_b1, 10)
        gypsum = seed_deal(session, admin, world["l_b_public"], world["l_a2_want"], 500)
        move(session, admin, gypsum, "opt_in", "negotiate", "agree")
    return {"want_a2": want_a2, "want_b1": want_b1, "spare": spare, "active": active, "anonymous": anonymous,
            "gypsum": gypsum, "site_a3": site_a3}


def test_network_as_each_viewer_sees_it(client_as: Any, world: World, deals_world: dict[str, int]) -> None:
    planner = client_as("planner").get("/api/v1/network").json()
    node_ids = {n["id"] for n in planner["nodes"]}
    anon = f"anon:L{world['l_anon']}"
    assert {f"firm:{world['firm_a1']}", f"firm:{world['firm_a2']}", f"firm:{world['firm_b1']}", anon} <= node_ids
    assert {"park:park-a", "park:park-b"} <= node_ids
    assert planner["metrics"]["links"] == 3
    assert planner["metrics"]["tonnage_t"] == pytest.approx(1510)
    hidden = next(n for n in planner["nodes"] if n["id"] == anon)
    assert hidden["label"] == "anonymous" and hidden["park"] is None
    edge = next(e for e in planner["edges"] if e["id"] == f"deal:{deals_world['anonymous']}")
    assert edge["source"] == anon and edge["approximate"] and edge["distance_km"] % 10 == 0

    other = client_as("fu_other")
    seen = other.get("/api/v1/network")
    assert "甲电厂" not in seen.text and f"firm:{world['firm_a1']}" not in seen.text
    assert {e["id"] for e in seen.json()["edges"]} == {f"deal:{deals_world['anonymous']}",
                                                        f"deal:{deals_world['gypsum']}"}
    with unit_of_work(world) as (session, admin):
        move(session, admin, deals_world["anonymous"], "opt_in")
    assert f"firm:{world['firm_a1']}" in other.get("/api/v1/network").text  # both said yes: identity shown
    park_b = client_as("admin").get(f"/api/v1/network?park_id={world['park_b']}").json()
    assert {e["id"] for e in park_b["edges"]} == {f"deal:{deals_world['anonymous']}", f"deal:{deals_world['gypsum']}"}
    assert park_b["metrics"]["cross_province_share"] == pytest.approx(1.0)


def test_resilience_when_a_firm_stops(client_as: Any, world: World, deals_world: dict[str, int]) -> None:
    admin = client_as("admin")
    body = admin.get(f"/api/v1/network/resilience?firm_id={world['firm_a1']}").json()
    assert sorted(body["lost_links"]) == sorted([f"deal:{deals_world['active']}",
                                                 f"deal:{deals_world['anonymous']}"])
    assert body["lost_quantity_t"] == pytest.approx(1010)
    assert body["lost_benefit_yuan"] > 0
    unmet = {w["demand"]: w["quantity_wanted"] for w in body["unmet_wants"]}
    assert unmet == {f"L{deals_world['want_a2']}": 1000, f"L{deals_world['want_b1']}": 10}
    subs = {s["demand"]: s for s in body["substitutes"]["wants"]}
    assert subs[f"L{deals_world['want_a2']}"]["found"] == pytest.approx(1000)  # firm_a3's spare fly ash
    assert subs[f"L{deals_world['want_a2']}"]["net_benefit"] > 0
    assert 0 < body["substitutes"]["share_replaced"] <= 1
    b1 = admin.get(f"/api/v1/network/resilience?firm_id={world['firm_b1']}&rerun=false").json()
    assert b1["substitutes"] is None  # rerun=false
    assert [s["firm"] for s in b1["stranded_supplies"]] == [f"firm:{world['firm_a1']}"]  # admins see it whole
    assert [w["firm"] for w in b1["unmet_wants"]] == [f"firm:{world['firm_a2']}"]
    assert client_as("fu_other").get(
        f"/api/v1/network/resilience?firm_id={world['firm_a1']}").status_code == 404  # not identifiable to them


def test_network_bad_input(client_as: Any, world: World) -> None:
    client = client_as("planner")
    for url, loc in (("/api/v1/network?park_id=999999", ["query", "park_id"]),
                     ("/api/v1/network?province=火星", ["query", "province"]),
                     ("/api/v1/network/resilience", ["query", "firm_id"]),
                     ("/api/v1/network/resilience?firm_id=x", ["query", "firm_id"])):
        response = client.get(url)
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == loc, url


@pytest.mark.skipif(not os.environ.get("ISX_TEST_DATABASE_URL"),
                    reason="idle transactions are watched in PostgreSQL's pg_stat_activity")
def test_resilience_holds_no_transaction_open_while_it_solves(client_as: Any, world: World, engine: Any,
                                                              deals_world: dict[str, int],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The re-run for substitutes reads, then solves without a transaction left idle for the solver's time."""
    from sqlalchemy import text

    from backend.services import network

    idle: list[int] = []
    real_match = network.match

    def watched(*args: Any, **kwargs: Any) -> Any:  # the real matcher, with a look at the server first
        with engine.connect() as conn:
            idle.append(conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state = 'idle in transaction' AND pid <> pg_backend_pid()")).scalar_one())
        return real_match(*args, **kwargs)

    monkeypatch.setattr(network, "match", watched)
    body = client_as("admin").get(f"/api/v1/network/resilience?firm_id={world['firm_a1']}").json()
    assert body["substitutes"]["share_replaced"] > 0
    assert idle == [0]

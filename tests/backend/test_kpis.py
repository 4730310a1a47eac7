"""KPIs: on the demo region they equal a direct SQL count; confidentiality of the totals; bad input."""

from collections import defaultdict
from typing import Any

import pytest
from sqlalchemy import text

from tests.backend.conftest import World
from tests.backend.test_deals import add_listing, move, seed_deal, unit_of_work


def test_kpis_on_the_demo_region_equal_a_direct_sql_count(client_as: Any, world: World) -> None:
    from backend.models import User
    from backend.services import seed
    from backend.services.users import actor_for
    from matching.knowledge import default_knowledge_base
    from matching.units import to_canonical

    kb = default_knowledge_base()
    with unit_of_work() as (session, _):
        seed.seed_demo(session=session)
    with unit_of_work() as (session, _):
        admin = actor_for(session, session.get(User, world["user_admin"]))
        ids = dict(session.execute(text(
            "SELECT l.ref, l.id FROM listing l WHERE l.ref IN ('CFD-STEEL-01-H1', 'CFD-POWER-01-H1') "
            "OR l.kind = 'want' AND l.material IN ('clinker', 'fly_ash', 'cement')")).all())
        slag = ids.get("CFD-STEEL-01-H1")
        wants = session.execute(text(
            "SELECT l.id, l.material FROM listing l JOIN firm f ON f.id = l.firm_id JOIN park p ON p.id = f.park_id "
            "WHERE l.kind = 'want' AND l.status = 'active' AND l.material = 'clinker' AND p.code = 'caofeidian' "
            "ORDER BY l.id")).all()
        assert slag and wants
        deal_a = seed_deal(session, admin, slag, wants[0][0], 1000)
        move(session, admin, deal_a, "opt_in", "negotiate", "agree", "activate", agreed=800)
        deal_b = seed_deal(session, admin, slag, wants[0][0], 500)
        move(session, admin, deal_b, "opt_in", "negotiate", "agree", agreed=300)
        from backend.schemas_deals import DeliveryCreate
        from backend.services import deals

        for q in (120.0, 80.5):
            deals.add_delivery(session=session, actor=admin, deal_id=deal_a, delivery_in=DeliveryCreate(
                delivered_on="2026-03-01", quantity=q))

    body = client_as("admin").get("/api/v1/kpis?group_by=park").json()
    assert body["approximate"] is False
    got = {(g["key"], f["family"], f["unit"]): f for g in body["groups"] for f in g["families"]}

    with unit_of_work() as (session, _):
        rows = session.execute(text(
            "SELECT p.code, l.material, l.unit, SUM(l.quantity) FROM listing l JOIN firm f ON f.id = l.firm_id "
            "JOIN park p ON p.id = f.park_id WHERE l.kind = 'have' AND l.status = 'active' "
            "GROUP BY p.code, l.material, l.unit")).all()
        committed = session.execute(text(
            "SELECT p.code, d.material, SUM(d.agreed_quantity) FROM deal d "
            "JOIN listing l ON l.id = d.supply_listing_id JOIN firm f ON f.id = l.firm_id "
            "JOIN park p ON p.id = f.park_id "
            "WHERE d.status IN ('agreed', 'active') AND l.status = 'active' GROUP BY p.code, d.material")).all()
        delivered = session.execute(text(
            "SELECT p.code, d.material, SUM(v.quantity) FROM delivery v JOIN deal d ON d.id = v.deal_id "
            "JOIN listing l ON l.id = d.supply_listing_id JOIN firm f ON f.id = l.firm_id "
            "JOIN park p ON p.id = f.park_id GROUP BY p.code, d.material")).all()
    expected: dict[tuple[str, str, str], float] = defaultdict(float)
    for code, material, unit, total in rows:
        m = kb.materials[material]
        expected[(code, m.family, m.unit)] += to_canonical(float(total), unit, m)
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key]["generation"] == pytest.approx(value, rel=1e-9), key
    for code, material, total in committed:
        m = kb.materials[material]
        assert got[(code, m.family, m.unit)]["committed"] == pytest.approx(float(total))
    assert committed and delivered
    for code, material, total in delivered:
        m = kb.materials[material]
        f = got[(code, m.family, m.unit)]
        assert f["delivered"] == pytest.approx(float(total)) == pytest.approx(200.5)
        assert f["rate_delivered"] == pytest.approx(200.5 / f["generation"])
    caofeidian = next(g for g in body["groups"] if g["key"] == "caofeidian")
    steel = next(t for t in caofeidian["targets"] if t["id"] == "steel_solid_waste_2020")
    assert steel["target_rate"] == 0.95 and steel["committed"] == pytest.approx(1100.0)
    assert "bf_slag" in steel["materials"]
    assert caofeidian["totals"]["deals_committing"] == 2
    assert caofeidian["totals"]["cost_saved_yuan_realised"] > 0
    region = client_as("admin").get("/api/v1/kpis?group_by=region").json()["groups"]
    assert [g["key"] for g in region] == ["region"]
    assert sum(f["generation"] for f in region[0]["families"] if f["unit"] == "t") == pytest.approx(
        sum(v for (_c, _f, unit), v in expected.items() if unit == "t"))
    series = body["series"]
    assert series["labels"] == [g["key"] for g in body["groups"]]
    assert all(len(d["data"]) == len(series["labels"]) for d in series["datasets"])
    province = client_as("admin").get("/api/v1/kpis?group_by=province&province=河北省").json()
    assert [g["key"] for g in province["groups"]] == ["河北省"]


def test_kpis_never_reveal_private_or_anonymous_quantities(client_as: Any, world: World) -> None:
    """Park_a's ash: l_public (123 456 t fly ash), l_public2 (bottom ash), l_anon, l_private (both 123 456 t)."""
    admin = client_as("admin").get(f"/api/v1/kpis?park_id={world['park_a']}").json()
    planner = client_as("planner").get(f"/api/v1/kpis?park_id={world['park_a']}").json()
    own = client_as("pm_own").get(f"/api/v1/kpis?park_id={world['park_a']}").json()

    def ash(body: dict[str, Any]) -> float:
        return next(f["generation"] for g in body["groups"] for f in g["families"] if f["family"] == "ash")

    assert ash(admin) == pytest.approx(4 * 123_456)
    assert ash(own) == pytest.approx(3 * 123_456)  # the manager sees the anonymous one whole, not the private
    assert planner["approximate"] is True and own["approximate"] is False
    assert ash(planner) == pytest.approx(2 * 123_456 + 100_000)  # band [100 000, 300 000): its lower edge


def test_kpi_bad_input(client_as: Any, world: World) -> None:
    client = client_as("planner")
    for query, loc in (("group_by=galaxy", ["query", "group_by"]), ("park_id=999999", ["query", "park_id"]),
                       ("province=火星", ["query", "province"]), ("park_id=abc", ["query", "park_id"])):
        response = client.get(f"/api/v1/kpis?{query}")
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == loc, query


def test_kpis_of_a_fresh_deal(client_as: Any, world: World) -> None:
    with unit_of_work(world) as (session, admin):
        want = add_listing(session, admin, world["site_a2"], "want", "fly_ash", 50_000)
        deal_id = seed_deal(session, admin, world["l_public"], want, 40_000)
        move(session, admin, deal_id, "opt_in", "negotiate", "agree", agreed=30_000)
    body = client_as("fu_own").get(f"/api/v1/kpis?park_id={world['park_a']}").json()
    fly = next(t for g in body["groups"] for t in g["targets"] if t["id"] == "fly_ash_2020")
    assert fly["committed"] == 30_000 and fly["rate_committed"] == pytest.approx(30_000 / fly["generation"])
    assert fly["met_committed"] is False and fly["gap_committed"] == pytest.approx(0.75 - fly["rate_committed"])

"""The deal workflow: every transition for every role, double opt-in, anonymity, integrity (also under
concurrency on PostgreSQL), regulatory gates, notes, deliveries and bad input."""

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.backend.conftest import World

ROLES = ("admin", "pm_own", "pm_other", "fu_own", "fu_same_park", "fu_other", "planner", "verifier")
ACTIONS = ("opt_in", "negotiate", "agree", "activate", "complete", "decline", "cancel")
# how the admin brings a fresh deal to each state
PATHS: dict[str, tuple[str, ...]] = {
    "proposed": (), "interested": ("opt_in",), "negotiating": ("opt_in", "negotiate"),
    "agreed": ("opt_in", "negotiate", "agree"), "active": ("opt_in", "negotiate", "agree", "activate"),
    "completed": ("opt_in", "negotiate", "agree", "activate", "complete"),
    "declined": ("decline",), "cancelled": ("cancel",),
}
VALID_FROM = {"opt_in": {"proposed"}, "negotiate": {"interested"}, "agree": {"negotiating"},
              "activate": {"agreed"}, "complete": {"active"},
              "decline": {"proposed", "interested", "negotiating", "agreed", "active"},
              "cancel": {"proposed", "interested", "negotiating", "agreed", "active"}}


# --- helpers other test modules use too ----------------------------------------------------------------
@contextmanager
def unit_of_work(world: World | None = None, role: str = "admin") -> Iterator[tuple[Any, Any]]:
    """A session and the actor of ``role`` (committed at the end, like a request)."""
    from backend.audit import set_actor
    from backend.db import new_session
    from backend.models import User
    from backend.services.users import actor_for

    session = new_session()
    try:
        actor = None
        if world is not None:
            user = session.get(User, world[f"user_{role}"])
            actor = actor_for(session, user)
            set_actor(session, user.id)
        yield session, actor
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def add_listing(session: Any, actor: Any, site_id: int, kind: str, material: str, quantity: float, *,
                unit: str = "t", visibility: str = "public", attributes: dict[str, float] | None = None,
                disposal_cost: float | None = None) -> int:
    from backend.schemas import ListingCreate
    from backend.services import listings

    listing = listings.create_listing(session=session, actor=actor, listing_in=ListingCreate(
        site_id=site_id, kind=kind, material=material, quantity=quantity, unit=unit, status="active",
        visibility=visibility, attributes=attributes or {}, disposal_cost=disposal_cost))
    return listing.id or 0


def add_site(session: Any, actor: Any, firm_id: int, name: str, lat: float, lon: float) -> int:
    from backend.schemas import SiteCreate
    from backend.services import sites

    return sites.create_site(session=session, actor=actor, site_in=SiteCreate(
        firm_id=firm_id, name=name, lat=lat, lon=lon)).id or 0


def seed_deal(session: Any, actor: Any, supply_id: int, demand_id: int, quantity: float = 10.0) -> int:
    from backend.schemas_deals import DealCreate
    from backend.services import deals

    return deals.create_deal(session=session, actor=actor, deal_in=DealCreate(
        supply_listing_id=supply_id, demand_listing_id=demand_id, quantity=quantity)).id or 0


def move(session: Any, actor: Any, deal_id: int, *actions: str, agreed: float | None = None) -> None:
    """Admin-style moves (opt_in answers for every side the actor speaks for). Agreed deals start on
    2026-01-01, so deliveries may be dated from then on."""
    from datetime import date

    from backend.schemas_deals import DealTerms, DealTransition
    from backend.services import deals

    for action in actions:
        if action == "agree":
            current = session.get(deals.Deal, deal_id)
            deals.update_terms(session=session, actor=actor, deal_id=deal_id, terms_in=DealTerms(
                agreed_quantity=agreed if agreed is not None else current.quantity, start_date=date(2026, 1, 1)))
        reason = "test" if action in ("decline", "cancel") else None
        deals.transition(session=session, actor=actor, deal_id=deal_id,
                         move=DealTransition(action=action, reason=reason))


# --- fixtures ------------------------------------------------------------------------------------------
@pytest.fixture
def market(world: World) -> dict[str, int]:
    """Wants beside the world's haves: a fly-ash want at firm_a2 (same park as the supplier firm_a1) and
    one at firm_b1 (another park and province)."""
    with unit_of_work(world) as (session, admin):
        return {
            "want_a2": add_listing(session, admin, world["site_a2"], "want", "fly_ash", 1_000_000),
            "want_b1": add_listing(session, admin, world["site_b1"], "want", "fly_ash", 1_000_000),
        }


def _deal_in(world: World, market: dict[str, int], state: str, want: str = "want_a2") -> int:
    with unit_of_work(world) as (session, admin):
        deal_id = seed_deal(session, admin, world["l_public"], market[want])
        move(session, admin, deal_id, *PATHS[state])
    return deal_id


def _expected(role: str, action: str, state: str) -> int:
    if role in ("pm_other", "fu_other"):
        return 404  # neither firm is theirs: the deal does not exist for them
    if role in ("planner", "verifier"):
        return 403  # planners and verifiers read deals, never move them
    if state not in VALID_FROM[action]:
        return 409
    return 200


def _attempt(world: World, role: str, deal_id: int, action: str) -> tuple[int, str | None]:
    """One attempt through the service layer (what the route calls); the HTTP status the API answers."""
    from backend.errors import DomainError
    from backend.schemas_deals import DealTerms, DealTransition
    from backend.services import deals

    try:
        with unit_of_work(world, role) as (session, actor):
            if action == "agree":
                deals.update_terms(session=session, actor=actor, deal_id=deal_id,
                                   terms_in=DealTerms(agreed_quantity=10))
            reason = "no longer needed" if action in ("decline", "cancel") else None
            deal = deals.transition(session=session, actor=actor, deal_id=deal_id,
                                    move=DealTransition(action=action, reason=reason))
            return 200, deal.status
    except DomainError as exc:
        return exc.status_code, None


TARGETS = {"opt_in": "interested", "negotiate": "negotiating", "agree": "agreed", "activate": "active",
           "complete": "completed", "decline": "declined", "cancel": "cancelled"}


def test_every_transition_for_every_role(client_as: Any, world: World, market: dict[str, int]) -> None:
    """Deal between firm_a1 (supplier) and firm_a2 (receiver), both in park_a: every action from every state
    by every role; refused attempts share one deal per state, allowed ones get a fresh deal."""
    for state in PATHS:
        shared = _deal_in(world, market, state)
        for role in ROLES:
            for action in ACTIONS:
                expected = _expected(role, action, state)
                deal_id = _deal_in(world, market, state) if expected == 200 else shared
                status, new_state = _attempt(world, role, deal_id, action)
                assert status == expected, (state, role, action)
                if expected == 200:
                    one_side = action == "opt_in" and role in ("fu_own", "fu_same_park")
                    assert new_state == ("proposed" if one_side else TARGETS[action]), (state, role, action)
        with unit_of_work() as (session, _):
            from backend.models import Deal

            assert session.get(Deal, shared).status == state  # refused attempts changed nothing
    # and through HTTP, one of each answer
    deal_id = _deal_in(world, market, "interested")
    body = {"action": "negotiate"}
    assert client_as("fu_other").post(f"/api/v1/deals/{deal_id}/transitions", json=body).status_code == 404
    assert client_as("planner").post(f"/api/v1/deals/{deal_id}/transitions", json=body).status_code == 403
    wrong = client_as("fu_own").post(f"/api/v1/deals/{deal_id}/transitions", json={"action": "complete"})
    assert wrong.status_code == 409 and "interested" in wrong.json()["detail"]
    assert client_as("fu_own").post(f"/api/v1/deals/{deal_id}/transitions", json=body).json()["status"] == \
        "negotiating"


def test_double_opt_in_and_history(client_as: Any, world: World, market: dict[str, int]) -> None:
    from backend.models import AuditLog, DealEvent

    deal_id = _deal_in(world, market, "proposed")
    supplier, receiver = client_as("fu_own"), client_as("fu_same_park")
    assert supplier.post(f"/api/v1/deals/{deal_id}/transitions",
                         json={"action": "opt_in", "side": "receiver"}).status_code == 403
    first = supplier.post(f"/api/v1/deals/{deal_id}/transitions", json={"action": "opt_in", "note": "gern"})
    assert first.status_code == 200 and first.json()["supplier_yes"] and not first.json()["receiver_yes"]
    assert first.json()["status"] == "proposed"
    again = supplier.post(f"/api/v1/deals/{deal_id}/transitions", json={"action": "opt_in"})
    assert again.status_code == 409
    assert "opt_in" not in supplier.get(f"/api/v1/deals/{deal_id}").json()["allowed_actions"]
    second = receiver.post(f"/api/v1/deals/{deal_id}/transitions", json={"action": "opt_in"})
    assert second.json()["status"] == "interested"
    history = supplier.get(f"/api/v1/deals/{deal_id}/events").json()
    assert [(e["action"], e["from_status"], e["to_status"]) for e in history] == [
        ("create", "proposed", "proposed"), ("opt_in", "proposed", "proposed"),
        ("opt_in", "proposed", "interested")]
    assert history[1]["user_id"] == world["user_fu_own"] and history[1]["note"] == "gern"
    assert history[2]["user_id"] == world["user_fu_same_park"]
    with unit_of_work() as (session, _):
        assert session.scalar(select(func.count()).select_from(DealEvent)) == 3
        audited = session.scalars(select(AuditLog).where(AuditLog.entity == "deal",
                                                         AuditLog.entity_id == deal_id)).all()
        assert {a.action for a in audited} == {"create", "update"}
        assert any(a.user_id == world["user_fu_same_park"] for a in audited)


def test_decline_and_cancel_need_a_reason(client_as: Any, world: World, market: dict[str, int]) -> None:
    deal_id = _deal_in(world, market, "negotiating")
    client = client_as("fu_same_park")
    response = client.post(f"/api/v1/deals/{deal_id}/transitions", json={"action": "cancel"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "reason"]
    response = client.post(f"/api/v1/deals/{deal_id}/transitions", json={"action": "decline", "reason": "price"})
    assert response.status_code == 200 and response.json()["reason"] == "price"
    assert response.json()["allowed_actions"] == []


def test_cross_park_sides(client_as: Any, world: World, market: dict[str, int]) -> None:
    """firm_a1 (park_a) supplies firm_b1 (park_b): each park's manager answers for its own firm only."""
    deal_id = _deal_in(world, market, "proposed", want="want_b1")
    own, other = client_as("pm_own"), client_as("pm_other")
    assert own.get(f"/api/v1/deals/{deal_id}").json()["your_sides"] == ["supplier"]
    assert other.get(f"/api/v1/deals/{deal_id}").json()["your_sides"] == ["receiver"]
    assert own.post(f"/api/v1/deals/{deal_id}/transitions",
                    json={"action": "opt_in", "side": "receiver"}).status_code == 403
    assert own.post(f"/api/v1/deals/{deal_id}/transitions", json={"action": "opt_in"}).json()["status"] == "proposed"
    done = other.post(f"/api/v1/deals/{deal_id}/transitions", json={"action": "opt_in"})
    assert done.json()["status"] == "interested"
    assert client_as("fu_same_park").get(f"/api/v1/deals/{deal_id}").status_code == 404


def test_anonymous_party_revealed_only_after_both_opt_in(client_as: Any, world: World,
                                                         market: dict[str, int]) -> None:
    with unit_of_work(world, "pm_own") as (session, pm):
        deal_id = seed_deal(session, pm, world["l_anon"], market["want_b1"])
    receiver, supplier, planner = client_as("fu_other"), client_as("fu_own"), client_as("planner")
    seen = receiver.get(f"/api/v1/deals/{deal_id}").json()
    assert seen["supplier_firm_id"] is None and seen["supplier_firm_name"] is None
    assert seen["supply"]["anonymised"] and seen["supply"]["quantity"] is None
    assert seen["supply"]["site_id"] is None and seen["distance_km"] % 10 == 0
    assert "甲电厂" not in receiver.get(f"/api/v1/deals/{deal_id}").text
    assert receiver.get("/api/v1/deals").json()["data"][0]["supplier_firm_id"] is None
    assert receiver.get(f"/api/v1/deals/{deal_id}/ledger").json()["approximate"] is True
    assert supplier.get(f"/api/v1/deals/{deal_id}").json()["receiver_firm_id"] == world["firm_b1"]
    receiver.post(f"/api/v1/deals/{deal_id}/transitions", json={"action": "opt_in"})
    assert receiver.get(f"/api/v1/deals/{deal_id}").json()["supplier_firm_id"] is None  # one yes is not enough
    supplier.post(f"/api/v1/deals/{deal_id}/notes", json={"text": "hello"})
    assert receiver.get(f"/api/v1/deals/{deal_id}/notes").json()[0]["user_id"] is None  # not even a user id
    supplier.post(f"/api/v1/deals/{deal_id}/transitions", json={"action": "opt_in"})
    assert receiver.get(f"/api/v1/deals/{deal_id}/events").json()[-1]["user_id"] == world["user_fu_own"]
    seen = receiver.get(f"/api/v1/deals/{deal_id}").json()
    assert seen["status"] == "interested" and seen["supplier_firm_name"] == "甲电厂"
    assert not seen["supply"]["anonymised"]
    assert planner.get(f"/api/v1/deals/{deal_id}").json()["supplier_firm_id"] is None  # not a party


def test_integrity_have_and_want(world: World, market: dict[str, int]) -> None:
    from backend.errors import Conflict

    with unit_of_work(world) as (session, admin):
        have = add_listing(session, admin, world["site_a1"], "have", "fly_ash", 100)
        small_want = add_listing(session, admin, world["site_a2"], "want", "fly_ash", 50)
        first = seed_deal(session, admin, have, market["want_a2"], 60)
        second = seed_deal(session, admin, have, market["want_b1"], 60)
        third = seed_deal(session, admin, world["l_public"], small_want, 60)
        move(session, admin, first, "opt_in", "negotiate", "agree")
        move(session, admin, second, "opt_in", "negotiate")
        move(session, admin, third, "opt_in", "negotiate")
    with unit_of_work(world) as (session, admin), pytest.raises(Conflict, match="40 t/yr left"):
        move(session, admin, second, "agree")
    with unit_of_work(world) as (session, admin), pytest.raises(Conflict, match="want listing"):
        move(session, admin, third, "agree")
    with unit_of_work(world) as (session, admin):
        move(session, admin, second, "agree", agreed=40)  # exactly what is left
        move(session, admin, first, "cancel")
        move(session, admin, third, "agree", agreed=50)


@pytest.mark.skipif(not os.environ.get("ISX_TEST_DATABASE_URL"),
                    reason="concurrent writers need PostgreSQL row locks; SQLite serialises writers itself and "
                           "answers 'database is locked' instead")
def test_concurrent_agreements_never_over_commit(world: World, market: dict[str, int]) -> None:
    from backend.errors import Conflict
    from backend.models import Deal

    n_threads, capacity, each = 12, 100.0, 30.0
    with unit_of_work(world) as (session, admin):
        have = add_listing(session, admin, world["site_a1"], "have", "fly_ash", capacity)
        deal_ids = [seed_deal(session, admin, have, market["want_a2"], each) for _ in range(n_threads)]
        for deal_id in deal_ids:
            move(session, admin, deal_id, "opt_in", "negotiate")
            from backend.schemas_deals import DealTerms
            from backend.services import deals

            deals.update_terms(session=session, actor=admin, deal_id=deal_id,
                               terms_in=DealTerms(agreed_quantity=each))
    barrier = threading.Barrier(n_threads)
    outcomes: list[str] = []
    lock = threading.Lock()

    def agree(deal_id: int) -> None:
        from backend.schemas_deals import DealTransition
        from backend.services import deals

        barrier.wait()
        try:
            with unit_of_work(world) as (session, admin):
                deals.transition(session=session, actor=admin, deal_id=deal_id,
                                 move=DealTransition(action="agree"))
            result = "agreed"
        except Conflict:
            result = "refused"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=agree, args=(d,)) for d in deal_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(outcomes) == n_threads
    assert outcomes.count("agreed") == 3 and outcomes.count("refused") == n_threads - 3
    with unit_of_work() as (session, _):
        committed = session.scalar(select(func.sum(Deal.agreed_quantity)).where(
            Deal.supply_listing_id == have, Deal.status == "agreed"))
        assert committed == pytest.approx(90.0)


def test_hazardous_waste_needs_a_permit_and_cross_province_approval(client_as: Any, world: World) -> None:
    with unit_of_work(world) as (session, admin):
        catalyst = add_listing(session, admin, world["site_a1"], "have", "spent_catalyst", 500)
        want_near = add_listing(session, admin, world["site_a2"], "want", "spent_catalyst", 500)
        want_far = add_listing(session, admin, world["site_b1"], "want", "spent_catalyst", 500)
        near = seed_deal(session, admin, catalyst, want_near, 100)
        far = seed_deal(session, admin, catalyst, want_far, 100)
        move(session, admin, near, "opt_in", "negotiate")
        move(session, admin, far, "opt_in", "negotiate")
    pm, pm_b = client_as("pm_own"), client_as("pm_other")
    pm.patch(f"/api/v1/deals/{near}/terms", json={"agreed_quantity": 100, "start_date": "2026-01-01"})
    refused = pm.post(f"/api/v1/deals/{near}/transitions", json={"action": "agree"})
    assert refused.status_code == 409 and "permit covering HW50" in refused.json()["detail"]
    gates = pm.get(f"/api/v1/deals/{near}").json()["gates"]
    assert gates["hazardous"] and not gates["permit_ok"] and not gates["needs_transfer_approval"]
    permit = pm.post("/api/v1/permits", json={"firm_id": world["firm_a2"], "number": "冀危证-HW50",
                                              "hw_codes": ["HW50"], "valid_from": "2020-01-01",
                                              "valid_to": "2099-12-31"})
    assert permit.status_code == 201
    assert pm.post(f"/api/v1/deals/{near}/transitions", json={"action": "agree"}).status_code == 200
    assert pm.post(f"/api/v1/deals/{near}/transitions", json={"action": "activate"}).status_code == 200
    no_manifest = pm.post(f"/api/v1/deals/{near}/deliveries", json={"delivered_on": "2026-03-01", "quantity": 20})
    assert no_manifest.status_code == 422 and no_manifest.json()["detail"][0]["loc"] == ["body", "manifest_number"]
    assert pm.post(f"/api/v1/deals/{near}/deliveries", json={
        "delivered_on": "2026-03-01", "quantity": 20, "manifest_number": "1301-2026-000123"}).status_code == 201

    # Guizhou receiver (another province) with an expired permit, then a valid one, then the approval
    pm_b.post("/api/v1/permits", json={"firm_id": world["firm_b1"], "number": "黔危证-old", "hw_codes": ["HW50"],
                                       "valid_from": "2010-01-01", "valid_to": "2015-12-31"})
    pm_b.patch(f"/api/v1/deals/{far}/terms", json={"agreed_quantity": 100})
    assert pm_b.post(f"/api/v1/deals/{far}/transitions", json={"action": "agree"}).status_code == 409
    pm_b.post("/api/v1/permits", json={"firm_id": world["firm_b1"], "number": "黔危证-017", "hw_codes": ["HW50"],
                                       "valid_from": "2020-01-01", "valid_to": "2099-12-31"})
    agreed = pm_b.post(f"/api/v1/deals/{far}/transitions", json={"action": "agree"})
    assert agreed.status_code == 200 and agreed.json()["gates"]["needs_transfer_approval"]
    blocked = pm_b.post(f"/api/v1/deals/{far}/transitions", json={"action": "activate"})
    assert blocked.status_code == 409 and "approval" in blocked.json()["detail"]
    fu = client_as("fu_other")
    approval = {"approved_by": "贵州省生态环境厅", "reference": "黔环危转〔2026〕12号", "approval_date": "2026-02-01"}
    assert fu.post(f"/api/v1/deals/{far}/approval", json=approval).status_code == 403
    assert pm_b.post(f"/api/v1/deals/{far}/approval", json={"approved_by": "x"}).status_code == 422
    recorded = pm_b.post(f"/api/v1/deals/{far}/approval", json=approval)
    assert recorded.status_code == 200 and recorded.json()["gates"]["approval_recorded"]
    assert pm_b.post(f"/api/v1/deals/{far}/transitions", json={"action": "activate"}).json()["status"] == "active"
    assert pm.post(f"/api/v1/deals/{near}/approval", json=approval).status_code == 409  # not needed there


def test_knowledge_base_restriction_blocks_with_its_reason(client_as: Any, world: World) -> None:
    with unit_of_work(world) as (session, admin):
        slag = add_listing(session, admin, world["site_a1"], "have", "steel_slag", 1000,
                           attributes={"f_cao": 2.0})
        cement = add_listing(session, admin, world["site_a2"], "want", "cement", 1000)
        clinker = add_listing(session, admin, world["site_a2"], "want", "clinker", 1000)
    pm = client_as("pm_own")
    refused = pm.post("/api/v1/deals", json={"supply_listing_id": slag, "demand_listing_id": cement,
                                             "quantity": 100})
    assert refused.status_code == 422
    detail = refused.json()["detail"][0]
    assert detail["loc"] == ["body", "demand_listing_id"] and "GB 175-2023" in detail["msg"]
    allowed = pm.post("/api/v1/deals", json={"supply_listing_id": slag, "demand_listing_id": clinker,
                                             "quantity": 100})  # steel-slag cement has its own standard
    assert allowed.status_code == 201 and allowed.json()["gates"]["restriction"] is None


def test_who_may_seed_a_deal_by_hand(client_as: Any, world: World, market: dict[str, int]) -> None:
    body = {"supply_listing_id": world["l_public"], "demand_listing_id": market["want_a2"], "quantity": 5}
    expected = {"admin": 201, "pm_own": 201, "pm_other": 403, "fu_own": 403, "fu_same_park": 403,
                "fu_other": 403, "planner": 403}
    for role, status in expected.items():
        assert client_as(role).post("/api/v1/deals", json=body).status_code == status, role
    hidden = {"supply_listing_id": world["l_private"], "demand_listing_id": market["want_a2"], "quantity": 5}
    response = client_as("pm_own").post("/api/v1/deals", json=hidden)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "supply_listing_id"]
    park_only = {"supply_listing_id": world["l_park"], "demand_listing_id": market["want_b1"], "quantity": 5}
    assert client_as("admin").post("/api/v1/deals", json=park_only).status_code == 422


def test_notes_deliveries_and_terms(client_as: Any, world: World, market: dict[str, int]) -> None:
    deal_id = _deal_in(world, market, "negotiating")
    fu, planner, other = client_as("fu_own"), client_as("planner"), client_as("fu_other")
    assert fu.post(f"/api/v1/deals/{deal_id}/notes", json={"text": "可以每周两车"}).status_code == 201
    assert planner.post(f"/api/v1/deals/{deal_id}/notes", json={"text": "x"}).status_code == 403
    assert other.get(f"/api/v1/deals/{deal_id}/notes").status_code == 404
    assert [n["text"] for n in planner.get(f"/api/v1/deals/{deal_id}/notes").json()] == ["可以每周两车"]
    terms = fu.patch(f"/api/v1/deals/{deal_id}/terms", json={
        "agreed_quantity": 8, "price": 35.5, "logistics": "buyer collects by truck",
        "start_date": "2026-01-01", "end_date": "2026-12-31"})
    assert terms.status_code == 200 and terms.json()["agreed_quantity"] == 8 and terms.json()["price"] == 35.5
    assert fu.post(f"/api/v1/deals/{deal_id}/deliveries",
                   json={"delivered_on": "2026-02-01", "quantity": 1}).status_code == 409  # not active yet
    fu.post(f"/api/v1/deals/{deal_id}/transitions", json={"action": "agree"})
    assert fu.patch(f"/api/v1/deals/{deal_id}/terms", json={"price": 1}).status_code == 409
    fu.post(f"/api/v1/deals/{deal_id}/transitions", json={"action": "activate"})
    made = fu.post(f"/api/v1/deals/{deal_id}/deliveries", json={"delivered_on": "2026-02-01", "quantity": 3})
    assert made.status_code == 201 and made.json()["manifest_number"] is None
    assert [d["quantity"] for d in planner.get(f"/api/v1/deals/{deal_id}/deliveries").json()] == [3]


def test_bad_input_names_the_field(client_as: Any, world: World, market: dict[str, int]) -> None:
    deal_id = _deal_in(world, market, "negotiating")
    pm = client_as("pm_own")
    cases: list[tuple[str, str, dict[str, Any], list[Any]]] = [
        ("post", "/api/v1/deals", {"supply_listing_id": world["l_public"], "demand_listing_id": market["want_a2"],
                                   "quantity": 0}, ["body", "quantity"]),
        ("post", "/api/v1/deals", {"supply_listing_id": world["l_public"], "demand_listing_id": market["want_a2"],
                                   "quantity": -3}, ["body", "quantity"]),
        ("post", "/api/v1/deals", {"supply_listing_id": world["l_public"], "demand_listing_id": 999_999,
                                   "quantity": 3}, ["body", "demand_listing_id"]),
        ("post", "/api/v1/deals", {"supply_listing_id": market["want_a2"], "demand_listing_id": market["want_b1"],
                                   "quantity": 3}, ["body", "supply_listing_id"]),
        ("post", "/api/v1/deals", {"proposal_id": 999_999}, ["body", "proposal_id"]),
        ("post", "/api/v1/deals", {"proposal_id": 1, "quantity": 3}, ["body"]),
        ("post", f"/api/v1/deals/{deal_id}/transitions", {"action": "explode"}, ["body", "action"]),
        ("post", f"/api/v1/deals/{deal_id}/transitions", {"action": "opt_in", "side": "both"}, ["body", "side"]),
        ("patch", f"/api/v1/deals/{deal_id}/terms", {"agreed_quantity": 0}, ["body", "agreed_quantity"]),
        ("patch", f"/api/v1/deals/{deal_id}/terms", {"start_date": "2026-05-01", "end_date": "2026-01-01"},
         ["body"]),
        ("patch", f"/api/v1/deals/{deal_id}/terms", {"agreed_quantity": None}, ["body", "agreed_quantity"]),
        ("patch", f"/api/v1/deals/{deal_id}/terms", {"colour": "red"}, ["body", "colour"]),
        ("post", f"/api/v1/deals/{deal_id}/notes", {"text": ""}, ["body", "text"]),
        ("post", f"/api/v1/deals/{deal_id}/deliveries", {"delivered_on": "2026-01-01", "quantity": 0},
         ["body", "quantity"]),
        ("post", f"/api/v1/deals/{deal_id}/deliveries", {"delivered_on": "yesterday", "quantity": 1},
         ["body", "delivered_on"]),
    ]
    for method, url, body, loc in cases:
        response = getattr(pm, method)(url, json=body)
        assert response.status_code == 422, (url, body, response.text)
        locs = [d["loc"][: len(loc)] for d in response.json()["detail"]]
        assert loc in locs, (url, body, response.json())
    assert pm.get("/api/v1/deals?status=sideways").status_code == 422
    assert pm.get("/api/v1/deals?sort=quantity").status_code == 422


def test_deal_lists_respect_roles(client_as: Any, world: World, market: dict[str, int]) -> None:
    same_park = _deal_in(world, market, "proposed")
    cross = _deal_in(world, market, "proposed", want="want_b1")
    seen = {role: {d["id"] for d in client_as(role).get("/api/v1/deals").json()["data"]} for role in ROLES}
    assert seen["admin"] == seen["planner"] == seen["pm_own"] == seen["fu_own"] == {same_park, cross}
    assert seen["fu_same_park"] == {same_park}
    assert seen["pm_other"] == seen["fu_other"] == {cross}
    assert client_as("fu_own").get(f"/api/v1/deals?status=proposed&listing_id={market['want_b1']}").json()[
        "count"] == 1
    assert date.today()  # keep the import honest


def test_listing_with_deals_keeps_what_the_deals_commit(client_as: Any, world: World,
                                                        market: dict[str, int]) -> None:
    with unit_of_work(world) as (session, admin):
        have = add_listing(session, admin, world["site_a1"], "have", "fly_ash", 100)
        deal = seed_deal(session, admin, have, market["want_a2"], 60)
        move(session, admin, deal, "opt_in", "negotiate", "agree")
    client = client_as("fu_own")
    gone = client.delete(f"/api/v1/listings/{have}")
    assert gone.status_code == 409 and "deal" in gone.json()["detail"]
    shrink = client.patch(f"/api/v1/listings/{have}", json={"quantity": 59})
    assert shrink.status_code == 409 and shrink.json()["code"] == "listing_committed"
    assert shrink.json()["loc"] == ["body", "quantity"] and "60" in shrink.json()["detail"]
    swap = client.patch(f"/api/v1/listings/{have}", json={"material": "bottom_ash"})
    assert swap.status_code == 409 and swap.json()["code"] == "listing_has_deals"
    assert swap.json()["loc"] == ["body", "material"]
    relabel = client.patch(f"/api/v1/listings/{have}", json={"unit": "kg", "quantity": 100_000})
    assert relabel.status_code == 409 and relabel.json()["loc"] == ["body", "unit"]
    assert client.patch(f"/api/v1/listings/{have}", json={"quantity": 60}).status_code == 200
    assert client.get(f"/api/v1/listings/{have}").json()["quantity"] == 60

"""The benefit ledger's part of the permission matrix: who reads a deal's frozen benefit records and who moves
their state (``policy.can_move_ledger``), for every role. The deal is firm_a1 (supplier) → firm_a2 (receiver),
both in park_a, active with one documented delivery; each allowed write gets a fresh deal."""

from typing import Any

from tests.backend.conftest import ROLES, World
from tests.backend.test_deals import add_listing, move, seed_deal, unit_of_work

PARTIES = {"admin": 201, "pm_own": 201, "fu_own": 201, "fu_same_park": 201}
NOT_SEEN = {"pm_other": 404, "fu_other": 404}
# (case, state the deal's benefits are in before, action, {role: status}); "*" for the other roles
CASES: list[tuple[str, str, str, dict[str, int]]] = [
    ("read records", "evidenced", "read", {**NOT_SEEN, "*": 200}),
    ("evidence", "estimated", "evidence", {**PARTIES, **NOT_SEEN, "*": 403}),
    ("verify", "evidenced", "verify", {"verifier": 201, **NOT_SEEN, "*": 403}),
    ("reject", "evidenced", "reject", {"verifier": 201, **NOT_SEEN, "*": 403}),
]


def _deal(world: World, state: str) -> tuple[int, int | None]:
    """A fresh active deal with one documented delivery; its benefits estimated or evidenced."""
    from backend.schemas_deals import DeliveryCreate, LedgerTransition
    from backend.services import deals

    with unit_of_work(world) as (session, admin):
        want = add_listing(session, admin, world["site_a2"], "want", "clinker", 1_000)
        deal_id = seed_deal(session, admin, world["l_public"], want, 500)
        move(session, admin, deal_id, "opt_in", "negotiate", "agree", "activate", agreed=500)
        from datetime import date

        deals.add_delivery(session=session, actor=admin, deal_id=deal_id, delivery_in=DeliveryCreate(
            delivered_on=date(2026, 2, 1), quantity=100, document_ref="磅单-1"))
        record_id = None
        if state == "evidenced":
            record_id = deals.move_ledger(session=session, actor=admin, deal_id=deal_id,
                                          move=LedgerTransition(action="evidence")).id
    return deal_id, record_id


def test_ledger_permissions_for_every_role(client_as: Any, world: World) -> None:
    """Every case for every role (one world: refused attempts share a deal per case, allowed writes get a
    fresh one), and a refused attempt changes nothing."""
    for name, state, action, expected in CASES:
        shared = _deal(world, state)
        for role in ROLES:
            want = expected.get(role, expected["*"])
            deal_id, record_id = _deal(world, state) if want == 201 else shared
            client = client_as(role)
            if action == "read":
                response = client.get(f"/api/v1/deals/{deal_id}/ledger/records")
            else:
                body: dict[str, Any] = {"action": action}
                if action in ("verify", "reject"):
                    body |= {"record_id": record_id, "note": "checked against the weighbridge tickets"}
                response = client.post(f"/api/v1/deals/{deal_id}/ledger/transitions", json=body)
            assert response.status_code == want, f"{role} {name}: {response.status_code} {response.text[:300]}"
            after = client_as("admin").get(f"/api/v1/deals/{deal_id}").json()["ledger_state"]
            if want == 201:
                assert after == {"evidence": "evidenced", "verify": "verified", "reject": "estimated"}[action]
            else:
                assert after == state, (role, name)  # a refused attempt changed nothing


def test_a_verifier_reads_deals_and_moves_nothing_else(client_as: Any, world: World) -> None:
    """Verifiers read every deal (as planners do) but never move one, add deliveries or notes, nor read firms'
    sites and permits."""
    deal_id, _ = _deal(world, "estimated")
    verifier = client_as("verifier")
    assert verifier.get(f"/api/v1/deals/{deal_id}").json()["your_sides"] == []
    assert verifier.get("/api/v1/deals").json()["count"] == 1
    assert verifier.get(f"/api/v1/deals/{deal_id}/deliveries").status_code == 200
    for path, body in ((f"/api/v1/deals/{deal_id}/transitions", {"action": "complete"}),
                       (f"/api/v1/deals/{deal_id}/deliveries", {"delivered_on": "2026-03-01", "quantity": 1}),
                       (f"/api/v1/deals/{deal_id}/notes", {"text": "hello"})):
        assert verifier.post(path, json=body).status_code == 403, path
    assert verifier.get(f"/api/v1/sites/{world['site_a1']}").status_code == 404
    assert verifier.get(f"/api/v1/permits/{world['permit_a1']}").status_code == 404

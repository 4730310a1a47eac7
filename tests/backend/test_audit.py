"""Every change lands in the audit log with who, when and what; secrets never do."""

from typing import Any

from tests.backend.conftest import World


def test_changes_are_logged_with_actor_and_diff(client_as: Any, world: World) -> None:
    client = client_as("fu_own")
    url = f"/api/v1/listings/{world['l_public']}"
    assert client.patch(url, json={"quantity": 777, "status": "closed"}).status_code == 200
    log = client_as("admin").get("/api/v1/audit", params={"entity": "listing", "entity_id": world["l_public"]}).json()
    update = log["data"][0]
    assert update["action"] == "update" and update["user_id"] == world["user_fu_own"]
    assert update["changes"]["quantity"] == {"from": 123456.0, "to": 777.0}
    assert update["changes"]["status"] == {"from": "active", "to": "closed"}
    assert log["data"][-1]["action"] == "create"
    assert client.delete(url).status_code == 204
    deleted = client_as("admin").get("/api/v1/audit", params={"entity": "listing", "entity_id": world["l_public"]})
    assert deleted.json()["data"][0]["action"] == "delete"


def test_failed_request_leaves_no_audit_rows(client_as: Any, world: World) -> None:
    admin = client_as("admin")
    before = admin.get("/api/v1/audit", params={"limit": 1}).json()["count"]
    assert client_as("fu_own").patch(f"/api/v1/listings/{world['l_public']}", json={"unit": "GJ"}).status_code == 422
    assert admin.get("/api/v1/audit", params={"limit": 1}).json()["count"] == before


def test_secrets_are_masked(client_as: Any, world: World) -> None:
    admin = client_as("admin")
    created = admin.post("/api/v1/users", json={"email": "new@test.cn", "name": "n", "role": "planner",
                                                "password": "secret-password-9"})
    assert created.status_code == 201
    entry = admin.get("/api/v1/audit", params={"entity": "app_user", "entity_id": created.json()["id"]}).json()
    changes = entry["data"][0]["changes"]
    assert changes["password_hash"] == "***"
    text = str(admin.get("/api/v1/audit", params={"limit": 500}).json())
    assert "argon2" not in text and "secret-password-9" not in text


# --- issue 11: the command line, the seed and cascaded deletes are audited too -----------------------------
def test_the_command_line_and_the_seed_write_audit_rows(tmp_path: Any) -> None:
    """``isx seed demo`` and ``isx user create``, each in a process of its own (as an operator runs them),
    leave a ``create`` row for every row they write, by the system (no user)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from sqlalchemy import create_engine, text

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    isx = str(Path(sys.executable).parent / "isx")
    env = os.environ | {"ISX_DATABASE_URL": url, "ISX_NEW_PASSWORD": "a-good-password"}
    for args in (["db", "upgrade"], ["seed", "demo"],
                 ["user", "create", "--email", "ops@test.cn", "--role", "planner"]):
        done = subprocess.run([isx, *args], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            def ids(table: str) -> set[int]:
                return set(conn.scalars(text(f"SELECT id FROM {table}")))

            def audited(table: str) -> set[int]:
                return set(conn.scalars(text("SELECT entity_id FROM audit_log WHERE action = 'create' "
                                             "AND entity = :t AND user_id IS NULL"), {"t": table}))

            for table in ("park", "firm", "site", "listing", "permit", "app_user"):
                assert ids(table) and ids(table) <= audited(table), table
            ops = conn.scalar(text("SELECT id FROM app_user WHERE email = 'ops@test.cn'"))
            assert ops in audited("app_user")
    finally:
        engine.dispose()


def test_proposals_deleted_by_cascade_leave_audit_rows(client_as: Any, world: World) -> None:
    """Deleting a listing deletes its proposals in the database (ON DELETE CASCADE): each gets a ``delete``
    row naming the listing that took it."""
    from backend.db import new_session
    from backend.models import MatchRun, Proposal

    with new_session() as session:
        run = MatchRun(kind="match", status="succeeded")
        session.add(run)
        session.flush()
        proposals = [Proposal(run_id=run.id or 0, supply_listing_id=world[supply], demand_listing_id=world["l_a2_want"],
                              material="fgd_gypsum", replaces="natural_gypsum", quantity=10.0, unit="t",
                              distance_km=12.0, mode="road", unit_benefit=1.0, net_benefit=10.0,
                              co2_avoided_t=1.0, explanation="x")
                     for supply in ("l_park", "l_public")]
        session.add_all(proposals)
        session.commit()
        gone, kept = proposals[0].id, proposals[1].id
    admin = client_as("admin")
    assert admin.delete(f"/api/v1/listings/{world['l_a2_want']}").status_code == 204
    for proposal_id in (gone, kept):
        log = admin.get("/api/v1/audit", params={"entity": "proposal", "entity_id": proposal_id}).json()["data"]
        assert log[0]["action"] == "delete" and log[0]["user_id"] == world["user_admin"]
        assert log[0]["changes"]["cascade_from"] == {"entity": "listing", "id": world["l_a2_want"]}
        assert log[0]["changes"]["quantity"] == 10.0


def test_run_deletion_and_emptied_references_are_audited(client_as: Any, world: World) -> None:
    """Deleting a run deletes its proposals (a row each, ``cascade_from`` the run); deleting an account empties
    the references to it declared ON DELETE SET NULL (an ``update`` row each, such as a run's creator)."""
    from backend.db import new_session
    from backend.models import MatchRun, Proposal

    with new_session() as session:
        run = MatchRun(kind="match", status="succeeded", created_by=world["user_planner"])
        session.add(run)
        session.flush()
        proposal = Proposal(run_id=run.id or 0, supply_listing_id=world["l_park"], demand_listing_id=world["l_a2_want"],
                            material="fgd_gypsum", replaces="natural_gypsum", quantity=5.0, unit="t", distance_km=12.0,
                            mode="road", unit_benefit=1.0, net_benefit=5.0, co2_avoided_t=0.5, explanation="x")
        session.add(proposal)
        session.commit()
        run_id, proposal_id = run.id, proposal.id
    admin = client_as("admin")
    assert admin.delete(f"/api/v1/users/{world['user_planner']}").status_code == 204
    log = admin.get("/api/v1/audit", params={"entity": "match_run", "entity_id": run_id}).json()["data"]
    assert log[0]["action"] == "update" and log[0]["user_id"] == world["user_admin"]
    assert log[0]["changes"] == {"created_by": {"from": world["user_planner"], "to": None},
                                 "cascade_from": {"entity": "app_user", "id": world["user_planner"]}}
    with new_session() as session:
        session.delete(session.get(MatchRun, run_id))
        session.commit()
    log = admin.get("/api/v1/audit", params={"entity": "proposal", "entity_id": proposal_id}).json()["data"]
    assert log[0]["action"] == "delete" and log[0]["user_id"] is None
    assert log[0]["changes"]["cascade_from"] == {"entity": "match_run", "id": run_id}

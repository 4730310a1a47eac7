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

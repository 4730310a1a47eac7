"""Login with argon2 passwords, signed session cookies with CSRF, and personal API tokens."""

from typing import Any

from fastapi.testclient import TestClient

from tests.backend.conftest import PASSWORD, World


def _login(app: Any, email: str, password: str = PASSWORD) -> tuple[TestClient, Any]:
    client = TestClient(app)
    return client, client.post("/api/v1/auth/login", json={"email": email, "password": password})


def test_login_sets_a_safe_cookie_and_the_csrf_token_guards_writes(app: Any, world: World) -> None:
    client, response = _login(app, world.emails["pm_own"])
    assert response.status_code == 200
    csrf = response.json()["csrf_token"]
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("isx_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert client.get("/api/v1/users/me").json()["role"] == "park_manager"
    url = f"/api/v1/firms/{world['firm_a1']}"
    refused = client.patch(url, json={"contact_name": "x"})
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert client.patch(url, json={"contact_name": "x"}, headers={"X-CSRF-Token": "0" * 64}).status_code == 403
    assert client.patch(url, json={"contact_name": "x"}, headers={"X-CSRF-Token": csrf}).status_code == 200
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get("/api/v1/users/me").status_code == 401


def test_wrong_password_and_unknown_account(app: Any, world: World) -> None:
    assert _login(app, world.emails["pm_own"], "wrong-password")[1].status_code == 401
    assert _login(app, "nobody@test.cn")[1].status_code == 401


def test_password_is_stored_as_argon2(world: World) -> None:
    from backend.db import new_session
    from backend.models import User

    with new_session() as session:
        user = session.get(User, world["user_fu_own"])
        assert user is not None and user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash


def test_tampered_cookie_is_ignored(app: Any, world: World) -> None:
    client, _ = _login(app, world.emails["fu_own"])
    value = client.cookies["isx_session"]
    client.cookies.set("isx_session", value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1])
    assert client.get("/api/v1/users/me").status_code == 401


def test_password_change_ends_other_sessions(app: Any, world: World) -> None:
    first, _ = _login(app, world.emails["fu_own"])
    second, response = _login(app, world.emails["fu_own"])
    csrf = response.json()["csrf_token"]
    wrong = second.patch("/api/v1/users/me", json={"password": "new-password-1", "current_password": "nope"},
                         headers={"X-CSRF-Token": csrf})
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["loc"] == ["body", "current_password"]
    ok = second.patch("/api/v1/users/me", json={"password": "new-password-1", "current_password": PASSWORD},
                      headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200
    assert first.get("/api/v1/users/me").status_code == 401
    assert _login(app, world.emails["fu_own"], "new-password-1")[1].status_code == 200


def test_api_tokens_are_shown_once_hashed_and_revocable(app: Any, client_as: Any, world: World) -> None:
    client = client_as("planner")
    created = client.post("/api/v1/users/me/tokens", json={"name": "script"})
    assert created.status_code == 201
    token = created.json()["token"]
    assert token.startswith("isx_")
    listed = client.get("/api/v1/users/me/tokens").json()
    assert all("token" not in t for t in listed) and {t["name"] for t in listed} == {"tests", "script"}
    with TestClient(app) as script:
        script.headers["Authorization"] = f"Bearer {token}"
        assert script.get("/api/v1/users/me").json()["role"] == "planner"
        # Bearer requests need no CSRF token, and the planner is still read-only.
        assert script.patch(f"/api/v1/parks/{world['park_a']}", json={"name_en": "x"}).status_code == 403
        assert client.delete(f"/api/v1/users/me/tokens/{created.json()['id']}").status_code == 204
        assert script.get("/api/v1/users/me").status_code == 401
    other = client_as("fu_own").delete(f"/api/v1/users/me/tokens/{listed[0]['id']}")
    assert other.status_code == 404


def test_deactivated_account_cannot_log_in(app: Any, client_as: Any, world: World) -> None:
    assert client_as("admin").patch(f"/api/v1/users/{world['user_fu_own']}",
                                    json={"is_active": False}).status_code == 200
    assert _login(app, world.emails["fu_own"])[1].status_code == 401
    assert client_as("fu_own").get("/api/v1/users/me").status_code == 401

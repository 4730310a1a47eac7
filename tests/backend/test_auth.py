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


# --- issue 11: server-side sessions, token lifetimes, throttling, CSRF only from the header ----------------
def _age(model: Any, row_id: int | None = None, **moved: Any) -> None:
    """Set datetime columns of rows of ``model`` (all rows, or one) to the given moments."""
    from sqlalchemy import update

    from backend.db import new_session

    with new_session() as session:
        stmt = update(model)
        if row_id is not None:
            stmt = stmt.where(model.id == row_id)
        session.execute(stmt.values(**moved))
        session.commit()


def test_logout_ends_the_session_for_a_stolen_copy_of_its_cookie(app: Any, world: World) -> None:
    client, response = _login(app, world.emails["admin"])
    csrf = response.json()["csrf_token"]
    thief = TestClient(app)
    thief.cookies.set("isx_session", client.cookies["isx_session"])
    assert thief.get("/api/v1/audit").status_code == 200
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert thief.get("/api/v1/audit").status_code == 401
    assert thief.patch("/api/v1/users/me", json={"name": "x"}, headers={"X-CSRF-Token": csrf}).status_code == 401


def test_sessions_end_when_idle_and_at_their_absolute_limit(app: Any, world: World) -> None:
    from datetime import timedelta

    from backend.config import get_settings
    from backend.models import AuthSession, utcnow

    idle, _ = _login(app, world.emails["fu_own"])
    old, _ = _login(app, world.emails["planner"])
    assert idle.get("/api/v1/users/me").status_code == 200 and old.get("/api/v1/users/me").status_code == 200
    settings = get_settings()
    now = utcnow()
    sessions = {s.user_id: s.id for s in _sessions()}
    _age(AuthSession, sessions[world["user_fu_own"]],
         last_seen_at=now - timedelta(seconds=settings.session_idle_s + 5))
    _age(AuthSession, sessions[world["user_planner"]], expires_at=now - timedelta(seconds=1))
    assert idle.get("/api/v1/users/me").status_code == 401
    assert old.get("/api/v1/users/me").status_code == 401
    fresh, _ = _login(app, world.emails["fu_own"])
    assert fresh.get("/api/v1/users/me").status_code == 200


def _sessions() -> list[Any]:
    from sqlalchemy import select

    from backend.db import new_session
    from backend.models import AuthSession

    with new_session() as session:
        return list(session.scalars(select(AuthSession)))


def test_a_cookie_forged_with_the_old_public_development_key_is_refused(app: Any, world: World) -> None:
    """ISX once signed cookies with a key published in its source; a cookie signed with it (in the old
    format or the new) reaches nothing, and without a session on the server no signed cookie does."""
    from itsdangerous import URLSafeTimedSerializer

    from backend.config import get_settings

    old_key = "isx-development-secret-key-do-not-use-in-production"
    assert get_settings().secret_key != old_key
    for payload in ({"uid": world["user_admin"], "ep": 0, "sid": "forged"}, {"sid": "forged"}):
        forged = URLSafeTimedSerializer(old_key, salt="isx-session").dumps(payload)
        client = TestClient(app)
        client.cookies.set("isx_session", forged)
        assert client.get("/api/v1/audit").status_code == 401
    signed_but_unknown = URLSafeTimedSerializer(get_settings().secret_key, salt="isx-session").dumps({"sid": "x"})
    client = TestClient(app)
    client.cookies.set("isx_session", signed_but_unknown)
    assert client.get("/api/v1/users/me").status_code == 401


def test_csrf_token_in_the_query_string_is_refused(app: Any, world: World) -> None:
    client, response = _login(app, world.emails["pm_own"])
    csrf = response.json()["csrf_token"]
    url = f"/api/v1/firms/{world['firm_a1']}"
    refused = client.patch(url, params={"csrf_token": csrf}, json={"contact_name": "x"})
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert client.patch(url, json={"contact_name": "x"}, headers={"X-CSRF-Token": csrf}).status_code == 200


def test_api_tokens_expire_by_default_and_when_their_lifetime_ends(app: Any, client_as: Any, world: World) -> None:
    from datetime import datetime, timedelta

    from backend.models import ApiToken, utcnow

    client = client_as("planner")
    default = client.post("/api/v1/users/me/tokens", json={"name": "default"}).json()
    short = client.post("/api/v1/users/me/tokens", json={"name": "short", "expires_in_days": 7}).json()
    for token, days in ((default, 90), (short, 7)):
        expires = datetime.fromisoformat(token["expires_at"])
        assert abs(expires - (utcnow() + timedelta(days=days))) < timedelta(minutes=5), token
    _age(ApiToken, default["id"], expires_at=utcnow() - timedelta(seconds=1))
    with TestClient(app) as script:
        script.headers["Authorization"] = f"Bearer {default['token']}"
        assert script.get("/api/v1/users/me").status_code == 401
        script.headers["Authorization"] = f"Bearer {short['token']}"
        assert script.get("/api/v1/users/me").status_code == 200


def test_password_change_revokes_tokens_and_other_sessions_but_not_this_one(app: Any, client_as: Any,
                                                                            world: World) -> None:
    other, _ = _login(app, world.emails["fu_own"])
    this, response = _login(app, world.emails["fu_own"])
    token = client_as("fu_own")
    assert token.get("/api/v1/users/me").status_code == 200
    changed = this.patch("/api/v1/users/me", json={"password": "new-password-1", "current_password": PASSWORD},
                         headers={"X-CSRF-Token": response.json()["csrf_token"]})
    assert changed.status_code == 200
    assert this.get("/api/v1/users/me").status_code == 200
    assert other.get("/api/v1/users/me").status_code == 401
    assert token.get("/api/v1/users/me").status_code == 401
    listed = this.get("/api/v1/users/me/tokens").json()
    assert listed and all(t["revoked_at"] for t in listed)


def test_password_reset_by_an_admin_revokes_every_token_and_session(app: Any, client_as: Any, world: World) -> None:
    session, _ = _login(app, world.emails["fu_same_park"])
    token = client_as("fu_same_park")
    reset = client_as("admin").patch(f"/api/v1/users/{world['user_fu_same_park']}",
                                     json={"password": "reset-by-admin-1"})
    assert reset.status_code == 200
    assert token.get("/api/v1/users/me").status_code == 401
    assert session.get("/api/v1/users/me").status_code == 401


def test_a_revoked_token_stays_listed_with_its_revocation_time(app: Any, client_as: Any, world: World) -> None:
    client = client_as("verifier")
    created = client.post("/api/v1/users/me/tokens", json={"name": "ci"}).json()
    assert client.delete(f"/api/v1/users/me/tokens/{created['id']}").status_code == 204
    assert client.delete(f"/api/v1/users/me/tokens/{created['id']}").status_code == 204  # idempotent
    listed = {t["name"]: t for t in client.get("/api/v1/users/me/tokens").json()}
    assert listed["ci"]["revoked_at"] is not None and listed["tests"]["revoked_at"] is None
    with TestClient(app) as script:
        script.headers["Authorization"] = f"Bearer {created['token']}"
        assert script.get("/api/v1/users/me").status_code == 401


def _audit(client: TestClient, action: str) -> list[dict[str, Any]]:
    rows = client.get("/api/v1/audit", params={"action": action, "limit": 500}).json()["data"]
    assert all(r["action"] == action and r["entity"] == "app_user" for r in rows)
    return rows


def test_failed_logins_are_throttled_per_account_and_audited(app: Any, client_as: Any, world: World) -> None:
    from backend.config import get_settings

    limit = get_settings().login_max_failures_account
    email = world.emails["fu_other"]
    for _ in range(limit):
        assert _login(app, email, "wrong-password-x")[1].status_code == 401
    locked = _login(app, email)[1]  # even the right password: the account is locked, unchecked
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= get_settings().login_lockout_s
    assert _login(app, world.emails["fu_own"])[1].status_code == 200  # other accounts are not locked
    failures = _audit(client_as("admin"), "login_failed")
    mine = [r for r in failures if r["changes"]["email"] == email]
    assert [r["changes"]["reason"] for r in mine].count("wrong_password") == limit
    assert [r["changes"]["reason"] for r in mine].count("locked") == 1
    assert all(r["entity_id"] == world["user_fu_other"] and r["changes"]["address"] == "testclient" for r in mine)
    text = str(failures)
    assert "wrong-password-x" not in text and PASSWORD not in text
    assert _login(app, "nobody@test.cn", "guess-1")[1].status_code == 401
    unknown = [r for r in _audit(client_as("admin"), "login_failed") if r["changes"]["email"] == "nobody@test.cn"]
    assert unknown and unknown[0]["changes"]["reason"] == "unknown_account" and unknown[0]["entity_id"] is None


def test_failed_logins_are_throttled_per_address(app: Any, world: World, monkeypatch: Any) -> None:
    from backend.config import get_settings

    monkeypatch.setenv("ISX_LOGIN_MAX_FAILURES_ADDRESS", "3")
    get_settings.cache_clear()
    try:
        for i in range(3):  # a different account each time: only the address links them
            assert _login(app, f"guess{i}@test.cn", "nope-nope")[1].status_code == 401
        refused = _login(app, world.emails["planner"])[1]
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    finally:
        monkeypatch.delenv("ISX_LOGIN_MAX_FAILURES_ADDRESS")
        get_settings.cache_clear()


def test_the_login_window_slides_and_a_success_clears_the_account(app: Any, world: World) -> None:
    from datetime import timedelta

    from backend.config import get_settings
    from backend.models import LoginAttempt, utcnow

    s = get_settings()
    email = world.emails["pm_other"]
    for _ in range(s.login_max_failures_account - 1):
        assert _login(app, email, "wrong-password")[1].status_code == 401
    assert _login(app, email)[1].status_code == 200  # below the limit; the success clears the count
    for _ in range(s.login_max_failures_account - 1):
        assert _login(app, email, "wrong-password")[1].status_code == 401
    assert _login(app, email)[1].status_code == 200
    for _ in range(s.login_max_failures_account):
        assert _login(app, email, "wrong-password")[1].status_code == 401
    assert _login(app, email)[1].status_code == 429
    # the lock-out ends when its period has passed since the failure that reached the limit
    _age(LoginAttempt, at=utcnow() - timedelta(seconds=s.login_lockout_s + 1))
    assert _login(app, email)[1].status_code == 200

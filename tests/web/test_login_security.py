"""The login page and sessions of the web UI under attack: login CSRF, throttling with a message in the page
language, logout that ends the session on the server, and no caching of signed-in pages."""

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.backend.conftest import PASSWORD, World
from tests.web.conftest import login_form


def test_the_login_form_needs_the_token_of_the_login_page(web_app: Any, world: World) -> None:
    """Login CSRF: another site cannot post its own credentials into this browser's session."""
    client = TestClient(web_app, follow_redirects=False)
    forged = client.post("/login", data={"email": world.emails["fu_own"], "password": PASSWORD})
    assert forged.status_code == 403 and "登录表单已过期" in forged.text
    assert not any(c.startswith("isx_session=") for c in forged.headers.get_list("set-cookie"))
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert token is not None
    other = TestClient(web_app, follow_redirects=False)  # the token alone, without this browser's cookie
    stolen = other.post("/login", data={"email": world.emails["fu_own"], "password": PASSWORD,
                                        "csrf_token": token.group(1)})
    assert stolen.status_code == 403
    ok = client.post("/login", data={"email": world.emails["fu_own"], "password": PASSWORD,
                                     "csrf_token": token.group(1)})
    assert ok.status_code == 303
    assert client.get("/api/v1/users/me").status_code == 200


def test_repeated_failed_logins_lock_the_account_with_a_message(web_app: Any, world: World) -> None:
    from backend.config import get_settings

    client = TestClient(web_app, follow_redirects=False)
    for _ in range(get_settings().login_max_failures_account):
        assert login_form(client, world.emails["fu_own"], "wrong-password").status_code == 401
    locked = login_form(client, world.emails["fu_own"], PASSWORD)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    minutes = -(-int(locked.headers["Retry-After"]) // 60)
    assert f"请 {minutes} 分钟后再试" in locked.text
    english = TestClient(web_app, follow_redirects=False)
    english.get("/login?lang=en")
    text = login_form(english, world.emails["fu_own"], PASSWORD).text
    assert "Too many failed logins" in text and PASSWORD not in text


def test_logout_ends_the_session_on_the_server(web_app: Any, world: World) -> None:
    client = TestClient(web_app, follow_redirects=False)
    assert login_form(client, world.emails["pm_own"], PASSWORD).status_code == 303
    thief = TestClient(web_app, follow_redirects=False)
    thief.cookies.set("isx_session", client.cookies["isx_session"])
    assert thief.get("/").status_code == 200
    csrf = re.search(r'data-csrf="([0-9a-f]+)"', client.get("/").text)
    assert csrf is not None
    assert client.post("/logout", data={"csrf_token": csrf.group(1)}).status_code == 303
    assert thief.get("/").status_code == 303 and thief.get("/").headers["location"] == "/login"


def test_signed_in_answers_are_never_stored_but_static_assets_are_cacheable(web_app: Any, world: World) -> None:
    client = TestClient(web_app, follow_redirects=False)
    assert login_form(client, world.emails["fu_own"], PASSWORD).status_code == 303
    for path in ("/", f"/firms/{world['firm_a1']}", "/api/v1/users/me", f"/api/v1/listings/{world['l_public']}",
                 "/login"):
        answer = client.get(path)
        assert answer.headers.get("cache-control") == "no-store", (path, answer.status_code)
    with TestClient(web_app) as script:
        script.headers["Authorization"] = f"Bearer {world.tokens['planner']}"
        assert script.get("/api/v1/parks").headers["cache-control"] == "no-store"
    for path in ("/static/css/isx.css", "/static/js/isx.js"):
        answer = client.get(path)
        assert answer.status_code == 200 and "no-store" not in answer.headers.get("cache-control", ""), path

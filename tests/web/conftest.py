"""Fixtures of the web tests.

- ``page_client(role)``: a TestClient on the composed app (``web.app``), logged in through the login page as
  one account of the small test world of ``tests/backend/conftest.py``.
- ``served``: the real server process on the demo region, once per module, on its own SQLite database
  (``isx db upgrade``, ``isx seed demo``, ``isx serve``), for the browser tests.
- ``browser`` / ``page``: Debian's Chromium driven by Playwright (never downloaded); a page fails its test
  when the browser logs an error, such as a Content-Security-Policy violation.
"""

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.backend.conftest import PASSWORD, World, build_world

ROOT = Path(__file__).resolve().parents[2]
ISX = str(Path(sys.executable).parent / "isx")
CHROMIUM = Path("/usr/bin/chromium")
VENDOR = ROOT / "web" / "static" / "vendor"
SCREENSHOTS = ROOT / "var" / "screenshots"
DEMO = {
    "firm": ("firm@isx-demo.cn", "firm-demo-2026"),
    "manager": ("manager.jjj@isx-demo.cn", "manager-demo-2026"),
    "planner": ("planner@isx-demo.cn", "planner-demo-2026"),
    "admin": ("admin@isx-demo.cn", "admin-demo-2026"),
}


# --- TestClient on the composed app ----------------------------------------------------------------------
@pytest.fixture
def web_app(engine: Any) -> Any:
    from web.app import create_app

    return create_app()


@pytest.fixture
def world(engine: Any) -> World:
    from backend.db import new_session

    session = new_session()
    try:
        w = build_world(session)
        session.commit()
    finally:
        session.close()
    return w


def csrf_of(client: TestClient) -> str:
    page = client.get("/")
    found = re.search(r'data-csrf="([0-9a-f]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def login_form(client: TestClient, email: str, password: str, **fields: str) -> Any:
    """``POST /login`` as a browser does: with the CSRF token of the login page it was shown first."""
    page = client.get("/login")
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert found, page.text[:500]
    return client.post("/login", data={"email": email, "password": password, "csrf_token": found.group(1),
                                       **fields})


@pytest.fixture
def page_client(web_app: Any, world: World) -> Iterator[Callable[[str], TestClient]]:
    """``page_client("fu_own")``: a browser-like client logged in through ``POST /login``; its
    ``headers`` carry the page's CSRF token the way HTMX sends it."""
    opened: list[TestClient] = []

    def make(role: str) -> TestClient:
        client = TestClient(web_app, follow_redirects=False)
        opened.append(client)
        answer = login_form(client, world.emails[role], PASSWORD)
        assert answer.status_code == 303, answer.text
        client.headers["X-CSRF-Token"] = csrf_of(client)
        client.headers["HX-Request"] = "true"
        return client

    yield make
    for client in opened:
        client.close()


# --- the real server and the browser ---------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)")
    if not (VENDOR / "htmx.min.js").exists():
        pytest.skip("front-end assets missing: run `make web-assets`")
    db = tmp_path_factory.mktemp("web-db") / "isx.db"
    env = os.environ | {"ISX_DATABASE_URL": f"sqlite:///{db}", "ISX_MAP_TILE_URL": ""}
    for args in (["db", "upgrade"], ["seed", "demo"]):
        done = subprocess.run([ISX, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    port = _free_port()
    log = tmp_path_factory.mktemp("web-log") / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([ISX, "serve", "--port", str(port)], env=env, cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None:
                    raise AssertionError(log.read_text()) from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser(served: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM),
                                      args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, served: str) -> Iterator[Any]:
    context = browser.new_context(base_url=served, viewport={"width": 1366, "height": 900}, locale="zh-CN")
    context.set_default_timeout(15_000)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    yield tab
    context.close()
    # Refused requests (403/422 answers the test provoked) log "Failed to load resource"; anything else,
    # such as a Content-Security-Policy violation or a script error, fails the test.
    real = [p for p in problems if "Failed to load resource" not in p]
    assert not real, real


def login(page: Any, who: str) -> None:
    email, password = DEMO[who]
    page.goto("/login")
    page.get_by_label(re.compile("电子邮箱|Email")).fill(email)
    page.get_by_label(re.compile("^(密码|Password)$")).fill(password)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/$"))


def shoot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # caret="initial": hiding the caret makes Playwright inject a <style>, which our CSP (rightly) blocks.
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True, caret="initial")


@contextmanager
def api_client(base: str, who: str) -> Iterator[httpx.Client]:
    """The JSON API as one demo account sees it (to compute what a page should show)."""
    with httpx.Client(base_url=base) as client:
        email, password = DEMO[who]
        assert client.post("/api/v1/auth/login", json={"email": email, "password": password}).status_code == 200
        yield client

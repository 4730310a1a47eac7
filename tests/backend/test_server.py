"""The real server process, as `make demo` runs it: migrate, seed the demo region, serve, call over HTTP."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ISX = str(Path(sys.executable).parent / "isx")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(database_url: str, engine: object) -> Iterator[str]:
    env = os.environ | {"ISX_DATABASE_URL": database_url}
    for args in (["db", "upgrade"], ["seed", "demo"]):
        done = subprocess.run([ISX, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    port = _free_port()
    proc = subprocess.Popen([ISX, "serve", "--port", str(port)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None:
                    raise AssertionError(proc.stdout.read().decode() if proc.stdout else "server died") from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_served_demo_answers_health_and_api(served: str) -> None:
    health = httpx.get(f"{served}/healthz").json()
    assert health["status"] == "ok" and health["database"]["ok"] is True and health["database"]["revision"]
    with httpx.Client(base_url=served) as client:
        login = client.post("/api/v1/auth/login",
                            json={"email": "planner@isx-demo.cn", "password": "planner-demo-2026"})
        assert login.status_code == 200, login.text
        parks = client.get("/api/v1/parks").json()
        assert parks["count"] >= 3
        listings = client.get("/api/v1/listings", params={"material": "fly_ash"}).json()
        assert listings["count"] > 0
        assert client.get("/docs").status_code == 200
        assert "/api/v1/listings" in client.get("/openapi.json").json()["paths"]

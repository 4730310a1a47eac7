"""The permission matrix: every endpoint × every role × own or other's object gets the right answer.

Roles are seen from firm_a1 in park_a: ``pm_own`` manages park_a, ``pm_other`` park_b; ``fu_own`` works for
firm_a1, ``fu_same_park`` for another firm of park_a, ``fu_other`` for a firm of park_b; ``verifier`` signs off
the evidence of deals' benefits (test_permissions_ledger.py) and reads no more than any signed-in user else.
"""

from collections.abc import Callable
from typing import Any

import pytest

from tests.backend.conftest import ROLES, World

Body = Callable[[World], dict[str, Any]] | None

# (case name, method, path template, body, {role: expected status}); "*" is the default for other roles.
CASES: list[tuple[str, str, str, Body, dict[str, int]]] = [
    ("list parks", "GET", "/api/v1/parks", None, {"*": 200}),
    ("read park", "GET", "/api/v1/parks/{park_a}", None, {"*": 200}),
    ("create park", "POST", "/api/v1/parks",
     lambda w: {"code": "new-park", "name_zh": "新园区", "name_en": "New", "province": "河北省",
                "lat": 39, "lon": 118},
     {"admin": 201, "*": 403}),
    ("edit own park", "PATCH", "/api/v1/parks/{park_a}", lambda w: {"name_en": "Renamed"},
     {"admin": 200, "pm_own": 200, "*": 403}),
    ("delete park", "DELETE", "/api/v1/parks/{park_empty}", None, {"admin": 204, "*": 403}),
    ("list firms", "GET", "/api/v1/firms", None, {"*": 200}),
    ("read firm", "GET", "/api/v1/firms/{firm_a1}", None, {"*": 200}),
    ("create firm", "POST", "/api/v1/firms",
     lambda w: {"name": "新厂", "industry_code": "3011", "park_id": w["park_a"]},
     {"admin": 201, "pm_own": 201, "*": 403}),
    ("edit firm", "PATCH", "/api/v1/firms/{firm_a1}", lambda w: {"contact_name": "王工"},
     {"admin": 200, "pm_own": 200, "fu_own": 200, "*": 403}),
    ("firm user moves own firm", "PATCH", "/api/v1/firms/{firm_a1}", lambda w: {"park_id": w["park_b"]},
     {"admin": 200, "pm_own": 403, "*": 403}),
    ("delete firm", "DELETE", "/api/v1/firms/{firm_a3}", None, {"admin": 204, "pm_own": 204, "*": 403}),
    ("list sites", "GET", "/api/v1/sites", None, {"*": 200}),
    ("read site", "GET", "/api/v1/sites/{site_a1}", None,
     {"admin": 200, "pm_own": 200, "fu_own": 200, "planner": 200, "*": 404}),
    ("create site", "POST", "/api/v1/sites",
     lambda w: {"firm_id": w["firm_a1"], "name": "三号厂区", "lat": 39.2, "lon": 118.2},
     {"admin": 201, "pm_own": 201, "fu_own": 201, "*": 403}),
    ("edit site", "PATCH", "/api/v1/sites/{site_a1}", lambda w: {"address": "新地址"},
     {"admin": 200, "pm_own": 200, "fu_own": 200, "planner": 403, "*": 404}),
    ("delete site", "DELETE", "/api/v1/sites/{site_a1_spare}", None,
     {"admin": 204, "pm_own": 204, "fu_own": 204, "planner": 403, "*": 404}),
    ("list listings", "GET", "/api/v1/listings", None, {"*": 200}),
    ("read public listing", "GET", "/api/v1/listings/{l_public}", None, {"*": 200}),
    ("read park listing", "GET", "/api/v1/listings/{l_park}", None,
     {"pm_other": 404, "fu_other": 404, "verifier": 404, "*": 200}),
    ("read anonymous listing", "GET", "/api/v1/listings/{l_anon}", None, {"*": 200}),
    ("read private listing", "GET", "/api/v1/listings/{l_private}", None, {"admin": 200, "fu_own": 200, "*": 404}),
    ("read draft listing", "GET", "/api/v1/listings/{l_draft}", None,
     {"admin": 200, "pm_own": 200, "fu_own": 200, "*": 404}),
    ("create listing", "POST", "/api/v1/listings",
     lambda w: {"site_id": w["site_a1"], "kind": "have", "material": "fly_ash", "quantity": 10, "unit": "t"},
     {"admin": 201, "pm_own": 201, "fu_own": 201, "planner": 403, "*": 422}),
    ("edit public listing", "PATCH", "/api/v1/listings/{l_public}", lambda w: {"quantity": 99},
     {"admin": 200, "pm_own": 200, "fu_own": 200, "*": 403}),
    ("edit private listing", "PATCH", "/api/v1/listings/{l_private}", lambda w: {"quantity": 99},
     {"admin": 200, "fu_own": 200, "*": 404}),
    ("delete listing", "DELETE", "/api/v1/listings/{l_public2}", None,
     {"admin": 204, "pm_own": 204, "fu_own": 204, "*": 403}),
    ("list permits", "GET", "/api/v1/permits", None, {"*": 200}),
    ("read permit", "GET", "/api/v1/permits/{permit_a1}", None,
     {"admin": 200, "pm_own": 200, "fu_own": 200, "planner": 200, "*": 404}),
    ("create permit", "POST", "/api/v1/permits",
     lambda w: {"firm_id": w["firm_a1"], "number": "X-2", "hw_codes": ["HW34"], "valid_from": "2025-01-01",
                "valid_to": "2027-01-01"},
     {"admin": 201, "pm_own": 201, "fu_own": 201, "*": 403}),
    ("edit permit", "PATCH", "/api/v1/permits/{permit_a1}", lambda w: {"hw_codes": ["HW08", "HW34"]},
     {"admin": 200, "pm_own": 200, "fu_own": 200, "planner": 403, "*": 404}),
    ("delete permit", "DELETE", "/api/v1/permits/{permit_a1}", None,
     {"admin": 204, "pm_own": 204, "fu_own": 204, "planner": 403, "*": 404}),
    ("list users", "GET", "/api/v1/users", None, {"*": 200}),
    ("read own firm's user", "GET", "/api/v1/users/{user_fu_own}", None,
     {"admin": 200, "pm_own": 200, "fu_own": 200, "*": 404}),
    ("create firm user", "POST", "/api/v1/users",
     lambda w: {"email": "new.user@test.cn", "name": "新用户", "role": "firm_user", "password": "long-enough-1",
                "firm_id": w["firm_a1"]},
     {"admin": 201, "pm_own": 201, "*": 403}),
    ("create admin", "POST", "/api/v1/users",
     lambda w: {"email": "new.admin@test.cn", "name": "Root", "role": "admin", "password": "long-enough-1"},
     {"admin": 201, "*": 403}),
    ("edit firm user", "PATCH", "/api/v1/users/{user_fu_own_colleague}", lambda w: {"name": "改名"},
     {"admin": 200, "pm_own": 200, "*": 404}),
    ("promote firm user", "PATCH", "/api/v1/users/{user_fu_own_colleague}",
     lambda w: {"role": "admin"}, {"admin": 200, "pm_own": 403, "*": 404}),
    ("delete firm user", "DELETE", "/api/v1/users/{user_fu_own_colleague}", None,
     {"admin": 204, "pm_own": 204, "*": 404}),
    ("read audit log", "GET", "/api/v1/audit", None, {"admin": 200, "*": 403}),
    ("import (dry run)", "POST", "/api/v1/imports", None, {"admin": 200, "pm_own": 200, "pm_other": 200, "*": 403}),
    ("own account", "GET", "/api/v1/users/me", None, {"*": 200}),
]

IMPORT_CSV = ("park,firm,industry_code,site,lat,lon,ref,kind,material,quantity,unit\n"
              "park-a,甲电厂,4411,site_a1,39.0123,118.5456,IMP-1,have,fly_ash,5000,t\n").encode()


READS = [c for c in CASES if c[1] == "GET"]
WRITES = [c for c in CASES if c[1] != "GET"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "method", "path", "body", "expected"), WRITES, ids=[c[0] for c in WRITES])
def test_write_permissions(client_as: Any, world: World, role: str, name: str, method: str, path: str,
                           body: Body, expected: dict[str, int]) -> None:
    client = client_as(role)
    url = path.format(**world.ids)
    if name.startswith("import"):
        response = client.post(url, files={"file": ("rows.csv", IMPORT_CSV, "text/csv")})
    else:
        response = client.request(method, url, json=body(world) if body else None)
    want = expected.get(role, expected["*"])
    assert response.status_code == want, f"{role} {method} {url}: {response.status_code} {response.text[:300]}"
    if name.startswith("import") and role == "pm_other":
        assert response.json()["ok"] is False  # a manager of another park may not import into park_a


def test_anonymous_request_is_refused(app: Any, world: World) -> None:
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        for path in ("/api/v1/parks", "/api/v1/listings", f"/api/v1/listings/{world['l_public']}"):
            assert client.get(path).status_code == 401
        assert client.get("/api/v1/listings", headers={"Authorization": "Bearer isx_wrong"}).status_code == 401


def test_lists_only_show_what_the_role_may_see(client_as: Any, world: World) -> None:
    def ids(role: str, path: str) -> set[int]:
        return {row["id"] for row in client_as(role).get(path, params={"limit": 500}).json()["data"]}

    firm_a1_sites = {world["site_a1"], world["site_a1_spare"]}
    assert ids("fu_own", "/api/v1/sites") == firm_a1_sites
    assert ids("fu_other", "/api/v1/sites") == {world["site_b1"]}
    assert ids("pm_own", "/api/v1/sites") == firm_a1_sites | {world["site_a2"]}
    assert len(ids("planner", "/api/v1/sites")) == 4
    assert ids("fu_other", "/api/v1/permits") == set()
    assert ids("planner", "/api/v1/permits") == {world["permit_a1"]}
    listed = ids("fu_other", "/api/v1/listings")
    assert world["l_private"] not in listed and world["l_draft"] not in listed and world["l_park"] not in listed
    assert {world["l_public"], world["l_anon"], world["l_b_public"]} <= listed
    assert world["l_private"] not in ids("planner", "/api/v1/listings")
    assert world["l_private"] not in ids("pm_own", "/api/v1/listings")
    assert world["l_private"] in ids("fu_own", "/api/v1/listings")
    assert ids("fu_own", "/api/v1/users") == {world["user_fu_own"]}
    assert ids("pm_own", "/api/v1/users") >= {world["user_pm_own"], world["user_fu_own"], world["user_fu_same_park"]}
    assert world["user_fu_other"] not in ids("pm_own", "/api/v1/users")

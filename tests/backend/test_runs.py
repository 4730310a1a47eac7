"""Match runs: lifecycle (start, progress, finish), cancellation, failure, restart, re-run replacement,
permissions, what-if runs, confidentiality of proposals, and bad input."""

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.backend.conftest import World
from tests.backend.test_deals import add_listing, add_site, unit_of_work

TERMINAL = ("succeeded", "failed", "cancelled")


@pytest.fixture(autouse=True)
def _drained() -> Iterator[None]:
    """No run may still be executing when the tables are emptied."""
    yield
    from backend.services.runs import wait_for_runs

    wait_for_runs()


@pytest.fixture
def exchange(world: World) -> dict[str, int]:
    """Wants the world's haves can serve: fly ash and gypsum in park_a, and the same at a site firm_b1
    (park_b) keeps next to park_a, so that only confidentiality keeps some links apart."""
    from backend.models import Site

    with unit_of_work(world) as (session, admin):
        near = add_site(session, admin, world["firm_b1"], "b1 depot in Hebei", 39.03, 118.56)
        # Rules are receiver-aware: gypsum only serves industries that use it, so firm_b1 (a phosphate firm) runs
        # a gypsum-board line (3024) at this depot for its gypsum want to be a real receiver.
        depot = session.get(Site, near)
        assert depot is not None
        depot.industry_codes = ["3024"]
        ids = {
            "site_b1_near": near,
            "want_a2_fly": add_listing(session, admin, world["site_a2"], "want", "fly_ash", 100_000),
            "want_b1_fly": add_listing(session, admin, near, "want", "fly_ash", 50_000),
            "want_b1_gypsum": add_listing(session, admin, near, "want", "natural_gypsum", 50_000),
        }
    return ids


def wait_run(client: Any, run_id: int, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/runs/{run_id}").json()
        if body["status"] in TERMINAL:
            return body
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} did not finish within {timeout} s")


def _start(world: World, role: str = "admin", **run: Any) -> int:
    from backend.schemas_deals import RunCreate
    from backend.services import runs

    with unit_of_work(world, role) as (session, actor):
        return runs.start_run(session=session, actor=actor, run_in=RunCreate.model_validate(
            {"scope": {"all": True}} | run)).id or 0


def _count(model: Any, *where: Any) -> int:
    with unit_of_work() as (session, _):
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _run(run_id: int) -> Any:
    from backend.models import MatchRun

    with unit_of_work() as (session, _):
        return session.get(MatchRun, run_id)


def test_run_lifecycle_through_the_api(client_as: Any, world: World, exchange: dict[str, int]) -> None:
    pm = client_as("pm_own")
    started = pm.post("/api/v1/runs", json={"scope": {"park_ids": [world["park_a"]]},
                                            "options": {"objective": "benefit", "time_limit": 30}})
    assert started.status_code == 202
    assert started.json()["status"] == "queued" and started.json()["percent"] == 0
    done = wait_run(pm, started.json()["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["stage"] == "done" and done["percent"] == 100
    assert done["started_at"] and done["finished_at"] and done["stats"]["solver"]
    assert done["kpis"]["links"] >= 2 and done["kpis"]["net_benefit"] > 0
    proposals = pm.get(f"/api/v1/runs/{done['id']}/proposals").json()
    assert proposals["count"] == done["kpis"]["links"]
    pairs = {(p["supply"]["id"], p["demand"]["id"]) for p in proposals["data"]}
    assert (world["l_park"], world["l_a2_want"]) in pairs  # a park listing inside its own park is fine
    for p in proposals["data"]:
        assert p["explanation"] and p["quantity"] > 0 and p["unit_benefit"] > 0
        parts = p["breakdown"]  # the explanation's parts, for telling it in the page's language
        assert parts["value"] + parts["disposal_avoided"] - parts["pretreatment"] - parts["transport"] \
            - parts["pipeline"] == pytest.approx(p["unit_benefit"], rel=1e-9)
        assert parts["rule"] and 0 < p["confidence"] <= 1  # the rule used, and how far to trust the link
        assert isinstance(p["reasons"], list)
        assert p["supply"]["firm_id"] == world["firm_a1"]  # park_a only: firm_b1's wants are out of scope
    assert client_as("fu_same_park").get("/api/v1/proposals").json()["count"] == len(
        [p for p in proposals["data"] if p["demand"]["firm_id"] == world["firm_a2"]])
    assert client_as("fu_other").get(f"/api/v1/runs/{done['id']}").status_code == 404
    assert client_as("pm_other").get(f"/api/v1/runs/{done['id']}").status_code == 404
    assert client_as("planner").get(f"/api/v1/runs/{done['id']}").status_code == 200
    assert done["id"] in [r["id"] for r in pm.get("/api/v1/runs").json()["data"]]


def test_progress_is_reported_stage_by_stage(world: World, exchange: dict[str, int]) -> None:
    from backend.services import runs

    run_id = _start(world)
    seen: list[tuple[str, int, str]] = []

    def record(stage: str, percent: int) -> None:
        stored = _run(run_id)  # what a poller sees at that moment: committed by the worker
        seen.append((stage, percent, stored.stage))

    runs.execute_run(run_id, on_progress=record)
    assert [s[0] for s in seen] == ["loading", "scenario", "solving", "storing", "done"]
    assert [s[1] for s in seen] == sorted(s[1] for s in seen)
    assert all(stage == stored for stage, _p, stored in seen[:-1])
    assert _run(run_id).status == "succeeded"


def test_a_cancelled_run_stores_nothing(client_as: Any, world: World, exchange: dict[str, int],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from backend.models import Proposal
    from backend.services import runs

    queued = _start(world)
    admin = client_as("admin")
    cancelled = admin.post(f"/api/v1/runs/{queued}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    runs.execute_run(queued)
    assert _run(queued).status == "cancelled"
    assert admin.post(f"/api/v1/runs/{queued}/cancel").status_code == 409

    # cancelled while solving: the flag is read when storing starts
    real_match = runs.match

    def cancelling_match(*args: Any, **kwargs: Any) -> Any:
        assert admin.post(f"/api/v1/runs/{running}/cancel").json()["cancel_requested"] is True
        return real_match(*args, **kwargs)

    monkeypatch.setattr(runs, "match", cancelling_match)
    running = _start(world)
    runs.execute_run(running)
    run = _run(running)
    assert run.status == "cancelled" and run.stage == "cancelled" and run.kpis == {}
    assert _count(Proposal) == 0
    assert client_as("pm_own").post(f"/api/v1/runs/{running}/cancel").status_code == 404  # not in their parks


def test_a_run_failing_while_storing_leaves_no_proposals(world: World, exchange: dict[str, int],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from backend.models import Proposal
    from backend.services import runs

    first = _start(world)
    runs.execute_run(first)
    before = _count(Proposal)
    assert before > 2
    calls = {"n": 0}
    real = runs._proposal_from_link

    def breaking(run: Any, link: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real(run, link)

    monkeypatch.setattr(runs, "_proposal_from_link", breaking)
    second = _start(world)
    runs.execute_run(second)
    run = _run(second)
    assert run.status == "failed" and "disk full" in (run.error or "")
    assert _count(Proposal, Proposal.run_id == second) == 0
    assert _count(Proposal, Proposal.run_id == first) == before  # the earlier run's proposals were not replaced


def test_restart_marks_unfinished_runs_failed(world: World) -> None:
    from fastapi.testclient import TestClient

    from backend.main import create_app
    from backend.models import MatchRun

    with unit_of_work() as (session, _):
        for status in ("queued", "running", "succeeded"):
            session.add(MatchRun(status=status, scope={"all": True, "resolved_park_ids": []}))
    with TestClient(create_app()):
        pass
    with unit_of_work() as (session, _):
        runs = {r.status: r for r in session.scalars(select(MatchRun))}
    assert set(runs) == {"failed", "succeeded"}
    assert _count(MatchRun, MatchRun.status == "failed", MatchRun.error == "interrupted by restart") == 2


def test_rerun_replaces_only_untouched_proposals(client_as: Any, world: World, exchange: dict[str, int]) -> None:
    from backend.models import Proposal
    from backend.services import runs

    first = _start(world)
    runs.execute_run(first)
    n_first = _count(Proposal, Proposal.run_id == first)
    fu = client_as("fu_own")
    kept = next(p for p in fu.get(f"/api/v1/proposals?run_id={first}").json()["data"]
                if p["demand"]["id"] == exchange["want_a2_fly"])
    made = fu.post("/api/v1/deals", json={"proposal_id": kept["id"]})
    assert made.status_code == 201 and made.json()["proposal_id"] == kept["id"]
    assert fu.get(f"/api/v1/proposals/{kept['id']}").json()["status"] == "forwarded"
    assert fu.post("/api/v1/deals", json={"proposal_id": kept["id"]}).status_code == 409

    def parks_of_first_run() -> list[tuple[int, int]]:
        data = client_as("admin").get(f"/api/v1/proposals?run_id={first}&limit=500").json()["data"]
        return sorted((p["supply"]["park_id"], p["demand"]["park_id"]) for p in data)

    before = parks_of_first_run()
    other_scope = _start(world, scope={"park_ids": [world["park_b"]]})  # re-decides park_b's own pairs only
    runs.execute_run(other_scope)
    park_b = (world["park_b"], world["park_b"])
    assert parks_of_first_run() == [pair for pair in before if pair != park_b]
    n_first -= before.count(park_b)

    n_other = _count(Proposal, Proposal.run_id == other_scope)
    second = _start(world)
    runs.execute_run(second)
    assert _run(second).kpis["replaced_proposals"] == n_first - 1 + n_other
    assert _count(Proposal, Proposal.run_id == other_scope) == 0
    assert _count(Proposal, Proposal.run_id == first) == 1
    assert fu.get(f"/api/v1/proposals/{kept['id']}").json()["deal_id"] == made.json()["id"]
    assert _count(Proposal, Proposal.run_id == second) >= n_first - 1


def test_who_may_start_runs(client_as: Any, world: World) -> None:
    park_a = {"scope": {"park_ids": [world["park_a"]]}}
    what_if = {"kind": "what_if", "scope": {"all": True}, "what_if": {"remove_firm_ids": [world["firm_a1"]]}}
    expected = [
        ("admin", {"scope": {"all": True}}, 202), ("admin", what_if, 202),
        ("pm_own", park_a, 202), ("pm_own", {"scope": {"park_ids": [world["park_b"]]}}, 403),
        ("pm_own", {"scope": {"park_ids": [world["park_a"], world["park_b"]]}}, 403),
        ("pm_own", {"scope": {"province": "河北省"}}, 403), ("pm_own", what_if, 403),
        ("pm_other", park_a, 403), ("fu_own", park_a, 403), ("fu_own", what_if, 403),
        ("planner", park_a, 403), ("planner", what_if, 202),
    ]
    for role, body, status in expected:
        response = client_as(role).post("/api/v1/runs", json=body)
        assert response.status_code == status, (role, body, response.text)
        if status == 202:
            wait_run(client_as(role), response.json()["id"])


def test_what_if_runs_create_no_proposals(client_as: Any, world: World, exchange: dict[str, int]) -> None:
    from backend.models import Proposal

    planner = client_as("planner")
    body = {"kind": "what_if", "scope": {"all": True},
            "what_if": {"remove_firm_ids": [world["firm_a2"]], "prices": {"natural_gypsum": 500}}}
    run = wait_run(planner, planner.post("/api/v1/runs", json=body).json()["id"])
    assert run["status"] == "succeeded", run["error"]
    links = run["result"]["links"]
    assert links and _count(Proposal) == 0
    assert all(link["demand_listing_id"] not in (world["l_a2_want"], exchange["want_a2_fly"]) for link in links)
    assert client_as("pm_own").get(f"/api/v1/runs/{run['id']}").status_code == 404
    assert client_as("admin").get(f"/api/v1/runs/{run['id']}").json()["result"]["links"][0]["quantity"]
    # both fly-ash wants (150 kt) need the anonymous fly ash too: the planner sees its links shaped
    body = {"kind": "what_if", "scope": {"all": True}, "what_if": {"prices": {"fly_ash": 250}}}
    run = wait_run(planner, planner.post("/api/v1/runs", json=body).json()["id"])
    anonymous = [link for link in run["result"]["links"] if link["supply_listing_id"] == world["l_anon"]]
    assert anonymous and all(link["quantity"] is None and link["anonymised"] for link in anonymous)
    assert all("explanation" not in link for link in anonymous)
    assert client_as("fu_own").get("/api/v1/proposals").json()["count"] == 0


def test_proposals_keep_listings_confidential(client_as: Any, world: World, exchange: dict[str, int]) -> None:
    from backend.models import Proposal
    from backend.services import runs

    # with park_a's gypsum want closed, the park-only FGD gypsum's only taker nearby is firm_b1's depot
    client_as("admin").patch(f"/api/v1/listings/{world['l_a2_want']}", json={"status": "closed"})
    run_id = _start(world)
    runs.execute_run(run_id)
    with unit_of_work() as (session, _):
        stored = {(p.supply_listing_id, p.demand_listing_id) for p in session.scalars(select(Proposal))}
    assert (world["l_park"], exchange["want_b1_gypsum"]) not in stored, \
        "a park listing was proposed to a firm of another park"
    assert any(d == exchange["want_b1_gypsum"] for _s, d in stored)  # served from elsewhere
    client_as("admin").patch(f"/api/v1/listings/{world['l_a2_want']}", json={"status": "active"})
    runs.execute_run(_start(world))
    admin = client_as("admin").get("/api/v1/proposals?limit=500").json()["data"]
    pairs = {(p["supply"]["id"], p["demand"]["id"]) for p in admin}
    assert (world["l_park"], world["l_a2_want"]) in pairs
    assert not any(world["l_private"] in pair or world["l_draft"] in pair for pair in pairs)
    # the anonymous fly ash (firm_a1) goes to firm_a2 or firm_b1: neither may learn who offers it
    anonymous = []
    for receiver in ("fu_same_park", "fu_other"):
        response = client_as(receiver).get("/api/v1/proposals?limit=500")
        mine = [p for p in response.json()["data"] if p["supply"]["id"] == world["l_anon"]]
        anonymous += mine
        if mine:
            assert "甲电厂" not in response.text.split(f'"id":{world["l_anon"]}', 1)[1].split('"demand"')[0]
    assert anonymous, "both fly-ash wants together need the anonymous fly ash too"
    for p in anonymous:
        assert p["anonymised"] and p["quantity"] is None and p["quantity_band"]
        assert p["supply"]["firm_id"] is None and p["supply"]["site_id"] is None
        assert p["supply"]["firm_name"] is None and p["supply"]["quantity"] is None
        assert p["explanation"] is None and p["net_benefit"] is None and p["distance_km"] % 10 == 0
        assert p["breakdown"] is None  # its parts would give the exact figures away as well
        assert p["confidence"] == round(p["confidence"], 1)  # the distance margin in it is coarsened too
        assert all(set(r) == {"code"} and r["code"] != "thin_margin" for r in p["reasons"])
    whole = [p for p in client_as("fu_own").get("/api/v1/proposals?limit=500").json()["data"]
             if p["supply"]["id"] == world["l_anon"]]
    assert whole and not whole[0]["anonymised"] and whole[0]["quantity"] > 0 and whole[0]["breakdown"]


def test_bad_run_input_names_the_field(client_as: Any, world: World) -> None:
    admin = client_as("admin")
    cases = [
        ({}, ["body", "scope"]),
        ({"scope": {}}, ["body", "scope"]),
        ({"scope": {"all": True, "province": "河北省"}}, ["body", "scope"]),
        ({"scope": {"park_ids": [999_999]}}, ["body", "scope", "park_ids", 0]),
        ({"scope": {"province": "火星"}}, ["body", "scope", "province"]),
        ({"scope": {"all": True}, "options": {"families": ["kryptonite"]}}, ["body", "options", "families", 0]),
        ({"scope": {"all": True}, "options": {"time_limit": 0}}, ["body", "options", "time_limit"]),
        ({"scope": {"all": True}, "options": {"mode": "quantum"}}, ["body", "options", "mode"]),
        ({"scope": {"all": True}, "options": {"objective": "fame"}}, ["body", "options", "objective"]),
        ({"scope": {"all": True}, "what_if": {"remove_firm_ids": [1]}}, ["body"]),
        ({"kind": "what_if", "scope": {"all": True}, "what_if": {"remove_firm_ids": [999_999]}},
         ["body", "what_if", "remove_firm_ids", 0]),
        ({"kind": "what_if", "scope": {"all": True}, "what_if": {"prices": {"unobtainium": 3}}},
         ["body", "what_if", "prices", "unobtainium"]),
        ({"kind": "what_if", "scope": {"all": True},
          "what_if": {"hubs": [{"id": "h1", "lat": 39, "lon": 118, "capacity": 10, "fixed_cost": 1}]}},
         ["body", "options", "mode"]),
        ({"kind": "what_if", "scope": {"all": True}, "what_if": {"transport": {"hyperloop": {}}}},
         ["body", "what_if", "transport", "hyperloop", "cost_per_tkm"]),
        ({"kind": "what_if", "scope": {"all": True},
          "what_if": {"distances": [{"from_site_id": 999_999, "to_site_id": 1, "km": 3}]}},
         ["body", "what_if", "distances", 0, "from_site_id"]),
    ]
    for body, loc in cases:
        response = admin.post("/api/v1/runs", json=body)
        assert response.status_code == 422, (body, response.text)
        locs = [d["loc"][: len(loc)] for d in response.json()["detail"]]
        assert loc in locs, (body, response.json())
    assert admin.get("/api/v1/runs?status=asleep").status_code == 422
    assert admin.get("/api/v1/runs/999999").status_code == 404

"""A database under load answers 503 with Retry-After, never a 500 after a long wait: a pool sized to the
server's threads, row-lock waits and statements bounded on PostgreSQL, transactions that end with the request
(issue 11, defect 14)."""

import os
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from tests.backend.conftest import World

needs_pg = pytest.mark.skipif(not os.environ.get("ISX_TEST_DATABASE_URL"),
                              reason="connection pools, row locks and lock_timeout are PostgreSQL's here (SQLite "
                                     "takes one file lock); run with ISX_TEST_DATABASE_URL")


@pytest.fixture
def small_engine(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The app's requests get an engine of two connections that gives up on a pool wait after 0.3 s and on a
    row lock after 0.2 s (answering ``Retry-After: 3``)."""
    from backend import db
    from backend.config import Settings, get_settings

    engine = db.build_engine(database_url, Settings(db_pool_size=2, db_max_overflow=0, db_pool_timeout_s=0.3,
                                                    db_lock_timeout_ms=200))
    monkeypatch.setattr(db, "get_engine", lambda: engine)
    monkeypatch.setattr(get_settings(), "busy_retry_after_s", 3)
    yield engine
    engine.dispose()


def _busy(answer: Any) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "3"
    assert answer.json()["code"] == "busy" and "try again" in answer.json()["detail"]


@needs_pg
def test_a_row_lock_held_too_long_answers_503(client_as: Any, world: World, small_engine: Any,
                                              database_url: str) -> None:
    from backend.db import engine_for

    client = client_as("fu_own")
    url = f"/api/v1/listings/{world['l_public']}"
    with engine_for(database_url).connect() as holder:  # another transaction holds the row (e.g. an agreement)
        holder.execute(text("SELECT id FROM listing WHERE id = :id FOR UPDATE"), {"id": world["l_public"]})
        _busy(client.patch(url, json={"quantity": 1_000}))
        assert client.get(url).status_code == 200  # readers do not wait on row locks
        holder.rollback()
    assert client.patch(url, json={"quantity": 1_000}).json()["quantity"] == 1_000
    assert small_engine.pool.checkedout() == 0  # every request gave its connection back


@needs_pg
def test_an_exhausted_pool_answers_503(client_as: Any, world: World, small_engine: Any) -> None:
    client = client_as("planner")
    held = [small_engine.connect() for _ in range(2)]  # two long requests hold both connections
    try:
        _busy(client.get("/api/v1/listings"))
    finally:
        for conn in held:
            conn.close()
    assert client.get("/api/v1/listings").status_code == 200


@needs_pg
def test_connections_carry_the_limits(engine: Any) -> None:
    from backend.config import get_settings

    settings = get_settings()
    with engine.connect() as conn:
        shown = {name: conn.execute(text(f"SHOW {name}")).scalar_one()
                 for name in ("lock_timeout", "statement_timeout", "idle_in_transaction_session_timeout")}
    idle_min = settings.db_idle_in_transaction_timeout_ms // 60_000
    assert shown == {"lock_timeout": f"{settings.db_lock_timeout_ms // 1000}s",
                     "statement_timeout": f"{settings.db_statement_timeout_ms // 60_000}min",
                     "idle_in_transaction_session_timeout": f"{idle_min}min"}
    assert engine.pool.size() == settings.db_pool_size


def test_the_pool_follows_the_threads_unless_told_otherwise() -> None:
    from backend.config import DEFAULT_WORKER_THREADS, Settings

    default = Settings()
    assert default.worker_threads == DEFAULT_WORKER_THREADS == 40  # anyio's default thread limiter
    assert default.db_pool_size + default.db_max_overflow == 42  # the threads, the run worker, an error page
    assert Settings(worker_threads=100).db_max_overflow == 82
    assert Settings(worker_threads=100, db_max_overflow=5).db_max_overflow == 5


def test_other_database_errors_stay_server_errors() -> None:
    """Only saturation is a 503: a bug (a missing table, a constraint) must still show as one."""
    import sqlite3

    from sqlalchemy.exc import IntegrityError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from backend.db import busy_reason

    assert busy_reason(PoolTimeout("QueuePool limit reached")) == "no free connection"
    assert busy_reason(OperationalError("UPDATE", {}, sqlite3.OperationalError("database is locked")))
    assert busy_reason(OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: x"))) is None
    assert busy_reason(IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE"))) is None


@needs_pg
def test_a_match_run_holds_no_transaction_open_while_it_solves(world: World, engine: Any) -> None:
    """The run worker commits its progress and re-reads the cancel flag; the solver then works for as long as
    it needs without a transaction left idle (which PostgreSQL would end after the idle limit, and which
    holds back vacuum meanwhile)."""
    from backend.schemas_deals import RunCreate
    from backend.services import runs
    from tests.backend.test_deals import add_listing, unit_of_work

    with unit_of_work(world) as (session, admin):
        add_listing(session, admin, world["site_a2"], "want", "fly_ash", 100_000)
        run_id = runs.start_run(session=session, actor=admin, run_in=RunCreate.model_validate(
            {"scope": {"all": True}})).id or 0
    idle: dict[str, int] = {}

    def watch(stage: str, _percent: int) -> None:
        with engine.connect() as conn:
            idle[stage] = conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state = 'idle in transaction' AND pid <> pg_backend_pid()")).scalar_one()

    runs.execute_run(run_id, on_progress=watch)
    assert idle["solving"] == 0 and idle["storing"] == 0, idle

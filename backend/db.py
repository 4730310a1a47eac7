"""Engine and session handling. One engine per database URL; SQLite gets foreign keys and math functions."""

import math
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine

from backend import audit  # noqa: F401  (the audit-log hooks, for every process that opens a session)
from backend.config import Settings, get_settings


def _sqlite_on_connect(dbapi_conn, _record) -> None:
    dbapi_conn.execute("PRAGMA foreign_keys=ON")
    dbapi_conn.execute("PRAGMA busy_timeout=10000")
    # Builds of SQLite without SQLITE_ENABLE_MATH_FUNCTIONS lack these; the distance filter needs them.
    for name, fn in (("sin", math.sin), ("cos", math.cos), ("asin", math.asin), ("sqrt", math.sqrt),
                     ("radians", math.radians)):
        try:
            dbapi_conn.execute(f"SELECT {name}(0.5)")
        except Exception:
            dbapi_conn.create_function(name, 1, fn, deterministic=True)


@cache
def engine_for(url: str) -> Engine:
    return build_engine(url, get_settings())


def build_engine(url: str, settings: Settings) -> Engine:
    """An engine for ``url``. PostgreSQL: a pool sized to the server's threads (``Settings.db_pool_size``,
    ``db_max_overflow``, ``db_pool_timeout_s``) and per-connection limits so that no request waits on a lock,
    runs a statement or idles in a transaction for long (``db_lock_timeout_ms``, ``db_statement_timeout_ms``,
    ``db_idle_in_transaction_timeout_ms``); what exceeds them is answered 503 (``busy_reason``)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    connect_args: dict[str, str] = {}
    if parsed.get_backend_name() == "postgresql":
        limits = {"lock_timeout": settings.db_lock_timeout_ms, "statement_timeout": settings.db_statement_timeout_ms,
                  "idle_in_transaction_session_timeout": settings.db_idle_in_transaction_timeout_ms}
        connect_args["options"] = " ".join(f"-c {name}={ms}" for name, ms in limits.items())
    return create_engine(url, pool_pre_ping=True, pool_size=settings.db_pool_size,
                         max_overflow=settings.db_max_overflow, pool_timeout=settings.db_pool_timeout_s,
                         connect_args=connect_args)


# PostgreSQL SQLSTATEs of a database momentarily saturated: worth a retry, never a server error.
BUSY_SQLSTATES = {
    "55P03": "a row lock wait timed out",  # lock_not_available (lock_timeout)
    "57014": "a statement timed out",  # query_canceled (statement_timeout)
    "40P01": "a deadlock was broken",  # deadlock_detected
    "40001": "a concurrent change",  # serialization_failure
    "53300": "too many connections",  # too_many_connections
    "57P03": "the server is starting or stopping",  # cannot_connect_now
}


def busy_reason(exc: BaseException) -> str | None:
    """Why a database error means "busy, retry shortly" (pool exhausted, lock or statement timeout, deadlock
    victim, too many connections, SQLite's write lock), or ``None`` for any other error."""
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if isinstance(exc, PoolTimeout):
        return "no free connection"
    if not isinstance(exc, OperationalError):
        return None
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if code in BUSY_SQLSTATES:
        return BUSY_SQLSTATES[code]
    if "database is locked" in str(exc.orig):  # SQLite: another writer held the lock past busy_timeout
        return "another write is in progress"
    return None


def retry_after_s() -> int:
    return get_settings().busy_retry_after_s


def get_engine() -> Engine:
    return engine_for(get_settings().database_url)


def new_session(engine: Engine | None = None) -> Session:
    return Session(engine or get_engine(), expire_on_commit=False)


def session_scope() -> Iterator[Session]:
    """Commit once at the end of a unit of work, roll back on any error."""
    session = new_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()

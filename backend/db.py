"""Engine and session handling. One engine per database URL; SQLite gets foreign keys and math functions."""

import math
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine

from backend import audit  # noqa: F401  (the audit-log hooks, for every process that opens a session)
from backend.config import get_settings


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
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    return create_engine(url, pool_pre_ping=True)


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

"""Shared fixtures: a real database per test session (SQLite file, or a fresh PostgreSQL database when
ISX_TEST_DATABASE_URL is set), migrated with Alembic, and emptied after every test that used it."""

import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Cheap argon2 parameters for the test run (still real argon2); set before any settings are read.
os.environ.setdefault("ISX_ARGON2_TIME_COST", "1")
os.environ.setdefault("ISX_ARGON2_MEMORY_KIB", "1024")
os.environ["ISX_ENV"] = "test"
# Uploads kept between an import's preview and its confirm go to a directory of this test run.
os.environ.setdefault("ISX_UPLOAD_STAGING_DIR", tempfile.mkdtemp(prefix="isx-staged-"))

PG_ENV = "ISX_TEST_DATABASE_URL"

# Property tests draw the same examples on every run by default, so that a run on CI answers for the code and
# not for the draw; `ISX_HYPOTHESIS_PROFILE=explore` draws new ones each run to look for counterexamples.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("repeatable", derandomize=True, database=None)
_hypothesis_settings.register_profile("explore", derandomize=False)
_hypothesis_settings.load_profile(os.environ.get("ISX_HYPOTHESIS_PROFILE", "repeatable"))


def _create_pg_database(base_url: str) -> tuple[str, str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"isx_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False), name


def _drop_pg_database(base_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database for this test session; the app reads it through ISX_DATABASE_URL."""
    from backend.config import get_settings

    base = os.environ.get(PG_ENV)
    pg_name = None
    if base:
        url, pg_name = _create_pg_database(base)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'isx.db'}"
    os.environ["ISX_DATABASE_URL"] = url
    get_settings.cache_clear()
    migrate(url, "head")
    yield url
    from backend.db import engine_for

    engine_for(url).dispose()
    if base and pg_name:
        _drop_pg_database(base, pg_name)


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config(str(Path(__file__).resolve().parents[1] / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str, revision: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


@pytest.fixture
def engine(database_url: str) -> Iterator[object]:
    """The test database's engine; every table is emptied after the test."""
    from sqlalchemy import text

    from backend.db import engine_for
    from backend.models import metadata

    eng = engine_for(database_url)
    yield eng
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    with eng.begin() as conn:  # DELETE beats TRUNCATE on tables this small, on both databases
        for table in tables:
            conn.execute(text(f'DELETE FROM "{table}"'))

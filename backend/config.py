"""Runtime configuration, read from the environment (prefix ``ISX_``) and an optional ``.env`` file."""

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Threads that run the app's ``def`` routes and dependencies (anyio's default limiter under uvicorn). Each
# request holds one database connection while it runs, so the pool is sized to this, plus the match-run
# worker and an error page's own session (``db_pool_size`` + ``db_max_overflow`` = 42 by default).
DEFAULT_WORKER_THREADS = 40
DEV_SECRET_KEY = "isx-development-secret-key-do-not-use-in-production"


def default_database_url() -> str:
    return f"sqlite:///{PROJECT_ROOT / 'var' / 'isx.db'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ISX_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    database_url: str = Field(
        default_factory=default_database_url,
        validation_alias=AliasChoices("ISX_DATABASE_URL", "DATABASE_URL"),
        description="SQLAlchemy URL; SQLite file under ./var/ by default, postgresql+psycopg://... for PostgreSQL.",
    )
    secret_key: str = Field(default=DEV_SECRET_KEY, min_length=16)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    session_max_age_s: int = Field(default=14 * 24 * 3600, ge=60)
    cookie_secure: bool = False
    max_upload_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    max_import_rows: int = Field(default=20_000, ge=1)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    # Web map background. Empty: no tile server, the map draws an offline background (graticule and
    # province labels). A URL template such as https://tiles.example.cn/{z}/{x}/{y}.png uses that server.
    map_tile_url: str = Field(default="", max_length=500)
    map_attribution: str = Field(default="", max_length=500)
    # Deliveries: a calendar year's deliveries on a deal may exceed its agreed yearly quantity by this share
    # before the parties must give an explicit, audited reason. A platform policy, not a measured figure: it
    # admits the ordinary spread of weighed tonnes (moisture of ash and slag, weighbridge rounding, a
    # delivery booked across the new year) and nothing more. 0 admits no overrun at all.
    delivery_tolerance: float = Field(default=0.10, ge=0.0, le=1.0)
    # The database under load (PostgreSQL; SQLite uses one connection per thread and ignores these). One
    # uvicorn process serves at most ``worker_threads`` requests at a time, each holding one connection: the
    # pool holds that many (``db_pool_size`` kept open, ``db_max_overflow`` opened on demand). A request that
    # finds no free connection within ``db_pool_timeout_s``, or waits on a row lock longer than
    # ``db_lock_timeout_ms``, is answered 503 with ``Retry-After: busy_retry_after_s`` instead of hanging.
    # Several processes (``uvicorn --workers N``) need N × (pool size + overflow) below PostgreSQL's
    # max_connections (100 by default).
    worker_threads: int = Field(default=DEFAULT_WORKER_THREADS, ge=1, le=1000)
    db_pool_size: int = Field(default=20, ge=1, le=1000)
    db_max_overflow: int = Field(default=DEFAULT_WORKER_THREADS + 2 - 20, ge=0, le=1000)
    db_pool_timeout_s: float = Field(default=5.0, gt=0, le=300)
    db_lock_timeout_ms: int = Field(default=5_000, ge=0, description="0: wait forever")
    db_statement_timeout_ms: int = Field(default=60_000, ge=0, description="0: no limit")
    db_idle_in_transaction_timeout_ms: int = Field(default=60_000, ge=0, description="0: no limit")
    busy_retry_after_s: int = Field(default=2, ge=1, le=3600)

    @model_validator(mode="after")
    def _secret_outside_development(self) -> "Settings":
        if self.env == "production" and self.secret_key == DEV_SECRET_KEY:
            raise ValueError("ISX_SECRET_KEY must be set to a private value when ISX_ENV=production")
        return self

    @model_validator(mode="after")
    def _pool_fits_the_threads(self) -> "Settings":
        """Unless set, the overflow makes the pool as large as the threads plus two (run worker, error page)."""
        if "db_max_overflow" not in self.model_fields_set:
            self.db_max_overflow = max(0, self.worker_threads + 2 - self.db_pool_size)
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@cache
def get_settings() -> Settings:
    return Settings()

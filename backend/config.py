"""Runtime configuration, read from the environment (prefix ``ISX_``) and an optional ``.env`` file.

The secret key signs session cookies and CSRF tokens. In production it must be set, at least 32 bytes long and
not guessable (:func:`weak_secret_reason`); start-up refuses anything else with the reason. In development an
unset key is generated once into ``var/secret_key`` (git-ignored) and reused, so no published key ever signs a
cookie; in tests an unset key is a fresh random one per process.
"""

import math
import os
import secrets
from collections import Counter
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Threads that run the app's ``def`` routes and dependencies (anyio's default limiter under uvicorn). Each
# request holds one database connection while it runs, so the pool is sized to this, plus the match-run
# worker and an error page's own session (``db_pool_size`` + ``db_max_overflow`` = 42 by default).
DEFAULT_WORKER_THREADS = 40
LOCAL_SECRET_FILE = PROJECT_ROOT / "var" / "secret_key"
MIN_SECRET_BYTES = 32
MIN_SECRET_BITS = 80  # estimated from the key's own character frequencies (a lower bound for random keys)
# Keys that were published (the .env.example placeholder, the development key ISX once shipped with): anyone
# can sign a cookie with them.
PUBLISHED_SECRETS = frozenset({"change-me-to-a-long-random-value",
                               "isx-development-secret-key-do-not-use-in-production"})
GENERATE_HINT = 'generate one with: python -c "import secrets; print(secrets.token_urlsafe(48))"'


# The key of a test process without one: random, but one per process, so settings read again (a test that
# changes a setting) keep the sessions signed before valid.
_PROCESS_SECRET = secrets.token_urlsafe(48)


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
    # Empty: generated (development: once, into var/secret_key; test: per process); production must set it.
    secret_key: str = Field(default="", repr=False)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # A browser session ends this long after login (absolute) or after this long without a request (idle).
    session_max_age_s: int = Field(default=7 * 24 * 3600, ge=60)
    session_idle_s: int = Field(default=8 * 3600, ge=60)
    # Personal API tokens expire after this many days unless their creator chooses another lifetime.
    api_token_days: int = Field(default=90, ge=1, le=3650)
    # Login throttling: failed logins counted over a sliding window; an account (or a client address) that
    # reaches its limit within the window is locked for login_lockout_s (answers 429 with Retry-After).
    login_window_s: int = Field(default=15 * 60, ge=1)
    login_max_failures_account: int = Field(default=5, ge=1)
    login_max_failures_address: int = Field(default=20, ge=1)
    login_lockout_s: int = Field(default=15 * 60, ge=1)
    cookie_secure: bool = False
    max_upload_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    max_import_rows: int = Field(default=20_000, ge=1)
    # The web import's preview keeps the uploaded file here until its confirm step (or for this many seconds).
    upload_staging_dir: Path = Field(default_factory=lambda: PROJECT_ROOT / "var" / "uploads")
    staged_upload_ttl_s: int = Field(default=3600, ge=60)
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
    # k-anonymity of aggregates (backend.disclosure): a KPI row over fewer firms than this is withheld from
    # viewers who do not speak for every firm behind it. 1 turns the rule off.
    kpi_min_firms: int = Field(default=3, ge=1, le=100)

    @model_validator(mode="after")
    def _secret_key(self) -> "Settings":
        if self.env == "production":
            if not self.secret_key:
                raise ValueError(f"ISX_SECRET_KEY must be set when ISX_ENV=production; {GENERATE_HINT}")
            problem = weak_secret_reason(self.secret_key)
            if problem:
                raise ValueError(f"ISX_SECRET_KEY is too weak for production: {problem}; {GENERATE_HINT}")
        elif not self.secret_key:
            self.secret_key = local_secret_key() if self.env == "development" else _PROCESS_SECRET
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


def weak_secret_reason(key: str) -> str | None:
    """Why ``key`` is unfit to sign production cookies, or None: published, shorter than 32 bytes, too few
    different characters, a repeated pattern, a run of consecutive characters, or too little entropy."""
    if key.strip() in PUBLISHED_SECRETS or "change-me" in key.lower():
        return "it is a published example value (.env.example or the old development key)"
    size = len(key.encode())
    if size < MIN_SECRET_BYTES:
        return f"it is {size} bytes long, at least {MIN_SECRET_BYTES} bytes are needed"
    if len(set(key)) < 8:
        return f"it uses only {len(set(key))} different characters"
    period = next((p for p in range(1, len(key) // 2 + 1) if all(key[i] == key[i % p] for i in range(len(key)))),
                  None)
    if period is not None:
        return f"it repeats a pattern of {period} characters"
    steps = sum(1 for a, b in pairwise(key) if abs(ord(a) - ord(b)) <= 1)
    if steps * 10 > (len(key) - 1) * 6:
        return "it is mostly runs of repeated or consecutive characters"
    counts = Counter(key)
    bits = -sum(n * math.log2(n / len(key)) for n in counts.values())
    if bits < MIN_SECRET_BITS:
        return f"it carries about {bits:.0f} bits of entropy, at least {MIN_SECRET_BITS} are needed"
    return None


def local_secret_key(path: Path | None = None) -> str:
    """This installation's own development key: read from ``path`` (default ``var/secret_key``), created
    there (mode 0600) on first use.

    Created atomically (written beside, then hard-linked into place), so two processes starting together
    agree on one key."""
    path = path or LOCAL_SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    key = path.read_text().strip()
    if weak_secret_reason(key):
        raise ValueError(f"{path} does not hold a usable secret key; delete it to have a new one generated")
    return key


@cache
def get_settings() -> Settings:
    return Settings()

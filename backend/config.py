"""Runtime configuration, read from the environment (prefix ``ISX_``) and an optional ``.env`` file."""

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]
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
    # k-anonymity of aggregates (backend.disclosure): a KPI row over fewer firms than this is withheld from
    # viewers who do not speak for every firm behind it. 1 turns the rule off.
    kpi_min_firms: int = Field(default=3, ge=1, le=100)

    @model_validator(mode="after")
    def _secret_outside_development(self) -> "Settings":
        if self.env == "production" and self.secret_key == DEV_SECRET_KEY:
            raise ValueError("ISX_SECRET_KEY must be set to a private value when ISX_ENV=production")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@cache
def get_settings() -> Settings:
    return Settings()

"""Table models of ISX. One table model per entity; API shapes live in ``backend.schemas``.

No ``from __future__ import annotations`` here: SQLModel reads the annotations at class creation.
"""

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, DateTime, MetaData, UniqueConstraint
from sqlmodel import Field, SQLModel

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata

ROLES = ("admin", "park_manager", "firm_user", "planner")
KINDS = ("have", "want")
PERIODS = ("year", "once")
VISIBILITIES = ("public", "park", "anonymous", "private")
STATUSES = ("draft", "active", "closed")
LOGISTICS = ("buyer_collects", "seller_delivers", "third_party", "any")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts() -> Any:
    return Field(default_factory=utcnow, sa_type=DateTime(timezone=True), nullable=False)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UserPark(SQLModel, table=True):
    """Parks a park manager is responsible for."""

    __tablename__ = "user_park"
    user_id: int = Field(foreign_key="app_user.id", primary_key=True, ondelete="CASCADE")
    park_id: int = Field(foreign_key="park.id", primary_key=True, ondelete="CASCADE")


class Park(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True, index=True)
    name_zh: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    province: str = Field(max_length=40, index=True)
    lat: float
    lon: float
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class Firm(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("park_id", "name", name="uq_firm_park_name"),)
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, index=True)
    name_en: str | None = Field(default=None, max_length=200)
    industry_code: str = Field(max_length=4, index=True)
    park_id: int = Field(foreign_key="park.id", index=True, ondelete="RESTRICT")
    contact_name: str | None = Field(default=None, max_length=100)
    contact_phone: str | None = Field(default=None, max_length=40)
    contact_email: str | None = Field(default=None, max_length=254)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class Site(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("firm_id", "name", name="uq_site_firm_name"),)
    id: int | None = Field(default=None, primary_key=True)
    firm_id: int = Field(foreign_key="firm.id", index=True, ondelete="RESTRICT")
    name: str = Field(max_length=200)
    address: str | None = Field(default=None, max_length=400)
    lat: float
    lon: float
    # Centre of the 0.1-degree cell holding the site (about 11 km): what others see of anonymous listings.
    coarse_lat: float
    coarse_lon: float
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class Listing(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("firm_id", "ref", name="uq_listing_firm_ref"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(_in("kind", KINDS), name="kind"),
        CheckConstraint(_in("period", PERIODS), name="period"),
        CheckConstraint(_in("visibility", VISIBILITIES), name="visibility"),
        CheckConstraint(_in("status", STATUSES), name="status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    firm_id: int = Field(foreign_key="firm.id", index=True, ondelete="RESTRICT")
    site_id: int = Field(foreign_key="site.id", index=True, ondelete="RESTRICT")
    ref: str | None = Field(default=None, max_length=80)
    kind: str = Field(max_length=8, index=True)
    material: str = Field(max_length=64, index=True)
    quantity: float
    unit: str = Field(max_length=8)
    period: str = Field(default="year", max_length=8)
    available_from: date | None = None
    available_to: date | None = None
    attributes: dict[str, float] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    price: float | None = Field(default=None, description="yuan per unit: asking (have) or offered (want)")
    disposal_cost: float | None = Field(default=None, description="yuan per unit the holder pays today")
    logistics: str | None = Field(default=None, max_length=20)
    visibility: str = Field(default="public", max_length=12, index=True)
    status: str = Field(default="draft", max_length=8, index=True)
    hw_code: str | None = Field(default=None, max_length=12)
    description: str | None = Field(default=None, max_length=2000)
    data_quality: str = Field(default="D", max_length=1)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class Permit(SQLModel, table=True):
    """危险废物经营许可证: which HW categories a firm may receive, and when."""

    id: int | None = Field(default=None, primary_key=True)
    firm_id: int = Field(foreign_key="firm.id", index=True, ondelete="RESTRICT")
    number: str = Field(max_length=80)
    hw_codes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    valid_from: date
    valid_to: date
    issuer: str | None = Field(default=None, max_length=200)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class User(SQLModel, table=True):
    __tablename__ = "app_user"  # "user" is reserved in PostgreSQL
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)
    name: str = Field(max_length=100)
    role: str = Field(max_length=16)
    firm_id: int | None = Field(default=None, foreign_key="firm.id", index=True, ondelete="RESTRICT")
    password_hash: str = Field(max_length=200)
    # Bumped on password change or "log out everywhere": older session cookies stop working.
    session_epoch: int = Field(default=0)
    locale: str = Field(default="zh", max_length=5)
    is_active: bool = True
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = _ts()
    last_used_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts()
    user_id: int | None = Field(default=None, index=True)
    action: str = Field(max_length=12)
    entity: str = Field(max_length=40, index=True)
    entity_id: int | None = Field(default=None, index=True)
    changes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))

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

ROLES = ("admin", "park_manager", "firm_user", "planner", "verifier")
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
    # a bulk-solid-waste utilisation demonstration base (大宗固体废弃物综合利用基地): its own targets apply
    demonstration_base: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
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
    # Transport modes needing a siding or wharf that the site has (rail, inland_water, coastal_water).
    access: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    # GB/T 4754-2017 codes of what the site does, when not only its firm's industry (several are allowed).
    industry_codes: list[str] = Field(default_factory=list,
                                      sa_column=Column(JSON, nullable=False, server_default="[]"))
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
    # Incremented by every change (``services.listings``, the one writer): a client sends the version it read
    # and a change made meanwhile by someone else is refused instead of silently overwritten.
    version: int = Field(default=1, ge=1, sa_column_kwargs={"server_default": "1"})
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
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    # set by its owner's revocation or a password change; a revoked token answers 401 and stays listed
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class AuthSession(SQLModel, table=True):
    """A browser session, held on the server: the cookie carries only a signed random id whose SHA-256 is
    ``token_hash``. It ends at ``expires_at`` (absolute), after the idle timeout without a request
    (``last_seen_at``), at logout, or when its user's password changes (``revoked_at``)."""

    __tablename__ = "auth_session"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = _ts()
    last_seen_at: datetime = _ts()
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    address: str | None = Field(default=None, max_length=64)


class LoginAttempt(SQLModel, table=True):
    """One login attempt, kept for throttling (a sliding window per account and per client address); the
    audit log keeps the failures for good. Never holds a password."""

    __tablename__ = "login_attempt"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True), nullable=False, index=True)
    email: str = Field(max_length=254, index=True)
    address: str = Field(max_length=64, index=True)
    succeeded: bool = False
    # ok | wrong_password | unknown_account | inactive | locked (refused unchecked: not counted)
    reason: str = Field(max_length=20)


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts()
    user_id: int | None = Field(default=None, index=True)
    action: str = Field(max_length=12)
    entity: str = Field(max_length=40, index=True)
    entity_id: int | None = Field(default=None, index=True)
    changes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


# --- match runs, proposals, deals (issue 5) ------------------------------------------------------------
RUN_KINDS = ("match", "what_if")
RUN_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
PROPOSAL_STATUSES = ("open", "forwarded")
DEAL_STATUSES = ("proposed", "interested", "negotiating", "agreed", "active", "completed", "declined",
                 "cancelled")
OVERRIDE_KINDS = ("price", "disposal_cost", "circuity")


class MatchRun(SQLModel, table=True):
    """One call of the matcher over a scope: its parameters, progress, outcome and statistics.

    ``match`` runs store their links as :class:`Proposal` rows (all in one transaction at the end);
    ``what_if`` runs (planners' scenarios) keep their links in ``result`` and never create proposals.
    """

    __tablename__ = "match_run"
    __table_args__ = (
        CheckConstraint(_in("kind", RUN_KINDS), name="kind"),
        CheckConstraint(_in("status", RUN_STATUSES), name="status"),
        CheckConstraint("percent >= 0 AND percent <= 100", name="percent_range"),
    )
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default="match", max_length=8, index=True)
    status: str = Field(default="queued", max_length=10, index=True)
    created_by: int | None = Field(default=None, foreign_key="app_user.id", index=True, ondelete="SET NULL")
    # {"park_ids": [...]} | {"province": "..."} | {"all": true}, plus the park ids it resolved to
    scope: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    options: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    what_if: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    stage: str = Field(default="queued", max_length=20)
    percent: int = Field(default=0)
    cancel_requested: bool = Field(default=False)
    error: str | None = Field(default=None, max_length=2000)
    kpis: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    stats: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts()
    started_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    finished_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class Proposal(SQLModel, table=True):
    """A link proposed by a match run: ``quantity`` (canonical unit of the supply's material, per year)."""

    __table_args__ = (
        CheckConstraint(_in("status", PROPOSAL_STATUSES), name="status"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="match_run.id", index=True, ondelete="CASCADE")
    supply_listing_id: int = Field(foreign_key="listing.id", index=True, ondelete="CASCADE")
    demand_listing_id: int = Field(foreign_key="listing.id", index=True, ondelete="CASCADE")
    material: str = Field(max_length=64)
    replaces: str = Field(max_length=64)
    quantity: float
    unit: str = Field(max_length=8)
    ratio: float = Field(default=1.0)
    distance_km: float
    mode: str = Field(max_length=32)
    unit_benefit: float
    net_benefit: float
    co2_avoided_t: float
    explanation: str = Field(max_length=2000)
    # the parts of the explanation as data (matching.result.Breakdown.to_json), so that pages can tell it in
    # any language; None on proposals stored before it existed
    breakdown: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    quality_unverified: bool = Field(default=False)
    # how far the proposal can be trusted (matching.confidence) and why: reason codes with parameters
    confidence: float | None = None
    reasons: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    status: str = Field(default="open", max_length=10, index=True)
    created_at: datetime = _ts()


class Deal(SQLModel, table=True):
    """An exchange under way between a have and a want; its state machine lives in ``services.deals``.

    Quantities are per year in the canonical unit of the supply's material; the want receives
    ``quantity × ratio`` of its own material.
    """

    __table_args__ = (
        CheckConstraint(_in("status", DEAL_STATUSES), name="status"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("agreed_quantity IS NULL OR agreed_quantity > 0", name="agreed_quantity_positive"),
    )
    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int | None = Field(default=None, foreign_key="proposal.id", index=True, ondelete="SET NULL")
    supply_listing_id: int = Field(foreign_key="listing.id", index=True, ondelete="RESTRICT")
    demand_listing_id: int = Field(foreign_key="listing.id", index=True, ondelete="RESTRICT")
    supplier_firm_id: int = Field(foreign_key="firm.id", index=True, ondelete="RESTRICT")
    receiver_firm_id: int = Field(foreign_key="firm.id", index=True, ondelete="RESTRICT")
    material: str = Field(max_length=64)
    replaces: str = Field(max_length=64)
    unit: str = Field(max_length=8)
    ratio: float = Field(default=1.0)
    status: str = Field(default="proposed", max_length=12, index=True)
    quantity: float
    distance_km: float
    mode: str = Field(max_length=32)
    unit_benefit: float = Field(default=0.0, description="yuan per unit moved (matching.economics)")
    unit_co2_avoided_t: float = Field(default=0.0)
    supplier_yes_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    supplier_yes_by: int | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    receiver_yes_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    receiver_yes_by: int | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    agreed_quantity: float | None = None
    price: float | None = Field(default=None, description="yuan per unit agreed")
    logistics: str | None = Field(default=None, max_length=400)
    start_date: date | None = None
    end_date: date | None = None
    needs_transfer_approval: bool = Field(default=False)
    approval_by: str | None = Field(default=None, max_length=200)
    approval_reference: str | None = Field(default=None, max_length=120)
    approval_date: date | None = None
    approval_recorded_by: int | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    reason: str | None = Field(default=None, max_length=1000)
    created_by: int | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class DealEvent(SQLModel, table=True):
    """The transition history of a deal: who moved it from which state to which, when, and why."""

    __tablename__ = "deal_event"
    id: int | None = Field(default=None, primary_key=True)
    deal_id: int = Field(foreign_key="deal.id", index=True, ondelete="CASCADE")
    at: datetime = _ts()
    user_id: int | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    action: str = Field(max_length=20)
    from_status: str = Field(max_length=12)
    to_status: str = Field(max_length=12)
    note: str | None = Field(default=None, max_length=2000)
    reason: str | None = Field(default=None, max_length=1000)


class DealNote(SQLModel, table=True):
    __tablename__ = "deal_note"
    id: int | None = Field(default=None, primary_key=True)
    deal_id: int = Field(foreign_key="deal.id", index=True, ondelete="CASCADE")
    user_id: int | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    text: str = Field(max_length=4000)
    created_at: datetime = _ts()


class Delivery(SQLModel, table=True):
    """A recorded delivery on an active deal (canonical unit of the supply's material).

    Deliveries are never deleted: a wrong one is voided (who, when, why) and, if need be, re-recorded as a new
    row that ``corrects`` it. Only deliveries that are not voided count anywhere.
    """

    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)
    id: int | None = Field(default=None, primary_key=True)
    deal_id: int = Field(foreign_key="deal.id", index=True, ondelete="CASCADE")
    delivered_on: date
    quantity: float
    manifest_number: str | None = Field(default=None, max_length=40, description="转移联单 number")
    document_ref: str | None = Field(default=None, max_length=80,
                                     description="the evidence: weighbridge ticket, invoice or receipt number")
    note: str | None = Field(default=None, max_length=1000)
    # the explicit override when the year's deliveries exceed the agreed quantity beyond the tolerance
    over_agreed_reason: str | None = Field(default=None, max_length=1000)
    corrects_id: int | None = Field(default=None, foreign_key="delivery.id", ondelete="SET NULL")
    voided_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    voided_by: int | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    void_reason: str | None = Field(default=None, max_length=1000)
    created_by: int | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    created_at: datetime = _ts()


class RegionalOverride(SQLModel, table=True):
    """An admin's regional value replacing the knowledge base's: a material's price or disposal cost
    (yuan per canonical unit), or a province's circuity (``key`` is the province)."""

    __tablename__ = "regional_override"
    __table_args__ = (
        UniqueConstraint("kind", "key", name="uq_regional_override_kind_key"),
        CheckConstraint(_in("kind", OVERRIDE_KINDS), name="kind"),
    )
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    key: str = Field(max_length=64)
    value: float
    note: str | None = Field(default=None, max_length=400)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


# --- the firms' statutory solid-waste ledgers (issue 12) ------------------------------------------------
class WasteLedgerEntry(SQLModel, table=True):
    """One line of a firm's 一般工业固体废物管理台账: per material and month (1–12) or whole year (``month`` 0),
    in the material's canonical unit. ``stock_utilised`` is the part of the utilised quantities that came out
    of earlier years' storage (综合利用往年贮存量); the official rate divides by generation plus it."""

    __tablename__ = "waste_ledger_entry"
    __table_args__ = (
        UniqueConstraint("firm_id", "material", "year", "month", name="uq_waste_ledger_entry_key"),
        CheckConstraint("month >= 0 AND month <= 12", name="month_range"),
        CheckConstraint("generated >= 0 AND utilised_in_house >= 0 AND sent_for_utilisation >= 0 AND stored >= 0 "
                        "AND disposed >= 0 AND stock_utilised >= 0", name="non_negative"),
    )
    id: int | None = Field(default=None, primary_key=True)
    firm_id: int = Field(foreign_key="firm.id", index=True, ondelete="CASCADE")
    material: str = Field(max_length=64, index=True)
    year: int = Field(index=True)
    month: int = Field(default=0)
    generated: float = 0.0
    utilised_in_house: float = 0.0
    sent_for_utilisation: float = 0.0
    stored: float = 0.0
    disposed: float = 0.0
    stock_utilised: float = 0.0
    source: str | None = Field(default=None, max_length=200, description="the file it was imported from")
    created_by: int | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


# --- the auditable benefit ledger (issue 12) -------------------------------------------------------------
LEDGER_STATES = ("estimated", "evidenced", "verified")
LEDGER_ACTIONS = ("estimate", "evidence", "verify", "reject", "withdraw")


class BenefitRecord(SQLModel, table=True):
    """One state change of a deal's benefit figures, frozen when it happened (``services.ledger``).

    ``state`` is what the figures are: ``estimated`` (from the plan: the agreed quantity), ``evidenced`` (from
    the deliveries that carry a document) or ``verified`` (an independent verifier signed off the evidenced
    record ``record_id``). The figures, every input and factor with its source, the knowledge-base version,
    the formulas and the counterfactual are stored as they were: later changes of the knowledge base, the
    overrides or the deliveries never alter a record; a new state change writes a new one. Records are never
    updated or deleted; the latest one of a deal is its current state.
    """

    __tablename__ = "benefit_record"
    __table_args__ = (
        CheckConstraint(_in("state", LEDGER_STATES), name="state"),
        CheckConstraint(_in("action", LEDGER_ACTIONS), name="action"),
        CheckConstraint("quantity >= 0", name="quantity_non_negative"),
    )
    id: int | None = Field(default=None, primary_key=True)
    deal_id: int = Field(foreign_key="deal.id", index=True, ondelete="RESTRICT")
    state: str = Field(max_length=10)
    action: str = Field(max_length=10)
    from_state: str | None = Field(default=None, max_length=10)
    at: datetime = _ts()
    user_id: int | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    # the evidence's note, the verifier's statement, or the reason for a rejection or withdrawal
    note: str | None = Field(default=None, max_length=2000)
    reference: str | None = Field(default=None, max_length=120, description="the verification report's number")
    # verify / reject: the evidenced record signed off or sent back; withdraw: the record withdrawn
    record_id: int | None = Field(default=None, foreign_key="benefit_record.id")
    kb_version: str = Field(max_length=80)
    quantity: float = Field(description="canonical units of the supply's material the figures are for")
    unit: str = Field(max_length=8)
    period_from: date | None = None
    period_to: date | None = None
    # the deliveries counted (id, date, quantity, documents) and those left out for want of a document
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    figures: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    inputs: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    formulas: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    counterfactual: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # the same figures and inputs from the distance rounded to 10 km, for viewers who may not see both places
    approximate: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))

"""API shapes: what clients send (``*Create``, ``*Update``) and what they get back (``*Public``)."""

from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

T = TypeVar("T")

Role = Literal["admin", "park_manager", "firm_user", "planner", "verifier"]
Kind = Literal["have", "want"]
Period = Literal["year", "once"]
Visibility = Literal["public", "park", "anonymous", "private"]
Status = Literal["draft", "active", "closed"]
Logistics = Literal["buyer_collects", "seller_delivers", "third_party", "any"]
Locale = Literal["zh", "en"]



def _aware(value: datetime) -> datetime:
    """SQLite hands back timestamps without their zone; they are stored in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# A moment in answers: always with its UTC offset (RFC 3339 ``date-time``, as the contract declares).
Timestamp = Annotated[datetime, AfterValidator(_aware)]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Quantity = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Money = Annotated[float, Field(ge=-1e7, le=1e7, allow_inf_nan=False)]
IndustryCode = Annotated[str, StringConstraints(pattern=r"^\d{4}$")]
HwCode = Annotated[str, StringConstraints(pattern=r"^HW\d{2}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# A person's name: the user table's column holds 100 characters, so the API accepts no more.
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
# A row id: the database's integer (PostgreSQL's 4-byte INTEGER), so a larger number is bad input (422), not a
# database error. The one id type of paths, queries and bodies (``backend.api.params`` re-exports it).
MAX_ID = 2**31 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
AttributeKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Attributes = Annotated[dict[AttributeKey, Annotated[float, Field(allow_inf_nan=False)]], Field(max_length=50)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _no_null_for_kept_fields(schema: dict[str, Any], model: type[BaseModel]) -> None:
    clearable: frozenset[str] = getattr(model, "CLEARABLE", frozenset())
    for name, prop in schema.get("properties", {}).items():
        options = prop.get("anyOf")
        if name not in clearable and isinstance(options, list) and {"type": "null"} in options:
            kept = [o for o in options if o != {"type": "null"}]
            prop.pop("anyOf")
            if len(kept) == 1:
                prop.update(kept[0])
            else:
                prop["anyOf"] = kept


class Patch(Strict):
    """The body of a PATCH: a field left out keeps its value; ``null`` clears a field, and only the fields in
    ``CLEARABLE`` (the nullable columns) may be cleared. ``null`` for any other field is a 422 at that field
    (the database would refuse it, and the contract says so: those fields are not nullable in the schema)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_no_null_for_kept_fields)
    CLEARABLE: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _null_only_where_clearable(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.CLEARABLE:
            raise PydanticCustomError("not_null", "{field} cannot be null; leave it out to keep its value",
                                      {"field": info.field_name})
        return value


class Page(BaseModel, Generic[T]):
    data: list[T]
    count: int


# --- parks ---------------------------------------------------------------------------------------------
class ParkBase(Strict):
    code: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{1,39}$")]
    name_zh: Name
    name_en: Name
    province: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=40)]
    lat: Latitude
    lon: Longitude
    demonstration_base: bool = False


class ParkCreate(ParkBase):
    pass


class ParkUpdate(Patch):
    code: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{1,39}$")] | None = None
    name_zh: Name | None = None
    name_en: Name | None = None
    province: Annotated[str, StringConstraints(min_length=2, max_length=40)] | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None
    demonstration_base: bool | None = None


class ParkPublic(ParkBase):
    id: int
    created_at: Timestamp
    updated_at: Timestamp


# --- firms ---------------------------------------------------------------------------------------------
class FirmBase(Strict):
    name: Name
    name_en: Name | None = None
    industry_code: IndustryCode
    park_id: Id
    contact_name: ShortText | None = None
    contact_phone: Annotated[str, StringConstraints(max_length=40)] | None = None
    contact_email: EmailStr | None = None


class FirmCreate(FirmBase):
    pass


class FirmUpdate(Patch):
    CLEARABLE = frozenset({"name_en", "contact_name", "contact_phone", "contact_email"})
    name: Name | None = None
    name_en: Name | None = None
    industry_code: IndustryCode | None = None
    park_id: Id | None = None
    contact_name: ShortText | None = None
    contact_phone: Annotated[str, StringConstraints(max_length=40)] | None = None
    contact_email: EmailStr | None = None


class FirmPublic(FirmBase):
    id: int
    created_at: Timestamp
    updated_at: Timestamp


# --- sites ---------------------------------------------------------------------------------------------
AccessMode = Literal["rail", "inland_water", "coastal_water"]
Access = Annotated[list[AccessMode], Field(max_length=3, description="rail siding or wharf at the site")]


IndustryCodes = Annotated[list[IndustryCode], Field(
    max_length=5, description="GB/T 4754-2017 classes of what the site does when not only its firm's industry "
                              "(the matcher and screening use the site's, else the firm's)")]


class SiteBase(Strict):
    firm_id: Id
    name: Name
    address: Annotated[str, StringConstraints(max_length=400)] | None = None
    lat: Latitude
    lon: Longitude
    access: Access = Field(default_factory=list)
    industry_codes: IndustryCodes = Field(default_factory=list)


class SiteCreate(SiteBase):
    pass


class SiteUpdate(Patch):
    CLEARABLE = frozenset({"address"})
    name: Name | None = None
    address: Annotated[str, StringConstraints(max_length=400)] | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None
    access: Access | None = None
    industry_codes: IndustryCodes | None = None


class SitePublic(SiteBase):
    id: int
    created_at: Timestamp
    updated_at: Timestamp


# --- listings ------------------------------------------------------------------------------------------
class _ListingFields(Strict):
    @model_validator(mode="after")
    def _window_in_order(self) -> "_ListingFields":
        start, end = getattr(self, "available_from", None), getattr(self, "available_to", None)
        if start and end and end < start:
            raise ValueError("available_to must not be before available_from")
        return self


class ListingCreate(_ListingFields):
    site_id: Id
    ref: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")] | None = None
    kind: Kind
    material: Annotated[str, StringConstraints(max_length=64)]
    quantity: Quantity
    unit: Annotated[str, StringConstraints(max_length=8)]
    period: Period = "year"
    available_from: date | None = None
    available_to: date | None = None
    attributes: Attributes = Field(default_factory=dict)
    price: Money | None = None
    disposal_cost: Money | None = None
    logistics: Logistics | None = None
    visibility: Visibility = "public"
    status: Status = "draft"
    hw_code: HwCode | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None


class ListingUpdate(_ListingFields, Patch):
    CLEARABLE = frozenset({"ref", "available_from", "available_to", "price", "disposal_cost", "logistics",
                           "hw_code", "description"})
    site_id: Id | None = None
    ref: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")] | None = None
    kind: Kind | None = None
    material: Annotated[str, StringConstraints(max_length=64)] | None = None
    quantity: Quantity | None = None
    unit: Annotated[str, StringConstraints(max_length=8)] | None = None
    period: Period | None = None
    available_from: date | None = None
    available_to: date | None = None
    attributes: Attributes | None = None
    price: Money | None = None
    disposal_cost: Money | None = None
    logistics: Logistics | None = None
    visibility: Visibility | None = None
    status: Status | None = None
    hw_code: HwCode | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    version: int | None = Field(default=None, ge=1, le=2**31 - 1, description=(
        "The listing's version as you read it (``ListingPublic.version``). When given, the change is made only "
        "if nobody changed the listing since: otherwise 409 with code ``listing_version`` (read it again and "
        "redo the change). Without it, the change applies to the current version."))


class QuantityBand(BaseModel):
    min: float
    max: float | None


class QuantityWarningPublic(BaseModel):
    """An outlier figure, accepted: above what a typical large plant of its kind states (canonical unit)."""

    code: str
    field: str
    value: float
    typical_max: float
    unit: str


class ListingPublic(BaseModel):
    """A listing as one viewer sees it. ``anonymised`` rows carry no firm, site, exact place or quantity."""

    id: int
    anonymised: bool
    firm_id: int | None
    firm_name: str | None
    site_id: int | None
    park_id: int | None
    province: str
    ref: str | None
    kind: Kind
    material: str
    quantity: float | None
    quantity_band: QuantityBand | None
    unit: str
    period: Period
    lat: float
    lon: float
    location_precision_km: float
    available_from: date | None
    available_to: date | None
    attributes: dict[str, float]
    price: float | None
    disposal_cost: float | None
    logistics: str | None
    visibility: Visibility
    status: Status
    hw_code: str | None
    description: str | None
    data_quality: str
    distance_km: float | None = None
    warnings: list[QuantityWarningPublic] = Field(default_factory=list)
    version: int | None = Field(default=None, description=(
        "Goes up by one with every change; send it back with a change (PATCH ``version``, the import's "
        "``version`` column) to have a lost update refused. Not shown on anonymised listings."))
    created_at: Timestamp
    updated_at: Timestamp


# --- permits -------------------------------------------------------------------------------------------
class PermitBase(Strict):
    firm_id: Id
    number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    hw_codes: Annotated[list[HwCode], Field(min_length=1, max_length=50)]
    valid_from: date
    valid_to: date
    issuer: Annotated[str, StringConstraints(max_length=200)] | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> "PermitBase":
        if self.valid_to < self.valid_from:
            raise ValueError("valid_to must not be before valid_from")
        return self


class PermitCreate(PermitBase):
    pass


class PermitUpdate(Patch):
    CLEARABLE = frozenset({"issuer"})
    number: Annotated[str, StringConstraints(min_length=1, max_length=80)] | None = None
    hw_codes: Annotated[list[HwCode], Field(min_length=1, max_length=50)] | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    issuer: Annotated[str, StringConstraints(max_length=200)] | None = None


class PermitPublic(PermitBase):
    id: int
    active: bool
    created_at: Timestamp
    updated_at: Timestamp


# --- users and auth ------------------------------------------------------------------------------------
Password = Annotated[str, StringConstraints(min_length=8, max_length=200)]


class UserCreate(Strict):
    email: EmailStr
    name: PersonName
    role: Role
    password: Password
    firm_id: Id | None = None
    park_ids: list[Id] = Field(default_factory=list)
    locale: Locale = "zh"


class UserUpdate(Patch):
    CLEARABLE = frozenset({"firm_id"})
    name: PersonName | None = None
    role: Role | None = None
    password: Password | None = None
    firm_id: Id | None = None
    park_ids: list[Id] | None = None
    locale: Locale | None = None
    is_active: bool | None = None


class MeUpdate(Patch):
    CLEARABLE = frozenset({"current_password"})
    name: PersonName | None = None
    locale: Locale | None = None
    password: Password | None = None
    current_password: str | None = None


class UserPublic(BaseModel):
    id: int
    email: str
    name: str
    role: Role
    firm_id: int | None
    park_ids: list[int]
    locale: Locale
    is_active: bool
    created_at: Timestamp


class LoginRequest(Strict):
    email: EmailStr
    password: Annotated[str, StringConstraints(max_length=200)]


class LoginResponse(BaseModel):
    user: UserPublic
    csrf_token: str


class TokenCreate(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    # None: the platform's default lifetime (ISX_API_TOKEN_DAYS, 90 days unless set)
    expires_in_days: Annotated[int, Field(ge=1, le=3650)] | None = None


class TokenPublic(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: Timestamp
    last_used_at: Timestamp | None
    expires_at: Timestamp
    revoked_at: Timestamp | None


class TokenCreated(TokenPublic):
    token: str


class AuditPublic(BaseModel):
    id: int
    at: Timestamp
    user_id: int | None
    action: str
    entity: str
    entity_id: int | None
    changes: dict[str, Any]


# --- bulk import ---------------------------------------------------------------------------------------
class ImportIssue(BaseModel):
    row: int | None
    column: str | None
    msg: str
    code: str | None = None  # a stable name of the problem, for interfaces that word it in their own language
    values: dict[str, str] = Field(default_factory=dict)


class ImportSummary(BaseModel):
    dry_run: bool
    ok: bool
    rows: int
    firms_created: int = 0
    firms_updated: int = 0
    sites_created: int = 0
    sites_updated: int = 0
    listings_created: int = 0
    listings_updated: int = 0
    unchanged: int = 0
    errors: list[ImportIssue] = Field(default_factory=list)
    warnings: list[ImportIssue] = Field(default_factory=list)
    preview: list[dict[str, Any]] = Field(default_factory=list)

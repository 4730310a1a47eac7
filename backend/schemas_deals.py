"""API shapes of match runs, proposals, deals, the benefit ledger, KPIs and regional overrides."""

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from backend.schemas import Id, ListingPublic, Money, Quantity, QuantityBand, Strict, Timestamp

RunKind = Literal["match", "what_if"]
RunStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
ProposalStatus = Literal["open", "forwarded"]
DealStatus = Literal["proposed", "interested", "negotiating", "agreed", "active", "completed", "declined",
                     "cancelled"]
DealAction = Literal["opt_in", "negotiate", "agree", "activate", "complete", "decline", "cancel"]
DealSide = Literal["supplier", "receiver"]
Objective = Literal["benefit", "co2", "diverted"]
OverrideKind = Literal["price", "disposal_cost", "circuity"]
LedgerState = Literal["estimated", "evidenced", "verified"]
LedgerRecordAction = Literal["estimate", "evidence", "verify", "reject", "withdraw"]
LedgerAction = Literal["evidence", "verify", "reject"]  # the ones people ask for; estimate and withdraw follow

MaterialId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
NonNegative = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]


# --- runs ----------------------------------------------------------------------------------------------
class RunScope(Strict):
    """Exactly one of: ``park_ids`` (one park or several), ``province``, or ``all``."""

    park_ids: Annotated[list[Id], Field(min_length=1, max_length=500)] | None = None
    province: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=40)] | None = None
    all: bool = False

    @model_validator(mode="after")
    def _exactly_one(self) -> "RunScope":
        given = [self.park_ids is not None, self.province is not None, self.all]
        if sum(given) != 1:
            raise ValueError("give exactly one of park_ids, province or all=true")
        return self


class RunOptions(Strict):
    families: Annotated[list[Annotated[str, StringConstraints(max_length=40)]], Field(max_length=50)] | None = None
    objective: Objective | dict[Objective, Annotated[float, Field(ge=0, le=1e6)]] = "benefit"
    mode: Literal["linear", "milp"] = "linear"
    time_limit: Annotated[float, Field(gt=0, le=3600)] = 60.0


class HubIn(Strict):
    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    capacity: Quantity
    fixed_cost: NonNegative
    handling_per_unit: NonNegative = 0.0
    materials: list[MaterialId] = Field(default_factory=list)


class ModeIn(Strict):
    """A transport mode to add or change (e.g. a pipeline): costs per unit of what it carries."""

    cost_per_tkm: NonNegative | None = None
    handling_per_t: NonNegative | None = None
    co2_kg_per_tkm: NonNegative | None = None
    max_distance_km: Annotated[float, Field(gt=0, le=1e5)] | None = None
    annualised_capex_per_km: NonNegative | None = None


class SiteDistanceIn(Strict):
    """A stated road or pipeline distance between two sites (e.g. a new pipeline's route)."""

    from_site_id: Id
    to_site_id: Id
    km: Annotated[float, Field(ge=0, le=1e5)]


class WhatIf(Strict):
    remove_firm_ids: Annotated[list[Id], Field(max_length=500)] = Field(default_factory=list)
    prices: dict[MaterialId, NonNegative] = Field(default_factory=dict)
    disposal_costs: dict[MaterialId, NonNegative] = Field(default_factory=dict)
    hubs: Annotated[list[HubIn], Field(max_length=50)] = Field(default_factory=list)
    transport: dict[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")], ModeIn] = Field(
        default_factory=dict)
    distances: Annotated[list[SiteDistanceIn], Field(max_length=1000)] = Field(default_factory=list)


class RunCreate(Strict):
    kind: RunKind = "match"
    scope: RunScope
    options: RunOptions = Field(default_factory=RunOptions)
    what_if: WhatIf | None = None

    @model_validator(mode="after")
    def _what_if_only_for_what_if(self) -> "RunCreate":
        if self.what_if is not None and self.kind != "what_if":
            raise ValueError("what_if changes need kind 'what_if'")
        return self


class RunPublic(BaseModel):
    id: int
    kind: RunKind
    status: RunStatus
    created_by: int | None
    scope: dict[str, Any]
    options: dict[str, Any]
    what_if: dict[str, Any]
    stage: str
    percent: int
    cancel_requested: bool
    error: str | None
    kpis: dict[str, Any]
    stats: dict[str, Any]
    result: dict[str, Any]
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None


class LinkBreakdown(BaseModel):
    """The parts of a proposal's explanation, per unit of the supply moved (yuan): ``value +
    disposal_avoided − pretreatment − transport − pipeline`` is the unit benefit (``pipeline``: a pipe's
    annualised capex spread over the most the link could carry). ``binding``: the limits reached
    (``supply`` fully used, ``demand`` filled, the rule's ``max_share`` of the demand); none means a better
    use of the rest exists. ``ratio``: the substitution rule's; ``rule`` its id and ``use`` what the receiver
    uses the material for (both from the knowledge base). See docs/matcher.md."""

    value: float
    disposal_avoided: float
    pretreatment: float
    transport: float
    ratio: float = 1.0
    binding: list[Literal["supply", "demand", "share"]]
    max_share: float | None = None
    pipeline: float = 0.0
    rule: str | None = None
    use: str | None = None
    pretreatment_name: str | None = None
    gate_fee: float | None = None


class ConfidenceReason(BaseModel):
    """Why a proposal has its confidence: a code (see docs/matcher.md) with its parameters."""

    model_config = ConfigDict(extra="allow")
    code: str


class ProposalPublic(BaseModel):
    """A proposed link as one viewer sees it. Where the viewer may not see the other side whole (an
    anonymous listing), the quantity is a band, the distance and unit benefit are rounded and the
    explanation (and its breakdown), total benefit and CO2 are left out: together they would reveal the
    exact figures. ``breakdown`` is also None on proposals stored before it existed."""

    id: int
    run_id: int
    status: ProposalStatus
    anonymised: bool
    supply: ListingPublic
    demand: ListingPublic
    material: str
    replaces: str
    quantity: float | None
    quantity_band: QuantityBand | None
    unit: str
    ratio: float
    distance_km: float
    mode: str
    unit_benefit: float
    net_benefit: float | None
    co2_avoided_t: float | None
    explanation: str | None
    breakdown: LinkBreakdown | None
    quality_unverified: bool
    confidence: float | None = Field(None, description="how far the proposal can be trusted, 0–1 "
                                                       "(matching.confidence); to one decimal when anonymised")
    reasons: list[ConfidenceReason] = Field(default_factory=list)
    deal_id: int | None
    created_at: Timestamp


# --- deals ---------------------------------------------------------------------------------------------
class DealCreate(Strict):
    """From a proposal (``proposal_id``), or seeded by hand by a park manager (both listings + quantity)."""

    proposal_id: Id | None = None
    supply_listing_id: Id | None = None
    demand_listing_id: Id | None = None
    quantity: Quantity | None = None
    note: Note | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "DealCreate":
        manual = (self.supply_listing_id, self.demand_listing_id, self.quantity)
        if self.proposal_id is not None and any(v is not None for v in manual):
            raise ValueError("give either proposal_id or supply_listing_id, demand_listing_id and quantity")
        if self.proposal_id is None and any(v is None for v in manual):
            raise ValueError("give proposal_id, or supply_listing_id, demand_listing_id and quantity")
        return self


class DealTransition(Strict):
    action: DealAction
    side: DealSide | None = Field(default=None, description="opt_in: the side you answer for")
    note: Note | None = None
    reason: Reason | None = None


class DealTerms(Strict):
    agreed_quantity: Quantity | None = None
    price: Money | None = None
    logistics: Annotated[str, StringConstraints(strip_whitespace=True, max_length=400)] | None = None
    start_date: date | None = None
    end_date: date | None = None

    @model_validator(mode="after")
    def _dates(self) -> "DealTerms":
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("end_date must not be before start_date")
        return self


class ApprovalCreate(Strict):
    approved_by: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    approval_date: date


class DealNoteCreate(Strict):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class DeliveryCreate(Strict):
    delivered_on: date
    quantity: Quantity
    manifest_number: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{4,40}$")] | None = Field(
        default=None, description="转移联单 number; required for hazardous waste")
    document_ref: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)] | None = \
        Field(default=None, description="weighbridge ticket, invoice or receipt number (the evidence)")
    note: Annotated[str, StringConstraints(max_length=1000)] | None = None
    over_agreed_reason: Reason | None = Field(
        default=None, description="why this year's deliveries may exceed the agreed quantity beyond the tolerance "
                                  "(an explicit, audited override)")


class DeliveryVoid(Strict):
    reason: Reason


class DeliveryCorrection(DeliveryCreate):
    """Re-record a delivery: the old one is voided with ``reason`` and this one recorded in its place."""

    reason: Reason


class DealGates(BaseModel):
    hazardous: bool
    hw_code: str | None
    receiver_permit: str | None
    permit_ok: bool
    cross_province: bool
    needs_transfer_approval: bool
    approval_recorded: bool
    restriction: str | None


class DealPublic(BaseModel):
    id: int
    status: DealStatus
    proposal_id: int | None
    supply: ListingPublic
    demand: ListingPublic
    supplier_firm_id: int | None
    supplier_firm_name: str | None
    receiver_firm_id: int | None
    receiver_firm_name: str | None
    material: str
    replaces: str
    unit: str
    ratio: float
    quantity: float | None = Field(description="None for a viewer who may not see it: see quantity_band")
    quantity_band: QuantityBand | None = None
    distance_km: float
    mode: str
    supplier_yes: bool
    receiver_yes: bool
    agreed_quantity: float | None
    agreed_quantity_band: QuantityBand | None = None
    price: float | None
    logistics: str | None
    start_date: date | None
    end_date: date | None
    approval_by: str | None
    approval_reference: str | None
    approval_date: date | None
    reason: str | None
    ledger_state: LedgerState | None = Field(None, description="state of the benefit figures of record "
                                                                "(None: not frozen yet, before agreement)")
    gates: DealGates
    your_sides: list[DealSide]
    allowed_actions: list[DealAction]
    ledger_actions: list[LedgerAction] = Field(default_factory=list, description="benefit-ledger state changes "
                                                                                  "this viewer may ask for now")
    created_at: Timestamp
    updated_at: Timestamp


class DealEventPublic(BaseModel):
    id: int
    at: Timestamp
    user_id: int | None
    action: str
    from_status: str
    to_status: str
    note: str | None
    reason: str | None


class DealNotePublic(BaseModel):
    id: int
    user_id: int | None
    text: str
    created_at: Timestamp


class DeliveryPublic(BaseModel):
    id: int
    deal_id: int
    delivered_on: date
    quantity: float | None = Field(description="None for a viewer who may not see the deal's quantities")
    quantity_band: QuantityBand | None = None
    manifest_number: str | None
    document_ref: str | None = None
    note: str | None
    over_agreed_reason: str | None = None
    corrects_id: int | None = None
    voided_at: Timestamp | None = None
    void_reason: str | None = None
    created_at: Timestamp


# --- ledger --------------------------------------------------------------------------------------------
class LedgerInput(BaseModel):
    name: str
    value: float | str | None
    unit: str
    source: str
    source_code: str | None = None  # set where the source is not a knowledge-base row (see FIXED_SOURCES)


class LedgerFigures(BaseModel):
    quantity: float
    landfill_diverted_t: float
    co2_avoided_t: float
    cost_saved_yuan: float
    env_tax_avoided_yuan: float
    raw_material_substituted: float
    raw_material: str
    raw_material_unit: str


class LedgerPublic(BaseModel):
    deal_id: int
    unit: str
    planned: LedgerFigures
    realised: LedgerFigures
    approximate: bool
    formulas: dict[str, str]
    inputs: list[LedgerInput]


class LedgerTransition(Strict):
    """A change of state of a deal's benefit figures. ``evidence`` (a party): freeze the documented deliveries
    to date; ``verify`` / ``reject`` (a verifier): sign off or send back the evidenced record ``record_id``
    (the one you checked), ``note`` being the statement of what was checked or the reason."""

    action: LedgerAction
    record_id: Id | None = Field(None, description="verify, reject: the evidenced record you checked")
    note: Note | None = None
    reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)] | None = \
        Field(None, description="verify: the number of the verification report")


class EvidenceDelivery(BaseModel):
    id: int
    delivered_on: date
    quantity: float
    document_ref: str | None = None
    manifest_number: str | None = None


class Counterfactual(BaseModel):
    """What the exchange replaced and where the waste would otherwise have gone (``waste_route``: landfill,
    stated (the supplier's own disposal cost) or released (heat, gas, water: nothing landfilled))."""

    replaced: str
    replaced_unit: str
    replaced_quantity: float
    replaced_price: float
    replaced_price_source: str
    material: str
    unit: str
    quantity: float
    waste_route: Literal["landfill", "stated", "released"]
    disposal_cost: float = Field(description="yuan per unit of the material the holder no longer pays")
    disposal_avoided_yuan: float
    disposal_source: str | None = None
    landfilled_t: float | None = None
    disposal_category: str | None = None
    disposal_category_zh: str | None = None
    disposal_category_en: str | None = None
    landfill_fee: float | None = Field(None, description="yuan/t")
    env_tax: float | None = Field(None, description="environmental protection tax, yuan/t")
    landfill_fee_source: str | None = None
    env_tax_source: str | None = None


class BenefitRecordPublic(BaseModel):
    """One state change of a deal's benefit figures, as frozen then."""

    id: int
    deal_id: int
    state: LedgerState
    action: LedgerRecordAction
    from_state: LedgerState | None
    at: Timestamp
    user_id: int | None
    user_name: str | None
    user_role: str | None
    note: str | None
    reference: str | None
    record_id: int | None
    kb_version: str
    quantity: float
    unit: str
    period_from: date | None
    period_to: date | None
    deliveries: list[EvidenceDelivery]
    undocumented_count: int
    undocumented_quantity: float
    figures: LedgerFigures
    inputs: list[LedgerInput]
    formulas: dict[str, str]
    counterfactual: Counterfactual
    approximate: bool


# --- regional overrides --------------------------------------------------------------------------------
class OverrideCreate(Strict):
    kind: OverrideKind
    key: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    value: Annotated[float, Field(ge=0, le=1e7, allow_inf_nan=False)]
    note: Annotated[str, StringConstraints(max_length=400)] | None = None


class OverrideUpdate(Strict):
    value: Annotated[float, Field(ge=0, le=1e7, allow_inf_nan=False)] | None = None
    note: Annotated[str, StringConstraints(max_length=400)] | None = None


class OverridePublic(BaseModel):
    id: int
    kind: OverrideKind
    key: str
    value: float
    note: str | None
    created_at: Timestamp
    updated_at: Timestamp


# --- screening -----------------------------------------------------------------------------------------
class ScreeningCandidate(BaseModel):
    """A viable exchange between two firms of a park, estimated from industry profiles (or listings)."""

    supply: str
    demand: str
    from_site: str
    to_site: str
    from_firm: str
    to_firm: str
    material: str
    replaces: str
    rule: str | None
    use: str | None
    distance_km: float
    mode: str
    unit_benefit: float = Field(description="yuan per unit of the supply, pipeline capex spread over capacity")
    capacity: float = Field(description="the most the pair could carry a year (units of the supply)")
    expected_benefit: float = Field(description="confidence × unit benefit × capacity: the ranking key")
    confidence: float
    reasons: list[ConfidenceReason]
    estimated: bool
    quality_unverified: bool
    permit_to_verify: bool


class EstimatedStream(BaseModel):
    """A supply or demand estimated from a firm's industry profile (per year, the material's unit)."""

    kind: Literal["supply", "demand"]
    id: str
    site: str
    firm: str
    material: str
    quantity: float
    use: str | None = None
    estimated: bool = True
    confidence: float
    estimate: dict[str, Any] | None = Field(None, description="profile code, level (own, group, division) and "
                                                              "share of plants that have the stream")


class ScreeningPublic(BaseModel):
    """A park's screening: the streams estimated from industry profiles, the matcher's links on them and the
    ranked viable pairs (each stream's best ``top`` from either end, or all of them: ``candidates_total``
    counts them all)."""

    park_id: int
    mode: Literal["profiles", "combined"]
    sites: int
    top: int | None
    estimated: int = Field(description="streams estimated from industry profiles")
    objective: dict[str, Any]
    links: list[dict[str, Any]]
    candidates: list[ScreeningCandidate]
    candidates_total: int
    streams: list[EstimatedStream]

"""The demo region: parks, accounts, permits, the streams file, the firms' ledgers and a few deals from
``seed_data/demo``.

Everything upserts by natural key and writes only what differs, so seeding twice changes nothing. The deals
(``deals.yaml``) are recorded through the deal services as the park manager who would record them (and the
verifier who signs off), with every rule the API applies; a deal whose two listings already have one is
skipped.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlmodel import Session

from backend.config import PROJECT_ROOT
from backend.models import Firm, Park, Permit, User
from backend.schemas import ImportSummary, ParkCreate, PermitCreate, UserCreate
from backend.services import baseline, imports, users

DEMO_DIR = PROJECT_ROOT / "seed_data" / "demo"


@dataclass
class SeedReport:
    parks_created: int
    parks_updated: int
    users_created: int
    permits_created: int
    streams: ImportSummary
    accounts: list[dict[str, Any]]
    ledger: dict[str, Any] | None = None
    deals_created: int = 0


def _yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh) or []


def seed_demo(*, session: Session, directory: Path = DEMO_DIR) -> SeedReport:
    created = updated = 0
    for raw in _yaml(directory / "parks.yaml"):
        park_in = ParkCreate.model_validate(raw)
        park = session.scalar(select(Park).where(Park.code == park_in.code))
        if park is None:
            session.add(Park.model_validate(park_in))
            created += 1
        elif any(getattr(park, k) != v for k, v in park_in.model_dump().items()):
            park.sqlmodel_update(park_in.model_dump())
            updated += 1
    session.flush()

    streams = imports.run_import(session=session, actor=None, data=(directory / "streams.csv").read_bytes(),
                                 filename="streams.csv", dry_run=False, max_rows=100_000)
    parks = {p.code: p.id for p in session.scalars(select(Park))}
    ledger_file = directory / "ledger.csv"
    ledger = baseline.import_ledger(session=session, actor=None, data=ledger_file.read_bytes(), filename="ledger.csv",
                                    dry_run=False) if ledger_file.exists() else None

    def firm_id(ref: dict[str, str]) -> int:
        firm = session.scalar(select(Firm).where(Firm.park_id == parks[ref["park"]], Firm.name == ref["name"]))
        if firm is None:
            raise ValueError(f"demo data names firm {ref['name']!r} in park {ref['park']!r}, not in streams.csv")
        return firm.id or 0

    permits_created = 0
    permits_file = directory / "permits.yaml"
    for raw in _yaml(permits_file) if permits_file.exists() else []:
        fid = firm_id(raw.pop("firm"))
        if session.scalar(select(Permit).where(Permit.firm_id == fid, Permit.number == raw["number"])) is None:
            permit_in = PermitCreate.model_validate(raw | {"firm_id": fid})
            session.add(Permit.model_validate(permit_in))
            permits_created += 1

    users_created = 0
    accounts = []
    for raw in _yaml(directory / "users.yaml"):
        fields = {k: v for k, v in raw.items() if k not in ("parks", "firm")}
        fields["park_ids"] = [parks[c] for c in raw.get("parks", [])]
        fields["firm_id"] = firm_id(raw["firm"]) if raw.get("firm") else None
        user_in = UserCreate.model_validate(fields)
        if session.scalar(select(User).where(User.email == user_in.email.lower())) is None:
            users.create_user(session=session, actor=None, user_in=user_in)
            users_created += 1
        accounts.append({"email": user_in.email, "password": user_in.password, "role": user_in.role})
    session.flush()
    deals_file = directory / "deals.yaml"
    deals_created = sum(_seed_deal(session, raw, firm_id) for raw in (_yaml(deals_file) if deals_file.exists() else []))
    return SeedReport(parks_created=created, parks_updated=updated, users_created=users_created,
                      permits_created=permits_created, streams=streams, accounts=accounts, ledger=ledger,
                      deals_created=deals_created)


def _seed_deal(session: Session, raw: dict[str, Any], firm_id: Any) -> int:
    """Record one deal of ``deals.yaml`` through the services (see the module docstring); 0 if it exists."""
    from backend.audit import set_actor
    from backend.models import Deal, Listing
    from backend.schemas_deals import DealCreate, DealTerms, DealTransition, DeliveryCreate, LedgerTransition
    from backend.services import deals

    def listing(ref: dict[str, str]) -> int:
        found = session.scalar(select(Listing.id).where(Listing.firm_id == firm_id(ref), Listing.ref == ref["ref"]))
        if found is None:
            raise ValueError(f"demo deal names listing {ref['ref']!r} of {ref['name']!r}, not in streams.csv")
        return int(found)

    def actor(email: str) -> Any:
        user = session.scalar(select(User).where(User.email == email))
        if user is None:
            raise ValueError(f"demo deal names account {email!r}, not in users.yaml")
        set_actor(session, user.id)
        return users.actor_for(session, user)

    supply = listing(raw["supply"] | {"name": raw["supply"]["firm"]})
    demand = listing(raw["demand"] | {"name": raw["demand"]["firm"]})
    if session.scalar(select(Deal.id).where(Deal.supply_listing_id == supply, Deal.demand_listing_id == demand)):
        return 0
    manager = actor(raw["manager"])
    deal_id = deals.create_deal(session=session, actor=manager, deal_in=DealCreate(
        supply_listing_id=supply, demand_listing_id=demand, quantity=raw["quantity"])).id or 0

    def move(action: str) -> None:
        deals.transition(session=session, actor=manager, deal_id=deal_id, move=DealTransition(action=action))

    move("opt_in")
    move("negotiate")
    deals.update_terms(session=session, actor=manager, deal_id=deal_id, terms_in=DealTerms.model_validate(raw["terms"]))
    move("agree")
    if raw.get("status") in ("active", "completed"):
        move("activate")

    def deliver(items: list[dict[str, Any]]) -> None:
        for item in items:
            deals.add_delivery(session=session, actor=manager, deal_id=deal_id,
                               delivery_in=DeliveryCreate.model_validate(item))

    deliver(raw.get("deliveries", []))
    for step in raw.get("ledger", []):
        who = actor(step["by"]) if step.get("by") else manager
        current = deals.ledger_records(session=session, actor=who, deal_id=deal_id)[-1]
        deals.move_ledger(session=session, actor=who, deal_id=deal_id, move=LedgerTransition(
            action=step["action"], note=step.get("note"), reference=step.get("reference"),
            record_id=current.id if step["action"] in ("verify", "reject") else None))
    actor(raw["manager"])
    deliver(raw.get("later_deliveries", []))
    set_actor(session, None)
    session.flush()
    return 1


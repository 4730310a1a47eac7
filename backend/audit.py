"""The audit log: every insert, update and delete of a domain row is recorded in the same transaction.

It hooks the ORM flush rather than each service, so no write path can forget it. The acting user is
``session.info["actor_id"]`` (None for the CLI and seeding, recorded as the system).
"""

from datetime import date, datetime
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm.attributes import NO_VALUE

from backend.models import (
    ApiToken,
    AuditLog,
    BenefitRecord,
    Deal,
    DealEvent,
    DealNote,
    Delivery,
    Firm,
    Listing,
    MatchRun,
    Park,
    Permit,
    Proposal,
    RegionalOverride,
    Site,
    User,
    UserPark,
    WasteLedgerEntry,
    utcnow,
)

AUDITED = (Park, Firm, Site, Listing, Permit, User, UserPark, ApiToken,
           MatchRun, Proposal, Deal, DealEvent, DealNote, Delivery, RegionalOverride, WasteLedgerEntry, BenefitRecord)
SECRET_FIELDS = frozenset({"password_hash", "token_hash"})
SKIPPED_FIELDS = frozenset({"created_at", "updated_at"})
# a benefit record is immutable and kept for good: the audit row notes who made which state change and of what
# (state, action, knowledge-base version, quantity), and the frozen payload stays in the record itself
PAYLOAD_FIELDS = {BenefitRecord: frozenset({"evidence", "figures", "inputs", "formulas", "counterfactual",
                                            "approximate"})}


def set_actor(session: OrmSession, user_id: int | None) -> None:
    session.info["actor_id"] = user_id


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _shown(key: str, value: Any) -> Any:
    return "***" if key in SECRET_FIELDS else _plain(value)


def _entity_id(obj: Any) -> int | None:
    ident = getattr(obj, "id", None)
    return ident if isinstance(ident, int) else None


def _row_changes(obj: Any, action: str) -> dict[str, Any]:
    state = inspect(obj)
    changes: dict[str, Any] = {}
    payload = PAYLOAD_FIELDS.get(type(obj), frozenset())
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key in SKIPPED_FIELDS or key in payload:
            continue
        if action == "create":
            changes[key] = _shown(key, getattr(obj, key))
        elif action == "delete":
            changes[key] = _shown(key, state.attrs[key].loaded_value)
        else:
            hist = state.attrs[key].history
            if hist.has_changes():
                old = hist.deleted[0] if hist.deleted else None
                new = hist.added[0] if hist.added else None
                if old is NO_VALUE:
                    old = None
                if old != new:
                    changes[key] = {"from": _shown(key, old), "to": _shown(key, new)}
    if isinstance(obj, UserPark):
        changes = {"user_id": obj.user_id, "park_id": obj.park_id}
    return changes


@event.listens_for(OrmSession, "before_flush")
def _touch_updated_at(session: OrmSession, _ctx: Any, _instances: Any) -> None:
    for obj in session.dirty:
        if isinstance(obj, AUDITED) and hasattr(obj, "updated_at") and session.is_modified(obj):
            obj.updated_at = utcnow()


@event.listens_for(OrmSession, "after_flush")
def _write_audit_rows(session: OrmSession, _ctx: Any) -> None:
    actor = session.info.get("actor_id")
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for action, objs in (("create", session.new), ("update", session.dirty), ("delete", session.deleted)):
        for obj in objs:
            if not isinstance(obj, AUDITED):
                continue
            if action == "update" and not session.is_modified(obj):
                continue
            changes = _row_changes(obj, action)
            if action == "update" and not changes:
                continue
            rows.append({"at": now, "user_id": actor, "action": action, "entity": type(obj).__tablename__,
                         "entity_id": _entity_id(obj), "changes": changes})
    if rows:
        session.connection().execute(AuditLog.__table__.insert(), rows)

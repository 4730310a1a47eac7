"""The audit log: every insert, update and delete of a domain row is recorded in the same transaction.

It hooks the ORM flush rather than each service, so no write path can forget it. The acting user is
``session.info["actor_id"]`` (None for the CLI and seeding, recorded as the system). ``backend.db`` imports
this module, so every process that opens a session (the API, the command line, the seed) has the hooks.

Rows the database deletes by itself (``ON DELETE CASCADE``: the proposals of a deleted listing or run, the
ledger entries of a deleted firm) are recorded too, one ``delete`` row each with their values and
``cascade_from`` naming the row whose deletion took them, written before the database removes them; so are
references it empties (``ON DELETE SET NULL``: a deal's proposal), as ``update`` rows.
Events that change no row (logins, failed logins, logouts) are written with :func:`record`.
"""

from datetime import date, datetime
from typing import Any

from sqlalchemy import event, inspect, select
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


def record(session: OrmSession, *, action: str, entity: str, entity_id: int | None, changes: dict[str, Any],
           user_id: int | None = None) -> None:
    """One audit row for an event that is not a row change (login, failed login, logout)."""
    session.connection().execute(AuditLog.__table__.insert(), [
        {"at": utcnow(), "user_id": user_id, "action": action, "entity": entity, "entity_id": entity_id,
         "changes": _plain(changes)}])


IN_CHUNK = 1000  # ids per IN (...) list when looking up the rows a delete takes with it


def _cascade_children() -> dict[str, list[tuple[Any, Any, str]]]:
    """Parent table name -> (audited child model, its foreign-key column, CASCADE or SET NULL)."""
    children: dict[str, list[tuple[Any, Any, str]]] = {}
    for model in AUDITED:
        for fk in model.__table__.foreign_keys:  # type: ignore[attr-defined]
            rule = (fk.ondelete or "").upper()
            if rule in ("CASCADE", "SET NULL"):
                children.setdefault(fk.column.table.name, []).append((model, fk.parent, rule))
    return children


def _key(table: Any, values: Any) -> tuple[str, tuple[Any, ...]]:
    return table.name, tuple(values[c.name] for c in table.primary_key.columns)


@event.listens_for(OrmSession, "before_flush")
def _audit_cascaded_deletes(session: OrmSession, _ctx: Any, _instances: Any) -> None:
    """Audit what the database will do by itself when the flush deletes rows: delete the rows that refer to
    them with ON DELETE CASCADE (and theirs, in turn), and empty the references declared ON DELETE SET NULL."""
    if not session.deleted:
        return
    children = _cascade_children()
    frontier: dict[str, list[Any]] = {}
    seen: set[tuple[str, tuple[Any, ...]]] = set()
    for obj in session.deleted:
        table = getattr(obj, "__table__", None)
        if table is None:
            continue
        seen.add((table.name, tuple(inspect(obj).identity or ())))
        if table.name in children and _entity_id(obj) is not None:
            frontier.setdefault(table.name, []).append(_entity_id(obj))
    actor, now = session.info.get("actor_id"), utcnow()
    nulled: list[tuple[Any, Any, str, dict[str, Any]]] = []
    rows: list[dict[str, Any]] = []
    while frontier:
        parent, ids = frontier.popitem()
        for model, column, rule in children.get(parent, []):
            table = model.__table__
            skipped = SKIPPED_FIELDS | PAYLOAD_FIELDS.get(model, frozenset())
            found = (values for start in range(0, len(ids), IN_CHUNK) for values in session.connection().execute(
                select(table).where(column.in_(ids[start:start + IN_CHUNK]))).mappings())
            for values in found:
                key = _key(table, values)
                ident = values.get("id")
                if rule == "SET NULL":
                    nulled.append((table, column, parent, dict(values)))
                    continue
                if key in seen:
                    continue
                seen.add(key)
                changes = {k: _shown(k, v) for k, v in values.items() if k not in skipped}
                changes["cascade_from"] = {"entity": parent, "id": values[column.name]}
                rows.append({"at": now, "user_id": actor, "action": "delete", "entity": table.name,
                             "entity_id": ident if isinstance(ident, int) else None, "changes": changes})
                if table.name in children and isinstance(ident, int):
                    frontier.setdefault(table.name, []).append(ident)
    for table, column, parent, row in nulled:  # rows deleted anyway need no update row
        if _key(table, row) not in seen:
            ident = row.get("id")
            rows.append({"at": now, "user_id": actor, "action": "update", "entity": table.name,
                         "entity_id": ident if isinstance(ident, int) else None,
                         "changes": {column.name: {"from": row[column.name], "to": None},
                                     "cascade_from": {"entity": parent, "id": row[column.name]}}})
    if rows:
        session.connection().execute(AuditLog.__table__.insert(), rows)


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

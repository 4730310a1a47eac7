from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from backend import policy
from backend.api.deps import CurrentActor, SessionDep
from backend.api.params import OptionalId, PagingDep
from backend.models import AuditLog
from backend.schemas import AuditPublic, Page
from backend.services.query import apply_sort, page

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=Page[AuditPublic])
def list_audit(session: SessionDep, actor: CurrentActor, paging: PagingDep, entity: str | None = None,
               entity_id: OptionalId = None, user_id: OptionalId = None,
               action: Annotated[str | None, Query(max_length=12)] = None) -> dict:
    """The change log (admins only): who changed what, when; also logins, logouts and failed logins
    (``action=login_failed``)."""
    policy.require(actor.is_admin, "only admins read the audit log")
    stmt = select(AuditLog)
    if entity:
        stmt = stmt.where(AuditLog.entity == entity)
    if entity_id is not None:
        stmt = stmt.where(AuditLog.entity_id == entity_id)
    if user_id is not None:
        stmt = stmt.where(AuditLog.user_id == user_id)
    if action:
        stmt = stmt.where(AuditLog.action == action)
    stmt = apply_sort(stmt, paging.sort or "-id", {"id": AuditLog.id, "at": AuditLog.at},
                      AuditLog.id)
    rows, count = page(session, stmt, skip=paging.skip, limit=paging.limit)
    return {"data": [r[0] for r in rows], "count": count}

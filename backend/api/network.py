"""The exchange network of a scope (nodes, edges, metrics) and firm-removal resilience."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from backend.api.deps import CurrentActor, SessionDep
from backend.api.params import Id, OptionalId
from backend.services import network as svc

router = APIRouter(prefix="/network", tags=["network"])
Province = Annotated[str | None, Query(min_length=2, max_length=40)]


@router.get("")
def get_network(session: SessionDep, actor: CurrentActor, park_id: OptionalId = None, province: Province = None,
                include_proposals: bool = True) -> dict[str, Any]:
    """Firms and parks as nodes, deals and open proposals as edges, with links, tonnage, cross-park and
    cross-province shares, centralities, keystone firms, communities and cycles."""
    return svc.network(session=session, actor=actor, park_id=park_id, province=province,
                       include_proposals=include_proposals)


@router.get("/resilience")
def get_resilience(session: SessionDep, actor: CurrentActor, firm_id: Id, park_id: OptionalId = None,
                   province: Province = None, rerun: bool = True) -> dict[str, Any]:
    """What is lost if ``firm_id`` stops, and whether a re-run finds substitutes (and at what benefit)."""
    return svc.resilience(session=session, actor=actor, firm_id=firm_id, park_id=park_id, province=province,
                          rerun=rerun)

"""KPIs per park, province or region and per material family, against the utilisation targets."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from backend.api.deps import CurrentActor, SessionDep
from backend.api.params import OptionalId
from backend.services import kpis as svc

router = APIRouter(prefix="/kpis", tags=["kpis"])


@router.get("")
def get_kpis(session: SessionDep, actor: CurrentActor,
             group_by: Literal["park", "province", "region"] = "park", park_id: OptionalId = None,
             province: Annotated[str | None, Query(min_length=2, max_length=40)] = None,
             year: Annotated[int | None, Query(ge=2000, le=2100)] = None) -> dict[str, Any]:
    """KPIs of a year (default: this one) per group: ``families``, ``materials`` and ``targets``, each with
    generation, utilisation by baseline, deals and deliveries, storage, stock drawdown and the official rate
    (definitions: ``backend.services.kpis``), and ``firms`` behind every figure."""
    return svc.kpis(session=session, actor=actor, group_by=group_by, park_id=park_id, province=province, year=year)

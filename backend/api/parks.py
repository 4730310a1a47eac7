from typing import Annotated

from fastapi import APIRouter, Query, Response

from backend.api.deps import CurrentActor, SessionDep
from backend.api.params import Id, PagingDep
from backend.schemas import Page, ParkCreate, ParkPublic, ParkUpdate
from backend.schemas_deals import ScreeningPublic
from backend.services import parks as svc
from backend.services import screening as screening_svc

router = APIRouter(prefix="/parks", tags=["parks"])


@router.get("", response_model=Page[ParkPublic])
def list_parks(session: SessionDep, actor: CurrentActor, paging: PagingDep,
               province: str | None = None, q: Annotated[str | None, Query(max_length=100)] = None) -> dict:
    data, count = svc.list_parks(session=session, actor=actor, province=province, q=q, **paging.model_dump())
    return {"data": data, "count": count}


@router.post("", response_model=ParkPublic, status_code=201)
def create_park(session: SessionDep, actor: CurrentActor, park_in: ParkCreate) -> object:
    return svc.create_park(session=session, actor=actor, park_in=park_in)


@router.get("/{park_id}", response_model=ParkPublic)
def get_park(session: SessionDep, actor: CurrentActor, park_id: Id) -> object:
    return svc.get_park(session=session, actor=actor, park_id=park_id)


@router.patch("/{park_id}", response_model=ParkPublic)
def update_park(session: SessionDep, actor: CurrentActor, park_id: Id, park_in: ParkUpdate) -> object:
    return svc.update_park(session=session, actor=actor, park_id=park_id, park_in=park_in)


@router.delete("/{park_id}", status_code=204)
def delete_park(session: SessionDep, actor: CurrentActor, park_id: Id) -> Response:
    svc.delete_park(session=session, actor=actor, park_id=park_id)
    return Response(status_code=204)


@router.get("/{park_id}/screening", response_model=ScreeningPublic)
def screen_park(session: SessionDep, actor: CurrentActor, park_id: Id,
                mode: Annotated[str, Query(description="profiles (industry profiles only) or combined (the "
                                                       "park's listings, profiles where a firm has none)")]
                = "profiles",
                top: Annotated[int, Query(ge=1, le=50, description="pairs kept per stream")] = 3,
                all_pairs: Annotated[bool, Query(alias="all", description="keep every viable pair")] = False,
                min_benefit: Annotated[float, Query(ge=0, le=1e12, description="yuan a year below which a pair "
                                                                              "is not proposed")] = 1_000_000.0,
                ) -> dict:
    """Exchanges worth a closer look, estimated from the firms' industry profiles and ranked by confidence.
    Nothing is stored."""
    result = screening_svc.screen_park(session=session, actor=actor, park_id=park_id, mode=mode,
                                       top=None if all_pairs else top, min_annual_benefit=min_benefit)
    return {"park_id": park_id, **vars(result)}

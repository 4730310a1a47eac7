from typing import Annotated

from fastapi import APIRouter, Query, Response

from backend.api.deps import CurrentActor, SessionDep
from backend.api.params import Id, OptionalId, PagingDep
from backend.schemas import FirmCreate, FirmPublic, FirmUpdate, Page
from backend.services import firms as svc

router = APIRouter(prefix="/firms", tags=["firms"])


@router.get("", response_model=Page[FirmPublic])
def list_firms(session: SessionDep, actor: CurrentActor, paging: PagingDep, park_id: OptionalId = None,
               province: str | None = None,
               industry_code: Annotated[str | None, Query(pattern=r"^\d{2,4}$")] = None,
               q: Annotated[str | None, Query(max_length=100)] = None) -> dict:
    data, count = svc.list_firms(session=session, actor=actor, park_id=park_id, province=province,
                                 industry_code=industry_code, q=q, **paging.model_dump())
    return {"data": data, "count": count}


@router.post("", response_model=FirmPublic, status_code=201)
def create_firm(session: SessionDep, actor: CurrentActor, firm_in: FirmCreate) -> object:
    return svc.create_firm(session=session, actor=actor, firm_in=firm_in)


@router.get("/{firm_id}", response_model=FirmPublic)
def get_firm(session: SessionDep, actor: CurrentActor, firm_id: Id) -> object:
    return svc.get_firm(session=session, actor=actor, firm_id=firm_id)


@router.patch("/{firm_id}", response_model=FirmPublic)
def update_firm(session: SessionDep, actor: CurrentActor, firm_id: Id, firm_in: FirmUpdate) -> object:
    return svc.update_firm(session=session, actor=actor, firm_id=firm_id, firm_in=firm_in)


@router.delete("/{firm_id}", status_code=204)
def delete_firm(session: SessionDep, actor: CurrentActor, firm_id: Id) -> Response:
    svc.delete_firm(session=session, actor=actor, firm_id=firm_id)
    return Response(status_code=204)

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response

from backend.api.deps import CurrentActor, SessionDep
from backend.api.params import Id, OptionalId, PagingDep
from backend.schemas import Page, PermitCreate, PermitPublic, PermitUpdate
from backend.services import permits as svc

router = APIRouter(prefix="/permits", tags=["permits"])


@router.get("", response_model=Page[PermitPublic])
def list_permits(session: SessionDep, actor: CurrentActor, paging: PagingDep, firm_id: OptionalId = None,
                 hw_code: Annotated[str | None, Query(pattern=r"^HW\d{2}$")] = None,
                 active_on: date | None = None) -> dict:
    data, count = svc.list_permits(session=session, actor=actor, firm_id=firm_id, hw_code=hw_code,
                                   active_on=active_on, **paging.model_dump())
    return {"data": [svc.to_public(p) for p in data], "count": count}


@router.post("", response_model=PermitPublic, status_code=201)
def create_permit(session: SessionDep, actor: CurrentActor, permit_in: PermitCreate) -> PermitPublic:
    return svc.to_public(svc.create_permit(session=session, actor=actor, permit_in=permit_in))


@router.get("/{permit_id}", response_model=PermitPublic)
def get_permit(session: SessionDep, actor: CurrentActor, permit_id: Id) -> PermitPublic:
    return svc.to_public(svc.get_permit(session=session, actor=actor, permit_id=permit_id))


@router.patch("/{permit_id}", response_model=PermitPublic)
def update_permit(session: SessionDep, actor: CurrentActor, permit_id: Id,
                  permit_in: PermitUpdate) -> PermitPublic:
    return svc.to_public(svc.update_permit(session=session, actor=actor, permit_id=permit_id,
                                           permit_in=permit_in))


@router.delete("/{permit_id}", status_code=204)
def delete_permit(session: SessionDep, actor: CurrentActor, permit_id: Id) -> Response:
    svc.delete_permit(session=session, actor=actor, permit_id=permit_id)
    return Response(status_code=204)

from fastapi import APIRouter, Response

from backend.api.deps import CurrentActor, SessionDep
from backend.api.params import Id, OptionalId, PagingDep
from backend.schemas import Page, SiteCreate, SitePublic, SiteUpdate
from backend.services import sites as svc

router = APIRouter(prefix="/sites", tags=["sites"])


@router.get("", response_model=Page[SitePublic])
def list_sites(session: SessionDep, actor: CurrentActor, paging: PagingDep, firm_id: OptionalId = None) -> dict:
    data, count = svc.list_sites(session=session, actor=actor, firm_id=firm_id, **paging.model_dump())
    return {"data": data, "count": count}


@router.post("", response_model=SitePublic, status_code=201)
def create_site(session: SessionDep, actor: CurrentActor, site_in: SiteCreate) -> object:
    return svc.create_site(session=session, actor=actor, site_in=site_in)


@router.get("/{site_id}", response_model=SitePublic)
def get_site(session: SessionDep, actor: CurrentActor, site_id: Id) -> object:
    return svc.readable_site(session, actor, site_id)[0]


@router.patch("/{site_id}", response_model=SitePublic)
def update_site(session: SessionDep, actor: CurrentActor, site_id: Id, site_in: SiteUpdate) -> object:
    return svc.update_site(session=session, actor=actor, site_id=site_id, site_in=site_in)


@router.delete("/{site_id}", status_code=204)
def delete_site(session: SessionDep, actor: CurrentActor, site_id: Id) -> Response:
    svc.delete_site(session=session, actor=actor, site_id=site_id)
    return Response(status_code=204)

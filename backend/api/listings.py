from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from backend.api.deps import CurrentActor, SessionDep
from backend.api.params import Id, OptionalId, PagingDep
from backend.schemas import Kind, ListingCreate, ListingPublic, ListingUpdate, Page, Status, Visibility
from backend.services import listings as svc

router = APIRouter(prefix="/listings", tags=["listings"])
BUSY: dict[int | str, dict[str, Any]] = {503: {
    "description": "The database is busy (no free connection, a row lock held too long): retry after the "
                   "seconds in the `Retry-After` header. Body: `{detail, code: \"busy\"}`."}}
CHANGE_REFUSED: dict[int | str, dict[str, Any]] = {409: {
    "description": "Refused, body `{detail, code, loc}`: `listing_version` (someone changed the listing since "
                   "the `version` you sent), `listing_committed` (agreed and active deals commit more than the "
                   "new quantity), `listing_has_deals` (kind, material and unit are fixed while deals hold the "
                   "listing), `listing_in_deals` (a listing with deals is closed, not deleted)."}} | BUSY


@router.get("", response_model=Page[ListingPublic])
def list_listings(
    session: SessionDep, actor: CurrentActor, paging: PagingDep,
    material: Annotated[list[str] | None, Query(description="material id; repeat for several")] = None,
    kind: Kind | None = None, park_id: OptionalId = None, province: str | None = None,
    firm_id: OptionalId = None, status: Status | None = None, visibility: Visibility | None = None,
    q: Annotated[str | None, Query(max_length=100, description="text in material, firm or description")] = None,
    near_lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    near_lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    radius_km: Annotated[float | None, Query(gt=0, le=5000)] = None,
) -> dict:
    data, count = svc.list_listings(
        session=session, actor=actor, material=material, kind=kind, park_id=park_id, province=province,
        firm_id=firm_id, status=status, visibility=visibility, q=q, near_lat=near_lat, near_lon=near_lon,
        radius_km=radius_km, **paging.model_dump())
    return {"data": data, "count": count}


@router.post("", response_model=ListingPublic, status_code=201)
def create_listing(session: SessionDep, actor: CurrentActor, listing_in: ListingCreate) -> ListingPublic:
    listing = svc.create_listing(session=session, actor=actor, listing_in=listing_in)
    return svc.get_listing(session=session, actor=actor, listing_id=listing.id or 0)


@router.get("/{listing_id}", response_model=ListingPublic)
def get_listing(session: SessionDep, actor: CurrentActor, listing_id: Id) -> ListingPublic:
    return svc.get_listing(session=session, actor=actor, listing_id=listing_id)


@router.patch("/{listing_id}", response_model=ListingPublic, responses=CHANGE_REFUSED)
def update_listing(session: SessionDep, actor: CurrentActor, listing_id: Id,
                   listing_in: ListingUpdate) -> ListingPublic:
    """Change a listing. Send the ``version`` you read to have the change refused (409) if someone changed
    the listing meanwhile; a listing never falls below what its agreed and active deals commit."""
    svc.update_listing(session=session, actor=actor, listing_id=listing_id, listing_in=listing_in)
    return svc.get_listing(session=session, actor=actor, listing_id=listing_id)


@router.delete("/{listing_id}", status_code=204, responses=CHANGE_REFUSED)
def delete_listing(session: SessionDep, actor: CurrentActor, listing_id: Id) -> Response:
    svc.delete_listing(session=session, actor=actor, listing_id=listing_id)
    return Response(status_code=204)

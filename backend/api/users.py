from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from backend.api.deps import CurrentActor, SessionDep, current_session_id
from backend.api.params import Id, OptionalId, PagingDep
from backend.schemas import (
    MeUpdate,
    Page,
    Role,
    TokenCreate,
    TokenCreated,
    TokenPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from backend.services import users as svc

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me", response_model=UserPublic)
def me(session: SessionDep, actor: CurrentActor) -> UserPublic:
    return svc.to_public(session, actor.user)


@router.patch("/me", response_model=UserPublic)
def update_me(request: Request, session: SessionDep, actor: CurrentActor, me_in: MeUpdate) -> UserPublic:
    """A new password ends the account's API tokens and its other sessions; this session stays."""
    return svc.to_public(session, svc.update_me(session=session, actor=actor, me_in=me_in,
                                                current_session_id=current_session_id(request)))


@router.get("/me/tokens", response_model=list[TokenPublic])
def list_tokens(session: SessionDep, actor: CurrentActor) -> object:
    return svc.list_tokens(session=session, actor=actor)


@router.post("/me/tokens", response_model=TokenCreated, status_code=201)
def create_token(session: SessionDep, actor: CurrentActor, token_in: TokenCreate) -> TokenCreated:
    row, token = svc.create_token(session=session, actor=actor, token_in=token_in)
    return TokenCreated.model_validate(row.model_dump() | {"token": token})


@router.delete("/me/tokens/{token_id}", status_code=204)
def revoke_token(session: SessionDep, actor: CurrentActor, token_id: Id) -> Response:
    """The token answers 401 from now on; it stays listed, with its ``revoked_at``."""
    svc.revoke_token(session=session, actor=actor, token_id=token_id)
    return Response(status_code=204)


@router.get("", response_model=Page[UserPublic])
def list_users(session: SessionDep, actor: CurrentActor, paging: PagingDep, role: Role | None = None,
               firm_id: OptionalId = None, q: Annotated[str | None, Query(max_length=100)] = None) -> dict:
    data, count = svc.list_users(session=session, actor=actor, role=role, firm_id=firm_id, q=q,
                                 **paging.model_dump())
    return {"data": [svc.to_public(session, u) for u in data], "count": count}


@router.post("", response_model=UserPublic, status_code=201)
def create_user(session: SessionDep, actor: CurrentActor, user_in: UserCreate) -> UserPublic:
    return svc.to_public(session, svc.create_user(session=session, actor=actor, user_in=user_in))


@router.get("/{user_id}", response_model=UserPublic)
def get_user(session: SessionDep, actor: CurrentActor, user_id: Id) -> UserPublic:
    return svc.to_public(session, svc.get_user(session=session, actor=actor, user_id=user_id))


@router.patch("/{user_id}", response_model=UserPublic)
def update_user(session: SessionDep, actor: CurrentActor, user_id: Id, user_in: UserUpdate) -> UserPublic:
    return svc.to_public(session, svc.update_user(session=session, actor=actor, user_id=user_id,
                                                  user_in=user_in))


@router.delete("/{user_id}", status_code=204)
def delete_user(session: SessionDep, actor: CurrentActor, user_id: Id) -> Response:
    svc.delete_user(session=session, actor=actor, user_id=user_id)
    return Response(status_code=204)

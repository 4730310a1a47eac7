"""Request dependencies: the unit of work, the authenticated actor, and CSRF for cookie sessions."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from backend.audit import set_actor
from backend.db import new_session
from backend.errors import NotAuthenticated, PermissionDenied
from backend.models import User
from backend.policy import Actor
from backend.security import CSRF_HEADER, SESSION_COOKIE, csrf_matches, read_session_cookie
from backend.services.users import actor_for, user_for_token

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session() -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back if it raises."""
    session = new_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def user_from_request(request: Request, session: Session) -> User | None:
    """The user behind a Bearer token or a session cookie (checking CSRF on cookie writes), or None."""
    token = _bearer(request)
    if token is not None:
        user = user_for_token(session=session, token=token)
        if user is None:
            raise NotAuthenticated("invalid or expired API token")
        return user
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    data = read_session_cookie(cookie)
    user = session.get(User, data["uid"]) if data else None
    if data is None or user is None or not user.is_active or user.session_epoch != data["ep"]:
        return None
    if request.method not in SAFE_METHODS:
        supplied = request.headers.get(CSRF_HEADER) or request.query_params.get("csrf_token")
        if not csrf_matches(str(data["sid"]), supplied):
            raise PermissionDenied(f"missing or wrong CSRF token (send the {CSRF_HEADER} header)")
    return user


def get_actor(request: Request, session: SessionDep) -> Actor:
    user = user_from_request(request, session)
    if user is None:
        raise NotAuthenticated("log in or send an API token (Authorization: Bearer ...)")
    set_actor(session, user.id)
    return actor_for(session, user)


CurrentActor = Annotated[Actor, Depends(get_actor)]

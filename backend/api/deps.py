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
from backend.services.auth import session_user
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


def client_address(request: Request) -> str:
    """The client's address as the server sees it (behind a proxy: run uvicorn with --forwarded-allow-ips)."""
    return request.client.host if request.client else "unknown"


def current_session_id(request: Request) -> int | None:
    """The server-side session behind this request's cookie, once :func:`user_from_request` found it."""
    return getattr(request.state, "auth_session_id", None)


def user_from_request(request: Request, session: Session) -> User | None:
    """The user behind a Bearer token or a live session cookie (checking CSRF on cookie writes), or None.

    The CSRF token of a cookie session is read from the X-CSRF-Token header only, never from the address
    (a query string leaks into logs, history and Referer headers)."""
    token = _bearer(request)
    if token is not None:
        user = user_for_token(session=session, token=token)
        if user is None:
            raise NotAuthenticated("invalid, expired or revoked API token")
        return user
    session_id = read_session_cookie(request.cookies.get(SESSION_COOKIE, ""))
    found = session_user(session=session, session_id=session_id) if session_id else None
    if session_id is None or found is None:
        return None
    user, row = found
    if request.method not in SAFE_METHODS and not csrf_matches(session_id, request.headers.get(CSRF_HEADER)):
        raise PermissionDenied(f"missing or wrong CSRF token (send the {CSRF_HEADER} header)")
    request.state.auth_session_id = row.id
    return user


def get_actor(request: Request, session: SessionDep) -> Actor:
    user = user_from_request(request, session)
    if user is None:
        raise NotAuthenticated("log in or send an API token (Authorization: Bearer ...)")
    set_actor(session, user.id)
    return actor_for(session, user)


CurrentActor = Annotated[Actor, Depends(get_actor)]

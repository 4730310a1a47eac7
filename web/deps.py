"""Who is looking at a page: the signed-in actor (from the same session cookie as the API), their firm and
parks, the page language and the CSRF token the page echoes on every change."""

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import select
from sqlmodel import Session

from backend.api.deps import SessionDep, user_from_request
from backend.audit import set_actor
from backend.config import get_settings
from backend.errors import NotAuthenticated, PermissionDenied
from backend.models import Firm, Park
from backend.policy import Actor
from backend.security import SESSION_COOKIE, csrf_token_for, read_session_cookie
from backend.services.users import actor_for
from web.i18n import Translator, pick_locale


@dataclass(frozen=True)
class Named:
    """A park or firm as the top bar and pickers show it: plain values, safe to use after the request's
    session has rolled back (error pages render then)."""

    id: int
    name_zh: str
    name_en: str | None


@dataclass
class Viewer:
    """The signed-in user as pages need them."""

    actor: Actor
    role: str
    name: str
    locale: str
    firm: Named | None = None
    parks: list[Named] = field(default_factory=list)


def csrf_token(request: Request) -> str:
    session_id = read_session_cookie(request.cookies.get(SESSION_COOKIE, ""))
    return csrf_token_for(session_id) if session_id else ""


def load_viewer(request: Request, session: Session) -> Viewer | None:
    """The viewer behind the session cookie, or None. Checks CSRF on changes (PermissionDenied if wrong)."""
    user = user_from_request(request, session)
    if user is None:
        return None
    set_actor(session, user.id)
    actor = actor_for(session, user)
    firm = session.get(Firm, user.firm_id) if user.firm_id is not None else None
    if actor.role == "park_manager":
        parks = list(session.scalars(select(Park).where(Park.id.in_(actor.park_ids)).order_by(Park.id)))
    elif firm is not None:
        parks = [p for p in (session.get(Park, firm.park_id),) if p is not None]
    else:
        parks = []
    viewer = Viewer(actor=actor, role=user.role, name=user.name, locale=user.locale,
                    firm=Named(firm.id or 0, firm.name, firm.name_en) if firm else None,
                    parks=[Named(p.id or 0, p.name_zh, p.name_en) for p in parks])
    request.state.viewer = viewer
    return viewer


def get_viewer(request: Request, session: SessionDep) -> Viewer:
    viewer = load_viewer(request, session)
    if viewer is None:
        raise NotAuthenticated("log in to see this page")
    return viewer


def get_optional_viewer(request: Request, session: SessionDep) -> Viewer | None:
    return load_viewer(request, session)


CurrentViewer = Annotated[Viewer, Depends(get_viewer)]
OptionalViewer = Annotated[Viewer | None, Depends(get_optional_viewer)]


def require_role(viewer: Viewer, *roles: str) -> None:
    if viewer.role not in roles:
        raise PermissionDenied("this page is not open to your role")


def managed_parks(session: Session, viewer: Viewer) -> list[Park]:
    """The parks whose firms this viewer manages: their own for a park manager, every park for an admin."""
    stmt = select(Park).order_by(Park.id)
    if viewer.role == "park_manager":
        return list(session.scalars(stmt.where(Park.id.in_(viewer.actor.park_ids))))
    return list(session.scalars(stmt)) if viewer.role == "admin" else []


def page_context(request: Request) -> dict[str, Any]:
    """What every template may use: ``t``, ``locale``, ``viewer``, ``csrf``, ``path`` and map settings."""
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    locale = pick_locale(request, viewer.locale if viewer else None)
    t = Translator(locale)
    settings = get_settings()

    def name_of(obj: Any) -> str:
        """Park, firm or material name in the page language."""
        if obj is None:
            return ""
        zh = getattr(obj, "name_zh", None) or getattr(obj, "name", "")
        return obj.name_en if locale == "en" and getattr(obj, "name_en", None) else zh

    return {"t": t, "locale": locale, "viewer": viewer, "csrf": csrf_token(request) if viewer else "",
            "path": request.url.path, "name_of": name_of, "map_tile_url": settings.map_tile_url,
            "map_attribution": settings.map_attribution}

"""Login, logout and the language switch."""

import math
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from backend.api.auth import end_session, set_session_cookies
from backend.api.deps import SessionDep, client_address
from backend.config import get_settings
from backend.errors import NotAuthenticated, PermissionDenied, TooManyRequests
from backend.schemas import MeUpdate
from backend.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    csrf_matches,
    login_csrf_matches,
    login_csrf_token,
    new_login_nonce,
    read_session_cookie,
)
from backend.services import auth as auth_svc
from backend.services import users as users_svc
from web.deps import CurrentViewer, OptionalViewer
from web.forms import read_form
from web.i18n import LANG_COOKIE, LOCALES
from web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)
LOGIN_FORM_MAX_AGE_S = 2 * 3600  # the login page's CSRF cookie
Form = Annotated[dict[str, str], Depends(read_form)]


def safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect a login to another host."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def remember_language(response: Response, locale: str) -> None:
    response.set_cookie(LANG_COOKIE, locale, max_age=365 * 24 * 3600, httponly=True, samesite="lax",
                        secure=get_settings().cookie_secure, path="/")


def _login_page(request: Request, *, next_url: str, email: str = "", problem: str | None = None,
                minutes: int = 0, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """The login form, with its CSRF token bound to the visitor's login cookie (set here if missing)."""
    nonce = request.cookies.get(LOGIN_CSRF_COOKIE) or new_login_nonce()
    response = render(request, "login.html", {"next": next_url, "email": email, "problem": problem,
                                              "minutes": minutes, "login_csrf": login_csrf_token(nonce)},
                      status_code=status_code, headers=headers)
    response.set_cookie(LOGIN_CSRF_COOKIE, nonce, max_age=LOGIN_FORM_MAX_AGE_S, httponly=True, samesite="strict",
                        secure=get_settings().cookie_secure, path="/login")
    return response


@router.get("/login")
def login_page(request: Request, viewer: OptionalViewer, next: str | None = None) -> Response:
    if viewer is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, next_url=safe_next(next))


@router.post("/login")
def login(request: Request, session: SessionDep, form: Form) -> Response:
    """Log in through the account service (throttled, failures audited). The form must carry the CSRF token
    of the login page this browser was shown (login CSRF: no other site can sign a visitor in)."""
    email, password = form.get("email", ""), form.get("password", "")
    target = safe_next(form.get("next"))
    if not login_csrf_matches(request.cookies.get(LOGIN_CSRF_COOKIE), form.get(CSRF_FIELD)):
        return _login_page(request, next_url=target, email=email, problem="expired", status_code=403)
    if not email or not password:
        return _login_page(request, next_url=target, email=email, problem="failed", status_code=401)
    try:
        _user, session_id = auth_svc.login(session=session, email=email, password=password,
                                           address=client_address(request))
    except TooManyRequests as exc:
        return _login_page(request, next_url=target, email=email, problem="locked",
                           minutes=math.ceil(exc.retry_after / 60), status_code=429,
                           headers={"Retry-After": str(exc.retry_after)})
    except NotAuthenticated:
        return _login_page(request, next_url=target, email=email, problem="failed", status_code=401)
    response = RedirectResponse(target, status_code=303)
    # No language cookie here: a choice made in this browser (?lang= on the login page) stays; without one,
    # pages follow the account's saved language.
    set_session_cookies(response, session_id)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, form: Form) -> Response:
    """End the session on the server. Either the page's HTMX header or the form's hidden field must carry
    the session's CSRF token."""
    supplied = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    session_id = read_session_cookie(request.cookies.get(SESSION_COOKIE, ""))
    if session_id and not csrf_matches(session_id, supplied):
        raise PermissionDenied("missing or wrong CSRF token")
    response: Response
    if is_htmx(request):
        response = Response(status_code=204, headers={"HX-Redirect": "/login"})
    else:
        response = RedirectResponse("/login", status_code=303)
    end_session(request, response, session)
    return response


@router.post("/me/language")
def set_language(request: Request, session: SessionDep, viewer: CurrentViewer, form: Form) -> Response:
    """Save the language on the account (the API's own service) and remember it in the browser."""
    locale = form.get("lang", "")
    if locale not in LOCALES:
        locale = "zh"
    users_svc.update_me(session=session, actor=viewer.actor, me_in=MeUpdate(locale=locale))  # type: ignore[arg-type]
    back = safe_next(form.get("next"))
    response: Response
    if is_htmx(request):
        response = Response(status_code=204, headers={"HX-Refresh": "true"})
    else:
        response = RedirectResponse(back, status_code=303)
    remember_language(response, locale)
    return response

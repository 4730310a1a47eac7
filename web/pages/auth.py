"""Login, logout and the language switch."""

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from backend.api.auth import set_session_cookies
from backend.api.deps import SessionDep
from backend.config import get_settings
from backend.errors import PermissionDenied
from backend.schemas import MeUpdate
from backend.security import CSRF_COOKIE, SESSION_COOKIE
from backend.services import users as users_svc
from web.deps import CurrentViewer, OptionalViewer, csrf_token
from web.forms import read_form
from web.i18n import LANG_COOKIE, LOCALES
from web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)
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


@router.get("/login")
def login_page(request: Request, viewer: OptionalViewer, next: str | None = None) -> Response:
    if viewer is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", {"next": safe_next(next), "email": "", "failed": False})


@router.post("/login")
def login(request: Request, session: SessionDep, form: Form) -> Response:
    email, password = form.get("email", ""), form.get("password", "")
    user = users_svc.authenticate(session=session, email=email, password=password) if email and password else None
    target = safe_next(form.get("next"))
    if user is None:
        return render(request, "login.html", {"next": target, "email": email, "failed": True}, status_code=401)
    response = RedirectResponse(target, status_code=303)
    # No language cookie here: a choice made in this browser (?lang= on the login page) stays; without one,
    # pages follow the account's saved language.
    set_session_cookies(response, user.id or 0, user.session_epoch)
    return response


@router.post("/logout")
def logout(request: Request, form: Form) -> Response:
    # Either the page's HTMX header or the form's hidden field must carry the session's CSRF token.
    supplied = request.headers.get("X-CSRF-Token") or form.get("csrf_token")
    token = csrf_token(request)
    if token and supplied != token:
        raise PermissionDenied("missing or wrong CSRF token")
    response: Response
    if is_htmx(request):
        response = Response(status_code=204, headers={"HX-Redirect": "/login"})
    else:
        response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
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

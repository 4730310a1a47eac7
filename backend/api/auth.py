from fastapi import APIRouter, Request, Response
from sqlmodel import Session

from backend.api.deps import CurrentActor, SessionDep, client_address
from backend.config import get_settings
from backend.schemas import LoginRequest, LoginResponse
from backend.security import CSRF_COOKIE, SESSION_COOKIE, csrf_token_for, make_session_cookie, read_session_cookie
from backend.services import auth as auth_svc
from backend.services import users as svc

router = APIRouter(prefix="/auth", tags=["auth"])


def set_session_cookies(response: Response, session_id: str) -> str:
    """Send the cookie of a new server-side session; returns its CSRF token."""
    settings = get_settings()
    csrf = csrf_token_for(session_id)
    response.set_cookie(SESSION_COOKIE, make_session_cookie(session_id), max_age=settings.session_max_age_s,
                        httponly=True, samesite="lax", secure=settings.cookie_secure, path="/")
    # Readable by the page's own script, which echoes it in the X-CSRF-Token header.
    response.set_cookie(CSRF_COOKIE, csrf, max_age=settings.session_max_age_s, httponly=False,
                        samesite="strict", secure=settings.cookie_secure, path="/")
    return csrf


def end_session(request: Request, response: Response, session: Session) -> None:
    """Revoke the request's browser session on the server and drop its cookies."""
    session_id = read_session_cookie(request.cookies.get(SESSION_COOKIE, ""))
    if session_id:
        auth_svc.end_session(session=session, session_id=session_id)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


@router.post("/login", response_model=LoginResponse,
             responses={401: {"description": "wrong email or password"},
                        429: {"description": "too many failed logins: locked for the Retry-After seconds"}})
def login(request: Request, session: SessionDep, body: LoginRequest, response: Response) -> LoginResponse:
    user, session_id = auth_svc.login(session=session, email=body.email, password=body.password,
                                      address=client_address(request))
    csrf = set_session_cookies(response, session_id)
    return LoginResponse(user=svc.to_public(session, user), csrf_token=csrf)


@router.post("/logout", status_code=204)
def logout(request: Request, session: SessionDep, actor: CurrentActor) -> Response:
    """End this browser session on the server: its cookie no longer works, wherever it was copied to."""
    response = Response(status_code=204)
    end_session(request, response, session)
    return response

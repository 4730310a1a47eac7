from fastapi import APIRouter, Response

from backend.api.deps import CurrentActor, SessionDep
from backend.config import get_settings
from backend.errors import NotAuthenticated
from backend.schemas import LoginRequest, LoginResponse
from backend.security import CSRF_COOKIE, SESSION_COOKIE, make_session_cookie
from backend.services import users as svc

router = APIRouter(prefix="/auth", tags=["auth"])


def set_session_cookies(response: Response, user_id: int, epoch: int) -> str:
    settings = get_settings()
    cookie, csrf = make_session_cookie(user_id, epoch)
    response.set_cookie(SESSION_COOKIE, cookie, max_age=settings.session_max_age_s, httponly=True,
                        samesite="lax", secure=settings.cookie_secure, path="/")
    # Readable by the page's own script, which echoes it in the X-CSRF-Token header.
    response.set_cookie(CSRF_COOKIE, csrf, max_age=settings.session_max_age_s, httponly=False,
                        samesite="strict", secure=settings.cookie_secure, path="/")
    return csrf


@router.post("/login", response_model=LoginResponse)
def login(session: SessionDep, body: LoginRequest, response: Response) -> LoginResponse:
    user = svc.authenticate(session=session, email=body.email, password=body.password)
    if user is None:
        raise NotAuthenticated("wrong email or password")
    csrf = set_session_cookies(response, user.id or 0, user.session_epoch)
    return LoginResponse(user=svc.to_public(session, user), csrf_token=csrf)


@router.post("/logout", status_code=204)
def logout(actor: CurrentActor) -> Response:
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response

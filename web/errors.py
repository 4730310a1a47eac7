"""Errors on page routes answer HTML: 401 sends the browser to the login page, 403/404/… show a refusal
page (or, for an HTMX request, a short message the page shows in its flash area). The API keeps its JSON
answers: these handlers hand API paths back to the handlers the API installed."""

from collections.abc import Awaitable, Callable
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from backend.api.handlers import busy_answer
from backend.errors import DomainError, NotAuthenticated
from web.templating import is_htmx, render

API_PREFIXES = ("/api/", "/healthz", "/docs", "/redoc", "/openapi.json")
Handler = Callable[[Request, Exception], Awaitable[Response] | Response]

TITLES = {401: "error.401", 403: "error.403", 404: "error.404", 409: "error.409", 413: "error.413",
          422: "error.422", 503: "error.503"}


def is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIXES)


def login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = "/login" if target == "/" else f"/login?next={quote(target, safe='/')}"
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def _with_viewer(request: Request) -> None:
    """Errors raised before a page's own dependencies ran (an unknown address) still show who is signed in."""
    if getattr(request.state, "viewer", None) is not None or request.method != "GET":
        return
    from backend.db import new_session
    from web.deps import load_viewer

    session = new_session()
    try:
        load_viewer(request, session)
    except DomainError:
        pass
    finally:
        session.rollback()
        session.close()


def refusal(request: Request, status: int, detail: str | None = None, *,
            headers: dict[str, str] | None = None) -> Response:
    if status != 503:  # a busy database would keep the error page waiting too
        _with_viewer(request)
    context = {"status": status, "title_key": TITLES.get(status, "error.other"), "detail": detail}
    if is_htmx(request):
        answer = render(request, "refusal.html", context, block="message", status_code=status)
    else:
        answer = render(request, "refusal.html", context, status_code=status)
    answer.headers.update(headers or {})
    return answer


def install(app: FastAPI) -> None:
    api_domain: Handler = app.exception_handlers[DomainError]
    api_http: Handler = app.exception_handlers[StarletteHTTPException]
    api_validation: Handler = app.exception_handlers[RequestValidationError]

    async def delegate(handler: Handler, request: Request, exc: Exception) -> Response:
        answer = handler(request, exc)
        return await answer if isinstance(answer, Awaitable) else answer

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        if is_api(request):
            return await delegate(api_domain, request, exc)
        if isinstance(exc, NotAuthenticated):
            return login_redirect(request)
        return refusal(request, exc.status_code, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if is_api(request) or request.url.path.startswith("/static/"):
            return await delegate(api_http, request, exc)
        return refusal(request, exc.status_code)

    api_busy: Handler = app.exception_handlers[OperationalError]

    async def _busy(request: Request, exc: Exception) -> Response:
        """A busy database: 503 with Retry-After, as a page or (HTMX) a fragment; the API answers JSON."""
        answer = busy_answer(exc)
        if is_api(request) or answer is None:
            return await delegate(api_busy, request, exc)
        return refusal(request, 503, headers=answer[1])

    app.add_exception_handler(PoolTimeout, _busy)
    app.add_exception_handler(OperationalError, _busy)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        if is_api(request):
            return await delegate(api_validation, request, exc)
        # Page routes read their forms themselves; this is a malformed address (e.g. /firms/abc).
        return refusal(request, 404)

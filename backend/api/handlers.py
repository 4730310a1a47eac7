"""Maps domain exceptions to HTTP answers, in one place."""

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.db import busy_reason, retry_after_s
from backend.errors import DomainError, FieldConflict, InvalidInput, NotAuthenticated, TooManyRequests


def busy_answer(exc: Exception) -> tuple[str, dict[str, str]] | None:
    """For a database that is momentarily saturated (no free connection in the pool, a lock wait or statement
    timed out, a deadlock victim, too many connections): the message and the ``Retry-After`` header of the
    503 to answer; ``None`` for any other error (a bug stays a 500)."""
    reason = busy_reason(exc)
    if reason is None:
        return None
    return f"the database is busy ({reason}); try again shortly", {"Retry-After": str(retry_after_s())}


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        if isinstance(exc, InvalidInput):
            return JSONResponse({"detail": exc.errors}, status_code=exc.status_code)
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, NotAuthenticated) else None
        if isinstance(exc, TooManyRequests):
            headers = {"Retry-After": str(exc.retry_after)}
        body: dict[str, object] = {"detail": exc.message}
        if exc.code:
            body["code"] = exc.code
        if isinstance(exc, FieldConflict):
            body["loc"] = ["body", exc.field]
        return JSONResponse(body, status_code=exc.status_code, headers=headers)

    async def _busy(_request: Request, exc: Exception) -> JSONResponse:
        answer = busy_answer(exc)
        if answer is None:
            raise exc
        message, headers = answer
        return JSONResponse({"detail": message, "code": "busy"}, status_code=503, headers=headers)

    app.add_exception_handler(PoolTimeout, _busy)
    app.add_exception_handler(OperationalError, _busy)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # FastAPI answers 400 to a body it cannot parse (not UTF-8, say): that is bad input like any other,
        # a 422 naming the body, as the contract declares.
        if exc.status_code == 400:
            return JSONResponse({"detail": [{"loc": ["body"], "msg": f"cannot read the body: {exc.detail}",
                                             "type": "body_unreadable"}]}, status_code=422)
        return await http_exception_handler(request, exc)

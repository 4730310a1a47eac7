"""Maps domain exceptions to HTTP answers, in one place."""

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.errors import DomainError, InvalidInput, NotAuthenticated


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        if isinstance(exc, InvalidInput):
            return JSONResponse({"detail": exc.errors}, status_code=exc.status_code)
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, NotAuthenticated) else None
        return JSONResponse({"detail": exc.message}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # FastAPI answers 400 to a body it cannot parse (not UTF-8, say): that is bad input like any other,
        # a 422 naming the body, as the contract declares.
        if exc.status_code == 400:
            return JSONResponse({"detail": [{"loc": ["body"], "msg": f"cannot read the body: {exc.detail}",
                                             "type": "body_unreadable"}]}, status_code=422)
        return await http_exception_handler(request, exc)

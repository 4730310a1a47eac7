"""Maps domain exceptions to HTTP answers, in one place."""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from backend.errors import DomainError, InvalidInput, NotAuthenticated, TooManyRequests


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        if isinstance(exc, InvalidInput):
            return JSONResponse({"detail": exc.errors}, status_code=exc.status_code)
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, NotAuthenticated) else None
        if isinstance(exc, TooManyRequests):
            headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse({"detail": exc.message}, status_code=exc.status_code, headers=headers)

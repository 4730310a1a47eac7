"""The ISX application: JSON API under /api/v1, OpenAPI at /docs, health at /healthz."""

from fastapi import APIRouter, FastAPI

from backend import audit  # noqa: F401  (registers the audit-log hooks)
from backend.api import audit as audit_api
from backend.api import (
    auth,
    firms,
    handlers,
    health,
    imports,
    listings,
    materials,
    parks,
    permits,
    sites,
    users,
)

API_PREFIX = "/api/v1"


def create_app() -> FastAPI:
    app = FastAPI(title="ISX — Industrial Symbiosis Exchange", version="0.1.0",
                  description="Marketplace and planning tool for industrial by-product exchange.")
    api = APIRouter(prefix=API_PREFIX)
    for module in (auth, users, parks, firms, sites, listings, permits, imports, materials, audit_api):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(health.router)
    handlers.install(app)
    return app


app = create_app()

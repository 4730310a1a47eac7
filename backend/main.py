"""The ISX application: JSON API under /api/v1, OpenAPI at /docs, health at /healthz."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from sqlalchemy.exc import SQLAlchemyError

from backend import audit  # noqa: F401  (registers the audit-log hooks)
from backend.api import audit as audit_api
from backend.api import (
    auth,
    baseline,
    deals,
    exports,
    firms,
    handlers,
    health,
    imports,
    kpis,
    listings,
    materials,
    network,
    parks,
    permits,
    runs,
    sites,
    users,
)
from backend.api.caching import NoStore
from backend.api.contract import ERROR_RESPONSES
from backend.api.uploads import BodySizeLimit

API_PREFIX = "/api/v1"
log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    """At start-up, runs a previous process left unfinished are marked failed (never half-stored)."""
    from anyio import to_thread

    from backend.config import get_settings
    from backend.services.runs import recover_interrupted_runs

    # the threads that run ``def`` routes; the connection pool is sized to them (backend.config)
    to_thread.current_default_thread_limiter().total_tokens = get_settings().worker_threads
    try:
        recovered = recover_interrupted_runs()
        if recovered:
            log.warning("marked %d unfinished match run(s) as failed (interrupted by restart)", recovered)
    except SQLAlchemyError as exc:  # a database not migrated yet: nothing to recover
        log.warning("could not check for interrupted match runs: %s", exc)
    yield


def create_app() -> FastAPI:
    app = FastAPI(title="ISX — Industrial Symbiosis Exchange", version="0.1.0",
                  description="Marketplace and planning tool for industrial by-product exchange.",
                  lifespan=lifespan)
    api = APIRouter(prefix=API_PREFIX, responses=ERROR_RESPONSES)
    for module in (auth, users, parks, firms, sites, listings, permits, imports, materials, audit_api, deals,
                   runs, kpis, network, exports, baseline):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(health.router)
    handlers.install(app)
    app.add_middleware(NoStore)
    app.add_middleware(BodySizeLimit)
    return app


app = create_app()

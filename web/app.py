"""The whole ISX web application: the JSON API of ``backend`` plus the HTMX pages, static assets,
security headers and HTML error pages. ``isx serve`` runs ``web.app:app``.

The backend never imports this package (an import-linter contract keeps it so): it builds the API, this
module puts the user interface around it.
"""

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from backend.config import get_settings
from backend.main import create_app as create_api_app
from web import errors
from web.pages import auth, baseline, deals, firms, home, manage, map, materials, parks, planner, runs
from web.security import SecurityHeaders
from web.templating import STATIC_DIR


def create_app() -> FastAPI:
    app = create_api_app()
    for module in (auth, home, firms, materials, parks, manage, map, deals, runs, planner, baseline):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    errors.install(app)
    app.add_middleware(SecurityHeaders, tile_url=get_settings().map_tile_url)
    return app


app = create_app()

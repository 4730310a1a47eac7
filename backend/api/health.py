from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from backend.db import get_engine

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> JSONResponse:
    """Liveness and database state: reachable, dialect, and the applied migration revision."""
    engine = get_engine()
    database: dict[str, Any] = {"dialect": engine.dialect.name}
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            try:
                database["revision"] = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except Exception:
                database["revision"] = None
        database["ok"] = True
    except Exception as exc:
        database |= {"ok": False, "error": type(exc).__name__}
    ok = database["ok"] and database.get("revision") is not None
    return JSONResponse({"status": "ok" if ok else "degraded", "database": database},
                        status_code=200 if ok else 503)


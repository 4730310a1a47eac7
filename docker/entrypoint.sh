#!/bin/sh
# Wait for the database, apply migrations, then serve.
set -e
python - <<'PY'
import time
from pydantic import ValidationError
from sqlalchemy import create_engine, text
from backend.config import get_settings

try:
    url = get_settings().database_url
except ValidationError as exc:  # e.g. a weak ISX_SECRET_KEY: say why, without a traceback
    raise SystemExit("\n".join("error: " + e["msg"].removeprefix("Value error, ") for e in exc.errors()))
for attempt in range(60):
    try:
        with create_engine(url).connect() as conn:
            conn.execute(text("SELECT 1"))
        break
    except Exception as exc:  # the database is still starting
        print(f"waiting for the database ({exc.__class__.__name__})", flush=True)
        time.sleep(2)
else:
    raise SystemExit("database did not come up in 120 s")
PY
isx db upgrade
exec uvicorn web.app:app --host "${ISX_HOST:-0.0.0.0}" --port "${ISX_PORT:-8000}" --proxy-headers

"""Uploaded files kept between an import's preview and its confirm step.

The web import previews a file (a dry run), then imports it when the user confirms. The file stays on the
server for that: ``stage`` keeps it under ``upload_staging_dir`` by a random token bound to the user who
uploaded it, and ``take`` hands it back only to that user, within ``staged_upload_ttl_s``. The page carries
the token, never the file, so every file up to the upload limit can be confirmed (a base64 copy in the form
outgrew the form parser's part limit at about 0.75 MB).
"""

import json
import re
import secrets
import time
from pathlib import Path

from backend.config import get_settings
from backend.errors import InvalidInput

TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


def _dir() -> Path:
    path = Path(get_settings().upload_staging_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _purge_expired(directory: Path, now: float) -> None:
    ttl = get_settings().staged_upload_ttl_s
    for meta in directory.glob("*.json"):
        try:
            if now - meta.stat().st_mtime > ttl:
                meta.with_suffix(".bin").unlink(missing_ok=True)
                meta.unlink(missing_ok=True)
        except OSError:
            continue


def stage(*, data: bytes, filename: str, user_id: int) -> str:
    """Keep an uploaded file for its confirm step; return the token that names it."""
    directory = _dir()
    _purge_expired(directory, time.time())
    token = secrets.token_urlsafe(32)
    (directory / f"{token}.bin").write_bytes(data)
    (directory / f"{token}.json").write_text(json.dumps({"user_id": user_id, "filename": filename}),
                                             encoding="utf-8")
    return token


def take(*, token: str, user_id: int) -> tuple[bytes, str]:
    """The staged file and its name, for the user who staged it; refused when unknown, expired or another's."""
    gone = InvalidInput.at(("body", "upload"), "the uploaded file is no longer kept; upload it again",
                           "upload_expired")
    if not TOKEN.match(token or ""):
        raise gone
    directory = _dir()
    meta_path, data_path = directory / f"{token}.json", directory / f"{token}.bin"
    try:
        if time.time() - meta_path.stat().st_mtime > get_settings().staged_upload_ttl_s:
            discard(token=token)
            raise gone
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("user_id") != user_id:
            raise gone
        return data_path.read_bytes(), str(meta.get("filename") or "upload.csv")
    except (OSError, ValueError) as exc:
        raise gone from exc


def discard(*, token: str) -> None:
    """Forget a staged file (after its import was written)."""
    if TOKEN.match(token or ""):
        directory = _dir()
        (directory / f"{token}.bin").unlink(missing_ok=True)
        (directory / f"{token}.json").unlink(missing_ok=True)

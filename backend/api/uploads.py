"""Uploads: the request-size limit enforced while the body streams in, and the uploaded file read only after
the caller's role was checked.

``BodySizeLimit`` is a pure ASGI middleware. A declared ``Content-Length`` over the limit is refused with 413
before a byte of the body is read; a body without one (chunked) is counted as it arrives and refused as soon as
it passes the limit. The routes that take a file declare it with ``upload_for(check)``: a dependency that runs
the service's permission check first and only then parses the multipart body (FastAPI would otherwise parse a
``File()`` parameter before any dependency runs, so a role that may not import could still make the server
read 100 MB).
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.api.deps import CurrentActor
from backend.config import get_settings
from backend.errors import InvalidInput, PayloadTooLarge
from backend.policy import Actor

# Room for the multipart framing and the small form fields around a file of the largest allowed size.
FORM_OVERHEAD_BYTES = 64 * 1024


def body_limit() -> int:
    """The largest request body accepted, in bytes: the upload limit plus the form's framing."""
    return get_settings().max_upload_bytes + FORM_OVERHEAD_BYTES


def too_large_message(limit: int) -> str:
    return f"the request body is larger than the {limit} byte limit"


class BodySizeLimit:
    """Refuse request bodies over ``body_limit()`` with 413, without reading more than the limit.

    Over the limit, reading the body raises ``PayloadTooLarge``: the application's own handlers answer it (the
    API with JSON, pages with a refusal in the viewer's language). Should the application answer anything but
    413 after that (FastAPI turns errors while parsing a JSON body into 400), this middleware answers the 413
    itself. A JSON API request that declares a ``Content-Length`` over the limit is refused at once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit()
        declared = _content_length(scope)
        declared_too_large = declared is not None and declared > limit
        if declared_too_large and str(scope.get("path", "")).startswith("/api/"):
            await _refuse(send, limit)
            return
        received = 0
        exceeded = False
        replaced = False  # the application's answer was dropped and the 413 sent instead
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            if declared_too_large:
                exceeded = True
                raise PayloadTooLarge(too_large_message(limit), code="too_large")
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise PayloadTooLarge(too_large_message(limit), code="too_large")
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started, replaced
            if replaced:
                return
            if message["type"] == "http.response.start":
                started = True
                if exceeded and message["status"] != 413:
                    replaced = True
                    await _refuse(send, limit)
                    return
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except PayloadTooLarge:
            if started:
                raise
            await _refuse(send, limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, limit: int) -> None:
    body = orjson.dumps({"detail": too_large_message(limit)})
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str | None
    fields: dict[str, str]


async def read_upload(request: Request, *, required: bool = True) -> Upload:
    """The multipart form's ``file`` (at most ``max_upload_bytes``) and its other fields as text."""
    try:
        form = await request.form(max_files=1, max_fields=20)
    except HTTPException as exc:  # a malformed multipart body
        raise InvalidInput.at(("body",), f"not a readable multipart form: {exc.detail}", "multipart") from exc
    fields = {k: v.strip() for k, v in form.items() if isinstance(v, str)}
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        if required:
            raise InvalidInput.at(("body", "file"), "attach the file as the multipart form field 'file'", "missing")
        return Upload(b"", None, fields)
    limit = get_settings().max_upload_bytes
    data = await file.read(limit + 1)
    await file.close()
    if len(data) > limit:
        raise PayloadTooLarge(f"the file is larger than the {limit} byte limit", code="too_large")
    return Upload(data, file.filename, fields)


def upload_for(check: Callable[[Actor], None]) -> Callable[..., Awaitable[Upload]]:
    """A dependency giving the uploaded file, read only after ``check(actor)`` passed (it raises if not)."""

    async def dependency(request: Request, actor: CurrentActor) -> Upload:
        check(actor)
        return await read_upload(request)

    return dependency


def file_body(description: str) -> dict[str, Any]:
    """The OpenAPI request body of an upload route (its file is read by ``upload_for``, not by a ``File()``)."""
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary", "description": description}}}}}}}


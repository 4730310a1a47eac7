"""``Cache-Control: no-store`` on every answer of the application but its static assets.

Answers carry what one signed-in account may see (or a CSRF token, as the login page does): no browser or
proxy cache may keep them, for a later user of the same computer or a shared proxy to read. Static assets
(``/static/``: scripts, styles, images, the same for everyone) stay cacheable; an answer that sets its own
``Cache-Control`` keeps it.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CACHEABLE_PREFIXES = ("/static/",)


class NoStore:
    """Pure ASGI middleware (no buffering of bodies, so downloads still stream)."""

    def __init__(self, app: ASGIApp, *, cacheable_prefixes: tuple[str, ...] = CACHEABLE_PREFIXES) -> None:
        self.app = app
        self.cacheable_prefixes = cacheable_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(self.cacheable_prefixes):
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_no_store)

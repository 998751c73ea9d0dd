"""The Local Explorer web UI: static files from runtime/server/explorer_ui/, served by `pyflows dev`.

Served at `/cdn-cgi/local/explorer/` (where `wrangler dev` serves its explorer since Miniflare v5)
and at `/cdn-cgi/explorer/` (its earlier place, kept by Wrangler as an alias), under the API's
loopback Host/Origin rules. Every path under the prefix that is not a file is the single-page app
(`index.html`, which routes by path); `/cdn-cgi/explorer/api/...` is the API, as under the local
prefix. The page only talks to the management API (`…/api`), so it works against any server that
speaks it. Responses carry a strict Content-Security-Policy (scripts and styles from this server
only, no inline script), so user data can never run as code even if it were put into markup.
"""

from __future__ import annotations

import html
import mimetypes
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from pyflows.runtime.server.explorer.routes import API_PREFIX, forbidden_reason

UI_DIR = Path(__file__).with_name("explorer_ui")
UI_PREFIXES = ("/cdn-cgi/local/explorer", "/cdn-cgi/explorer")
_ALIAS_API = "/cdn-cgi/explorer/api"
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'self'; form-action 'none'; frame-ancestors 'none'"
)
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}

ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


def is_ui_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in UI_PREFIXES)


def create_ui_app(management: ASGIApp) -> ASGIApp:
    """The ASGI app for UI_PREFIXES; `/cdn-cgi/explorer/api/...` is handed to `management`."""
    cache: dict[str, bytes] = {}

    def read(name: str) -> bytes | None:
        if name not in cache:
            path = (UI_DIR / name).resolve()
            if path.parent != UI_DIR.resolve() or not path.is_file():
                return None
            cache[name] = path.read_bytes()
        return cache[name]

    async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        path: str = scope["path"]
        if path == _ALIAS_API or path.startswith(_ALIAS_API + "/"):
            await management({**scope, "path": API_PREFIX + path[len(_ALIAS_API) :]}, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        reason = forbidden_reason(headers)
        if reason is not None:
            await _send(send, 403, "text/plain; charset=utf-8", reason.encode())
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _send(send, 405, "text/plain; charset=utf-8", b"405 Method Not Allowed")
            return
        prefix = next(p for p in UI_PREFIXES if path == p or path.startswith(p + "/"))
        rest = path[len(prefix) :]
        if rest == "":
            await _send(send, 308, "text/plain; charset=utf-8", b"", [(b"location", (prefix + "/").encode())])
            return
        if rest.startswith("/static/"):
            body = read(rest[len("/static/") :])
            if body is None:
                await _send(send, 404, "text/plain; charset=utf-8", b"404 Not Found")
                return
            suffix = Path(rest).suffix
            kind = _TYPES.get(suffix) or mimetypes.guess_type(rest)[0] or "application/octet-stream"
            await _send(send, 200, kind, body, head=scope["method"] == "HEAD")
            return
        page = read("index.html") or b""
        page = page.replace(b"{{BASE}}", (prefix + "/").encode()).replace(b"{{PRELOAD}}", _preload(rest).encode())
        await _send(send, 200, "text/html; charset=utf-8", page, head=scope["method"] == "HEAD")

    return app


def _preload(rest: str) -> str:
    """On an instances page, start the list request with the page (app.js asks for exactly this URL,
    and the browser hands it the preloaded answer): first render without waiting for the script."""
    parts = rest.strip("/").split("/")
    if len(parts) != 2 or parts[0] != "workflows" or not parts[1]:
        return ""
    url = f"{API_PREFIX}/pyflows/workflows/{quote(unquote(parts[1]), safe='')}/instances?page=1&per_page=25"
    return f'<link rel="preload" href="{html.escape(url)}" as="fetch" crossorigin>'


async def _send(
    send: Any,
    status: int,
    content_type: str,
    body: bytes,
    extra: list[tuple[bytes, bytes]] | None = None,
    *,
    head: bool = False,
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"content-security-policy", _CSP.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"cache-control", b"no-cache"),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})

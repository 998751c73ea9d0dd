"""The `assets.binding` (`self.env.ASSETS`): `await env.ASSETS.fetch(request)` serves a static asset.

Answers exactly what a request routed to the assets would get (runtime/server/assets.py): the file
with its Content-Type and ETag, a 304, a 307 to the canonical path, the not-found fallback, or an
empty 404. Takes a `Request`, `request.js_object`, or a URL string (only its path matters), as
Cloudflare's Fetcher does (developers.cloudflare.com/workers/static-assets/binding/#binding).
"""

from __future__ import annotations

from typing import Any

from pyflows.runtime.server.assets import AssetServer, as_request
from pyflows.runtime.surface.http import Response

__all__ = ["AssetsBinding"]


class AssetsBinding:
    """`env.ASSETS`: a Fetcher over the project's static assets."""

    def __init__(self, server: AssetServer) -> None:
        self._server = server

    async def fetch(self, resource: Any, **init: Any) -> Response:
        """The asset response for `resource` (a Request, `request.js_object` or a URL string)."""
        request = as_request(resource)
        if init:
            from pyflows.runtime.surface.http import Request

            request = Request(request, **init)
        return self._server.fetch(request)

    def __repr__(self) -> str:
        return f"<AssetsBinding {self._server.root}>"

"""`pyodide.http.pyfetch`: pyflows' `workers.fetch` (same response methods: text, json, bytes)."""

from __future__ import annotations

from typing import Any

from pyflows.runtime.surface.http import Response as FetchResponse
from pyflows.runtime.surface.http import fetch

__all__ = ["FetchResponse", "pyfetch"]


async def pyfetch(url: str, **kwargs: Any) -> FetchResponse:
    """`await pyfetch(url, method=..., headers=..., body=...)`."""
    return await fetch(url, **kwargs)

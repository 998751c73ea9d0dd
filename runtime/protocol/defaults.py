"""Defaults that the CLI and the server must agree on (each defined here once).

Wrangler's: `wrangler dev` listens on 127.0.0.1:8787, and the Local Explorer API lives under
`/cdn-cgi/local/explorer/api` on that same port.
"""

from __future__ import annotations

import time

__all__ = ["API_PREFIX", "DEFAULT_IP", "DEFAULT_MAX_CONCURRENCY", "DEFAULT_PORT", "now_ms"]

DEFAULT_PORT = 8787
DEFAULT_IP = "127.0.0.1"
API_PREFIX = "/cdn-cgi/local/explorer/api"
DEFAULT_MAX_CONCURRENCY = 10_000  # `pyflows dev --max-concurrency`: instances running at once


def now_ms() -> int:
    """The wall clock in integer epoch milliseconds (the unit of every stored time)."""
    return int(time.time() * 1000)

"""Defaults that the CLI and the server must agree on (each defined here once).

Wrangler's: `wrangler dev` listens on 127.0.0.1:8787, and the Local Explorer API lives under
`/cdn-cgi/local/explorer/api` on that same port.
"""

from __future__ import annotations

__all__ = ["API_PREFIX", "DEFAULT_IP", "DEFAULT_MAX_CONCURRENCY", "DEFAULT_PORT", "RESTART_STEP_TYPES"]

DEFAULT_PORT = 8787
DEFAULT_IP = "127.0.0.1"
API_PREFIX = "/cdn-cgi/local/explorer/api"
DEFAULT_MAX_CONCURRENCY = 10_000  # `pyflows dev --max-concurrency`: instances running at once
# `restart --from-step-type` / the API's `from.type`: the kinds of step a restart can start from.
RESTART_STEP_TYPES = ("do", "sleep", "waitForEvent")

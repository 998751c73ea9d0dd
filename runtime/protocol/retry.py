"""The retry delay formula of Cloudflare Workflows' step config, shared by the engine and the CLI.

Delay before retry n (from 1) with `retries = {"delay": d, "backoff": b}`: constant d, linear d·n,
exponential d·2^(n-1) (Cloudflare's "Sleeping and retrying" docs). Dependency-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyflows.runtime.protocol.durations import to_ms

__all__ = ["DEFAULT_BACKOFF", "retry_delay_ms"]

DEFAULT_BACKOFF = "exponential"


def retry_delay_ms(retries: Mapping[str, Any], retry: int) -> int:
    """Delay in ms before retry number `retry` (from 1); ValueError for a bad `delay`."""
    d = to_ms(retries["delay"])
    backoff = retries.get("backoff", DEFAULT_BACKOFF)
    if backoff == "constant":
        return d
    if backoff == "linear":
        return d * retry
    return d * (1 << (retry - 1))

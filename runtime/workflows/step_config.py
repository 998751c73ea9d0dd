"""A step's `config`: defaults, strict validation, and step-name rules.

Cloudflare's defaults (what its own local engine reports): 5 retries, 1000 ms delay, exponential
backoff, a 10 minute timeout; unknown keys are an error. The delay formula is runtime.protocol.retry.
"""

from __future__ import annotations

from typing import Any

from pyflows.runtime.protocol.durations import to_ms
from pyflows.runtime.protocol.retry import DEFAULT_BACKOFF, retry_delay_ms

__all__ = ["DEFAULT_CONFIG", "MAX_STEP_NAME", "check_step_name", "resolve_config", "retry_delay_ms"]

DEFAULT_CONFIG: dict[str, Any] = {
    "retries": {"limit": 5, "delay": 1000, "backoff": DEFAULT_BACKOFF},
    "timeout": "10 minutes",
}
_BACKOFFS = ("constant", "linear", "exponential")
MAX_STEP_NAME = 256


def resolve_config(config: Any) -> dict[str, Any]:
    """Merge a step's `config` over the defaults, validating it strictly (unknown keys are errors)."""
    if config is None:
        return {"retries": dict(DEFAULT_CONFIG["retries"]), "timeout": DEFAULT_CONFIG["timeout"]}
    if not isinstance(config, dict):
        raise TypeError(f"step config must be a dict like {DEFAULT_CONFIG}, got {type(config).__name__}.")
    unknown = set(config) - {"retries", "timeout"}
    if unknown:
        raise ValueError(
            f"Unknown step config key(s) {sorted(unknown)}: allowed are 'retries' "
            "({'limit', 'delay', 'backoff'}) and 'timeout'."
        )
    retries = dict(DEFAULT_CONFIG["retries"])
    user_retries = config.get("retries") or {}
    if not isinstance(user_retries, dict):
        raise TypeError("step config 'retries' must be a dict with 'limit', 'delay' and 'backoff'.")
    unknown = set(user_retries) - {"limit", "delay", "backoff"}
    if unknown:
        raise ValueError(
            f"Unknown key(s) {sorted(unknown)} in step config 'retries': allowed are limit, delay, backoff."
        )
    retries.update(user_retries)
    limit = retries["limit"]
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise ValueError(f"step config retries.limit must be a whole number >= 0, got {limit!r}.")
    if retries["backoff"] not in _BACKOFFS:
        raise ValueError(f"step config retries.backoff {retries['backoff']!r} is not one of {', '.join(_BACKOFFS)}.")
    to_ms(retries["delay"], what="step config retries.delay")
    timeout = config.get("timeout", DEFAULT_CONFIG["timeout"])
    if to_ms(timeout, what="step config timeout") == 0:
        raise ValueError("step config timeout must be greater than 0.")
    return {"retries": retries, "timeout": timeout}


def check_step_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise TypeError(f"A step name must be a non-empty str, got {name!r}.")
    if len(name) > MAX_STEP_NAME:
        raise ValueError(f"Step name {name[:40]!r}... is {len(name)} characters; the limit is {MAX_STEP_NAME}.")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValueError(f"Step name {name!r} contains control characters, which are not allowed.")
    return name

"""A step's `config`: defaults, strict validation, retry delays, sensitive outputs, and step-name rules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pyflows.runtime.protocol.durations import to_ms
from pyflows.runtime.protocol.retry import retry_delay_ms as retry_delay_ms  # the engine imports it from here

DEFAULT_CONFIG: dict[str, Any] = {
    "retries": {"limit": 5, "delay": 1000, "backoff": "exponential"},
    "timeout": "10 minutes",
}
_BACKOFFS = ("constant", "linear", "exponential")
MAX_STEP_NAME = 256
_CONTROL = re.compile("[\x00-\x1f\x7f]")


def resolve_config(config: Any) -> dict[str, Any]:
    """Merge a step's `config` over the defaults, validating it strictly (unknown keys are errors)."""
    if config is None:
        return {"retries": dict(DEFAULT_CONFIG["retries"]), "timeout": DEFAULT_CONFIG["timeout"]}
    if not isinstance(config, dict):
        raise TypeError(f"step config must be a dict like {DEFAULT_CONFIG}, got {type(config).__name__}.")
    unknown = set(config) - {"retries", "timeout", "sensitive"}
    if unknown:
        raise ValueError(
            f"Unknown step config key(s) {sorted(unknown)}: allowed are 'retries' "
            "({'limit', 'delay', 'backoff'}), 'timeout' and 'sensitive'."
        )
    sensitive = config.get("sensitive")
    if sensitive is not None and sensitive != "output":
        raise ValueError(f'step config sensitive must be "output", got {sensitive!r}.')
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
    resolved: dict[str, Any] = {"retries": retries, "timeout": timeout}
    if sensitive is not None:
        resolved["sensitive"] = sensitive
    return resolved


REDACTED = "[REDACTED]"


def is_sensitive(config: Mapping[str, Any] | None) -> bool:
    """`config: {"sensitive": "output"}` (Cloudflare, 2026-06): the output is stored and returned to `run`,
    but the API, the CLI, logs and instance events show `"[REDACTED]"` in its place."""
    return bool(config) and config.get("sensitive") == "output"  # type: ignore[union-attr]


def check_step_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise TypeError(f"A step name must be a non-empty str, got {name!r}.")
    if len(name) > MAX_STEP_NAME:
        raise ValueError(f"Step name {name[:40]!r}... is {len(name)} characters; the limit is {MAX_STEP_NAME}.")
    if _CONTROL.search(name):
        raise ValueError(f"Step name {name!r} contains control characters, which are not allowed.")
    return name

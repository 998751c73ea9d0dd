"""Cloudflare's naming and size rules, enforced locally with messages that say what to do."""

from __future__ import annotations

import re

from pyflows.runtime.errors import InvalidInstanceIdError

NAME_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9\-_]*$")
MAX_INSTANCE_ID = 100
# Ids that *address* an instance may also be the ids Cloudflare generates for cron `schedules`
# ("<cron>-<scheduledTime>", e.g. "*/15 * * * *-1767225600000"): workers-sdk
# packages/workflows-shared/src/lib/validators.ts, ALLOWED_ADDRESSABLE_WORKFLOW_INSTANCE_ID_PATTERN.
ADDRESSABLE_ID_RE = re.compile(r"^[a-zA-Z0-9, */#_-]+$")
MAX_ADDRESSABLE_INSTANCE_ID = 271
MAX_EVENT_TYPE = 100
MAX_BATCH = 100
DEFAULT_MAX_STEPS = 10_000  # workflows[].limits.steps
MAX_STEPS = 25_000
DEFAULT_CPU_MS = 30_000  # limits.cpu_ms, per step attempt
MAX_CPU_MS = 300_000


def _check(value: object, what: str, limit: int) -> str:
    def refuse(message: str) -> InvalidInstanceIdError:
        return InvalidInstanceIdError(message, what=what, value=value, limit=limit)

    if not isinstance(value, str) or not value:
        raise refuse(f"{what} must be a non-empty string, got {value!r}.")
    if len(value) > limit:
        raise refuse(f"{what} {value[:40]!r}... is {len(value)} characters; the limit is {limit}.")
    if not NAME_RE.match(value):
        raise refuse(
            f"{what} {value!r} is invalid: use letters, digits, '-' and '_' "
            "(not starting with '-'), matching ^[a-zA-Z0-9_][a-zA-Z0-9-_]*$."
        )
    return value


def check_instance_id(value: object) -> str:
    """Instance ids: ≤ 100 chars matching ^[a-zA-Z0-9_][a-zA-Z0-9-_]*$ (InvalidInstanceIdError)."""
    return _check(value, "Workflow instance id", MAX_INSTANCE_ID)


def check_addressable_instance_id(value: object) -> str:
    """An id that names an existing instance: a user's id, or one a cron schedule generated
    (≤ 271 chars of ^[a-zA-Z0-9, */#_-]+$, as workers-sdk's isValidAddressableWorkflowInstanceId)."""
    if isinstance(value, str) and 0 < len(value) <= MAX_ADDRESSABLE_INSTANCE_ID and ADDRESSABLE_ID_RE.match(value):
        return value
    return check_instance_id(value)  # its message says what a valid id looks like


def check_event_type(value: object) -> str:
    """Event types: ≤ 100 chars, same pattern as ids."""
    return _check(value, "Event type", MAX_EVENT_TYPE)

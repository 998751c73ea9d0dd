"""The engine's records and errors as the Local Explorer API shows them (Wrangler 4.164's shapes).

Instance details follow Wrangler's `GET …/instances/{id}` result: keys and their order as Wrangler's
CLI reads them, step names with their occurrence suffix (`"first step-1"`), times as ISO strings with
milliseconds. Extra keys pyflows adds, which Wrangler's CLI ignores: `retry_at` on a `do` step waiting
to retry, `wake_at` on an unfinished sleep or event wait. A step with config `{"sensitive": "output"}`
shows `"[REDACTED]"` as its output (Cloudflare, 2026-06).

`ERRORS` is the one table from an error type to (HTTP status, Cloudflare code, message): Wrangler's
codes and message texts, but a caller's mistake is a 4xx where Wrangler's local server answers 500
(README, "Compatibility").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyflows.runtime.bindings.d1 import D1Error
from pyflows.runtime.bindings.kv import KVError
from pyflows.runtime.bindings.r2 import R2Error
from pyflows.runtime.errors import (
    BatchSizeError,
    DiagramUnavailableError,
    InstanceExistsError,
    InstanceNotFoundError,
    InvalidInstanceIdError,
    InvalidPayloadError,
    InvalidRetentionError,
    InvalidTransitionError,
    PayloadTooLargeError,
    StepNotFoundError,
    WorkflowError,
    WorkflowNotFoundError,
)
from pyflows.runtime.protocol.durations import iso
from pyflows.runtime.protocol.statuses import COUNT_ORDER
from pyflows.runtime.server.explorer.input import InvalidRequestError
from pyflows.runtime.surface.values import to_api
from pyflows.runtime.workflows.records import (
    AttemptRecord,
    InstanceDetails,
    InstanceRecord,
    StepRecord,
    WorkflowSummary,
)
from pyflows.runtime.workflows.step_config import REDACTED, is_sensitive

# Errors ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiFailure:
    """How one error type is answered: HTTP status, Cloudflare error code (None: the error's own
    `code`, for request validation's 10001/10502), and the messages."""

    status: int
    code: int | None
    messages: Callable[[Any], list[str]]


def _plain(exc: Any) -> list[str]:
    return [str(exc)]


def _prefixed(prefix: str) -> Callable[[Any], list[str]]:
    return lambda exc: [f"{prefix}{exc}"]


def _transition(exc: InvalidTransitionError) -> list[str]:
    # Wrangler: "WorkflowError: (instance.cannot_terminate) Cannot terminate instance since its on a finite state"
    tag = "(instance.cannot_terminate) " if exc.action == "terminate" else ""
    return [f"WorkflowError: {tag}{exc}"]


ERRORS: dict[type[Exception], ApiFailure] = {
    # The request itself is malformed (runtime/server/explorer/input.py): zod's texts, its own code.
    InvalidRequestError: ApiFailure(400, None, lambda exc: list(exc.messages)),
    WorkflowNotFoundError: ApiFailure(404, 10501, _plain),
    InstanceNotFoundError: ApiFailure(404, 10501, _plain),
    # Wrangler answers the next four with 500 / 10001; the texts are Wrangler's.
    InstanceExistsError: ApiFailure(409, 10001, _prefixed("WorkflowError: (instance.already_exists) ")),
    InvalidInstanceIdError: ApiFailure(400, 10001, _prefixed("WorkflowError: ")),
    InvalidTransitionError: ApiFailure(409, 10001, _transition),
    BatchSizeError: ApiFailure(400, 10001, _prefixed("WorkflowError: ")),
    StepNotFoundError: ApiFailure(409, 10001, _prefixed("WorkflowError: (instance.cannot_restart) ")),
    PayloadTooLargeError: ApiFailure(413, 10001, _plain),
    DiagramUnavailableError: ApiFailure(404, 10001, _plain),
    InvalidPayloadError: ApiFailure(400, 10001, _plain),
    InvalidRetentionError: ApiFailure(400, 10001, _plain),
    WorkflowError: ApiFailure(400, 10001, _prefixed("WorkflowError: ")),
    # Storage calls the bindings refuse (Cloudflare's own texts, e.g. "KV PUT failed: 414 UTF-8 encoded
    # length of 600 exceeds key length limit of 512."): the caller's input, so a 400.
    KVError: ApiFailure(400, 10001, _plain),
    R2Error: ApiFailure(400, 10001, _plain),
    D1Error: ApiFailure(400, 7500, _plain),
}
# Anything else is a fault of the server: 500 with the error's message (miniflare's 10000).
SERVER_FAULT_CODE = 10000


def api_failure(exc: BaseException) -> tuple[int, int, list[str]]:
    """(HTTP status, Cloudflare code, messages) for an error, by the nearest type in `ERRORS`."""
    for cls in type(exc).__mro__:
        failure = ERRORS.get(cls)
        if failure is not None:
            code = failure.code if failure.code is not None else int(getattr(exc, "code", 10001))
            return failure.status, code, failure.messages(exc)
    return 500, SERVER_FAULT_CODE, [str(exc) or type(exc).__name__]


# Records -----------------------------------------------------------------------------------------


def workflow_row(summary: WorkflowSummary) -> dict[str, Any]:
    """`{"name", "class_name", "script_name"}` (+ `instances` counts when the summary has them)."""
    row: dict[str, Any] = {"name": summary.name, "class_name": summary.class_name, "script_name": summary.script_name}
    if summary.instance_counts is not None:
        row["instances"] = {k: summary.instance_counts.get(k, 0) for k in COUNT_ORDER}
    return row


def instance_row(record: InstanceRecord) -> dict[str, Any]:
    """`{"id", "status", "created_on"}` as `GET …/instances` lists them."""
    return {"id": record.id, "status": record.status, "created_on": iso(record.created_at_epoch_ms)}


def _attempt(a: AttemptRecord) -> dict[str, Any]:
    return {
        "start": iso(a.started_at_epoch_ms),
        "end": iso(a.ended_at_epoch_ms),
        "success": a.success,
        "error": a.error,
    }


def _step(s: StepRecord) -> dict[str, Any]:
    name = f"{s.name}-{s.count}"
    if s.kind == "do":
        obj: dict[str, Any] = {
            "name": name,
            "start": iso(s.started_at_epoch_ms),
            "end": iso(s.ended_at_epoch_ms),
            "success": {"complete": True, "errored": False}.get(s.state),
            "type": "step",
        }
        if s.state == "complete":  # config {"sensitive": "output"}: stored, but never shown
            obj["output"] = REDACTED if is_sensitive(s.config) else to_api(s.output)
        obj["config"] = s.config
        obj["attempts"] = [_attempt(a) for a in s.attempts]
        if s.retry_at_epoch_ms:
            obj["retry_at"] = iso(s.retry_at_epoch_ms)
        return obj
    obj = {
        "name": name,
        "start": iso(s.started_at_epoch_ms),
        "end": iso(s.ended_at_epoch_ms),
        "finished": s.finished,
        "type": s.kind,
        "error": s.error,
    }
    if s.kind == "waitForEvent":
        obj["output"] = to_api(s.output)
    if s.wake_at_epoch_ms:
        obj["wake_at"] = iso(s.wake_at_epoch_ms)
    return obj


def instance_details(details: InstanceDetails) -> dict[str, Any]:
    """The `GET …/instances/{id}` result (no `id`, as Wrangler's)."""
    steps = [_step(s) for s in details.steps]
    return {
        "status": details.status,
        "params": to_api(details.params),
        "queued": iso(details.queued_at_epoch_ms),
        "start": iso(details.started_at_epoch_ms),
        "end": iso(details.ended_at_epoch_ms),
        "output": to_api(details.output),
        "error": details.error,
        "steps": steps,
        "step_count": len(steps),
    }

"""What the engine returns: frozen records with epoch-ms times and decoded values, no API shapes.

The Local Explorer API turns them into Wrangler's JSON (`runtime/server/explorer/present.py`); the
binding and the pytest plugin read them directly. Values (`params`, `output`, step outputs) are the
stored RPC trees (`runtime/surface/values.py` `loads`); errors are `{"name", "message"}` dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypedDict

StepKind = Literal["do", "sleep", "waitForEvent"]


class InstanceStatus(TypedDict):
    """`instance.status()`: `{"status", "error", "output"}` (Cloudflare's InstanceStatus shape)."""

    status: str
    error: Any
    output: Any


@dataclass(frozen=True)
class WorkflowSummary:
    """A configured workflow; `instance_counts` (status → number, every status) when asked for."""

    name: str
    binding: str
    class_name: str
    script_name: str
    instance_counts: dict[str, int] | None = None


@dataclass(frozen=True)
class InstanceRecord:
    """One row of an instance list."""

    id: str
    status: str
    created_at_epoch_ms: int


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt of a `do` step; `ended_at_epoch_ms`/`success` are None while it runs."""

    started_at_epoch_ms: int
    ended_at_epoch_ms: int | None
    success: bool | None
    error: dict[str, Any] | None


@dataclass(frozen=True)
class StepRecord:
    """One step of an instance's history, in execution order.

    `state`: running, retrying, waiting, complete or errored. `output` is set for a complete `do`
    step and a received event (None otherwise). `retry_at_epoch_ms`: a `do` step waiting to retry;
    `wake_at_epoch_ms`: an unfinished sleep or event wait.
    """

    kind: StepKind
    name: str
    count: int
    position: int
    state: str
    started_at_epoch_ms: int | None
    ended_at_epoch_ms: int | None
    output: Any = None
    error: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    attempts: tuple[AttemptRecord, ...] = ()
    retry_at_epoch_ms: int | None = None
    wake_at_epoch_ms: int | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("complete", "errored")


@dataclass(frozen=True)
class InstanceDetails:
    """Everything known about one instance (what `instances describe` shows)."""

    workflow: str
    id: str
    status: str
    params: Any
    created_at_epoch_ms: int
    queued_at_epoch_ms: int | None
    started_at_epoch_ms: int | None
    ended_at_epoch_ms: int | None
    output: Any
    error: dict[str, Any] | None
    steps: tuple[StepRecord, ...]

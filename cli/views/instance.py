"""`pyflows workflows instances describe`: one instance, its steps and their attempts, as Wrangler shows them.

Input is the Local Explorer API's instance details (`GET .../instances/<id>`); output is the exact
layout of `wrangler workflows instances describe`, plus two things Wrangler leaves out: the
instance's `Output:` and, from pyflows' `wake_at`, when a sleep wakes (`Wakes At:`) or an event
wait times out (`Times Out At:`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pyflows.cli import render
from pyflows.cli.humanize import (
    distance_strict,
    duration,
    local_datetime,
    now,
    parse_iso,
    status_label,
    step_type_label,
    trigger_label,
)

TRUNCATED = "[...output truncated]"
DYNAMIC_DELAY = "[dynamic]"


def js_stringify(value: object) -> str:
    """JSON.stringify(value): compact, non-ASCII kept as is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def truncate(text: str, limit: int) -> str:
    return text[:limit] + TRUNCATED if len(text) > limit else text


def instance_fields(
    workflow: str, instance_id: str, instance: Mapping[str, Any], *, limit: int
) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = [("Workflow Name", workflow), ("Instance Id", instance_id)]
    if instance.get("versionId") is not None:
        fields.append(("Version Id", str(instance["versionId"])))
    fields.append(("Status", status_label(instance.get("status"))))
    trigger = instance.get("trigger")
    if isinstance(trigger, Mapping) and trigger:
        fields.append(("Trigger", trigger_label(trigger.get("source"))))
    if instance.get("queued"):
        fields.append(("Queued", local_datetime(instance["queued"])))
    if instance.get("success") is not None:
        fields.append(("Success", "✅ Yes" if instance["success"] else "❌ No"))
    if instance.get("start") is not None:
        fields.append(("Start", local_datetime(instance["start"])))
    if instance.get("end") is not None:
        fields.append(("End", local_datetime(instance["end"])))
    took = duration(instance.get("start"), instance.get("end"))
    if took is not None:
        fields.append(("Duration", took))
    last = last_successful_step(instance.get("steps") or [])
    if last is not None:
        fields.append(("Last Successful Step", last))
    error = instance.get("error")
    if isinstance(error, Mapping):
        fields.append(("Error", render.red(f"{error.get('name')}: {error.get('message')}")))
    # Not in Wrangler's view: what the workflow returned (its `--json` has it as `output`).
    if instance.get("output") is not None:
        fields.append(("Output", truncate(js_stringify(instance["output"]), limit)))
    return fields


def last_successful_step(steps: list[Mapping[str, Any]]) -> str | None:
    last = None
    for step in steps:
        if step.get("type") == "step" and step.get("success") is True:
            last = step.get("name")
        elif step.get("type") == "sleep" and step.get("end") is not None:
            last = step.get("name")
    return None if last is None else str(last)


def retries_at(step: Mapping[str, Any]) -> str | None:
    """`Retries At` for a `step.do` waiting out a retry delay, else None.

    The server states the time (`retry_at`). Without it (e.g. talking to `wrangler dev`) the time is
    estimated from the last failed attempt's end and `config.retries` (delay and backoff).
    """
    if step.get("type") != "step" or step.get("success") is not None:
        return None
    attempts = step.get("attempts") or []
    if not attempts or attempts[-1].get("success") is not False:
        return None
    moment = parse_iso(step.get("retry_at"))
    if moment is None:
        if attempts[-1].get("end") is None:
            return "unknown"
        retries = (step.get("config") or {}).get("retries") or {}
        delay_ms = retry_delay_ms(retries, failures=sum(1 for a in attempts if a.get("success") is False))
        ended = parse_iso(attempts[-1].get("end"))
        if delay_ms is None:
            return "unknown (dynamic delay)"
        if ended is None:
            return None
        moment = ended + timedelta(milliseconds=delay_ms)
    return when(moment)


def when(moment: datetime) -> str:
    """`11/21/2026, 12:31:43 PM (in 2 seconds from now)`, or `(... ago)` once it has passed."""
    current = now()
    gap = distance_strict(moment, current)
    return f"{local_datetime(moment)} ({f'in {gap} from now' if moment >= current else f'{gap} ago'})"


def retry_delay_ms(retries: Mapping[str, Any], *, failures: int) -> int | None:
    """The wait before the next attempt after `failures` failed ones, per the step's retry config
    (the engine's own formula); None when the delay is dynamic or not readable."""
    from pyflows.runtime.protocol.retry import retry_delay_ms as engine_delay

    delay = retries.get("delay")
    if delay is None or delay == DYNAMIC_DELAY:
        return None
    try:
        return engine_delay(retries, max(failures, 1))
    except ValueError:
        return None


def step_fields(step: Mapping[str, Any], *, show_output: bool, limit: int) -> list[tuple[str, str]]:
    kind = step.get("type")
    fields: list[tuple[str, str]] = []
    if kind in ("sleep", "step", "waitForEvent"):
        fields.append(("Name", str(step.get("name"))))
        fields.append(("Type", step_type_label(kind)))
        if step.get("start") is not None:
            fields.append(("Start", local_datetime(step["start"])))
        if step.get("end") is not None:
            fields.append(("End", local_datetime(step["end"])))
        took = duration(step.get("start"), step.get("end"))
        if took is not None:
            fields.append(("Duration", took))
    elif kind == "termination":
        fields.append(("Type", step_type_label(kind)))
        trigger = step.get("trigger")
        fields.append(("Trigger", str(trigger.get("source") if isinstance(trigger, Mapping) else trigger)))
    else:
        fields.append(("Name", str(step.get("name"))))
        fields.append(("Type", step_type_label(kind)))
    wakes = parse_iso(step.get("wake_at")) if step.get("end") is None else None
    if wakes is not None and kind in ("sleep", "waitForEvent"):
        # pyflows' `wake_at`: when a sleep ends, or when an event wait gives up.
        label = "Wakes At" if kind == "sleep" else "Times Out At"
        fields.append((label, when(wakes)))
    if kind == "step":
        success = step.get("success")
        fields.append(("Success", "▶ Running" if success is None else "✅ Yes" if success else "❌ No"))
        retry = retries_at(step)
        if retry is not None:
            fields.append(("Retries At", retry))
    if kind in ("step", "waitForEvent") and "output" in step and show_output:
        fields.append(("Output", truncate(js_stringify(step["output"]), limit)))
    return fields


def attempts_table(attempts: list[Mapping[str, Any]]) -> str:
    """The attempts of one `step.do`: Start, End, Duration, State and, when any failed, Error."""
    with_errors = any(a.get("error") is not None for a in attempts)
    headers = ["Start", "End", "Duration", "State"] + (["Error"] if with_errors else [])
    rows = []
    for attempt in attempts:
        success = attempt.get("success")
        state = "🔄 Working" if success is None else "✅ Success" if success else "❌ Error"
        row = [
            local_datetime(attempt["start"]) if attempt.get("start") else "",
            local_datetime(attempt["end"]) if attempt.get("end") else "",
            duration(attempt.get("start"), attempt.get("end")) or "",
            state,
        ]
        if with_errors:
            error = attempt.get("error")
            row.append(f"{error.get('name')}: {error.get('message')}" if isinstance(error, Mapping) else "")
        rows.append(row)
    return render.table(headers, rows, red_columns=("Error",))


def describe_text(
    workflow: str,
    instance_id: str,
    instance: Mapping[str, Any],
    *,
    show_output: bool = True,
    limit: int = 5000,
) -> str:
    """Everything `instances describe` prints after the banner (and after `Latest instance is ...`)."""
    parts = [
        "Describing latest instance:",
        render.labelled(instance_fields(workflow, instance_id, instance, limit=limit)),
    ]
    parts.append("Steps:")
    text = "\n".join(parts) + "\n"
    for step in instance.get("steps") or []:
        text += "\n" + render.labelled(step_fields(step, show_output=show_output, limit=limit), indent=2) + "\n"
        if step.get("type") == "step" and step.get("attempts"):
            text += attempts_table(step["attempts"])
    return text

"""Instance details in the Local Explorer API's shape (reference/wrangler-local-dev.md §2.3).

Step names carry their occurrence suffix (`"first step-1"`). Keys and their order follow what
Wrangler's CLI reads. Extra keys pyflows adds, which Wrangler's CLI ignores: `retry_at` on a `do`
step waiting to retry, `wake_at` on an unfinished sleep or event wait.
"""

from __future__ import annotations

import json
from typing import Any

from pyflows.runtime.protocol.durations import iso
from pyflows.runtime.surface.values import loads, to_api
from pyflows.runtime.workflows.step_config import REDACTED, is_sensitive


def _attempt(a: Any) -> dict[str, Any]:
    return {
        "start": iso(a["started_at_epoch_ms"]),
        "end": iso(a["ended_at_epoch_ms"]),
        "success": bool(a["success"]),
        "error": loads(a["error"]),
    }


def instance_details(row: Any, status: str, history: Any, live: dict[Any, Any]) -> dict[str, Any]:
    steps, attempts, _events = history
    by_step: dict[int, list[dict[str, Any]]] = {}
    for a in attempts:
        by_step.setdefault(a["step_pk"], []).append(_attempt(a))
    items: list[tuple[int, dict[str, Any]]] = []
    seen = set()
    for s in steps:
        key = (s["kind"], s["name"], s["count"])
        seen.add(key)
        name = f"{s['name']}-{s['count']}"
        if s["kind"] == "do":
            obj: dict[str, Any] = {
                "name": name,
                "start": iso(s["started_at_epoch_ms"]),
                "end": iso(s["ended_at_epoch_ms"]),
                "success": {"complete": True, "errored": False}.get(s["state"]),
                "type": "step",
            }
            obj["config"] = json.loads(s["config"]) if s["config"] else None
            if s["state"] == "complete":
                obj["output"] = REDACTED if is_sensitive(obj["config"]) else to_api(loads(s["output"]))
            obj["attempts"] = by_step.get(s["pk"], [])
            running = live.get(key)
            if running is not None:
                obj["attempts"].append(
                    {"start": iso(running.attempt_started), "end": None, "success": None, "error": None}
                )
            elif s["state"] == "retrying" and s["wake_at_epoch_ms"]:
                obj["retry_at"] = iso(s["wake_at_epoch_ms"])
        else:
            finished = s["state"] in ("complete", "errored")
            obj = {
                "name": name,
                "start": iso(s["started_at_epoch_ms"]),
                "end": iso(s["ended_at_epoch_ms"]),
                "finished": finished,
                "type": "sleep" if s["kind"] == "sleep" else "waitForEvent",
                "error": loads(s["error"]),
            }
            if s["kind"] == "waitForEvent":
                obj["output"] = to_api(loads(s["output"])) if s["output"] else None
            if not finished and s["wake_at_epoch_ms"]:
                obj["wake_at"] = iso(s["wake_at_epoch_ms"])
        items.append((s["position"], obj))
    for key, running in live.items():
        if key in seen:
            continue
        items.append(
            (
                running.position,
                {
                    "name": f"{running.name}-{running.count}",
                    "start": iso(running.step_started),
                    "end": None,
                    "success": None,
                    "type": "step",
                    "config": running.config,
                    "attempts": [{"start": iso(running.attempt_started), "end": None, "success": None, "error": None}],
                },
            )
        )
    items.sort(key=lambda item: item[0])
    return {
        "status": status,
        "params": to_api(loads(row["params"])),
        "queued": iso(row["queued_at_epoch_ms"]),
        "start": iso(row["started_at_epoch_ms"]),
        "end": iso(row["ended_at_epoch_ms"]),
        "output": to_api(loads(row["output"])),
        "error": loads(row["error"]),
        "steps": [obj for _, obj in items],
        "step_count": len(items),
    }

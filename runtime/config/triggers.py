"""Config for everything that starts a Worker besides `fetch`: crons, queues, Durable Objects, services.

    triggers = parse_triggers(effective, origin, shown, workflow_names)   # ConfigSchemaError on bad input

Keys (Wrangler's names and defaults, developers.cloudflare.com/workers/wrangler/configuration/):
    triggers.crons[]                    cron expressions (5 fields, UTC); an invalid one is an error naming it
    workflows[].schedules               a cron string or a non-empty array of them, creating instances of
                                        that workflow (Wrangler's validateWorkflowBinding)
    queues.producers[]                  {binding, queue, delivery_delay? (s, ≤ 43200)}
    queues.consumers[]                  {queue, max_batch_size (10, ≤ 100), max_batch_timeout (5 s, ≤ 60),
                                         max_retries (3, ≤ 100), retry_delay (0 s), dead_letter_queue?,
                                         max_concurrency?}
    durable_objects.bindings[]          {name, class_name, script_name?}
    migrations[]                        {tag, new_classes?, new_sqlite_classes?, deleted_classes?, renamed_classes?}
    services[]                          {binding, service, entrypoint?}

Cron parsing uses croniter (a maintained library); Cloudflare accepts 5-field expressions only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pyflows.runtime.errors import ConfigSchemaError

__all__ = [
    "DurableObjectBinding",
    "QueueConsumer",
    "QueueProducer",
    "ServiceBinding",
    "TriggersConfig",
    "WorkflowSchedule",
    "check_cron",
    "parse_triggers",
]

# Cloudflare Queues limits (developers.cloudflare.com/queues/platform/limits/).
MAX_BATCH_SIZE = 100
MAX_BATCH_TIMEOUT_S = 60
MAX_RETRIES = 100
MAX_DELAY_S = 43_200  # 12 hours: delivery_delay, retry_delay, delaySeconds


@dataclass(frozen=True)
class QueueProducer:
    binding: str
    queue: str
    delivery_delay: int = 0  # seconds


@dataclass(frozen=True)
class QueueConsumer:
    queue: str
    max_batch_size: int = 10
    max_batch_timeout: float = 5.0  # seconds
    max_retries: int = 3
    retry_delay: int = 0  # seconds
    dead_letter_queue: str | None = None
    max_concurrency: int | None = None


@dataclass(frozen=True)
class DurableObjectBinding:
    name: str
    class_name: str
    script_name: str | None = None


@dataclass(frozen=True)
class ServiceBinding:
    binding: str
    service: str
    entrypoint: str | None = None


@dataclass(frozen=True)
class WorkflowSchedule:
    workflow: str  # workflow name
    cron: str


@dataclass(frozen=True)
class TriggersConfig:
    """The parsed keys above; empty by default."""

    crons: tuple[str, ...] = ()
    workflow_schedules: tuple[WorkflowSchedule, ...] = ()
    producers: tuple[QueueProducer, ...] = ()
    consumers: tuple[QueueConsumer, ...] = ()
    durable_objects: tuple[DurableObjectBinding, ...] = ()
    migrated_classes: tuple[str, ...] = ()  # new_classes + new_sqlite_classes (+ renamed to) of all migrations
    services: tuple[ServiceBinding, ...] = ()
    binding_names: tuple[str, ...] = field(default=(), repr=False)  # every env name these keys define


def check_cron(expression: Any) -> str | None:
    """None if `expression` is a valid 5-field cron, else why not (croniter's words)."""
    from croniter import croniter

    if not isinstance(expression, str) or len(expression.split()) != 5:
        return "a cron expression has 5 fields: minute hour day-of-month month day-of-week"
    try:
        croniter(expression)
    except (ValueError, KeyError) as exc:
        return str(exc) or type(exc).__name__
    return None


def _err(shown: str, where: str, value: Any, why: str, fix: str) -> ConfigSchemaError:
    text = json.dumps(value, default=str)
    return ConfigSchemaError(f"{shown}: {where} is {text}: {why}. {fix}", file=shown, key_path=where, value=value)


def _int(item: dict[str, Any], key: str, default: int, lo: int, hi: int, shown: str, where: str) -> int:
    value = item.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise _err(shown, f"{where}.{key}", value, f"expected a number from {lo} to {hi}", f"Fix {key}.")
    return int(value)


def _list(effective: dict[str, Any], key: str, shown: str, where: str) -> list[Any]:
    value = effective.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _err(shown, where, value, "expected an array", f"Write {key} as a list.")
    return value


def _obj(value: Any, shown: str, where: str, required: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _err(shown, where, value, "expected an object", "See the config reference in the README.")
    for key in required:
        if not isinstance(value.get(key), str) or not value[key]:
            raise ConfigSchemaError(
                f"{shown}: {where}.{key} is missing or not a string; it is required.",
                file=shown,
                key_path=f"{where}.{key}",
            )
    return value


def parse_triggers(
    effective: dict[str, Any], origin: dict[str, str], shown: str, workflows: list[dict[str, Any]] | None = None
) -> TriggersConfig:
    """Read and check the keys in the module docstring; raise ConfigSchemaError naming key and value."""
    crons: list[str] = []
    triggers = effective.get("triggers") or {}
    tw = origin.get("triggers", "") + "triggers"
    if not isinstance(triggers, dict):
        raise _err(shown, tw, triggers, "expected an object", 'Write it as "triggers": {"crons": ["*/5 * * * *"]}.')
    for i, cron in enumerate(_list(triggers, "crons", shown, tw + ".crons")):
        why = check_cron(cron)
        if why is not None:
            raise _err(
                shown,
                f"{tw}.crons[{i}]",
                cron,
                f"not a valid cron expression ({why})",
                'Use five fields in UTC, e.g. "*/5 * * * *" (every 5 minutes).',
            )
        crons.append(cron)

    schedules: list[WorkflowSchedule] = []
    ww = origin.get("workflows", "") + "workflows"
    for i, wf in enumerate(workflows or []):
        raw = wf.get("schedules") if isinstance(wf, dict) else None
        if raw is None:
            continue
        where = f"{ww}[{i}].schedules"
        entries = [raw] if isinstance(raw, str) else raw
        if not isinstance(entries, list) or not entries:
            raise _err(
                shown,
                where,
                raw,
                "expected a cron string or a non-empty array of cron strings",
                'Write it as "schedules": ["0 * * * *"].',
            )
        for j, cron in enumerate(entries):
            why = check_cron(cron)
            if why is not None:
                raise _err(
                    shown,
                    where if isinstance(raw, str) else f"{where}[{j}]",
                    cron,
                    f"not a valid cron expression ({why})",
                    'Use five fields in UTC, e.g. "0 * * * *" (hourly).',
                )
            schedules.append(WorkflowSchedule(workflow=wf["name"], cron=str(cron)))

    queues = effective.get("queues") or {}
    qw = origin.get("queues", "") + "queues"
    producers: list[QueueProducer] = []
    for i, raw_p in enumerate(_list(queues, "producers", shown, qw + ".producers")):
        where = f"{qw}.producers[{i}]"
        p = _obj(raw_p, shown, where, ("binding", "queue"))
        producers.append(
            QueueProducer(p["binding"], p["queue"], _int(p, "delivery_delay", 0, 0, MAX_DELAY_S, shown, where))
        )
    consumers: list[QueueConsumer] = []
    seen_queues: dict[str, int] = {}
    for i, raw_c in enumerate(_list(queues, "consumers", shown, qw + ".consumers")):
        where = f"{qw}.consumers[{i}]"
        c = _obj(raw_c, shown, where, ("queue",))
        if c["queue"] in seen_queues:
            raise _err(
                shown,
                f"{where}.queue",
                c["queue"],
                f"{qw}.consumers[{seen_queues[c['queue']]}] already consumes this queue (a queue has one consumer)",
                "Remove one of them.",
            )
        seen_queues[c["queue"]] = i
        timeout = c.get("max_batch_timeout", 5)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 <= timeout <= MAX_BATCH_TIMEOUT_S:
            raise _err(
                shown,
                f"{where}.max_batch_timeout",
                timeout,
                f"expected seconds from 0 to {MAX_BATCH_TIMEOUT_S}",
                "Fix max_batch_timeout.",
            )
        dlq = c.get("dead_letter_queue")
        if dlq is not None and (not isinstance(dlq, str) or dlq == c["queue"]):
            raise _err(
                shown,
                f"{where}.dead_letter_queue",
                dlq,
                "expected the name of another queue",
                "Name a different queue.",
            )
        mc = c.get("max_concurrency")
        consumers.append(
            QueueConsumer(
                queue=c["queue"],
                max_batch_size=_int(c, "max_batch_size", 10, 1, MAX_BATCH_SIZE, shown, where),
                max_batch_timeout=float(timeout),
                max_retries=_int(c, "max_retries", 3, 0, MAX_RETRIES, shown, where),
                retry_delay=_int(c, "retry_delay", 0, 0, MAX_DELAY_S, shown, where),
                dead_letter_queue=dlq,
                max_concurrency=None if mc is None else _int(c, "max_concurrency", 1, 1, 250, shown, where),
            )
        )

    do = effective.get("durable_objects") or {}
    dw = origin.get("durable_objects", "") + "durable_objects"
    dos = []
    for i, raw_d in enumerate(_list(do, "bindings", shown, dw + ".bindings")):
        d = _obj(raw_d, shown, f"{dw}.bindings[{i}]", ("name", "class_name"))
        dos.append(DurableObjectBinding(d["name"], d["class_name"], d.get("script_name")))
    migrated: list[str] = []
    mw = origin.get("migrations", "") + "migrations"
    for i, raw_m in enumerate(_list(effective, "migrations", shown, mw)):
        m = _obj(raw_m, shown, f"{mw}[{i}]", ())
        for key in ("new_classes", "new_sqlite_classes"):
            migrated.extend(str(c) for c in m.get(key) or [])
        for r in m.get("renamed_classes") or []:
            if isinstance(r, dict) and "to" in r:
                migrated.append(str(r["to"]))
        for gone in m.get("deleted_classes") or []:
            if gone in migrated:
                migrated.remove(gone)

    services = []
    sw = origin.get("services", "") + "services"
    for i, raw_s in enumerate(_list(effective, "services", shown, sw)):
        s = _obj(raw_s, shown, f"{sw}[{i}]", ("binding", "service"))
        services.append(ServiceBinding(s["binding"], s["service"], s.get("entrypoint")))

    names = [p.binding for p in producers] + [d.name for d in dos] + [s.binding for s in services]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigSchemaError(
                f"{shown}: the binding name {name!r} is used twice (queues, durable_objects, services); "
                f"self.env.{name} can only be one of them. Rename one.",
                file=shown,
                value=name,
            )
        seen.add(name)
    return TriggersConfig(
        crons=tuple(crons),
        workflow_schedules=tuple(schedules),
        producers=tuple(producers),
        consumers=tuple(consumers),
        durable_objects=tuple(dos),
        migrated_classes=tuple(migrated),
        services=tuple(services),
        binding_names=tuple(names),
    )

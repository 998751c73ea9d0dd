"""The workflow engine's tables and every SQL statement on them.

Functions ending in `_txn` run inside a transaction on the writer thread (`Store.write`) and take
the raw `sqlite3.Connection`; plain `q_*` functions are reads (`Store.read`). Times are integer
epoch milliseconds. `MIGRATIONS` is applied by the engine at start (`Store.migrate("workflows", …)`).
"""

from __future__ import annotations

import sqlite3
from typing import Any

# Ordered migrations; the version row says how many have been applied.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE instances (
        pk INTEGER PRIMARY KEY,
        workflow TEXT NOT NULL,
        id TEXT NOT NULL,
        status TEXT NOT NULL,
        params TEXT NOT NULL,
        output TEXT,
        error TEXT,
        created_at_epoch_ms INTEGER NOT NULL,
        queued_at_epoch_ms INTEGER NOT NULL,
        started_at_epoch_ms INTEGER,
        ended_at_epoch_ms INTEGER,
        wake_at_epoch_ms INTEGER,
        UNIQUE (workflow, id)
    );
    CREATE INDEX instances_by_created ON instances (workflow, created_at_epoch_ms);
    CREATE INDEX instances_by_status ON instances (status);
    CREATE TABLE steps (
        pk INTEGER PRIMARY KEY,
        instance_pk INTEGER NOT NULL REFERENCES instances (pk) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        count INTEGER NOT NULL,
        state TEXT NOT NULL,
        started_at_epoch_ms INTEGER NOT NULL,
        ended_at_epoch_ms INTEGER,
        wake_at_epoch_ms INTEGER,
        config TEXT,
        output TEXT,
        error TEXT,
        event_type TEXT,
        UNIQUE (instance_pk, kind, name, count)
    );
    CREATE TABLE attempts (
        step_pk INTEGER NOT NULL REFERENCES steps (pk) ON DELETE CASCADE,
        attempt INTEGER NOT NULL,
        started_at_epoch_ms INTEGER NOT NULL,
        ended_at_epoch_ms INTEGER,
        success INTEGER,
        error TEXT,
        PRIMARY KEY (step_pk, attempt)
    );
    CREATE TABLE events (
        pk INTEGER PRIMARY KEY,
        instance_pk INTEGER NOT NULL REFERENCES instances (pk) ON DELETE CASCADE,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        received_at_epoch_ms INTEGER NOT NULL,
        consumed_by INTEGER REFERENCES steps (pk) ON DELETE CASCADE
    );
    CREATE INDEX events_by_instance ON events (instance_pk, pk);
    """,
    # Where in the run's task tree each step was called (runtime/workflows/run.py, "Replay and lineage").
    # NULL for steps recorded before this column existed: the determinism check skips them.
    "ALTER TABLE steps ADD COLUMN lineage TEXT",
    # Scale (100,000 instances): list and count by status without scanning, find the next wake-ups
    # in wake order, and keep per-status counts in a table the triggers maintain in the same
    # transaction as the change (so `status_counts` is exact and costs one small read).
    """
    CREATE INDEX instances_by_workflow_status ON instances (workflow, status, created_at_epoch_ms);
    CREATE INDEX instances_by_wake ON instances (status, wake_at_epoch_ms);
    DROP INDEX instances_by_status;
    CREATE TABLE instance_counts (
        workflow TEXT NOT NULL,
        status TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (workflow, status)
    ) WITHOUT ROWID;
    INSERT INTO instance_counts SELECT workflow, status, count(*) FROM instances GROUP BY workflow, status;
    CREATE TRIGGER instances_count_insert AFTER INSERT ON instances BEGIN
        INSERT INTO instance_counts VALUES (new.workflow, new.status, 1)
            ON CONFLICT (workflow, status) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER instances_count_delete AFTER DELETE ON instances BEGIN
        UPDATE instance_counts SET n = n - 1 WHERE workflow = old.workflow AND status = old.status;
    END;
    CREATE TRIGGER instances_count_update AFTER UPDATE OF status ON instances
    WHEN old.status IS NOT new.status BEGIN
        UPDATE instance_counts SET n = n - 1 WHERE workflow = old.workflow AND status = old.status;
        INSERT INTO instance_counts VALUES (new.workflow, new.status, 1)
            ON CONFLICT (workflow, status) DO UPDATE SET n = n + 1;
    END;
    """,
    # Retention (Cloudflare's create({retention})): how long a finished instance is kept
    # (`{"success_ms", "error_ms"}`), and when it expires once it has finished.
    """
    ALTER TABLE instances ADD COLUMN retention TEXT;
    ALTER TABLE instances ADD COLUMN expires_at_epoch_ms INTEGER;
    CREATE INDEX instances_by_expiry ON instances (expires_at_epoch_ms) WHERE expires_at_epoch_ms IS NOT NULL;
    """,
]


# ---------------------------------------------------------------------------------------------
# Instances

INSTANCE_COLUMNS = (
    "pk, workflow, id, status, params, output, error, created_at_epoch_ms, queued_at_epoch_ms, "
    "started_at_epoch_ms, ended_at_epoch_ms, wake_at_epoch_ms"
)


def insert_instance_txn(conn: sqlite3.Connection, workflow: str, instance_id: str, params: str, now: int) -> int:
    """Insert a queued instance. Raises sqlite3.IntegrityError when the id exists."""
    cur = conn.execute(
        "INSERT INTO instances (workflow, id, status, params, created_at_epoch_ms, queued_at_epoch_ms) "
        "VALUES (?, ?, 'queued', ?, ?, ?)",
        (workflow, instance_id, params, now, now),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def insert_instances_txn(
    conn: sqlite3.Connection, workflow: str, items: list[tuple[str, str]], now: int
) -> list[tuple[str, int]]:
    """Insert queued instances `(id, params)` in one transaction, skipping ids that already exist.

    Returns `(id, pk)` of the ones inserted, in order; an id repeated in `items` is inserted once.
    """
    created = []
    for instance_id, params in items:
        cur = conn.execute(
            "INSERT INTO instances (workflow, id, status, params, created_at_epoch_ms, queued_at_epoch_ms) "
            "VALUES (?, ?, 'queued', ?, ?, ?) ON CONFLICT (workflow, id) DO NOTHING",
            (workflow, instance_id, params, now, now),
        )
        if cur.rowcount == 1 and cur.lastrowid is not None:
            created.append((instance_id, cur.lastrowid))
    return created


def set_retention_txn(conn: sqlite3.Connection, pk: int, retention: str) -> None:
    """Keep the instance's retention (JSON `{"success_ms", "error_ms"}`) for when it finishes."""
    conn.execute("UPDATE instances SET retention = ? WHERE pk = ?", (retention, pk))


def set_expiry_txn(conn: sqlite3.Connection, pk: int, status: str, ended_ms: int) -> None:
    """A finished instance with a retention expires `success_ms` (complete) or `error_ms` after it ended."""
    key = "$.success_ms" if status == "complete" else "$.error_ms"
    conn.execute(
        "UPDATE instances SET expires_at_epoch_ms = ? + json_extract(retention, ?) "
        "WHERE pk = ? AND retention IS NOT NULL AND json_extract(retention, ?) IS NOT NULL",
        (ended_ms, key, pk, key),
    )


def q_any_expired(conn: sqlite3.Connection, now_ms: int) -> bool:
    """Is any finished instance past its retention? (one index probe)"""
    row = conn.execute(
        "SELECT 1 FROM instances WHERE expires_at_epoch_ms IS NOT NULL AND expires_at_epoch_ms <= ? LIMIT 1",
        (now_ms,),
    ).fetchone()
    return row is not None


def delete_expired_txn(conn: sqlite3.Connection, now_ms: int) -> int:
    """Remove the finished instances whose retention has run out (steps and events cascade)."""
    return conn.execute(
        "DELETE FROM instances WHERE expires_at_epoch_ms IS NOT NULL AND expires_at_epoch_ms <= ?", (now_ms,)
    ).rowcount


def update_instance_txn(conn: sqlite3.Connection, pk: int, **fields: Any) -> None:
    """Set instance columns (`status`, `output`, `error`, `*_epoch_ms`) by name."""
    names = ", ".join(f"{name} = ?" for name in fields)
    conn.execute(f"UPDATE instances SET {names} WHERE pk = ?", (*fields.values(), pk))


def q_instance(conn: sqlite3.Connection, workflow: str, instance_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE workflow = ? AND id = ?", (workflow, instance_id)
    ).fetchone()
    return row


def q_recoverable(conn: sqlite3.Connection, due_by: int) -> list[sqlite3.Row]:
    """Unfinished instances a starting engine must take up, oldest first.

    Queued, running and waitingForPause ones, and waiting ones that are due by `due_by` (epoch ms),
    have no wake time, or hold an event no wait consumed. Waiting instances due later stay on disk:
    the wake timers page them in (`q_wake_page`), and an operation on one loads it (`q_instance`).
    Paused ones stay on disk too, until resumed.
    """
    rows = conn.execute(
        f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE status IN ('queued', 'running', 'waitingForPause') "
        f"UNION SELECT {INSTANCE_COLUMNS} FROM instances WHERE status = 'waiting' AND wake_at_epoch_ms IS NULL "
        f"UNION SELECT {INSTANCE_COLUMNS} FROM instances WHERE status = 'waiting' AND wake_at_epoch_ms <= ? "
        f"UNION SELECT {INSTANCE_COLUMNS} FROM instances WHERE status = 'waiting' AND pk IN "
        "(SELECT instance_pk FROM events WHERE consumed_by IS NULL)",
        (due_by,),
    ).fetchall()
    return sorted(rows, key=lambda r: (r["created_at_epoch_ms"], r["pk"]))


def q_wake_page(conn: sqlite3.Connection, after: tuple[int, int] | None, limit: int) -> list[tuple[int, int]]:
    """`(wake_at_epoch_ms, pk)` of waiting instances in wake order, strictly after `after`; at most `limit`."""
    if after is None:
        cur = conn.execute(
            "SELECT wake_at_epoch_ms, pk FROM instances WHERE status = 'waiting' AND wake_at_epoch_ms IS NOT NULL "
            "ORDER BY wake_at_epoch_ms, pk LIMIT ?",
            (limit,),
        )
    else:
        cur = conn.execute(
            "SELECT wake_at_epoch_ms, pk FROM instances WHERE status = 'waiting' AND wake_at_epoch_ms IS NOT NULL "
            "AND (wake_at_epoch_ms, pk) > (?, ?) ORDER BY wake_at_epoch_ms, pk LIMIT ?",
            (*after, limit),
        )
    return [(int(w), int(pk)) for w, pk in cur]


def q_instances_by_pk(conn: sqlite3.Connection, pks: list[int]) -> list[sqlite3.Row]:
    marks = ", ".join("?" for _ in pks)
    return conn.execute(f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE pk IN ({marks})", pks).fetchall()


def q_list(
    conn: sqlite3.Connection,
    workflow: str,
    *,
    status: str | None,
    start_ms: int | None,
    end_ms: int | None,
    limit: int,
    offset: int,
    params_contains: str | None = None,
) -> tuple[list[tuple[str, str, int]], int]:
    """A page of `(id, status, created_at_epoch_ms)`, newest first, and the total matching.

    Filters: status, creation time (inclusive, epoch ms) and text the params JSON contains.
    """
    where = ["workflow = ?"]
    args: list[Any] = [workflow]
    if params_contains:
        where.append("params LIKE ? ESCAPE '\\'")
        escaped = params_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        args.append(f"%{escaped}%")
    if status is not None:
        where.append("status = ?")
        args.append(status)
    if start_ms is not None:
        where.append("created_at_epoch_ms >= ?")
        args.append(start_ms)
    if end_ms is not None:
        where.append("created_at_epoch_ms <= ?")
        args.append(end_ms)
    clause = " AND ".join(where)
    if start_ms is None and end_ms is None and not params_contains:  # the counts table answers without a scan
        counts = q_status_counts(conn, workflow)
        total = counts.get(status, 0) if status is not None else sum(counts.values())
    else:
        total = conn.execute(f"SELECT count(*) FROM instances WHERE {clause}", args).fetchone()[0]
    rows = conn.execute(
        f"SELECT id, status, created_at_epoch_ms FROM instances WHERE {clause} "
        "ORDER BY created_at_epoch_ms DESC, pk DESC LIMIT ? OFFSET ?",
        (*args, limit, offset),
    ).fetchall()
    return rows, total


def q_status_counts(conn: sqlite3.Connection, workflow: str) -> dict[str, int]:
    """Instances of `workflow` per status (statuses with none left out), from the triggers' counts table."""
    rows = conn.execute("SELECT status, n FROM instance_counts WHERE workflow = ? AND n > 0", (workflow,))
    return {status: n for status, n in rows}


def q_with_pending_events(conn: sqlite3.Connection) -> set[int]:
    """Instances holding events that no wait has consumed yet."""
    return {r[0] for r in conn.execute("SELECT DISTINCT instance_pk FROM events WHERE consumed_by IS NULL")}


def q_step_position(conn: sqlite3.Connection, instance_pk: int, kind: str, name: str, count: int) -> int | None:
    row = conn.execute(
        "SELECT position FROM steps WHERE instance_pk = ? AND kind = ? AND name = ? AND count = ?",
        (instance_pk, kind, name, count),
    ).fetchone()
    return None if row is None else int(row[0])


def mark_running_txn(conn: sqlite3.Connection, pk: int, now: int) -> None:
    """Status running, no wake time; the start time is set the first time only."""
    conn.execute(
        "UPDATE instances SET status = 'running', wake_at_epoch_ms = NULL, "
        "started_at_epoch_ms = coalesce(started_at_epoch_ms, ?) WHERE pk = ?",
        (now, pk),
    )


def q_latest(conn: sqlite3.Connection, workflow: str) -> str | None:
    row = conn.execute(
        "SELECT id FROM instances WHERE workflow = ? ORDER BY created_at_epoch_ms DESC, pk DESC LIMIT 1",
        (workflow,),
    ).fetchone()
    return row[0] if row else None


def delete_instance_txn(conn: sqlite3.Connection, pk: int) -> None:
    conn.execute("DELETE FROM instances WHERE pk = ?", (pk,))


def delete_workflow_txn(conn: sqlite3.Connection, workflow: str) -> int:
    return conn.execute("DELETE FROM instances WHERE workflow = ?", (workflow,)).rowcount


def restart_txn(conn: sqlite3.Connection, pk: int, from_position: int | None, now: int) -> None:
    """Forget history (all of it, or from a step position on) and queue the instance again."""
    if from_position is None:
        conn.execute("DELETE FROM steps WHERE instance_pk = ?", (pk,))
        conn.execute("DELETE FROM events WHERE instance_pk = ?", (pk,))
        update_instance_txn(
            conn,
            pk,
            status="queued",
            output=None,
            error=None,
            queued_at_epoch_ms=now,
            started_at_epoch_ms=None,
            ended_at_epoch_ms=None,
            wake_at_epoch_ms=None,
        )
        return
    # Events consumed by the discarded steps go with them (ON DELETE CASCADE); so do the buffered
    # ones, which arrived after the point we are rewinding to.
    conn.execute("DELETE FROM events WHERE instance_pk = ? AND consumed_by IS NULL", (pk,))
    conn.execute("DELETE FROM steps WHERE instance_pk = ? AND position >= ?", (pk, from_position))
    update_instance_txn(
        conn, pk, status="queued", output=None, error=None, ended_at_epoch_ms=None, wake_at_epoch_ms=None
    )


# ---------------------------------------------------------------------------------------------
# Steps, attempts and events

STEP_COLUMNS = (
    "pk, position, kind, name, count, state, started_at_epoch_ms, ended_at_epoch_ms, "
    "wake_at_epoch_ms, config, output, error, event_type, lineage"
)


def save_step_txn(
    conn: sqlite3.Connection,
    instance_pk: int,
    *,
    position: int,
    kind: str,
    name: str,
    count: int,
    state: str,
    started: int,
    ended: int | None = None,
    wake_at: int | None = None,
    config: str | None = None,
    output: str | None = None,
    error: str | None = None,
    event_type: str | None = None,
    lineage: str | None = None,
) -> int:
    """Insert or update the step record `(instance, kind, name, count)`; returns its pk.

    `position`, `config`, `event_type` and `lineage` are kept from the first write.
    """
    cursor = conn.execute(
        _SAVE_STEP,
        (
            instance_pk,
            position,
            kind,
            name,
            count,
            state,
            started,
            ended,
            wake_at,
            config,
            output,
            error,
            event_type,
            lineage,
        ),
    )
    rows = cursor.fetchall() if _RETURNING else None  # all: the statement is finished before COMMIT
    row = rows[0] if rows else None
    if row is None:
        row = conn.execute(
            "SELECT pk FROM steps WHERE instance_pk = ? AND kind = ? AND name = ? AND count = ?",
            (instance_pk, kind, name, count),
        ).fetchone()
    return int(row[0])


# The upsert returns the step's pk where SQLite has RETURNING (3.35, 2021); older ones look it up.
_RETURNING = sqlite3.sqlite_version_info >= (3, 35, 0)
_SAVE_STEP = (
    "INSERT INTO steps (instance_pk, position, kind, name, count, state, started_at_epoch_ms, "
    "ended_at_epoch_ms, wake_at_epoch_ms, config, output, error, event_type, lineage) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (instance_pk, kind, name, count) DO UPDATE SET state = excluded.state, "
    "ended_at_epoch_ms = excluded.ended_at_epoch_ms, wake_at_epoch_ms = excluded.wake_at_epoch_ms, "
    "output = excluded.output, error = excluded.error" + (" RETURNING pk" if _RETURNING else "")
)


def save_attempt_txn(
    conn: sqlite3.Connection,
    step_pk: int,
    attempt: int,
    started: int,
    ended: int,
    success: bool,
    error: str | None,
) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO attempts (step_pk, attempt, started_at_epoch_ms, ended_at_epoch_ms, success, "
        "error) VALUES (?, ?, ?, ?, ?, ?)",
        (step_pk, attempt, started, ended, int(success), error),
    )


def insert_event_txn(conn: sqlite3.Connection, instance_pk: int, event_type: str, payload: str, now: int) -> int:
    cur = conn.execute(
        "INSERT INTO events (instance_pk, type, payload, received_at_epoch_ms) VALUES (?, ?, ?, ?)",
        (instance_pk, event_type, payload, now),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def consume_event_txn(conn: sqlite3.Connection, event_pk: int, step_pk: int) -> None:
    conn.execute("UPDATE events SET consumed_by = ? WHERE pk = ?", (step_pk, event_pk))


def q_history(
    conn: sqlite3.Connection, instance_pk: int
) -> tuple[list[sqlite3.Row], list[sqlite3.Row], list[sqlite3.Row]]:
    """Steps (by position), attempts (by step, attempt) and events (by arrival) of one instance."""
    steps = conn.execute(
        f"SELECT {STEP_COLUMNS} FROM steps WHERE instance_pk = ? ORDER BY position, pk", (instance_pk,)
    ).fetchall()
    attempts = conn.execute(
        "SELECT a.step_pk, a.attempt, a.started_at_epoch_ms, a.ended_at_epoch_ms, a.success, a.error "
        "FROM attempts a JOIN steps s ON s.pk = a.step_pk WHERE s.instance_pk = ? ORDER BY a.step_pk, a.attempt",
        (instance_pk,),
    ).fetchall()
    events = conn.execute(
        "SELECT pk, type, payload, received_at_epoch_ms, consumed_by FROM events WHERE instance_pk = ? ORDER BY pk",
        (instance_pk,),
    ).fetchall()
    return steps, attempts, events


def wake_timers_txn(conn: sqlite3.Connection, instance_pk: int, now: int, *, only_retries: bool) -> int:
    """End an instance's pending timers now (explorer "Wake now" / "Retry now"): the stored deadline of
    every unfinished sleep / event wait (unless `only_retries`) and retry delay becomes `now`, so a
    replay after a crash sees them as ended. Returns the number of steps changed."""
    states = ("retrying",) if only_retries else ("retrying", "waiting")
    marks = ", ".join("?" * len(states))
    cur = conn.execute(
        f"UPDATE steps SET wake_at_epoch_ms = ? WHERE instance_pk = ? AND state IN ({marks}) "
        "AND wake_at_epoch_ms IS NOT NULL AND wake_at_epoch_ms > ?",
        (now, instance_pk, *states, now),
    )
    if cur.rowcount:
        conn.execute(
            "UPDATE instances SET wake_at_epoch_ms = ? WHERE pk = ? AND wake_at_epoch_ms IS NOT NULL",
            (now, instance_pk),
        )
    return cur.rowcount

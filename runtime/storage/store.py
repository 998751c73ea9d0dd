"""SQLite storage for the engine: schema, migrations, one writer, and every SQL statement.

One writer connection (aiosqlite) runs write functions in its own thread. Writes are queued and
*group-committed*: everything queued while the previous transaction ran is applied in one
`BEGIN IMMEDIATE … COMMIT`, each function inside its own SAVEPOINT so one failure does not undo
the others. Reads use a second connection (WAL lets it read while the writer writes).

Functions ending in `_txn` run inside a transaction on the writer thread and take the raw
`sqlite3.Connection`; plain `q_*` functions are reads. Times are integer epoch milliseconds.

The state directory is locked (`fcntl.flock`) for the lifetime of the Store, so two dev servers on
one state directory is a clear error instead of corruption.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite
from pyflows.runtime.errors import PyflowsError, StateLockedError, StoreClosedError

T = TypeVar("T")
DB_NAME = "workflows.sqlite"
LOCK_NAME = "dev.lock"

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
    # Where in the run's task tree each step was called (runtime/run.py, "Replay and lineage").
    # NULL for steps recorded before this column existed: the determinism check skips them.
    "ALTER TABLE steps ADD COLUMN lineage TEXT",
]


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.row_factory = sqlite3.Row  # rows index by name and by position, and unpack like tuples


def _migrate(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    version = row[0] if row else 0
    if version > len(MIGRATIONS):
        raise PyflowsError(
            f"The state database was written by a newer pyflows (schema {version}, this one knows "
            f"{len(MIGRATIONS)}). Upgrade pyflows, or use another --persist-to directory."
        )
    for index in range(version, len(MIGRATIONS)):
        # The schema change and its version row commit together: a crash cannot leave one alone.
        conn.executescript(
            f"BEGIN IMMEDIATE; {MIGRATIONS[index]}; DELETE FROM schema_version; "
            f"INSERT INTO schema_version VALUES ({index + 1}); COMMIT;"
        )


async def _on_thread(conn: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> T:
    """aiosqlite's internal `Connection._execute(fn, *args)` (untyped upstream): run `fn` on the
    connection's thread in one hop (see Store._run; tests/runtime/test_storage.py guards it)."""
    execute = cast("Callable[..., Awaitable[T]]", conn._execute)  # noqa: SLF001
    return await execute(fn, *args)


class Store:
    """The engine's SQLite database in a locked state directory."""

    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection, lock_fd: int):
        self.path = path
        self._writer = writer
        self._reader = reader
        self._lock_fd = lock_fd
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    async def open(cls, state_dir: Path) -> Store:
        """Create (0700) and lock `state_dir`, open the database (0600) and apply migrations."""
        state_dir = Path(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(OSError):
            os.chmod(state_dir, 0o700)
        lock_fd = _lock(state_dir)
        old_umask = os.umask(0o077)
        try:
            path = state_dir / DB_NAME
            writer = await aiosqlite.connect(path, isolation_level=None, check_same_thread=False)
            await _on_thread(writer, _configure, writer._conn)  # noqa: SLF001 - see _run
            await _on_thread(writer, _migrate, writer._conn)  # noqa: SLF001
            reader = await aiosqlite.connect(path, isolation_level=None, check_same_thread=False)
            await _on_thread(reader, _configure, reader._conn)  # noqa: SLF001
        except BaseException:
            os.close(lock_fd)
            raise
        finally:
            os.umask(old_umask)
        return cls(path, writer, reader, lock_fd)

    # aiosqlite runs each call on its connection's thread. `_execute(fn)` runs a whole function
    # there in one hop, which makes a multi-statement transaction cost one thread switch instead
    # of one per statement (measured: ~4x the step throughput). It is aiosqlite's internal API,
    # stable since 0.17; tests/runtime/test_storage.py fails loudly if it changes.
    async def _run(self, conn: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise StoreClosedError("The state store is closed; the dev server is shutting down.")
        return await _on_thread(conn, fn, conn._conn)  # noqa: SLF001

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read function on the reader connection."""
        return await self._run(self._reader, fn)

    def write_nowait(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Queue a write transaction; the future resolves once it is committed. Order is kept."""
        if self._closed:
            raise StoreClosedError("The state store is closed; the dev server is shutting down.")
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((fn, fut))
        if self._flushing is None:
            self._flushing = asyncio.ensure_future(self._flush())
        return fut

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` in a committed transaction (possibly shared with other writes)."""
        return await asyncio.shield(self.write_nowait(fn))

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results = await _on_thread(self._writer, _apply_batch, self._writer._conn, batch)  # noqa: SLF001
                except BaseException as exc:  # the writer thread itself failed
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    continue
                for (_, fut), (ok, value) in zip(batch, results, strict=True):
                    if fut.done():
                        continue
                    if ok:
                        fut.set_result(value)
                    else:
                        fut.set_exception(value)
        finally:
            self._flushing = None

    async def close(self) -> None:
        """Finish queued writes, close both connections and release the lock. Idempotent."""
        if self._closed:
            return
        if self._flushing is not None:
            with contextlib.suppress(Exception):
                await self._flushing
        self._closed = True
        with contextlib.suppress(Exception):
            await self._writer.close()
        with contextlib.suppress(Exception):
            await self._reader.close()
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)


def _apply_batch(
    conn: sqlite3.Connection, batch: list[tuple[Callable[[sqlite3.Connection], Any], Any]]
) -> list[tuple[bool, Any]]:
    results: list[tuple[bool, Any]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for fn, _ in batch:
            conn.execute("SAVEPOINT w")
            try:
                value = fn(conn)
            except Exception as exc:
                conn.execute("ROLLBACK TO w")
                conn.execute("RELEASE w")
                results.append((False, exc))
            else:
                conn.execute("RELEASE w")
                results.append((True, value))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return results


def _lock(state_dir: Path) -> int:
    import fcntl

    path = state_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        finally:
            os.close(fd)
        raise StateLockedError(
            f"The state directory {state_dir} is in use by another pyflows dev (pid {holder}). "
            "Stop that server, or pass --persist-to DIR to keep this one's state elsewhere.",
            state_dir=str(state_dir),
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


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


def update_instance_txn(conn: sqlite3.Connection, pk: int, **fields: Any) -> None:
    """Set instance columns (`status`, `output`, `error`, `*_epoch_ms`) by name."""
    names = ", ".join(f"{name} = ?" for name in fields)
    conn.execute(f"UPDATE instances SET {names} WHERE pk = ?", (*fields.values(), pk))


def q_instance(conn: sqlite3.Connection, workflow: str, instance_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE workflow = ? AND id = ?", (workflow, instance_id)
    ).fetchone()
    return row


def q_instances_by_status(conn: sqlite3.Connection, statuses: tuple[str, ...]) -> list[sqlite3.Row]:
    marks = ", ".join("?" for _ in statuses)
    return conn.execute(
        f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE status IN ({marks}) ORDER BY created_at_epoch_ms, pk",
        statuses,
    ).fetchall()


def q_list(
    conn: sqlite3.Connection,
    workflow: str,
    *,
    status: str | None,
    start_ms: int | None,
    end_ms: int | None,
    limit: int,
    offset: int,
) -> tuple[list[tuple[str, str, int]], int]:
    where = ["workflow = ?"]
    args: list[Any] = [workflow]
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
    total = conn.execute(f"SELECT count(*) FROM instances WHERE {clause}", args).fetchone()[0]
    rows = conn.execute(
        f"SELECT id, status, created_at_epoch_ms FROM instances WHERE {clause} "
        "ORDER BY created_at_epoch_ms DESC, pk DESC LIMIT ? OFFSET ?",
        (*args, limit, offset),
    ).fetchall()
    return rows, total


def q_status_counts(conn: sqlite3.Connection, workflow: str) -> dict[str, int]:
    rows = conn.execute(
        "SELECT status, count(*) FROM instances WHERE workflow = ? GROUP BY status", (workflow,)
    ).fetchall()
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
    conn.execute(
        "INSERT INTO steps (instance_pk, position, kind, name, count, state, started_at_epoch_ms, "
        "ended_at_epoch_ms, wake_at_epoch_ms, config, output, error, event_type, lineage) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (instance_pk, kind, name, count) DO UPDATE SET state = excluded.state, "
        "ended_at_epoch_ms = excluded.ended_at_epoch_ms, wake_at_epoch_ms = excluded.wake_at_epoch_ms, "
        "output = excluded.output, error = excluded.error",
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
    row = conn.execute(
        "SELECT pk FROM steps WHERE instance_pk = ? AND kind = ? AND name = ? AND count = ?",
        (instance_pk, kind, name, count),
    ).fetchone()
    return int(row[0])


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

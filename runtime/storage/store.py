"""SQLite plumbing for pyflows' own state: a locked state directory, one writer, group commit, migrations.

One writer connection (aiosqlite) runs write functions in its own thread. Writes are queued and
*group-committed*: everything queued while the previous transaction ran is applied in one
`BEGIN IMMEDIATE … COMMIT`, each function inside its own SAVEPOINT so one failure does not undo
the others. Reads use a second connection (WAL lets it read while the writer writes).

Write functions run inside a transaction on the writer thread and take the raw `sqlite3.Connection`.
Each subsystem keeps its own SQL and migrations (the engine's: runtime/workflows/queries.py) and
applies them with `Store.migrate`. Times are integer epoch milliseconds.

The state directory is locked (`fcntl.flock`) for the lifetime of the Store, so two dev servers on
one state directory is a clear error instead of corruption.

`Store.open_memory()` (and `MemoryStores`, for pyflows.testing's store per test) is the same store
on a private in-memory database: one connection serves reads and writes, and each call runs inline
on the event loop (an in-memory statement takes microseconds; the thread hop aiosqlite needs for
disk I/O would cost more than the work). A write there is committed when `write_nowait` is called,
in its own transaction, so it needs neither a flush task nor a turn of the event loop; the order of
writes is the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from pyflows.runtime.errors import PyflowsError, StateLockedError, StoreClosedError

if TYPE_CHECKING:
    import aiosqlite  # imported by Store.open: an in-memory store (pyflows.testing) does not need it

T = TypeVar("T")
DB_NAME = "workflows.sqlite"
LOCK_NAME = "dev.lock"


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.row_factory = sqlite3.Row  # rows index by name and by position, and unpack like tuples


def _migrate(conn: sqlite3.Connection, subsystem: str, migrations: Sequence[str]) -> None:
    """Apply `subsystem`'s migrations from its recorded version on; each with its version row, atomically."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_versions (subsystem TEXT PRIMARY KEY, version INTEGER NOT NULL)")
    row = conn.execute("SELECT version FROM schema_versions WHERE subsystem = ?", (subsystem,)).fetchone()
    if row is None and subsystem == "workflows":  # state written before subsystems had their own versions
        legacy = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
        row = conn.execute("SELECT version FROM schema_version").fetchone() if legacy else None
    version = row[0] if row else 0
    if version > len(migrations):
        raise PyflowsError(
            f"The state database was written by a newer pyflows ({subsystem} schema {version}, this one knows "
            f"{len(migrations)}). Upgrade pyflows, or use another --persist-to directory."
        )
    for index in range(version, len(migrations)):
        # The schema change and its version row commit together: a crash cannot leave one alone.
        conn.executescript(
            f"BEGIN IMMEDIATE; {migrations[index]}; "
            f"INSERT INTO schema_versions VALUES ('{subsystem}', {index + 1}) "
            f"ON CONFLICT (subsystem) DO UPDATE SET version = excluded.version; COMMIT;"
        )


async def _on_thread(conn: aiosqlite.Connection | _Inline, fn: Callable[..., T], *args: Any) -> T:
    """aiosqlite's internal `Connection._execute(fn, *args)` (untyped upstream): run `fn` on the
    connection's thread in one hop (see Store._run; tests/runtime/test_storage.py guards it)."""
    execute = cast("Callable[..., Awaitable[T]]", conn._execute)  # noqa: SLF001
    return await execute(fn, *args)


class _Inline:
    """An in-memory `sqlite3.Connection` shaped like the part of aiosqlite's Connection the store uses;
    `release(self)` takes it when the store closes (closes the connection, or keeps it for reuse).
    `migrated` (subsystem → number of migrations applied) goes with the connection when it is reused."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        release: Callable[[_Inline], None],
        migrated: dict[str, int] | None = None,
    ) -> None:
        self._conn = conn
        self._release = release
        self.migrated: dict[str, int] = {} if migrated is None else migrated

    async def _execute(self, fn: Callable[..., T], *args: Any) -> T:
        return fn(*args)

    async def close(self) -> None:
        self._release(self)


def _memory_connection() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.row_factory = sqlite3.Row
    return conn


def _emptied(conn: sqlite3.Connection) -> bool:
    """Delete every row but the schema versions (AUTOINCREMENT counters too): the database is then as
    a fresh one with the same migrations applied. False if a table could not be emptied.

    Newest tables first, so children go before the parents their foreign keys point at. `PRAGMA
    foreign_keys` is left on: changing it expires every prepared statement of the connection, and
    keeping those is what reusing the connection is for."""
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid DESC")]
        mine = [t for t in tables if t != "schema_versions" and not t.startswith("sqlite_")]
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table in mine:
                conn.execute(f'DELETE FROM "{table}"')
            if "sqlite_sequence" in tables:
                conn.execute("DELETE FROM sqlite_sequence")
            # a trigger may have written a row: one query for every table
            left = conn.execute(
                "SELECT " + " OR ".join(f'EXISTS (SELECT 1 FROM "{t}")' for t in mine) if mine else "SELECT 0"
            ).fetchone()[0]
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return not left
    except sqlite3.Error:
        return False


class MemoryStores:
    """In-memory stores for pyflows.testing (one per test): `await stores.open()` gives a `Store` on a
    private `:memory:` database; when that store closes, its database is emptied (every row deleted,
    the schema and its versions kept) and handed to the next `open()`. A fresh database is
    indistinguishable from an emptied one, but reusing the connection skips parsing the schema
    and re-preparing every statement for each test. `close()` closes the idle databases."""

    def __init__(self) -> None:
        self._idle: list[_Inline] = []

    async def open(self) -> Store:
        if self._idle:
            used = self._idle.pop()  # its migrations stay applied: `migrate` skips them without a query
            inline = _Inline(used._conn, self._give_back, used.migrated)  # noqa: SLF001
        else:
            inline = _Inline(_memory_connection(), self._give_back)
        return Store(None, inline, inline, None)

    def _give_back(self, inline: _Inline) -> None:
        conn = inline._conn  # noqa: SLF001
        if conn.in_transaction or not _emptied(conn):
            conn.close()
        else:
            self._idle.append(inline)

    def close(self) -> None:
        idle, self._idle = self._idle, []
        for inline in idle:
            inline._conn.close()  # noqa: SLF001


class Store:
    """The engine's SQLite database in a locked state directory (or in memory: `open_memory`)."""

    def __init__(
        self,
        path: Path | None,
        writer: aiosqlite.Connection | _Inline,
        reader: aiosqlite.Connection | _Inline,
        lock_fd: int | None,
    ):
        self.path = path  # None for an in-memory store
        self._writer: Any = writer
        self._reader: Any = reader
        self._lock_fd = lock_fd
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._closed = False
        # Known to hold no rows but the schema: every in-memory store is handed out new or emptied.
        self.empty = path is None

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("The state store is closed; the dev server is shutting down.")

    @classmethod
    async def open(cls, state_dir: Path, *, owner_pid: int | None = None) -> Store:
        """Create (0700) and lock `state_dir`, open the database (0600) and apply migrations.

        `owner_pid` is the pid the lock names to a second server that finds it taken (default: this
        process; `pyflows dev` gives its own, not its server child's, since that is what the user ran)."""
        state_dir = Path(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(OSError):
            os.chmod(state_dir, 0o700)
        import aiosqlite

        lock_fd = _lock(state_dir, owner_pid or os.getpid())
        old_umask = os.umask(0o077)
        try:
            path = state_dir / DB_NAME
            writer = await aiosqlite.connect(path, isolation_level=None, check_same_thread=False)
            await _on_thread(writer, _configure, writer._conn)  # noqa: SLF001 - see _run
            reader = await aiosqlite.connect(path, isolation_level=None, check_same_thread=False)
            await _on_thread(reader, _configure, reader._conn)  # noqa: SLF001
        except BaseException:
            os.close(lock_fd)
            raise
        finally:
            os.umask(old_umask)
        return cls(path, writer, reader, lock_fd)

    @classmethod
    async def open_memory(cls) -> Store:
        """A store on a private in-memory database (see the module docstring), gone when it closes.
        `MemoryStores` hands out ones whose databases are reused."""
        inline = _Inline(_memory_connection(), lambda inline: inline._conn.close())  # noqa: SLF001
        return cls(None, inline, inline, None)

    def read_now(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read function synchronously, off the event loop's schedule (committed data only): on
        the in-memory store's connection, or on a fresh read-only connection to the database file."""
        self._check_open()
        if self.path is None:
            return fn(self._reader._conn)  # noqa: SLF001
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            return fn(conn)
        finally:
            conn.close()

    # aiosqlite runs each call on its connection's thread. `_execute(fn)` runs a whole function
    # there in one hop, which makes a multi-statement transaction cost one thread switch instead
    # of one per statement (measured: ~4x the step throughput). It is aiosqlite's internal API,
    # stable since 0.17; tests/runtime/test_storage.py fails loudly if it changes.
    async def _run(self, conn: aiosqlite.Connection | _Inline, fn: Callable[[sqlite3.Connection], T]) -> T:
        self._check_open()
        return await _on_thread(conn, fn, conn._conn)  # noqa: SLF001

    async def migrate(self, subsystem: str, migrations: Sequence[str]) -> None:
        """Bring `subsystem`'s tables up to date: `migrations` is its ordered list of SQL scripts.

        Each subsystem (the workflow engine, queues, Durable Object alarms, ...) owns its schema and
        applies it when it starts; the version of each is kept in `schema_versions`. PyflowsError if
        the database was written by a newer pyflows.
        """
        known = getattr(self._writer, "migrated", None)  # an in-memory database remembers what it applied
        if known is not None and known.get(subsystem) == len(migrations):
            self._check_open()
            return
        await self._run(self._writer, lambda conn: _migrate(conn, subsystem, migrations))
        if known is not None:
            known[subsystem] = len(migrations)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read function on the reader connection."""
        return await self._run(self._reader, fn)

    def write_nowait(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Queue a write transaction; the future resolves once it is committed. Order is kept."""
        self._check_open()
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        if self.path is None:  # in memory: commit now (nothing can be pending)
            try:
                fut.set_result(_apply_one(self._writer._conn, fn))  # noqa: SLF001
            except Exception as exc:
                fut.set_exception(exc)
            return fut
        self._pending.append((fn, fut))
        if self._flushing is None:
            self._flushing = asyncio.ensure_future(self._flush())
        return fut

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` in a committed transaction (possibly shared with other writes)."""
        if self.path is None:  # in memory: committed here, no future to make (see write_nowait)
            self._check_open()
            return _apply_one(self._writer._conn, fn)  # noqa: SLF001
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
        if self._reader is not self._writer:
            with contextlib.suppress(Exception):
                await self._reader.close()
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)


def _apply_one(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """`fn(conn)` in a transaction of its own; rolled back if it raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        value = fn(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return value


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


def _lock(state_dir: Path, owner_pid: int) -> int:
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
    os.write(fd, str(owner_pid).encode())
    return fd

"""Durable Objects: namespaces, ids, stubs (RPC and fetch), `ctx.storage` (KV + SQL), alarms.

    ns = DurableObjectNamespace(Counter, script="my-worker", root=do_root(state_dir, project), env_getter=...)
    stub = ns.get(ns.idFromName("a"))       # or ns.getByName("a"); ns.newUniqueId(); ns.idFromString(hex)
    await stub.increment(2)                 # RPC: arguments/results converted like the SDK's python_to_rpc
    await stub.fetch("http://do/path")      # the object's fetch(request) (on_fetch in legacy style)

Cloudflare's API (developers.cloudflare.com/durable-objects/api/):
- one instance per id per process, built as `Class(ctx, env)`; `ctx.id`, `ctx.storage`,
  `ctx.blockConcurrencyWhile(fn)`, `ctx.waitUntil(aw)`;
- input gate: one call at a time per object (RPC, fetch and alarm calls queue up in arrival order);
- `ctx.storage`: `get(key | [keys])`, `put(key, value | {k: v})`, `delete(key | [keys])`,
  `list({prefix, start, end, limit, reverse})`, `deleteAll()`, `transaction(fn)`, `transactionSync(fn)`,
  `sql.exec(query, *bindings)` → cursor (`toArray()`, `one()`, iteration, `raw()`, `columnNames`,
  `rowsRead`, `rowsWritten`), `setAlarm(ms | datetime)`, `getAlarm()`, `deleteAlarm()`;
- alarms persist and fire after a restart; a failing `alarm()` is retried up to 6 times with
  exponential backoff from 2 s.

Storage is one SQLite file per object in Wrangler's layout, `.wrangler/state/v3/do/<script>-<Class>/<id>.sqlite`
(`<id>` = workerd's idFromName: HMAC-SHA256 over the name, keyed by SHA-256("<script>-<Class>")); KV pairs
live in its `_cf_KV` table beside the user's own SQL tables, V8-serialized as workerd writes them
(runtime/bindings/v8_values.py), so `wrangler dev` and pyflows read each other's values. Alarms are
also indexed in `metadata.sqlite`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import inspect
import logging
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pyflows.runtime.surface.entrypoints import DurableObject, ExecutionContext, call_relaxed
from pyflows.runtime.surface.values import loads, python_from_rpc, python_to_rpc

log = logging.getLogger("pyflows.durable_objects")

__all__ = [
    "DurableObjectId",
    "DurableObjectNamespace",
    "DurableObjectStorage",
    "do_root",
    "durable_object_classes",
    "id_from_name",
]

ALARM_RETRIES = 6


def durable_object_classes(module: Any) -> dict[str, type]:
    """DurableObject subclasses among the module's `__all__` (else public names), by name."""
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    found: dict[str, type] = {}
    for name in names:
        obj = getattr(module, name, None)
        if isinstance(obj, type) and issubclass(obj, DurableObject) and obj is not DurableObject:
            found[name] = obj
    return found


def do_root(state_dir: Path, project_root: Path) -> Path:
    """`<project>/.wrangler/state/v3/do` for the default state dir (shared with `wrangler dev`),
    else `<--persist-to>/v3/do` (Wrangler's layout under --persist-to)."""
    if state_dir.resolve() == (project_root / ".pyflows" / "state").resolve():
        return project_root / ".wrangler" / "state" / "v3" / "do"
    return state_dir / "v3" / "do"


def id_from_name(unique_key: str, name: str) -> str:
    """workerd's idFromName (actor-id-impl.c++): 64 hex characters."""
    key = hashlib.sha256(unique_key.encode()).digest()
    a = hmac.new(key, name.encode(), hashlib.sha256).digest()[:16]
    b = hmac.new(key, a, hashlib.sha256).digest()[:16]
    return (a + b).hex()


class DurableObjectId:
    """`ns.idFromName(...)` etc.: `str(id)` / `id.toString()` is 64 hex characters; `id.name` if named."""

    def __init__(self, hex_id: str, name: str | None = None) -> None:
        self._hex = hex_id
        self.name = name

    def toString(self) -> str:  # noqa: N802 - Cloudflare's name
        return self._hex

    def equals(self, other: Any) -> bool:
        return isinstance(other, DurableObjectId) and other._hex == self._hex

    def __str__(self) -> str:
        return self._hex

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DurableObjectId) and other._hex == self._hex

    def __hash__(self) -> int:
        return hash(self._hex)

    def __repr__(self) -> str:
        return f"DurableObjectId({self._hex!r}{'' if self.name is None else f', name={self.name!r}'})"


# -- storage ------------------------------------------------------------------------------------------


class SqlCursor:
    """What `ctx.storage.sql.exec()` returns; rows are dicts (JsDict) by column name."""

    def __init__(self, columns: list[str], rows: list[tuple[Any, ...]], written: int) -> None:
        self.columnNames = columns  # noqa: N815
        self._rows = rows
        self._pos = 0
        self.rowsRead = len(rows)  # noqa: N815
        self.rowsWritten = written  # noqa: N815

    def _dict(self, row: tuple[Any, ...]) -> Any:
        return python_from_rpc(dict(zip(self.columnNames, row, strict=True)))

    def __iter__(self) -> Iterator[Any]:
        while self._pos < len(self._rows):
            row = self._rows[self._pos]
            self._pos += 1
            yield self._dict(row)

    def __next__(self) -> Any:
        if self._pos >= len(self._rows):
            raise StopIteration
        row = self._rows[self._pos]
        self._pos += 1
        return self._dict(row)

    def next(self) -> dict[str, Any]:
        """JS iterator protocol: {"done", "value"}."""
        if self._pos >= len(self._rows):
            return {"done": True}
        return {"done": False, "value": self.__next__()}

    def toArray(self) -> list[Any]:  # noqa: N802
        return list(self)

    def one(self) -> Any:
        remaining = self._rows[self._pos :]
        if len(remaining) != 1:
            raise ValueError(
                f"Expected exactly one result from SQL query, but got {'no' if not remaining else 'multiple'} results."
            )
        return self.__next__()

    def raw(self) -> Iterator[list[Any]]:
        while self._pos < len(self._rows):
            self._pos += 1
            yield list(self._rows[self._pos - 1])


class SqlStorage:
    """`ctx.storage.sql`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def exec(self, query: str, *bindings: Any) -> SqlCursor:
        if query.lstrip().lower().startswith(("begin", "commit", "rollback", "savepoint", "release")):
            raise ValueError("Use ctx.storage.transaction() / transactionSync() instead of BEGIN/COMMIT in SQL.")
        before = self._conn.total_changes
        cur = self._conn.execute(query, bindings)
        rows = cur.fetchall()
        columns = [d[0] for d in cur.description or ()]
        return SqlCursor(columns, rows, self._conn.total_changes - before)

    @property
    def databaseSize(self) -> int:  # noqa: N802
        page_count = self._conn.execute("PRAGMA page_count").fetchone()[0]
        page_size = self._conn.execute("PRAGMA page_size").fetchone()[0]
        return int(page_count * page_size)


def _alarm_ms(value: Any) -> int:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return int(value.timestamp() * 1000)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"setAlarm takes epoch milliseconds or a datetime, got {type(value).__name__}.")
    return int(value)


def _stored(value: bytes | str) -> Any:
    """A `_cf_KV` value: V8-serialized (workerd's and ours), or JSON text (pyflows before it wrote V8)."""
    from pyflows.runtime.bindings.v8_values import deserialize  # its library takes ~70 ms to import

    return deserialize(value) if isinstance(value, bytes) else python_from_rpc(loads(value))


class DurableObjectStorage:
    """`ctx.storage` of one object: KV API on the `_cf_KV` table, the SQL API, transactions, alarms."""

    def __init__(self, path: Path, namespace: DurableObjectNamespace, hex_id: str) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        new = not path.exists()
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        if new:
            path.chmod(0o600)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        # workerd's own table (src/workerd/util/sqlite-kv.c++), so `wrangler dev` opens the same file
        self._conn.execute("CREATE TABLE IF NOT EXISTS _cf_KV (key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID")
        self._ns = namespace
        self._id = hex_id
        self.sql = SqlStorage(self._conn)

    def close(self) -> None:
        self._conn.close()

    # KV ---------------------------------------------------------------------------------------------
    async def get(self, keys: Any, options: Any = None) -> Any:
        if isinstance(keys, list | tuple):
            out: dict[str, Any] = {}
            for k in keys:
                row = self._conn.execute("SELECT value FROM _cf_KV WHERE key = ?", (str(k),)).fetchone()
                if row is not None:
                    out[str(k)] = _stored(row[0])
            return out
        row = self._conn.execute("SELECT value FROM _cf_KV WHERE key = ?", (str(keys),)).fetchone()
        return None if row is None else _stored(row[0])

    async def put(self, key: Any, value: Any = None, options: Any = None) -> None:
        """Values are stored as workerd stores them (V8-serialized, runtime/bindings/v8_values.py),
        so a JavaScript Durable Object under `wrangler dev` reads them, and we read its."""
        from pyflows.runtime.bindings.v8_values import serialize  # its library takes ~70 ms to import

        items = key.items() if isinstance(key, dict) else [(key, value)]
        rows = [(str(k), serialize(v)) for k, v in items]
        self._conn.executemany("INSERT OR REPLACE INTO _cf_KV (key, value) VALUES (?, ?)", rows)

    async def delete(self, keys: Any, options: Any = None) -> Any:
        if isinstance(keys, list | tuple):
            before = self._conn.total_changes
            self._conn.executemany("DELETE FROM _cf_KV WHERE key = ?", [(str(k),) for k in keys])
            return self._conn.total_changes - before
        return self._conn.execute("DELETE FROM _cf_KV WHERE key = ?", (str(keys),)).rowcount > 0

    async def list(self, options: Any = None, **kwargs: Any) -> dict[str, Any]:
        opts = {**(options or {}), **kwargs}
        where, args = [], []
        if opts.get("prefix"):
            where.append("substr(key, 1, ?) = ?")
            args += [len(opts["prefix"]), opts["prefix"]]
        if opts.get("start") is not None:
            where.append("key >= ?")
            args.append(opts["start"])
        if opts.get("startAfter") is not None:
            where.append("key > ?")
            args.append(opts["startAfter"])
        if opts.get("end") is not None:
            where.append("key < ?")
            args.append(opts["end"])
        sql = "SELECT key, value FROM _cf_KV" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY key" + (" DESC" if opts.get("reverse") else "")
        if opts.get("limit") is not None:
            sql += " LIMIT ?"
            args.append(int(opts["limit"]))
        return {k: _stored(v) for k, v in self._conn.execute(sql, args)}

    async def deleteAll(self, options: Any = None) -> None:  # noqa: N802
        self._conn.execute("DELETE FROM _cf_KV")
        for (name,) in self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' "
            "AND name NOT LIKE 'sqlite_%'"
        ).fetchall():
            self._conn.execute(f'DROP TABLE "{name}"')
        await self.deleteAlarm()

    # transactions ------------------------------------------------------------------------------------
    async def transaction(self, fn: Callable[..., Any]) -> Any:
        """Run `fn(txn)` atomically: an exception rolls every write back. `txn` is this storage."""
        self._conn.execute("SAVEPOINT pyflows_txn")
        try:
            result = call_relaxed(fn, self)
            if inspect.isawaitable(result):
                result = await result
        except BaseException:
            self._conn.execute("ROLLBACK TO pyflows_txn")
            self._conn.execute("RELEASE pyflows_txn")
            raise
        self._conn.execute("RELEASE pyflows_txn")
        return result

    def transactionSync(self, fn: Callable[[], Any]) -> Any:  # noqa: N802
        self._conn.execute("SAVEPOINT pyflows_txn")
        try:
            result = fn()
        except BaseException:
            self._conn.execute("ROLLBACK TO pyflows_txn")
            self._conn.execute("RELEASE pyflows_txn")
            raise
        self._conn.execute("RELEASE pyflows_txn")
        return result

    def rollback(self) -> None:
        raise RuntimeError("Raise an exception inside transaction() to roll it back.")

    # alarms ------------------------------------------------------------------------------------------
    async def setAlarm(self, when: Any, options: Any = None) -> None:  # noqa: N802
        self._ns.set_alarm(self._id, _alarm_ms(when))

    async def getAlarm(self, options: Any = None) -> int | None:  # noqa: N802
        return self._ns.get_alarm(self._id)

    async def deleteAlarm(self, options: Any = None) -> None:  # noqa: N802
        self._ns.set_alarm(self._id, None)

    async def sync(self) -> None:
        """Writes are durable when each statement returns; nothing to flush."""


class DurableObjectState(ExecutionContext):
    """`self.ctx` of a Durable Object."""

    def __init__(self, object_id: DurableObjectId, storage: DurableObjectStorage) -> None:
        super().__init__()
        self.id = object_id
        self.storage = storage
        self._blockers: list[asyncio.Future[Any]] = []

    def blockConcurrencyWhile(self, fn: Callable[[], Any]) -> asyncio.Future[Any]:  # noqa: N802
        """Run `fn()`; no other call reaches the object until it finishes. Returns an awaitable of its result."""

        async def run() -> Any:
            result = fn()
            return await result if inspect.isawaitable(result) else result

        fut = asyncio.ensure_future(run())
        self._blockers.append(fut)
        return fut

    async def _drain_blockers(self) -> None:
        while self._blockers:
            await self._blockers.pop(0)


class _Live:
    def __init__(self, instance: Any, state: DurableObjectState) -> None:
        self.instance = instance
        self.state = state
        self.gate = asyncio.Lock()  # Cloudflare's input gate: one call at a time


class DurableObjectNamespace:
    """`self.env.<name>` for a `durable_objects.bindings[]` entry."""

    def __init__(self, cls: type, *, script: str, root: Path, env_getter: Callable[[], Any]) -> None:
        self.cls = cls
        self.unique_key = f"{script}-{cls.__name__}"
        self.dir = root / self.unique_key
        self._env_getter = env_getter
        self._live: dict[str, _Live] = {}
        self._alarm_db: sqlite3.Connection | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._alarm_tasks: set[asyncio.Task[Any]] = set()
        self.calls = 0  # bench

    # ids ------------------------------------------------------------------------------------------
    def idFromName(self, name: str) -> DurableObjectId:  # noqa: N802
        return DurableObjectId(id_from_name(self.unique_key, str(name)), str(name))

    def newUniqueId(self, options: Any = None) -> DurableObjectId:  # noqa: N802
        return DurableObjectId(secrets.token_hex(32))

    def idFromString(self, value: str) -> DurableObjectId:  # noqa: N802
        text = str(value)
        if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
            raise TypeError(f"Invalid Durable Object ID: {text!r}. It must be 64 hex digits (from id.toString()).")
        return DurableObjectId(text)

    def get(self, object_id: DurableObjectId, options: Any = None) -> DurableObjectStub:
        if not isinstance(object_id, DurableObjectId):
            raise TypeError("get() takes a DurableObjectId: use idFromName(name), newUniqueId() or getByName(name).")
        return DurableObjectStub(self, object_id)

    def getByName(self, name: str, options: Any = None) -> DurableObjectStub:  # noqa: N802
        return self.get(self.idFromName(name))

    id_from_name, new_unique_id, id_from_string, get_by_name = idFromName, newUniqueId, idFromString, getByName

    # objects --------------------------------------------------------------------------------------
    def _object(self, object_id: DurableObjectId) -> _Live:
        live = self._live.get(object_id._hex)
        if live is None:
            storage = DurableObjectStorage(self.dir / f"{object_id._hex}.sqlite", self, object_id._hex)
            state = DurableObjectState(object_id, storage)
            instance = self.cls(state, self._env_getter())
            live = _Live(instance, state)
            self._live[object_id._hex] = live
        return live

    async def call(self, object_id: DurableObjectId, name: str, args: tuple[Any, ...]) -> Any:
        """One RPC call through the input gate; arguments and result converted as the SDK does."""
        live = self._object(object_id)
        async with live.gate:
            await live.state._drain_blockers()
            self.calls += 1
            method = getattr(live.instance, name, None)
            if method is None or name.startswith("_") or not callable(method):
                raise TypeError(f"The RPC receiver does not implement the method {name!r}.")
            converted = [python_from_rpc(python_to_rpc(a)) for a in args]
            result = method(*converted)
            if inspect.isawaitable(result):
                result = await result
            return python_from_rpc(python_to_rpc(result)) if result is not None else None

    async def fetch(self, object_id: DurableObjectId, request: Any) -> Any:
        live = self._object(object_id)
        async with live.gate:
            await live.state._drain_blockers()
            method = getattr(live.instance, "fetch", None) or getattr(live.instance, "on_fetch", None)
            if method is None:
                raise TypeError(f"{self.cls.__name__} has no fetch(self, request) handler.")
            result = call_relaxed(method, request)
            return await result if inspect.isawaitable(result) else result

    # alarms ---------------------------------------------------------------------------------------
    def _alarms(self) -> sqlite3.Connection:
        if self._alarm_db is None:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            path = self.dir / "metadata.sqlite"
            self._alarm_db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            os.chmod(path, 0o600)
            self._alarm_db.execute("PRAGMA journal_mode=WAL")
            self._alarm_db.execute(
                "CREATE TABLE IF NOT EXISTS _pyflows_alarms (id TEXT PRIMARY KEY, scheduled_epoch_ms INTEGER NOT NULL)"
            )
        return self._alarm_db

    def set_alarm(self, hex_id: str, when_ms: int | None) -> None:
        db = self._alarms()
        timer = self._timers.pop(hex_id, None)
        if timer is not None:
            timer.cancel()
        if when_ms is None:
            db.execute("DELETE FROM _pyflows_alarms WHERE id = ?", (hex_id,))
            return
        db.execute("INSERT OR REPLACE INTO _pyflows_alarms (id, scheduled_epoch_ms) VALUES (?, ?)", (hex_id, when_ms))
        self._arm(hex_id, when_ms, 0)

    def get_alarm(self, hex_id: str) -> int | None:
        row = (
            self._alarms().execute("SELECT scheduled_epoch_ms FROM _pyflows_alarms WHERE id = ?", (hex_id,)).fetchone()
        )
        return None if row is None else int(row[0])

    def _arm(self, hex_id: str, when_ms: int, retry: int) -> None:
        loop = asyncio.get_running_loop()
        delay = max(0.0, when_ms / 1000 - time.time())
        self._timers[hex_id] = loop.call_later(delay, self._fire, hex_id, when_ms, retry)

    def _fire(self, hex_id: str, when_ms: int, retry: int) -> None:
        self._timers.pop(hex_id, None)
        task = asyncio.ensure_future(self._run_alarm(hex_id, when_ms, retry))
        self._alarm_tasks.add(task)
        task.add_done_callback(self._alarm_tasks.discard)

    async def _run_alarm(self, hex_id: str, when_ms: int, retry: int) -> None:
        if self.get_alarm(hex_id) != when_ms:
            return  # replaced or deleted meanwhile
        self._alarms().execute("DELETE FROM _pyflows_alarms WHERE id = ? AND scheduled_epoch_ms = ?", (hex_id, when_ms))
        live = self._object(DurableObjectId(hex_id))
        try:
            async with live.gate:
                await live.state._drain_blockers()
                method = getattr(live.instance, "alarm", None) or getattr(live.instance, "on_alarm", None)
                if method is None:
                    log.warning("%s %s: an alarm fired but the class has no alarm() method.", self.cls.__name__, hex_id)
                    return
                result = call_relaxed(method, {"retryCount": retry, "isRetry": retry > 0})
                if inspect.isawaitable(result):
                    await result
        except Exception:
            log.exception("%s %s: alarm() failed (attempt %d)", self.cls.__name__, hex_id, retry + 1)
            if retry < ALARM_RETRIES and self.get_alarm(hex_id) is None:
                again = int(time.time() * 1000) + 2000 * 2**retry
                self._alarms().execute(
                    "INSERT OR REPLACE INTO _pyflows_alarms (id, scheduled_epoch_ms) VALUES (?, ?)", (hex_id, again)
                )
                self._arm(hex_id, again, retry + 1)

    async def start(self) -> None:
        """Re-arm persisted alarms (ones that came due while the server was down fire now)."""
        if not (self.dir / "metadata.sqlite").exists():
            return
        for hex_id, when in self._alarms().execute("SELECT id, scheduled_epoch_ms FROM _pyflows_alarms").fetchall():
            self._arm(hex_id, int(when), 0)

    async def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in list(self._alarm_tasks):
            task.cancel()
        for live in self._live.values():
            live.state.storage.close()
        self._live.clear()
        if self._alarm_db is not None:
            self._alarm_db.close()
            self._alarm_db = None

    def __repr__(self) -> str:
        return f"DurableObjectNamespace({self.cls.__name__})"


class DurableObjectStub:
    """`ns.get(id)`: attribute access gives an async RPC method; `fetch(request | url, **init)`."""

    def __init__(self, namespace: DurableObjectNamespace, object_id: DurableObjectId) -> None:
        self._ns = namespace
        self.id = object_id
        self.name = object_id.name

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)

        async def rpc(*args: Any) -> Any:
            return await self._ns.call(self.id, name, args)

        rpc.__name__ = name
        return rpc

    async def fetch(self, request: Any, **init: Any) -> Any:
        from pyflows.runtime.surface.http import Request

        if not isinstance(request, Request):
            request = Request(str(request), **init)
        return await self._ns.fetch(self.id, request)

    def __repr__(self) -> str:
        return f"DurableObjectStub({self._ns.cls.__name__}, {self.id._hex[:12]}…)"

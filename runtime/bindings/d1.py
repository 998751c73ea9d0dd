"""A D1 database: a plain SQLite file where `wrangler dev` keeps it (see `wrangler_state`).

    db = D1Database(root_v3, database_id)                 # self.env.<binding>
    stmt = db.prepare("SELECT * FROM t WHERE id = ?").bind(1)
    await stmt.first() / stmt.first("col") / stmt.all() / stmt.run() / stmt.raw(columnNames=True)
    await db.batch([stmt1, stmt2])      # one transaction: all succeed or none is applied
    await db.exec("CREATE TABLE ...; INSERT ...")  -> {count, duration}

Shapes copied from Cloudflare's D1 Worker API docs and miniflare 4.164: `all()`/`run()` give
`{results, success, meta: {served_by, duration, changes, last_row_id, changed_db, size_after,
rows_read, rows_written}}`; `first()` the first row or None; `raw()` lists of values. Types: None ↔ NULL,
bool → 0/1, int, float, str, bytes ↔ BLOB; anything else is `D1_TYPE_ERROR`. A failing statement raises
`D1Error("D1_ERROR: no such table: x: SQLITE_ERROR")`. Writes are committed before the call returns.
"""

from __future__ import annotations

import gc
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyflows.runtime.bindings.wrangler_state import D1_CLASS, connect, object_db_path
from pyflows.runtime.surface.values import JsDict, JsList

__all__ = [
    "D1Database",
    "D1Error",
    "D1PreparedStatement",
    "D1Store",
    "applied_migrations",
    "apply_migration",
    "migration_files",
    "split_statements",
]

SERVED_BY = "miniflare.db"  # what `wrangler dev` reports


class D1Error(Exception):
    """A statement D1 rejects; the message has D1's shape ("D1_ERROR: <sqlite message>: SQLITE_ERROR")."""


def split_statements(sql: str) -> list[str]:
    """Split SQL text into complete statements on `;` (quotes, comments and triggers respected)."""
    out: list[str] = []
    buf = ""
    parts = sql.split(";")
    for index, part in enumerate(parts):
        buf += part
        if index == len(parts) - 1:
            break
        buf += ";"
        if sqlite3.complete_statement(buf):
            if _strip_comments(buf).strip(" \t\r\n;"):
                out.append(buf[:-1].strip() + ";")
            buf = ""
    if _strip_comments(buf).strip(" \t\r\n;"):
        out.append(buf.strip())
    return out


def _strip_comments(sql: str) -> str:
    return "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))


def _bind_value(value: Any) -> Any:
    if value is None or isinstance(value, int | float | str | bytes):
        return int(value) if isinstance(value, bool) else value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    kind = "object" if isinstance(value, dict | list) else type(value).__name__
    raise D1Error(f"D1_TYPE_ERROR: Type '{kind}' not supported for value '{value!r}'")


def sqlite_message(exc: sqlite3.Error) -> str:
    """`<sqlite message>: <SQLITE_CODE>` as D1 words it (without the D1_ERROR prefix)."""
    name = getattr(exc, "sqlite_errorname", None) or "SQLITE_ERROR"
    return f"{exc}: {name}"


class D1Store:
    """The database file: runs statements, one transaction per call (shared by binding, CLI, Explorer)."""

    def __init__(self, root_v3: Path, database_id: str) -> None:
        self.database_id = database_id
        self.path = object_db_path(root_v3, "d1", D1_CLASS, database_id)
        self.conn = connect(self.path)
        self._page_size = 0
        self._size_after: int | None = None

    def close(self) -> None:
        self.conn.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[list[Any]], dict[str, Any]]:
        """Run one statement inside the caller's transaction: (columns, rows, meta)."""
        before_changes = self.conn.total_changes
        started = time.perf_counter()
        collect = gc.isenabled()  # see _objects: a big result must not set off full collections
        gc.disable()
        try:
            cursor = self.conn.execute(sql, [_bind_value(p) for p in params])
            rows: list[Any] = cursor.fetchall()  # tuples; raw() makes lists
        except sqlite3.Warning as exc:  # e.g. "You can only execute one statement at a time."
            raise D1Error(f"D1_ERROR: {exc}: SQLITE_ERROR") from None
        except sqlite3.Error as exc:
            raise D1Error(f"D1_ERROR: {sqlite_message(exc)}") from None
        except (OverflowError, UnicodeEncodeError) as exc:  # an int beyond 64 bits, a lone surrogate
            raise D1Error(f"D1_TYPE_ERROR: {exc}") from None
        finally:
            if collect:
                gc.enable()
        duration = (time.perf_counter() - started) * 1000
        columns = [d[0] for d in cursor.description or ()]
        changes = self.conn.total_changes - before_changes
        last_row_id = cursor.lastrowid or 0  # sqlite3_last_insert_rowid() after this statement
        # The size costs a statement: only a write can change it.
        if changes or not columns or self._size_after is None:
            pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
            if self._page_size == 0:
                self._page_size = int(self.conn.execute("PRAGMA page_size").fetchone()[0])
            self._size_after = int(pages) * self._page_size
        meta = {
            "served_by": SERVED_BY,
            "served_by_primary": True,
            "duration": duration,
            "changes": changes,
            "last_row_id": last_row_id,
            "changed_db": changes != 0,
            "size_after": self._size_after,
            "rows_read": len(rows) if columns else 0,
            "rows_written": changes,
        }
        return columns, rows, meta

    def transaction(
        self, statements: Sequence[tuple[str, Sequence[Any]]]
    ) -> list[tuple[list[str], list[list[Any]], dict[str, Any]]]:
        """Run statements in one IMMEDIATE transaction; any failure rolls all of them back and raises D1Error."""
        if not statements:
            raise D1Error("D1_ERROR: No SQL statements detected.")
        if len(statements) == 1:  # SQLite's own implicit transaction: atomic, and no lock for a read
            return [self.query(*statements[0])]
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            results = [self.query(sql, params) for sql, params in statements]
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        return results

    def user_tables(self) -> list[str]:
        """Tables a user sees (D1 hides sqlite_* and _cf_* tables)."""
        rows = self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall()
        return [r[0] for r in rows if not r[0].startswith(("sqlite_", "_cf_"))]


def _objects(columns: list[str], rows: list[Any]) -> list[JsDict]:
    if len(rows) < 1000 or not gc.isenabled():
        return [JsDict(zip(columns, row)) for row in rows]  # noqa: B905 - a row has one value per column
    # Thousands of new dicts trigger full collections that walk the whole server's heap (measured: 10,000
    # rows took 1.6x longer inside a step). Row dicts hold scalars, never cycles, and nothing else runs
    # meanwhile (no await), so collection can wait until they are built.
    gc.disable()
    try:
        return [JsDict(zip(columns, row)) for row in rows]  # noqa: B905
    finally:
        gc.enable()


def _result(columns: list[str], rows: list[list[Any]], meta: dict[str, Any]) -> JsDict:
    return JsDict(results=JsList(_objects(columns, rows)), success=True, meta=JsDict(meta))


class D1PreparedStatement:
    """`db.prepare(sql)`: bind values with `.bind(*values)`, then `first`/`all`/`run`/`raw`."""

    def __init__(self, db: D1Database, sql: str, params: tuple[Any, ...] = ()) -> None:
        self._db = db
        self.sql = sql
        self.params = params

    def __repr__(self) -> str:
        return f"D1PreparedStatement({self.sql!r}, params={list(self.params)!r})"

    def bind(self, *values: Any) -> D1PreparedStatement:
        """A new statement with these positional values for `?`/`?N` (D1's types; others: D1_TYPE_ERROR)."""
        for value in values:
            _bind_value(value)
        return D1PreparedStatement(self._db, self.sql, values)

    def _run(self) -> tuple[list[str], list[list[Any]], dict[str, Any]]:
        return self._db.store.transaction([(self.sql, self.params)])[0]

    async def first(self, column: Any = None, **kwargs: Any) -> Any:
        """The first row (a dict) or None; with `column`, that column's value (missing column: D1_COLUMN_NOTFOUND)."""
        column = kwargs.get("colName", column)
        columns, rows, _ = self._run()
        if not rows:
            return None
        row = _objects(columns, rows[:1])[0]
        if column is None:
            return row
        if column not in row:
            raise D1Error(f"D1_COLUMN_NOTFOUND: Column not found ({column})")
        return row[column]

    async def all(self) -> JsDict:
        """`{results: [rows], success: True, meta}`."""
        return _result(*self._run())

    async def run(self) -> JsDict:
        """Same shape as `all()` (D1's `run` also returns the rows)."""
        return _result(*self._run())

    async def raw(self, options: Any = None, **kwargs: Any) -> JsList:
        """Rows as lists of values; with `columnNames=True` the first list is the column names."""
        names = bool((options or {}).get("columnNames") if isinstance(options, dict) else False)
        names = bool(kwargs.get("columnNames", names))
        columns, rows, _ = self._run()
        return JsList(([list(columns)] if names else []) + [list(row) for row in rows])  # .to_py() works


class D1Database:
    """`self.env.<binding>` for a `d1_databases[]` entry."""

    def __init__(self, root_v3: Path, database_id: str, binding: str = "", database_name: str = "") -> None:
        self._root = root_v3
        self.database_id = database_id
        self.binding = binding
        self.database_name = database_name or binding
        self._store: D1Store | None = None

    @property
    def store(self) -> D1Store:
        if self._store is None:
            self._store = D1Store(self._root, self.database_id)
        return self._store

    def __repr__(self) -> str:
        return f"D1Database({self.binding or self.database_id!r})"

    def prepare(self, query: str) -> D1PreparedStatement:
        """A statement for `query` (one SQL statement, `?` placeholders)."""
        if not isinstance(query, str):
            raise TypeError(f"prepare() takes the SQL as a str, got {type(query).__name__}")
        return D1PreparedStatement(self, query)

    async def batch(self, statements: Any) -> list[JsDict]:
        """Run statements in order in one transaction and return each one's `all()` result; any error
        rolls back every statement of the batch and raises."""
        items = list(statements)
        for s in items:
            if not isinstance(s, D1PreparedStatement):
                raise TypeError(f"batch() takes a list of prepared statements, got {type(s).__name__}")
        results = self.store.transaction([(s.sql, s.params) for s in items])
        return [_result(*r) for r in results]

    async def exec(self, query: str) -> JsDict:
        """Run one or more `;`-separated statements without binding: `{"count", "duration"}`."""
        started = time.perf_counter()
        statements = split_statements(query)
        self.store.transaction([(s, ()) for s in statements])
        return JsDict(count=len(statements), duration=(time.perf_counter() - started) * 1000)

    async def dump(self) -> bytes:
        """The database file's bytes (D1's deprecated `dump()`)."""
        self.store.conn.execute("PRAGMA wal_checkpoint(FULL)")
        return self.store.path.read_bytes()

    def withSession(self, constraint: Any = None) -> D1Database:  # noqa: N802 - Cloudflare's name
        """Sessions (read replication) have one replica locally: the database itself."""
        return self


# -- migrations (`wrangler d1 migrations apply`; used by the CLI and pyflows.testing) ------------------


def migration_files(folder: Path) -> list[str]:
    """The `.sql` files of a `migrations_dir`, in name order (the order Wrangler applies them); [] if
    the folder does not exist."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.suffix == ".sql" and p.is_file())


def applied_migrations(store: D1Store, table: str) -> set[str]:
    """The migration names recorded in `table` (`migrations_table`), created as Wrangler creates it."""
    store.conn.execute(
        f'CREATE TABLE IF NOT EXISTS "{table}"(\n\t\tid         INTEGER PRIMARY KEY AUTOINCREMENT,\n'
        "\t\tname       TEXT UNIQUE,\n\t\tapplied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL\n)"
    )
    return {r[0] for r in store.conn.execute(f'SELECT name FROM "{table}"')}


def apply_migration(store: D1Store, folder: Path, name: str, table: str) -> int:
    """Run migration file `folder/name` and record it in `table`, in one transaction; returns the number
    of statements run. D1Error `Migration <name> failed with the following errors: ...` (Wrangler's
    words) if one fails: then nothing of it is applied."""
    statements = split_statements((folder / name).read_text(encoding="utf-8"))
    statements.append(f"INSERT INTO \"{table}\" (name) VALUES ('{name.replace(chr(39), chr(39) * 2)}')")
    try:
        store.transaction([(s, ()) for s in statements])
    except D1Error as exc:
        raise D1Error(
            f"Migration {name} failed with the following errors:\n{str(exc).removeprefix('D1_ERROR: ')}"
        ) from None
    return len(statements)

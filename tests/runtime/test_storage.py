"""The store: locking, permissions, migrations, group commit, and the aiosqlite internal it uses."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from pathlib import Path

import aiosqlite
import pytest
from pyflows.runtime.errors import PyflowsError, StateLockedError, StoreClosedError
from pyflows.runtime.storage.store import MemoryStores, Store
from pyflows.runtime.workflows import queries

pytestmark = pytest.mark.anyio


async def _open(path: Path) -> Store:
    """A store with the engine's tables (the engine applies them itself at start)."""
    store = await Store.open(path)
    await store.migrate("workflows", queries.MIGRATIONS)
    return store


async def test_state_files_are_user_only(tmp_path: Path) -> None:
    store = await _open(tmp_path / "state")
    await store.write(lambda c: queries.insert_instance_txn(c, "wf", "i1", "{}", 1))
    try:
        assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
        for path in (tmp_path / "state").iterdir():
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    finally:
        await store.close()


async def test_a_second_store_on_the_same_dir_is_a_clear_error(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "state")
    try:
        with pytest.raises(StateLockedError, match=r"in use by another pyflows dev \(pid \d+\).*--persist-to"):
            await Store.open(tmp_path / "state")
    finally:
        await store.close()
    again = await Store.open(tmp_path / "state")  # released on close
    await again.close()


async def test_migrations_are_recorded_and_reopen_keeps_data(tmp_path: Path) -> None:
    store = await _open(tmp_path / "s")
    await store.write(lambda c: queries.insert_instance_txn(c, "wf", "keep", "{}", 1))
    await store.close()
    store = await _open(tmp_path / "s")
    try:
        versions = await store.read(lambda c: c.execute("SELECT subsystem, version FROM schema_versions").fetchall())
        assert [tuple(v) for v in versions] == [("workflows", len(queries.MIGRATIONS))]
        assert await store.read(lambda c: queries.q_latest(c, "wf")) == "keep"
    finally:
        await store.close()


async def test_state_from_before_subsystem_versions_is_migrated_from_its_version(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir(mode=0o700)
    conn = sqlite3.connect(tmp_path / "s" / "workflows.sqlite")
    conn.executescript(f"{queries.MIGRATIONS[0]}; CREATE TABLE schema_version (version INTEGER);")
    conn.execute("INSERT INTO schema_version VALUES (1)")
    queries.insert_instance_txn(conn, "wf", "old", "{}", 1)
    conn.commit()
    conn.close()
    store = await Store.open(tmp_path / "s")
    try:
        await store.migrate("workflows", queries.MIGRATIONS)  # from 2 on: 1 would fail, its tables exist
        assert await store.read(lambda c: queries.q_status_counts(c, "wf")) == {"queued": 1}
    finally:
        await store.close()


async def test_a_database_from_a_newer_pyflows_is_a_clear_error(tmp_path: Path) -> None:
    store = await _open(tmp_path / "s")
    try:
        with pytest.raises(PyflowsError, match=r"newer pyflows \(workflows schema \d+, this one knows 1\)"):
            await store.migrate("workflows", queries.MIGRATIONS[:1])
    finally:
        await store.close()


async def test_concurrent_writes_share_transactions_and_failures_stay_isolated(tmp_path: Path) -> None:
    store = await _open(tmp_path / "s")
    try:
        futures = [
            store.write(lambda c, i=i: queries.insert_instance_txn(c, "wf", f"i{i}", "{}", i)) for i in range(50)
        ]
        futures.append(store.write(lambda c: queries.insert_instance_txn(c, "wf", "i3", "{}", 0)))  # duplicate
        results = await asyncio.gather(*futures, return_exceptions=True)
        assert all(isinstance(r, int) for r in results[:50])
        assert isinstance(results[50], sqlite3.IntegrityError)
        rows, total = await store.read(
            lambda c: queries.q_list(c, "wf", status=None, start_ms=None, end_ms=None, limit=100, offset=0)
        )
        assert total == 50
    finally:
        await store.close()


async def test_a_failed_write_leaves_nothing_behind_in_a_shared_transaction(tmp_path: Path) -> None:
    # Group commit runs several writes in one transaction, each inside a SAVEPOINT: a write that
    # changed rows and then raised must be undone, while its neighbours in the batch commit.
    store = await _open(tmp_path / "s")

    def half_done(c: sqlite3.Connection) -> None:
        queries.insert_instance_txn(c, "wf", "half", "{}", 1)
        raise ValueError("failed after writing")

    try:
        before = store.write(lambda c: queries.insert_instance_txn(c, "wf", "before", "{}", 0))
        failing = store.write(half_done)
        after = store.write(lambda c: queries.insert_instance_txn(c, "wf", "after", "{}", 2))
        results = await asyncio.gather(before, failing, after, return_exceptions=True)
        assert isinstance(results[1], ValueError)
        assert isinstance(results[0], int) and isinstance(results[2], int)
        rows, total = await store.read(
            lambda c: queries.q_list(c, "wf", status=None, start_ms=None, end_ms=None, limit=100, offset=0)
        )
        assert total == 2 and {row["id"] for row in rows} == {"before", "after"}
    finally:
        await store.close()


async def test_using_a_closed_store_is_a_named_error(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "s")
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(StoreClosedError):
        await store.read(lambda c: 1)


def test_aiosqlite_still_has_the_internal_api_the_store_uses() -> None:
    # Store runs whole transactions in one hop with Connection._execute(fn, *args) and ._conn.
    assert callable(getattr(aiosqlite.Connection, "_execute", None))
    assert isinstance(getattr(aiosqlite.Connection, "_conn", None), property)


async def test_an_in_memory_store_keeps_the_store_contract() -> None:
    store = await Store.open_memory()
    await store.migrate("workflows", queries.MIGRATIONS)

    def boom(c: sqlite3.Connection) -> None:
        queries.insert_instance_txn(c, "wf", "lost", "{}", 1)
        raise RuntimeError("this write fails")

    ok = store.write_nowait(lambda c: queries.insert_instance_txn(c, "wf", "kept", "{}", 1))
    failed = store.write_nowait(boom)
    assert await ok == 1
    with pytest.raises(RuntimeError, match="this write fails"):
        await failed  # its own savepoint is undone, the batch's other write is committed
    assert await store.read(lambda c: queries.q_latest(c, "wf")) == "kept"
    assert store.read_now(lambda c: queries.q_instance(c, "wf", "lost")) is None
    assert store.path is None
    await store.close()
    await store.close()
    with pytest.raises(StoreClosedError):
        await store.read(lambda c: 1)


async def test_memory_stores_hand_out_emptied_databases() -> None:
    stores = MemoryStores()
    try:
        first = await stores.open()
        await first.migrate("workflows", queries.MIGRATIONS)
        pk = await first.write(lambda c: queries.insert_instance_txn(c, "wf", "same-id", "{}", 1))
        other = await stores.open()  # open at the same time: a database of its own
        assert await other.read(lambda c: c.execute("SELECT name FROM sqlite_master").fetchall()) == []
        await other.close()
        await first.close()

        again = await stores.open()
        statements: list[str] = []
        again.read_now(lambda c: c.set_trace_callback(statements.append))
        await again.migrate("workflows", queries.MIGRATIONS)  # remembered with the database: not even a query
        assert statements == []
        again.read_now(lambda c: c.set_trace_callback(None))
        assert await again.read(lambda c: queries.q_latest(c, "wf")) is None
        assert await again.read(lambda c: c.execute("SELECT count(*) FROM instance_counts").fetchone()[0]) == 0
        # the same id again, and the same primary key a fresh database would give
        assert await again.write(lambda c: queries.insert_instance_txn(c, "wf", "same-id", "{}", 1)) == pk
        await again.close()
    finally:
        stores.close()


async def test_a_database_that_cannot_be_emptied_is_not_handed_out_again() -> None:
    stores = MemoryStores()
    try:
        store = await stores.open()
        statements = [
            "CREATE TABLE parent (x)",
            "CREATE TABLE log (x)",
            "CREATE TRIGGER audit AFTER DELETE ON parent BEGIN INSERT INTO log VALUES (old.x); END",
            "INSERT INTO parent VALUES (1)",
        ]
        await store.write(lambda c: [c.execute(sql) for sql in statements])
        await store.close()  # emptying parent (after log: newest first) writes to log again
        fresh = await stores.open()
        assert await fresh.read(lambda c: c.execute("SELECT name FROM sqlite_master").fetchall()) == []
        await fresh.close()
    finally:
        stores.close()


async def test_an_in_memory_write_commits_when_it_is_queued_and_a_failing_one_rolls_back() -> None:
    stores = MemoryStores()
    try:
        store = await stores.open()
        await store.migrate("workflows", queries.MIGRATIONS)
        done = store.write_nowait(lambda c: queries.insert_instance_txn(c, "wf", "i1", "{}", 1))
        assert done.done() and store.read_now(lambda c: queries.q_instance(c, "wf", "i1"))["id"] == "i1"

        def half_then_fail(c: sqlite3.Connection) -> None:
            queries.insert_instance_txn(c, "wf", "i2", "{}", 1)
            raise ValueError("no")

        with pytest.raises(ValueError, match="no"):
            await store.write(half_then_fail)
        assert store.read_now(lambda c: queries.q_instance(c, "wf", "i2")) is None  # rolled back
        assert await store.write(lambda c: queries.insert_instance_txn(c, "wf", "i3", "{}", 1)) > 0  # still usable
        await store.close()
    finally:
        stores.close()


async def test_read_now_sees_committed_rows_of_a_file_store(tmp_path: Path) -> None:
    store = await _open(tmp_path / "s")
    try:
        await store.write(lambda c: queries.insert_instance_txn(c, "wf", "i1", "{}", 1))
        assert store.read_now(lambda c: queries.q_instance(c, "wf", "i1"))["id"] == "i1"
    finally:
        await store.close()

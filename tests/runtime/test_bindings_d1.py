"""D1 binding: statements, batches and D1's result and error shapes, on a plain SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from pyflows.runtime.bindings.d1 import D1Database, D1Error, split_statements

pytestmark = pytest.mark.anyio


@pytest.fixture
async def db(tmp_path: Path) -> D1Database:
    database = D1Database(tmp_path / "v3", "db-id", "DB")
    await database.exec(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, flag INTEGER, data BLOB, score REAL)"
    )
    return database


async def test_first_all_run_raw(db: D1Database) -> None:
    inserted = (
        await db.prepare("INSERT INTO t (name, flag, data, score) VALUES (?, ?, ?, ?)")
        .bind("a", True, b"\x01\x02", 1.5)
        .run()
    )
    assert inserted.success is True
    assert inserted.meta.changes == 1 and inserted.meta.last_row_id == 1 and inserted.meta.changed_db is True
    assert inserted.meta.rows_written == 1 and inserted.meta.size_after > 0
    await db.prepare("INSERT INTO t (name, flag) VALUES (?1, ?2)").bind("b", None).run()

    row = await db.prepare("SELECT * FROM t WHERE name = ?").bind("a").first()
    assert row == {"id": 1, "name": "a", "flag": 1, "data": b"\x01\x02", "score": 1.5}
    assert row.name == "a"
    assert await db.prepare("SELECT name FROM t ORDER BY id").first("name") == "a"
    assert await db.prepare("SELECT * FROM t WHERE id = 99").first() is None
    with pytest.raises(D1Error, match=r"D1_COLUMN_NOTFOUND: Column not found \(nope\)"):
        await db.prepare("SELECT name FROM t").first("nope")

    every = await db.prepare("SELECT id, flag FROM t ORDER BY id").all()
    assert every.results == [{"id": 1, "flag": 1}, {"id": 2, "flag": None}]
    assert every.meta.rows_read == 2 and every.meta.served_by == "miniflare.db"
    assert await db.prepare("SELECT id, name FROM t ORDER BY id").raw() == [[1, "a"], [2, "b"]]
    assert await db.prepare("SELECT id FROM t ORDER BY id").raw(columnNames=True) == [["id"], [1], [2]]
    assert await db.prepare("SELECT id FROM t ORDER BY id").raw({"columnNames": True}) == [["id"], [1], [2]]


async def test_errors_have_d1s_shape(db: D1Database) -> None:
    with pytest.raises(D1Error) as info:
        await db.prepare("SELECT * FROM nosuch").all()
    assert str(info.value) == "D1_ERROR: no such table: nosuch: SQLITE_ERROR"
    await db.prepare("INSERT INTO t (name) VALUES ('x')").run()
    with pytest.raises(D1Error, match=r"^D1_ERROR: UNIQUE constraint failed: t.name: SQLITE_CONSTRAINT"):
        await db.prepare("INSERT INTO t (name) VALUES ('x')").run()
    with pytest.raises(D1Error, match="D1_TYPE_ERROR: Type 'object' not supported"):
        db.prepare("SELECT ?").bind({"a": 1})


async def test_batch_is_all_or_nothing(db: D1Database) -> None:
    results = await db.batch(
        [db.prepare("INSERT INTO t (name) VALUES (?)").bind(n) for n in ("p", "q")]
        + [db.prepare("SELECT count(*) AS n FROM t")]
    )
    assert [r.meta.changes for r in results] == [1, 1, 0] and results[2].results == [{"n": 2}]
    with pytest.raises(D1Error, match="UNIQUE constraint failed"):
        await db.batch(
            [
                db.prepare("INSERT INTO t (name) VALUES ('r')"),
                db.prepare("UPDATE t SET flag = 7"),
                db.prepare("INSERT INTO t (name) VALUES ('p')"),  # duplicate: the whole batch rolls back
            ]
        )
    names = await db.prepare("SELECT name, flag FROM t ORDER BY name").raw()
    assert names == [["p", None], ["q", None]]


async def test_exec_and_the_file_is_plain_sqlite(db: D1Database) -> None:
    result = await db.exec("INSERT INTO t (name) VALUES ('a;b'); -- a comment\nINSERT INTO t (name) VALUES ('c')")
    assert result.count == 2
    with sqlite3.connect(db.store.path) as conn:  # what a user's sqlite3 sees
        assert conn.execute("SELECT name FROM t ORDER BY id").fetchall() == [("a;b",), ("c",)]


def test_split_statements_respects_quotes_comments_and_triggers() -> None:
    sql = """
    -- leading comment
    CREATE TABLE a (x TEXT);
    INSERT INTO a VALUES ('1;2');
    CREATE TRIGGER tr AFTER INSERT ON a BEGIN INSERT INTO a VALUES ('t'); END;
    SELECT 1
    """
    parts = split_statements(sql)
    assert len(parts) == 4
    assert parts[2].startswith("CREATE TRIGGER") and parts[2].endswith("END;")
    assert parts[3] == "SELECT 1"

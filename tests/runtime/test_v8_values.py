"""Durable Object values in V8's serialization format, byte for byte as workerd stores them.

Every fixture below is a `_cf_KV.value` that `wrangler dev` (4.164.0, workerd's
`serializeV8Value`) wrote when a JavaScript Durable Object ran `ctx.storage.put(key, value)` with the
value in the comment. pyflows must read each one as the Python SDK would hand it to Python code, and
write the same bytes for the same value.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pyflows.runtime.bindings.durable_objects import DurableObjectNamespace, do_root
from pyflows.runtime.bindings.v8_values import deserialize, serialize
from pyflows.runtime.surface.entrypoints import DurableObject
from pyflows.runtime.surface.values import JsDict

# (JavaScript value put by wrangler dev, bytes workerd stored, what Python code gets back)
SAME_BOTH_WAYS: list[tuple[str, str, Any]] = [
    ("null", "ff0f30", None),
    ("true", "ff0f54", True),
    ("false", "ff0f46", False),
    ("42", "ff0f4954", 42),
    ("-7", "ff0f490d", -7),
    ("2147483648", "ff0f4e000000000000e041", 2147483648),
    ("1.5", "ff0f4e000000000000f83f", 1.5),
    ("12345678901234567890n", "ff0f5a10d20a1feb8ca954ab", 12345678901234567890),
    ('"héllo"', "ff0f220568e96c6c6f", "héllo"),
    ('"€uro ✓"', "ff0f630cac20750072006f0020001327", "€uro ✓"),
    ('""', "ff0f2200", ""),
    ('[1, "two", null, [3]]', "ff0f41044902220374776f3041014906240001240004", [1, "two", None, [3]]),
    (
        '{a: 1, b: "x", "2": "num-key", nested: {c: [true]}}',
        "ff0f6f490422076e756d2d6b6579220161490222016222017822066e65737465646f2201634101542400017b017b04",
        {"2": "num-key", "a": 1, "b": "x", "nested": {"c": [True]}},
    ),
    ("new Date(1767225600000)", "ff0f44000080aa6db77942", datetime(2026, 1, 1)),
    ("new Uint8Array([1, 2, 255])", "ff0f42030102ff5642000300", b"\x01\x02\xff"),
]

# Values JavaScript has and Python has not: read as the SDK converts them (written back differently).
READ_ONLY: list[tuple[str, str, Any]] = [
    ("-0", "ff0f4e0000000000000080", 0),
    ("{u: undefined}", "ff0f6f2201755f7b01", {"u": None}),
    ("new Uint8Array([9, 8]).buffer", "ff0f42020908", b"\t\x08"),
    ('new Map([["k", 1], ["j", "v"]])', "ff0f3b22016b490222016a2201763a04", {"k": 1, "j": "v"}),
    ('new Set([1, "a"])', "ff0f2749022201612c02", {1, "a"}),
    ("(o = {x: 1}, {a: o, b: o})", "ff0f6f2201616f22017849027b012201625e017b02", {"a": {"x": 1}, "b": {"x": 1}}),
]


@pytest.mark.parametrize(("js", "stored", "python"), SAME_BOTH_WAYS, ids=[c[0] for c in SAME_BOTH_WAYS])
def test_values_read_and_written_as_workerd_does(js: str, stored: str, python: Any) -> None:
    value = deserialize(bytes.fromhex(stored))
    assert value == python and type(value) is type(python) or isinstance(value, JsDict)
    assert serialize(python).hex() == stored


@pytest.mark.parametrize(("js", "stored", "python"), READ_ONLY, ids=[c[0] for c in READ_ONLY])
def test_javascript_only_values_read_as_the_sdk_converts_them(js: str, stored: str, python: Any) -> None:
    assert deserialize(bytes.fromhex(stored)) == python


def test_objects_come_back_as_jsdicts_and_shared_ones_stay_shared() -> None:
    got = deserialize(bytes.fromhex("ff0f6f2201616f22017849027b012201625e017b02"))
    assert isinstance(got, JsDict) and got.a.x == 1
    assert got["a"] is got["b"]  # one object referenced twice in JavaScript
    shared = {"x": 1}
    assert serialize({"a": shared, "b": shared}).hex() == "ff0f6f2201616f22017849027b012201625e017b02"


@pytest.mark.parametrize(
    "value",
    [0, -(2**31), 2**31 - 1, 2**53, -(2**64), 3.0, -0.0, 1e300, float("inf"), "\x00ÿ", "𝄞", [[]], {"": {}}],
)
def test_round_trips(value: Any) -> None:
    assert deserialize(serialize(value)) == value


def test_aware_datetimes_are_stored_in_utc_and_come_back_naive_utc() -> None:
    from datetime import timedelta, timezone

    local = datetime(2026, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    assert serialize(local) == serialize(datetime(2026, 1, 1, 0, 0))
    assert deserialize(serialize(local)) == datetime(2026, 1, 1, 0, 0)
    assert deserialize(serialize(datetime(2026, 1, 1, tzinfo=UTC))).tzinfo is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ((1, 2), r"<class 'tuple'> cannot be stored in Durable Object storage: use None, bool"),
        (bytearray(b"x"), r"<class 'bytearray'> cannot be stored"),
        (object(), r"<class 'object'> cannot be stored"),
        ({1: "x"}, r"dict key 1 \(int\) cannot be stored: keys must be str"),
    ],
)
def test_values_storage_cannot_hold_are_a_type_error_naming_the_type(value: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        serialize(value)


def test_bytes_that_are_not_a_v8_value_are_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a V8-serialized value"):
        deserialize(b"\xff\x0f\x01")


def test_values_written_before_headers_are_read_as_version_13() -> None:
    assert deserialize(bytes.fromhex("54")) is True  # workerd's own test: "54", "FF0D54", "FF0E54", "FF0F54"
    assert deserialize(bytes.fromhex("ff0d54")) is True


class Box(DurableObject):
    async def put(self, key: str, value: Any) -> None:
        await self.ctx.storage.put(key, value)

    async def get(self, key: str) -> Any:
        return await self.ctx.storage.get(key)


@pytest.mark.anyio
async def test_ctx_storage_writes_workerd_bytes_and_reads_old_json_rows(tmp_path: Path) -> None:
    root = do_root(tmp_path / ".pyflows" / "state", tmp_path)  # Wrangler's .wrangler/state/v3/do
    ns = DurableObjectNamespace(Box, script="s", root=root, env_getter=dict)
    stub = ns.getByName("a")
    await stub.put("when", datetime(2026, 1, 1))
    path = next(p for p in (root / "s-Box").glob("*.sqlite") if p.stem != "metadata")
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM _cf_KV WHERE key = 'when'").fetchone()[0].hex() == "ff0f44000080aa6db77942"
    with db:  # a row pyflows wrote before it stored V8 values: JSON text
        db.execute("""INSERT INTO _cf_KV VALUES ('old', '{"n":2}')""")
    db.close()
    assert await stub.get("old") == {"n": 2}
    assert await stub.get("when") == datetime(2026, 1, 1)
    await ns.close()

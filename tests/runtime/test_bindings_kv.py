"""KV binding: Cloudflare's API shapes and limits, on Wrangler's on-disk layout."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
from pyflows.runtime.bindings.kv import KVError, KVNamespace
from pyflows.runtime.bindings.wrangler_state import do_id

pytestmark = pytest.mark.anyio


@pytest.fixture
def kv(tmp_path: Path) -> KVNamespace:
    return KVNamespace(tmp_path / "v3", "ns-1", "KV")


def test_file_names_are_wranglers() -> None:
    # Values taken from files wrangler 4.164 wrote for these ids.
    assert do_id("miniflare-KVNamespaceObject", "kv-ns-id-123") == (
        "4b42565ffd76062ee146af3e07c51ffa280f1e6576b766b7dd2936dfee47b500"
    )
    assert do_id("miniflare-D1DatabaseObject", "d1-db-id-456") == (
        "bda3ad4450c2ad3a8cb2561e4dda62cb10205d86988ea97299bd1b78e8d195c0"
    )
    assert do_id("miniflare-R2BucketObject", "probe-bucket") == (
        "cd659d9f6268ed799d04dfb0f47622fbbfc1bdcb29f110b18ed33559bb1688bd"
    )


async def test_get_types_and_metadata(kv: KVNamespace, tmp_path: Path) -> None:
    await kv.put("text", "hello", {"metadata": {"a": 1}})
    await kv.put("doc", json.dumps({"n": 2, "list": [1, 2]}))
    await kv.put("bin", b"\x00\xff")
    assert await kv.get("text") == "hello"
    doc = await kv.get("doc", "json")
    assert doc.n == 2 and doc["list"] == [1, 2] and doc.to_py() is doc
    assert await kv.get("doc", type="json") == {"n": 2, "list": [1, 2]}
    assert await kv.get("bin", {"type": "arrayBuffer"}) == b"\x00\xff"
    assert await kv.get("missing") is None
    with_meta = await kv.getWithMetadata("text")
    assert with_meta.value == "hello" and with_meta.metadata.a == 1 and with_meta.cacheStatus is None
    assert (await kv.getWithMetadata("missing")).value is None
    many = await kv.get(["text", "missing"])
    assert many == {"text": "hello", "missing": None}
    # The row and the blob sit where miniflare keeps them.
    db = (
        tmp_path
        / "v3"
        / "kv"
        / "miniflare-KVNamespaceObject"
        / f"{do_id('miniflare-KVNamespaceObject', 'ns-1')}.sqlite"
    )
    with sqlite3.connect(db) as conn:
        blob_id, metadata = conn.execute("SELECT blob_id, metadata FROM _mf_entries WHERE key = 'text'").fetchone()
    assert json.loads(metadata) == {"a": 1}
    assert (tmp_path / "v3" / "kv" / "ns-1" / "blobs" / blob_id).read_bytes() == b"hello"


async def test_overwrite_and_delete_remove_old_blobs(kv: KVNamespace, tmp_path: Path) -> None:
    blobs = tmp_path / "v3" / "kv" / "ns-1" / "blobs"
    await kv.put("k", "one")
    await kv.put("k", "two")
    assert await kv.get("k") == "two"
    assert [p.read_bytes() for p in blobs.iterdir()] == [b"two"]
    await kv.delete("k")
    await kv.delete("never-existed")
    assert await kv.get("k") is None
    assert list(blobs.iterdir()) == []


async def test_list_pages_with_prefix_and_cursor(kv: KVNamespace) -> None:
    for i in range(5):
        await kv.put(f"user:{i}", str(i), metadata={"i": i})
    await kv.put("other", "x")
    first = await kv.list({"prefix": "user:", "limit": 2})
    assert [k.name for k in first.keys] == ["user:0", "user:1"]
    assert first.list_complete is False and first.keys[0].metadata == {"i": 0}
    rest = await kv.list(prefix="user:", cursor=first.cursor)
    assert [k.name for k in rest.keys] == ["user:2", "user:3", "user:4"]
    assert rest.list_complete is True and "cursor" not in rest
    everything = await kv.list()
    assert len(everything["keys"]) == 6
    assert json.loads(json.dumps(everything))["keys"][5] == {"name": "user:4", "metadata": {"i": 4}}


async def test_expiry_is_honoured(kv: KVNamespace) -> None:
    await kv.put("ttl", "v", {"expirationTtl": 60})
    listed = (await kv.list()).keys[0]
    assert abs(listed.expiration - (time.time() + 60)) < 5
    assert await kv.get("ttl") == "v"
    # Move the stored expiry into the past (the minimum TTL is 60 s): the key reads as gone.
    kv.store.conn.execute("UPDATE _mf_entries SET expiration = ?", (int(time.time() * 1000) - 1,))
    assert await kv.get("ttl") is None
    assert (await kv.list()).keys == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda kv: kv.put("k", "v", {"expirationTtl": 10}),
            "KV PUT failed: 400 Invalid expiration_ttl of 10. Expiration TTL must be at least 60.",
        ),
        (
            lambda kv: kv.put("k", "v", expiration=int(time.time()) + 5),
            "Expiration times must be at least 60 seconds in the future.",
        ),
        (
            lambda kv: kv.put("k" * 513, "v"),
            "KV PUT failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512.",
        ),
        (
            lambda kv: kv.put("k", "v", metadata={"x": "y" * 1100}),
            "KV PUT failed: 413 Metadata length of 1108 exceeds limit of 1024.",
        ),
        (lambda kv: kv.put("", "v"), "KV PUT failed: 400 Key names must not be empty"),
        (lambda kv: kv.get("."), 'KV GET failed: 400 Illegal key name ".". Please use a different name.'),
        (lambda kv: kv.list(limit=1001), "Please specify an integer less than 1000."),
    ],
)
async def test_cloudflare_limits_with_cloudflare_messages(kv: KVNamespace, call, message: str) -> None:
    with pytest.raises(KVError) as info:
        await call(kv)
    assert message in str(info.value)


async def test_value_size_limit_names_the_size(kv: KVNamespace) -> None:
    with pytest.raises(KVError, match=r"413 Value length of 26214401 exceeds limit of 26214400\."):
        await kv.put("big", b"x" * (25 * 1024 * 1024 + 1))


async def test_non_string_values_are_a_type_error(kv: KVNamespace) -> None:
    with pytest.raises(TypeError, match="accepts only strings"):
        await kv.put("k", {"a": 1})

"""The ReadableStream that KV.get(key, "stream") and an R2 object's `body` give Python code
(runtime/surface/streams.py), used the ways Python Workers code uses a JS stream."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyflows.runtime.bindings.kv import KVNamespace
from pyflows.runtime.bindings.r2 import R2Bucket
from pyflows.runtime.surface.http import Response
from pyflows.runtime.surface.streams import CHUNK_BYTES, ReadableStream

pytestmark = pytest.mark.anyio

BIG = bytes(range(256)) * (CHUNK_BYTES // 256 * 2 + 3)  # two full chunks and a bit


async def read_with_reader(stream: ReadableStream) -> tuple[bytes, int]:
    reader = stream.getReader()
    out, chunks = b"", 0
    while not (chunk := await reader.read()).done:
        out += chunk.value.to_bytes()
        chunks += 1
    assert chunk.value is None
    reader.releaseLock()
    return out, chunks


async def test_kv_stream_reads_in_chunks_with_a_reader(tmp_path: Path) -> None:
    kv = KVNamespace(tmp_path / "v3", "ns", "KV")
    await kv.put("big", BIG)
    stream = await kv.get("big", "stream")
    assert isinstance(stream, ReadableStream) and not stream.locked
    assert await read_with_reader(stream) == (BIG, 3)
    assert await kv.get("missing", type="stream") is None


async def test_r2_body_async_iteration_and_body_used(tmp_path: Path) -> None:
    bucket = R2Bucket(tmp_path / "v3", "b", "BUCKET")
    await bucket.put("big", BIG)
    obj = await bucket.get("big")
    assert obj.bodyUsed is False
    chunks = [bytes(chunk) async for chunk in obj.body]
    assert b"".join(chunks) == BIG and [len(c) for c in chunks] == [CHUNK_BYTES, CHUNK_BYTES, len(BIG) % CHUNK_BYTES]
    assert obj.bodyUsed is True  # the body was read through its stream
    with pytest.raises(TypeError, match="Body has already been used"):
        await obj.text()
    with pytest.raises(TypeError, match="disturbed"):
        Response(obj.body)


async def test_a_stream_is_a_response_body_and_a_put_value(tmp_path: Path) -> None:
    bucket, kv = R2Bucket(tmp_path / "v3", "b", "BUCKET"), KVNamespace(tmp_path / "v3", "ns", "KV")
    await bucket.put("page.html", "<p>hi</p>", {"httpMetadata": {"contentType": "text/html"}})
    obj = await bucket.get("page.html")
    response = Response(obj.body, headers={"content-type": obj.httpMetadata.contentType})
    assert await response.text() == "<p>hi</p>" and response.headers["content-type"] == "text/html"

    await kv.put("copy", (await bucket.get("page.html")).body)  # KV and R2 take a stream as the value
    await bucket.put("copy", await kv.get("copy", "stream"))
    assert await (await bucket.get("copy")).text() == "<p>hi</p>"


async def test_locking_tee_and_cancel_as_in_javascript() -> None:
    stream = ReadableStream(b"abc")
    reader = stream.getReader()
    assert stream.locked
    with pytest.raises(TypeError, match="locked to a reader"):
        stream.getReader()
    with pytest.raises(TypeError, match="locked to a reader"):
        Response(stream)
    assert (await reader.read()).value == b"abc"
    reader.releaseLock()
    with pytest.raises(TypeError, match="released"):
        await reader.read()
    assert (await stream.getReader().read()).done is True

    first, second = ReadableStream(b"xyz").tee()
    assert [bytes(c) async for c in first] == [b"xyz"] and await read_with_reader(second) == (b"xyz", 1)

    cancelled = ReadableStream(b"left unread")
    await cancelled.cancel()
    assert (await cancelled.getReader().read()).done is True

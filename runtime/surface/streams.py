"""A `ReadableStream` stand-in: what `KV.get(key, "stream")` and an R2 object's `body` give Python code.

In a Python Worker those are JS ReadableStream proxies (reference/python-sdk.md §2.5: binding results
pass through `python_from_rpc`, which leaves a stream as a JsProxy). What Python Workers code does with
one, and this object supports:

    reader = stream.getReader()
    chunk = await reader.read()        # {done: False, value: <Uint8Array>} ... then {done: True, value: None}
    chunk.value.to_bytes()             # value is bytes that also answer Pyodide's to_bytes()/to_py()
    reader.releaseLock(); await reader.cancel()
    async for chunk in stream: ...     # JS streams are async iterables; Pyodide iterates them
    Response(stream, headers=...)      # a Response (or KV.put / R2.put) takes it as its body
    await stream.cancel(); stream.locked; a, b = stream.tee()

The bytes are already in memory (the bindings read a whole value or object), handed out in chunks of
at most 64 KiB. As in JavaScript, a stream is read once: a second reader while one holds the lock, or
reading a stream already read, is `TypeError` with workerd's message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from pyflows.runtime.surface.http import JsBuffer
from pyflows.runtime.surface.values import JsDict

__all__ = ["CHUNK_BYTES", "ReadableStream", "ReadableStreamDefaultReader"]

CHUNK_BYTES = 64 * 1024
_LOCKED = "This ReadableStream is currently locked to a reader."
_USED = "This ReadableStream is disturbed (has already been read from), and cannot be used as a body."


class ReadableStream:
    """A byte stream over `data`: `getReader()`, `async for`, `cancel()`, `tee()`, `locked`.

    `on_read` is called once, when reading starts (an R2 object body uses it to mark `bodyUsed`).
    """

    def __init__(self, data: bytes, *, on_read: Callable[[], None] | None = None) -> None:
        self._data = data
        self._offset = 0
        self._reader: ReadableStreamDefaultReader | None = None
        self._disturbed = False
        self._on_read = on_read

    def __repr__(self) -> str:
        return f"<ReadableStream {len(self._data)} bytes{' (read)' if self._disturbed else ''}>"

    @property
    def locked(self) -> bool:
        """True while a reader holds the stream (JS `locked`)."""
        return self._reader is not None

    def getReader(self, options: Any = None) -> ReadableStreamDefaultReader:  # noqa: N802 - the JS name
        """A reader that takes the lock; TypeError when another reader holds it."""
        if self._reader is not None:
            raise TypeError(_LOCKED)
        self._reader = ReadableStreamDefaultReader(self)
        return self._reader

    get_reader = getReader

    def _mark_read(self) -> None:
        if not self._disturbed:
            self._disturbed = True
            if self._on_read is not None:
                self._on_read()

    def _next_chunk(self) -> bytes | None:
        self._mark_read()
        if self._offset >= len(self._data):
            return None
        chunk = self._data[self._offset : self._offset + CHUNK_BYTES]
        self._offset += len(chunk)
        return chunk

    def read_all(self) -> bytes:
        """All the bytes, for a consumer that takes a whole body (`Response(stream)`, KV/R2 `put`).

        TypeError when the stream is locked to a reader or was read from already, as a JS body would be.
        """
        if self._reader is not None:
            raise TypeError(_LOCKED)
        if self._disturbed:
            raise TypeError(_USED)
        self._mark_read()
        self._offset = len(self._data)
        return self._data

    async def cancel(self, reason: Any = None) -> None:
        """Drop what is left unread."""
        self._disturbed = True
        self._offset = len(self._data)

    def tee(self) -> list[ReadableStream]:
        """Two streams over what is left, each readable on its own (JS `tee()`); locks this one."""
        if self._reader is not None:
            raise TypeError(_LOCKED)
        rest = self._data[self._offset :]
        self._reader = ReadableStreamDefaultReader(self)
        return [ReadableStream(rest), ReadableStream(rest)]

    def __aiter__(self) -> AsyncIterator[JsBuffer]:
        reader = self.getReader()

        async def chunks() -> AsyncIterator[JsBuffer]:
            try:
                while (chunk := self._next_chunk()) is not None:
                    yield JsBuffer(chunk)
            finally:
                reader.releaseLock()

        return chunks()


class ReadableStreamDefaultReader:
    """`stream.getReader()`: `await read()` → `{done, value}`, `releaseLock()`, `await cancel()`."""

    def __init__(self, stream: ReadableStream) -> None:
        self._stream: ReadableStream | None = stream

    def _held(self) -> ReadableStream:
        if self._stream is None:
            raise TypeError("This ReadableStreamDefaultReader has been released.")
        return self._stream

    async def read(self) -> JsDict:
        """The next chunk as `{"done": False, "value": bytes}`, then `{"done": True, "value": None}`."""
        chunk = self._held()._next_chunk()
        if chunk is None:
            return JsDict(done=True, value=None)
        return JsDict(done=False, value=JsBuffer(chunk))

    def releaseLock(self) -> None:  # noqa: N802 - the JS name
        """Give the stream back (another reader may take it)."""
        if self._stream is not None:
            self._stream._reader = None
            self._stream = None

    release_lock = releaseLock

    async def cancel(self, reason: Any = None) -> None:
        await self._held().cancel(reason)

    @property
    def closed(self) -> bool:
        stream = self._stream
        return stream is None or stream._offset >= len(stream._data)

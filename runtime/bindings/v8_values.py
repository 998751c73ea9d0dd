"""Durable Object values as workerd stores them: V8's serialization format (the structured clone).

    blob = serialize({"n": 1, "when": datetime(2026, 1, 1)})   # bytes for `_cf_KV.value`
    deserialize(blob)                                           # → JsDict({"n": 1, "when": datetime(...)})

workerd writes each `ctx.storage.put()` value with V8's ValueSerializer, header included, format
version 15 (`serializeV8Value`: `jsg::Serializer` with `.version = 15, .omitHeader = false`, workerd
src/workerd/io/stored-value.c++, formerly api/actor-state.c++), into the object's
`_cf_KV(key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID` table; a value without the `0xFF` header is
from before headers were written and is read as version 13 (same file, `deserializeV8Value`). The
format is V8's src/objects/value-serializer.cc; the bytes are read and written with the
v8serialize package, configured here to write what V8 writes (checked byte for byte against values
`wrangler dev` stored, tests/runtime/test_v8_values.py).

Python → JavaScript, as the Python SDK converts a value it hands to JavaScript (python_to_rpc and
Pyodide's `to_js`, reference/python-sdk.md §8):

| Python                           | stored as                                                        |
|----------------------------------|------------------------------------------------------------------|
| None, bool                       | null, true/false                                                 |
| int                              | a number: Int32 when it fits, else a double up to 2**53, else a BigInt |
| float                            | a number (Int32 when integral and it fits, as V8 stores it)      |
| str                              | a one-byte (Latin-1) or two-byte (UTF-16) string                 |
| dict (str keys), list            | a plain Object (index-like keys first, as V8 orders them), an Array |
| set / frozenset                  | a Set                                                            |
| datetime (naive = UTC)           | a Date (millisecond precision)                                   |
| bytes                            | a Uint8Array                                                     |

JavaScript → Python, as the SDK's python_from_rpc gives it: null and undefined → None; numbers →
int when integral, else float; BigInt → int; Object → JsDict; Array → list (holes → None); Date →
naive UTC datetime; ArrayBuffer and typed arrays → bytes; Map → dict; Set → set. A dict or list
stored twice in one value is stored once and referenced, as V8 does. Anything else (tuples,
bytearrays, arbitrary objects; RegExp or Error read from storage) is a TypeError naming the type.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pyflows.runtime.surface.values import JsDict
from v8serialize import DecodeV8SerializeError, Encoder, loads
from v8serialize.constants import SerializationTag
from v8serialize.encode import EncodeContext
from v8serialize.jstypes import (
    JSArray,
    JSArrayBuffer,
    JSBigInt,
    JSMap,
    JSObject,
    JSSet,
    JSUint8Array,
    JSUndefined,
)
from v8serialize.jstypes.jsbuffers import JSArrayBufferView

__all__ = ["deserialize", "serialize"]

_INT32 = range(-(2**31), 2**31)
_SAFE = 2**53
_MAX_INDEX = 2**32 - 2  # the largest array index: such keys are integers to V8


def _index(key: str) -> int | None:
    """`key` as V8 treats an integer-like property name (canonical, 0 … 2**32-2), else None."""
    if key.isdigit() and key.isascii() and (key == "0" or key[0] != "0"):
        n = int(key)
        return n if n <= _MAX_INDEX else None
    return None


def _write(value: object, /, ctx: EncodeContext, next: Callable[[object], None]) -> None:
    s = ctx.stream
    if value is None:
        s.write_constant(SerializationTag.kNull)
    elif value is True or value is False:
        s.write_constant(SerializationTag.kTrue if value else SerializationTag.kFalse)
    elif isinstance(value, int):
        if value in _INT32:
            s.write_int32(value)
        elif -_SAFE <= value <= _SAFE:
            s.write_double(value)
        else:  # a BigInt, its digits in whole 64-bit words as V8 writes them
            digits = abs(value).to_bytes(8 * ((abs(value).bit_length() + 63) // 64), "little")
            s.write_tag(SerializationTag.kBigInt)
            s.write_varint(len(digits) << 1 | (value < 0))
            s.data.extend(digits)
    elif isinstance(value, float):
        negative_zero = value == 0 and math.copysign(1.0, value) < 0
        if value.is_integer() and int(value) in _INT32 and not negative_zero:
            s.write_int32(int(value))  # one number type in JS: V8 keeps small integral ones as Int32
        else:
            s.write_double(value)
    elif isinstance(value, str):
        if value.isascii() or all(ord(c) < 256 for c in value):
            s.write_string_onebyte(value)
        else:
            s.write_string_twobyte(value)
    elif isinstance(value, dict | list | set | frozenset) and value in s.objects:
        s.write_object_reference(obj=value)  # the same container again: V8 writes a back-reference
    elif isinstance(value, dict):
        s.write_js_object(_object_items(value), ctx, identity=value)
    elif isinstance(value, list):
        s.write_js_array_dense(value, ctx, identity=value)
    elif isinstance(value, set | frozenset):
        s.write_jsset(value, ctx, identity=value)
    elif isinstance(value, datetime):
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value
        s.write_js_date(utc, identity=object())
    elif isinstance(value, bytes):
        buffer = JSArrayBuffer(value)
        s.write_js_array_buffer(buffer, identity=object())  # V8 writes the buffer, then the view on it
        s.write_js_array_buffer_view(JSUint8Array(buffer), identity=object())
    else:
        raise TypeError(
            f"{type(value)!r} cannot be stored in Durable Object storage: use None, bool, int, float, "
            "str, dict, list, set, datetime or bytes."
        )


def _object_items(value: dict[Any, Any]) -> list[tuple[object, object]]:
    """A dict's items in V8's property order: integer-like keys ascending (written as numbers), then
    the other keys in insertion order."""
    indexed: list[tuple[object, object]] = []
    named: list[tuple[object, object]] = []
    for key, item in value.items():
        if not isinstance(key, str):
            raise TypeError(f"dict key {key!r} ({type(key).__name__}) cannot be stored: keys must be str.")
        n = _index(key)
        if n is None:
            named.append((key, item))
        else:
            indexed.append((n, item))
    indexed.sort(key=lambda pair: pair[0])  # type: ignore[arg-type,return-value]
    return indexed + named


_ENCODER = Encoder(encode_steps=[_write])


def serialize(value: Any) -> bytes:
    """`value` in V8's serialization format with workerd's header (`FF 0F`). TypeError for a value
    Durable Object storage cannot hold (see the module's table)."""
    return bytes(_ENCODER.encode(value))


def deserialize(data: bytes) -> Any:
    """A stored value (workerd's or pyflows') as Python, converted as the SDK converts JS values.
    ValueError if the bytes are not a V8-serialized value."""
    if data[:1] != b"\xff":  # stored before workerd wrote headers: version 13
        data = b"\xff\x0d" + data
    try:
        decoded = loads(data)
    except DecodeV8SerializeError as exc:
        raise ValueError(f"not a V8-serialized value: {exc}") from None
    return _to_python(decoded, {})


def _to_python(value: Any, seen: dict[int, Any]) -> Any:
    if value is None or value is JSUndefined:
        return None
    if isinstance(value, bool | str):
        return value
    if isinstance(value, JSBigInt):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value  # Pyodide: integral numbers are ints
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value
    if isinstance(value, JSArrayBuffer):
        return bytes(value.data)
    if isinstance(value, JSArrayBufferView):
        with value.get_buffer_as_memoryview() as view:
            return bytes(view.cast("B"))
    key = id(value)
    if key in seen:  # a back-reference: the same Python object, as JS shares it
        return seen[key]
    if isinstance(value, JSArray):
        out_list: list[Any] = []
        seen[key] = out_list
        hole = value.array.hole_value
        out_list.extend(None if item is hole else _to_python(item, seen) for item in value.array)
        return out_list
    if isinstance(value, JSObject):
        out_obj = JsDict()
        seen[key] = out_obj
        for k, item in value.items():
            out_obj[str(k)] = _to_python(item, seen)
        return out_obj
    if isinstance(value, JSMap):
        out_map: dict[Any, Any] = {}
        seen[key] = out_map
        for k, item in value.items():
            out_map[_to_python(k, seen)] = _to_python(item, seen)
        return out_map
    if isinstance(value, JSSet):
        out_set: set[Any] = set()
        seen[key] = out_set
        out_set.update(_to_python(item, seen) for item in value)
        return out_set
    raise TypeError(f"a stored {type(value).__name__} has no Python equivalent here: {value!r}")

"""Values crossing the step boundary, converted as Cloudflare's Python SDK converts them.

`python_to_rpc` is what a step result, a `run` output or an event payload goes through on its way
into storage: JSON-like values only (None, bool, int, float, str, list, dict with str keys,
datetime; bytes as an extension), anything else is `TypeError("<class 'tuple'> cannot be sent over
RPC.")`. `python_from_rpc` is the way back: dicts become `JsDict` (attribute access), integral
floats become int, datetimes come back as naive-UTC datetimes.

Storage format: JSON text in which a datetime is `{"__datetime__": "<iso>"}` and bytes are
`{"__bytes__": "<base64>"}`.
"""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime
from typing import Any

MAX_VALUE_BYTES = 1024 * 1024  # 1 MiB, Cloudflare's limit for params, step results and events
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode  # one, not one per call
_DT = "__datetime__"
_BYTES = "__bytes__"


class ValueTooLargeError(ValueError):
    """A params/result/payload over the 1 MiB limit (not retried: it would fail again)."""


class JsDict(dict[str, Any]):
    """A dict that also allows attribute access, like the SDK's JsDict (`event.payload`)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def to_py(self) -> JsDict:
        """Older user code calls `.to_py()` on binding results; already Python here."""
        return self


class JsList(list[Any]):
    """A list a binding returns where Pyodide code calls `.to_py()` on a JS array (django-cf's D1
    backend does: `run_sync(stmt.raw()).to_py()`, `result.results.to_py()`); already Python here."""

    def to_py(self) -> list[Any]:
        return list(self)


def _rpc_error(value: object) -> TypeError:
    return TypeError(f"{type(value)!r} cannot be sent over RPC.")


def python_to_rpc(value: Any) -> Any:
    """Validate and convert a Python value to its JSON tree (tags for datetime/bytes)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"dict key {k!r} ({type(k).__name__}) cannot be sent over RPC: keys must be str.")
            out[k] = python_to_rpc(v)
        return out
    if isinstance(value, list):
        return [python_to_rpc(v) for v in value]
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return {_DT: value.isoformat(timespec="milliseconds")}
    if isinstance(value, bytes):
        return {_BYTES: base64.b64encode(value).decode("ascii")}
    raise _rpc_error(value)  # tuples, sets, awaitables, arbitrary objects


def python_from_rpc(tree: Any) -> Any:
    """JSON tree → Python: JsDict for objects, int for integral floats, datetime/bytes from tags."""
    if isinstance(tree, dict):
        if len(tree) == 1:
            if _DT in tree:
                return datetime.fromisoformat(tree[_DT])
            if _BYTES in tree:
                return base64.b64decode(tree[_BYTES])
        return JsDict({k: python_from_rpc(v) for k, v in tree.items()})
    if isinstance(tree, list):
        return [python_from_rpc(v) for v in tree]
    if isinstance(tree, float) and tree.is_integer():
        return int(tree)
    return tree


def dumps(tree: Any) -> str:
    """Serialize an RPC tree compactly (the size that counts against the 1 MiB limit)."""
    return _encode(tree)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def encode(value: Any, *, what: str, limit: int = MAX_VALUE_BYTES) -> str:
    """python_to_rpc + dumps + the size limit. Raises TypeError / ValueError with the size."""
    text = dumps(python_to_rpc(value))
    # len(text) is a lower bound of the UTF-8 size; encode only when it could matter.
    size = len(text) if len(text) * 4 <= limit else len(text.encode("utf-8"))
    if size > limit:
        raise ValueTooLargeError(
            f"{what} is {size:,} bytes serialized, over the limit of {limit:,} bytes (1 MiB). "
            "Store large data elsewhere and pass a reference."
        )
    return text


def to_api(tree: Any) -> Any:
    """An RPC tree as the management API shows it: datetimes as ISO strings, bytes as base64."""
    if isinstance(tree, dict):
        if len(tree) == 1:
            if _DT in tree:
                return tree[_DT] + "Z"
            if _BYTES in tree:
                return tree[_BYTES]
        return {k: to_api(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [to_api(v) for v in tree]
    return tree


def utc_naive(ms: int) -> datetime:
    """Epoch ms → naive UTC datetime (what the SDK gives for JS Dates)."""
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)

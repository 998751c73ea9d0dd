"""A Workers KV namespace, stored where `wrangler dev` keeps it (see `wrangler_state`).

    ns = KVNamespace(root_v3, namespace_id)          # self.env.<binding>
    await ns.put(key, value, {"expirationTtl": 60, "metadata": {...}})     # value: str | bytes
    await ns.get(key) / get(key, "json") / get(key, type="arrayBuffer") / get([k1, k2])
    stream = await ns.get(key, "stream")     # a ReadableStream (runtime/surface/streams.py)
    await ns.getWithMetadata(key, "text")  -> {value, metadata, cacheStatus}
    await ns.list({"prefix", "limit", "cursor"}) -> {keys: [{name, expiration?, metadata?}], list_complete, cursor?}
    await ns.delete(key)

Behaviour copied from Cloudflare's KV runtime API docs and miniflare 4.164 (what `wrangler dev`
runs): keys ≤ 512 UTF-8 bytes and not "", "." or ".."; values ≤ 25 MiB; metadata ≤ 1024 bytes of
JSON; `expirationTtl` ≥ 60 s and `expiration` ≥ 60 s in the future (epoch seconds); an expired key
reads as missing; list pages of at most 1000 keys in key order with an opaque cursor (base64 of the
last key). Errors are `KVError("KV PUT failed: 413 Value length of N exceeds limit of 26214400.")`.
Keyword options (`get(key, type="json")`) are accepted as Pyodide passes them: as the options object.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

from pyflows.runtime.bindings.wrangler_state import KV_CLASS, ObjectStore, js_string, js_string_size, utf8
from pyflows.runtime.surface.streams import ReadableStream
from pyflows.runtime.surface.values import JsDict, python_from_rpc

__all__ = ["KVError", "KVNamespace", "KVStore"]

MAX_KEY_BYTES = 512
MAX_VALUE_BYTES = 25 * 1024 * 1024
MAX_METADATA_BYTES = 1024
MIN_TTL_SECONDS = 60
MAX_LIST_KEYS = 1000
MAX_BULK_GET_KEYS = 100
MAX_EXPIRATION_S = (2**63 - 1) // 1000 - 1
_TYPES = ("text", "json", "arrayBuffer", "stream")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS _mf_entries (
  key TEXT PRIMARY KEY,
  blob_id TEXT NOT NULL,
  expiration INTEGER,
  metadata TEXT
);
CREATE INDEX IF NOT EXISTS _mf_entries_expiration_idx ON _mf_entries(expiration);
"""


class KVError(Exception):
    """A KV call Cloudflare rejects; the message is Cloudflare's ("KV PUT failed: <status> <reason>")."""


def _fail(op: str, status: int, reason: str) -> KVError:
    return KVError(f"KV {op} failed: {status} {reason}")


def _options(options: Any, kwargs: dict[str, Any], first: str | None = None) -> dict[str, Any]:
    """Merge a positional options object (or a bare string for `first`) with Pyodide-style kwargs."""
    merged: dict[str, Any] = {}
    if isinstance(options, str) and first is not None:
        merged[first] = options
    elif isinstance(options, dict):
        merged.update(options)
    elif options is not None:
        raise TypeError(f"options must be a dict, got {type(options).__name__}")
    merged.update(kwargs)
    return merged


def _check_key(op: str, key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"KV {op.lower()}() key must be a string, got {type(key).__name__}")
    if key == "":
        raise _fail(op, 400, "Key names must not be empty")
    if key in (".", ".."):
        raise _fail(op, 400, f'Illegal key name "{key}". Please use a different name.')
    name, length = js_string_size(key)
    if length > MAX_KEY_BYTES:
        raise _fail(op, 414, f"UTF-8 encoded length of {length} exceeds key length limit of {MAX_KEY_BYTES}.")
    return name


def _value_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return utf8(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, ReadableStream):
        return value.read_all()
    raise TypeError(
        "KV put() accepts only strings, ArrayBuffers, ArrayBufferViews, and ReadableStreams as values "
        f"(got {type(value).__name__}); pass json.dumps(value) to store JSON."
    )


class KVStore(ObjectStore):
    """The synchronous store behind one namespace (shared by the binding, the CLI and the Explorer API)."""

    plugin, object_class, schema = "kv", KV_CLASS, _SCHEMA

    def __init__(self, root_v3: Path, namespace_id: str) -> None:
        self.namespace_id = namespace_id
        super().__init__(root_v3, namespace_id)

    def _live_row(self, key: str) -> tuple[str, int | None, str | None] | None:
        row = self.conn.execute(
            "SELECT blob_id, expiration, metadata FROM _mf_entries WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        if row[1] is not None and row[1] <= time.time() * 1000:
            self._delete_rows("DELETE FROM _mf_entries WHERE key = ? RETURNING blob_id", (key,))
            return None
        return row  # type: ignore[no-any-return]

    def _delete_rows(self, sql: str, params: tuple[Any, ...]) -> int:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            blob_ids = [r[0] for r in self.conn.execute(sql, params).fetchall()]
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        for blob_id in blob_ids:
            self.blobs.delete(blob_id)
        return len(blob_ids)

    def get(self, key: str) -> tuple[bytes, Any, int | None] | None:
        """(value bytes, metadata or None, expiration epoch seconds or None), or None when missing/expired."""
        key = _check_key("GET", key)
        row = self._live_row(key)
        if row is None:
            return None
        data = self.blobs.get(row[0])
        if data is None:
            return None
        metadata = None if row[2] is None else json.loads(row[2])
        return data, metadata, None if row[1] is None else row[1] // 1000

    def put(
        self,
        key: str,
        value: Any,
        *,
        expiration: Any = None,
        expiration_ttl: Any = None,
        metadata: Any = None,
    ) -> None:
        """Store `value` (str or bytes) under `key`, replacing any earlier value; validates like Cloudflare."""
        key = _check_key("PUT", key)
        data = _value_bytes(value)
        now = int(time.time())
        expires_s: int | None = None
        if expiration_ttl is not None:
            ttl = _as_int(expiration_ttl)
            if ttl is None or ttl <= 0:
                raise _fail(
                    "PUT", 400, f"Invalid expiration_ttl of {expiration_ttl}. Please specify integer greater than 0."
                )
            if ttl < MIN_TTL_SECONDS:
                raise _fail(
                    "PUT",
                    400,
                    f"Invalid expiration_ttl of {expiration_ttl}. Expiration TTL must be at least {MIN_TTL_SECONDS}.",
                )
            expires_s = now + ttl
        elif expiration is not None:
            exp = _as_int(expiration)
            if exp is None or exp <= now:
                raise _fail(
                    "PUT",
                    400,
                    f"Invalid expiration of {expiration}. Please specify integer greater than the current number "
                    "of seconds since the UNIX epoch.",
                )
            if exp < now + MIN_TTL_SECONDS:
                raise _fail(
                    "PUT",
                    400,
                    f"Invalid expiration of {expiration}. Expiration times must be at least {MIN_TTL_SECONDS} seconds "
                    "in the future.",
                )
            expires_s = exp
        if expires_s is not None and expires_s > MAX_EXPIRATION_S:  # SQLite keeps epoch ms in 64 bits
            given = expiration_ttl if expiration_ttl is not None else expiration
            raise _fail("PUT", 400, f"Invalid expiration of {given}. Please specify a time before the year 2262.")
        metadata_text = None
        if metadata is not None:
            metadata_text = json.dumps(metadata, separators=(",", ":"), default=_json_default)
            if len(metadata_text.encode()) > MAX_METADATA_BYTES:
                raise _fail(
                    "PUT",
                    413,
                    f"Metadata length of {len(metadata_text.encode())} exceeds limit of {MAX_METADATA_BYTES}.",
                )
        if len(data) > MAX_VALUE_BYTES:
            raise _fail("PUT", 413, f"Value length of {len(data)} exceeds limit of {MAX_VALUE_BYTES}.")
        blob_id = self.blobs.put(data)
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            old = self.conn.execute("SELECT blob_id FROM _mf_entries WHERE key = ?", (key,)).fetchone()
            self.conn.execute(
                "INSERT OR REPLACE INTO _mf_entries (key, blob_id, expiration, metadata) VALUES (?, ?, ?, ?)",
                (key, blob_id, None if expires_s is None else expires_s * 1000, metadata_text),
            )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            self.blobs.delete(blob_id)
            raise
        if old is not None:
            self.blobs.delete(old[0])

    def delete(self, key: str) -> None:
        """Remove `key` (a missing key is fine, as on Cloudflare)."""
        key = _check_key("DELETE", key)
        self._delete_rows("DELETE FROM _mf_entries WHERE key = ? RETURNING blob_id", (key,))

    def list(self, prefix: str = "", limit: int = MAX_LIST_KEYS, cursor: str | None = None) -> dict[str, Any]:
        """One page: `{"keys": [{name, expiration?, metadata?}], "list_complete", "cursor"?}` in key order."""
        if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
            raise _fail("LIST", 400, f"Invalid key_count_limit of {limit}. Please specify an integer greater than 0.")
        if limit > MAX_LIST_KEYS:
            raise _fail(
                "LIST", 400, f"Invalid key_count_limit of {limit}. Please specify an integer less than {MAX_LIST_KEYS}."
            )
        start_after = "" if not cursor else _cursor_key(cursor)
        now_ms = int(time.time() * 1000)
        rows = self.conn.execute(
            "SELECT key, expiration, metadata FROM _mf_entries WHERE substr(key, 1, length(?1)) = ?1 AND key > ?2 "
            "AND (expiration IS NULL OR expiration >= ?3) ORDER BY key LIMIT ?4",
            (js_string(prefix), js_string(start_after), now_ms, limit + 1),
        ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        keys = []
        for name, exp, meta in rows:
            entry: dict[str, Any] = {"name": name}
            if exp is not None:
                entry["expiration"] = exp // 1000
            if meta is not None:
                entry["metadata"] = json.loads(meta)
            keys.append(entry)
        result: dict[str, Any] = {"keys": keys, "list_complete": not more}
        if more:
            result["cursor"] = base64.b64encode(rows[-1][0].encode()).decode()
        result["cacheStatus"] = None
        return result


def _cursor_key(cursor: Any) -> str:
    """The last key of the page a list() cursor came from; a cursor list() never gave is a 400."""
    try:
        return base64.b64decode(str(cursor).encode(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
        raise _fail(
            "LIST", 400, f"Invalid cursor {cursor!r}. Pass the cursor of the previous list() result unchanged."
        ) from None


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value)!r} cannot be sent over RPC.")


def _decode(data: bytes, kind: str) -> Any:
    if kind == "text":
        return data.decode("utf-8", errors="replace")
    if kind == "json":
        return python_from_rpc(json.loads(data))
    if kind == "stream":
        return ReadableStream(data)
    return data  # arrayBuffer


class KVListResult(JsDict):
    """`list()`'s result: like the SDK's JsProxy, `.keys` is the list of keys (not dict.keys)."""

    @property
    def keys(self) -> Any:
        return self["keys"]


class KVNamespace:
    """`self.env.<binding>` for a `kv_namespaces[]` entry: Cloudflare's KV methods, async."""

    def __init__(self, root_v3: Path, namespace_id: str, binding: str = "") -> None:
        self._store: KVStore | None = None
        self._root = root_v3
        self.namespace_id = namespace_id
        self.binding = binding

    @property
    def store(self) -> KVStore:
        if self._store is None:
            self._store = KVStore(self._root, self.namespace_id)
        return self._store

    def __repr__(self) -> str:
        return f"KVNamespace({self.binding or self.namespace_id!r})"

    async def get(self, key: Any, options: Any = None, **kwargs: Any) -> Any:
        """The value (str by default; `type` "json" → parsed, "arrayBuffer" → bytes, "stream" → a
        ReadableStream), or None.

        A list of keys (≤ 100, types text/json) returns a dict of key → value (None when missing).
        """
        opts = _options(options, kwargs, first="type")
        kind = opts.get("type", "text")
        if kind not in _TYPES:
            raise TypeError(
                f'Unknown response type "{kind}". Possible types are "text", "arrayBuffer", "json", and "stream".'
            )
        if isinstance(key, list | tuple):
            if len(key) > MAX_BULK_GET_KEYS:
                raise _fail("GET", 400, f"You can request a maximum of {MAX_BULK_GET_KEYS} keys")
            if kind not in ("text", "json"):
                raise _fail("GET", 400, f"{kind} is not a valid type. Use 'json' or 'text'")
            out = JsDict()
            for k in key:
                found = self.store.get(k)
                out[k] = None if found is None else _decode(found[0], kind)
            return out
        found = self.store.get(key)
        return None if found is None else _decode(found[0], kind)

    async def getWithMetadata(self, key: Any, options: Any = None, **kwargs: Any) -> JsDict:  # noqa: N802 - Cloudflare's name
        """`{"value", "metadata", "cacheStatus": None}`; value and metadata None when the key is missing."""
        opts = _options(options, kwargs, first="type")
        kind = opts.get("type", "text")
        if isinstance(key, list | tuple):
            out = JsDict()
            for k in key:
                found = self.store.get(k)
                out[k] = (
                    None if found is None else JsDict(value=_decode(found[0], kind), metadata=python_from_rpc(found[1]))
                )
            return out
        found = self.store.get(key)
        if found is None:
            return JsDict(value=None, metadata=None, cacheStatus=None)
        return JsDict(value=_decode(found[0], kind), metadata=python_from_rpc(found[1]), cacheStatus=None)

    get_with_metadata = getWithMetadata

    async def put(self, key: Any, value: Any, options: Any = None, **kwargs: Any) -> None:
        """Store a str or bytes value; options `expiration` (epoch s), `expirationTtl` (s ≥ 60), `metadata`."""
        opts = _options(options, kwargs)
        self.store.put(
            key,
            value,
            expiration=opts.get("expiration"),
            expiration_ttl=opts.get("expirationTtl", opts.get("expiration_ttl")),
            metadata=opts.get("metadata"),
        )

    async def delete(self, key: Any) -> None:
        """Remove a key; a missing key is not an error."""
        self.store.delete(key)

    async def list(self, options: Any = None, **kwargs: Any) -> KVListResult:
        """`{"keys": [{name, expiration?, metadata?}], "list_complete", "cursor"?, "cacheStatus"}`."""
        opts = _options(options, kwargs)
        page = self.store.list(
            prefix=opts.get("prefix") or "", limit=opts.get("limit", MAX_LIST_KEYS), cursor=opts.get("cursor")
        )
        return KVListResult(python_from_rpc(page))

"""An R2 bucket, stored where `wrangler dev` keeps it (see `wrangler_state`).

    bucket = R2Bucket(root_v3, bucket_name)            # self.env.<binding>
    obj = await bucket.put(key, value, {"httpMetadata": {"contentType": ...}, "customMetadata": {...}})
    body = await bucket.get(key, {"range": {"offset", "length"} | {"suffix"}, "onlyIf": {...}})
    await body.text() / body.json() / body.arrayBuffer() / body.bytes() (once), or body.body (a ReadableStream,
        runtime/surface/streams.py); body.key, size, etag, httpEtag,
        uploaded (datetime), httpMetadata, customMetadata, checksums; body.writeHttpMetadata(headers)
    await bucket.head(key); await bucket.delete(key | [keys])
    await bucket.list({"prefix", "delimiter", "cursor", "limit", "include"})
        -> {objects, truncated, cursor?, delimitedPrefixes}
    upload = await bucket.createMultipartUpload(key, options); bucket.resumeMultipartUpload(key, upload_id)
    part = await upload.uploadPart(1, data) -> {partNumber, etag}; await upload.complete([parts]); upload.abort()

Shapes from Cloudflare's R2 Workers API docs and miniflare 4.164: etag = MD5 hex (multipart: MD5 of
the parts' MD5s + "-N"), httpEtag = the etag in quotes, version = 16 random bytes hex, keys ≤ 1024
bytes, list pages ≤ 1000. A completed multipart upload is stored as one blob, so Wrangler reads it
as an ordinary object. Errors: `R2Error("get: The specified key does not exist. (10007)")`-style text.
"""

from __future__ import annotations

import base64
import builtins
import functools
import hashlib
import json
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyflows.runtime.bindings.wrangler_state import R2_CLASS, ObjectStore, js_string, js_string_size, utf8
from pyflows.runtime.surface.streams import ReadableStream
from pyflows.runtime.surface.values import JsDict

__all__ = ["R2Bucket", "R2Error", "R2MultipartUpload", "R2Object", "R2ObjectBody", "R2Store"]

MAX_KEY_BYTES = 1024
MAX_LIST = 1000
MAX_METADATA_BYTES = 2048
_BODY_USED = "Body has already been used. It can only be used once. Use tee() first if you need to read it twice."
_HTTP_FIELDS = (
    "contentType",
    "contentLanguage",
    "contentDisposition",
    "contentEncoding",
    "cacheControl",
    "cacheExpiry",
)
_HEADER_OF = {
    "contentType": "content-type",
    "contentLanguage": "content-language",
    "contentDisposition": "content-disposition",
    "contentEncoding": "content-encoding",
    "cacheControl": "cache-control",
    "cacheExpiry": "expires",
}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS _mf_objects (
    key TEXT PRIMARY KEY,
    blob_id TEXT,
    version TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    uploaded INTEGER NOT NULL,
    checksums TEXT NOT NULL,
    http_metadata TEXT NOT NULL,
    custom_metadata TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS _mf_multipart_uploads (
    upload_id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    http_metadata TEXT NOT NULL,
    custom_metadata TEXT NOT NULL,
    state TINYINT DEFAULT 0 NOT NULL
);
CREATE TABLE IF NOT EXISTS _mf_multipart_parts (
    upload_id TEXT NOT NULL REFERENCES _mf_multipart_uploads(upload_id),
    part_number INTEGER NOT NULL,
    blob_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    checksum_md5 TEXT NOT NULL,
    object_key TEXT REFERENCES _mf_objects(key) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (upload_id, part_number)
);
"""
_COLUMNS = "key, blob_id, version, size, etag, uploaded, checksums, http_metadata, custom_metadata"


class R2Error(Exception):
    """An R2 call Cloudflare rejects: "<op>: <message> (<code>)"."""


def _err(op: str, message: str, code: int) -> R2Error:
    return R2Error(f"{op}: {message} ({code})")


def _check_key(op: str, key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"R2 {op}() key must be a string, got {type(key).__name__}")
    name, size = js_string_size(key)
    if size > MAX_KEY_BYTES:
        raise _err(op, "The specified object name is not valid.", 10020)
    return name


def _cursor_key(cursor: Any) -> str:
    """Where the page a list() cursor came from ended; a cursor list() never gave is an error."""
    try:
        return base64.b64decode(str(cursor).encode(), altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
        message = f"Invalid cursor {cursor!r}; pass the cursor of the previous list() unchanged."
        raise _err("list", message, 10022) from None


def _body_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, str):
        return utf8(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, ReadableStream):
        return value.read_all()
    raise TypeError(
        f"put() value must be a string, bytes, ArrayBuffer, ReadableStream, Blob or null, got {type(value).__name__}"
    )


def _compact_json(value: dict[str, Any] | None) -> str:
    return json.dumps(value, separators=(",", ":")) if value else "{}"  # most objects have no metadata


def _http_metadata(value: Any) -> dict[str, Any]:
    """httpMetadata from a dict (Cloudflare's field names) or a Headers-like object."""
    if value is None:
        return {}
    out: dict[str, Any] = {}
    if isinstance(value, dict) and not hasattr(value, "get_all"):
        for name in _HTTP_FIELDS:
            if value.get(name) is not None:
                v = value[name]
                out[name] = v.astimezone(UTC).isoformat() if isinstance(v, datetime) else str(v)
        return out
    getter = value.get
    for name, header in _HEADER_OF.items():
        v = getter(header)
        if v is not None:
            out[name] = v
    return out


def _opts(options: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    merged = dict(options) if isinstance(options, dict) else {}
    merged.update(kwargs)
    return merged


class R2Object:
    """Metadata of a stored object (what `head`, `put` and `list` return).

    The row's JSON columns and time are turned into `checksums`, `httpMetadata`, `customMetadata` and
    `uploaded` when first read: most callers of `put` and `get` never look at them (parsing them up
    front was a fifth of an R2 put + get's CPU time).
    """

    def __init__(self, row: Sequence[Any], include_metadata: bool = True) -> None:
        key, _blob, version, size, etag, uploaded, checksums, http_md, custom_md = row
        self.key: str = key
        self.version: str = version
        self.size: int = size
        self.etag: str = etag
        self.httpEtag = f'"{etag}"'
        self._uploaded_ms: int = uploaded
        self._json = (checksums, http_md, custom_md) if include_metadata else (checksums, "{}", "{}")
        self.storageClass = "Standard"
        self.range: JsDict | None = None

    @functools.cached_property
    def uploaded(self) -> datetime:
        return datetime.fromtimestamp(self._uploaded_ms / 1000, UTC).replace(tzinfo=None)

    @functools.cached_property
    def checksums(self) -> JsDict:
        sums = json.loads(self._json[0])
        if len(self.etag) == 32:
            sums.setdefault("md5", self.etag)
        return JsDict(sums)

    @functools.cached_property
    def httpMetadata(self) -> JsDict:  # noqa: N802 - Cloudflare's name
        return JsDict(json.loads(self._json[1]))

    @functools.cached_property
    def customMetadata(self) -> JsDict:  # noqa: N802 - Cloudflare's name
        return JsDict(json.loads(self._json[2]))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key={self.key!r}, size={self.size}, etag={self.etag!r})"

    def writeHttpMetadata(self, headers: Any) -> None:  # noqa: N802 - Cloudflare's name
        """Set Content-Type, Content-Language, Content-Disposition, Content-Encoding, Cache-Control and
        Expires on `headers` (a `workers.Headers` or a dict) from httpMetadata."""
        for name, header in _HEADER_OF.items():
            value = self.httpMetadata.get(name)
            if value is not None:
                if hasattr(headers, "set"):
                    headers.set(header, str(value))
                else:
                    headers[header] = str(value)

    write_http_metadata = writeHttpMetadata

    def to_py(self) -> R2Object:
        return self


class R2ObjectBody(R2Object):
    """An object with its body (what `get` returns): `body` (a ReadableStream), `text()`, `json()`,
    `arrayBuffer()`, `bytes()`, `blob()`, `bodyUsed`. As on Cloudflare the body is read once: a second
    read is `TypeError` with workerd's message."""

    def __init__(self, row: Sequence[Any], data: bytes, range_: dict[str, int] | None = None) -> None:
        super().__init__(row)
        self._data = data
        self._stream: ReadableStream | None = None
        self.bodyUsed = False
        if range_ is not None:
            self.range = JsDict(range_)

    def _mark_used(self) -> None:
        self.bodyUsed = True

    @property
    def body(self) -> ReadableStream:
        """The body as a ReadableStream (`getReader()`, `async for`, `Response(obj.body)`)."""
        if self._stream is None:
            self._stream = ReadableStream(self._data, on_read=self._mark_used)
        return self._stream

    def _take(self) -> builtins.bytes:
        if self.bodyUsed:
            raise TypeError(_BODY_USED)
        self.bodyUsed = True
        return self._data

    async def arrayBuffer(self) -> builtins.bytes:  # noqa: N802 - Cloudflare's name
        return self._take()

    async def bytes(self) -> builtins.bytes:
        return self._take()

    async def text(self) -> str:
        return self._take().decode("utf-8", errors="replace")

    async def json(self) -> Any:
        from pyflows.runtime.surface.values import python_from_rpc

        return python_from_rpc(json.loads(self._take()))

    async def blob(self) -> builtins.bytes:  # `bytes` here names the method above
        return self._take()


class R2Store(ObjectStore):
    """The synchronous store behind one bucket (shared by the binding, the CLI and the Explorer API)."""

    plugin, object_class, schema = "r2", R2_CLASS, _SCHEMA

    def __init__(self, root_v3: Path, bucket_name: str) -> None:
        self.bucket_name = bucket_name
        super().__init__(root_v3, bucket_name)

    def row(self, key: str) -> tuple[Any, ...] | None:
        return self.conn.execute(f"SELECT {_COLUMNS} FROM _mf_objects WHERE key = ?", (key,)).fetchone()  # type: ignore[no-any-return]

    def _write(self, row: tuple[Any, ...]) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            old = self.conn.execute("SELECT blob_id FROM _mf_objects WHERE key = ?", (row[0],)).fetchone()
            self.conn.execute(f"INSERT OR REPLACE INTO _mf_objects ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)", row)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            self.blobs.delete(row[1])
            raise
        if old is not None:
            self.blobs.delete(old[0])

    def put(
        self,
        key: str,
        data: bytes,
        http_metadata: dict[str, Any] | None = None,
        custom_metadata: dict[str, str] | None = None,
        *,
        md5: Any = None,
        sha256: Any = None,
    ) -> tuple[Any, ...]:
        """Store `data` under `key` (replacing it) and return the new row."""
        key = _check_key("put", key)
        custom = {str(k): str(v) for k, v in (custom_metadata or {}).items()}
        if sum(len(k) + len(v) for k, v in custom.items()) > MAX_METADATA_BYTES:
            raise _err("put", "Your metadata headers exceed the maximum allowed metadata size.", 10012)
        checksums: dict[str, str] = {}
        digest = hashlib.md5(data).hexdigest()
        for name, given, actual in (("MD5", md5, digest), ("SHA-256", sha256, None)):
            if given is None:
                continue
            expected = given.hex() if isinstance(given, bytes) else str(given).lower()
            computed = actual or hashlib.sha256(data).hexdigest()
            if expected != computed:
                raise _err(
                    "put",
                    f"The {name} checksum you specified did not match what we received. "
                    f"You provided a {name} checksum with value: {expected} Actual {name} was: {computed}",
                    10037,
                )
            checksums["md5" if name == "MD5" else "sha256"] = computed
        blob_id = self.blobs.put(data)
        row = (
            key,
            blob_id,
            secrets.token_hex(16),
            len(data),
            digest,
            int(time.time() * 1000),
            _compact_json(checksums),
            _compact_json(http_metadata),
            _compact_json(custom),
        )
        self._write(row)
        return row

    def get(self, key: str) -> tuple[tuple[Any, ...], bytes] | None:
        key = _check_key("get", key)
        row = self.row(key)
        if row is None:
            return None
        data = self.blobs.get(row[1]) if row[1] else b""
        return None if data is None else (row, data)

    def delete(self, keys: Sequence[str]) -> int:
        keys = [_check_key("delete", key) for key in keys]
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            blob_ids = []
            for key in keys:
                blob_ids += [
                    r[0] for r in self.conn.execute("DELETE FROM _mf_objects WHERE key = ? RETURNING blob_id", (key,))
                ]
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        for blob_id in blob_ids:
            self.blobs.delete(blob_id)
        return len(blob_ids)

    def list(
        self, prefix: str = "", delimiter: str | None = None, cursor: str | None = None, limit: int = MAX_LIST
    ) -> tuple[list[tuple[Any, ...]], list[str], str | None]:
        """(rows, delimited prefixes, next cursor or None) — a page of at most `limit` entries in key order."""
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIST:
            raise _err("list", "MaxKeys params must be positive integer <= 1000.", 10022)
        start_after = js_string(_cursor_key(cursor)) if cursor else ""
        prefix = js_string(prefix)
        rows_out: list[tuple[Any, ...]] = []
        prefixes: list[str] = []
        last = start_after
        more = False
        query = (
            f"SELECT {_COLUMNS} FROM _mf_objects "
            "WHERE substr(key, 1, length(?1)) = ?1 AND key > ?2 ORDER BY key LIMIT 256"
        )
        while True:
            batch = self.conn.execute(query, (prefix, last)).fetchall()
            if not batch:
                break
            for row in batch:
                key = row[0]
                last = key
                if delimiter:
                    rest = key[len(prefix) :]
                    cut = rest.find(delimiter)
                    if cut >= 0:
                        group = prefix + rest[: cut + len(delimiter)]
                        if prefixes and prefixes[-1] == group:
                            continue
                        if len(rows_out) + len(prefixes) >= limit:
                            more = True
                            break
                        prefixes.append(group)
                        # skip the rest of this group
                        last = group + "\U0010ffff"
                        break
                if len(rows_out) + len(prefixes) >= limit:
                    more = True
                    break
                rows_out.append(row)
            else:
                continue
            if more:
                break
        next_cursor = None
        if more:
            last_key = rows_out[-1][0] if rows_out and (not prefixes or rows_out[-1][0] > prefixes[-1]) else None
            after = last_key if last_key is not None else prefixes[-1] + "\U0010ffff"
            next_cursor = base64.urlsafe_b64encode(after.encode()).decode()
        return rows_out, prefixes, next_cursor


def _apply_range(data: bytes, rng: Any, size: int) -> tuple[bytes, dict[str, int] | None]:
    if not rng:
        return data, None
    if hasattr(rng, "get") and not isinstance(rng, dict):  # a Headers object: use its Range header
        header = rng.get("range")
        if not header:
            return data, None
        spec = str(header).split("=", 1)[-1]
        start_s, _, end_s = spec.partition("-")
        rng = (
            {"suffix": int(end_s)}
            if not start_s
            else {"offset": int(start_s), **({"length": int(end_s) - int(start_s) + 1} if end_s else {})}
        )
    if "suffix" in rng:
        length = min(int(rng["suffix"]), size)
        offset = size - length
    else:
        offset = int(rng.get("offset", 0))
        length = int(rng.get("length", size - offset))
    if offset < 0 or length < 0 or offset > size:
        raise _err("get", "The requested range is not satisfiable", 10039)
    length = min(length, size - offset)
    return data[offset : offset + length], {"offset": offset, "length": length}


def _precondition_ok(row: Sequence[Any], only_if: Any) -> bool:
    if not only_if:
        return True
    etag, uploaded_ms = row[4], row[5]

    def etags(value: Any) -> list[str]:
        if isinstance(value, str):
            return [v.strip().strip('"') for v in value.split(",")]
        return [str(v).strip('"') for v in value]

    def ms(value: Any) -> float:
        if isinstance(value, datetime):
            value = value if value.tzinfo else value.replace(tzinfo=UTC)
            return float(value.timestamp() * 1000)
        return float(value)

    if only_if.get("etagMatches") is not None and not ({etag, "*"} & set(etags(only_if["etagMatches"]))):
        return False
    if only_if.get("etagDoesNotMatch") is not None and ({etag, "*"} & set(etags(only_if["etagDoesNotMatch"]))):
        return False
    # R2 compares at second granularity.
    if only_if.get("uploadedBefore") is not None and not uploaded_ms // 1000 < ms(only_if["uploadedBefore"]) // 1000:
        return False
    if only_if.get("uploadedAfter") is not None and not uploaded_ms // 1000 > ms(only_if["uploadedAfter"]) // 1000:
        return False
    return True


class R2Bucket:
    """`self.env.<binding>` for an `r2_buckets[]` entry."""

    def __init__(self, root_v3: Path, bucket_name: str, binding: str = "") -> None:
        self._root = root_v3
        self.bucket_name = bucket_name
        self.binding = binding
        self._store: R2Store | None = None

    @property
    def store(self) -> R2Store:
        if self._store is None:
            self._store = R2Store(self._root, self.bucket_name)
        return self._store

    def __repr__(self) -> str:
        return f"R2Bucket({self.binding or self.bucket_name!r})"

    async def head(self, key: Any) -> R2Object | None:
        """The object's metadata, or None."""
        key = _check_key("head", key)
        row = self.store.row(key)
        return None if row is None else R2Object(row)

    async def get(self, key: Any, options: Any = None, **kwargs: Any) -> R2ObjectBody | R2Object | None:
        """The object with its body, None when missing, or (an `onlyIf` that fails) the object without body."""
        opts = _opts(options, kwargs)
        found = self.store.get(key)
        if found is None:
            return None
        row, data = found
        if not _precondition_ok(row, opts.get("onlyIf")):
            return R2Object(row)
        part, rng = _apply_range(data, opts.get("range"), len(data))
        return R2ObjectBody(row, part, rng)

    async def put(self, key: Any, value: Any, options: Any = None, **kwargs: Any) -> R2Object | None:
        """Store `value` (str, bytes or None); options httpMetadata (dict or Headers), customMetadata,
        md5/sha256 (checked), onlyIf (None is returned when it fails)."""
        opts = _opts(options, kwargs)
        key = _check_key("put", key)
        if opts.get("onlyIf"):
            row = self.store.row(key)
            if row is not None and not _precondition_ok(row, opts["onlyIf"]):
                return None
        row = self.store.put(
            key,
            _body_bytes(value),
            _http_metadata(opts.get("httpMetadata")),
            opts.get("customMetadata"),
            md5=opts.get("md5"),
            sha256=opts.get("sha256"),
        )
        return R2Object(row)

    async def delete(self, keys: Any) -> None:
        """Delete one key or a list of keys (≤ 1000); missing keys are fine."""
        self.store.delete([keys] if isinstance(keys, str) else list(keys))

    async def list(self, options: Any = None, **kwargs: Any) -> JsDict:
        """`{"objects", "truncated", "cursor"?, "delimitedPrefixes"}`; httpMetadata/customMetadata only
        with `include: ["httpMetadata", "customMetadata"]`, as on Cloudflare."""
        opts = _opts(options, kwargs)
        include = set(opts.get("include") or ())
        rows, prefixes, cursor = self.store.list(
            prefix=opts.get("prefix") or "",
            delimiter=opts.get("delimiter"),
            cursor=opts.get("cursor")
            or opts.get("startAfter")
            and base64.urlsafe_b64encode(utf8(opts["startAfter"])).decode(),
            limit=opts.get("limit", MAX_LIST),
        )
        objects = []
        for row in rows:
            obj = R2Object(row)
            if "httpMetadata" not in include:
                obj.httpMetadata = JsDict()
            if "customMetadata" not in include:
                obj.customMetadata = JsDict()
            objects.append(obj)
        result = JsDict(objects=objects, truncated=cursor is not None, delimitedPrefixes=prefixes)
        if cursor is not None:
            result["cursor"] = cursor
        return result

    async def createMultipartUpload(self, key: Any, options: Any = None, **kwargs: Any) -> R2MultipartUpload:  # noqa: N802
        """Start a multipart upload; options httpMetadata and customMetadata apply to the final object."""
        opts = _opts(options, kwargs)
        key = _check_key("createMultipartUpload", key)
        upload_id = base64.urlsafe_b64encode(secrets.token_bytes(128)).decode().rstrip("=")
        conn = self.store.conn
        conn.execute(
            "INSERT INTO _mf_multipart_uploads (upload_id, key, http_metadata, custom_metadata) VALUES (?, ?, ?, ?)",
            (
                upload_id,
                key,
                json.dumps(_http_metadata(opts.get("httpMetadata"))),
                json.dumps({str(k): str(v) for k, v in (opts.get("customMetadata") or {}).items()}),
            ),
        )
        return R2MultipartUpload(self, key, upload_id)

    def resumeMultipartUpload(self, key: str, uploadId: str) -> R2MultipartUpload:  # noqa: N802,N803
        """The upload `uploadId` of `key` (not checked until a part is uploaded, as on Cloudflare)."""
        return R2MultipartUpload(self, key, uploadId)

    create_multipart_upload = createMultipartUpload
    resume_multipart_upload = resumeMultipartUpload


class R2MultipartUpload:
    """An upload in progress: `uploadPart`, `complete`, `abort`."""

    def __init__(self, bucket: R2Bucket, key: str, upload_id: str) -> None:
        self._bucket = bucket
        self.key = key
        self.uploadId = upload_id

    def _state(self, op: str) -> tuple[Any, ...]:
        row = self._bucket.store.conn.execute(
            "SELECT key, http_metadata, custom_metadata, state FROM _mf_multipart_uploads WHERE upload_id = ?",
            (self.uploadId,),
        ).fetchone()
        if row is None or row[0] != self.key or row[3] != 0:
            raise _err(op, "The specified multipart upload does not exist.", 10024)
        return row  # type: ignore[no-any-return]

    async def uploadPart(self, partNumber: int, value: Any) -> JsDict:  # noqa: N802,N803
        """Store part `partNumber` (1–10000): `{"partNumber", "etag"}`."""
        self._state("uploadPart")
        if not 1 <= int(partNumber) <= 10000:
            raise _err("uploadPart", "Part number must be between 1 and 10000 (inclusive).", 10001)
        data = _body_bytes(value)
        store = self._bucket.store
        blob_id = store.blobs.put(data)
        md5 = hashlib.md5(data).hexdigest()
        etag = secrets.token_hex(16)
        old = store.conn.execute(
            "SELECT blob_id FROM _mf_multipart_parts WHERE upload_id = ? AND part_number = ?",
            (self.uploadId, partNumber),
        ).fetchone()
        store.conn.execute(
            "INSERT OR REPLACE INTO _mf_multipart_parts (upload_id, part_number, blob_id, size, etag, checksum_md5) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (self.uploadId, int(partNumber), blob_id, len(data), etag, md5),
        )
        if old is not None:
            store.blobs.delete(old[0])
        return JsDict(partNumber=int(partNumber), etag=etag)

    async def abort(self) -> None:
        """Drop the upload and its parts."""
        store = self._bucket.store
        self._state("abortMultipartUpload")
        parts = store.conn.execute(
            "SELECT blob_id FROM _mf_multipart_parts WHERE upload_id = ?", (self.uploadId,)
        ).fetchall()
        store.conn.execute("BEGIN IMMEDIATE")
        store.conn.execute("DELETE FROM _mf_multipart_parts WHERE upload_id = ?", (self.uploadId,))
        store.conn.execute("UPDATE _mf_multipart_uploads SET state = 2 WHERE upload_id = ?", (self.uploadId,))
        store.conn.execute("COMMIT")
        for (blob_id,) in parts:
            store.blobs.delete(blob_id)

    async def complete(self, uploadedParts: Sequence[Any]) -> R2Object:  # noqa: N803
        """Join the listed parts (by partNumber and etag) into the object; the etag is MD5-of-MD5s + "-N"."""
        _key, http_md, custom_md, _state = self._state("completeMultipartUpload")
        store = self._bucket.store
        stored = {
            r[0]: r[1:]
            for r in store.conn.execute(
                "SELECT part_number, blob_id, etag, checksum_md5 FROM _mf_multipart_parts WHERE upload_id = ?",
                (self.uploadId,),
            )
        }
        chunks: list[bytes] = []
        md5s: list[str] = []
        for part in sorted(uploadedParts, key=lambda p: int(p["partNumber"])):
            entry = stored.get(int(part["partNumber"]))
            if entry is None or entry[1] != part["etag"]:
                raise _err("completeMultipartUpload", "One or more of the specified parts could not be found.", 10025)
            data = store.blobs.get(entry[0])
            if data is None:
                raise _err("completeMultipartUpload", "One or more of the specified parts could not be found.", 10025)
            chunks.append(data)
            md5s.append(entry[2])
        etag = hashlib.md5(b"".join(bytes.fromhex(m) for m in md5s)).hexdigest() + f"-{len(md5s)}"
        data = b"".join(chunks)
        blob_id = store.blobs.put(data)
        row = (
            self.key,
            blob_id,
            secrets.token_hex(16),
            len(data),
            etag,
            int(time.time() * 1000),
            "{}",
            http_md,
            custom_md,
        )
        store._write(row)
        store.conn.execute("BEGIN IMMEDIATE")
        store.conn.execute("DELETE FROM _mf_multipart_parts WHERE upload_id = ?", (self.uploadId,))
        store.conn.execute("UPDATE _mf_multipart_uploads SET state = 1 WHERE upload_id = ?", (self.uploadId,))
        store.conn.execute("COMMIT")
        for blob_id_part, *_ in stored.values():
            store.blobs.delete(blob_id_part)
        return R2Object(row)

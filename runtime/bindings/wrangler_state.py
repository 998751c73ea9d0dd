"""Wrangler's local storage layout, so `pyflows dev`, `pyflows d1|kv|r2 ... --local` and Wrangler share data.

Seen on wrangler 4.164.0 (miniflare) and checked against files it wrote:

    <persist base>/v3/                                   base: <project>/.wrangler/state, or --persist-to DIR
      d1/miniflare-D1DatabaseObject/<do_id(database_id)>.sqlite      the database itself (WAL)
      kv/miniflare-KVNamespaceObject/<do_id(namespace_id)>.sqlite    _mf_entries(key, blob_id, expiration ms, metadata)
      kv/<namespace_id>/blobs/<blob_id>                              value bytes
      r2/miniflare-R2BucketObject/<do_id(bucket_name)>.sqlite        _mf_objects, _mf_multipart_uploads/_parts
      r2/<bucket_name>/blobs/<blob_id>                               object bytes

`do_id(name)` is workerd's `idFromName` for the Durable Object class whose unique key is
`miniflare-<Class>`: key = SHA-256(unique key), a = HMAC-SHA256(key, name)[:16],
b = HMAC-SHA256(key, a)[:16], file name = hex(a ‖ b). A blob id is 32 random bytes then the 8-byte
big-endian epoch-ms time, as 80 hex digits (miniflare `generateBlobId`).

Every write is one SQLite transaction (BEGIN IMMEDIATE, busy timeout) on a WAL database, so a dev server
and a CLI command writing at once wait for each other instead of corrupting or losing a write; blob
files are written before the row that names them, so a row never points at a missing file.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
import time
from pathlib import Path
from urllib.parse import quote

__all__ = [
    "BlobStore",
    "ObjectStore",
    "D1_CLASS",
    "KV_CLASS",
    "R2_CLASS",
    "connect",
    "do_id",
    "js_string",
    "new_blob_id",
    "object_db_path",
    "persist_root",
    "utf8",
]

D1_CLASS = "D1DatabaseObject"
KV_CLASS = "KVNamespaceObject"
R2_CLASS = "R2BucketObject"
BUSY_TIMEOUT_MS = 10_000
_CREATE = os.O_CREAT | os.O_WRONLY | os.O_EXCL


def persist_root(project_root: Path, persist_to: Path | str | None = None) -> Path:
    """`<persist_to or <project_root>/.wrangler/state>/v3`, as `wrangler dev --persist-to` computes it.

    A relative `persist_to` is taken relative to `project_root`.
    """
    base = Path(project_root) / ".wrangler" / "state" if persist_to is None else Path(project_root) / persist_to
    return base.resolve() / "v3"


def do_id(unique_key: str, name: str) -> str:
    """workerd's `idFromName(name)` for a Durable Object namespace with `unique_key`, as 64 hex digits."""
    key = hashlib.sha256(unique_key.encode()).digest()
    a = hmac.new(key, name.encode(), hashlib.sha256).digest()[:16]
    b = hmac.new(key, a, hashlib.sha256).digest()[:16]
    return (a + b).hex()


def object_db_path(root_v3: Path, plugin: str, cls: str, name: str) -> Path:
    """The SQLite file miniflare keeps for the object `name` of `miniflare-<cls>` under plugin `plugin`."""
    unique = f"miniflare-{cls}"
    return root_v3 / plugin / unique / f"{do_id(unique, name)}.sqlite"


def new_blob_id() -> str:
    """32 random bytes and the 8-byte big-endian epoch-ms time, as 80 hex digits (miniflare's blob ids)."""
    return os.urandom(32).hex() + int(time.time() * 1000).to_bytes(8, "big").hex()  # secrets.token_bytes is urandom


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating, user-only) a miniflare object database in WAL mode, autocommit, with a busy timeout."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    # A commit is in the WAL before it returns, so it survives kill -9 of the process (as the workflow
    # store); NORMAL skips the fsync per commit that only an OS crash would need.
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def js_string(text: str) -> str:
    """`text` as a JavaScript string reaches storage: a lone surrogate (which JSON's `\\ud800` escapes can
    carry in, and which UTF-8 and SQLite cannot hold) becomes U+FFFD, as TextEncoder writes it."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def js_string_size(text: str) -> tuple[str, int]:
    """(`js_string(text)`, its UTF-8 length in bytes), encoding `text` once in the usual case."""
    try:
        return text, len(text.encode())
    except UnicodeEncodeError:
        name = js_string(text)
        return name, len(name.encode())


def utf8(text: str) -> bytes:
    """`text` as UTF-8 the way JavaScript's TextEncoder writes it (see `js_string`)."""
    try:
        return text.encode()
    except UnicodeEncodeError:
        return js_string(text).encode()


def _encode_component(name: str) -> str:
    # encodeURIComponent's unreserved set, as miniflare names the blob folder.
    return quote(name, safe="-_.!~*'()")


class BlobStore:
    """Value bytes kept as files under `<root_v3>/<plugin>/<namespace>/blobs/`.

    Blob files are immutable: a write makes a new file with a new id, and the old one is removed once
    no row names it. Paths are plain strings and the folder is made only when a write finds it missing
    (a Path join, a `mkdir` and a `stat` per operation were a tenth of a KV put's CPU time).
    """

    def __init__(self, root_v3: Path, plugin: str, namespace: str) -> None:
        self.dir = root_v3 / plugin / _encode_component(namespace) / "blobs"
        self._prefix = f"{self.dir}{os.sep}"

    def put(self, data: bytes) -> str:
        """Write `data` as a new blob (0600) and return its id."""
        blob_id = new_blob_id()
        path = self._prefix + blob_id
        try:
            fd = os.open(path, _CREATE, 0o600)
        except FileNotFoundError:  # the first write (or the folder was removed meanwhile)
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, _CREATE, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        return blob_id

    def get(self, blob_id: str) -> bytes | None:
        """The blob's bytes, or None when the file is gone."""
        try:
            with open(self._prefix + blob_id, "rb", buffering=0) as file:
                return file.readall()
        except FileNotFoundError:
            return None

    def delete(self, blob_id: str | None) -> None:
        """Remove a blob that no row names any more (missing files are fine)."""
        if blob_id:
            try:
                os.unlink(self._prefix + blob_id)
            except FileNotFoundError:
                pass


class ObjectStore:
    """One miniflare object database (`<root_v3>/<plugin>/miniflare-<class>/<id>.sqlite`) and its blob
    folder: what a KV namespace and an R2 bucket share. Subclasses name the `plugin`, the object
    `object_class` and the `schema` they create if missing."""

    plugin: str
    object_class: str
    schema: str

    def __init__(self, root_v3: Path, name: str) -> None:
        self.path = object_db_path(root_v3, self.plugin, self.object_class, name)
        self.blobs = BlobStore(root_v3, self.plugin, name)
        self.conn = connect(self.path)
        self.conn.executescript(self.schema)

    def close(self) -> None:
        self.conn.close()

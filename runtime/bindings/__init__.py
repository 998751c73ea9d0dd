"""Local bindings (`self.env.<binding>`), one module per kind (kv, d1, r2, queues, durable_objects, service);
the storage ones keep Wrangler's layout.

    build_storage_bindings(config, persist_to=None) -> {binding: KVNamespace | D1Database | R2Bucket}

Stores open lazily on first use, so a Worker that never touches a binding creates no files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyflows.runtime.config import Config

__all__ = ["PERSIST_ENV", "build_storage_bindings", "storage_root"]

# Set by `pyflows dev --persist-to DIR` for its server processes (Wrangler keeps bindings in DIR/v3).
PERSIST_ENV = "PYFLOWS_BINDINGS_PERSIST_TO"


def storage_root(config: Config, persist_to: Path | str | None = None) -> Path:
    """`<persist_to, else $PYFLOWS_BINDINGS_PERSIST_TO, else <project>/.wrangler/state>/v3`."""
    from pyflows.runtime.bindings.wrangler_state import persist_root

    return persist_root(config.root, persist_to if persist_to is not None else os.environ.get(PERSIST_ENV) or None)


def build_storage_bindings(config: Config, persist_to: Path | str | None = None) -> dict[str, Any]:
    """One binding object per `kv_namespaces[]`, `d1_databases[]` and `r2_buckets[]` entry."""
    if not (config.kv_namespaces or config.d1_databases or config.r2_buckets):
        return {}
    from pyflows.runtime.bindings.d1 import D1Database
    from pyflows.runtime.bindings.kv import KVNamespace
    from pyflows.runtime.bindings.r2 import R2Bucket

    root = storage_root(config, persist_to)
    values: dict[str, Any] = {}
    for kv in config.kv_namespaces:
        values[kv.binding] = KVNamespace(root, kv.id, kv.binding)
    for db in config.d1_databases:
        values[db.binding] = D1Database(root, db.database_id, db.binding, db.database_name)
    for bucket in config.r2_buckets:
        values[bucket.binding] = R2Bucket(root, bucket.bucket_name, bucket.binding)
    return values

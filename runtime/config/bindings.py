"""Storage binding entries of the config: `kv_namespaces[]`, `d1_databases[]`, `r2_buckets[]`.

Keys as in Wrangler's configuration reference; like Wrangler, these are not inherited by
`env.<name>` (each environment lists its own). `check_unique_bindings` rejects one binding name used
twice across all binding kinds, naming both places.
"""

from __future__ import annotations

import keyword
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pyflows.runtime.config.schema import describe_value as _value
from pyflows.runtime.errors import ConfigSchemaError

__all__ = [
    "STORAGE_BINDING_KEYS",
    "D1DatabaseConfig",
    "KVNamespaceConfig",
    "R2BucketConfig",
    "check_unique_bindings",
    "parse_storage_bindings",
]

STORAGE_BINDING_KEYS = ("kv_namespaces", "d1_databases", "r2_buckets")


@dataclass(frozen=True)
class KVNamespaceConfig:
    """One `kv_namespaces[]` entry; local data is keyed by `id` (as `wrangler dev` keys it)."""

    binding: str
    id: str
    preview_id: str | None = None


@dataclass(frozen=True)
class D1DatabaseConfig:
    """One `d1_databases[]` entry; local data is keyed by `database_id`."""

    binding: str
    database_name: str
    database_id: str
    migrations_dir: str = "migrations"
    migrations_table: str = "d1_migrations"
    preview_database_id: str | None = None


@dataclass(frozen=True)
class R2BucketConfig:
    """One `r2_buckets[]` entry; local data is keyed by `bucket_name`."""

    binding: str
    bucket_name: str
    jurisdiction: str | None = None


def _check_identifier(value: str, where: str, shown: str) -> None:
    if not value.isidentifier() or keyword.iskeyword(value):
        raise ConfigSchemaError(
            f"{shown}: {where} is {_value(value)}, which is not a usable Python identifier "
            "(self.env.<binding>). Choose a name such as MY_BINDING.",
            file=shown,
            key_path=where,
            value=value,
        )


def parse_storage_bindings(
    effective: dict[str, Any], origin: dict[str, str], shown: str
) -> tuple[tuple[KVNamespaceConfig, ...], tuple[D1DatabaseConfig, ...], tuple[R2BucketConfig, ...]]:
    """The three lists as frozen values (the schema has already checked types and required keys)."""
    kv = []
    for i, item in enumerate(effective.get("kv_namespaces") or []):
        _check_identifier(item["binding"], f"{origin.get('kv_namespaces', '')}kv_namespaces[{i}].binding", shown)
        kv.append(KVNamespaceConfig(binding=item["binding"], id=item["id"], preview_id=item.get("preview_id")))
    d1 = []
    for i, item in enumerate(effective.get("d1_databases") or []):
        _check_identifier(item["binding"], f"{origin.get('d1_databases', '')}d1_databases[{i}].binding", shown)
        d1.append(
            D1DatabaseConfig(
                binding=item["binding"],
                database_name=item["database_name"],
                database_id=item["database_id"],
                migrations_dir=item.get("migrations_dir") or "migrations",
                migrations_table=item.get("migrations_table") or "d1_migrations",
                preview_database_id=item.get("preview_database_id"),
            )
        )
    r2 = []
    for i, item in enumerate(effective.get("r2_buckets") or []):
        _check_identifier(item["binding"], f"{origin.get('r2_buckets', '')}r2_buckets[{i}].binding", shown)
        r2.append(
            R2BucketConfig(
                binding=item["binding"], bucket_name=item["bucket_name"], jurisdiction=item.get("jurisdiction")
            )
        )
    return tuple(kv), tuple(d1), tuple(r2)


def check_unique_bindings(places: Iterable[tuple[str, str]], shown: str) -> None:
    """`places` is (binding name, where it is declared, e.g. "d1_databases[0]"); a name used twice is an
    error naming both places."""
    seen: dict[str, str] = {}
    for name, where in places:
        if name in seen:
            raise ConfigSchemaError(
                f"{shown}: {seen[name]} and {where} both have binding {_value(name)}. Binding names must be "
                "unique across all binding kinds (each is one self.env attribute): rename one of them.",
                file=shown,
                key_path=f"{where}.binding",
                value=name,
            )
        seen[name] = where

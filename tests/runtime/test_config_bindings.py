"""Config: kv_namespaces, d1_databases, r2_buckets, and one binding name across every kind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pyflows.runtime.config import load
from pyflows.runtime.errors import ConfigError, ConfigSchemaError


def project(tmp_path: Path, **extra: Any) -> Path:
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "entry.py").write_text("")
    config = {"name": "cfg", "main": "src/entry.py", "compatibility_date": "2026-11-01", **extra}
    (tmp_path / "wrangler.jsonc").write_text(json.dumps(config))
    return tmp_path


def test_storage_bindings_are_read(tmp_path: Path) -> None:
    cfg = load(
        project(
            tmp_path,
            kv_namespaces=[{"binding": "KV", "id": "abc", "preview_id": "p"}],
            d1_databases=[{"binding": "DB", "database_name": "db", "database_id": "uuid", "migrations_dir": "sql"}],
            r2_buckets=[{"binding": "BUCKET", "bucket_name": "b", "jurisdiction": "eu"}],
        )
    )
    assert cfg.kv_namespaces[0].id == "abc" and cfg.kv_namespaces[0].preview_id == "p"
    assert cfg.d1_databases[0].migrations_dir == "sql" and cfg.d1_databases[0].migrations_table == "d1_migrations"
    assert cfg.r2_buckets[0].bucket_name == "b" and cfg.r2_buckets[0].jurisdiction == "eu"


def test_duplicate_binding_across_kinds_names_both(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        workflows=[{"name": "wf", "binding": "SHARED", "class_name": "W"}],
        r2_buckets=[{"binding": "SHARED", "bucket_name": "b"}],
    )
    with pytest.raises(ConfigSchemaError) as info:
        load(root)
    assert "workflows[0] and r2_buckets[0] both have binding" in str(info.value) and "SHARED" in str(info.value)


def test_missing_required_key_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(project(tmp_path, d1_databases=[{"binding": "DB", "database_name": "db"}]))
    assert "d1_databases[0]" in str(info.value) and "database_id" in str(info.value)


def test_a_var_cannot_shadow_a_storage_binding(tmp_path: Path) -> None:
    with pytest.raises(ConfigSchemaError, match="vars.KV and the KV binding"):
        load(project(tmp_path, kv_namespaces=[{"binding": "KV", "id": "x"}], vars={"KV": "oops"}))


def test_bindings_are_not_inherited_by_environments(tmp_path: Path) -> None:
    root = project(tmp_path, kv_namespaces=[{"binding": "KV", "id": "top"}], env={"staging": {}})
    cfg = load(root, env="staging")
    assert cfg.kv_namespaces == ()
    assert any("kv_namespaces" in w and "not inherited" in w for w in cfg.warnings)
    root = project(tmp_path, env={"staging": {"kv_namespaces": [{"binding": "KV", "id": "staging-id"}]}})
    assert load(root, env="staging").kv_namespaces[0].id == "staging-id"

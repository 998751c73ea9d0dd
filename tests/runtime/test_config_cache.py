"""config-schema.json validation is remembered per (schema, config) so jsonschema is not imported again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pyflows.runtime.errors import ConfigSchemaError

CONFIG = {"name": "cached", "main": "src/entry.py", "compatibility_date": "2026-11-01"}
PROBE = (
    "import sys; from pathlib import Path; from pyflows.runtime.config import load; "
    "load(Path(sys.argv[1])); print('jsonschema' in sys.modules)"
)


def _project(root: Path, config: dict[str, object]) -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "entry.py").write_text("")
    (root / "wrangler.jsonc").write_text(json.dumps(config))
    return root


def _loads_jsonschema(project: Path, cache: Path) -> bool:
    env = {"PYFLOWS_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", PROBE, str(project)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip() == "True"


def test_a_valid_config_is_validated_once(tmp_path: Path) -> None:
    project = _project(tmp_path / "p", CONFIG)
    cache = tmp_path / "cache"
    assert _loads_jsonschema(project, cache)  # first time: validated
    assert len(list((cache / "valid-configs").iterdir())) == 1
    assert not _loads_jsonschema(project, cache)  # remembered
    _project(project, {**CONFIG, "name": "changed"})
    assert _loads_jsonschema(project, cache)  # another config: validated again


def test_an_invalid_config_is_never_remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pyflows.runtime.config import load

    monkeypatch.setenv("PYFLOWS_CACHE_DIR", str(tmp_path / "cache"))
    project = _project(tmp_path / "p", {**CONFIG, "name": 42})
    for _ in range(2):
        with pytest.raises(ConfigSchemaError, match="name"):
            load(project)
    assert not (tmp_path / "cache" / "valid-configs").exists()

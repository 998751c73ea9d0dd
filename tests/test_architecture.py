"""The dependency direction (cli -> client -> HTTP -> server -> engine -> storage) as an import contract.

The contracts are `[tool.importlinter]` in pyproject.toml; import-linter (grimp) reads every import
in the package, including those inside functions, so this fails as soon as a module imports across
a boundary the wrong way.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint_imports is None:
        pytest.fail("import-linter is not installed: pip install -e '.[test]'")
    run = subprocess.run(
        [lint_imports, "--no-cache", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Contracts: 4 kept, 0 broken." in run.stdout, run.stdout

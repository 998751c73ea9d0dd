"""The start-up check of the project's own dependencies (runtime/worker/dependencies.py)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
from pyflows.runtime.errors import UserCodeError
from pyflows.runtime.worker.dependencies import check_dependencies, missing_dependencies


def pyproject(root: Path, deps: list[str]) -> Path:
    listed = ", ".join(f'"{d}"' for d in deps)
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "w"\nversion = "0"\ndependencies = [{listed}]\n'
        '[dependency-groups]\ndev = ["workers-py", "definitely-not-installed-dev-only"]\n'
    )
    return root


def test_installed_and_provided_packages_pass(tmp_path: Path) -> None:
    check_dependencies(tmp_path)  # no pyproject.toml: nothing to check
    pyproject(tmp_path, ["httpx", "Jinja2>=3", "workers-runtime-sdk", "pyflows-nonexistent-pkg; python_version < '3'"])
    assert missing_dependencies(tmp_path) == []


def test_missing_and_outdated_packages_stop_with_the_install_command(tmp_path: Path) -> None:
    pyproject(tmp_path, ["httpx", "pyflows-nonexistent-pkg", "jinja2>=999", "not a requirement!"])
    with pytest.raises(UserCodeError) as caught:
        check_dependencies(tmp_path)
    text = str(caught.value)
    assert "  - pyflows-nonexistent-pkg (not installed)\n" in text
    assert "  - jinja2>=999 (3." in text and "is installed)" in text
    assert "not a requirement! (not a valid requirement" in text
    command = shlex.join(
        [sys.executable, "-m", "pip", "install", "pyflows-nonexistent-pkg", "jinja2>=999", "not a requirement!"]
    )
    assert f"Install them with:\n  {command}\n" in text
    assert "httpx" not in text.split("Install them with")[0].split("\n", 1)[1]
    assert caught.value.fields["missing"] == ["pyflows-nonexistent-pkg", "jinja2>=999", "not a requirement!"]

"""The built wheel installs one import name, `pyflows`, with its data files (dbos tests/test_package.py).

Builds a wheel from a copy of the source tree, installs it into a fresh venv (dependencies from the
configured package index), and checks the result from a directory that has no `cli/` or `runtime/`
of its own, so nothing can be imported from the source tree by accident.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]  # the first test pays for build + install

REPO = Path(__file__).resolve().parent.parent
TOP_LEVEL_SKIP = {".git", ".venv", "venv", "build", "dist", "tests", "bench", ".pytest_cache", ".ruff_cache"}
TOP_LEVEL_SKIP |= {".mypy_root"}  # mypy's view of the package: a symlink back to the root
ANYWHERE_SKIP = shutil.ignore_patterns("*.egg-info", "__pycache__", "*.pyc", ".pyflows", ".mypy_cache")


def _ignore(directory: str, names: list[str]) -> set[str]:
    skipped = set(ANYWHERE_SKIP(directory, names))
    if Path(directory) == REPO:
        skipped |= TOP_LEVEL_SKIP & set(names)
    return skipped


def run(args: list[str | Path], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    if check:
        assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(venv bin dir, a clean working directory) with the wheel of this tree installed."""
    base = tmp_path_factory.mktemp("package")
    src = base / "src"
    shutil.copytree(REPO, src, ignore=_ignore)
    wheels = base / "wheels"
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels, src], cwd=base)
    (wheel,) = wheels.glob("pyflows-*.whl")
    venv = base / "venv"
    run([sys.executable, "-m", "venv", venv], cwd=base)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    run([bin_dir / "python", "-m", "pip", "install", "-q", wheel], cwd=base)
    work = base / "work"
    work.mkdir()
    return bin_dir, work


def test_console_script_and_module_entry(installed: tuple[Path, Path]) -> None:
    bin_dir, work = installed
    from pyflows import __version__

    assert run([bin_dir / "pyflows", "--version"], cwd=work).stdout.strip() == f"pyflows {__version__}"
    as_module = run([bin_dir / "python", "-m", "pyflows", "--version"], cwd=work)
    assert as_module.stdout.strip() == f"pyflows {__version__}"


def test_only_pyflows_is_importable(installed: tuple[Path, Path]) -> None:
    bin_dir, work = installed
    # pyflows.testing.devserver: the generated projects' tests/conftest.py imports it.
    imports = "import pyflows.runtime, pyflows.cli, pyflows.client, pyflows.templates, pyflows.testing.devserver"
    run([bin_dir / "python", "-c", imports], cwd=work)
    for bare in ("cli", "runtime", "templates", "tests", "testing", "client"):
        proc = run([bin_dir / "python", "-c", f"import {bare}"], cwd=work, check=False)
        assert proc.returncode != 0, f"`import {bare}` should fail in an installed pyflows"
        assert "ModuleNotFoundError" in proc.stderr


def test_package_data_is_installed(installed: tuple[Path, Path]) -> None:
    bin_dir, work = installed
    code = "import pathlib, pyflows; print(pathlib.Path(pyflows.__file__).parent)"
    pkg = Path(run([bin_dir / "python", "-c", code], cwd=work).stdout.strip())
    assert pkg.is_relative_to(bin_dir.parent), pkg  # the venv's copy, not the source tree
    assert (pkg / "config-schema.json").read_text() == (REPO / "config-schema.json").read_text()
    assert (pkg / "py.typed").is_file()

    def files(root: Path) -> set[str]:
        skip = ("__pycache__", ".pyflows")
        return {
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.is_file() and p.suffix != ".pyc" and not any(s in p.parts for s in skip)
        }

    assert files(REPO / "templates") <= files(pkg / "templates")


def test_installed_package_loads_a_config_with_its_schema(installed: tuple[Path, Path]) -> None:
    bin_dir, work = installed
    project = work / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "entry.py").write_text("")
    (project / "wrangler.jsonc").write_text(
        '{"name": "p", "main": "src/entry.py", // comment\n'
        ' "workflows": [{"name": "w", "binding": "not-an-identifier", "class_name": "W"}],}'
    )
    code = (
        "import pathlib; from pyflows.runtime.config import load\n"
        "try: load(pathlib.Path('project'))\n"
        "except Exception as e: print(type(e).__name__, e)"
    )
    out = run([bin_dir / "python", "-c", code], cwd=work).stdout
    assert out.startswith("ConfigSchemaError ")
    assert 'workflows[0].binding is "not-an-identifier"' in out

"""The project's own dependencies: `[project].dependencies` in its pyproject.toml, checked at start-up.

A Python Workers project declares what it imports in pyproject.toml, and `pywrangler sync` vendors
exactly `[project].dependencies` (dev groups are not bundled) into python_modules/. pyflows runs the
Worker in the Python that runs pyflows, so those packages must be installed there. pyflows checks,
and does not install: installing into someone's environment behind their back (or building a
second venv that then diverges from theirs) is worse than one clear command. A missing or
too-old package stops `pyflows dev` with

    The Worker's dependencies are not installed in the Python that runs pyflows (/path/bin/python):
      - fastapi (not installed)
      - jinja2>=3.1 (3.0.3 is installed)
    Install them with:
      /path/bin/python -m pip install 'fastapi' 'jinja2>=3.1'

Requirements whose environment marker does not apply (`; python_version < "3.12"`) are skipped. The
pyproject.toml is the one next to the wrangler config (pywrangler's project root).
"""

from __future__ import annotations

import importlib.metadata
import shlex
import sys
from pathlib import Path

from pyflows.runtime.config.formats import parse_toml
from pyflows.runtime.errors import UserCodeError

__all__ = ["check_dependencies", "missing_dependencies"]

# Bundled or provided by Cloudflare's runtime, never needed locally (pyflows shadows them).
_PROVIDED = frozenset({"workers-runtime-sdk", "workers-py", "pyodide-py", "webtypy"})


def _declared(pyproject: Path) -> list[str]:
    try:
        data = parse_toml(pyproject.read_text(encoding="utf-8"), str(pyproject))
    except OSError:
        return []
    deps = (data.get("project") or {}).get("dependencies") or []
    return [d for d in deps if isinstance(d, str)]


def missing_dependencies(root: Path) -> list[tuple[str, str]]:
    """`[(requirement, why)]` for each declared dependency that is absent or the wrong version."""
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return []
    declared = _declared(pyproject)
    if not declared:  # the common case; `pyflows dev` start-up skips importing packaging
        return []
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    missing: list[tuple[str, str]] = []
    for text in declared:
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            missing.append((text, f"not a valid requirement: {exc}"))
            continue
        if canonicalize_name(req.name) in _PROVIDED:
            continue
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            version = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            missing.append((text, "not installed"))
            continue
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            missing.append((text, f"{version} is installed"))
    return missing


def check_dependencies(root: Path) -> None:
    """UserCodeError listing the missing packages and the exact install command, if any are missing."""
    missing = missing_dependencies(root)
    if not missing:
        return
    lines = "\n".join(f"  - {req} ({why})" for req, why in missing)
    command = shlex.join([sys.executable, "-m", "pip", "install", *(req for req, _ in missing)])
    raise UserCodeError(
        f"The Worker's dependencies ([project].dependencies in {root / 'pyproject.toml'}) are not all "
        f"installed in the Python that runs pyflows ({sys.executable}):\n{lines}\n"
        f"Install them with:\n  {command}\nthen run `pyflows dev` again.",
        missing=[req for req, _ in missing],
    )

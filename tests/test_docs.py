"""The README documents every command and flag (config keys: tests/runtime/test_config.py)."""

from __future__ import annotations

from pathlib import Path

import typer.main

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_every_command_and_flag_is_in_the_readme() -> None:
    from pyflows.cli.app import _register, app

    _register([])
    missing: list[str] = []

    def walk(command: object, path: str) -> None:
        for param in getattr(command, "params", []):
            for flag in [*param.opts, *getattr(param, "secondary_opts", [])]:
                if flag.startswith("-") and flag not in ("--help", "-h") and flag not in README:
                    missing.append(f"{path or 'pyflows'} {flag}")
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, f"{path} {name}".strip())
        elif f"`{path} " not in README and f"`{path}`" not in README and f"`pyflows {path}" not in README:
            missing.append(path)

    walk(typer.main.get_command(app), "")
    assert missing == []


def test_the_first_lines_give_the_run_and_test_commands_and_ci_runs_the_test_one() -> None:
    head = README.splitlines()[:20]
    run = [line for line in head if line.startswith("python3 -m venv") and "pyflows dev" in line]
    test = [line for line in head if line.startswith("python3 -m venv") and "pytest" in line]
    assert run == ["python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/pyflows dev --cwd templates/hello"]
    assert len(test) == 1
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text().splitlines()
    assert test[0] in ci


def test_readme_layout_lists_every_package_directory() -> None:
    """README's "How the code is laid out" has one row per package directory, and no stale rows."""
    import re

    root = Path(__file__).resolve().parents[1]
    text = (root / "README.md").read_text(encoding="utf-8")
    section = text.split("### How the code is laid out", 1)[1].split("\n#", 1)[0]
    listed = set(re.findall(r"^\| `([a-z_/]+)/` \|", section, re.M))
    packages = {
        str(p.parent.relative_to(root))
        for p in root.glob("*/**/__init__.py")
        if not any(
            part in ("tests", "bench", "build", "sdk", ".venv", ".mypy_root") or part.startswith(".")
            for part in p.relative_to(root).parts[:-1]
        )
        and "templates/" not in str(p.relative_to(root))[len("templates") :]
    }
    packages |= {"runtime/sdk"}  # its sub-packages (workers, pyodide) are user-facing module names, not rooms
    assert packages <= listed, f"not in README's layout: {sorted(packages - listed)}"
    assert listed <= packages, f"in README's layout but not a package: {sorted(listed - packages)}"

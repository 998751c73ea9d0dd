"""The CLI root: --version, python -m, and usage errors without tracebacks."""

from __future__ import annotations

import subprocess
import sys

from pyflows import __version__


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pyflows", *args], capture_output=True, text=True, timeout=30)


def test_version() -> None:
    # `pyflows --version` / `-v` alone answer before typer is imported; with other options typer does.
    for args in (["--version"], ["-v"], ["--cwd", ".", "--version"]):
        result = run(*args)
        assert result.returncode == 0 and result.stdout.strip() == f"pyflows {__version__}", (args, result)


def test_usage_errors_exit_2_with_a_message_and_no_traceback() -> None:
    result = run("workflows", "instances", "list")
    assert result.returncode == 2
    assert "Missing argument 'NAME'" in result.stderr and "Traceback" not in result.stderr
    result = run("workflows", "instances", "list", "wf", "--page", "abc")
    assert result.returncode == 2
    assert "'abc' is not a valid int" in result.stderr and "Traceback" not in result.stderr


def test_missing_cwd_is_an_error_line() -> None:
    result = run("--cwd", "/no/such/dir", "workflows", "list", "--local")
    assert result.returncode == 1
    assert result.stderr.startswith("✘ [ERROR] --cwd /no/such/dir: no such directory.")

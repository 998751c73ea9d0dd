"""The `pyflows` command line. `main` is the console-script entry; the commands live in cli/app.py
and cli/commands/, imported only after the cheap decisions below."""

from __future__ import annotations

import os
import sys

__all__ = ["GLOBAL_VALUE_OPTIONS", "command_of", "main"]

GLOBAL_VALUE_OPTIONS = frozenset({"--cwd", "--config", "-c", "--env", "-e"})


def command_of(argv: list[str]) -> str | None:
    """The first positional argument (the command group), skipping the global options and their values."""
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token in GLOBAL_VALUE_OPTIONS:
            skip = True
        elif not token.startswith("-"):
            return token
    return None


def _serves_with_reload(argv: list[str]) -> bool:
    """`pyflows dev` that will fork its first server (not --help, not --no-reload)."""
    if command_of(argv) != "dev" or not hasattr(os, "fork"):
        return False
    return not any(token in ("--help", "-h", "--no-reload", "--version", "-v") for token in argv)


def main() -> None:
    """Console-script entry. `pyflows dev` forks its first server before the CLI is even imported, so
    the server's imports overlap typer's and the config's (runtime/dev/process.py `fork_first`)."""
    if sys.argv[1:] in (["--version"], ["-v"]):  # the one answer that needs no parser (typer: ~100 ms)
        from pyflows import __version__

        sys.stdout.write(f"pyflows {__version__}\n")
        return
    if _serves_with_reload(sys.argv[1:]):
        from pyflows.runtime.dev.process import fork_first_early

        fork_first_early()
    from pyflows.cli.app import main as run

    run()

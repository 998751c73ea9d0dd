"""Wrangler's `✘ [ERROR]` / `▲ [WARNING]` lines, shared by the CLI and the dev server's log output.

Colour only on a terminal; NO_COLOR turns it off and FORCE_COLOR on.
"""

from __future__ import annotations

import os
import sys


def color(stream: object) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def error_line(message: str) -> str:
    """`✘ [ERROR] <message>` followed by an empty line, red on a terminal."""
    head = "\x1b[31m✘ [ERROR]\x1b[0m" if color(sys.stderr) else "✘ [ERROR]"
    return f"{head} {message}\n\n"


def warning_line(message: str) -> str:
    """`▲ [WARNING] <message>` followed by an empty line, yellow on a terminal."""
    head = "\x1b[33m▲ [WARNING]\x1b[0m" if color(sys.stderr) else "▲ [WARNING]"
    return f"{head} {message}\n\n"

"""All terminal rendering for the CLI (tables, colours, --json). Nothing else prints."""

from __future__ import annotations

import os
import sys


def _color(stream: object) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def error_line(message: str) -> str:
    """`✘ [ERROR] <message>` followed by an empty line, red on a terminal."""
    head = "✘ [ERROR]"
    if _color(sys.stderr):
        head = f"\x1b[31m{head}\x1b[0m"
    return f"{head} {message}\n\n"


def warning_line(message: str) -> str:
    """`▲ [WARNING] <message>` followed by an empty line, yellow on a terminal."""
    head = "▲ [WARNING]"
    if _color(sys.stderr):
        head = f"\x1b[33m{head}\x1b[0m"
    return f"{head} {message}\n\n"

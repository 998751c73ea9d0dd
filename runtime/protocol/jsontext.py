"""Positions in JSON text, shared by the config parser and the CLI's JSON-argument errors."""

from __future__ import annotations

__all__ = ["innermost_open", "line_col"]


def line_col(text: str, pos: int) -> tuple[int, int]:
    """1-based line and column of `pos` in `text`."""
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def innermost_open(text: str, pos: int) -> str:
    """'{' or '[' for the container that is open at `pos` in comment-free JSON text."""
    stack: list[str] = []
    i = 0
    while i < pos:
        c = text[i]
        if c == '"':
            i += 1
            while i < pos and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c in "{[":
            stack.append(c)
        elif c in "}]" and stack:
            stack.pop()
        i += 1
    return stack[-1] if stack else ""

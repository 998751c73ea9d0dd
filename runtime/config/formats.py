"""The three file formats a project's configuration comes in: JSONC, TOML and dotenv.

Each parser takes the text and a `shown` file name, and raises `ConfigParseError` with a message
that starts `<file>:<line>[:<column>]: ` and says what was expected. `runtime.config` decides which
files to read; this module only turns text into values.

JSONC is JSON plus `//` and `/* */` comments and trailing commas (what Wrangler's jsonc-parser
accepts). `strip_jsonc` blanks comments and trailing commas with spaces, keeping every line and
column where it was, so `json.loads` reports positions in the user's own file.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from typing import Any

from pyflows.runtime.errors import ConfigParseError
from pyflows.runtime.protocol.jsontext import innermost_open, line_col

__all__ = ["parse_dotenv", "parse_jsonc", "parse_toml", "strip_jsonc"]


# --------------------------------------------------------------------------------------- JSONC


class _CommentError(Exception):
    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.pos = pos


def strip_jsonc(text: str) -> str:
    """Blank out comments and trailing commas, keeping every other character in place.

    Strings are copied verbatim, so `"https://example.com"` and `"a /* b */"` survive; an escaped
    quote (`\\"`) does not end a string. Raises `_CommentError` for an unterminated `/*`.
    """
    out = list(text)
    n = len(text)
    i = 0
    last_significant = ""  # the last non-blank character outside comments
    while i < n:
        c = text[i]
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\":
                    i += 1
                elif text[i] == "\n":  # json.loads reports the unterminated string here
                    break
                i += 1
            i += 1
            last_significant = '"'
            continue
        if c == "/" and i + 1 < n and text[i + 1] == "/":
            while i < n and text[i] != "\n":
                out[i] = " "
                i += 1
            continue
        if c == "/" and i + 1 < n and text[i + 1] == "*":
            end = text.find("*/", i + 2)
            if end < 0:
                raise _CommentError(i)
            for j in range(i, end + 2):
                if text[j] not in "\r\n":
                    out[j] = " "
            i = end + 2
            continue
        if c == "," and last_significant not in ("", "{", "[", ",", ":"):
            nxt = _next_significant(text, i + 1)
            if nxt is not None and text[nxt] in "]}":
                out[i] = " "
        if not c.isspace():
            last_significant = c
        i += 1
    return "".join(out)


def _next_significant(text: str, i: int) -> int | None:
    """Index of the next character that is neither blank nor inside a comment."""
    n = len(text)
    while i < n:
        if text[i].isspace():
            i += 1
        elif text.startswith("//", i):
            nl = text.find("\n", i)
            i = n if nl < 0 else nl
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                return None
            i = end + 2
        else:
            return i
    return None


def _found(text: str, pos: int) -> str:
    if pos >= len(text):
        return "the end of the file"
    m = re.compile(r'"[^"\n]{0,20}"?|[A-Za-z0-9_.+-]{1,20}|\S').match(text, pos)
    token = m.group(0) if m else text[pos]
    return repr(token) if not token.startswith('"') else token


def _explain(msg: str, clean: str, pos: int) -> str:
    """Turn a JSONDecodeError message into 'expected X, found Y'."""
    found = _found(clean, pos)
    if msg.startswith("Expecting value"):
        what = "expected a value (a string, number, object, array, true, false or null)"
    elif msg.startswith("Expecting property name"):
        what = 'expected a property name in double quotes (like "name")'
    elif msg.startswith("Expecting ':'"):
        what = "expected ':' after the property name"
    elif msg.startswith("Expecting ','"):
        closer = "}" if innermost_open(clean, pos) == "{" else "]"
        what = f"expected ',' or '{closer}'"
    elif msg.startswith("Unterminated string"):
        return "unterminated string: expected a closing '\"' on the same line"
    elif msg.startswith("Invalid control character"):
        return "invalid control character in a string: write newlines and tabs as \\n and \\t"
    elif msg.startswith("Invalid \\escape") or msg.startswith("Invalid \\u"):
        return 'invalid escape in a string: expected one of \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX'
    elif msg.startswith("Extra data"):
        what = "expected the end of the file after the top-level value"
    else:
        what = msg.split(":")[0].lower()
    return f"{what}, found {found}"


def parse_jsonc(text: str, shown: str) -> Any:
    """Parse JSON with comments and trailing commas; errors read `<shown>:<line>:<col>: expected ...`."""
    try:
        clean = strip_jsonc(text)
    except _CommentError as exc:
        line, col = line_col(text, exc.pos)
        raise ConfigParseError(
            f"{shown}:{line}:{col}: unterminated /* comment: expected a closing */",
            file=shown,
            line=line,
            column=col,
        ) from None
    try:
        return json.loads(clean)
    except json.JSONDecodeError as exc:
        detail = _explain(exc.msg, clean, exc.pos)
        raise ConfigParseError(
            f"{shown}:{exc.lineno}:{exc.colno}: {detail}", file=shown, line=exc.lineno, column=exc.colno
        ) from None


# ---------------------------------------------------------------------------------------- TOML

_TOML_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END = re.compile(r"\s*\(at end of document\)\s*$")


def _jsonable(value: Any) -> Any:
    """TOML dates and times become ISO strings, so `compatibility_date = 2025-09-01` (unquoted) works."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, _dt.date | _dt.time):  # datetime is a date
        return value.isoformat()
    return value


def parse_toml(text: str, shown: str) -> dict[str, Any]:
    """Parse TOML with `tomllib`; errors read `<shown>:<line>:<col>: <what tomllib expected>`."""
    import tomllib

    try:
        return _jsonable(tomllib.loads(text))  # type: ignore[no-any-return]
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)  # "<what> (at line L, column C)" in tomllib, old and new
        m = _TOML_AT.search(msg)
        if m:
            line, col = int(m.group(1)), int(m.group(2))
            msg = msg[: m.start()]
        elif isinstance(lineno := getattr(exc, "lineno", None), int):  # Python 3.14 also has attributes
            line, col = lineno, int(getattr(exc, "colno", 1))
            msg = _TOML_END.sub("", msg)
        else:
            line, col = text.count("\n") + 1, len(text) - text.rfind("\n")
            msg = _TOML_END.sub("", msg) + " (at the end of the file)"
        raise ConfigParseError(
            f"{shown}:{line}:{col}: {msg[:1].lower() + msg[1:]}", file=shown, line=line, column=col
        ) from None


# -------------------------------------------------------------------------------------- dotenv

_DOTENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$", re.S)
_DQ_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "$": "$"}


def _unescape_double(s: str) -> str:
    return re.sub(r"\\(.)", lambda m: _DQ_ESCAPES.get(m.group(1), "\\" + m.group(1)), s, flags=re.S)


def parse_dotenv(text: str, shown: str) -> dict[str, str]:
    """Parse dotenv syntax: `KEY=value`, `export KEY=value`, `#` comments, blank lines, quotes.

    Unquoted values are trimmed and lose a ` # comment` tail. `'single'` quotes are literal;
    `"double"` quotes understand `\\n`, `\\t`, `\\"` and `\\\\`; both (and backticks) may span lines.
    A line that is not `KEY=VALUE` is an error naming `<shown>:<line>`; a later duplicate wins.
    """
    lines = text.splitlines()
    result: dict[str, str] = {}
    i = 0
    while i < len(lines):
        lineno = i + 1
        raw = lines[i]
        i += 1
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = _DOTENV_LINE.match(raw)
        if not m:
            hint = "a KEY=VALUE line (KEY is letters, digits and _, not starting with a digit)"
            raise ConfigParseError(
                f"{shown}:{lineno}: expected {hint}, found {stripped[:20]!r}. Fix the line or comment it out with #.",
                file=shown,
                line=lineno,
            )
        key, rest = m.group(1), m.group(2).strip()
        if rest[:1] in ("'", '"', "`"):
            quote = rest[0]
            body = rest[1:]
            while True:
                end = _closing_quote(body, quote)
                if end >= 0:
                    break
                if i >= len(lines):
                    raise ConfigParseError(
                        f"{shown}:{lineno}: unterminated quoted value for {key}: expected a closing {quote} "
                        "before the end of the file",
                        file=shown,
                        line=lineno,
                    )
                body += "\n" + lines[i]
                i += 1
            value, tail = body[:end], body[end + 1 :].strip()
            if tail and not tail.startswith("#"):
                raise ConfigParseError(
                    f"{shown}:{lineno}: unexpected text {tail[:40]!r} after the quoted value of {key}: "
                    "expected the end of the line or a # comment",
                    file=shown,
                    line=lineno,
                )
            result[key] = _unescape_double(value) if quote == '"' else value
        else:
            result[key] = re.split(r"\s+#", rest, maxsplit=1)[0].strip()
    return result


def _closing_quote(body: str, quote: str) -> int:
    j = 0
    while j < len(body):
        if body[j] == "\\" and quote == '"':
            j += 2
            continue
        if body[j] == quote:
            return j
        j += 1
    return -1


# ------------------------------------------------------------------------------- key positions

Position = tuple[int, int]  # (line, column), both from 1
KeyPositions = dict[tuple[str | int, ...], Position]


def jsonc_key_positions(text: str) -> KeyPositions:
    """Where each key (object member) and array item of a JSONC file starts, by key path.

    `{("workflows", 1, "class_name"): (7, 7), ...}`; `()` is the top-level value. For text that
    `parse_jsonc` accepts; comments and trailing commas are skipped like whitespace.
    """
    clean = strip_jsonc(text)
    out: KeyPositions = {}
    n = len(clean)

    def skip(i: int) -> int:
        while i < n and clean[i] in " \t\r\n":
            i += 1
        return i

    def string_end(i: int) -> int:  # i at the opening quote; returns the index after the closing one
        i += 1
        while clean[i] != '"':
            i += 2 if clean[i] == "\\" else 1
        return i + 1

    def value(i: int, path: tuple[str | int, ...]) -> int:
        i = skip(i)
        out.setdefault(path, line_col(text, i))
        c = clean[i]
        if c == "{":
            i = skip(i + 1)
            while clean[i] != "}":
                end = string_end(i)
                key = json.loads(clean[i:end])
                out[(*path, key)] = line_col(text, i)
                i = skip(end)  # at ':'
                i = skip(value(i + 1, (*path, key)))
                if clean[i] == ",":
                    i = skip(i + 1)
            return i + 1
        if c == "[":
            i = skip(i + 1)
            index = 0
            while clean[i] != "]":
                i = skip(value(i, (*path, index)))
                index += 1
                if clean[i] == ",":
                    i = skip(i + 1)
            return i + 1
        if c == '"':
            return string_end(i)
        while i < n and clean[i] not in ",]} \t\r\n":
            i += 1
        return i

    value(0, ())
    return out


_TOML_BARE = re.compile(r"[A-Za-z0-9_-]+")


def toml_key_positions(text: str) -> KeyPositions:
    """Where each key and array item of a TOML file is written, by key path (as `jsonc_key_positions`).

    Covers what config files use: `[table]` and `[[array.of.tables]]` headers, dotted and quoted
    keys, inline tables and arrays (also over several lines). For text that `parse_toml` accepts.
    """
    out: KeyPositions = {(): (1, 1)}
    n = len(text)
    line_starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]

    def pos(i: int) -> Position:
        import bisect

        line = bisect.bisect_right(line_starts, i)
        return line, i - line_starts[line - 1] + 1

    def skip(i: int, newlines: bool) -> int:
        while i < n:
            c = text[i]
            if c in " \t\r" or (newlines and c == "\n"):
                i += 1
            elif c == "#":
                while i < n and text[i] != "\n":
                    i += 1
            else:
                break
        return i

    def string_end(i: int) -> int:
        quote = text[i]
        if text.startswith(quote * 3, i):
            end = text.index(quote * 3, i + 3)
            while text.startswith(quote, end + 3):  # up to two quotes may close the string
                end += 1
            return end + 3
        i += 1
        while text[i] != quote:
            i += 2 if quote == '"' and text[i] == "\\" else 1
        return i + 1

    def key(i: int) -> tuple[list[tuple[str, int]], int]:
        """A dotted key at i → ([(part, start index)], index after it)."""
        parts: list[tuple[str, int]] = []
        while True:
            i = skip(i, False)
            if text[i] in "\"'":
                end = string_end(i)
                raw = text[i:end]
                parts.append((json.loads(raw) if raw[0] == '"' else raw[1:-1], i))
            else:
                m = _TOML_BARE.match(text, i)
                assert m is not None
                end = m.end()
                parts.append((m.group(), i))
            i = skip(end, False)
            if i < n and text[i] == ".":
                i += 1
                continue
            return parts, i

    def value(i: int, path: tuple[str | int, ...]) -> int:
        i = skip(i, False)
        out.setdefault(path, pos(i))
        c = text[i]
        if c == "[":
            i = skip(i + 1, True)
            index = 0
            while text[i] != "]":
                i = skip(value(i, (*path, index)), True)
                index += 1
                if text[i] == ",":
                    i = skip(i + 1, True)
            return i + 1
        if c == "{":
            i = skip(i + 1, False)
            while text[i] != "}":
                i = skip(pair(i, path), False)
                if text[i] == ",":
                    i = skip(i + 1, False)
            return i + 1
        if c in "\"'":
            return string_end(i)
        while i < n and text[i] not in ",]}#\n":
            i += 1
        return i

    def pair(i: int, table: tuple[str | int, ...]) -> int:
        parts, i = key(i)
        path = table
        for name, start in parts:
            path = (*path, name)
            out.setdefault(path, pos(start))
        return value(i + 1, path)  # i at '='

    counts: dict[tuple[str | int, ...], int] = {}
    table: tuple[str | int, ...] = ()
    i = skip(0, True)
    while i < n:
        if text[i] == "[":
            array = text.startswith("[[", i)
            parts, j = key(i + (2 if array else 1))
            path: tuple[str | int, ...] = ()
            for name, start in parts:
                path = (*path, name)
                if path not in out:
                    out[path] = pos(start)
                if path in counts and (name, start) != parts[-1]:
                    path = (*path, counts[path] - 1)  # a table under the last [[array]] entry
            if array:
                counts[path] = counts.get(path, 0) + 1
                path = (*path, counts[path] - 1)
                out[path] = pos(i)
            table = path
            i = j + (2 if array else 1)
        else:
            i = pair(i, table)
        i = skip(i, True)
    return out

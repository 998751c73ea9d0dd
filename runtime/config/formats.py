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

"""`_redirects` and `_headers` at the top of the assets directory, as Cloudflare applies them.

Rules follow developers.cloudflare.com/workers/static-assets/redirects/ and .../headers/ (and
workers-sdk's asset worker):

    _redirects   one rule a line: `<from> <to> [status]`; status 301, 302 (default), 303, 307, 308,
                 or 200 (serve <to>'s asset at <from>'s URL). `#` starts a comment.
    _headers     a URL pattern on its own line, then indented `Name: value` lines (`! Name` removes
                 a header); every matching block applies, in file order.

Patterns are paths, or absolute `https://host/path` URLs matched against the request's host. `*`
matches anything (available as `:splat`), `:name` one path segment (`[^/]+`; in a host, up to a
dot); both can be used in the target or header value. A static `_redirects` rule (no `*`, no `:`)
wins over a dynamic one. The files are re-read when they change, like the assets themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HeaderRule", "RedirectRule", "Rules"]

REDIRECT_STATUSES = frozenset({200, 301, 302, 303, 307, 308})
_PLACEHOLDER = re.compile(r":([A-Za-z]\w*)")


def _pattern(rule: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in rule.split("*")]
    text = "(?P<splat>.*)".join(parts) if len(parts) == 2 else ".*".join(parts)
    host_end = text.find("/", len("https://")) if rule.startswith("https://") else -1

    def named(match: re.Match[str], stop: str) -> str:
        return f"(?P<{match.group(1)}>[^{stop}]+)"

    if host_end > 0:
        host, path = text[:host_end], text[host_end:]
        text = _PLACEHOLDER.sub(lambda m: named(m, "/."), host) + _PLACEHOLDER.sub(lambda m: named(m, "/"), path)
    else:
        text = _PLACEHOLDER.sub(lambda m: named(m, "/"), text)
    return re.compile("^" + text + "$")


def _fill(template: str, groups: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: groups.get(m.group(1), m.group(0)), template)


@dataclass(frozen=True)
class RedirectRule:
    source: str
    target: str
    status: int
    line: int

    @property
    def static(self) -> bool:
        return "*" not in self.source and ":" not in self.source.removeprefix("https://")


@dataclass(frozen=True)
class HeaderRule:
    source: str
    set: tuple[tuple[str, str], ...]
    unset: tuple[str, ...]


def parse_redirects(text: str) -> list[RedirectRule]:
    """The valid rules of a `_redirects` file (invalid lines are skipped, as Cloudflare skips them)."""
    rules = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) not in (2, 3) or not (parts[0].startswith("/") or parts[0].startswith("https://")):
            continue
        status = int(parts[2]) if len(parts) == 3 and parts[2].isdigit() else 302
        if status not in REDIRECT_STATUSES:
            continue
        rules.append(RedirectRule(parts[0], parts[1], status, number))
    return rules


def parse_headers(text: str) -> list[HeaderRule]:
    """The rule blocks of a `_headers` file."""
    rules: list[HeaderRule] = []
    source: str | None = None
    sets: list[tuple[str, str]] = []
    unsets: list[str] = []

    def close() -> None:
        if source is not None:
            rules.append(HeaderRule(source, tuple(sets), tuple(unsets)))

    for raw in text.splitlines():
        if not raw.strip() or raw.strip().startswith("#"):
            continue
        if not raw[0].isspace():
            close()
            source, sets, unsets = raw.strip(), [], []
            continue
        line = raw.strip()
        if source is None:
            continue
        if line.startswith("!"):
            unsets.append(line[1:].strip())
        elif ":" in line:
            name, value = line.split(":", 1)
            sets.append((name.strip(), value.strip()))
    close()
    return rules


class Rules:
    """The directory's `_redirects` and `_headers`, re-read when their size or mtime changes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._seen: dict[str, tuple[int, int] | None] = {}
        self._redirects: list[tuple[RedirectRule, re.Pattern[str]]] = []
        self._headers: list[tuple[HeaderRule, re.Pattern[str]]] = []

    def _text_if_changed(self, name: str) -> str | None:
        path = self.root / name
        try:
            st = path.stat()
            stamp: tuple[int, int] | None = (st.st_size, st.st_mtime_ns)
        except OSError:
            stamp = None
        if name in self._seen and self._seen[name] == stamp:
            return None
        self._seen[name] = stamp
        return path.read_text(encoding="utf-8", errors="replace") if stamp is not None else ""

    def _refresh(self) -> None:
        text = self._text_if_changed("_redirects")
        if text is not None:
            self._redirects = [(r, _pattern(r.source)) for r in parse_redirects(text)]
        text = self._text_if_changed("_headers")
        if text is not None:
            self._headers = [(h, _pattern(h.source)) for h in parse_headers(text)]

    @staticmethod
    def _subject(source: str, host: str, path: str) -> str:
        return f"https://{host}{path}" if source.startswith("https://") else path

    def redirect(self, host: str, path: str) -> tuple[int, str] | None:
        """(status, target) of the rule for this request, static rules first; None if none matches."""
        self._refresh()
        static = [r for r, _ in self._redirects if r.static and r.source == self._subject(r.source, host, path)]
        if static:
            rule = min(static, key=lambda r: r.line)
            return rule.status, rule.target
        for rule, pattern in self._redirects:
            if rule.static:
                continue
            found = pattern.match(self._subject(rule.source, host, path))
            if found:
                target = _fill(rule.target, {k: v for k, v in found.groupdict().items() if v is not None})
                if not re.match(r"^\w+://", target):
                    target = re.sub(r"/+", "/", target)
                return rule.status, target
        return None

    def headers(self, host: str, path: str) -> list[tuple[str, tuple[tuple[str, str], ...], tuple[str, ...]]]:
        """For each matching `_headers` block in order: (source, headers to set, headers to remove)."""
        self._refresh()
        out = []
        for rule, pattern in self._headers:
            found = pattern.match(self._subject(rule.source, host, path))
            if found:
                groups = {k: v for k, v in found.groupdict().items() if v is not None}
                out.append((rule.source, tuple((n, _fill(v, groups)) for n, v in rule.set), rule.unset))
        return out

"""Static assets served as Cloudflare's asset worker serves them (Workers Static Assets).

    server = AssetServer(config.assets, compatibility_date, compatibility_flags)
    server.routes_to_worker(request, has_worker)   # run_worker_first, then "is there an asset?"
    response = server.fetch(request)               # what env.ASSETS.fetch(request) returns too

Behaviour copied from Cloudflare's asset and router workers (workers-sdk
packages/workers-shared; developers.cloudflare.com/workers/static-assets/):

- Content-Type by file extension as the `mime` package names it, with `; charset=utf-8` added to
  `text/*` (`text/html; charset=utf-8`, `text/javascript; charset=utf-8`,
  `image/vnd.microsoft.icon`); an unknown extension gets no Content-Type at all.
- `ETag: "<hash of the content>"`; `If-None-Match` with it (or its `W/` form) answers 304.
  `Cache-Control: public, max-age=0, must-revalidate` unless the request has Authorization or Range.
- `html_handling` (default auto-trailing-slash): `/about` serves about.html, `/blog/` serves
  blog/index.html, and non-canonical forms (`/about.html`, `/blog`, `/blog/index.html`) answer a
  307 to the canonical one. Paths are percent-decoded to find the file and re-encoded as
  encodeURIComponent does; a different encoding is a 307 too.
- `not_found_handling`: "single-page-application" serves /index.html with 200; "404-page" serves the
  nearest 404.html up the path with 404; "none" is an empty 404.
- Only GET and HEAD read files; another method on an asset path is 405.
- Routing: `run_worker_first: true` sends everything to the Worker; a list of globs (`/api/*`,
  `!/api/docs`) sends matching paths to it (a `!` rule wins). Otherwise a request with an asset goes to
  the asset and the rest to the Worker. For that check the not-found fallbacks count only for
  browser navigations (`Sec-Fetch-Mode: navigate`, from compatibility_date 2025-04-01), so `fetch()`
  calls to missing paths still reach the Worker.
- `_redirects` and `_headers` at the top of the directory are applied (runtime/server/asset_rules.py).
  Files matching `.assetsignore` (gitignore syntax) are not served, nor are `.assetsignore`,
  `_redirects` and `_headers` themselves unless it opts them back in (`!_headers`).

Files are read from disk on every request (hashes are cached by size and mtime), so an edited asset
is served at once, without a reload.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urljoin, urlsplit

from pyflows.runtime.server.asset_rules import Rules
from pyflows.runtime.surface.http import Headers, JsRequest, Request, Response

if TYPE_CHECKING:
    from pyflows.runtime.config.assets import AssetsConfig

__all__ = ["AssetServer", "content_type"]

CACHE_CONTROL = "public, max-age=0, must-revalidate"
NAVIGATION_FLAG_DATE = "2025-04-01"  # assets_navigation_prefers_asset_serving on by default
# Never served unless .assetsignore opts them back in (`!_headers`), as in Wrangler.
_DEFAULT_IGNORES = ("/.assetsignore", "/_redirects", "/_headers")

# The `mime` package's names for the extensions web projects ship (its "standard" and "other" sets).
# fmt: off
_MIME = {
    "html": "text/html", "htm": "text/html", "shtml": "text/html",
    "css": "text/css", "js": "text/javascript", "mjs": "text/javascript", "cjs": "application/node",
    "json": "application/json", "map": "application/json", "jsonld": "application/ld+json",
    "webmanifest": "application/manifest+json", "xml": "application/xml", "xsl": "application/xml",
    "txt": "text/plain", "text": "text/plain", "log": "text/plain", "ini": "text/plain",
    "csv": "text/csv", "md": "text/markdown", "markdown": "text/markdown", "yaml": "text/yaml",
    "yml": "text/yaml", "toml": "application/toml", "ics": "text/calendar", "vtt": "text/vtt",
    "rss": "application/rss+xml", "atom": "application/atom+xml",
    "svg": "image/svg+xml", "svgz": "image/svg+xml", "png": "image/png", "apng": "image/apng",
    "jpg": "image/jpeg", "jpeg": "image/jpeg", "jpe": "image/jpeg", "gif": "image/gif",
    "webp": "image/webp", "avif": "image/avif", "ico": "image/vnd.microsoft.icon", "bmp": "image/bmp",
    "tif": "image/tiff", "tiff": "image/tiff", "heic": "image/heic", "jxl": "image/jxl",
    "woff": "font/woff", "woff2": "font/woff2", "ttf": "font/ttf", "otf": "font/otf",
    "eot": "application/vnd.ms-fontobject", "wasm": "application/wasm", "pdf": "application/pdf",
    "zip": "application/zip", "gz": "application/gzip", "tar": "application/x-tar",
    "mp3": "audio/mpeg", "m4a": "audio/mp4", "wav": "audio/wav", "ogg": "audio/ogg", "oga": "audio/ogg",
    "opus": "audio/ogg", "flac": "audio/x-flac", "mp4": "video/mp4", "m4v": "video/x-m4v",
    "webm": "video/webm", "ogv": "video/ogg", "mov": "video/quicktime", "avi": "video/x-msvideo",
}
# fmt: on


def content_type(name: str) -> str | None:
    """The Content-Type Cloudflare sends for a file name, or None (no header) for an unknown one."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name.rsplit("/", 1)[-1] else ""
    mime = _MIME.get(ext)
    if mime is not None and mime.startswith("text/"):
        return f"{mime}; charset=utf-8"
    return mime


@dataclass(frozen=True)
class _Intent:
    """What a path resolves to: a file to serve (with its status), or a redirect target."""

    path: str | None = None  # asset path ("/a/index.html") when serving
    etag: str | None = None
    status: int = 200
    redirect: str | None = None


def _glob(rule: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(part) for part in rule.split("*")) + "$")


def _decode(pathname: str) -> str:
    return re.sub(
        r"/+", "/", "/".join(unquote(seg, errors="strict") if _decodable(seg) else seg for seg in pathname.split("/"))
    )


def _decodable(segment: str) -> bool:
    try:
        unquote(segment, errors="strict")
    except UnicodeDecodeError:
        return False
    return True


def _encode(pathname: str) -> str:
    return "/".join(quote(seg, safe="!~*'()") for seg in pathname.split("/"))


class AssetServer:
    """Serves one `assets.directory` (see the module docstring for the rules)."""

    def __init__(
        self, config: AssetsConfig, compatibility_date: str | None = None, compatibility_flags: tuple[str, ...] = ()
    ) -> None:
        self.config = config
        self.root = config.directory
        flags = set(compatibility_flags)
        self.navigation_prefers_assets = "assets_navigation_prefers_asset_serving" in flags or (
            (compatibility_date or "9999") >= NAVIGATION_FLAG_DATE and "assets_navigation_has_no_effect" not in flags
        )
        first = config.run_worker_first
        rules = first if isinstance(first, tuple) else ()
        self._worker_rules = [_glob(r) for r in rules if not r.startswith("!")]
        self._asset_rules = [_glob(r[1:]) for r in rules if r.startswith("!")]
        self._hashes: dict[Path, tuple[int, int, str]] = {}
        self.rules = Rules(self.root)
        self._ignore: tuple[tuple[int, int] | None, Any] = ((-1, -1), None)

    # Files -------------------------------------------------------------------------------------
    def _ignored(self, rel: str) -> bool:
        """Whether `.assetsignore` (gitignore syntax, plus the metafiles) hides `rel`."""
        import pathspec

        try:
            st = (self.root / ".assetsignore").stat()
            stamp: tuple[int, int] | None = (st.st_size, st.st_mtime_ns)
        except OSError:
            stamp = None
        if stamp != self._ignore[0] or self._ignore[1] is None:
            lines = list(_DEFAULT_IGNORES)
            if stamp is not None:
                lines += (self.root / ".assetsignore").read_text(encoding="utf-8", errors="replace").splitlines()
            self._ignore = (stamp, pathspec.GitIgnoreSpec.from_lines(lines))
        return bool(self._ignore[1].match_file(rel))

    def _file(self, path: str) -> Path | None:
        rel = path.lstrip("/")
        if not rel or "\x00" in rel:
            return None
        parts = rel.split("/")
        if any(p in ("", ".", "..") for p in parts):
            return None
        file = self.root.joinpath(*parts)
        if not file.is_file() or self._ignored(rel):
            return None
        return file

    def _etag(self, path: str) -> str | None:
        """The content hash of the asset at `path`, or None when there is none."""
        file = self._file(path)
        if file is None:
            return None
        try:
            st = file.stat()
        except OSError:
            return None
        cached = self._hashes.get(file)
        if cached is not None and cached[:2] == (st.st_size, st.st_mtime_ns):
            return cached[2]
        digest = hashlib.sha256(file.read_bytes()).hexdigest()[:32]
        self._hashes[file] = (st.st_size, st.st_mtime_ns, digest)
        return digest

    # Resolution (html_handling + not_found_handling) ----------------------------------------------
    def _serve(self, path: str, status: int = 200) -> _Intent | None:
        etag = self._etag(path)
        return None if etag is None else _Intent(path=path, etag=etag, status=status)

    def _redirect(self, file: str, destination: str, skip: bool, not_found: str) -> _Intent | None:
        """Redirect to `destination` only if it would serve the same content as `file`."""
        if skip or self._etag(destination) is not None:
            return None
        target = self._resolve(destination, not_found, skip=True)
        if target is not None and target.etag is not None and target.etag == self._etag(file):
            return _Intent(redirect=destination)
        return None

    def _resolve(self, p: str, not_found: str, *, skip: bool = False) -> _Intent | None:
        mode = self.config.html_handling

        def r(file: str, destination: str) -> _Intent | None:
            return self._redirect(file, destination, skip, not_found)

        exact = self._serve(p)
        found: _Intent | None = None
        if mode == "none":
            return exact or self._not_found(p, not_found)
        if mode == "auto-trailing-slash":
            if p.endswith("/index"):
                found = exact or r(p + ".html", p[:-5]) or r(p[:-6] + ".html", p[:-6])
            elif p.endswith("/index.html"):
                found = r(p, p[:-10]) or r(p[:-11] + ".html", p[:-11])
            elif p.endswith("/"):
                found = self._serve(p + "index.html") or r(p[:-1] + ".html", p[:-1])
            elif p.endswith(".html"):
                found = r(p, p[:-5]) or r(p[:-5] + "/index.html", p[:-5] + "/")
            return (
                found
                or exact
                or self._serve(p + ".html")
                or r(p + "/index.html", p + "/")
                or self._not_found(p, not_found)
            )
        if mode == "force-trailing-slash":
            if p.endswith("/index"):
                found = exact or r(p + ".html", p[:-5]) or r(p[:-6] + ".html", p[:-5])
            elif p.endswith("/index.html"):
                found = r(p, p[:-10]) or r(p[:-11] + ".html", p[:-10])
            elif p.endswith("/"):
                found = self._serve(p + "index.html") or self._serve(p[:-1] + ".html")
            elif p.endswith(".html"):
                found = r(p, p[:-5] + "/") or exact or r(p[:-5] + "/index.html", p[:-5] + "/")
            return (
                found
                or exact
                or r(p + ".html", p + "/")
                or r(p + "/index.html", p + "/")
                or self._not_found(p, not_found)
            )
        # drop-trailing-slash
        if p.endswith("/index"):
            if exact:
                found = exact
            elif p == "/index":
                found = r("/index.html", "/")
            else:
                found = r(p[:-6] + ".html", p[:-6]) or r(p + ".html", p[:-6])
        elif p.endswith("/index.html"):
            if p == "/index.html":
                found = r("/index.html", "/")
            else:
                found = r(p, p[:-11]) or exact or r(p[:-11] + ".html", p[:-11])
        elif p.endswith("/"):
            if p == "/":
                found = self._serve("/index.html")
            else:
                found = r(p[:-1] + ".html", p[:-1]) or r(p[:-1] + "/index.html", p[:-1])
        elif p.endswith(".html"):
            found = r(p, p[:-5]) or r(p[:-5] + "/index.html", p[:-5])
        return (
            found
            or exact
            or self._serve(p + ".html")
            or self._serve(p + "/index.html")
            or self._not_found(p, not_found)
        )

    def _not_found(self, p: str, not_found: str) -> _Intent | None:
        if not_found == "single-page-application":
            return self._serve("/index.html")
        if not_found == "404-page":
            cwd = p
            while cwd:
                cwd = cwd[: cwd.rfind("/")]
                page = self._serve(cwd + "/404.html", 404)
                if page is not None:
                    return page
        return None

    # Requests ------------------------------------------------------------------------------------
    def _outcome(self, request: Request, not_found: str) -> Response | _Intent | None:
        """None: no asset for this path; else a ready Response (redirect/405) or a file to serve."""
        url = urlsplit(request.url)
        pathname = url.path or "/"
        proxied = False
        rule = self.rules.redirect(url.netloc, pathname)
        if rule is not None:
            status, target = rule
            destination = urlsplit(urljoin(request.url, target))
            if status == 200:  # serve another asset at this URL
                pathname, proxied = destination.path or "/", True
            else:
                query = f"?{destination.query}" if destination.query else (f"?{url.query}" if url.query else "")
                fragment = f"#{destination.fragment}" if destination.fragment else ""
                if (destination.scheme, destination.netloc) == (url.scheme, url.netloc):
                    location = destination.path + query + fragment
                else:
                    location = destination._replace(query="", fragment="").geturl() + query + fragment
                return Response(None, status=status, headers={"Location": location})
        decoded = _decode(pathname)
        intent = self._resolve(decoded, not_found)
        if intent is None:
            return Response(None, status=404, status_text="Not Found") if proxied else None
        if str(request.method).upper() not in ("GET", "HEAD"):
            return Response(None, status=405, status_text="Method Not Allowed")
        destination_path = _encode(intent.redirect or decoded)
        if intent.redirect is not None or (destination_path != pathname and intent.path is not None):
            location = destination_path + (f"?{url.query}" if url.query else "")
            return Response(None, status=307, headers={"Location": location})
        return intent

    def routes_to_worker(self, request: Request, has_worker: bool) -> bool:
        """Whether the Worker (not the assets) answers `request`, as Cloudflare's router decides."""
        if not has_worker:
            return False
        path = urlsplit(request.url).path or "/"
        if any(rule.match(path) for rule in self._asset_rules):
            return False
        if self.config.run_worker_first is True or any(rule.match(path) for rule in self._worker_rules):
            return True
        navigation = self.navigation_prefers_assets and request.headers.get("sec-fetch-mode") == "navigate"
        not_found = self.config.not_found_handling if navigation else "none"
        return self._outcome(request, not_found) is None

    def fetch(self, request: Request) -> Response:
        """The asset for `request` (200/304/307/404/405), as `env.ASSETS.fetch(request)` answers,
        with the `_headers` rules that match it applied."""
        response = self._fetch(request)
        url = urlsplit(request.url)
        seen: set[str] = set()
        for _source, sets, unsets in self.rules.headers(url.netloc, url.path or "/"):
            for name in unsets:
                response.headers.delete(name)
            for name, value in sets:
                if name.lower() in seen:
                    response.headers.append(name, value)
                else:
                    response.headers.set(name, value)
                    seen.add(name.lower())
        return response

    def _fetch(self, request: Request) -> Response:
        outcome = self._outcome(request, self.config.not_found_handling)
        if outcome is None:
            return Response(None, status=404, status_text="Not Found")
        if isinstance(outcome, Response):
            return outcome
        assert outcome.path is not None and outcome.etag is not None
        headers = Headers({"ETag": f'"{outcome.etag}"'})
        kind = content_type(outcome.path)
        if kind is not None:
            headers.append("Content-Type", kind)
        if "authorization" not in request.headers and "range" not in request.headers:
            headers.append("Cache-Control", CACHE_CONTROL)
        strong = f'"{outcome.etag}"'
        if request.headers.get("if-none-match") in (strong, "W/" + strong):
            return Response(None, status=304, status_text="Not Modified", headers=headers)
        file = self._file(outcome.path)
        if file is None:
            return Response(None, status=404, status_text="Not Found")
        if str(request.method).upper() == "HEAD":  # no body, but the length the GET would have
            headers.append("Content-Length", str(file.stat().st_size))
            return Response(None, status=outcome.status, headers=headers)
        body = file.read_bytes()
        return Response(body, status=outcome.status, headers=headers)


def as_request(resource: Any) -> Request:
    """`env.ASSETS.fetch()` takes a Request, its `js_object`, or a URL string."""
    if isinstance(resource, Request):
        return resource
    if isinstance(resource, JsRequest):
        return resource.py_request
    if isinstance(resource, str):
        return Request(resource)
    raise TypeError(f"ASSETS.fetch() takes a Request or a URL string, not {type(resource).__name__}.")

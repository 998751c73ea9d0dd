"""`workers.Request`, `workers.Response`, `workers.Headers` and `workers.fetch` under CPython.

The surface follows workers-runtime-sdk 1.9.5 (reference/python-sdk.md §7):

- `Request.method` is an `http.HTTPMethod` (a StrEnum, so `request.method == "POST"`);
- `Request.headers` / `Response.headers` are case-insensitive and `headers["missing"]` is None;
- bodies are read once: `await request.text()` a second time raises `OSError("Body already used")`;
- `Response("text")` is `text/plain;charset=UTF-8`; a dict body is
  `TypeError("Unsupported type in Response: dict")` (use `Response.json`);
- `Response.json(data)` builds a JSON response when called on the class and parses the body when
  called on an instance (`await resp.json()`), as upstream's dual-use method does.

Bodies are plain bytes held in memory: a dev server reads the whole request before calling the
handler, and `fetch()` reads the whole response. A `ReadableStream` (runtime/surface/streams.py: an
R2 object's `body`, `KV.get(key, "stream")`) is taken as a Response body by reading it whole.
"""

from __future__ import annotations

import http
import json as _json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyflows.runtime.surface.streams import ReadableStream

__all__ = ["Headers", "JsBuffer", "JsHeaders", "JsRequest", "Request", "Response", "fetch"]

_TEXT = "text/plain;charset=UTF-8"
_JSON = "application/json"
_REDIRECT_STATUSES = (301, 302, 303, 307, 308)
_HOP_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class Headers(Mapping[str, str]):
    """Case-insensitive HTTP headers; a missing name gives None (`headers["x"]` never raises).

    Mapping methods (`get`, `in`, `items()`) see one comma-joined value per name, lower-cased
    names, like the JS `Headers` object. `get_all(name)` returns every value (Set-Cookie stays
    separate). JS-style `has`, `set`, `append`, `delete` and `entries()` also work.
    """

    __slots__ = ("_items",)

    def __init__(self, init: Any = None) -> None:
        self._items: list[tuple[str, str]] = []
        if init is None:
            return
        if isinstance(init, Headers):
            self._items = list(init._items)
            return
        pairs = init.items() if isinstance(init, Mapping) else init
        for pair in pairs:
            try:
                name, value = pair
            except (TypeError, ValueError):
                raise TypeError(
                    f"Headers must be a dict, a list of (name, value) pairs or Headers; got item {pair!r}."
                ) from None
            self.append(name, value)

    # Mapping protocol -------------------------------------------------------------------------
    def __getitem__(self, name: str) -> str | None:  # type: ignore[override]
        value: str | None = self.get(name)
        return value

    def get(self, name: str, default: Any = None) -> Any:
        values = self.get_all(name)
        if values is None:
            return default
        return ", ".join(values)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = name.lower()
        return any(n.lower() == key for n, _ in self._items)

    def __iter__(self) -> Iterator[str]:
        seen: dict[str, None] = {}
        for name, _ in self._items:
            seen.setdefault(name.lower(), None)
        return iter(sorted(seen))

    def __len__(self) -> int:
        return len({n.lower() for n, _ in self._items})

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self.items()) == {k.lower(): v for k, v in other.items()}
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    # HTTPMessage / JS Headers API ---------------------------------------------------------------
    def get_all(self, name: str, failobj: Any = None) -> Any:
        """Every value of `name` in order (like `http.client.HTTPMessage.get_all`)."""
        key = name.lower()
        values = [v for n, v in self._items if n.lower() == key]
        return values if values else failobj

    def has(self, name: str) -> bool:
        return name in self

    def set(self, name: str, value: str) -> None:
        self.delete(name)
        self.append(name, value)

    def append(self, name: str, value: Any) -> None:
        if not isinstance(name, str):
            raise TypeError(f"Header name must be a str, got {type(name).__name__}.")
        self._items.append((name, str(value)))

    def delete(self, name: str) -> None:
        key = name.lower()
        self._items = [(n, v) for n, v in self._items if n.lower() != key]

    def entries(self) -> Iterator[tuple[str, str]]:
        return iter(self.items())

    def raw(self) -> list[tuple[str, str]]:
        """The (name, value) pairs as given, for writing a response."""
        return list(self._items)

    def _setdefault(self, name: str, value: str) -> None:
        if name not in self:
            self.append(name, value)


class _Body:
    """What Request and Response share: a bytes body read at most once."""

    _body: bytes | None
    _body_used: bool
    headers: Headers

    @property
    def body(self) -> bytes | None:
        return self._body

    @property
    def body_used(self) -> bool:
        return self._body_used

    def _take(self) -> bytes:
        if self._body_used:
            raise OSError("Body already used")
        self._body_used = True
        return self._body or b""

    async def bytes(self) -> bytes:
        """The body as bytes (marks the body used)."""
        return self._take()

    async def text(self) -> str:
        """The body decoded as UTF-8 (marks the body used)."""
        return self._take().decode("utf-8", errors="replace")

    async def buffer(self) -> JsBuffer:
        """The body as an ArrayBuffer stand-in: bytes with `.to_bytes()` (marks the body used)."""
        return JsBuffer(self._take())

    async def arrayBuffer(self) -> JsBuffer:  # noqa: N802 - the JS name
        return JsBuffer(self._take())

    async def memoryview(self) -> memoryview:
        return memoryview(self._take())

    async def string(self) -> str:
        return await self.text()

    async def _parse_json(self, **kwargs: Any) -> Any:
        return _json.loads(self._take(), **kwargs)


def _method(value: Any) -> http.HTTPMethod | str:
    text = str(value).upper()
    try:
        return http.HTTPMethod(text)
    except ValueError:
        return text  # an extension method; still compares equal to its name


def _body_bytes(body: Any, headers: Headers) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, str):
        headers._setdefault("content-type", _TEXT)
        return body.encode("utf-8")
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    from pyflows.runtime.surface.streams import ReadableStream  # it imports JsBuffer from here

    if isinstance(body, ReadableStream):  # e.g. an R2 object's body, or KV.get(key, "stream")
        return body.read_all()
    raise TypeError(f"Unsupported type in Response: {type(body).__name__}")


class Request(_Body):
    """An incoming (or outgoing) HTTP request: `url`, `method`, `headers`, async body readers."""

    method: http.HTTPMethod | str
    cf: Any
    redirect: str

    def __init__(
        self,
        input: str | Request,  # noqa: A002 - upstream's name
        *,
        method: str | http.HTTPMethod | None = None,
        headers: Any = None,
        body: str | bytes | None = None,
        redirect: str | None = None,
        cf: Any = None,
        **_: Any,
    ) -> None:
        if isinstance(input, JsRequest):
            input = input.py_request  # noqa: A001
        if isinstance(input, Request):
            base = input
            self.url: str = base.url
            self.method = _method(method or base.method)
            self.headers = Headers(headers if headers is not None else base.headers)
            self._body = (body.encode() if isinstance(body, str) else body) if body is not None else base._body
            self.cf = cf if cf is not None else base.cf
            self.redirect = redirect or base.redirect
        else:
            self.url = str(input)
            self.method = _method(method or "GET")
            self.headers = Headers(headers)
            if isinstance(body, str):
                body = body.encode("utf-8")
            elif body is not None and not isinstance(body, bytes | bytearray | memoryview):
                raise TypeError(f"Unsupported type in Request body: {type(body).__name__}")
            self._body = bytes(body) if body is not None else None
            self.cf = cf
            self.redirect = redirect or "follow"
        self._body_used = False

    async def json(self, **kwargs: Any) -> Any:
        """`json.loads` of the body: a plain dict/list (marks the body used)."""
        return await self._parse_json(**kwargs)

    async def form_data(self) -> dict[str, list[str]]:
        from urllib.parse import parse_qs

        return parse_qs(await self.text())

    def clone(self) -> Request:
        if self._body_used:
            raise OSError("Body already used")
        return Request(self)

    @property
    def js_object(self) -> JsRequest:
        """The request as JavaScript code sees it (`asgi.fetch(app, request.js_object, env)`)."""
        return JsRequest(self)

    # The SDK's private name for the same object; django-cf reads `request._js_request.arrayBuffer()`.
    _js_request = js_object

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.url}>"


class JsBuffer(bytes):
    """An ArrayBuffer/Uint8Array stand-in: bytes that also answer Pyodide's `to_bytes()` & co."""

    def to_bytes(self) -> bytes:
        return bytes(self)

    def to_py(self) -> bytes:
        return bytes(self)

    def to_memoryview(self) -> memoryview:
        return memoryview(self)

    @property
    def byteLength(self) -> int:  # noqa: N802 - the JS name
        return len(self)


class JsHeaders:
    """A JS `Headers` view: iterating gives `[name, value]` pairs (`for k, v in js_request.headers`)."""

    __slots__ = ("py_headers",)

    def __init__(self, headers: Headers) -> None:
        self.py_headers = headers

    def __iter__(self) -> Iterator[list[str]]:
        return iter([[k, v] for k, v in self.py_headers.items()])

    def get(self, name: str) -> str | None:
        value: str | None = self.py_headers.get(name)
        return value

    def has(self, name: str) -> bool:
        return name in self.py_headers

    def set(self, name: str, value: str) -> None:
        self.py_headers.set(name, value)

    def append(self, name: str, value: str) -> None:
        self.py_headers.append(name, value)

    def delete(self, name: str) -> None:
        self.py_headers.delete(name)

    def entries(self) -> Iterator[list[str]]:
        return iter(self)

    def keys(self) -> Iterator[str]:
        return iter(self.py_headers)

    def values(self) -> Iterator[str]:
        return iter(self.py_headers.values())

    def to_py(self) -> dict[str, str]:
        return dict(self.py_headers.items())


class JsRequest:
    """`request.js_object`: the same request with JavaScript's surface (camelCase, `[k, v]` headers).

    Accepted wherever a `workers.Request` is (asgi.fetch, wsgi.fetch, env.ASSETS.fetch, Request()).
    """

    __slots__ = ("py_request",)

    def __init__(self, request: Request) -> None:
        self.py_request = request

    @property
    def url(self) -> str:
        return self.py_request.url

    @property
    def method(self) -> str:
        return str(self.py_request.method)

    @property
    def headers(self) -> JsHeaders:
        return JsHeaders(self.py_request.headers)

    @property
    def body(self) -> bytes | None:
        return self.py_request.body

    @property
    def bodyUsed(self) -> bool:  # noqa: N802 - the JS name
        return self.py_request.body_used

    @property
    def cf(self) -> Any:
        return self.py_request.cf

    async def text(self) -> str:
        return await self.py_request.text()

    async def json(self) -> Any:
        return await self.py_request.json()

    async def arrayBuffer(self) -> JsBuffer:  # noqa: N802 - the JS name
        return await self.py_request.arrayBuffer()

    async def bytes(self) -> bytes:
        return await self.py_request.bytes()

    def clone(self) -> JsRequest:
        return JsRequest(self.py_request.clone())

    def to_py(self) -> Request:
        return self.py_request

    def __repr__(self) -> str:
        return f"<JsRequest {self.method} {self.url}>"


class _DualJson:
    """`Response.json(data, ...)` on the class builds a response; `await resp.json()` parses."""

    def __get__(self, obj: Response | None, objtype: type[Response]) -> Any:
        if obj is None:

            def json(data: Any, status: int = 200, status_text: str = "", headers: Any = None) -> Response:
                """A JSON response: `json.dumps(data)`, content-type application/json."""
                return objtype._from_json(data, status=status, status_text=status_text, headers=headers)

            return json
        return obj._parse_json


class Response(_Body):
    """An HTTP response a handler returns (or `fetch()` gives back)."""

    json = _DualJson()

    def __init__(
        self,
        body: str | bytes | ReadableStream | None = None,
        status: int | http.HTTPStatus | None = 200,
        status_text: str = "",
        headers: Any = None,
        web_socket: Any = None,
    ) -> None:
        self.headers = Headers(headers)
        self._body = _body_bytes(body, self.headers)
        self._body_used = False
        code = 200 if status is None else int(status)
        if not 200 <= code <= 599:
            raise ValueError(f"Response status {code} is out of range: use 200-599.")
        self.status = code
        self.status_text = status_text or status_phrase(code)
        self.url = ""
        self.redirected = False
        self.type = "default"

    @classmethod
    def _from_json(cls, data: Any, *, status: int = 200, status_text: str = "", headers: Any = None) -> Response:
        hdrs = Headers(headers)
        hdrs._setdefault("content-type", _JSON)
        return cls(_json.dumps(data), status=status, status_text=status_text, headers=hdrs)

    @classmethod
    def from_json(cls, data: Any, status: int = 200, status_text: str = "", headers: Any = None) -> Response:
        """Alias of the class-level `Response.json(data, ...)`."""
        return cls._from_json(data, status=status, status_text=status_text, headers=headers)

    @staticmethod
    def redirect(url: str, status: int = 302) -> Response:
        """A redirect to `url` (301, 302, 303, 307 or 308)."""
        if status not in _REDIRECT_STATUSES:
            raise ValueError(f"Invalid redirect status {status}: use one of {', '.join(map(str, _REDIRECT_STATUSES))}.")
        return Response(None, status=status, headers={"location": str(url)})

    @property
    def ok(self) -> bool:
        return 200 <= self.status <= 299

    def raise_for_status(self) -> None:
        if not self.ok:
            raise OSError(f"{self.status} {self.status_text}: {self.url or 'response'}")

    def clone(self) -> Response:
        if self._body_used:
            raise OSError("Body already used")
        copy = Response(self._body, status=self.status, status_text=self.status_text, headers=self.headers)
        copy.url, copy.redirected = self.url, self.redirected
        return copy

    @property
    def js_object(self) -> Response:
        """Pyodide code returns `response.js_object`; under CPython it is the response itself."""
        return self

    def replace_body(self, body: str | bytes | None) -> Response:
        return Response(body, status=self.status, status_text=self.status_text, headers=self.headers)

    def __repr__(self) -> str:
        return f"<Response [{self.status}]>"


def status_phrase(code: int) -> str:
    """The standard reason phrase ("Not Found"), or "" for a code without one."""
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return ""


async def fetch(resource: str | Request, **kwargs: Any) -> Response:
    """Outbound HTTP like the Workers `fetch`: `await fetch(url, method=..., headers=..., body=...)`.

    `redirect="manual"` does not follow redirects. The whole response body is read.
    """
    import httpx  # only Workers that call fetch() pay for httpx

    req = Request(resource, **kwargs) if kwargs or not isinstance(resource, Request) else resource
    async with httpx.AsyncClient(follow_redirects=req.redirect != "manual") as client:
        reply = await client.request(str(req.method), req.url, headers=req.headers.raw(), content=req._body)
    out = Response(
        reply.content,
        status=reply.status_code,
        status_text=reply.reason_phrase,
        # httpx already decoded the body: the framing headers no longer describe it.
        headers=[(k, v) for k, v in reply.headers.multi_items() if k.lower() not in _HOP_HEADERS],
    )
    out.url = str(reply.url)
    out.redirected = bool(reply.history)
    return out

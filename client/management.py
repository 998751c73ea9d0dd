"""The CLI's one HTTP client for the workflows management API, local or remote.

Two servers speak the same shapes (SPEC §5, `reference/wrangler-local-dev.md` §2):

* **local** (`--local`): the Local Explorer API of a `pyflows dev` or `wrangler dev` session,
  `http://localhost:<port>/cdn-cgi/local/explorer/api/workflows...`;
* **remote**: the Cloudflare REST API,
  `https://api.cloudflare.com/client/v4/accounts/<account id>/workflows...` with
  `Authorization: Bearer $CLOUDFLARE_API_TOKEN`; the account id is `CLOUDFLARE_ACCOUNT_ID`, else the
  config's `account_id` (as Wrangler reads them). `PYFLOWS_API_BASE_URL` replaces
  `https://api.cloudflare.com/client/v4` (tests point it at a local stand-in). Instance lists page
  with Cloudflare's cursors (`result_info.cursor`, sent back as `?cursor=`; `page` is deprecated
  there), so page N of `instances list` is reached by following N - 1 cursors.

Every answer is an envelope `{"success", "errors", "messages", "result", "result_info"?}`; callers
get `result` (and `result_info`) or a `ClientError` whose message is what the user reads:
`Local API error: <errors[0].message>` (remote: `API error: ...`), `... HTTP <status>` when the
body is not an envelope, or "no dev session on port N" when nothing listens there.

Start-up time is a requirement (issue 5: one `instances list --local` in <= 0.25 s including the
interpreter). `import httpx` alone costs ~100 ms here, so the loopback path uses the standard
library's `http.client` (~20 ms to import, plenty for one request to 127.0.0.1 with no TLS, proxies
or redirects). The remote path needs TLS, proxies and certificates done properly, so it imports
httpx lazily, only when it is used. Tests inject any `Transport` (see `HttpxTransport`, which also
wraps `starlette.testclient.TestClient`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import quote, unquote, urlencode, urlsplit

from pyflows import __version__
from pyflows.runtime.errors import ApiError, ClientError
from pyflows.runtime.protocol.defaults import API_PREFIX, DEFAULT_PORT

if TYPE_CHECKING:  # pragma: no cover
    import httpx

CLOUDFLARE_API_BASE = "https://api.cloudflare.com/client/v4"
TIMEOUT_S = 60.0
TOKEN_HELP_URL = "https://developers.cloudflare.com/fundamentals/api/get-started/create-token/"

StatusAction = Literal["pause", "resume", "restart", "terminate"]


@dataclass(frozen=True)
class RawResponse:
    """What a transport hands back: the status code, the body bytes and the content encoding."""

    status: int
    body: bytes
    content_encoding: str = ""


class TransportFailure(Exception):
    """The request never got an HTTP answer (connection refused, timeout, DNS...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Transport(Protocol):
    """Sends one request. Raise `TransportFailure` when no HTTP response came back."""

    def send(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> RawResponse: ...

    def close(self) -> None: ...


class LoopbackTransport:
    """`http.client` over one kept-alive connection (two requests for `latest`: list, then act)."""

    def __init__(self, *, timeout: float = TIMEOUT_S) -> None:
        self._timeout = timeout
        self._conn: Any = None
        self._netloc = ""

    def send(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> RawResponse:
        import http.client

        parts = urlsplit(url)
        if self._conn is None or self._netloc != parts.netloc:
            self.close()
            self._conn = http.client.HTTPConnection(parts.hostname or "localhost", parts.port, timeout=self._timeout)
            self._netloc = parts.netloc
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            self._conn.request(method, target, body=body, headers=dict(headers))
            resp = self._conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise TransportFailure(_describe_os_error(exc)) from exc
        return RawResponse(resp.status, data, resp.getheader("content-encoding", "") or "")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class HttpxTransport:
    """Any `httpx.Client` (including `starlette.testclient.TestClient`) as a transport."""

    def __init__(self, client: httpx.Client | None = None, *, timeout: float = TIMEOUT_S) -> None:
        if client is None:
            import httpx  # only the remote path pays for httpx (~100 ms of imports)

            client = httpx.Client(timeout=timeout)
        self._client = client

    def send(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> RawResponse:
        import httpx

        try:
            resp = self._client.request(method, url, headers=dict(headers), content=body)
        except httpx.TransportError as exc:
            raise TransportFailure(str(exc) or type(exc).__name__) from exc
        # httpx already decoded any Content-Encoding; report none.
        return RawResponse(resp.status_code, resp.content)

    def close(self) -> None:
        self._client.close()


def _describe_os_error(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def _segment(value: str) -> str:
    """One path segment, encoded like JavaScript's encodeURIComponent (as Wrangler does)."""
    return quote(value, safe="-_.!~*'()")


@dataclass(frozen=True)
class Envelope:
    """The useful parts of a successful answer."""

    result: Any
    result_info: dict[str, Any] | None = None


class ManagementClient:
    """Calls the management API and unwraps its envelopes. Build one with `local()` or `remote()`."""

    def __init__(
        self,
        *,
        base_url: str,
        transport: Transport,
        local: bool,
        port: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.local = local
        self.port = port
        self._transport = transport
        self._headers = {
            "Accept": "application/json",
            "User-Agent": f"pyflows/{__version__}",
            **(headers or {}),
        }

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def for_local(cls, port: int = DEFAULT_PORT, *, transport: Transport | None = None) -> ManagementClient:
        """A client for the dev session on `localhost:<port>` (what `--local --port N` means)."""
        if not 0 < port < 65536:
            raise ClientError(f"--port {port} is not a TCP port: use a number from 1 to 65535 (default 8787).")
        return cls(
            base_url=f"http://localhost:{port}{API_PREFIX}",
            transport=transport or LoopbackTransport(),
            local=True,
            port=port,
        )

    @classmethod
    def for_remote(
        cls,
        *,
        env: Mapping[str, str] | None = None,
        transport: Transport | None = None,
        account_id: str | None = None,
    ) -> ManagementClient:
        """A client for the Cloudflare API, from CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID.

        `account_id` is the config's `account_id`, used when CLOUDFLARE_ACCOUNT_ID is not set.
        """
        env = os.environ if env is None else env
        token = env.get("CLOUDFLARE_API_TOKEN", "").strip()
        if not token:
            raise ClientError(
                "No Cloudflare API token: without --local, pyflows talks to the Cloudflare API and needs "
                "the CLOUDFLARE_API_TOKEN environment variable (create a token with Workflows permissions "
                f"at {TOKEN_HELP_URL}). To use a local `pyflows dev` session instead, pass --local."
            )
        account = env.get("CLOUDFLARE_ACCOUNT_ID", "").strip() or (account_id or "").strip()
        if not account:
            raise ClientError(
                "No Cloudflare account id: without --local, pyflows needs the CLOUDFLARE_ACCOUNT_ID "
                'environment variable or "account_id" in wrangler.jsonc / wrangler.toml (the 32-character '
                "id on your dashboard's Workers overview). To use a local `pyflows dev` session instead, "
                "pass --local."
            )
        root = env.get("PYFLOWS_API_BASE_URL", "").strip() or CLOUDFLARE_API_BASE
        return cls(
            base_url=f"{root.rstrip('/')}/accounts/{_segment(account)}",
            transport=transport or HttpxTransport(),
            local=False,
            headers={"Authorization": f"Bearer {token}"},
        )

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> ManagementClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the one request path -----------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        json_body: Any = None,
        raw_body: str | None = None,
    ) -> Envelope:
        """One request; the unwrapped envelope, or a `ClientError` the user can act on."""
        url = self.base_url + path
        if query:
            url += "?" + urlencode(dict(query), quote_via=quote)
        headers = dict(self._headers)
        body: bytes | None = None
        if raw_body is not None:
            body = raw_body.encode()
        elif json_body is not None:
            body = json.dumps(json_body, separators=(",", ":"), ensure_ascii=False).encode()
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            raw = self._transport.send(method, url, headers, body)
        except TransportFailure as exc:
            raise self._unreachable(exc.reason) from None
        try:
            return self._unwrap(raw)
        except ApiError as exc:
            hint = self._not_found_hint(path, exc) if self.local and exc.status == 404 else None
            if hint is None:
                raise
            raise ApiError(f"{exc} {hint}", status=exc.status, code=exc.code) from None

    def _not_found_hint(self, path: str, exc: ApiError) -> str | None:
        """What to do after a local 404 for a workflow or an instance (the API keeps Wrangler's text)."""
        parts = path.split("/")
        if len(parts) < 3 or parts[1] != "workflows":
            return None
        workflow = unquote(parts[2])
        flags = local_flags(self.port or DEFAULT_PORT)
        if "instance" in str(exc).lower():
            return f"List its instances with `pyflows workflows instances list {workflow} {flags}`."
        try:
            names = [w.get("name") for w in self.list_workflows().result or [] if isinstance(w, dict)]
        except ClientError:
            return None
        if not names:
            return "This dev session has no Workflows: check `workflows` in its wrangler config."
        known = ", ".join(sorted(str(n) for n in names))
        return f"Workflows in this dev session: {known} (`pyflows workflows list {flags}`)."

    def _unreachable(self, reason: str) -> ClientError:
        if self.local:
            return ClientError(
                f"Could not connect to local dev session on port {self.port}: no `pyflows dev` (or "
                f"`wrangler dev`) is running there. Start one with `pyflows dev --port {self.port}`, or "
                f"pass --port with the port your session uses.\n\n    {reason}",
                port=self.port,
            )
        return ClientError(
            f"Could not reach the Cloudflare API at {self.base_url}: {reason}. Check your network "
            "connection (and PYFLOWS_API_BASE_URL if you set it), or pass --local to use a dev session."
        )

    def _unwrap(self, raw: RawResponse) -> Envelope:
        prefix = "Local API error" if self.local else "API error"
        data = raw.body
        if raw.content_encoding.lower() in ("gzip", "x-gzip", "deflate"):
            import zlib

            data = zlib.decompress(data, 47)  # 32 + 15: accept zlib or gzip headers
        payload: Any = None
        try:
            payload = json.loads(data) if data else None
        except ValueError:
            payload = None
        envelope = payload if isinstance(payload, dict) and "success" in payload else None
        message = _first_error(envelope)
        code = _first_code(envelope)
        if not 200 <= raw.status < 300:
            raise ApiError(f"{prefix}: {message or f'HTTP {raw.status}'}", status=raw.status, code=code)
        if envelope is None:
            raise ApiError(
                f"{prefix}: HTTP {raw.status} with a body that is not a Cloudflare API envelope; is "
                "something other than a dev session answering on this address?",
                status=raw.status,
            )
        if not envelope.get("success"):
            raise ApiError(f"{prefix}: {message or 'Unknown API error'}", status=raw.status, code=code)
        info = envelope.get("result_info")
        return Envelope(envelope.get("result"), info if isinstance(info, dict) else None)

    # -- endpoints ----------------------------------------------------------------------------

    def list_workflows(self, *, page: int | None = None, per_page: int | None = None) -> Envelope:
        query: dict[str, str] = {}
        if not self.local:  # the local API lists all workflows; Wrangler sends no paging there
            if per_page is not None:
                query["per_page"] = str(per_page)
            query["page"] = str(page or 1)
        return self.call("GET", "/workflows", query=query)

    def get_workflow(self, name: str) -> Any:
        return self.call("GET", f"/workflows/{_segment(name)}").result

    def delete_workflow(self, name: str) -> Any:
        return self.call("DELETE", f"/workflows/{_segment(name)}").result

    def create_instance(self, name: str, *, instance_id: str | None, params_json: str | None) -> Any:
        """POST a new instance. `params_json` is already-validated JSON text, sent verbatim."""
        parts = []
        if instance_id is not None:
            # The local API reads `id`; the Cloudflare API reads `instance_id`.
            key = "id" if self.local else "instance_id"
            parts.append(f"{json.dumps(key)}:{json.dumps(instance_id, ensure_ascii=False)}")
        if params_json is not None:
            parts.append(f'"params":{params_json}')
        return self.call("POST", f"/workflows/{_segment(name)}/instances", raw_body="{" + ",".join(parts) + "}").result

    def list_instances(
        self,
        name: str,
        *,
        status: str | None = None,
        date_start: str | None = None,
        date_end: str | None = None,
        per_page: int | None = None,
        page: int | None = None,
    ) -> Envelope:
        # Same query order as Wrangler: status, date_start, date_end, per_page, page.
        query: dict[str, str] = {}
        if status is not None:
            query["status"] = status
        if date_start is not None:
            query["date_start"] = date_start
        if date_end is not None:
            query["date_end"] = date_end
        if per_page is not None:
            query["per_page"] = str(per_page)
        path = f"/workflows/{_segment(name)}/instances"
        if self.local:
            if page is not None:
                query["page"] = str(page)
            return self.call("GET", path, query=query)
        return self._follow_cursors(path, query, page or 1)

    def _follow_cursors(self, path: str, query: dict[str, str], page: int) -> Envelope:
        """Page `page` of a Cloudflare list: follow `result_info.cursor` from the first page.

        A first page without a `cursor` key comes from a server that pages by number: it is asked for
        `page` directly. A later page without a cursor means the list ended: an empty page.
        """
        envelope = self.call("GET", path, query=query)
        if page > 1 and "cursor" not in (envelope.result_info or {}):
            return self.call("GET", path, query={**query, "page": str(page)})
        for _ in range(1, page):
            info = envelope.result_info or {}
            cursor = info.get("cursor")
            if not cursor:
                return Envelope([], {**info, "page": page, "count": 0})
            envelope = self.call("GET", path, query={**query, "cursor": str(cursor)})
        return envelope

    def get_instance(self, name: str, instance_id: str) -> Any:
        return self.call("GET", f"/workflows/{_segment(name)}/instances/{_segment(instance_id)}").result

    def change_status(
        self,
        name: str,
        instance_id: str,
        action: StatusAction,
        *,
        restart_from: Mapping[str, Any] | None = None,
        rollback: bool = False,
    ) -> Any:
        body: dict[str, Any] = {"status": action}
        if restart_from:
            body["from"] = dict(restart_from)
        if rollback and action == "terminate":
            body["rollback"] = True
        path = f"/workflows/{_segment(name)}/instances/{_segment(instance_id)}/status"
        return self.call("PATCH", path, json_body=body).result

    def send_event(self, name: str, instance_id: str, event_type: str, payload_json: str) -> Any:
        """POST an event; the validated payload text is the body, verbatim (as Wrangler sends it)."""
        path = f"/workflows/{_segment(name)}/instances/{_segment(instance_id)}/events/{_segment(event_type)}"
        return self.call("POST", path, raw_body=payload_json).result

    def delete_instances(self, name: str, ids: list[str]) -> Any:
        return self.call(
            "POST", f"/workflows/{_segment(name)}/instances/batch/delete", json_body={"instances": ids}
        ).result

    # -- pyflows extensions (only a `pyflows dev` session has them: explorer/extensions.py) ------

    def _extension(self, what: str) -> None:
        if not self.local:
            raise ClientError(
                f"{what} is a pyflows dev extension: the Cloudflare API has no equivalent. Pass --local to use "
                "a local `pyflows dev` session."
            )

    def wake_instance(self, name: str, instance_id: str) -> Any:
        """End the instance's current sleep, retry delay or event-wait timeout now -> {"woken": n}."""
        self._extension("Waking an instance")
        path = f"/pyflows/workflows/{_segment(name)}/instances/{_segment(instance_id)}/wake"
        return self.call("POST", path, json_body={}).result

    def workflow_diagram(self, name: str) -> Any:
        """The workflow's diagram as the dev session draws it from the loaded class's source."""
        self._extension("Drawing a workflow from the dev session")
        return self.call("GET", f"/pyflows/workflows/{_segment(name)}/diagram").result

    def latest_instance_id(self, name: str) -> str:
        """The id of the newest instance by `created_on` (what `ID=latest` means)."""
        rows = self.call("GET", f"/workflows/{_segment(name)}/instances").result or []
        if not rows:
            where = "" if self.local else "deployed "
            hint = trigger_hint(name, local=self.local, port=self.port or DEFAULT_PORT)
            raise ClientError(
                f'There are no {where}instances in workflow "{name}", so there is no latest one. '
                f'Trigger one with "{hint}".'
            )
        rows = sorted(rows, key=lambda row: str(row.get("created_on") or ""), reverse=True)
        return str(rows[0]["id"])


def _first_error(envelope: Mapping[str, Any] | None) -> str | None:
    errors = envelope.get("errors") if envelope else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        message = errors[0].get("message")
        return str(message) if message is not None else None
    return None


def _first_code(envelope: Mapping[str, Any] | None) -> int | None:
    errors = envelope.get("errors") if envelope else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        code = errors[0].get("code")
        return code if isinstance(code, int) else None
    return None


def local_flags(port: int) -> str:
    """`--local`, with `--port N` unless N is the default: how a hint addresses this dev session."""
    return "--local" if port == DEFAULT_PORT else f"--local --port {port}"


def trigger_hint(name: str, *, local: bool, port: int) -> str:
    """The command that creates an instance, for "there is no latest one" hints."""
    flags = f" {local_flags(port)}" if local else ""
    return f"pyflows workflows trigger {name}{flags}"

"""runtime/client.py in-process: envelopes, error messages, URLs and headers, injected transports."""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from typing import Any

import pytest
from pyflows.client.management import (
    HttpxTransport,
    ManagementClient,
    RawResponse,
    TransportFailure,
)
from pyflows.runtime.errors import ApiError, ClientError
from pyflows.runtime.protocol.defaults import API_PREFIX


class FakeTransport:
    """Answers every request with one canned response and remembers what was sent."""

    def __init__(self, response: RawResponse | Exception) -> None:
        self.response = response
        self.sent: list[tuple[str, str, dict[str, str], bytes | None]] = []

    def send(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> RawResponse:
        self.sent.append((method, url, dict(headers), body))
        if isinstance(self.response, Exception):
            raise self.response
        return self.response

    def close(self) -> None:
        pass


def envelope(result: Any = None, *, success: bool = True, errors: list[dict[str, Any]] | None = None) -> bytes:
    return json.dumps({"success": success, "errors": errors or [], "messages": [], "result": result}).encode()


def local(response: RawResponse | Exception, port: int = 8787) -> tuple[ManagementClient, FakeTransport]:
    transport = FakeTransport(response)
    return ManagementClient.for_local(port, transport=transport), transport


def test_result_and_url() -> None:
    client, transport = local(RawResponse(200, envelope([{"name": "wf"}])))
    assert client.list_workflows(page=3, per_page=5).result == [{"name": "wf"}]
    method, url, headers, body = transport.sent[0]
    assert (method, url, body) == ("GET", f"http://localhost:8787{API_PREFIX}/workflows", None)
    assert "Authorization" not in headers


def test_names_are_encoded_like_encode_uri_component() -> None:
    client, transport = local(RawResponse(200, envelope({"success": True})))
    client.send_event("my wf", "id/1", "a b!", '{"x":1}')
    method, url, headers, body = transport.sent[0]
    assert url.endswith("/workflows/my%20wf/instances/id%2F1/events/a%20b!")
    assert (method, body, headers["Content-Type"]) == ("POST", b'{"x":1}', "application/json")


def test_error_envelope_becomes_local_api_error() -> None:
    body = envelope(success=False, errors=[{"code": 10501, "message": "Workflow 'x' not found."}])
    client, _ = local(RawResponse(404, body))
    with pytest.raises(ApiError) as caught:
        client.get_workflow("x")
    assert str(caught.value) == "Local API error: Workflow 'x' not found."
    assert (caught.value.status, caught.value.code) == (404, 10501)


def test_non_envelope_error_reports_the_status() -> None:
    client, _ = local(RawResponse(403, b"Invalid Host header"))
    with pytest.raises(ApiError, match=r"^Local API error: HTTP 403$"):
        client.get_workflow("x")


def test_success_false_inside_a_200() -> None:
    client, _ = local(RawResponse(200, envelope(success=False, errors=[{"code": 1, "message": "nope"}])))
    with pytest.raises(ApiError, match=r"^Local API error: nope$"):
        client.get_workflow("x")


def test_a_200_that_is_not_an_envelope() -> None:
    client, _ = local(RawResponse(200, b"<html>hello</html>"))
    with pytest.raises(ApiError, match="not a Cloudflare API envelope"):
        client.get_workflow("x")


def test_gzip_bodies_are_decoded() -> None:
    client, _ = local(RawResponse(200, gzip.compress(envelope({"id": "a"})), "gzip"))
    assert client.create_instance("wf", instance_id=None, params_json=None) == {"id": "a"}


def test_no_session_on_the_port() -> None:
    client, _ = local(TransportFailure("connection refused"), port=9999)
    with pytest.raises(ClientError) as caught:
        client.list_workflows()
    message = str(caught.value)
    assert message.startswith("Could not connect to local dev session on port 9999: no `pyflows dev`")
    assert "`pyflows dev --port 9999`" in message
    assert message.endswith("\n\n    connection refused")


def test_the_loopback_transport_against_a_closed_port() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ClientError, match=f"port {port}"):
        ManagementClient.for_local(port).list_workflows()


def test_bad_port() -> None:
    with pytest.raises(ClientError, match=r"--port 70000 is not a TCP port"):
        ManagementClient.for_local(70000)


def test_create_instance_body_keeps_params_verbatim() -> None:
    client, transport = local(RawResponse(200, envelope({"id": "x"})))
    client.create_instance("wf", instance_id="x", params_json='{"b": 1.0, "a": [1,2]}')
    assert transport.sent[0][3] == b'{"id":"x","params":{"b": 1.0, "a": [1,2]}}'


def test_change_status_body() -> None:
    client, transport = local(RawResponse(200, envelope({"status": "queued"})))
    client.change_status("wf", "i", "restart", restart_from={"name": "s", "count": 2})
    client.change_status("wf", "i", "terminate", rollback=True)
    client.change_status("wf", "i", "pause", rollback=True)  # rollback only ever goes with terminate
    bodies = [json.loads(sent[3] or b"") for sent in transport.sent]
    assert bodies == [
        {"status": "restart", "from": {"name": "s", "count": 2}},
        {"status": "terminate", "rollback": True},
        {"status": "pause"},
    ]


def test_latest_is_the_newest_created_on() -> None:
    rows = [
        {"id": "old", "created_on": "2026-01-01T00:00:00.000Z"},
        {"id": "phantom"},
        {"id": "new", "created_on": "2026-01-02T00:00:00.000Z"},
    ]
    client, transport = local(RawResponse(200, envelope(rows)))
    assert client.latest_instance_id("wf") == "new"
    assert transport.sent[0][1].endswith("/workflows/wf/instances")  # unfiltered, no query


def test_latest_without_instances() -> None:
    client, _ = local(RawResponse(200, envelope([])), port=9000)
    with pytest.raises(ClientError) as caught:
        client.latest_instance_id("wf")
    assert str(caught.value) == (
        'There are no instances in workflow "wf", so there is no latest one. '
        'Trigger one with "pyflows workflows trigger wf --local --port 9000".'
    )


REMOTE_ENV = {
    "CLOUDFLARE_API_TOKEN": "t0k",
    "CLOUDFLARE_ACCOUNT_ID": "acc",
    "PYFLOWS_API_BASE_URL": "http://x/v4",
}


def test_remote_url_token_and_trigger_key() -> None:
    transport = FakeTransport(RawResponse(200, envelope({"id": "r"})))
    client = ManagementClient.for_remote(env=REMOTE_ENV, transport=transport)
    client.create_instance("wf", instance_id="r", params_json=None)
    client.list_workflows()
    (_, url, headers, body), (_, list_url, _, _) = transport.sent
    assert url == "http://x/v4/accounts/acc/workflows/wf/instances"
    assert headers["Authorization"] == "Bearer t0k"
    assert body == b'{"instance_id":"r"}'
    assert list_url == "http://x/v4/accounts/acc/workflows?page=1"


def test_remote_errors_say_api_error() -> None:
    body = envelope(success=False, errors=[{"code": 10000, "message": "Authentication error"}])
    client = ManagementClient.for_remote(env=REMOTE_ENV, transport=FakeTransport(RawResponse(403, body)))
    with pytest.raises(ApiError, match=r"^API error: Authentication error$"):
        client.list_workflows()


def test_default_remote_base() -> None:
    env = {"CLOUDFLARE_API_TOKEN": "t", "CLOUDFLARE_ACCOUNT_ID": "a"}
    client = ManagementClient.for_remote(env=env, transport=FakeTransport(RawResponse(200, envelope([]))))
    assert client.base_url == "https://api.cloudflare.com/client/v4/accounts/a"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"CLOUDFLARE_ACCOUNT_ID": "a"}, "CLOUDFLARE_API_TOKEN"),
        ({"CLOUDFLARE_API_TOKEN": "t"}, "CLOUDFLARE_ACCOUNT_ID"),
    ],
)
def test_remote_needs_token_and_account(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ClientError) as caught:
        ManagementClient.for_remote(env=env, transport=FakeTransport(RawResponse(200, b"")))
    assert needle in str(caught.value) and "pass --local" in str(caught.value)


def test_an_injected_httpx_client() -> None:
    """Any httpx.Client works as the transport (Starlette's TestClient now wants httpx2)."""
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        result = [{"host": request.headers["host"], "path": request.url.path}]
        return httpx.Response(200, json={"success": True, "errors": [], "messages": [], "result": result})

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        client = ManagementClient.for_local(8787, transport=HttpxTransport(http))
        assert client.list_workflows().result == [{"host": "localhost:8787", "path": f"{API_PREFIX}/workflows"}]


def test_httpx_transport_failures_become_the_no_session_message() -> None:
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("All connection attempts failed")

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        client = ManagementClient.for_local(8788, transport=HttpxTransport(http))
        with pytest.raises(ClientError, match="All connection attempts failed$"):
            client.list_workflows()

"""The Workers AI binding against a local stand-in for Cloudflare's API (runtime/bindings/ai.py).

The stand-in is a real HTTP server on a free port; PYFLOWS_API_BASE_URL points the binding at it.
The Worker is shaped like python-workers-examples/09-workers-ai.
"""

from __future__ import annotations

import json
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pyflows.runtime.bindings.ai import AiBinding, WorkersAIError
from pyflows.runtime.config import load
from test_worker import open_app, restore_sys_path  # noqa: F401 - the fixture is used by name

pytestmark = pytest.mark.anyio


class StandIn:
    """Records each request; answers with `self.reply` (status, content type, body)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.reply: tuple[int, str, bytes] = (200, "application/json", b"{}")
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("content-length", 0))
                outer.requests.append(
                    {"path": self.path, "auth": self.headers.get("authorization"), "body": self.rfile.read(length)}
                )
                status, kind, body = outer.reply
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/client/v4"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()


@pytest.fixture
def api() -> Iterator[StandIn]:
    stand_in = StandIn()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()


def environ(api: StandIn, **extra: str) -> dict[str, str]:
    return {
        "CLOUDFLARE_API_TOKEN": "tok-123",
        "CLOUDFLARE_ACCOUNT_ID": "acc-9",
        "PYFLOWS_API_BASE_URL": api.url,
        **extra,
    }


async def test_run_posts_the_inputs_to_the_account_model_url(api: StandIn) -> None:
    envelope = {"success": True, "errors": [], "messages": [], "result": {"output": [{"type": "message"}]}}
    api.reply = (200, "application/json", json.dumps(envelope).encode())
    binding = AiBinding(environ=environ(api))
    result = await binding.run("@cf/openai/gpt-oss-120b", {"instructions": "Be brief.", "input": "Hi"})
    assert result.output == [{"type": "message"}]  # attribute access, as the SDK's JsDict gives
    [sent] = api.requests
    assert sent["path"] == "/client/v4/accounts/acc-9/ai/run/@cf/openai/gpt-oss-120b"
    assert sent["auth"] == "Bearer tok-123"
    assert json.loads(sent["body"]) == {"instructions": "Be brief.", "input": "Hi"}


async def test_binary_output_and_api_errors(api: StandIn) -> None:
    binding = AiBinding(environ=environ(api))
    api.reply = (200, "image/png", b"\x89PNG")
    assert await binding.run("@cf/image-model", {"prompt": "cat"}) == b"\x89PNG"
    failure = {"success": False, "errors": [{"code": 5007, "message": "No such model"}], "result": None}
    api.reply = (400, "application/json", json.dumps(failure).encode())
    with pytest.raises(WorkersAIError, match=r"@cf/nope failed with HTTP 400: No such model \(code 5007\)"):
        await binding.run("@cf/nope", {})
    with pytest.raises(TypeError, match="needs a model name"):
        await binding.run("", {})


async def test_missing_credentials_name_what_to_set(api: StandIn) -> None:
    with pytest.raises(WorkersAIError, match="needs CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID") as caught:
        await AiBinding(environ={}).run("@cf/x", {})
    assert "Workers AI runs on Cloudflare, not locally" in str(caught.value)
    only_token = {"CLOUDFLARE_API_TOKEN": "t", "PYFLOWS_API_BASE_URL": api.url}
    with pytest.raises(WorkersAIError, match="needs CLOUDFLARE_ACCOUNT_ID to call it"):
        await AiBinding(environ=only_token).run("@cf/x", {})
    api.reply = (200, "application/json", b'{"success": true, "result": {"ok": 1}}')
    assert await AiBinding(account_id="from-config", environ=only_token).run("@cf/x", {}) == {"ok": 1}
    assert api.requests[-1]["path"] == "/client/v4/accounts/from-config/ai/run/@cf/x"
    assert not [r for r in api.requests if r["path"].startswith("/client/v4/accounts/None")]


WORKER = """
    from workers import Response, WorkerEntrypoint

    class Default(WorkerEntrypoint):
        async def fetch(self, request):
            response = await self.env.AI.run("@cf/openai/gpt-oss-120b", {"input": "Who said it?"})
            return Response.json(response.output)
"""


@pytest.mark.usefixtures("restore_sys_path")
async def test_a_worker_shaped_like_the_example(
    tmp_path: Path, api: StandIn, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "entry.py").write_text(textwrap.dedent(WORKER))
    (tmp_path / "wrangler.jsonc").write_text(
        '{"name": "python-ai", "main": "src/entry.py", "compatibility_date": "2025-11-02", "ai": {"binding": "AI"}}'
    )
    config = load(tmp_path)
    assert config.ai is not None
    from pyflows.cli.views.dev_console import Console

    Console("http://127.0.0.1:8787").banner(config)
    assert "env.AI     AI          remote" in capsys.readouterr().out
    for key, value in environ(api).items():
        monkeypatch.setenv(key, value)
    api.reply = (200, "application/json", b'{"success": true, "result": {"output": ["a", "b"]}}')
    runtime, client = await open_app(tmp_path)
    try:
        async with client:
            reply = await client.get("/")
            assert (reply.status_code, reply.json()) == (200, ["a", "b"])
            monkeypatch.delenv("CLOUDFLARE_API_TOKEN")
            failed = await client.get("/")
            assert failed.status_code == 500
            assert "WorkersAIError" in failed.text and "CLOUDFLARE_API_TOKEN" in failed.text
    finally:
        await runtime.close()

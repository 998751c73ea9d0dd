"""The Workers AI binding (`"ai": {"binding": "AI"}`): `await env.AI.run(model, inputs)`.

Like `wrangler dev`, where the AI binding is always remote, every call goes to Cloudflare's REST API
(developers.cloudflare.com/workers-ai/get-started/rest-api/):

    POST {base}/accounts/{account_id}/ai/run/{model}      Authorization: Bearer $CLOUDFLARE_API_TOKEN
    body: the inputs as JSON          reply: {"success": true, "result": <output>, "errors": [], ...}

`base` is https://api.cloudflare.com/client/v4, or PYFLOWS_API_BASE_URL when set. The account id is
CLOUDFLARE_ACCOUNT_ID, else the config's top-level `account_id`. `run` returns the `result` with
dicts as attribute-access dicts (`response.output`, as the SDK's JsDict gives), or the raw bytes
when the model answers with a non-JSON body (image models). Without a token or an account id, or
when the API answers with an error, `run` raises `WorkersAIError` saying what to set or what failed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from pyflows.runtime.errors import PyflowsError
from pyflows.runtime.surface.values import JsDict

__all__ = ["CLOUDFLARE_API_BASE", "AiBinding", "WorkersAIError"]

CLOUDFLARE_API_BASE = "https://api.cloudflare.com/client/v4"
TIMEOUT_S = 300.0  # large models take a while; Cloudflare's own limit is longer


class WorkersAIError(PyflowsError):
    """A Workers AI call that could not be made, or that Cloudflare's API refused."""


def _js(value: Any) -> Any:
    if isinstance(value, dict):
        return JsDict({k: _js(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_js(v) for v in value]
    return value


class AiBinding:
    """`env.AI`: Workers AI through Cloudflare's API (see the module docstring)."""

    def __init__(self, *, account_id: str | None = None, environ: Mapping[str, str] | None = None) -> None:
        self._config_account_id = account_id
        self._environ = environ

    def _settings(self) -> tuple[str, str, str]:
        environ = os.environ if self._environ is None else self._environ
        token = environ.get("CLOUDFLARE_API_TOKEN", "").strip()
        account = environ.get("CLOUDFLARE_ACCOUNT_ID", "").strip() or (self._config_account_id or "").strip()
        wanted = (("CLOUDFLARE_API_TOKEN", token), ("CLOUDFLARE_ACCOUNT_ID", account))
        missing = [name for name, value in wanted if not value]
        if missing:
            raise WorkersAIError(
                "Workers AI runs on Cloudflare, not locally (as with `wrangler dev`), and pyflows needs "
                f"{' and '.join(missing)} to call it. Set CLOUDFLARE_API_TOKEN to an API token with "
                "Workers AI permission and CLOUDFLARE_ACCOUNT_ID to your account id (or `account_id` in "
                "the wrangler config), e.g. in the shell that runs `pyflows dev`."
            )
        base = environ.get("PYFLOWS_API_BASE_URL", "").strip() or CLOUDFLARE_API_BASE
        return token, account, base.rstrip("/")

    async def run(self, model: str, inputs: Any = None, options: Any = None) -> Any:
        """Run `model` (e.g. "@cf/meta/llama-3.1-8b-instruct") on `inputs` (a JSON-able dict)."""
        import httpx

        if not isinstance(model, str) or not model:
            raise TypeError(f"AI.run() needs a model name such as '@cf/meta/llama-3.1-8b-instruct', got {model!r}.")
        token, account, base = self._settings()
        url = f"{base}/accounts/{account}/ai/run/{model.lstrip('/')}"
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
                reply = await client.post(
                    url, json=inputs if inputs is not None else {}, headers={"Authorization": f"Bearer {token}"}
                )
        except httpx.HTTPError as exc:
            raise WorkersAIError(f"Workers AI: could not reach {url} ({exc}). Check the network connection.") from None
        kind = reply.headers.get("content-type", "")
        if not kind.startswith("application/json"):
            if reply.is_success:
                return reply.content  # e.g. an image model's PNG
            raise WorkersAIError(f"Workers AI: {model} failed with HTTP {reply.status_code}: {reply.text[:500]}")
        try:
            envelope = reply.json()
        except json.JSONDecodeError:
            raise WorkersAIError(f"Workers AI: {model} answered HTTP {reply.status_code} with invalid JSON.") from None
        if not reply.is_success or not isinstance(envelope, dict) or envelope.get("success") is False:
            errors = envelope.get("errors") if isinstance(envelope, dict) else None
            detail = "; ".join(
                f"{e.get('message', e)} (code {e.get('code')})" if isinstance(e, dict) else str(e) for e in errors or []
            )
            raise WorkersAIError(
                f"Workers AI: {model} failed with HTTP {reply.status_code}: {detail or reply.text[:500]}"
            )
        return _js(envelope.get("result"))

    def __repr__(self) -> str:
        return "<AiBinding (remote: Cloudflare's API)>"

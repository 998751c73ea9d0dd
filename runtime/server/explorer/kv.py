"""Local Explorer API routes for KV, with the Cloudflare REST API's shapes (local-explorer-openapi.json):

GET    /storage/kv/namespaces                                  [{id, title}] (title: the binding)
GET    /storage/kv/namespaces/{id}/keys?prefix&cursor&limit    [{name, expiration?, metadata?}],
                                                               result_info {count, cursor}
GET    /storage/kv/namespaces/{id}/values/{key}                the raw value (404 when missing)
PUT    /storage/kv/namespaces/{id}/values/{key}?expiration&expiration_ttl   body = value (or form: value, metadata)
DELETE /storage/kv/namespaces/{id}/values/{key}
PUT    /storage/kv/namespaces/{id}/bulk                        [{key, value, expiration?, expiration_ttl?,
                                                                 metadata?, base64?}]
POST   /storage/kv/namespaces/{id}/bulk/delete                 [keys]
POST   /storage/kv/namespaces/{id}/bulk/get                    {keys, type?, withMetadata?} -> {values}
"""

from __future__ import annotations

import base64
import json
from typing import Any

from pyflows.runtime.bindings.kv import MAX_BULK_GET_KEYS, KVError, KVNamespace
from pyflows.runtime.server.explorer.input import InvalidRequestError, json_request_body
from pyflows.runtime.server.explorer.routes import envelope, error_envelope
from pyflows.runtime.server.explorer.storage_common import bindings_of, not_found
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["routes"]

_NS = "/storage/kv/namespaces/{namespace_id}"


def routes(runtime: Any) -> list[tuple[str, str, Any]]:
    """(path, method, handler(request, engine)) rows for the explorer's route table."""

    def find(request: Request) -> KVNamespace | Response:
        wanted = request.path_params["namespace_id"]
        namespaces = bindings_of(runtime, KVNamespace)
        for ns in namespaces:
            if ns.namespace_id == wanted:
                return ns
        return not_found("KV namespace", wanted, [n.namespace_id for n in namespaces], 10013)

    async def list_namespaces(request: Request, engine: Any) -> Response:
        rows = [
            {"id": ns.namespace_id, "title": ns.binding, "supports_url_encoding": True}
            for ns in bindings_of(runtime, KVNamespace)
        ]
        order, direction = request.query_params.get("order"), request.query_params.get("direction", "asc")
        if order is not None and order not in ("id", "title"):
            return error_envelope(400, 10001, f'order must be "id" or "title", got {order!r}.')
        if direction not in ("asc", "desc"):
            return error_envelope(400, 10001, f'direction must be "asc" or "desc", got {direction!r}.')
        if order is not None:
            rows.sort(key=lambda row: str(row[order]), reverse=direction == "desc")
        return envelope(
            rows, result_info={"count": len(rows), "page": 1, "per_page": len(rows), "total_count": len(rows)}
        )

    async def list_keys(request: Request, engine: Any) -> Response:
        ns = find(request)
        if isinstance(ns, Response):
            return ns
        q = request.query_params
        try:
            limit = int(q.get("limit", "1000"))
        except ValueError:
            return error_envelope(400, 10001, f"limit must be an integer from 10 to 1000, got {q.get('limit')!r}.")
        page = ns.store.list(prefix=q.get("prefix", ""), limit=limit, cursor=q.get("cursor") or None)
        return envelope(page["keys"], result_info={"count": len(page["keys"]), "cursor": page.get("cursor", "")})

    async def get_value(request: Request, engine: Any) -> Response:
        ns = find(request)
        if isinstance(ns, Response):
            return ns
        found = ns.store.get(request.path_params["key_name"])
        if found is None:
            return error_envelope(404, 10009, "get: 'key not found'")
        headers = {} if found[2] is None else {"expiration": str(found[2])}
        return Response(found[0], media_type="application/octet-stream", headers=headers)

    async def put_value(request: Request, engine: Any) -> Response:
        ns = find(request)
        if isinstance(ns, Response):
            return ns
        metadata: Any = None
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            if "boundary=" not in content_type:  # Starlette's parser fails with a KeyError on this
                return error_envelope(400, 10001, "A multipart/form-data body needs a boundary parameter.")
            try:
                form = await request.form()
            except (HTTPException, MultiPartException, ValueError) as exc:  # python-multipart's errors are ValueErrors
                reason = exc.detail if isinstance(exc, HTTPException) else str(exc)
                return error_envelope(400, 10001, f"The multipart/form-data body could not be read: {reason}")
            try:
                value = await _form_bytes(form.get("value"))
                raw_metadata = form.get("metadata")  # a text field, or a part of type application/json
                if raw_metadata is not None:
                    try:
                        metadata = json.loads(await _form_bytes(raw_metadata))
                    except (json.JSONDecodeError, UnicodeDecodeError):
                        return error_envelope(400, 10001, "metadata must be JSON.")
            finally:
                await form.close()  # the parts' temporary files
        else:
            value = await request.body()
        q = request.query_params
        ns.store.put(
            request.path_params["key_name"],
            value,
            expiration=q.get("expiration"),
            expiration_ttl=q.get("expiration_ttl"),
            metadata=metadata,
        )
        return envelope({})

    async def delete_value(request: Request, engine: Any) -> Response:
        ns = find(request)
        if isinstance(ns, Response):
            return ns
        ns.store.delete(request.path_params["key_name"])
        return envelope({})

    async def json_list(request: Request) -> list[Any]:
        body = await json_request_body(request, code=10001)
        if not isinstance(body, list):
            raise InvalidRequestError("The body must be a JSON array.")
        return body

    async def bulk_put(request: Request, engine: Any) -> Response:
        ns = find(request)
        if isinstance(ns, Response):
            return ns
        items = await json_list(request)
        values: list[str | bytes] = []
        for item in items:  # the whole body is checked before anything is written
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("key"), str)
                or not isinstance(item.get("value"), str)
            ):
                return error_envelope(400, 10001, 'Each item must be an object with string "key" and "value".')
            try:
                values.append(base64.b64decode(item["value"], validate=True) if item.get("base64") else item["value"])
            except ValueError:
                return error_envelope(400, 10001, f"The value of {item['key']!r} is not base64 (it has base64: true).")
        failed = []
        for item, value in zip(items, values, strict=True):
            try:
                ns.store.put(
                    item["key"],
                    value,
                    expiration=item.get("expiration"),
                    expiration_ttl=item.get("expiration_ttl"),
                    metadata=item.get("metadata"),
                )
            except KVError:
                failed.append(item["key"])
        return envelope({"successful_key_count": len(items) - len(failed), "unsuccessful_keys": failed})

    async def bulk_delete(request: Request, engine: Any) -> Response:
        ns = find(request)
        if isinstance(ns, Response):
            return ns
        keys = await json_list(request)
        for n, key in enumerate(keys):
            if not isinstance(key, str):  # the body is an array of key names (OpenAPI: string items)
                return error_envelope(
                    400,
                    10001,
                    f"The body must be a JSON array of key names (strings); item {n} is {type(key).__name__}.",
                )
        failed = []
        for key in keys:
            try:
                ns.store.delete(key)
            except (KVError, TypeError):
                failed.append(key)
        return envelope({"successful_key_count": len(keys) - len(failed), "unsuccessful_keys": failed})

    async def bulk_get(request: Request, engine: Any) -> Response:
        ns = find(request)
        if isinstance(ns, Response):
            return ns
        body = await json_request_body(request, code=10001, empty={})
        keys = body.get("keys") if isinstance(body, dict) else None
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            return error_envelope(400, 10001, 'The body must be {"keys": [strings], "type"?, "withMetadata"?}.')
        kind = body.get("type", "text")
        if kind not in ("text", "json"):
            return error_envelope(400, 10001, f'type must be "text" or "json", got {kind!r}.')
        if len(keys) > MAX_BULK_GET_KEYS:
            return error_envelope(400, 10001, f"You can request a maximum of {MAX_BULK_GET_KEYS} keys")
        values: dict[str, Any] = {}
        for key in keys:
            found = ns.store.get(key)  # KVError (a key Cloudflare refuses): 400 through present.ERRORS
            if found is None:
                values[key] = None
                continue
            text = found[0].decode("utf-8", errors="replace")
            try:
                value: Any = json.loads(text) if kind == "json" else text
            except ValueError:
                return error_envelope(400, 10001, f'The value of {key!r} is not JSON; ask for type "text".')
            values[key] = {"value": value, "metadata": found[1]} if body.get("withMetadata") else value
        return envelope({"values": values})

    return [
        ("/storage/kv/namespaces", "GET", list_namespaces),
        (_NS + "/keys", "GET", list_keys),
        (_NS + "/values/{key_name:path}", "GET", get_value),
        (_NS + "/values/{key_name:path}", "PUT", put_value),
        (_NS + "/values/{key_name:path}", "DELETE", delete_value),
        (_NS + "/bulk", "PUT", bulk_put),
        (_NS + "/bulk/delete", "POST", bulk_delete),
        (_NS + "/bulk/get", "POST", bulk_get),
    ]


async def _form_bytes(part: Any) -> bytes:
    """A multipart/form-data part as bytes, whether the client sent it as a field or as a file."""
    return (await part.read()) if hasattr(part, "read") else str(part or "").encode()

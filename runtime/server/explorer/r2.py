"""Local Explorer API routes for R2, with the Cloudflare REST API's shapes (local-explorer-openapi.json):

GET    /r2/buckets                                   {buckets: [{name, creation_date}]}
GET    /r2/buckets/{bucket}                          {name, creation_date}
GET    /r2/buckets/{bucket}/objects?prefix&delimiter&cursor&per_page
                                                     [{key, etag, size, last_modified, http_metadata,
                                                     custom_metadata}], result_info {cursor, delimited, is_truncated}
DELETE /r2/buckets/{bucket}/objects                  body [keys]
GET    /r2/buckets/{bucket}/objects/{key}            the body (cf-metadata-only: true → the metadata)
PUT    /r2/buckets/{bucket}/objects/{key}            body; Content-Type and cf-r2-custom-metadata (JSON) headers
DELETE /r2/buckets/{bucket}/objects/{key}
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pyflows.runtime.bindings.r2 import R2Bucket, R2Error, R2Object
from pyflows.runtime.server.explorer.input import json_request_body
from pyflows.runtime.server.explorer.routes import envelope, error_envelope
from pyflows.runtime.server.explorer.storage_common import bindings_of, not_found
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["routes"]

_B = "/r2/buckets/{bucket_name}"


def _object(row: tuple[Any, ...]) -> dict[str, Any]:
    obj = R2Object(row)
    return {
        "key": obj.key,
        "etag": obj.etag,
        "size": obj.size,
        "last_modified": datetime.fromtimestamp(row[5] / 1000, UTC).isoformat().replace("+00:00", "Z"),
        "http_metadata": dict(obj.httpMetadata),
        "custom_metadata": dict(obj.customMetadata),
    }


def routes(runtime: Any) -> list[tuple[str, str, Any]]:
    """(path, method, handler(request, engine)) rows for the explorer's route table."""

    def find(request: Request) -> R2Bucket | Response:
        wanted = request.path_params["bucket_name"]
        buckets = bindings_of(runtime, R2Bucket)
        for bucket in buckets:
            if bucket.bucket_name == wanted:
                return bucket
        return not_found("R2 bucket", wanted, [b.bucket_name for b in buckets], 10006)

    def created(bucket: R2Bucket) -> str:
        path = bucket.store.path
        return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat().replace("+00:00", "Z")

    async def list_buckets(request: Request, engine: Any) -> Response:
        rows = [{"name": b.bucket_name, "creation_date": created(b)} for b in bindings_of(runtime, R2Bucket)]
        return envelope({"buckets": rows}, result_info={"total_count": len(rows)})

    async def get_bucket(request: Request, engine: Any) -> Response:
        bucket = find(request)
        if isinstance(bucket, Response):
            return bucket
        return envelope({"name": bucket.bucket_name, "creation_date": created(bucket)})

    async def list_objects(request: Request, engine: Any) -> Response:
        bucket = find(request)
        if isinstance(bucket, Response):
            return bucket
        q = request.query_params
        try:
            limit = int(q.get("per_page", "1000"))
        except ValueError:
            return error_envelope(400, 10022, f"per_page must be an integer from 1 to 1000, got {q.get('per_page')!r}.")
        try:
            rows, prefixes, cursor = bucket.store.list(
                prefix=q.get("prefix", ""),
                delimiter=q.get("delimiter") or None,
                cursor=q.get("cursor") or None,
                limit=limit,
            )
        except R2Error as exc:
            return error_envelope(400, 10022, str(exc))
        info = {"delimited": prefixes, "is_truncated": "true" if cursor else "false", "cursor": cursor or ""}
        return envelope([_object(r) for r in rows], result_info=info)

    async def delete_objects(request: Request, engine: Any) -> Response:
        bucket = find(request)
        if isinstance(bucket, Response):
            return bucket
        keys = await json_request_body(request, code=10001)
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            return error_envelope(400, 10001, "The body must be a JSON array of object keys.")
        bucket.store.delete(keys)
        return envelope([{"key": k} for k in keys])

    async def get_object(request: Request, engine: Any) -> Response:
        bucket = find(request)
        if isinstance(bucket, Response):
            return bucket
        key = request.path_params["object_key"]
        found = bucket.store.get(key)
        if found is None:
            return error_envelope(404, 10007, f"The specified key does not exist: {key!r}.")
        row, data = found
        if request.headers.get("cf-metadata-only", "").lower() == "true":
            return envelope(_object(row))
        headers = {"etag": f'"{row[4]}"'}
        R2Object(row).writeHttpMetadata(headers)
        return Response(data, headers=headers, media_type=headers.pop("content-type", "application/octet-stream"))

    async def put_object(request: Request, engine: Any) -> Response:
        bucket = find(request)
        if isinstance(bucket, Response):
            return bucket
        custom: dict[str, str] = {}
        raw_custom = request.headers.get("cf-r2-custom-metadata")
        if raw_custom:
            try:
                custom = {str(k): str(v) for k, v in json.loads(raw_custom).items()}
            except (json.JSONDecodeError, AttributeError):
                return error_envelope(400, 10001, "cf-r2-custom-metadata must be a JSON object of strings.")
        http = {}
        if request.headers.get("content-type"):
            http["contentType"] = request.headers["content-type"]
        row = bucket.store.put(request.path_params["object_key"], await request.body(), http, custom)
        return envelope({**_object(row), "version": R2Object(row).version})

    async def delete_object(request: Request, engine: Any) -> Response:
        bucket = find(request)
        if isinstance(bucket, Response):
            return bucket
        bucket.store.delete([request.path_params["object_key"]])
        return envelope({"key": request.path_params["object_key"]})

    return [
        ("/r2/buckets", "GET", list_buckets),
        (_B, "GET", get_bucket),
        (_B + "/objects", "GET", list_objects),
        (_B + "/objects", "DELETE", delete_objects),
        (_B + "/objects/{object_key:path}", "GET", get_object),
        (_B + "/objects/{object_key:path}", "PUT", put_object),
        (_B + "/objects/{object_key:path}", "DELETE", delete_object),
    ]

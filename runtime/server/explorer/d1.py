"""Local Explorer API routes for D1, with the Cloudflare REST API's shapes (local-explorer-openapi.json):

GET  /d1/database?name=              [{uuid, name, version, created_at}]
POST /d1/database/{id}/raw           {sql, params?} or {batch: [{sql, params?}]}
                                     -> [{results: {columns, rows}, success, meta}] (one transaction)
"""

from __future__ import annotations

from typing import Any

from pyflows.runtime.bindings.d1 import D1Database, split_statements
from pyflows.runtime.server.explorer.input import json_request_body
from pyflows.runtime.server.explorer.routes import envelope, error_envelope
from pyflows.runtime.server.explorer.storage_common import bindings_of, not_found
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["routes"]


def routes(runtime: Any) -> list[tuple[str, str, Any]]:
    """(path, method, handler(request, engine)) rows for the explorer's route table."""

    async def list_databases(request: Request, engine: Any) -> Response:
        rows = [
            {"uuid": db.database_id, "name": db.database_name, "version": "production", "binding": db.binding}
            for db in bindings_of(runtime, D1Database)
        ]  # fmt: skip
        wanted = request.query_params.get("name")
        if wanted:
            rows = [r for r in rows if wanted in r["name"]]
        return envelope(rows, result_info={"count": len(rows)})

    async def raw_query(request: Request, engine: Any) -> Response:
        wanted = request.path_params["database_id"]
        databases = bindings_of(runtime, D1Database)
        db = next((d for d in databases if d.database_id == wanted), None)
        if db is None:
            return not_found("D1 database", wanted, [d.database_id for d in databases], 7404)
        body = await json_request_body(request, code=7400)
        queries = body.get("batch") if isinstance(body, dict) and "batch" in body else [body]
        if not isinstance(queries, list):
            return error_envelope(400, 7400, '"batch" must be an array of {"sql", "params"} objects.')
        statements: list[tuple[str, list[Any]]] = []
        for query in queries:
            if not isinstance(query, dict) or not isinstance(query.get("sql"), str):
                return error_envelope(400, 7400, 'Each query must be an object {"sql": "...", "params": [...]}.')
            params = query.get("params") or []
            if not isinstance(params, list):
                return error_envelope(400, 7400, '"params" must be an array.')
            parts = split_statements(query["sql"])
            statements += [(sql, params if len(parts) == 1 else []) for sql in parts]
        results = db.store.transaction(statements)  # D1Error: 400 / 7500 through present.ERRORS
        return envelope(
            [
                {"results": {"columns": columns, "rows": [[_json(v) for v in row] for row in rows]}, "success": True,
                 "meta": meta}
                for columns, rows, meta in results
            ]
        )  # fmt: skip

    return [
        ("/d1/database", "GET", list_databases),
        ("/d1/database/{database_id}/raw", "POST", raw_query),
    ]


def _json(value: Any) -> Any:
    return list(value) if isinstance(value, bytes) else value

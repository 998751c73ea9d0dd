"""A lean HTTP/1.1 client for the benchmarks, and the requests they make to a `pyflows dev`.

http.client with keep-alive: the load generator runs on the same 2 cores as the server, so it must
cost little. Loopback only (the URL comes from the server's Ready line).
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from typing import Any

API = "/cdn-cgi/local/explorer/api"


class Http:
    """A keep-alive HTTP/1.1 client on http.client: lean, so the load generator costs the 2 cores little."""

    def __init__(self, url: str, *, timeout: float = 15.0, keep_alive: bool = True) -> None:
        match = re.match(r"http://([^:/]+):(\d+)", url)
        if not match:
            raise ValueError(f"not an http://host:port URL: {url}")
        self.host, self.port = match.group(1), int(match.group(2))
        self.timeout = timeout
        self.keep_alive = keep_alive
        self._conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if not self.keep_alive:
            headers["Connection"] = "close"
        attempts = 2 if method == "GET" else 1  # a retried POST could create twice
        for attempt in range(attempts):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request(method, path, body=data, headers=headers)
                response = self._conn.getresponse()
                payload = response.read()
                if not self.keep_alive or response.will_close:
                    self.close()
                return response.status, payload
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, body: Any = None) -> Any:
        status, payload = self.request(method, path, body)
        if status != 200:
            raise RuntimeError(f"{method} {path}: HTTP {status}: {payload[:300]!r}")
        return json.loads(payload)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def count_instances(client: Http, workflow: str, status: str | None = None) -> int:
    """Instances of `workflow` (with `status`) per the management API's result_info."""
    query = f"?per_page=1&status={status}" if status else "?per_page=1"
    body = client.json("GET", f"{API}/workflows/{workflow}/instances{query}")
    return int(body["result_info"]["total_count"])


def create_through_fetch(url: str, path: str, count: int, clients: int = 16, timeout: float = 120.0) -> list[str]:
    """`count` POSTs to the Worker's `path` from `clients` threads (keep-alive each); the ids returned."""
    from concurrent.futures import ThreadPoolExecutor

    lock = threading.Lock()
    remaining = [count]
    ids: list[str] = []
    deadline = time.perf_counter() + timeout

    def worker() -> None:
        client = Http(url, timeout=30)
        try:
            while True:
                with lock:
                    if remaining[0] == 0:
                        return
                    remaining[0] -= 1
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"creating {count} instances took over {timeout:g} s")
                body = client.json("POST", path)
                with lock:
                    ids.append(body["instanceId"])
        finally:
            client.close()

    with ThreadPoolExecutor(clients) as pool:
        for fut in [pool.submit(worker) for _ in range(clients)]:
            fut.result()
    return ids

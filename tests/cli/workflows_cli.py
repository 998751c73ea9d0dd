"""Running `pyflows workflows ...` as a subprocess in tests: the command, its result, the assertions."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pyflows import __version__
from pyflows.cli.render import banner_text
from standin import StandIn

BANNER = banner_text(__version__)
ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "PYFLOWS_", "FORCE_COLOR"))},
    "TZ": "UTC",
    "NO_COLOR": "1",
    "PYTHONUNBUFFERED": "1",
}


@dataclass
class Run:
    code: int
    out: str
    err: str


def pyflows(*args: str | int, env: dict[str, str] | None = None, cwd: Path | None = None) -> Run:
    done = subprocess.run(
        [sys.executable, "-m", "pyflows", *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**ENV, **(env or {})},
        cwd=cwd,
        timeout=60,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def local(api: StandIn, *args: str | int, env: dict[str, str] | None = None) -> Run:
    return pyflows("workflows", *args, "--local", "--port", api.port, env=env)


def ok(run: Run, stdout: str) -> None:
    assert (run.code, run.err) == (0, ""), run
    assert run.out == stdout


def error(run: Run, message: str, *, json_: bool = False) -> None:
    assert run.code == 1, run
    assert run.err == f"✘ [ERROR] {message}\n\n"
    assert run.out == ("" if json_ else BANNER)


def requests_to(api: StandIn, suffix: str = "") -> list[str]:
    return [f"{r.method} {r.path}" + (f"?{r.query}" if r.query else "") for r in api.state.requests if suffix in r.path]

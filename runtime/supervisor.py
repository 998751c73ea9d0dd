"""Hot reload for `pyflows dev`: a supervisor that owns the socket and forks a server per version.

DESIGN.md's targets (edit visible ≤ 0.3 s, ≤ 80 MiB in total) rule out uvicorn's stock reloader
(a fresh interpreter importing the framework on every reload, after a graceful shutdown). Instead:

- the supervisor binds the listening socket once and imports the server's modules (uvicorn,
  starlette, aiosqlite, the engine) but never user code, never an event loop, never a database;
- each code version runs in a child made with `os.fork()`: it starts with those modules already
  loaded (pages shared with the supervisor), imports the user's Worker, and serves on the
  inherited socket. That is a fresh interpreter state for user code, as DESIGN asks;
- on a change the new child imports the user's code while the old one keeps serving; only when the
  import succeeded is the old child SIGKILLed (durability makes that safe: the engine resumes
  every instance from storage), and the new one locks the state directory and starts answering.
  A syntax error leaves the old version serving and waits for the next save;
- connections arriving in between wait in the socket's backlog: nothing is refused.

The supervisor reports through a `Reporter` (cli/dev.py renders it).
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import socket
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pyflows.runtime.errors import ConfigError
from pyflows.runtime.serve import ServeOptions, child_main, preload

if TYPE_CHECKING:
    from pyflows.runtime.config import Config

# Directories never watched: tool caches, virtualenvs, vendored packages and pyflows' own state.
IGNORED_DIRS = frozenset({
    ".git", ".hg", ".svn", ".pyflows", ".wrangler", "__pycache__", ".venv", "venv", ".venv-workers",
    "python_modules", "node_modules", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".idea",
})
STEP_MS = 20  # watchfiles yields once nothing changed for this long (an editor's save takes ~1 ms)
STOP_GRACE_S = 5.0


class Reporter(Protocol):
    """What the supervisor tells the user; cli/dev.py prints it."""

    def ready(self) -> None: ...
    def reloading(self, what: str) -> None: ...
    def reloaded(self) -> None: ...
    def error(self, message: str) -> None: ...
    def warning(self, message: str) -> None: ...


@dataclass
class _Child:
    """One forked server process and the pipes to it."""

    pid: int
    ctl: int  # we write b"g" (go); closing it tells the child we are gone
    status: int  # the child's JSON lines
    buffer: bytes = b""
    exit_status: int | None = field(default=None)

    def message(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next message; None when the child closed the pipe (it exited)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buffer:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.status], [], [], remaining)
            if not ready:
                return {"t": "timeout"}
            chunk = os.read(self.status, 65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def go(self) -> None:
        os.write(self.ctl, b"g")

    def poll(self) -> bool:
        """True while the process runs."""
        if self.exit_status is not None:
            return False
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return True
        self.exit_status = status
        return False

    def kill(self) -> None:
        """SIGKILL and reap: no grace period (durability makes that safe)."""
        if self.poll():
            os.kill(self.pid, signal.SIGKILL)
            _, self.exit_status = os.waitpid(self.pid, 0)
        self._close()

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM (uvicorn's graceful shutdown: the engine interrupts running steps), then SIGKILL."""
        if self.poll():
            os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while self.poll() and time.monotonic() < deadline:
                time.sleep(0.01)
        self.kill()

    def _close(self) -> None:
        for fd in (self.ctl, self.status):
            try:
                os.close(fd)
            except OSError:
                pass
        self.ctl = self.status = -1


def describe_exit(status: int | None) -> str:
    if status is None:
        return "it is still running"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            return f"killed by {signal.Signals(sig).name}"
        except ValueError:
            return f"killed by signal {sig}"
    return f"exit status {os.WEXITSTATUS(status)}"


class Supervisor:
    """Runs the dev server with hot reload until Ctrl-C / SIGTERM; `run()` returns the exit code."""

    def __init__(
        self,
        config: Config,
        options: ServeOptions,
        sock: socket.socket,
        reporter: Reporter,
        reload_config: Callable[[], Config],
    ) -> None:
        self.config = config
        self.options = options
        self.sock = sock
        self.reporter = reporter
        self.reload_config = reload_config
        self.child: _Child | None = None
        self._open_fds: set[int] = set()
        self._state_dir = options.state_dir.resolve()

    # Starting servers ---------------------------------------------------------------------------
    def _fork(self, config: Config) -> _Child:
        ctl_r, ctl_w = os.pipe()
        st_r, st_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        parent = os.getpid()
        gc.freeze()  # keep the shared pages shared: the child's GC won't touch these objects
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: "multi-threaded fork"
            pid = os.fork()
        if pid == 0:  # the server process
            code = 1
            try:
                for fd in (ctl_w, st_r, *self._open_fds):
                    os.close(fd)
                code = child_main(config, self.options, self.sock, ctl_r, st_w, parent)
            except BaseException:  # noqa: B036 - nothing may escape into the supervisor's code
                import traceback

                traceback.print_exc()
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        os.close(ctl_r)
        os.close(st_w)
        self._open_fds.update((ctl_w, st_r))
        return _Child(pid, ctl_w, st_r)

    def _discard(self, child: _Child) -> None:
        self._open_fds.difference_update((child.ctl, child.status))
        child.kill()

    def _await_loaded(self, child: _Child) -> str | None:
        """Wait until the child imported the user's code; the error text if it could not."""
        while True:
            msg = child.message()
            if msg is None:
                child.poll()
                return f"The server process exited while loading the Worker ({describe_exit(child.exit_status)})."
            if msg["t"] == "warning":
                self.reporter.warning(msg["message"])
            elif msg["t"] == "error":
                return str(msg["message"])
            elif msg["t"] == "loaded":
                return None

    def _await_ready(self, child: _Child) -> str | None:
        msg = child.message()
        if msg is None:
            child.poll()
            return f"The server process exited while starting ({describe_exit(child.exit_status)})."
        if msg["t"] == "error":
            return str(msg["message"])
        return None

    def _start(self, config: Config) -> str | None:
        """Start a server for `config`, replacing the current one only once the new code imported."""
        new = self._fork(config)
        problem = self._await_loaded(new)
        if problem is not None:
            self._discard(new)
            return problem
        if self.child is not None:
            self._discard(self.child)
            self.child = None
        new.go()
        problem = self._await_ready(new)
        if problem is not None:
            self._discard(new)
            return problem
        self.child = new
        self.config = config
        return None

    # Watching -------------------------------------------------------------------------------------
    def _watch_roots(self) -> list[Path]:
        root = Path(self.config.root).resolve()
        roots = [root]
        main_dir = Path(self.config.main).resolve().parent
        if not main_dir.is_relative_to(root):
            roots.append(main_dir)
        return roots

    def _is_config_file(self, path: Path) -> bool:
        config_path = Path(self.config.path).resolve()
        if path == config_path:
            return True
        name = path.name
        return path.parent == config_path.parent and (
            name in (".dev.vars", ".env") or name.startswith((".dev.vars.", ".env."))
        )

    def _relevant(self, path: Path) -> bool:
        if path.is_relative_to(self._state_dir):
            return False
        if any(part in IGNORED_DIRS for part in path.parts):
            return False
        return path.suffix == ".py" or self._is_config_file(path)

    def _describe(self, paths: Iterable[Path]) -> str:
        root = Path(self.config.root).resolve()
        shown = sorted({str(p.relative_to(root)) if p.is_relative_to(root) else str(p) for p in paths})
        if len(shown) > 3:
            return ", ".join(shown[:3]) + f" and {len(shown) - 3} more"
        return ", ".join(shown)

    def _on_change(self, paths: set[Path]) -> None:
        self.reporter.reloading(self._describe(paths))
        config = self.config
        if any(self._is_config_file(p) for p in paths):
            try:
                config = self.reload_config()
            except ConfigError as exc:
                self.reporter.error(f"{exc}\n\nFix it and save again; the previous version keeps serving.")
                return
            for warning in config.warnings:
                self.reporter.warning(warning)
        problem = self._start(config)
        if problem is not None:
            still = "the previous version keeps serving" if self.child else "no server is running"
            self.reporter.error(f"{problem}\n\nFix it and save again; {still}.")
            return
        self.reporter.reloaded()

    def _check_child(self) -> None:
        if self.child is not None and not self.child.poll():
            status = self.child.exit_status
            self._discard(self.child)
            self.child = None
            self.reporter.error(
                f"The server process stopped unexpectedly ({describe_exit(status)}). Save a file to restart it."
            )

    # Main loop ------------------------------------------------------------------------------------
    def run(self) -> int:
        """Serve with hot reload until interrupted. Returns 1 if the first start fails, else 0."""
        import watchfiles

        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            preload()
            problem = self._start(self.config)
            if problem is not None:
                self.reporter.error(problem)
                return 1
            self.reporter.ready()
            for changes in watchfiles.watch(
                *self._watch_roots(),
                watch_filter=lambda _change, path: self._relevant(Path(path)),
                step=STEP_MS,
                rust_timeout=1000,
                yield_on_timeout=True,
            ):
                if changes:
                    self._on_change({Path(p) for _, p in changes})
                else:
                    self._check_child()
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            self.shutdown()
        return 0

    def shutdown(self) -> None:
        """Stop the server gracefully (a second Ctrl-C kills it at once)."""
        child, self.child = self.child, None
        if child is None:
            return
        try:
            child.stop()
        except KeyboardInterrupt:
            child.kill()
        self._open_fds.difference_update((child.ctl, child.status))


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt

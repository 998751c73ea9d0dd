"""Hot reload for `pyflows dev`: a lean supervisor owns the socket and forks a server per version.

The targets (cold start ≤ 0.35 s, edit visible ≤ 0.3 s, ≤ 80 MiB in total, measured in bench/) rule out uvicorn's
stock reloader (a fresh interpreter importing the framework on every reload, after a graceful
shutdown). Instead, one session is:

    pyflows dev (the CLI process, runtime/dev/start.py)
      ├─ forks the first server at once (`fork_first`): it imports uvicorn, starlette, aiosqlite
      │  and the engine while the CLI reads and checks the config (two cores: half the wait);
      ├─ binds the socket, prints the banner, hands the server the options (config included) and
      │  the socket;
      └─ execs itself into the supervisor, `main()` below (same pid; typer/jsonschema memory dropped):
           - relays the first server's "ready", then imports the server modules itself (never
             user code, never an event loop or a database) and watches the project;
           - on a change, forks a child: it starts with those modules loaded (pages shared),
             imports the user's Worker (a fresh interpreter state for user code: no stale module state)
             while the old server keeps serving; only once that import succeeded is the old server
             SIGKILLed (durability makes that safe: the engine resumes every instance from
             storage) and the new one locks the state directory and answers. A syntax error leaves
             the old version serving and waits for the next save. Connections arriving in between
             wait in the socket's backlog: none is refused.

The supervisor reports through a `Reporter` (cli/views/dev_console.py renders it; the runtime
never imports the CLI, so the exec names it as "module:Class").
"""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pyflows.runtime.dev.child import child_main, preload
from pyflows.runtime.dev.options import DevOptions, Project
from pyflows.runtime.dev.process import OPTIONS_ENV, child_exit, die_with_parent, interrupt_on_sigterm
from pyflows.runtime.errors import ConfigError

if TYPE_CHECKING:
    from pyflows.runtime.config import Config

# Directories never watched: tool caches, virtualenvs, vendored packages and pyflows' own state.
IGNORED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".pyflows",
        ".wrangler",
        "__pycache__",
        ".venv",
        "venv",
        ".venv-workers",
        "python_modules",
        "node_modules",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
        ".idea",
    }
)
STEP_MS = 20  # watchfiles yields once nothing changed for this long (an editor's save takes ~1 ms)
STOP_GRACE_S = 5.0
CHECK_EVERY_MS = 250  # with no change, this often: is the server process still alive?


class Reporter(Protocol):
    """What a `pyflows dev` session tells the user; cli/views/dev_console.py prints it."""

    def banner(self, config: Config) -> None: ...
    def ready(self) -> None: ...
    def reloading(self, what: str) -> None: ...
    def reloaded(self) -> None: ...
    def error(self, message: str) -> None: ...
    def warning(self, message: str) -> None: ...


@dataclass
class _Child:
    """One server process and the channel to it (a Unix socket, see runtime/dev/child.py)."""

    pid: int
    fd: int
    buffer: bytes = b""
    exit_status: int | None = field(default=None)

    def message(self) -> dict[str, Any] | None:
        """The next message; None when the server closed the channel (it exited)."""
        while b"\n" not in self.buffer:
            try:
                chunk = os.read(self.fd, 65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        message: dict[str, Any] = json.loads(line)
        return message

    def go(self) -> None:
        os.write(self.fd, b"g")

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
        self.close()

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM (uvicorn's graceful shutdown: the engine interrupts running steps), then SIGKILL."""
        if self.poll():
            os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while self.poll() and time.monotonic() < deadline:
                time.sleep(0.01)
        self.kill()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


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


class _Watcher:
    """watchfiles' Rust watcher, running from construction on.

    `watchfiles.watch()` only starts watching at its first iteration; the supervisor needs the
    watch to start before it prints Ready, so a save made right after Ready is never missed.
    """

    def __init__(self, roots: list[Path], accept: Callable[[Path], bool]) -> None:
        from watchfiles._rust_notify import RustNotify  # what watchfiles.watch() itself drives

        force_polling = os.environ.get("WATCHFILES_FORCE_POLLING", "").lower() in ("1", "true", "yes")
        # (paths, debug, force_polling, poll_delay_ms, recursive, ignore_permission_denied)
        self._notify = RustNotify([str(r) for r in roots], False, force_polling, 300, True, True)
        self._accept = accept

    def next(self) -> set[Path]:
        """The relevant paths changed since the last call; empty after CHECK_EVERY_MS of quiet."""
        raw = self._notify.watch(1600, STEP_MS, CHECK_EVERY_MS, None)
        if raw == "signal":  # a signal handler raised (Ctrl-C, or SIGTERM via interrupt_on_sigterm)
            raise KeyboardInterrupt
        if isinstance(raw, str):  # "timeout" / "stop"
            return set()
        return {path for _, p in raw if self._accept(path := Path(p))}

    def close(self) -> None:
        self._notify.close()


class Supervisor:
    """Runs the dev server with hot reload until Ctrl-C / SIGTERM; `run()` returns the exit code."""

    def __init__(
        self,
        options: DevOptions,
        project: Project,
        reporter: Reporter,
        sock: socket.socket,
        first_pid: int,
        first_fd: int,
    ) -> None:
        self.options = options  # its config is read by the warm-up after Ready, then on config changes
        self.sock = sock
        self.reporter = reporter
        self.config: Config | None = None
        self.child: _Child | None = _Child(first_pid, first_fd)
        self._root = project.root.resolve()
        self._config_path = project.config_path.resolve()
        self._main_dir = project.main_dir.resolve()
        self._extra_config_paths = list(project.extra_configs)
        self._state_dir = options.state_dir_in(project.root).resolve()
        self._ready = False  # has any server of this session started?

    # Starting servers ---------------------------------------------------------------------------
    def _fork(self, config: Config) -> _Child:
        ours, theirs = socket.socketpair()
        sys.stdout.flush()
        sys.stderr.flush()
        parent = os.getpid()
        gc.freeze()  # keep the shared pages shared: the child's GC won't touch these objects
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: "multi-threaded fork"
            pid = os.fork()
        if pid == 0:  # the server process

            def server() -> int:
                ours.close()
                if self.child is not None:
                    os.close(self.child.fd)
                die_with_parent(parent)
                return child_main(self.options.with_config(config), self.sock, theirs.detach())

            child_exit(server)
        theirs.close()
        return _Child(pid, ours.detach())

    def _await_loaded(self, child: _Child) -> str | None:
        """Wait until the server imported the user's code; the error text if it could not."""
        while True:
            msg = child.message()
            if msg is None:
                child.poll()
                how = describe_exit(child.exit_status)
                return f"The server process exited while loading the Worker ({how})."
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

    def _switch_to(self, new: _Child) -> str | None:
        """Make `new` the server once its code imported: kill the old one, let the new one start."""
        problem = self._await_loaded(new)
        if problem is not None:
            new.kill()
            return problem
        return self._start(new)

    def _start(self, new: _Child) -> str | None:
        """`new` imported the Worker: kill the old server, let `new` lock the state and listen."""
        if self.child is not None and self.child is not new:
            self.child.kill()
        self.child = None
        new.go()
        problem = self._await_ready(new)
        if problem is not None:
            new.kill()
            return problem
        self.child = new
        return None

    # Watching -------------------------------------------------------------------------------------
    def _watch_roots(self) -> list[Path]:
        roots = [self._root]
        if not self._main_dir.is_relative_to(self._root):
            roots.append(self._main_dir)
        for config in self._extra_config_paths:  # the other Workers of `pyflows dev -c a -c b`
            if not any(config.parent.is_relative_to(r) for r in roots):
                roots.append(config.parent)
        return roots

    def _is_config_file(self, path: Path) -> bool:
        from pyflows.runtime.config import is_config_file

        return path in self._extra_config_paths or is_config_file(path, self._config_path)

    def _relevant(self, path: Path) -> bool:
        if path.is_relative_to(self._state_dir):
            return False
        if any(part in IGNORED_DIRS for part in path.parts):
            return False
        return path.suffix == ".py" or self._is_config_file(path)

    def _describe(self, paths: Iterable[Path]) -> str:
        shown = sorted({str(p.relative_to(self._root)) if p.is_relative_to(self._root) else str(p) for p in paths})
        if len(shown) > 3:
            return ", ".join(shown[:3]) + f" and {len(shown) - 3} more"
        return ", ".join(shown)

    def _on_change(self, paths: set[Path]) -> None:
        self.reporter.reloading(self._describe(paths))
        config = self.config
        if config is None or any(self._is_config_file(p) for p in paths):
            try:
                config = self.options.load_config()
            except ConfigError as exc:
                self.reporter.error(f"{exc}\n\nFix it and save again; {self._still()}.")
                return
            if self.config is not None:
                for warning in config.warnings:
                    self.reporter.warning(warning)
            self.config = config
        problem = self._switch_to(self._fork(config))
        if problem is not None:
            self.reporter.error(f"{problem}\n\nFix it and save again; {self._still()}.")
            return
        if self._ready:
            self.reporter.reloaded()
        else:  # the first server that started: the session is Ready now
            self._ready = True
            self.reporter.ready()

    def _warm_up(self) -> None:
        preload()
        # Read the config once now (its validator is a slow import) so the first reload is fast.
        try:
            self.config = self.options.load_config()
        except ConfigError:
            self.config = None  # reported when a change makes us read it again

    def _still(self) -> str:
        return "the previous version keeps serving" if self.child is not None else "no server is running"

    def _check_child(self) -> None:
        if self.child is not None and not self.child.poll():
            status, pid = self.child.exit_status, self.child.pid
            self.child.close()
            self.child = None
            self.reporter.error(
                f"The server process (pid {pid}) stopped unexpectedly ({describe_exit(status)}). Save a file to "
                f"restart it. To stop pyflows dev, press Ctrl-C or signal its own process (pid {os.getpid()})."
            )

    # Main loop ------------------------------------------------------------------------------------
    def run(self) -> int:
        """Serve with hot reload until interrupted (exit code 0).

        A first server whose Worker cannot load (an import error, a `class_name` the module lacks, a
        handler the config needs, ...) is reported like a failed reload: the session keeps watching
        and the next save starts it (issue 12). One that loaded but cannot start (its state directory
        held by another `pyflows dev`) is an error no save can fix: exit code 1."""
        previous = interrupt_on_sigterm()
        watcher = None
        try:
            watcher = _Watcher(self._watch_roots(), self._relevant)  # from now on no save is missed
            first = self.child
            assert first is not None
            problem = self._await_loaded(first)
            if problem is not None:  # the Worker's code or config: wait for the fix, as after a reload
                first.kill()
                self.child = None
                self.reporter.error(f"{problem}\n\nFix it and save again; {self._still()}.")
            else:
                problem = self._start(first)
                if problem is not None:  # the machine's (state directory held, ...): no save can fix it
                    self.reporter.error(problem)
                    return 1
                self._ready = True
                self.reporter.ready()
            # Import the server's modules (and read the config) while already watching, so each
            # reload forks with them loaded; a fork waits for this (no Python thread may run then).
            warm_up = threading.Thread(target=self._warm_up, name="pyflows-warm-up", daemon=True)
            warm_up.start()
            while True:
                changes = watcher.next()
                if changes:
                    warm_up.join()
                    self._on_change(changes)
                else:
                    self._check_child()
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            if watcher is not None:
                watcher.close()
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


def main() -> None:
    """`pyflows dev` after its exec (runtime/dev/process.py `exec_supervisor`): argv is ["pyflows dev"
    (a label, so `ps`/`pgrep -f "pyflows dev"` find this process), console "module:Class", its URL,
    listening fd, first server's pid, its channel fd]; the options JSON is in $PYFLOWS_DEV_OPTIONS."""
    # Ctrl-C stops the session even when started from a shell that ignores SIGINT for background jobs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    interrupt_on_sigterm()
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    try:
        # `pyflows dev` blocked these across its exec; a signal sent meanwhile is delivered here.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
        from pyflows.runtime.dev.start import reporter_class

        console, url, listen_fd, first_pid, first_fd = sys.argv[2:7]  # argv[1] is the label ps shows
        options_json = os.environ.pop(OPTIONS_ENV)  # not inherited by the servers or the Worker's code
        # Nothing here imports the config package or decodes the config: this is on the path to Ready.
        options = DevOptions.from_json(options_json, decode_config=False)
        project = Project.from_options_json(options_json)
        sock = socket.socket(fileno=int(listen_fd))
        reporter = reporter_class(console)(url)
        code = Supervisor(options, project, reporter, sock, int(first_pid), int(first_fd)).run()
    except KeyboardInterrupt:  # also while still importing: the server dies with us (PDEATHSIG)
        code = 0
    sys.exit(code)

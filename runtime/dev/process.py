"""Process plumbing of a `pyflows dev` session: fork, hand-over, exec, signals, parent death.

Only the standard library: `pyflows dev` forks its first server from here before anything heavy
is imported, and the supervisor after its exec stays lean.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any, NoReturn

__all__ = [
    "OPTIONS_ENV",
    "child_exit",
    "die_with_parent",
    "drop_early_first",
    "exec_supervisor",
    "fork_first",
    "fork_first_early",
    "hand_over",
    "interrupt_on_sigterm",
    "receive",
]


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def interrupt_on_sigterm() -> Any:
    """Make SIGTERM stop the process like Ctrl-C does (a KeyboardInterrupt); returns the old handler.

    Why: uvicorn re-raises the signal that stopped it after its graceful shutdown, and SIGTERM's
    default action would end the process with status 143; the supervisor stops the same way on both.
    """
    return signal.signal(signal.SIGTERM, _interrupt)


def die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this process when `parent` dies, even by SIGKILL (PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(0)


def child_exit(run: Callable[[], int]) -> NoReturn:
    """In a forked server process: run it, then `_exit` — never return into the parent's code.

    Ctrl-C (during start-up too) exits 0; anything unexpected is printed and exits 1.
    """
    code = 1
    try:
        code = run()
    except KeyboardInterrupt:
        code = 0
    except BaseException:  # nothing may escape into the CLI's or supervisor's code
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


_early_first: tuple[int, socket.socket] | None = None


def fork_first_early() -> None:
    """Fork the first server before the CLI is imported (`pyflows.cli.main`); `fork_first` hands it
    out. If the command then fails before the hand-over, closing our end stops the server."""
    global _early_first
    _early_first = _fork()


def fork_first() -> tuple[int, socket.socket]:
    """The first server, forked by `fork_first_early` or now (see `_fork`)."""
    global _early_first
    first, _early_first = _early_first, None
    return first if first is not None else _fork()


def drop_early_first() -> None:
    """Stop a server `fork_first_early` started that the session will not use (serving in-process)."""
    global _early_first
    if _early_first is not None:
        pid, channel = _early_first
        _early_first = None
        channel.close()  # it reads end-of-file before the hand-over and exits
        os.waitpid(pid, 0)


def _fork() -> tuple[int, socket.socket]:
    """Fork the first server now, before `pyflows dev` reads the config.

    The child imports the server's modules while the parent reads and checks the config and binds
    the socket (two cores, half the wait); `hand_over` then gives it both. Returns its pid and our
    end of its channel.
    """
    ours, theirs = socket.socketpair()
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:

        def first() -> int:
            from pyflows.runtime.dev.child import first_server_main

            ours.close()
            die_with_parent(parent)
            return first_server_main(theirs.detach())

        child_exit(first)
    theirs.close()
    return pid, ours


def hand_over(channel: socket.socket, options_json: str, listener: socket.socket) -> None:
    """Send the first server the session's options (one JSON line) and the listening socket (SCM_RIGHTS)."""
    payload = options_json.encode() + b"\n"
    sent = socket.send_fds(channel, [payload[:65536]], [listener.fileno()])
    channel.sendall(payload[sent:])


def receive(channel: socket.socket) -> tuple[str, socket.socket] | None:
    """The first server's side of `hand_over`: (options JSON, listener); None if `pyflows dev`
    stopped before handing over (a config error, Ctrl-C) — then the server has nothing to do."""
    data, fds, _, _ = socket.recv_fds(channel, 65536, 1)
    if not fds:
        return None
    listener = socket.socket(fileno=fds[0])
    while not data.endswith(b"\n"):
        chunk = channel.recv(65536)
        if not chunk:
            listener.close()
            return None
        data += chunk
    return data.decode(), listener


OPTIONS_ENV = "PYFLOWS_DEV_OPTIONS"  # the supervisor takes (and removes) its options from here


def exec_supervisor(
    console: str, url: str, options_json: str, listener: socket.socket, first_pid: int, first_channel: socket.socket
) -> NoReturn:
    """Replace this process (same pid) by the reload supervisor (`runtime.dev.supervisor.main`).

    Same pid: Ctrl-C, the exit status, and the first server stays our child; without typer's and the
    config validator's memory. `console` is "module:Class" of the Reporter that prints, `url` the
    address the banner announced. The options (which hold the project's secrets from .dev.vars) go in
    the environment, readable by this user only, not in argv, which `ps` shows everyone.
    """
    for fd in (listener.fileno(), first_channel.fileno()):
        os.set_inheritable(fd, True)
    sys.stdout.flush()
    sys.stderr.flush()
    # Hold Ctrl-C/SIGTERM across the exec: the supervisor takes them once it can stop cleanly.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    os.execve(
        sys.executable,
        [
            sys.executable,
            "-P",  # the project directory stays off sys.path: its logging.py must not shadow the stdlib
            "-c",
            "from pyflows.runtime.dev.supervisor import main; main()",
            "pyflows dev",  # what `ps` and `pgrep -f "pyflows dev"` find
            console,
            url,
            str(listener.fileno()),
            str(first_pid),
            str(first_channel.fileno()),
        ],
        {**os.environ, OPTIONS_ENV: options_json},
    )

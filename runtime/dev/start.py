"""`pyflows dev` in one call: `start(options, console)` runs the whole session until Ctrl-C.

    fork the first server (it imports the server while we read the config)
    → read the config, bind the socket, print the banner
    → hand the server the options and the socket, then exec into the reload supervisor
      (or, without fork or with --no-reload, serve in this process).

The CLI only turns flags into `DevOptions` and calls `start`.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from pyflows.runtime.dev.options import DevOptions

if TYPE_CHECKING:
    from pyflows.runtime.dev.supervisor import Reporter

__all__ = ["reporter_class", "start"]


def reporter_class(ref: str) -> Callable[[str], Reporter]:
    """The Reporter class named "module:Class", built with the session's URL (the runtime never
    imports the CLI statically)."""
    import importlib

    module, _, name = ref.partition(":")
    return cast("Callable[[str], Reporter]", getattr(importlib.import_module(module), name))


def start(options: DevOptions, console: str) -> None:
    """Serve the project with hot reload until Ctrl-C / SIGTERM; `console` is "module:Class" of
    the Reporter that prints (built with the URL). ConfigError / PyflowsError before Ready raise."""
    # Request logs and user prints must reach a pipe (tests, `| tee`) as they happen.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    reload = options.reload and hasattr(os, "fork")
    first = None
    if reload:  # start the first server now (if `pyflows.cli.main` has not): its imports overlap ours
        from pyflows.runtime.dev.process import fork_first

        first = fork_first()
    elif "pyflows.runtime.dev.process" in sys.modules:
        from pyflows.runtime.dev.process import drop_early_first

        drop_early_first()
    try:
        from pyflows.runtime.dev.net import bind, url_for

        options = options.with_config(options.load_config())
        from pyflows.runtime.worker.dependencies import check_dependencies

        for project in (options.loaded, *options.loaded.siblings):  # each Worker's pyproject deps importable
            check_dependencies(project.root)
        sock = bind(options.host, options.listen_port)
    except BaseException:
        if first is not None:
            os.kill(first[0], signal.SIGKILL)
            os.waitpid(first[0], 0)
        raise
    cfg = options.loaded
    url = url_for(options.host, sock.getsockname()[1])
    reporter = reporter_class(console)(url)
    reporter.banner(cfg)
    for warning in cfg.warnings:
        reporter.warning(warning)
    if options.public:
        reporter.warning(
            f"Listening on {options.host}: the Worker is reachable from other machines. The management API "
            "still only answers requests whose Host is localhost, 127.0.0.1 or [::1]."
        )

    if first is None:
        from pyflows.runtime.dev.child import serve_in_process

        if options.reload:
            reporter.warning("Hot reload needs os.fork(), which this platform lacks: serving without reload.")
        serve_in_process(options, sock, on_ready=reporter.ready, on_warning=reporter.warning)
        return

    from pyflows.runtime.dev.process import exec_supervisor, hand_over

    pid, channel = first
    options_json = options.to_json()  # serialized once: the same text for the server and the supervisor
    hand_over(channel, options_json, sock)
    exec_supervisor(console, url, options_json, sock, pid, channel)

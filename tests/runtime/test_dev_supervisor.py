"""runtime/dev: the reload supervisor's file filter, the options hand-off, and the private watchfiles API."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyflows.runtime.dev.options import DevOptions, Project
from pyflows.runtime.dev.supervisor import Supervisor, _Watcher


def test_watchfiles_still_has_the_private_api_the_supervisor_uses() -> None:
    # _Watcher builds RustNotify(paths, debug, force_polling, poll_delay_ms, recursive,
    # ignore_permission_denied) and calls .watch(debounce_ms, step_ms, timeout_ms, stop_event):
    # watchfiles.watch() only starts watching at its first iteration, too late for "no save missed
    # after Ready". A new watchfiles that changes either signature must fail here, not in a user's session.
    from watchfiles._rust_notify import RustNotify

    assert RustNotify.__text_signature__ == (
        "(watch_paths, debug, force_polling, poll_delay_ms, recursive, ignore_permission_denied)"
    )
    assert RustNotify.watch.__text_signature__ == "($self, debounce_ms, step_ms, timeout_ms, stop_event)"
    assert callable(RustNotify.close)


def test_watcher_reports_a_relevant_save_and_drops_the_rest(tmp_path: Path) -> None:
    watcher = _Watcher([tmp_path], lambda p: p.suffix == ".py")
    try:
        (tmp_path / "notes.txt").write_text("x")
        (tmp_path / "entry.py").write_text("x = 1\n")
        deadline = time.monotonic() + 10
        seen: set[Path] = set()
        while not seen and time.monotonic() < deadline:
            seen = watcher.next()
        assert seen == {tmp_path / "entry.py"}
    finally:
        watcher.close()


def _options(project: Path) -> DevOptions:
    (project / "src").mkdir()
    (project / "src" / "entry.py").write_text("")
    (project / "wrangler.jsonc").write_text('{"name": "demo", "main": "src/entry.py"}')
    options = DevOptions(cwd=project)
    return options.with_config(options.load_config())


def test_reload_ignores_state_tool_and_vendored_dirs(tmp_path: Path) -> None:
    options = _options(tmp_path)
    a, b = socket.socketpair()
    project = Project.from_options_json(options.to_json())
    sup = Supervisor(options, project, reporter=None, sock=a, first_pid=os.getpid(), first_fd=b.fileno())  # type: ignore[arg-type]
    try:
        assert sup._relevant(tmp_path / "src" / "entry.py")
        assert sup._relevant(tmp_path / "src" / "pkg" / "helpers.py")
        assert sup._relevant(tmp_path / "wrangler.jsonc")
        assert sup._relevant(tmp_path / ".dev.vars")
        assert sup._relevant(tmp_path / ".env.staging")
        assert not sup._relevant(tmp_path / "README.md")
        for ignored in (".venv", "node_modules", "__pycache__", ".git", ".pyflows", "python_modules", ".mypy_cache"):
            assert not sup._relevant(tmp_path / ignored / "lib" / "x.py"), ignored
        assert not sup._relevant(options.state_dir / "x.py")
    finally:
        a.close()
        b.close()


def test_options_cross_every_hand_off_as_the_same_json(tmp_path: Path) -> None:
    options = _options(tmp_path)
    options = DevOptions(
        cwd=tmp_path, env=None, port=0, ip="0.0.0.0", persist_to=Path("state"), max_concurrency=3, reload=False
    ).with_config(options.loaded)
    text = options.to_json()
    json.loads(text)  # plain JSON: what goes over the socketpair and through the exec's argv
    clone = DevOptions.from_json(text)
    assert clone == options
    assert (clone.host, clone.listen_port, clone.public) == ("0.0.0.0", 0, True)
    assert clone.state_dir == tmp_path / "state"
    assert DevOptions(cwd=tmp_path).with_config(options.loaded).state_dir == tmp_path / ".pyflows" / "state"
    assert DevOptions(cwd=tmp_path).with_config(options.loaded).public is False
    with pytest.raises(RuntimeError):
        DevOptions(cwd=tmp_path).host  # noqa: B018 - the config is read before any server starts
    # The supervisor's view before Ready: the options without decoding the config, and the paths.
    lean = DevOptions.from_json(text, decode_config=False)
    assert lean.config is None and lean == DevOptions.from_json(text).with_config(None)  # type: ignore[arg-type]
    project = Project.from_options_json(text)
    assert (project.root, project.config_path, project.main_dir) == (
        tmp_path,
        tmp_path / "wrangler.jsonc",
        tmp_path / "src",
    )


def test_the_supervisor_reaches_ready_without_importing_config_or_the_server() -> None:
    # What the exec'd supervisor imports before it relays Ready is on the cold-start path (bench/).
    code = (
        "import sys, pyflows.runtime.dev.supervisor, pyflows.runtime.dev.start, pyflows.runtime.dev.options\n"
        "heavy = [m for m in ('pyflows.runtime.config', 'uvicorn', 'starlette', 'aiosqlite', 'typer', 'jsonschema')"
        " if m in sys.modules]\n"
        "print(heavy)"
    )
    done = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done

"""Crash recovery: the engine runs in a child process that is SIGKILLed mid-run, then re-opened.

Every instance must complete, and no step that had completed runs again (durability is replay).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHILD = Path(__file__).with_name("crash_child.py")


def _spawn(tmp_path: Path, scenario: str, instance_id: str | None = None, **env: str) -> subprocess.Popen[str]:
    args = [sys.executable, str(CHILD), str(tmp_path / "state"), str(tmp_path / "log"), scenario]
    if instance_id:
        args.append(instance_id)
    with (tmp_path / "child-output").open("a") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, text=True, env={**os.environ, **env})


def _output(tmp_path: Path) -> str:
    return (tmp_path / "child-output").read_text()


def _log(tmp_path: Path) -> list[str]:
    path = tmp_path / "log"
    return path.read_text().splitlines() if path.exists() else []


def _wait_for_line(tmp_path: Path, line: str, proc: subprocess.Popen[str], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while line not in _log(tmp_path):
        if proc.poll() is not None:
            raise AssertionError(f"child exited early ({proc.returncode}): {_output(tmp_path)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{line!r} never logged; log: {_log(tmp_path)}")
        time.sleep(0.02)


def _wait_for_sleep_row(tmp_path: Path, proc: subprocess.Popen[str], timeout: float = 30.0) -> None:
    """Poll the child's database (read-only) until a `sleep` step with a wake time is stored."""
    import sqlite3

    db = tmp_path / "state" / "workflows.sqlite"
    deadline = time.monotonic() + timeout
    while True:
        if db.exists():
            with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
                try:
                    row = conn.execute(
                        "SELECT 1 FROM steps WHERE kind = 'sleep' AND wake_at_epoch_ms IS NOT NULL"
                    ).fetchone()
                except sqlite3.OperationalError:  # the schema is not there yet
                    row = None
            if row:
                return
        if proc.poll() is not None:
            raise AssertionError(f"child exited early ({proc.returncode}): {_output(tmp_path)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no sleep recorded within {timeout:g} s; log: {_log(tmp_path)}")
        time.sleep(0.02)


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def _recover(tmp_path: Path, **env: str) -> list[str]:
    proc = _spawn(tmp_path, "recover", **env)
    try:
        proc.wait(timeout=60)
    finally:  # a recovery that hangs must not outlive the test
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, _output(tmp_path)
    return _log(tmp_path)


def test_sigkill_during_a_step(tmp_path: Path) -> None:
    proc = _spawn(tmp_path, "step", "i-step")
    try:
        _wait_for_line(tmp_path, "b-start", proc)
    finally:
        _kill(proc)
    (tmp_path / "release").touch()
    log = _recover(tmp_path)
    assert log.count("a") == 1  # completed before the crash: never again
    assert log.count("b-start") == 2  # interrupted: runs again
    assert log.count("c") == 1
    assert "final i-step complete 3" in log


def test_sigkill_during_a_gather_fan_out_recovers_without_nondeterminism(tmp_path: Path) -> None:
    """One branch in flight, the other with 6 recorded steps (review §3.4, with a real kill -9)."""
    proc = _spawn(tmp_path, "fanout", "i-fan")
    try:
        _wait_for_line(tmp_path, "items-recorded", proc)
    finally:
        _kill(proc)
    (tmp_path / "release").touch()
    log = _recover(tmp_path)
    assert log.count("slow-start") == 2  # in flight when killed: runs again
    assert all(log.count(f"item {i}") == 1 for i in range(6))  # recorded: never again
    assert "final i-fan complete ['x', [0, 1, 2, 3, 4, 5]]" in log, _output(tmp_path)


def test_sigkill_during_a_sleep_completes_at_the_right_time(tmp_path: Path) -> None:
    started = time.time()
    proc = _spawn(tmp_path, "sleep", "i-sleep")
    try:
        _wait_for_line(tmp_path, "a", proc)
        _wait_for_sleep_row(tmp_path, proc)  # the sleep is recorded: now the crash
    finally:
        _kill(proc)
    log = _recover(tmp_path)
    finished = time.time()
    assert log.count("a") == 1 and log.count("c") == 1
    assert "final i-sleep complete done" in log
    assert finished - started >= 1.5  # the sleep kept its wake time across the crash


def test_sigkill_while_waiting_with_an_event_already_sent(tmp_path: Path) -> None:
    proc = _spawn(tmp_path, "event", "i-event", HIBERNATE_MS="0")
    proc.wait(timeout=20)  # it SIGKILLs itself right after the event is stored
    assert proc.returncode == -signal.SIGKILL, _output(tmp_path)
    log = _recover(tmp_path, HIBERNATE_MS="0")
    assert log.count("a") == 1 and log.count("c") == 1
    assert "final i-event complete {'ok': True}" in log


@pytest.mark.slow
def test_repeated_sigkills_never_repeat_a_completed_step(tmp_path: Path) -> None:
    """Kill the same instance three times in its interrupted step; history stays exactly-once."""
    proc = _spawn(tmp_path, "step", "i-many")
    try:
        _wait_for_line(tmp_path, "b-start", proc)
    finally:
        _kill(proc)
    for _ in range(2):
        proc = _spawn(tmp_path, "recover")
        n = _log(tmp_path).count("b-start")
        deadline = time.monotonic() + 15
        while _log(tmp_path).count("b-start") == n and time.monotonic() < deadline:
            time.sleep(0.02)
        _kill(proc)
    (tmp_path / "release").touch()
    log = _recover(tmp_path)
    assert log.count("a") == 1 and log.count("c") == 1 and log.count("b-start") == 4

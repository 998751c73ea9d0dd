"""`pyflows dev`'s keyboard shortcuts on a terminal, as `wrangler dev` has them.

    [b] open a browser, [e] open local explorer, [c] clear console, [x] to exit

(Wrangler's hotkey box and keys; `d` for devtools has no counterpart, a Python Worker has no
inspector to attach.) Active only when stdin and stdout are terminals and `CI` is not set, like
Wrangler. The terminal goes into cbreak mode (keys arrive one by one, Ctrl-C still interrupts) and is
restored at exit. Keys are read with `os.read` on a daemon thread, so no Python-level stdin lock is
held across the supervisor's forks.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Callable

EXPLORER_PATH = "/cdn-cgi/local/explorer/"
KEYS = (("b", "open a browser"), ("e", "open local explorer"), ("c", "clear console"), ("x", "to exit"))


def hotkey_box() -> str:
    """Wrangler's box: `╭─…─╮ / │ [b] open a browser, … │ / ╰─…─╯`."""
    text = ", ".join(f"[{k}] {label}" for k, label in KEYS)
    width = len(text) + 2
    return f"╭{'─' * width}╮\n│ {text} │\n╰{'─' * width}╯"


def enabled() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty() and not os.environ.get("CI")


def _open(url: str) -> None:
    import webbrowser

    if not webbrowser.open(url):
        sys.stdout.write(f"Could not open a browser here: open {url} yourself.\n")
        sys.stdout.flush()


def handle(key: str, url: str, *, redraw: Callable[[], None]) -> bool:
    """Act on one key; False when it means exit."""
    key = key.lower()
    if key == "b":
        _open(url)
    elif key == "e":
        _open(url.rstrip("/") + EXPLORER_PATH)
    elif key == "c":
        sys.stdout.write("\x1b[2J\x1b[3J\x1b[H")
        redraw()
    elif key in ("x", "q"):
        return False
    return True


def start(url: str, redraw: Callable[[], None]) -> None:
    """Put the terminal in cbreak mode and read keys on a daemon thread; `x` sends us SIGINT."""
    import termios
    import tty

    fd = sys.stdin.fileno()
    try:
        saved = termios.tcgetattr(fd)
        tty.setcbreak(fd, termios.TCSANOW)  # not TCSAFLUSH: keep keys typed already
    except termios.error:
        return
    atexit.register(termios.tcsetattr, fd, termios.TCSADRAIN, saved)

    def loop() -> None:
        while True:
            try:
                data = os.read(fd, 1)
            except OSError:
                return
            if not data:
                return
            if not handle(data.decode("utf-8", "replace"), url, redraw=redraw):
                os.kill(os.getpid(), signal.SIGINT)
                return

    threading.Thread(target=loop, name="pyflows-hotkeys", daemon=True).start()

"""A handler's uncaught error as the dev console shows it: the traceback of the user's own code.

    text = user_traceback(exc)     # "Traceback (most recent call last): ..." without pyflows' frames

pyflows' own frames (runtime/: the server, the consumer loop, the loader) are noise next to the
user's, as workerd's frames are in Wrangler's `✘ [ERROR] Uncaught ...`; when every frame is
pyflows' own (an error inside pyflows), all of them are kept.
"""

from __future__ import annotations

import traceback
from pathlib import Path

__all__ = ["user_traceback"]

_RUNTIME_DIR = str(Path(__file__).resolve().parents[1]) + "/"


def user_traceback(exc: BaseException) -> str:
    """`exc`'s formatted traceback (chained causes included) without pyflows' frames; no trailing newline."""
    tbe = traceback.TracebackException.from_exception(exc)
    _trim(tbe)
    return "".join(tbe.format()).rstrip()


def _trim(tbe: traceback.TracebackException) -> None:
    user = [f for f in tbe.stack if not f.filename.startswith(_RUNTIME_DIR)]
    if user:
        tbe.stack = traceback.StackSummary.from_list(user)
    for linked in (tbe.__cause__, tbe.__context__):
        if linked is not None:
            _trim(linked)

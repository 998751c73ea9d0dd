"""`pyodide.ffi` under CPython: there is no JavaScript, so conversions are the identity.

`to_js(x, dict_converter=js.Object.fromEntries)` and `create_proxy(fn)` return their argument, so
code written for Pyodide (`to_js(..., dict_converter=js.Object.fromEntries)`) passes plain values on.
`JsProxy` exists for `isinstance` checks (nothing is ever a JsProxy here).
"""

from __future__ import annotations

from typing import Any

from pyflows.runtime.surface.js import run_sync

__all__ = [
    "JsArray",
    "JsException",
    "JsProxy",
    "create_once_callable",
    "create_proxy",
    "destroy_proxies",
    "jsnull",
    "run_sync",
    "to_js",
]

jsnull = None


class JsProxy:
    """The type of JavaScript objects seen from Python; no value is one under pyflows."""

    def to_py(self, *args: Any, **kwargs: Any) -> Any:
        return self


class JsArray(JsProxy):
    pass


class JsException(Exception):  # noqa: N818 - Pyodide's name
    """An error thrown by JavaScript; pyflows never raises it, but `except JsException` must parse."""


def to_js(
    obj: Any,
    *,
    depth: int = -1,
    pyproxies: Any = None,
    create_pyproxies: bool = True,
    dict_converter: Any = None,
    default_converter: Any = None,
    eager_converter: Any = None,
) -> Any:
    """Identity: Python values are already what pyflows' APIs take."""
    return obj


def create_proxy(obj: Any, *, capture_this: bool = False, roundtrip: bool = True) -> Any:
    """Identity: a Python callable stays a Python callable."""
    return obj


def create_once_callable(obj: Any, *, _may_syncify: bool = False) -> Any:
    return obj


def destroy_proxies(proxies: Any) -> None:
    return None

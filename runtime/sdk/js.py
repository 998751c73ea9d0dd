"""`js`: the top-level module Pyodide code imports; pyflows' implementation is runtime/surface/js.py."""

from __future__ import annotations

import sys

from pyflows.runtime.surface import js as _impl

sys.modules[__name__] = _impl

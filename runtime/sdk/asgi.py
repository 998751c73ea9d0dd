"""`asgi`: the top-level module Python Workers code imports; pyflows' implementation is runtime/surface/asgi.py."""

from __future__ import annotations

import sys

from pyflows.runtime.surface import asgi as _impl

sys.modules[__name__] = _impl

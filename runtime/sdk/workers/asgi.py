"""`workers.asgi` is the same module as the top-level `asgi` shim (as upstream aliases them)."""

from __future__ import annotations

import sys

from pyflows.runtime.surface import asgi as _impl

sys.modules[__name__] = _impl

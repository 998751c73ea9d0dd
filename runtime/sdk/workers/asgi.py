"""`workers.asgi` is the same module as the top-level `asgi` shim (as upstream aliases them)."""

from __future__ import annotations

import sys

try:
    import asgi as _impl  # the shim directory is on sys.path while user code runs
except ImportError:  # imported from outside a Worker (tests, tools)
    from pyflows.runtime.sdk import asgi as _impl

sys.modules[__name__] = _impl

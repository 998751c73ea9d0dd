"""`workers.wsgi` (`wsgi.fetch(app, request, env)`); pyflows' implementation is runtime/surface/wsgi.py."""

from __future__ import annotations

import sys

from pyflows.runtime.surface import wsgi as _impl

sys.modules[__name__] = _impl

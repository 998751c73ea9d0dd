"""`workers.workflows`: exactly one name, as upstream."""

from __future__ import annotations

from pyflows.runtime.surface.entrypoints import NonRetryableError

__all__ = ["NonRetryableError"]

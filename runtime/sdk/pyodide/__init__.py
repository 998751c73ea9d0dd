"""A stand-in `pyodide` package: only `pyodide.ffi` (and `pyodide.http.pyfetch`) for ported code."""

from __future__ import annotations

__version__ = "0.28.2"  # the Pyodide version Cloudflare's Python Workers run today

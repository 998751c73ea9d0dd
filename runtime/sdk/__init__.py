"""Modules user code imports (`workers`, `workers.workflows`, `js`, `pyodide.ffi`, `asgi`).

This directory is put *first* on sys.path before the user's Worker is imported, so these shadow an
installed `workers-runtime-sdk` (which cannot import under CPython). Each module only re-exports
pyflows' implementation, so the engine and user code share the same classes.
"""

from __future__ import annotations

from pathlib import Path

SHIM_DIR = Path(__file__).resolve().parent

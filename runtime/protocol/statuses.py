"""Instance statuses (Cloudflare Workflows' names and transitions), shared by the engine, the API and the CLI.

A dependency-free module: the CLI imports it without pulling in the engine or SQLite.
"""

from __future__ import annotations

# In the order Wrangler lists them (`--status` help and error messages).
STATUSES = ("queued", "running", "paused", "errored", "terminated", "complete", "waiting", "waitingForPause")
# In the order `workflows describe` counts them (alphabetical).
COUNT_ORDER = tuple(sorted(STATUSES))
# No further transitions but restart and delete.
FINISHED = frozenset({"complete", "errored", "terminated"})
# What the engine resumes when it starts (paused ones stay paused until resumed).
UNFINISHED = ("queued", "running", "waiting", "waitingForPause", "paused")

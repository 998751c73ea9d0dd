from __future__ import annotations

from pyflows.cli import main

main()

from __future__ import annotations

from pyflows.cli.app import main

main()

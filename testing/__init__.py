"""`pyflows.testing`: helpers for testing pyflows projects (and pyflows itself).

Import-light on purpose: submodules (e.g. `pyflows.testing.devserver`, a real `pyflows dev` on a
free port) are imported by name, never from here.
"""

"""What `pyflows dev` prints: the `Reporter` of runtime/dev (banner, Ready, reloads, ✘/▲ lines).

Kept free of typer: the reload supervisor (a lean interpreter after `pyflows dev` execs) imports it.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from pyflows import __version__
from pyflows.cli.render import banner_text, error_line, warning_line

if TYPE_CHECKING:
    from pyflows.runtime.config import Config


class Console:
    """Everything `pyflows dev` prints (Wrangler's wording where there is one)."""

    def __init__(self, url: str) -> None:
        self.url = url

    @staticmethod
    def _out(text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def banner(self, cfg: Config) -> None:
        """The version line and the bindings table; secret values are never shown."""
        rows: list[tuple[str, ...]] = [(f"env.{w.binding} ({w.class_name})", "Workflow") for w in cfg.workflows]
        t = cfg.triggers  # Wrangler's resource names for these bindings
        rows += [(f"env.{p.binding} ({p.queue})", "Queue") for p in t.producers]
        rows += [(f"env.{d.name} ({d.class_name})", "Durable Object") for d in t.durable_objects]
        rows += [(f"env.{s.binding} ({s.service}#{s.entrypoint or 'Default'})", "Worker") for s in t.services]
        rows += [(f"env.{b.binding} ({b.id})", "KV Namespace") for b in cfg.kv_namespaces]
        rows += [(f"env.{b.binding} ({b.database_name})", "D1 Database") for b in cfg.d1_databases]
        rows += [(f"env.{b.binding} ({b.bucket_name})", "R2 Bucket") for b in cfg.r2_buckets]
        for key, value in cfg.vars.items():
            if key not in cfg.secrets:
                rows.append((f"env.{key} ({_short(value)})", "Environment Variable"))
        rows.extend((f'env.{key} ("(hidden)")', "Environment Variable") for key in cfg.secrets)
        if cfg.assets is not None and cfg.assets.binding:
            rows.append((f"env.{cfg.assets.binding}", "Assets"))
        if cfg.ai is not None:
            rows.append((f"env.{cfg.ai.binding}", "AI", "remote"))  # Workers AI always runs on Cloudflare
        lines = banner_text(__version__).rstrip("\n").split("\n")  # the banner every command prints
        if rows:
            width = max(len("Binding"), *(len(r[0]) for r in rows)) + 4
            kind_width = max(len("Resource"), *(len(r[1]) for r in rows)) + 4
            lines.append("Your Worker has access to the following bindings:")
            lines.append("Binding".ljust(width) + "Resource".ljust(kind_width) + "Mode")
            lines.extend(r[0].ljust(width) + r[1].ljust(kind_width) + (r[2] if len(r) > 2 else "local") for r in rows)
        else:
            lines.append("Your Worker has no bindings.")
        lines += ["", "⎔ Starting local server..."]
        self._out("\n".join(lines))

    def ready(self) -> None:
        self._out(f"[pyflows:info] Ready on {self.url}")
        self._out(f"[pyflows:info] Local Explorer on {self.url}/cdn-cgi/local/explorer/")
        from pyflows.runtime.dev import hotkeys

        if hotkeys.enabled():  # a terminal: Wrangler's hotkeys (b, e, c, x)
            hotkeys.start(self.url, redraw=lambda: self._out(hotkeys.hotkey_box()))
            self._out(hotkeys.hotkey_box())  # after cbreak mode is on: a key pressed now is not lost

    def reloading(self, what: str) -> None:
        self._out(f"⎔ Reloading: {what} changed")

    def reloaded(self) -> None:
        self._out("⎔ Local server updated and ready")

    def error(self, message: str) -> None:
        sys.stderr.write(error_line(message))
        sys.stderr.flush()

    def warning(self, message: str) -> None:
        sys.stderr.write(warning_line(message))
        sys.stderr.flush()


def _short(value: Any, limit: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 3] + "..."

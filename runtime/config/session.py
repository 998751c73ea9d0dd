"""Several Workers in one dev session: `pyflows dev -c a/wrangler.jsonc -c b/wrangler.jsonc`.

    config = load_session(cwd, [Path("a/wrangler.jsonc"), Path("b/wrangler.jsonc")], env)
    config.siblings      # (Config of b,): the first config serves HTTP, the others are bound to

As `wrangler dev -c a -c b` (developers.cloudflare.com/workers/development-testing/multi-workers/): every
Worker's Workflows, Durable Objects, entrypoints and queue consumers run in the session, so a Worker can
bind to them by `script_name` / `service`. Worker names must differ, and a workflow name may be defined
(without a `script_name` naming another Worker) by one Worker only.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pyflows.runtime.config import Config, load
from pyflows.runtime.errors import ConfigError

__all__ = ["load_session"]


def load_session(cwd: Path, configs: list[Path | None], env: str | None = None) -> Config:
    """The first config with the others as `siblings`; ConfigError naming clashing names."""
    primary = load(cwd, configs[0] if configs else None, env)
    if len(configs) <= 1:
        return primary
    others = [load(cwd, path, env) for path in configs[1:]]
    owners: dict[str, str] = {}
    seen: dict[str, Path] = {}
    for cfg in (primary, *others):
        if cfg.name in seen:
            raise ConfigError(
                f"{seen[cfg.name]} and {cfg.path} both name their Worker {cfg.name!r}; Workers of one session "
                "need different names. Rename one of them."
            )
        seen[cfg.name] = cfg.path
        for wf in cfg.workflows:
            if wf.script_name in (None, cfg.name):
                if wf.name in owners:
                    raise ConfigError(
                        f"Workflow {wf.name!r} is defined by both {owners[wf.name]!r} and {cfg.name!r}. Define it in "
                        f'one Worker and bind to it from the other with "script_name": "{owners[wf.name]}".'
                    )
                owners[wf.name] = cfg.name
    return replace(
        primary, siblings=tuple(others), warnings=primary.warnings + tuple(w for o in others for w in o.warnings)
    )

"""The `assets` and `ai` keys of the wrangler config, as frozen values.

    "assets": {"directory": "./public", "binding": "ASSETS", "html_handling": "auto-trailing-slash",
               "not_found_handling": "none", "run_worker_first": false | ["/api/*", "!/api/docs"]}
    "ai": {"binding": "AI"}

Defaults are Wrangler's (developers.cloudflare.com/workers/static-assets/binding/): html_handling
"auto-trailing-slash", not_found_handling "none", run_worker_first false. The schema checks the
types and enum values; this module resolves the directory (relative to the config file) and checks
that it exists, as `wrangler dev` does ("The directory specified by the "assets.directory" field in
your configuration file does not exist").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pyflows.runtime.errors import ConfigError

__all__ = ["AiConfig", "AssetsConfig", "parse_ai", "parse_assets"]

HtmlHandling = Literal["auto-trailing-slash", "force-trailing-slash", "drop-trailing-slash", "none"]
NotFoundHandling = Literal["single-page-application", "404-page", "none"]


@dataclass(frozen=True)
class AssetsConfig:
    """`assets`: where the files are and how requests reach them."""

    directory: Path  # absolute
    binding: str | None = None
    html_handling: HtmlHandling = "auto-trailing-slash"
    not_found_handling: NotFoundHandling = "none"
    # True: every request goes to the Worker first; a tuple: the path globs that do ("!" excludes).
    run_worker_first: bool | tuple[str, ...] = False


@dataclass(frozen=True)
class AiConfig:
    """`ai`: the Workers AI binding (always remote: it calls Cloudflare's API)."""

    binding: str
    account_id: str | None = None  # the config's top-level `account_id`; CLOUDFLARE_ACCOUNT_ID wins


def parse_assets(raw: Any, where: str, root: Path, shown: str) -> AssetsConfig | None:
    """`assets` (already schema-checked) → AssetsConfig; ConfigError if the directory is missing."""
    if raw is None:
        return None
    directory = (root / raw["directory"]).resolve()
    if not directory.is_dir():
        raise ConfigError(
            f"{shown}: {where}.directory is {raw['directory']!r}, but {directory} is not a directory. "
            "Create it, or fix the path (it is relative to the config file).",
            file=shown,
            key_path=f"{where}.directory",
            value=raw["directory"],
        )
    first = raw.get("run_worker_first", False)
    return AssetsConfig(
        directory=directory,
        binding=raw.get("binding"),
        html_handling=raw.get("html_handling", "auto-trailing-slash"),
        not_found_handling=raw.get("not_found_handling", "none"),
        run_worker_first=tuple(first) if isinstance(first, list) else bool(first),
    )


def parse_ai(raw: Any, account_id: Any = None) -> AiConfig | None:
    """`ai` (already schema-checked) → AiConfig, with the config's `account_id` if it has one."""
    if raw is None:
        return None
    return AiConfig(binding=raw["binding"], account_id=account_id if isinstance(account_id, str) else None)

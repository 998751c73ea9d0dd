"""The bindings of the Worker's platform keys: `assets.binding` (static assets) and `ai` (Workers AI)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyflows.runtime.config import Config

__all__ = ["platform_bindings"]


def platform_bindings(config: Config) -> dict[str, Any]:
    """`{binding name: binding}` for `assets.binding` and `ai.binding` (empty when neither is set)."""
    out: dict[str, Any] = {}
    if config.assets is not None and config.assets.binding:
        from pyflows.runtime.bindings.assets import AssetsBinding
        from pyflows.runtime.server.assets import AssetServer

        server = AssetServer(config.assets, config.compatibility_date, config.compatibility_flags)
        out[config.assets.binding] = AssetsBinding(server)
    if config.ai is not None:
        from pyflows.runtime.bindings.ai import AiBinding

        out[config.ai.binding] = AiBinding(account_id=config.ai.account_id)
    return out

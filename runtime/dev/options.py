"""`DevOptions`: everything one `pyflows dev` session was asked for, from flag parsing to each server.

It is built once from the flags (cli/commands/dev.py), gets the config read at start-up, and then
crosses every hand-off as the same JSON text (`to_json` / `from_json`):

    pyflows dev ──(socketpair, with the listening socket)──► the first server (forked before config)
                └─(argv of the exec)──────────────────────► the reload supervisor
    supervisor ──(fork; `with_config` after a config change)──► each later server

What is derived from it (address, state directory, whether the Worker is public) is a property, so
it is computed the same way in every process.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyflows.runtime.protocol.defaults import DEFAULT_IP, DEFAULT_MAX_CONCURRENCY, DEFAULT_PORT

if TYPE_CHECKING:
    from pyflows.runtime.config import Config

__all__ = ["DevOptions", "Project"]


@dataclass(frozen=True)
class DevOptions:
    """`pyflows dev`'s flags (and, once read, the project's config). Frozen; JSON across processes.

    `port` / `ip` / `persist_to` are None when not given: then `dev.port` / `dev.ip` in the config
    apply, else 8787 / 127.0.0.1 (Wrangler's defaults), and state goes to `<project>/.pyflows/state`.
    """

    cwd: Path  # --cwd (absolute); --config and --persist-to are relative to it
    config_file: Path | None = None  # --config (the first one: this Worker serves HTTP)
    extra_configs: tuple[Path, ...] = ()  # `-c a -c b`: the session's other Workers
    env: str | None = None  # --env
    port: int | None = None  # --port (0: any free port)
    ip: str | None = None  # --ip
    persist_to: Path | None = None  # --persist-to
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY  # --max-concurrency
    reload: bool = True  # not --no-reload
    run_crons: bool = False  # --run-crons: fire triggers.crons on their schedule
    config: Config | None = None  # the project's config, read once by `pyflows dev` (None before)

    # Derived, the same in every process --------------------------------------------------------
    def load_config(self) -> Config:
        """Read and validate the project's config for these flags (ConfigError if it is wrong)."""
        from pyflows.runtime.config.session import load_session

        return load_session(self.cwd, [self.config_file, *self.extra_configs], self.env)

    def with_config(self, config: Config) -> DevOptions:
        return replace(self, config=config)

    @property
    def loaded(self) -> Config:
        """The config; only valid after `with_config` (every server process has it)."""
        if self.config is None:
            raise RuntimeError("DevOptions.config is read by `pyflows dev` before any server starts")
        return self.config

    @property
    def host(self) -> str:
        return self.ip or self.loaded.dev_ip or DEFAULT_IP

    @property
    def listen_port(self) -> int:
        if self.port is not None:
            return self.port
        return self.loaded.dev_port if self.loaded.dev_port is not None else DEFAULT_PORT

    @property
    def state_dir(self) -> Path:
        return self.state_dir_in(self.loaded.root)

    def state_dir_in(self, root: Path) -> Path:
        """--persist-to (relative to --cwd), else `<root>/.pyflows/state` for the project at `root`."""
        if self.persist_to is not None:
            return (self.cwd / self.persist_to).resolve()
        return root / ".pyflows" / "state"

    @property
    def public(self) -> bool:
        """Listening on a non-loopback address: the Worker answers any Host (the API still does not)."""
        from pyflows.runtime.dev.net import is_loopback

        return not is_loopback(self.host)

    # JSON ----------------------------------------------------------------------------------------
    def to_json(self) -> str:
        data: dict[str, Any] = asdict(replace(self, config=None))
        for key in ("cwd", "config_file", "persist_to"):
            data[key] = None if data[key] is None else str(data[key])
        data["extra_configs"] = [str(p) for p in self.extra_configs]
        data["config"] = None if self.config is None else self.config.to_dict()
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str, *, decode_config: bool = True) -> DevOptions:
        """The options `to_json` wrote. `decode_config=False` leaves `config` None without importing
        the config package: the supervisor reads the config itself after Ready, and that import
        would add ~10-20 ms to start-up before it (see `Project` for what it needs meanwhile)."""
        data = json.loads(text)
        for key in ("cwd", "config_file", "persist_to"):
            data[key] = None if data[key] is None else Path(data[key])
        data["extra_configs"] = tuple(Path(p) for p in data["extra_configs"])
        if data["config"] is not None and decode_config:
            from pyflows.runtime.config import Config

            data["config"] = Config.from_dict(data["config"])
        else:
            data["config"] = None
        return cls(**data)


@dataclass(frozen=True)
class Project:
    """Where the project's files are, read from the options' JSON without decoding its config."""

    root: Path  # the config file's folder
    config_path: Path
    main_dir: Path  # the folder of `main` (watched too when outside root)
    extra_configs: tuple[Path, ...] = ()  # `-c a -c b`: the other Workers' config files (absolute)

    @classmethod
    def from_options_json(cls, text: str) -> Project:
        data = json.loads(text)
        config = data["config"]  # Config.to_dict(): paths as strings
        extra = tuple((Path(data["cwd"]) / p).resolve() for p in data["extra_configs"])
        return cls(Path(config["root"]), Path(config["path"]), Path(config["main"]).parent, extra)

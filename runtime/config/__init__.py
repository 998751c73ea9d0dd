"""The project's configuration: find it, parse it, validate it, return frozen values.

    load(cwd, config, env) -> Config
        0. find                         --config (relative to cwd), else wrangler.jsonc, wrangler.json,
                                        wrangler.toml in cwd, first one wins (a warning names the rest)
        1. parse JSONC or TOML          errors: <file>:<line>:<column>: what was expected
        2. validate config-schema.json  errors: <file>: <key path> is <value>; what is allowed
        3. apply env.<name>             its keys replace the top level's; `vars` and `workflows` are
                                        NOT inherited (Wrangler's non-inheritable keys), `name`
                                        defaults to "<name>-<env>", `dev` stays top-level only
        4. semantic checks              main, unique workflow names/bindings, identifiers
        5. secrets                      .dev.vars.<env> (with --env), else .dev.vars, else .env;
                                        dotenv syntax; they override same-named `vars`

jsonschema is imported inside `load`: the CLI must start fast for commands that never read config.
"""

from __future__ import annotations

import copy
import datetime as _dt
import keyword
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from pyflows.runtime.config.assets import AiConfig, AssetsConfig, parse_ai, parse_assets
from pyflows.runtime.config.bindings import (
    STORAGE_BINDING_KEYS,
    D1DatabaseConfig,
    KVNamespaceConfig,
    R2BucketConfig,
    check_unique_bindings,
    parse_storage_bindings,
)
from pyflows.runtime.config.formats import (
    KeyPositions,
    jsonc_key_positions,
    parse_dotenv,
    parse_jsonc,
    parse_toml,
    toml_key_positions,
)
from pyflows.runtime.config.schema import describe_value as _value
from pyflows.runtime.config.schema import key_path, misspelled_keys, validate
from pyflows.runtime.config.schema import schema_path as schema_path  # re-exported
from pyflows.runtime.config.triggers import TriggersConfig, parse_triggers
from pyflows.runtime.errors import (
    ConfigError,
    ConfigNotFoundError,
    ConfigParseError,
    ConfigSchemaError,
)
from pyflows.runtime.protocol.limits import DEFAULT_CPU_MS, DEFAULT_MAX_STEPS

__all__ = [
    "CONFIG_FILE_NAMES",
    "Config",
    "D1DatabaseConfig",
    "KVNamespaceConfig",
    "R2BucketConfig",
    "WorkflowConfig",
    "account_id",
    "is_config_file",
    "load",
    "schema_path",
]

T = TypeVar("T")

CONFIG_FILE_NAMES = ("wrangler.jsonc", "wrangler.json", "wrangler.toml")
MODERN_HANDLERS_DATE = "2025-08-14"  # python_no_global_handlers on by default from this date
IMPLICIT_DEPENDENCIES_DATE = "2026-02-25"  # python_workflows_implicit_dependencies on from this date
PYTHON_WORKFLOWS_DATE = "2025-09-20"  # python_workflows implied by python_workers
# Wrangler does not copy these from the top level into env.<name>: bindings are per environment.
NON_INHERITABLE_KEYS = ("vars", "workflows", "durable_objects", "queues", "services", *STORAGE_BINDING_KEYS)
# Wrangler reads these at the top level only and ignores them inside env.<name>.
TOP_LEVEL_ONLY_KEYS = ("dev", "env", "$schema")


@dataclass(frozen=True)
class WorkflowConfig:
    """One entry of `workflows[]`."""

    name: str
    binding: str
    class_name: str
    script_name: str | None = None
    max_steps: int = DEFAULT_MAX_STEPS  # limits.steps
    concurrency_limit: int | None = None  # concurrency.limit: at most this many instances running at once


@dataclass(frozen=True)
class Config:
    """A loaded, validated project configuration (with `--env` applied and secrets read)."""

    path: Path  # the config file
    root: Path  # its directory; `main` and secrets files are relative to it
    name: str
    main: Path  # absolute; ends in .py and exists
    compatibility_date: str | None = None
    compatibility_flags: tuple[str, ...] = ()
    workflows: tuple[WorkflowConfig, ...] = ()
    cpu_ms: int = DEFAULT_CPU_MS
    vars: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    secrets: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    secrets_file: Path | None = None
    dev_port: int | None = None
    dev_ip: str | None = None
    env_name: str | None = None
    warnings: tuple[str, ...] = ()
    assets: AssetsConfig | None = None  # runtime/config/assets.py
    ai: AiConfig | None = None
    triggers: TriggersConfig = field(default_factory=TriggersConfig)  # crons, queues, DOs, services
    siblings: tuple[Config, ...] = ()  # the other Workers of the session: `pyflows dev -c a -c b`
    # Storage bindings (runtime/config/bindings.py)
    kv_namespaces: tuple[KVNamespaceConfig, ...] = ()
    d1_databases: tuple[D1DatabaseConfig, ...] = ()
    r2_buckets: tuple[R2BucketConfig, ...] = ()

    def __post_init__(self) -> None:
        # Keep the mappings read-only even when a caller (a test, a factory) passes plain dicts.
        for name in ("vars", "secrets"):
            value = getattr(self, name)
            if not isinstance(value, MappingProxyType):
                object.__setattr__(self, name, MappingProxyType(dict(value)))
        object.__setattr__(self, "compatibility_flags", tuple(self.compatibility_flags))
        object.__setattr__(self, "workflows", tuple(self.workflows))
        object.__setattr__(self, "warnings", tuple(self.warnings))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (paths as strings) that `from_dict` turns back into an equal Config; how
        `pyflows dev` hands the config it read to its server processes (runtime/dev/options.py)."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Config:
        """The Config `to_dict` described (nested records, tuples and paths rebuilt from the field types)."""
        return _dataclass_from_dict(cls, data)

    @property
    def _effective_date(self) -> str:
        # Like `wrangler dev`, no compatibility_date means the runtime's newest date (today).
        return self.compatibility_date or _dt.date.today().isoformat()

    @property
    def modern_handlers(self) -> bool:
        """`class Default(WorkerEntrypoint)` instead of a global `on_fetch` (Cloudflare's Python Workers).

        On from compatibility_date 2025-08-14 or with flag `python_no_global_handlers`;
        flag `disable_python_no_global_handlers` turns it off.
        """
        flags = set(self.compatibility_flags)
        if "disable_python_no_global_handlers" in flags:
            return False
        return "python_no_global_handlers" in flags or self._effective_date >= MODERN_HANDLERS_DATE

    @property
    def implicit_dependencies(self) -> bool:
        """`step.do(name=None, *, ...)` with parameters naming earlier steps (Python Workflows SDK).

        On with flag `python_workflows_implicit_dependencies`, or from compatibility_date
        2026-02-25 unless flag `no_python_workflows_implicit_dependencies` is set.
        """
        flags = set(self.compatibility_flags)
        if "python_workflows_implicit_dependencies" in flags:
            return True
        return (
            self._effective_date >= IMPLICIT_DEPENDENCIES_DATE
            and "no_python_workflows_implicit_dependencies" not in flags
        )

    @property
    def env_values(self) -> dict[str, Any]:
        """What `self.env.NAME` shows besides bindings: `vars`, overlaid by secrets (a fresh copy)."""
        values = copy.deepcopy(dict(self.vars))
        values.update(self.secrets)
        return values


def _plain(value: Any) -> Any:
    """JSON-ready data: records as dicts, tuples as lists, paths as strings, mappings as dicts."""
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def _decode(hint: Any, value: Any) -> Any:
    """`value` (from `_plain`) as the type `hint` names: records, `tuple[X, ...]`, `Path`, `X | None`."""
    import types
    import typing

    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _decode(inner[0], value) if len(inner) == 1 else value
    if hint is Path:
        return Path(value)
    if isinstance(hint, type) and hasattr(hint, "__dataclass_fields__"):
        return _dataclass_from_dict(hint, value)
    if origin is tuple and isinstance(value, list):
        item = args[0] if args else Any
        return tuple(_decode(item, v) for v in value)
    return value


def _dataclass_from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """`cls(**data)` with every field decoded from its type hint (see `_decode`)."""
    import typing

    hints = typing.get_type_hints(cls)
    state = {f.name: _decode(hints[f.name], data[f.name]) for f in fields(cls) if f.name in data}  # type: ignore[arg-type]
    return cls(**state)


# ------------------------------------------------------------------------------------ finding


def _shown(path: Path) -> str:
    """The path as the user should see it: relative to the shell's directory when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _locate(cwd: Path, config: Path | None) -> tuple[Path, list[str]]:
    cwd = Path(cwd).expanduser().resolve()
    if config is not None:
        path = (cwd / Path(config).expanduser()).resolve()
        if not path.is_file():
            what = "is a directory" if path.is_dir() else "does not exist"
            raise ConfigNotFoundError(
                f"--config {config}: {path} {what}. Pass the path of a wrangler.jsonc, wrangler.json "
                "or wrangler.toml file (relative to --cwd), or run `pyflows init` to create a project.",
                path=str(path),
            )
        return path, []
    found = [cwd / name for name in CONFIG_FILE_NAMES if (cwd / name).is_file()]
    if not found:
        raise ConfigNotFoundError(
            f"No config file found in {cwd} (looked for {', '.join(CONFIG_FILE_NAMES)}). "
            "Run `pyflows init` to create a project, pass --config FILE, or --cwd DIR to point at "
            "the project.",
            cwd=str(cwd),
        )
    warnings = []
    if len(found) > 1:
        ignored = ", ".join(p.name for p in found[1:])
        warnings.append(
            f"Found {len(found)} config files in {cwd}: using {found[0].name} and ignoring {ignored}. "
            "Delete the ones you do not use, or choose one with --config."
        )
    return found[0], warnings


def _read(path: Path) -> tuple[Any, Callable[[], KeyPositions]]:
    """The parsed file, and a function giving its key positions (for schema errors)."""
    shown = _shown(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigParseError(
            f"{shown}: not UTF-8 text (byte {exc.start}). Save the file as UTF-8.", file=shown
        ) from None
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot read it ({exc.strerror}).", file=shown) from None
    if path.suffix == ".toml":
        return parse_toml(text, shown), lambda: toml_key_positions(text)
    return parse_jsonc(text, shown), lambda: jsonc_key_positions(text)


# ---------------------------------------------------------------------------------- env + checks


def _apply_env(raw: dict[str, Any], env: str | None, shown: str) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """The effective settings, where each key came from (key-path prefix), and warnings."""
    envs: dict[str, Any] = raw.get("env") or {}
    if env is None:
        return {k: v for k, v in raw.items() if k != "env"}, {}, []
    if env not in envs:
        if envs:
            known = ", ".join(sorted(envs))
            hint = f"Available environments: {known}. Use one of them, or add env.{env}."
        else:
            hint = f"It defines no environments: add an env.{env} section, or drop --env."
        raise ConfigError(f"{shown}: no environment named {env!r} (--env {env}). {hint}", env=env)
    section: dict[str, Any] = envs[env]
    prefix = key_path(["env", env]) + "."
    effective = {k: v for k, v in raw.items() if k not in ("env", *NON_INHERITABLE_KEYS)}
    origin: dict[str, str] = {}
    warnings: list[str] = []
    if "name" not in section and "name" in raw:
        effective["name"] = f"{raw['name']}-{env}"  # Wrangler's worker name for an environment
    for key, value in section.items():
        if key in TOP_LEVEL_ONLY_KEYS:
            warnings.append(f"{shown}: {prefix}{key} is ignored: `{key}` is read at the top level only.")
            continue
        effective[key] = value
        origin[key] = prefix
    for key in NON_INHERITABLE_KEYS:
        if key in raw and key not in section:
            warnings.append(
                f"{shown}: `{key}` exists at the top level but not in {prefix[:-1]}; it is not inherited "
                f"by environments (as in Wrangler), so --env {env} has no {key}. Add {prefix}{key} "
                "if you need them."
            )
    return effective, origin, warnings


def _workflows(items: list[dict[str, Any]], where: str, shown: str) -> tuple[WorkflowConfig, ...]:
    seen_names: dict[str, int] = {}
    seen_bindings: dict[str, int] = {}
    result = []
    for i, item in enumerate(items):
        name, binding = item["name"], item["binding"]
        if name in seen_names:
            raise ConfigSchemaError(
                f"{shown}: {where}[{seen_names[name]}] and {where}[{i}] both have name {_value(name)}. "
                "Workflow names must be unique: rename one of them.",
                file=shown,
                key_path=f"{where}[{i}].name",
                value=name,
            )
        if binding in seen_bindings:
            raise ConfigSchemaError(
                f"{shown}: {where}[{seen_bindings[binding]}] and {where}[{i}] both have binding "
                f"{_value(binding)}. Bindings must be unique (each is one self.env attribute): "
                "rename one of them.",
                file=shown,
                key_path=f"{where}[{i}].binding",
                value=binding,
            )
        for key in ("binding", "class_name"):
            if not item[key].isidentifier() or keyword.iskeyword(item[key]):
                what = "a Python keyword" if keyword.iskeyword(item[key]) else "not a Python identifier"
                raise ConfigSchemaError(
                    f"{shown}: {where}[{i}].{key} is {_value(item[key])}, which is {what}, "
                    "so it cannot be used as a name. Choose another name, e.g. MY_WORKFLOW.",
                    file=shown,
                    key_path=f"{where}[{i}].{key}",
                    value=item[key],
                )
        seen_names[name], seen_bindings[binding] = i, i
        steps = (item.get("limits") or {}).get("steps", DEFAULT_MAX_STEPS)  # the schema checks its range
        result.append(
            WorkflowConfig(
                name=name,
                binding=binding,
                class_name=item["class_name"],
                script_name=item.get("script_name"),
                max_steps=int(steps),
                concurrency_limit=(item.get("concurrency") or {}).get("limit"),
            )
        )
    return tuple(result)


def _main(effective: dict[str, Any], where: str, root: Path, shown: str) -> Path:
    main = effective.get("main")
    example = '"main": "src/entry.py"' if not shown.endswith(".toml") else 'main = "src/entry.py"'
    if main is None:
        raise ConfigSchemaError(
            f"{shown}: main is missing. Set it to the Worker's Python module, relative to the config file: {example}.",
            file=shown,
            key_path="main",
        )
    if not main.endswith(".py"):
        raise ConfigSchemaError(
            f"{shown}: {where} is {_value(main)}, which is not a Python module: pyflows runs Python "
            f"Workers, so main must end in .py (e.g. {example}).",
            file=shown,
            key_path=where,
            value=main,
        )
    path: Path = (root / str(main)).resolve()
    if not path.is_file():
        raise ConfigError(
            f"{shown}: {where} is {_value(main)}, but {path} does not exist. Create it, or fix the "
            "path (it is relative to the config file).",
            file=shown,
            key_path=where,
            value=main,
        )
    return path


_SECRETS_FILES = (".dev.vars", ".env")  # in this order; `.dev.vars.<env>` first with --env


def is_config_file(path: Path, config_path: Path) -> bool:
    """Whether a change to `path` can change the config read from `config_path`: that file, or a
    secrets file beside it (.dev.vars, .env, and their .<env> variants for any environment)."""
    if path == config_path:
        return True
    name = path.name
    return path.parent == config_path.parent and (
        name in _SECRETS_FILES or name.startswith(tuple(f"{n}." for n in _SECRETS_FILES))
    )


def _secret_candidates(root: Path, env: str | None) -> list[Path]:
    names = ([f"{_SECRETS_FILES[0]}.{env}"] if env else []) + list(_SECRETS_FILES)
    return [root / n for n in names]


def _load_secrets(root: Path, env: str | None) -> tuple[dict[str, str], Path | None]:
    for candidate in _secret_candidates(root, env):
        if candidate.is_file():
            shown = _shown(candidate)
            try:
                text = candidate.read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                msg = f"{shown}: cannot read it as UTF-8 text ({exc})."
                raise ConfigParseError(msg, file=shown) from None
            return parse_dotenv(text, shown), candidate
    return {}, None


def _flag_warnings(flags: tuple[str, ...], date: str | None, has_workflows: bool) -> list[str]:
    warnings = []
    if date is None:
        warnings.append(
            "No compatibility_date is set: like `wrangler dev`, pyflows uses today's date. Set "
            "compatibility_date so behaviour does not change under you (Cloudflare requires it to deploy)."
        )
    for on, off in (
        ("python_no_global_handlers", "disable_python_no_global_handlers"),
        ("python_workflows_implicit_dependencies", "no_python_workflows_implicit_dependencies"),
    ):
        if on in flags and off in flags:
            warnings.append(f"compatibility_flags has both {on} and {off}; they contradict each other.")
    if "python_workers" not in flags:
        warnings.append(
            "compatibility_flags lacks python_workers: Cloudflare needs it to run a Python Worker "
            "(pyflows runs it anyway)."
        )
    elif has_workflows and "python_workflows" not in flags and (date or "9999") < PYTHON_WORKFLOWS_DATE:
        warnings.append(
            f"compatibility_flags lacks python_workflows, which Cloudflare needs before "
            f"{PYTHON_WORKFLOWS_DATE} to run Python Workflows (pyflows runs them anyway)."
        )
    return warnings


def account_id(cwd: Path, config: Path | None = None, env: str | None = None) -> str | None:
    """The config's `account_id` (`env.<name>.account_id` wins with `--env`), or None.

    What the Cloudflare API commands use when CLOUDFLARE_ACCOUNT_ID is not set (Wrangler's
    `account_id` key). No config file, or one without the key, is None; a file that does not parse
    raises its `ConfigParseError`.
    """
    try:
        path, _ = _locate(cwd, config)
    except ConfigNotFoundError:
        return None
    raw, _ = _read(path)
    if not isinstance(raw, dict):
        return None
    envs = raw.get("env")
    chosen = envs.get(env) if env and isinstance(envs, dict) else None
    value = chosen.get("account_id") if isinstance(chosen, dict) and "account_id" in chosen else raw.get("account_id")
    return value.strip() or None if isinstance(value, str) else None


def load(cwd: Path, config: Path | None = None, env: str | None = None) -> Config:
    """Find, parse, validate and resolve the project's configuration.

    `cwd` is the project directory (`--cwd`), `config` an explicit file (`--config`, relative to
    `cwd`), `env` an environment name (`--env`). Raises a `ConfigError` subclass whose message names
    the file and the line/column (syntax) or key path (schema); see the module docstring.
    """
    path, warnings = _locate(cwd, config)
    shown = _shown(path)
    raw, locate = _read(path)
    validate(raw, shown, locate)
    warnings.extend(misspelled_keys(raw, shown))
    effective, origin, env_warnings = _apply_env(raw, env, shown)
    warnings.extend(env_warnings)
    root = path.parent

    name = effective.get("name")
    if name is None:
        raise ConfigSchemaError(
            f'{shown}: name is missing. Set the Worker\'s name, e.g. "name": "{root.name or "my-worker"}".',
            file=shown,
            key_path="name",
        )
    main = _main(effective, origin.get("main", "") + "main", root, shown)

    date = effective.get("compatibility_date")
    if date is not None:
        try:
            _dt.date.fromisoformat(date)
        except ValueError:
            where = origin.get("compatibility_date", "") + "compatibility_date"
            raise ConfigSchemaError(
                f"{shown}: {where} is {_value(date)}, which is not a real date. Use YYYY-MM-DD.",
                file=shown,
                key_path=where,
                value=date,
            ) from None
    flags = tuple(effective.get("compatibility_flags") or ())

    workflows = _workflows(effective.get("workflows") or [], origin.get("workflows", "") + "workflows", shown)
    cpu_ms = int((effective.get("limits") or {}).get("cpu_ms", DEFAULT_CPU_MS))  # the schema checks its range

    variables: dict[str, Any] = dict(effective.get("vars") or {})
    # Storage bindings; a binding name is unique across every kind (workflows, kv, d1, r2, ...).
    kv_namespaces, d1_databases, r2_buckets = parse_storage_bindings(effective, origin, shown)
    places = [(w.binding, f"{origin.get('workflows', '')}workflows[{i}]") for i, w in enumerate(workflows)]
    storage: tuple[tuple[str, Sequence[Any]], ...] = (
        ("kv_namespaces", kv_namespaces),
        ("d1_databases", d1_databases),
        ("r2_buckets", r2_buckets),
    )
    for key, items in storage:
        places += [(b.binding, f"{origin.get(key, '')}{key}[{i}]") for i, b in enumerate(items)]
    for key in ("assets", "ai"):  # runtime/config/assets.py
        if isinstance(effective.get(key), dict) and effective[key].get("binding"):
            places.append((effective[key]["binding"], f"{origin.get(key, '')}{key}"))
    check_unique_bindings(places, shown)
    kinds = {
        "workflows": "workflow",
        "kv_namespaces": "KV",
        "d1_databases": "D1",
        "r2_buckets": "R2",
        "assets": "assets",
        "ai": "AI",
    }
    bindings = {name: kinds[where.rsplit(".", 1)[-1].split("[")[0]] for name, where in places}
    for var in variables:
        if var in bindings:
            where = origin.get("vars", "") + "vars"
            raise ConfigSchemaError(
                f"{shown}: {where}.{var} and the {bindings[var]} binding "
                f"{var!r} have the same name; self.env.{var} can only be one of them. Rename one.",
                file=shown,
                key_path=f"{where}.{var}",
            )

    triggers = parse_triggers(effective, origin, shown, effective.get("workflows") or [])
    for binding in triggers.binding_names:
        if binding in bindings or binding in variables:
            raise ConfigSchemaError(
                f"{shown}: {binding!r} is both a binding (queues/durable_objects/services) and a workflow "
                f"binding or var; self.env.{binding} can only be one of them. Rename one.",
                file=shown,
                value=binding,
            )

    secrets, secrets_file = _load_secrets(root, env)
    for key in secrets:
        if key in bindings and secrets_file is not None:
            raise ConfigError(
                f"{_shown(secrets_file)}: {key} has the name of the {bindings[key]} binding {key!r} in "
                f"{shown}; self.env.{key} can only be one of them. Rename the secret or the binding.",
                file=_shown(secrets_file),
                key=key,
            )
    warnings.extend(_flag_warnings(flags, date, bool(workflows)))

    assets = parse_assets(effective.get("assets"), origin.get("assets", "") + "assets", root, shown)
    dev = raw.get("dev") or {}
    return Config(
        path=path,
        root=root,
        name=name,
        main=main,
        compatibility_date=date,
        compatibility_flags=flags,
        workflows=workflows,
        cpu_ms=cpu_ms,
        vars=MappingProxyType(variables),
        secrets=MappingProxyType(secrets),
        secrets_file=secrets_file,
        dev_port=None if dev.get("port") is None else int(dev["port"]),
        dev_ip=dev.get("ip"),
        env_name=env,
        warnings=tuple(warnings),
        assets=assets,
        ai=parse_ai(effective.get("ai"), effective.get("account_id")),
        triggers=triggers,
        kv_namespaces=kv_namespaces,
        d1_databases=d1_databases,
        r2_buckets=r2_buckets,
    )

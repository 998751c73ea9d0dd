"""The `pyflows` command: parse → call one thing → render → exit code.

Nothing here imports the server, Starlette, uvicorn or aiosqlite at module level: every command
pays only for what it uses (bench/dev_bench.py measures it).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from pyflows import __version__
from pyflows.cli import GLOBAL_VALUE_OPTIONS, command_of
from pyflows.runtime.errors import PyflowsError

# Named exit codes (uvicorn style).
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C


@dataclass(frozen=True)
class GlobalOptions:
    """Options every command honours: where the project is and which config/environment to use."""

    cwd: Path
    config: Path | None
    env: str | None


app = typer.Typer(
    name="pyflows",
    help="Local development for durable Python Workflows, Wrangler-compatible.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pyflows {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    cwd: Annotated[
        Path | None,
        typer.Option("--cwd", help="Run as if pyflows was started in this directory.", show_default=False),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Path to wrangler.jsonc / wrangler.json / wrangler.toml."),
    ] = None,
    env: Annotated[
        str | None, typer.Option("--env", "-e", help="Environment (env.<name> in the config) to use.")
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", "-v", callback=_version, is_eager=True, help="Show the version and exit."),
    ] = False,
) -> None:
    base = (cwd or Path.cwd()).resolve()
    if cwd is not None and not base.is_dir():
        raise PyflowsError(f"--cwd {cwd}: no such directory.")
    ctx.obj = GlobalOptions(cwd=base, config=config, env=env)


# The global options again, for use after a subcommand (`pyflows dev --cwd DIR`), as Wrangler allows.
_GLOBAL = "Global options"
CwdOpt = Annotated[
    Path | None,
    typer.Option("--cwd", help="Run as if pyflows was started in this directory.", rich_help_panel=_GLOBAL),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Path to the wrangler config file.", rich_help_panel=_GLOBAL),
]
EnvOpt = Annotated[str | None, typer.Option("--env", "-e", help="Environment to use.", rich_help_panel=_GLOBAL)]


def override_globals(ctx: typer.Context, cwd: Path | None, config: Path | None, env: str | None) -> GlobalOptions:
    """Apply global options given after the subcommand; they win over the ones given before it."""
    from dataclasses import replace

    if cwd is not None and not cwd.is_dir():
        raise PyflowsError(f"--cwd {cwd}: no such directory. Pass an existing project directory.")
    updated = replace(
        global_options(ctx),
        cwd=cwd.resolve() if cwd is not None else global_options(ctx).cwd,
        config=config if config is not None else global_options(ctx).config,
        env=env if env is not None else global_options(ctx).env,
    )
    ctx.find_root().obj = updated
    return updated


def global_options(ctx: typer.Context) -> GlobalOptions:
    """The root options, for a command several levels down."""
    root = ctx.find_root()
    obj = root.obj
    if not isinstance(obj, GlobalOptions):  # called without the root callback (tests)
        obj = GlobalOptions(cwd=Path.cwd(), config=None, env=None)
    return obj


def print_error(message: str) -> None:
    """Wrangler's error line: `✘ [ERROR] <message>` on stderr."""
    from pyflows.cli.render import error_line

    sys.stderr.write(error_line(message))


_COMMANDS = ("workflows", "dev", "init", "d1", "kv", "r2")


def _register(argv: list[str]) -> None:
    """Mount the command groups. Only the one named on the command line when it is known (importing
    the others costs start-up time on every command); all of them for --help or an unknown name."""
    import importlib

    command = command_of(argv)
    if command is None and ("--version" in argv or "-v" in argv):
        return
    for name in (command,) if command in _COMMANDS else _COMMANDS:
        importlib.import_module(f"pyflows.cli.commands.{name}").register(app)


def _only_the_named_path(typer_app: typer.Typer, argv: list[str]) -> list[tuple[typer.Typer, str, list[Any]]]:
    """Drop, from each group on the command line's path, the commands and groups it does not name.

    Typer turns every registered function into a Click command (reading its annotations) before it
    parses anything: ~3 ms per command, for the 16 of `workflows` alone. With the whole path named
    (`workflows instances list`) only that one is built. A name that matches nothing (a typo), or
    --help anywhere, keeps everything, so usage errors and help list all choices. Returns what was
    replaced, for `_restore`.
    """
    replaced: list[tuple[typer.Typer, str, list[Any]]] = []
    if "--help" in argv or "-h" in argv:
        return replaced
    current: typer.Typer | None = typer_app
    skip = False
    for token in argv:
        if current is None:
            break
        if skip or token.startswith("-"):
            skip = token in GLOBAL_VALUE_OPTIONS  # `--cwd DIR`: DIR is not a command name
            continue
        groups = [g for g in current.registered_groups if g.name == token]
        commands = [c for c in current.registered_commands if c.name == token]
        if not groups and not commands:
            break  # a typo (or an argument): this level stays whole
        replaced.append((current, "registered_groups", current.registered_groups))
        replaced.append((current, "registered_commands", current.registered_commands))
        current.registered_groups, current.registered_commands = groups, commands
        current = groups[0].typer_instance if groups else None
    return replaced


def _restore(replaced: list[tuple[typer.Typer, str, list[Any]]]) -> None:
    for owner, attribute, value in reversed(replaced):
        setattr(owner, attribute, value)


def main() -> None:
    """Console-script entry: expected errors become one `✘ [ERROR]` line and exit 1."""
    from pyflows.cli.commands.workflows import normalize_argv

    argv = normalize_argv(sys.argv[1:])
    _register(argv)
    replaced = _only_the_named_path(app, argv)
    try:
        app(args=argv, standalone_mode=False)
    except PyflowsError as exc:
        print_error(str(exc))
        sys.exit(EXIT_FAILURE)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.stderr.write("Aborted.\n")
        sys.exit(EXIT_FAILURE)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:
        # Usage errors (missing argument, bad option value). Typer >= 0.26 vendors its own copy of
        # click, so match click's exception protocol rather than `click.ClickException`.
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            sys.exit(code)
        raise
    finally:
        _restore(replaced)

"""`pyflows init`: create a project from one of the bundled templates.

A template is a complete, runnable project under `templates/<name>/` (run it in place with
`pyflows dev --cwd templates/<name>`), plus a `template.json` manifest:

    {"description": "one line for --list", "placeholder": "pyflows-<name>"}

Rendering copies every file except the manifest and local junk (`__pycache__`, `.pyflows`, ...),
replaces the placeholder project name with the chosen one in text files, renames `gitignore`
to `.gitignore` (wheels drop dotfiles from package data), and points `"$schema"` in
`wrangler.jsonc` at the installed `config-schema.json`.

Naming (as `npm create cloudflare` does it): the project name is `--name`, else the name of
DIR, else `<template>-workflow`; DIR defaults to `./<name>`.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from pyflows.cli.app import CwdOpt
from pyflows.runtime.errors import PyflowsError

DEFAULT_TEMPLATE = "hello"
MAX_NAME_LENGTH = 63
_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_SCHEMA_RE = re.compile(r'("\$schema"\s*:\s*)"(?:[^"\\]|\\.)*"')
_SKIP_PARTS = frozenset({"__pycache__", ".pyflows", ".pytest_cache", ".venv", ".wrangler"})
_SKIP_SUFFIXES = (".pyc", ".pyo")
_SHARED = "_shared"  # not a template (no manifest): files copied into every project
_MANIFEST = "template.json"
# Files stored under another name in the package (setuptools leaves dotfiles out of wheels).
_RENAMES = {"gitignore": ".gitignore"}


class InitError(PyflowsError):
    """`pyflows init` cannot create the project (bad name, unknown template, non-empty folder)."""


@dataclass(frozen=True)
class Template:
    name: str
    path: Path
    description: str
    placeholder: str


def templates_root() -> Path:
    import pyflows.templates

    return Path(pyflows.templates.__file__).resolve().parent


def list_templates() -> dict[str, Template]:
    """Every template directory that has a manifest, by name, sorted with the default first."""
    found: dict[str, Template] = {}
    root = templates_root()
    for manifest in sorted(root.glob(f"*/{_MANIFEST}")):
        data = json.loads(manifest.read_text(encoding="utf-8"))
        name = manifest.parent.name
        found[name] = Template(
            name=name,
            path=manifest.parent,
            description=str(data["description"]),
            placeholder=str(data["placeholder"]),
        )
    ordered = sorted(found, key=lambda n: (n != DEFAULT_TEMPLATE, n))
    return {n: found[n] for n in ordered}


def get_template(name: str) -> Template:
    templates = list_templates()
    if name not in templates:
        raise InitError(
            f"Unknown template {name!r}. Valid templates: {', '.join(templates)}. "
            "Run `pyflows init --list` to see what each one does."
        )
    return templates[name]


def suggest_name(text: str) -> str:
    """A valid Worker name close to `text` ("My App_2" -> "my-app-2"), or "" if none."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:MAX_NAME_LENGTH].rstrip("-")


def validate_name(name: str, *, source: str = "Project name") -> str:
    """Cloudflare's Worker name rules: lowercase letters, digits and dashes, at most 63 chars."""
    if len(name) <= MAX_NAME_LENGTH and _NAME_RE.match(name):
        return name
    rule = (
        "a Worker name may contain only lowercase letters (a-z), digits (0-9) and dashes (-), "
        f"must start and end with a letter or digit, and be at most {MAX_NAME_LENGTH} characters"
    )
    hint = suggest_name(name)
    fix = f"Pass --name {hint}" if hint else "Pass --name with a valid name"
    if source != "Project name":
        fix += " or choose another directory"
    raise InitError(f"{source} {name!r} is not valid: {rule}. {fix}.")


def render(template: Template, dest: Path, name: str, *, force: bool = False) -> list[Path]:
    """Write `template` into `dest` as project `name`; returns the files written (relative)."""
    if dest.exists() and not dest.is_dir():
        raise InitError(f"{dest} exists and is not a directory. Choose another directory.")
    if dest.is_dir() and any(dest.iterdir()) and not force:
        raise InitError(
            f"Directory {dest} is not empty. Choose a new or empty directory, or pass --force "
            "to write the template into it (files with the same names are overwritten)."
        )
    from pyflows.runtime.config.schema import schema_path  # where generated configs' "$schema" points

    schema = json.dumps(schema_path().as_posix())
    written: list[Path] = []
    # Files every project gets (templates/_shared), then the template's own (which win on a clash).
    sources = [(base, src) for base in (templates_root() / _SHARED, template.path) for src in sorted(base.rglob("*"))]
    for base, src in sources:
        rel = src.relative_to(base)
        if (
            src.is_dir()
            or rel.as_posix() == _MANIFEST
            or _SKIP_PARTS.intersection(rel.parts)
            or src.name.endswith(_SKIP_SUFFIXES)
        ):
            continue
        rel = rel.with_name(_RENAMES.get(rel.name, rel.name))
        data = src.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass  # binary: copied as is
        else:
            text = text.replace(template.placeholder, name)
            if rel.name in ("wrangler.jsonc", "wrangler.json"):
                text = _SCHEMA_RE.sub(lambda m: m[1] + schema, text, count=1)
            data = text.encode("utf-8")
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        # New files get the user's umask (never the package's read-only bits).
        target.write_bytes(data)
        if rel not in written:
            written.append(rel)
    return written


def _stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def _ask_template(templates: dict[str, Template]) -> str:
    names = list(templates)
    typer.echo("Which template would you like to use?")
    for i, t in enumerate(templates.values(), 1):
        typer.echo(f"  {i}. {t.name:<10} {t.description}")
    while True:
        answer = str(typer.prompt("Template (name or number)", default=DEFAULT_TEMPLATE)).strip()
        if answer in templates:
            return answer
        if answer.isdigit() and 1 <= int(answer) <= len(names):
            return names[int(answer) - 1]
        typer.echo(f"No template {answer!r}; answer one of {', '.join(names)} or 1-{len(names)}.")


def _print_list(templates: dict[str, Template]) -> None:
    from pyflows.cli.render import print_table

    rows = [
        [f"{t.name} (default)" if t.name == DEFAULT_TEMPLATE else t.name, t.description] for t in templates.values()
    ]
    print_table(["Template", "Description"], rows)


def _display(dest: Path, base: Path) -> str:
    try:
        return dest.relative_to(base).as_posix() or "."
    except ValueError:
        return str(dest)


def init_command(
    ctx: typer.Context,
    directory: Annotated[
        Path | None,
        typer.Argument(
            metavar="[DIR]",
            help="Folder to create the project in. Default: a new folder named after the project.",
            show_default=False,
        ),
    ] = None,
    template: Annotated[
        str | None,
        typer.Option(
            "--template",
            "-t",
            help=f"Template to start from (see --list). Asked on a terminal; '{DEFAULT_TEMPLATE}' otherwise.",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            "-n",
            help="Project (Worker) name: lowercase letters, digits, dashes. "
            "Default: the folder's name, or '<template>-workflow'.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Write into a non-empty folder, overwriting files.")
    ] = False,
    list_: Annotated[bool, typer.Option("--list", "-l", help="List the templates and exit.")] = False,
    cwd: CwdOpt = None,
) -> None:
    """Create a new project from a template (hello, approval, pipeline, order, cron, queue, storage)."""
    from pyflows.cli.app import override_globals

    base = override_globals(ctx, cwd, None, None).cwd
    templates = list_templates()
    if list_:
        _print_list(templates)
        return

    if template is None:
        template = _ask_template(templates) if _stdin_is_tty() else DEFAULT_TEMPLATE
    chosen = get_template(template)

    if name is not None:
        project = validate_name(name)
    elif directory is not None:
        project = validate_name((base / directory).resolve().name, source="The directory name")
    else:
        project = f"{chosen.name}-workflow"
    dest = (base / (directory if directory is not None else Path(project))).resolve()

    render(chosen, dest, project, force=force)

    shown = _display(dest, base)
    typer.echo(f"✨ Created {project} from the '{chosen.name}' template in {shown}")
    typer.echo("")
    typer.echo("Next steps:")
    if shown != ".":
        typer.echo(f"  cd {shlex.quote(shown)}")
    typer.echo("  pyflows dev")
    typer.echo("")
    typer.echo("README.md shows what to try, and `python -m pytest` runs the project's tests.")


def register(app: typer.Typer) -> None:
    app.command("init")(init_command)

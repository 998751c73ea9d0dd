"""`pyflows init`: rendering, naming, refusals, --list and the template prompt (fast, no server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pyflows.cli.app import app
from pyflows.cli.commands import init
from pyflows.runtime import config as runtime_config
from pyflows.runtime.config.formats import parse_jsonc
from pyflows.runtime.config.schema import schema_path
from pyflows.runtime.errors import PyflowsError
from typer.testing import CliRunner

TEMPLATES = ["hello", "approval", "pipeline", "order", "cron", "queue", "storage"]

if not any(c.name == "init" for c in app.registered_commands):
    init.register(app)


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(app, list(args), input=input)


def load_jsonc(text: str) -> dict:
    return parse_jsonc(text, "wrangler.jsonc")


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_the_templates_are_listed_with_hello_first():
    templates = init.list_templates()
    assert list(templates)[0] == "hello"
    assert sorted(templates) == sorted(TEMPLATES)
    for t in templates.values():
        assert t.description and "\n" not in t.description and len(t.description) <= 80
        assert t.placeholder == f"pyflows-{t.name}"


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_is_runnable_in_place(name):
    """The template directory itself is a project: its $schema resolves and it has no junk."""
    root = init.templates_root() / name
    config = load_jsonc((root / "wrangler.jsonc").read_text())
    assert (root / config["$schema"]).resolve() == schema_path()
    assert config["name"] == f"pyflows-{name}"
    assert config["main"] == "src/entry.py"
    assert config["compatibility_flags"] == ["python_workers"]
    assert config["compatibility_date"] >= "2026-02-25"  # implicit step dependencies
    for wf in config["workflows"]:
        assert f"class {wf['class_name']}(WorkflowEntrypoint)" in (root / "src/entry.py").read_text()
    for rel in ("README.md", "pyproject.toml", "gitignore", f"tests/test_{name}.py", "template.json"):
        assert (root / rel).is_file(), rel
    loaded = runtime_config.load(root)
    assert loaded.warnings == ()


@pytest.mark.parametrize("name", TEMPLATES)
def test_each_template_renders_with_the_name_substituted(tmp_path, name):
    result = run("--cwd", str(tmp_path), "init", "proj", "--template", name, "--name", "my-proj")
    assert result.exit_code == 0, result.output
    dest = tmp_path / "proj"

    files = {p.relative_to(dest).as_posix() for p in all_files(dest)}
    expected = {"wrangler.jsonc", "src/entry.py", "pyproject.toml", ".gitignore", "README.md"}
    assert expected | {f"tests/test_{name}.py", "tests/conftest.py"} <= files
    assert "template.json" not in files and "gitignore" not in files
    assert not any("__pycache__" in f or f.startswith(".pyflows") for f in files)

    for path in all_files(dest):
        assert f"pyflows-{name}" not in path.read_text(), path

    config = load_jsonc((dest / "wrangler.jsonc").read_text())
    assert config["name"] == "my-proj"
    assert [wf["name"] for wf in config["workflows"]] == ["my-proj"]
    schema = Path(config["$schema"])
    assert schema.is_absolute() and schema.is_file(), schema
    assert schema == schema_path()
    loaded = runtime_config.load(dest)
    assert loaded.name == "my-proj" and loaded.warnings == ()

    assert 'name = "my-proj"' in (dest / "pyproject.toml").read_text()
    assert ".pyflows/" in (dest / ".gitignore").read_text().splitlines()
    assert "my-proj" in (dest / "README.md").read_text()
    compile((dest / "src/entry.py").read_text(), "entry.py", "exec")
    for test_file in (dest / "tests").glob("*.py"):
        compile(test_file.read_text(), str(test_file), "exec")

    assert "cd proj" in result.output and "pyflows dev" in result.output


def test_refuses_a_non_empty_directory_without_force(tmp_path):
    dest = tmp_path / "proj"
    dest.mkdir()
    (dest / "wrangler.jsonc").write_text("mine")

    result = run("--cwd", str(tmp_path), "init", "proj", "--template", "hello")

    assert isinstance(result.exception, init.InitError)
    message = str(result.exception)
    assert str(dest) in message and "not empty" in message and "--force" in message
    assert (dest / "wrangler.jsonc").read_text() == "mine"
    assert sorted(p.name for p in dest.iterdir()) == ["wrangler.jsonc"]


def test_force_writes_into_a_non_empty_directory(tmp_path):
    dest = tmp_path / "proj"
    dest.mkdir()
    (dest / "wrangler.jsonc").write_text("mine")
    (dest / "notes.txt").write_text("keep me")

    result = run("--cwd", str(tmp_path), "init", "proj", "--template", "hello", "--force")

    assert result.exit_code == 0, result.output
    assert load_jsonc((dest / "wrangler.jsonc").read_text())["name"] == "proj"
    assert (dest / "notes.txt").read_text() == "keep me"
    assert (dest / "src/entry.py").is_file()


def test_an_empty_existing_directory_is_fine(tmp_path):
    (tmp_path / "proj").mkdir()
    result = run("--cwd", str(tmp_path), "init", "proj", "-t", "order")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "proj/src/entry.py").is_file()


def test_a_file_in_the_way_is_an_error(tmp_path):
    (tmp_path / "proj").write_text("")
    result = run("--cwd", str(tmp_path), "init", "proj", "-t", "hello", "--force")
    assert isinstance(result.exception, init.InitError)
    assert "is not a directory" in str(result.exception)


def test_list_shows_every_template_with_its_description(tmp_path):
    result = CliRunner().invoke(app, ["--cwd", str(tmp_path), "init", "--list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for t in init.list_templates().values():
        assert t.name in result.output
        assert t.description in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("bad", "hint"),
    [("My_App", "my-app"), ("-lead", "lead"), ("trail-", "trail"), ("a" * 64, "a" * 63), ("été", "t")],
)
def test_bad_names_are_rejected_with_a_suggestion(tmp_path, bad, hint):
    result = run("--cwd", str(tmp_path), "init", "--name", bad, "-t", "hello")
    assert isinstance(result.exception, init.InitError)
    message = str(result.exception)
    assert repr(bad) in message
    assert "lowercase letters (a-z), digits (0-9) and dashes (-)" in message
    assert f"--name {hint}." in message
    assert list(tmp_path.iterdir()) == []


def test_a_63_character_name_is_accepted(tmp_path):
    name = "a" * 62 + "1"
    result = run("--cwd", str(tmp_path), "init", "--name", name, "-t", "hello")
    assert result.exit_code == 0, result.output
    assert (tmp_path / name / "wrangler.jsonc").is_file()


def test_the_directory_name_is_the_default_project_name(tmp_path):
    result = run("--cwd", str(tmp_path), "init", "apps/billing-flow", "-t", "pipeline")
    assert result.exit_code == 0, result.output
    config = load_jsonc((tmp_path / "apps/billing-flow/wrangler.jsonc").read_text())
    assert config["name"] == "billing-flow"


def test_an_invalid_directory_name_asks_for_name(tmp_path):
    result = run("--cwd", str(tmp_path), "init", "My Flow", "-t", "hello")
    assert isinstance(result.exception, init.InitError)
    assert "directory name 'My Flow'" in str(result.exception)
    assert "--name my-flow or choose another directory" in str(result.exception)
    # --name fixes it, and the folder keeps its name
    result = run("--cwd", str(tmp_path), "init", "My Flow", "-t", "hello", "--name", "my-flow")
    assert result.exit_code == 0, result.output
    assert load_jsonc((tmp_path / "My Flow/wrangler.jsonc").read_text())["name"] == "my-flow"


def test_init_dot_uses_the_current_folder(tmp_path):
    here = tmp_path / "shop-orders"
    here.mkdir()
    result = run("--cwd", str(here), "init", ".", "-t", "order")
    assert result.exit_code == 0, result.output
    assert load_jsonc((here / "wrangler.jsonc").read_text())["name"] == "shop-orders"
    assert "cd " not in result.output
    assert "pyflows dev" in result.output


def test_without_dir_or_name_the_folder_is_template_workflow(tmp_path):
    result = run("--cwd", str(tmp_path), "init", "-t", "approval")
    assert result.exit_code == 0, result.output
    dest = tmp_path / "approval-workflow"
    assert load_jsonc((dest / "wrangler.jsonc").read_text())["name"] == "approval-workflow"
    assert "cd approval-workflow" in result.output


def test_cwd_after_the_command_works_too(tmp_path):
    result = run("init", "proj", "-t", "hello", "--cwd", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "proj/wrangler.jsonc").is_file()

    result = run("init", "proj", "-t", "hello", "--cwd", str(tmp_path / "missing"))
    assert isinstance(result.exception, PyflowsError)
    assert "--cwd" in str(result.exception) and "missing" in str(result.exception)


def test_name_without_dir_creates_a_folder_of_that_name(tmp_path):
    result = run("--cwd", str(tmp_path), "init", "--name", "my-app", "-t", "hello")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "my-app/wrangler.jsonc").is_file()


def test_unknown_template_lists_the_valid_ones(tmp_path):
    result = run("--cwd", str(tmp_path), "init", "proj", "--template", "helo")
    assert isinstance(result.exception, init.InitError)
    message = str(result.exception)
    assert "'helo'" in message
    assert "hello, approval, cron, order, pipeline, queue" in message
    assert "pyflows init --list" in message
    assert not (tmp_path / "proj").exists()


def test_not_a_terminal_uses_the_default_template(tmp_path):
    # CliRunner's stdin is not a tty, as in a script or CI.
    result = run("--cwd", str(tmp_path), "init", "proj")
    assert result.exit_code == 0, result.output
    assert "Which template" not in result.output
    assert "from the 'hello' template" in result.output
    assert (tmp_path / "proj/tests/test_hello.py").is_file()


@pytest.mark.parametrize(("answer", "chosen"), [("pipeline\n", "pipeline"), ("2\n", "approval"), ("\n", "hello")])
def test_on_a_terminal_it_asks(tmp_path, monkeypatch, answer, chosen):
    monkeypatch.setattr(init, "_stdin_is_tty", lambda: True)
    result = run("--cwd", str(tmp_path), "init", "proj", input=answer)
    assert result.exit_code == 0, result.output
    assert "Which template would you like to use?" in result.output
    for t in init.list_templates().values():
        assert t.name in result.output
    assert (tmp_path / f"proj/tests/test_{chosen}.py").is_file()


def test_a_wrong_answer_asks_again(tmp_path, monkeypatch):
    monkeypatch.setattr(init, "_stdin_is_tty", lambda: True)
    result = run("--cwd", str(tmp_path), "init", "proj", input="9\norder\n")
    assert result.exit_code == 0, result.output
    assert "No template '9'" in result.output
    assert (tmp_path / "proj/tests/test_order.py").is_file()


def test_render_skips_caches_state_and_the_manifest(tmp_path, monkeypatch):
    tpl = tmp_path / "templates" / "demo"
    (tpl / "src/__pycache__").mkdir(parents=True)
    (tpl / ".pyflows/state").mkdir(parents=True)
    (tpl / "template.json").write_text('{"description": "demo", "placeholder": "pyflows-demo"}')
    (tpl / "wrangler.jsonc").write_text('{"$schema": "../../config-schema.json", "name": "pyflows-demo"}')
    (tpl / "src/entry.py").write_text("NAME = 'pyflows-demo'\n")
    (tpl / "src/__pycache__/entry.cpython-311.pyc").write_bytes(b"\0")
    (tpl / "src/stale.pyc").write_bytes(b"\0")
    (tpl / ".pyflows/state/db.sqlite").write_bytes(b"\0")
    (tpl / "logo.bin").write_bytes(b"\xff\xfepyflows-demo\x00")
    (tpl / "gitignore").write_text(".pyflows/\n")
    monkeypatch.setattr(init, "templates_root", lambda: tmp_path / "templates")

    written = init.render(init.get_template("demo"), tmp_path / "out", "shop")

    out = tmp_path / "out"
    expected = [".gitignore", "logo.bin", "src/entry.py", "wrangler.jsonc"]
    assert sorted(p.as_posix() for p in written) == expected
    assert sorted(p.relative_to(out).as_posix() for p in all_files(out)) == sorted(p.as_posix() for p in written)
    assert (out / "src/entry.py").read_text() == "NAME = 'shop'\n"
    assert (out / "logo.bin").read_bytes() == b"\xff\xfepyflows-demo\x00"  # binary: untouched
    config = json.loads((out / "wrangler.jsonc").read_text())
    assert config == {"$schema": schema_path().as_posix(), "name": "shop"}


def test_cli_error_is_one_line_and_exit_1(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pyflows", "init", "proj", "--template", "nope"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 1
    assert done.stderr.startswith("✘ [ERROR] Unknown template 'nope'. Valid templates: hello, approval")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "proj").exists()

"""runtime.config: finding, parsing, validating and resolving a project's configuration."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest
from pyflows.runtime.config import Config, WorkflowConfig, account_id, is_config_file, load
from pyflows.runtime.config.formats import parse_dotenv, parse_jsonc, strip_jsonc
from pyflows.runtime.config.schema import key_path, schema, schema_path
from pyflows.runtime.errors import (
    ConfigError,
    ConfigNotFoundError,
    ConfigParseError,
    ConfigSchemaError,
    PyflowsError,
)

WORKFLOW = {"name": "my-workflow", "binding": "MY_WORKFLOW", "class_name": "MyWorkflow"}


def base(**overrides: object) -> dict[str, object]:
    cfg: dict[str, object] = {
        "name": "demo",
        "main": "src/entry.py",
        "compatibility_date": "2025-11-02",
        "compatibility_flags": ["python_workers"],
        "workflows": [dict(WORKFLOW)],
    }
    cfg.update(overrides)
    return cfg


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory with src/entry.py and no config yet."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "entry.py").write_text("# worker\n")
    return tmp_path


def write(directory: Path, name: str, content: str | dict[str, object]) -> Path:
    path = directory / name
    path.write_text(json.dumps(content, indent=2) if isinstance(content, dict) else content)
    return path


def at(path: Path, needle: str) -> str:
    """`<path>:<line>:<column>` of the first occurrence of `needle` in the file (found independently)."""
    text = path.read_text()
    before = text[: text.index(needle)]
    return f"{path}:{before.count(chr(10)) + 1}:{len(before) - before.rfind(chr(10))}"


def error_of(exc_type: type[PyflowsError], *args: object, **kwargs: object) -> str:
    with pytest.raises(exc_type) as info:
        load(*args, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


# ------------------------------------------------------------------------------- bad input


def test_missing_config_says_where_it_looked_and_what_to_do(project: Path) -> None:
    msg = error_of(ConfigNotFoundError, project)
    assert str(project) in msg
    for name in ("wrangler.jsonc", "wrangler.json", "wrangler.toml"):
        assert name in msg
    assert "pyflows init" in msg and "--config" in msg


def test_missing_explicit_config_names_the_resolved_path(project: Path) -> None:
    msg = error_of(ConfigNotFoundError, project, Path("conf/missing.jsonc"))
    assert "--config conf/missing.jsonc" in msg
    assert str(project / "conf" / "missing.jsonc") in msg
    assert "does not exist" in msg


def test_jsonc_syntax_error_reports_file_line_column_and_what_was_expected(project: Path) -> None:
    text = '{\n  // the worker\n  "name": "demo",\n  "main": "src/entry.py"\n  "vars": {}\n}\n'
    path = write(project, "wrangler.jsonc", text)
    with pytest.raises(ConfigParseError) as info:
        load(project)
    assert str(info.value) == f"{path}:5:3: expected ',' or '}}', found \"vars\""
    assert info.value.fields == {"file": str(path), "line": 5, "column": 3}


@pytest.mark.parametrize(
    ("text", "where", "expected"),
    [
        ('{"a": [1, 2 3]}', "1:13", "expected ',' or ']', found '3'"),
        ("{\n  'name': 1}", "2:3", "expected a property name in double quotes"),
        ('{"name": "x", /* never closed\n', "1:15", "unterminated /* comment: expected a closing */"),
        ('{"name": "x', "1:10", "unterminated string: expected a closing"),
        ('{"name": "x\n"}', "1:12", "invalid control character in a string"),
        ('{"name": "a\\qb"}', "1:12", "invalid escape in a string"),
        ('{"name": "x"} trailing', "1:15", "expected the end of the file"),
        ("", "1:1", "expected a value"),
        ('{"a": ,}', "1:7", "expected a value"),
    ],
)
def test_jsonc_syntax_errors(project: Path, text: str, where: str, expected: str) -> None:
    path = write(project, "wrangler.jsonc", text)
    msg = error_of(ConfigParseError, project)
    assert msg.startswith(f"{path}:{where}: "), msg
    assert expected in msg


def test_jsonc_columns_count_past_comments_and_multibyte_text(project: Path) -> None:
    text = '{ /* déjà vu */ "name": "ü", // ok\n  "main" "x"}'
    path = write(project, "wrangler.jsonc", text)
    expected = f"{path}:2:10: expected ':' after the property name, found \"x\""
    assert error_of(ConfigParseError, project) == expected


def test_toml_syntax_error_reports_file_and_line(project: Path) -> None:
    path = write(project, "wrangler.toml", 'name = "demo"\nmain = "src/entry.py"\n[[workflows]\nname = "a"\n')
    msg = error_of(ConfigParseError, project)
    assert msg.startswith(f"{path}:3:")
    assert "']]'" in msg


def test_toml_error_at_end_of_document_still_has_a_line(project: Path) -> None:
    path = write(project, "wrangler.toml", 'name = "demo"\nvars = { a = 1\n')
    assert error_of(ConfigParseError, project).startswith(f"{path}:")


def test_schema_violation_names_key_path_value_and_what_is_allowed(project: Path) -> None:
    cfg = base(workflows=[dict(WORKFLOW), {"name": "second", "binding": "SECOND", "class_name": 42}])
    path = write(project, "wrangler.jsonc", cfg)
    with pytest.raises(ConfigSchemaError) as info:
        load(project)
    msg = str(info.value)
    where = at(path, '"class_name": 42')
    assert msg.startswith(f"{where}: workflows[1].class_name is 42 (an integer), expected a string.")
    assert "WorkflowEntrypoint subclass" in msg  # the schema's description says what is allowed
    assert info.value.fields["key_path"] == "workflows[1].class_name"
    assert f"{path}:{info.value.fields['line']}:{info.value.fields['column']}" == where
    assert info.value.fields["value"] == 42


def test_schema_pattern_violation_shows_the_pattern_and_the_value(project: Path) -> None:
    path = write(project, "wrangler.jsonc", base(workflows=[{**WORKFLOW, "binding": "my-flow"}]))
    msg = error_of(ConfigSchemaError, project)
    where = at(path, '"binding": "my-flow"')
    assert msg.startswith(f'{where}: workflows[0].binding is "my-flow", which does not match ^[A-Za-z_]')
    assert "Python identifier" in msg


def test_workflow_name_over_64_characters(project: Path) -> None:
    write(project, "wrangler.jsonc", base(workflows=[{**WORKFLOW, "name": "w" * 65}]))
    msg = error_of(ConfigSchemaError, project)
    assert "workflows[0].name is" in msg and "(65 characters), expected at most 64" in msg


def test_schema_missing_required_key_and_several_problems_are_all_listed(project: Path) -> None:
    cfg = base(workflows=[{"name": "a", "binding": "A"}], dev={"port": 70000})
    path = write(project, "wrangler.jsonc", cfg)
    msg = error_of(ConfigSchemaError, project)
    assert msg.startswith(f"{path}: 2 problems:\n")
    port = at(path, '"port": 70000')
    assert f"  - {port}: dev.port is 70000, expected at most 65535." in msg
    workflow = at(path, '{\n      "name": "a"')  # a missing key: where the object that lacks it starts
    assert f"  - {workflow}: workflows[0].class_name is missing." in msg


def test_toml_schema_violation_names_the_line_and_column_of_the_key(project: Path) -> None:
    text = (
        'name = "demo"\nmain = "src/entry.py"\ncompatibility_date = "2025-11-02"\n\n'
        '[[workflows]]\nname = "a"\nbinding = "A"\nclass_name = "A"\n\n'
        '[[workflows]]\nname = "b"\nbinding = "my-flow"\nclass_name = "B"\n\n'
        '[env.staging]\nworkflows = [\n  { name = "s", binding = "S", class_name = 3 },\n]\n'
        "[dev]\nport = 70000\n"
    )
    path = write(project, "wrangler.toml", text)
    with pytest.raises(ConfigSchemaError) as info:
        load(project)
    msg = str(info.value)
    assert msg.startswith(f"{path}: 3 problems:\n")
    assert f"  - {at(path, 'port = 70000')}: dev.port is 70000, expected at most 65535." in msg
    assert f"  - {at(path, 'class_name = 3')}: env.staging.workflows[0].class_name is 3 (an integer)" in msg
    binding = at(path, 'binding = "my-flow"')
    assert f'  - {binding}: workflows[1].binding is "my-flow"' in msg
    assert (info.value.fields["line"], info.value.fields["column"]) == (20, 1)  # dev.port sorts first


def test_jsonc_positions_skip_comments_and_trailing_commas(project: Path) -> None:
    text = (
        '{\n  // the worker\n  "name": "demo", "main": "src/entry.py",\n  /* old: "limits": {} */\n'
        '  "limits": {"cpu_ms": 0,},\n}\n'
    )
    path = write(project, "wrangler.jsonc", text)
    msg = error_of(ConfigSchemaError, project)
    cpu = at(path, '"cpu_ms": 0')
    assert msg.startswith(f"{cpu}: limits.cpu_ms is 0, expected at least")
    assert cpu.endswith(":5:14")


def test_schema_errors_inside_an_environment_name_the_env_path(project: Path) -> None:
    write(project, "wrangler.jsonc", base(env={"staging": {"workflows": [{**WORKFLOW, "binding": 3}]}}))
    assert "env.staging.workflows[0].binding is 3 (an integer)" in error_of(ConfigSchemaError, project)


def test_top_level_must_be_an_object(project: Path) -> None:
    path = write(project, "wrangler.json", "[1, 2]")
    assert error_of(ConfigSchemaError, project) == (
        f'{path}: the top level is an array, expected an object ({{"name": ..., "main": ...}}).'
    )


def test_main_missing(project: Path) -> None:
    cfg = base()
    del cfg["main"]
    path = write(project, "wrangler.jsonc", cfg)
    msg = error_of(ConfigSchemaError, project)
    assert msg.startswith(f"{path}: main is missing.")
    assert '"main": "src/entry.py"' in msg


def test_main_missing_in_toml_suggests_toml_syntax(project: Path) -> None:
    write(project, "wrangler.toml", 'name = "demo"\n')
    assert 'main = "src/entry.py"' in error_of(ConfigSchemaError, project)


def test_main_not_python(project: Path) -> None:
    path = write(project, "wrangler.jsonc", base(main="src/index.ts"))
    msg = error_of(ConfigSchemaError, project)
    assert msg.startswith(f'{path}: main is "src/index.ts", which is not a Python module')
    assert "must end in .py" in msg


def test_main_file_does_not_exist(project: Path) -> None:
    path = write(project, "wrangler.jsonc", base(main="src/nope.py"))
    msg = error_of(ConfigError, project)
    assert msg.startswith(f'{path}: main is "src/nope.py", but {project / "src" / "nope.py"} does not exist')


def test_main_from_an_environment_is_named_with_its_path(project: Path) -> None:
    write(project, "wrangler.jsonc", base(env={"staging": {"main": "src/other.py"}}))
    assert 'env.staging.main is "src/other.py"' in error_of(ConfigError, project, env="staging")


def test_duplicate_workflow_names_name_both_entries(project: Path) -> None:
    flows = [dict(WORKFLOW), {**WORKFLOW, "name": "b", "binding": "B"}, {**WORKFLOW, "binding": "C"}]
    path = write(project, "wrangler.jsonc", base(workflows=flows))
    assert error_of(ConfigSchemaError, project) == (
        f'{path}: workflows[0] and workflows[2] both have name "my-workflow". '
        "Workflow names must be unique: rename one of them."
    )


def test_duplicate_bindings_name_both_entries(project: Path) -> None:
    flows = [dict(WORKFLOW), {**WORKFLOW, "name": "b", "binding": "B"}, {**WORKFLOW, "name": "c"}]
    write(project, "wrangler.jsonc", base(workflows=flows))
    msg = error_of(ConfigSchemaError, project)
    assert 'workflows[0] and workflows[2] both have binding "MY_WORKFLOW"' in msg


def test_binding_that_is_a_python_keyword(project: Path) -> None:
    write(project, "wrangler.jsonc", base(workflows=[{**WORKFLOW, "binding": "class"}]))
    msg = error_of(ConfigSchemaError, project)
    assert 'workflows[0].binding is "class", which is a Python keyword' in msg


def test_steps_over_25000(project: Path) -> None:
    write(project, "wrangler.jsonc", base(workflows=[{**WORKFLOW, "limits": {"steps": 25_001}}]))
    msg = error_of(ConfigSchemaError, project)
    assert "workflows[0].limits.steps is 25001, expected at most 25000." in msg


def test_workflow_concurrency_limit_is_read_and_checked(project: Path) -> None:
    write(project, "wrangler.jsonc", base(workflows=[{**WORKFLOW, "concurrency": {"limit": 3}}]))
    assert load(project).workflows[0].concurrency_limit == 3
    write(project, "wrangler.jsonc", base(workflows=[{**WORKFLOW, "concurrency": {"limit": 0}}]))
    assert "workflows[0].concurrency.limit" in error_of(ConfigSchemaError, project)


def test_cpu_ms_over_300000(project: Path) -> None:
    write(project, "wrangler.jsonc", base(limits={"cpu_ms": 300_001}))
    assert "limits.cpu_ms is 300001, expected at most 300000." in error_of(ConfigSchemaError, project)


def test_compatibility_date_that_is_not_a_date(project: Path) -> None:
    write(project, "wrangler.jsonc", base(compatibility_date="2025-02-30"))
    msg = error_of(ConfigSchemaError, project)
    assert 'compatibility_date is "2025-02-30", which is not a real date' in msg


def test_var_with_the_name_of_a_binding(project: Path) -> None:
    write(project, "wrangler.jsonc", base(vars={"MY_WORKFLOW": "x"}))
    assert "vars.MY_WORKFLOW and the workflow binding" in error_of(ConfigSchemaError, project)


def test_unknown_env_lists_the_available_environments(project: Path) -> None:
    path = write(project, "wrangler.jsonc", base(env={"staging": {}, "production": {}}))
    msg = error_of(ConfigError, project, env="prod")
    assert msg.startswith(f"{path}: no environment named 'prod' (--env prod).")
    assert "Available environments: production, staging." in msg


def test_unknown_env_when_there_are_no_environments(project: Path) -> None:
    write(project, "wrangler.jsonc", base())
    assert "defines no environments" in error_of(ConfigError, project, env="staging")


def test_dev_vars_line_that_is_not_key_value(project: Path) -> None:
    write(project, "wrangler.jsonc", base())
    secrets = write(project, ".dev.vars", "# secrets\nAPI_KEY=abc\n\nthis is not an assignment\n")
    with pytest.raises(ConfigParseError) as info:
        load(project)
    assert str(info.value).startswith(f"{secrets}:4: expected a KEY=VALUE line")
    assert info.value.fields["line"] == 4


def test_dev_vars_unterminated_quote(project: Path) -> None:
    write(project, "wrangler.jsonc", base())
    secrets = write(project, ".dev.vars", 'A=1\nB="never closed\nC=3\n')
    assert error_of(ConfigParseError, project).startswith(f"{secrets}:2: unterminated quoted value for B")


# ------------------------------------------------------------------------------ happy paths

JSONC = """// pyflows project
{
  "$schema": "./node_modules/pyflows/config-schema.json",
  "name": "demo", /* the worker */
  "main": "src/entry.py",
  "compatibility_date": "2025-11-02",
  "compatibility_flags": ["python_workers",],
  "vars": {
    "URL": "https://example.com/a//b", // not a comment inside the string
    "GLOB": "/* neither */",
    "QUOTE": "say \\"hi\\" // still a string",
    "CONF": {"retries": 3, "tags": ["a", "b",],},
  },
  "workflows": [
    {"name": "my-workflow", "binding": "MY_WORKFLOW", "class_name": "MyWorkflow",
     "limits": {"steps": 500}},
    {"name": "other", "binding": "OTHER", "class_name": "Other", "script_name": "elsewhere"},
  ],
  "limits": {"cpu_ms": 60000},
  "dev": {"port": 9000, "ip": "0.0.0.0"},
  "observability": {"enabled": true},
}
"""

TOML = """# pyflows project
name = "demo"
main = "src/entry.py"
compatibility_date = "2025-11-02"
compatibility_flags = ["python_workers"]
observability = { enabled = true }

[vars]
URL = "https://example.com/a//b"
GLOB = "/* neither */"
QUOTE = 'say "hi" // still a string'
CONF = { retries = 3, tags = ["a", "b"] }

[[workflows]]
name = "my-workflow"
binding = "MY_WORKFLOW"
class_name = "MyWorkflow"
limits = { steps = 500 }

[[workflows]]
name = "other"
binding = "OTHER"
class_name = "Other"
script_name = "elsewhere"

[limits]
cpu_ms = 60000

[dev]
port = 9000
ip = "0.0.0.0"
"""


def check_full(cfg: Config, project: Path, path: Path) -> None:
    assert cfg.path == path and cfg.root == project
    assert cfg.name == "demo"
    assert cfg.main == project / "src" / "entry.py" and cfg.main.is_absolute()
    assert cfg.compatibility_date == "2025-11-02"
    assert cfg.compatibility_flags == ("python_workers",)
    assert cfg.workflows == (
        WorkflowConfig("my-workflow", "MY_WORKFLOW", "MyWorkflow", None, 500),
        WorkflowConfig("other", "OTHER", "Other", "elsewhere", 10_000),
    )
    assert cfg.cpu_ms == 60_000
    assert dict(cfg.vars) == {
        "URL": "https://example.com/a//b",
        "GLOB": "/* neither */",
        "QUOTE": 'say "hi" // still a string',
        "CONF": {"retries": 3, "tags": ["a", "b"]},
    }
    assert (cfg.dev_port, cfg.dev_ip) == (9000, "0.0.0.0")
    assert cfg.env_name is None and cfg.secrets_file is None and cfg.warnings == ()


def test_jsonc_with_comments_trailing_commas_and_tricky_strings(project: Path) -> None:
    path = write(project, "wrangler.jsonc", JSONC)
    check_full(load(project), project, path)


def test_toml_gives_the_same_config(project: Path) -> None:
    path = write(project, "wrangler.toml", TOML)
    check_full(load(project), project, path)


def test_toml_unquoted_date_becomes_a_string(project: Path) -> None:
    write(project, "wrangler.toml", 'name = "d"\nmain = "src/entry.py"\ncompatibility_date = 2025-09-01\n')
    assert load(project).compatibility_date == "2025-09-01"


def test_defaults(project: Path) -> None:
    write(project, "wrangler.json", {"name": "d", "main": "src/entry.py", "workflows": [WORKFLOW]})
    cfg = load(project)
    assert cfg.workflows[0].max_steps == 10_000 and cfg.workflows[0].script_name is None
    assert cfg.cpu_ms == 30_000
    assert cfg.compatibility_date is None and cfg.compatibility_flags == ()
    assert dict(cfg.vars) == {} and dict(cfg.secrets) == {}
    assert cfg.dev_port is None and cfg.dev_ip is None
    assert any("No compatibility_date" in w for w in cfg.warnings)
    assert any("python_workers" in w for w in cfg.warnings)


def test_strip_jsonc_keeps_every_position() -> None:
    text = '{"a": "//x", /* c\n c */ "b": [1,], // end\n}'
    clean = strip_jsonc(text)
    assert len(clean) == len(text)
    assert [i for i, c in enumerate(text) if c == "\n"] == [i for i, c in enumerate(clean) if c == "\n"]
    assert json.loads(clean) == {"a": "//x", "b": [1]}


@pytest.mark.parametrize(
    "value",
    [
        'a\\"b',
        "back\\\\",
        '\\\\\\"',
        "/*",
        "//",
        "\\u00e9 \\n \\t",
        "*/ ,]",
        ",}",
        'x\\" // y',
        'x\\" /* y',
        'x\\" 1,]',
        "x\\\\",
        'x\\\\\\" // y',
    ],
)
def test_jsonc_strings_with_escapes_match_json(value: str) -> None:
    doc = f'{{"k": "{value}", "l": ["{value}",],}}'
    plain = f'{{"k": "{value}", "l": ["{value}"]}}'
    assert parse_jsonc(doc, "f") == json.loads(plain)


def test_several_config_files_use_the_first_and_warn(project: Path) -> None:
    write(project, "wrangler.toml", 'name = "from-toml"\nmain = "src/entry.py"\n')
    write(project, "wrangler.json", {"name": "from-json", "main": "src/entry.py"})
    cfg = load(project)
    assert cfg.name == "from-json" and cfg.path == project / "wrangler.json"
    assert any("using wrangler.json and ignoring wrangler.toml" in w for w in cfg.warnings)


def test_a_misspelled_key_is_a_warning_naming_the_key_it_looks_like(project: Path) -> None:
    # Unknown keys are allowed (Wrangler has many pyflows ignores), but a near-miss of a known one
    # would otherwise be ignored silently: `workflow` leaves the Worker without its Workflows.
    cfg = base(workflow=[dict(WORKFLOW)], compatability_date="2025-11-02", observability={"enabled": True})
    del cfg["workflows"]
    cfg["workflow"][0]["bindng"] = cfg["workflow"][0]["binding"]
    loaded = load(project, write(project, "wrangler.json", cfg).relative_to(project))
    found = [w for w in loaded.warnings if "not a setting pyflows knows" in w]
    assert any("workflow is not a setting" in w and "did you mean `workflows`?" in w for w in found), found
    assert any("compatability_date" in w and "`compatibility_date`" in w for w in found), found
    assert not any("observability" in w for w in found)  # a Wrangler key pyflows ignores: no warning
    ok = base()
    ok["workflows"][0]["bindng"] = "X"
    warned = load(project, write(project, "wrangler.json", ok).relative_to(project)).warnings
    assert any("workflows[0].bindng" in w and "`binding`" in w for w in warned), warned


def test_explicit_config_is_relative_to_cwd(project: Path) -> None:
    (project / "conf").mkdir()
    write(project, "wrangler.jsonc", base(name="default"))
    path = write(project / "conf", "alt.toml", 'name = "alt"\nmain = "../src/entry.py"\n')
    cfg = load(project, Path("conf/alt.toml"))
    assert cfg.path == path
    assert cfg.name == "alt" and cfg.root == project / "conf" and cfg.main == project / "src" / "entry.py"


def test_env_overrides_top_level_and_does_not_inherit_vars_or_workflows(project: Path) -> None:
    cfg = base(
        vars={"A": "top"},
        limits={"cpu_ms": 1000},
        env={"staging": {"compatibility_date": "2026-03-01", "limits": {"cpu_ms": 2000}}},
    )
    write(project, "wrangler.jsonc", cfg)
    staging = load(project, env="staging")
    assert staging.env_name == "staging"
    assert staging.name == "demo-staging"  # Wrangler's per-environment worker name
    assert staging.compatibility_date == "2026-03-01" and staging.cpu_ms == 2000
    assert staging.main == project / "src" / "entry.py"  # inherited
    assert staging.compatibility_flags == ("python_workers",)  # inherited
    assert dict(staging.vars) == {} and staging.workflows == ()  # not inherited
    assert sum("not inherited" in w for w in staging.warnings) == 2
    top = load(project)
    assert top.name == "demo" and dict(top.vars) == {"A": "top"} and top.cpu_ms == 1000


def test_env_with_its_own_name_vars_and_workflows(project: Path) -> None:
    env = {"name": "demo-prod", "vars": {"A": "prod"}, "workflows": [{**WORKFLOW, "name": "prod-flow"}]}
    write(project, "wrangler.jsonc", base(vars={"A": "top"}, env={"production": env}))
    cfg = load(project, env="production")
    assert cfg.name == "demo-prod" and dict(cfg.vars) == {"A": "prod"}
    assert [w.name for w in cfg.workflows] == ["prod-flow"]
    assert not any("not inherited" in w for w in cfg.warnings)


def test_dev_settings_are_top_level_only(project: Path) -> None:
    write(project, "wrangler.jsonc", base(dev={"port": 1234}, env={"s": {"dev": {"port": 5678}}}))
    cfg = load(project, env="s")
    assert cfg.dev_port == 1234
    assert any("env.s.dev is ignored" in w for w in cfg.warnings)


def test_env_in_toml(project: Path) -> None:
    toml = TOML + '\n[env.staging]\nname = "stage"\n[env.staging.vars]\nURL = "https://staging"\n'
    write(project, "wrangler.toml", toml)
    cfg = load(project, env="staging")
    assert cfg.name == "stage" and dict(cfg.vars) == {"URL": "https://staging"}


def test_dev_vars_override_vars_and_keep_json_values(project: Path) -> None:
    write(project, "wrangler.jsonc", base(vars={"API_KEY": "from-vars", "CONF": {"a": 1}}))
    secrets = write(project, ".dev.vars", "API_KEY=from-dev-vars\nTOKEN='t'\n")
    write(project, ".env", "API_KEY=from-dotenv\nONLY_IN_ENV=1\n")
    cfg = load(project)
    assert cfg.secrets_file == secrets
    assert dict(cfg.secrets) == {"API_KEY": "from-dev-vars", "TOKEN": "t"}  # .env ignored
    assert cfg.env_values == {"API_KEY": "from-dev-vars", "CONF": {"a": 1}, "TOKEN": "t"}
    assert cfg.vars["API_KEY"] == "from-vars"  # vars themselves are untouched


def test_env_values_is_a_copy(project: Path) -> None:
    write(project, "wrangler.jsonc", base(vars={"CONF": {"a": 1}}))
    cfg = load(project)
    cfg.env_values["CONF"]["a"] = 2
    assert cfg.vars["CONF"] == {"a": 1}


def test_dotenv_is_used_when_there_is_no_dev_vars(project: Path) -> None:
    write(project, "wrangler.jsonc", base())
    dotenv = write(project, ".env", "export ANTHROPIC_API_KEY=sk-123\n")
    cfg = load(project)
    assert cfg.secrets_file == dotenv and dict(cfg.secrets) == {"ANTHROPIC_API_KEY": "sk-123"}


def test_dev_vars_for_the_selected_env(project: Path) -> None:
    write(project, "wrangler.jsonc", base(env={"staging": {}, "prod": {}}))
    write(project, ".dev.vars", "KEY=default\n")
    staging = write(project, ".dev.vars.staging", "KEY=staging\n")
    assert load(project).secrets["KEY"] == "default"
    cfg = load(project, env="staging")
    assert cfg.secrets_file == staging and cfg.secrets["KEY"] == "staging"
    assert load(project, env="prod").secrets["KEY"] == "default"  # no .dev.vars.prod: falls back


def test_dotenv_syntax() -> None:
    text = (
        "# comment\n\nexport A=1\nB = two words  # trailing comment\nC='literal \\n #x'\n"
        'D="line\\nbreak \\"q\\""\nE="multi\nline"\nF=\nG=a#b\n'
    )
    assert parse_dotenv(text, ".dev.vars") == {
        "A": "1",
        "B": "two words",
        "C": "literal \\n #x",
        "D": 'line\nbreak "q"',
        "E": "multi\nline",
        "F": "",
        "G": "a#b",
    }


@pytest.mark.parametrize(
    ("date", "flags", "modern", "implicit"),
    [
        ("2025-08-13", [], False, False),
        ("2025-08-14", [], True, False),
        ("2025-08-14", ["disable_python_no_global_handlers"], False, False),
        ("2024-01-01", ["python_no_global_handlers"], True, False),
        ("2026-02-24", [], True, False),
        ("2026-02-25", [], True, True),
        ("2026-02-25", ["no_python_workflows_implicit_dependencies"], True, False),
        ("2024-01-01", ["python_workflows_implicit_dependencies"], False, True),
    ],
)
def test_modern_handlers_and_implicit_dependencies(
    project: Path, date: str, flags: list[str], modern: bool, implicit: bool
) -> None:
    cfg_flags = ["python_workers", *flags]
    write(project, "wrangler.jsonc", base(compatibility_date=date, compatibility_flags=cfg_flags))
    cfg = load(project)
    assert (cfg.modern_handlers, cfg.implicit_dependencies) == (modern, implicit)


def test_config_is_frozen_read_only_and_crosses_processes_as_json(project: Path) -> None:
    write(project, "wrangler.jsonc", base(vars={"A": "1"}))
    write(project, ".dev.vars", "S=2\n")
    cfg = load(project)
    with pytest.raises(FrozenInstanceError):
        cfg.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.vars["A"] = "2"  # type: ignore[index]
    with pytest.raises(TypeError):
        cfg.secrets["S"] = "3"  # type: ignore[index]
    clone = Config.from_dict(json.loads(json.dumps(cfg.to_dict())))  # how `pyflows dev` hands it over
    assert clone == cfg and clone.env_values == {"A": "1", "S": "2"}
    with pytest.raises(TypeError):
        clone.vars["A"] = "2"  # type: ignore[index]


def test_account_id_is_read_from_the_selected_config_and_env(project: Path) -> None:
    assert account_id(project) is None  # no config file: Wrangler's workflows commands need none
    write(project, "wrangler.jsonc", base(account_id="top", env={"staging": {"account_id": "stage"}, "dev": {}}))
    assert account_id(project) == "top"
    assert account_id(project, env="staging") == "stage"
    assert account_id(project, env="dev") == "top"  # inherited from the top level
    write(project, "other.toml", 'account_id = "from-toml"\n')
    assert account_id(project, Path("other.toml")) == "from-toml"
    assert account_id(project, Path("missing.toml")) is None


def test_every_binding_kind_survives_the_json_hand_off(project: Path) -> None:
    # `pyflows dev` hands the config to its servers as JSON (Config.to_dict / from_dict): nested
    # records, tuples and paths must come back equal, for every kind of binding.
    (project / "public").mkdir()
    write(
        project,
        "wrangler.jsonc",
        base(
            assets={"directory": "public", "binding": "ASSETS"},
            kv_namespaces=[{"binding": "KV", "id": "k1"}],
            d1_databases=[{"binding": "DB", "database_name": "db", "database_id": "x"}],
            r2_buckets=[{"binding": "B", "bucket_name": "b"}],
            triggers={"crons": ["* * * * *"]},
            queues={"producers": [{"binding": "Q", "queue": "q1"}], "consumers": [{"queue": "q1"}]},
        ),
    )
    cfg = load(project)
    assert cfg.kv_namespaces and cfg.assets is not None and cfg.triggers.producers
    assert Config.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_which_files_are_config(project: Path) -> None:
    path = write(project, "wrangler.jsonc", base(env={"staging": {}}))
    for name in (".dev.vars", ".env", ".dev.vars.staging", ".env.production"):
        assert is_config_file(project / name, path), name
    assert is_config_file(path, path)
    for other in (project / "wrangler.toml", project / "src" / ".dev.vars", project / "dev.vars", project / ".envrc"):
        assert not is_config_file(other, path), other


# ----------------------------------------------------------------------------------- schema


def test_schema_is_valid_draft_2020_12_and_documents_every_key() -> None:
    import jsonschema

    doc = schema()
    jsonschema.Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["additionalProperties"] is True

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            for key, sub in node.get("properties", {}).items():
                if "$ref" not in sub:
                    assert sub.get("description"), f"{where}.{key} has no description"
                walk(sub, f"{where}.{key}")
            for key, sub in node.items():
                if key != "properties":
                    walk(sub, f"{where}/{key}")

    walk(doc, "")


def test_schema_ships_at_the_package_root() -> None:
    import pyflows

    assert schema_path() == Path(pyflows.__file__).parent / "config-schema.json"


def test_key_path() -> None:
    assert key_path(["workflows", 1, "class_name"]) == "workflows[1].class_name"
    assert key_path(["vars", "my-key"]) == 'vars["my-key"]'
    assert key_path([]) == "(top level)"


def test_importing_config_does_not_import_jsonschema() -> None:
    code = "import sys, pyflows.runtime.config; print('jsonschema' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------------------- docs

DOCS = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize(("lang", "filename"), [("jsonc", "wrangler.jsonc"), ("toml", "wrangler.toml")])
def test_documented_examples_load(project: Path, lang: str, filename: str) -> None:
    text = DOCS.read_text()
    example = text.split(f"```{lang}\n", 1)[1].split("```", 1)[0]
    write(project, filename, example)
    cfg = load(project)
    assert cfg.name == "my-app" and cfg.cpu_ms == 60_000 and cfg.dev_port == 8787
    assert cfg.workflows == (WorkflowConfig("orders", "ORDERS", "OrderWorkflow", None, 20_000),)
    assert dict(cfg.vars) == {"API_HOST": "api.example.com", "FEATURES": {"beta": True}}
    staging = load(project, env="staging")
    assert staging.name == "my-app-staging" and staging.vars["API_HOST"] == "staging.example.com"
    assert [w.name for w in staging.workflows] == ["orders-staging"]
    assert staging.warnings == ()


def test_every_schema_key_is_documented() -> None:
    text = DOCS.read_text()

    def keys(node: dict[str, object], prefix: str) -> list[str]:
        out = []
        for key, sub in node.get("properties", {}).items():  # type: ignore[attr-defined]
            if isinstance(sub, dict) and "$ref" in sub:
                sub = schema()["$defs"][sub["$ref"].rsplit("/", 1)[1]]
            if not (isinstance(sub, dict) and sub.get("properties")):  # containers: their keys count
                out.append(prefix + key)
            if isinstance(sub, dict):
                items = sub.get("items")
                if isinstance(items, dict) and "$ref" in items:
                    items = schema()["$defs"][items["$ref"].rsplit("/", 1)[1]]
                    out += keys(items, f"{prefix}{key}[].")
                out += keys(sub, f"{prefix}{key}.")
        return out

    documented = keys(schema(), "")
    assert "workflows[].limits.steps" in documented and "dev.port" in documented
    missing = [k for k in documented if f"`{k}`" not in text and not (k == "env" and "`env.<name>`" in text)]
    assert missing == []

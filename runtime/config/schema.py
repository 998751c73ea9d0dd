"""Validation of a parsed config against `config-schema.json`, with messages people can act on.

Each schema violation becomes `<file>:<line>:<column>: <key path> is <value>, <what is allowed>.
<the schema's description>`, e.g. `wrangler.jsonc:9:7: workflows[1].binding is "my-flow", which does
not match ^[A-Za-z_][A-Za-z0-9_]*$. Name of the binding in code ...`; the line and column are where
the offending key is written (for a missing key: where the object that lacks it starts), found by
`formats.jsonc_key_positions` / `toml_key_positions`. jsonschema is imported inside `validate`, so
importing this module is cheap.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from pyflows.runtime.config.formats import KeyPositions, Position
from pyflows.runtime.errors import ConfigSchemaError

__all__ = ["describe_value", "key_path", "schema", "schema_path", "validate"]


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The parsed `config-schema.json` (read once per process; do not modify it)."""
    return json.loads(_schema_bytes())  # type: ignore[no-any-return]


@lru_cache(maxsize=1)
def _schema_bytes() -> bytes:
    """`config-schema.json` as stored (the validity marker hashes it; `schema` parses it)."""
    return schema_path().read_bytes()


def schema_path() -> Path:
    """Where the installed `config-schema.json` is (for `"$schema"` in generated configs)."""
    return Path(__file__).resolve().parents[2] / "config-schema.json"


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def key_path(parts: Iterable[str | int]) -> str:
    """`["workflows", 1, "class_name"]` → `workflows[1].class_name` (odd keys as `vars["a-b"]`)."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out or "(top level)"


def describe_value(value: Any) -> str:
    """A value as JSON, cut to 60 characters, for an error message."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    type(None): "null",
}


def _describe_error(err: Any) -> str:
    """One jsonschema ValidationError as `<key path> is <value>, <what is allowed>. <description>`."""
    parts = list(err.absolute_path)
    schema = err.schema if isinstance(err.schema, dict) else {}
    desc = schema.get("description", "")
    kind, rule, value = err.validator, err.validator_value, err.instance
    if kind == "required":
        missing = [k for k in rule if k not in value]
        props = schema.get("properties", {})
        items = [
            f"{key_path([*parts, k])} is missing. {props.get(k, {}).get('description', '')}".strip() for k in missing
        ]
        return "; ".join(items)
    where = key_path(parts)
    if "propertyNames" in err.relative_schema_path:
        return f"{where} has the key {describe_value(value)}, which does not match {rule}. {desc}".strip()
    shown = f"{where} is {describe_value(value)}"
    if kind == "type":
        expected = " or ".join(
            {
                "object": "an object",
                "array": "an array",
                "string": "a string",
                "integer": "an integer",
                "number": "a number",
                "boolean": "true or false",
            }.get(t, t)
            for t in ([rule] if isinstance(rule, str) else rule)
        )
        found = _JSON_TYPES.get(type(value), type(value).__name__)
        what = f"{shown} ({found}), expected {expected}"
    elif kind == "pattern":
        what = f"{shown}, which does not match {rule}"
    elif kind in ("maxLength", "minLength"):
        bound = "at most" if kind == "maxLength" else "at least"
        what = f"{shown} ({len(value)} characters), expected {bound} {rule}"
    elif kind in ("maximum", "minimum"):
        bound = "at most" if kind == "maximum" else "at least"
        what = f"{shown}, expected {bound} {rule}"
    elif kind == "enum":
        what = f"{shown}, expected one of {', '.join(describe_value(v) for v in rule)}"
    else:
        what = f"{shown}: {err.message}"
    return f"{what}. {desc}".strip()


def _position(positions: KeyPositions, parts: Iterable[str | int]) -> Position | None:
    """Where the key at `parts` is written, else its nearest enclosing key that is."""
    path = tuple(parts)
    while True:
        if path in positions:
            return positions[path]
        if not path:
            return None
        path = path[:-1]


def validate(raw: Any, shown: str, locate: Callable[[], KeyPositions] | None = None) -> None:
    """Raise `ConfigSchemaError` listing every violation of the schema in `raw` (file `shown`).

    `locate` gives the key positions of the file (called only when there is a violation); each
    problem then starts `<shown>:<line>:<column>: `, and the error has `line` / `column` fields.
    """
    if not isinstance(raw, dict):
        raise ConfigSchemaError(
            f"{shown}: the top level is {_JSON_TYPES.get(type(raw), 'a value')}, expected an object "
            '({"name": ..., "main": ...}).',
            file=shown,
        )
    marker = _valid_marker(raw)
    if marker is not None and marker.exists():
        return  # this exact config passed this exact schema before: skip importing jsonschema
    import jsonschema  # lazily: ~100 ms the CLI should only pay when it reads config

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(raw), key=lambda e: [str(p) for p in e.absolute_path])
    if not errors:
        if marker is not None:
            with contextlib.suppress(OSError):
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.touch()
        return
    positions = locate() if locate is not None else {}
    where = [_position(positions, e.absolute_path) for e in errors]
    problems = [
        f"{shown}:{at[0]}:{at[1]}: {_describe_error(e)}" if at else f"{shown}: {_describe_error(e)}"
        for e, at in zip(errors, where, strict=True)
    ]
    first = errors[0]
    fields_: dict[str, Any] = {"file": shown, "key_path": key_path(first.absolute_path), "value": first.instance}
    if where[0] is not None:
        fields_["line"], fields_["column"] = where[0]
    if len(problems) == 1:
        raise ConfigSchemaError(problems[0], **fields_)
    listed = "\n".join(f"  - {p}" for p in problems)
    raise ConfigSchemaError(f"{shown}: {len(problems)} problems:\n{listed}", **fields_)


def _valid_marker(raw: Any) -> Path | None:
    """A file whose existence records that `raw` is valid against config-schema.json.

    Importing jsonschema costs ~100-300 ms, paid by every `pyflows dev` start and every test session
    of pyflows.testing; configs rarely change. The name hashes the schema and the config's canonical
    JSON, so any change to either validates again. Under $PYFLOWS_CACHE_DIR, else
    $XDG_CACHE_HOME/pyflows or ~/.cache/pyflows; None (always validate) if that cannot be used.
    """
    import hashlib
    import os

    try:
        digest = hashlib.sha256(_schema_bytes())
        digest.update(json.dumps(raw, sort_keys=True, default=repr).encode())
    except (OSError, TypeError, ValueError):
        return None
    base = os.environ.get("PYFLOWS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pyflows"
    )
    return Path(base) / "valid-configs" / digest.hexdigest()


def misspelled_keys(raw: Any, shown: str) -> list[str]:
    """Warnings for keys the schema does not know that look like a typo of one it does
    (`workflow` for `workflows`, `bindng` in a workflow entry).

    Unknown keys are allowed (Wrangler has many pyflows ignores), so only a close match is reported:
    a misspelled key would otherwise be ignored without a word."""
    if not isinstance(raw, dict):
        return []
    definitions = schema()
    warnings: list[str] = []

    def check(obj: dict[str, Any], known: Iterable[str], where: str) -> None:
        names = sorted(known)
        unknown = [key for key in obj if key not in names]
        if not unknown:  # the common case: no difflib import on the CLI's path
            return
        import difflib

        for key in unknown:
            close = difflib.get_close_matches(key, names, n=1, cutoff=0.8)
            if close:
                warnings.append(
                    f"{shown}: {where}{key} is not a setting pyflows knows (ignored); did you mean `{close[0]}`?"
                )

    check(raw, definitions.get("properties", {}), "")
    workflow_keys = definitions.get("$defs", {}).get("workflow", {}).get("properties", {})
    for i, item in enumerate(raw.get("workflows") or []):
        if isinstance(item, dict):
            check(item, workflow_keys, f"workflows[{i}].")
    return warnings

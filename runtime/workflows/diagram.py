"""A workflow's diagram, drawn from its Python source with `ast` (no code is run).

Cloudflare's dashboard draws "Workflow diagrams" from JavaScript only ("Python Workflows are not
currently supported", developers.cloudflare.com/workflows/build/visualizer/); this follows the same
node set for Python's `run(self, event, step)`:

    StartNode                                   the top
    StepDo {name, computed, depends, concurrent, match}
    StepSleep {name, duration} | StepSleepUntil {name, until} | StepWaitForEvent {name, event_type, timeout}
    ParallelNode {branches: [[node, ...], ...]}  asyncio.gather(...), and a step's dependencies with
                                                 concurrent=True
    LoopNode {label, body}                      for / async for / while (and comprehensions in gather)
    IfNode {test, then, else} | SwitchNode {subject, cases: [{pattern, body}]}
    TryNode {body, handlers: [{label, body}], finally}
    BreakNode {label}                           break / continue / return
    FunctionCall {name, body}                   a call of a method of the class or of a function
                                                defined in run whose body uses steps (entered once
                                                per call site; recursion is not followed)

Every node has `id` ("n1"...) and `line`. Step names are the literal or, when computed (an f-string,
a variable), the source text with `computed: true`; `match` is a regular expression for the
`<name>` part of the instance's step names, so a run can be painted on the diagram. Dependencies
are read from the step function's parameter names (implicit dependencies) or from `depends=[...]`
(legacy), and a dependency not yet run is drawn before the step, as the engine runs it.

    diagram_of_class(cls, class_name) -> {"nodes": [...]} | None (source unavailable)
    diagram_of_source(source, class_name) -> {"nodes": [...]}  # DiagramError if the class is missing
    to_mermaid(graph) -> str                                   # a `flowchart TD` for the CLI
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

from pyflows.runtime.errors import PyflowsError

_PRIMITIVES = {"sleep": "StepSleep", "sleep_until": "StepSleepUntil", "wait_for_event": "StepWaitForEvent"}


class DiagramError(PyflowsError):
    """The workflow's source could not be drawn (no such class, no `run` method, a syntax error)."""


@dataclass
class _StepDef:
    name: str
    computed: bool
    params: list[str]
    depends: list[str] | None
    concurrent: bool
    line: int
    match: str = ".*"


@dataclass
class _Walker:
    step_var: str
    defs: dict[str, _StepDef] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)
    counter: int = 0
    # Functions a call may enter: the class's methods ("self.name") and functions defined in run.
    helpers: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=dict)
    calling: list[str] = field(default_factory=list)  # recursion guard

    def node(self, kind: str, line: int, **fields: Any) -> dict[str, Any]:
        self.counter += 1
        return {"id": f"n{self.counter}", "type": kind, "line": line, **fields}

    # -- statements ------------------------------------------------------------------------------

    def block(self, stmts: list[ast.stmt]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for stmt in stmts:
            out.extend(self.stmt(stmt))
        return out

    def stmt(self, s: ast.stmt) -> list[dict[str, Any]]:
        if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef):
            self._register(s)
            return []
        if isinstance(s, ast.For | ast.AsyncFor):
            head = self.expr(s.iter)
            label = f"for {ast.unparse(s.target)} in {ast.unparse(s.iter)}"
            return [*head, self.node("LoopNode", s.lineno, label=label, body=self._branch(s.body))]
        if isinstance(s, ast.While):
            return [self.node("LoopNode", s.lineno, label=f"while {ast.unparse(s.test)}", body=self._branch(s.body))]
        if isinstance(s, ast.If):
            head = self.expr(s.test)
            return [
                *head,
                self.node(
                    "IfNode",
                    s.lineno,
                    test=ast.unparse(s.test),
                    then=self._branch(s.body),
                    **{"else": self._branch(s.orelse)},
                ),
            ]
        if isinstance(s, ast.Try) or (hasattr(ast, "TryStar") and isinstance(s, ast.TryStar)):
            body = self._branch(s.body + s.orelse)
            handlers = [
                {"label": "except " + (ast.unparse(h.type) if h.type else "") + (f" as {h.name}" if h.name else ""),
                 "body": self._branch(h.body)}
                for h in s.handlers
            ]  # fmt: skip
            return [
                self.node("TryNode", s.lineno, body=body, handlers=handlers, **{"finally": self._branch(s.finalbody)})
            ]
        if isinstance(s, ast.With | ast.AsyncWith):
            head = [n for item in s.items for n in self.expr(item.context_expr)]
            return head + self.block(s.body)
        if isinstance(s, ast.Match):
            cases = [{"pattern": ast.unparse(c.pattern), "body": self._branch(c.body)} for c in s.cases]
            return [
                *self.expr(s.subject),
                self.node("SwitchNode", s.lineno, subject=ast.unparse(s.subject), cases=cases),
            ]
        if isinstance(s, ast.Break | ast.Continue):
            return [self.node("BreakNode", s.lineno, label="break" if isinstance(s, ast.Break) else "continue")]
        if isinstance(s, ast.Return):
            value = self.expr(s.value) if s.value is not None else []
            return [*value, self.node("BreakNode", s.lineno, label="return")]
        nodes: list[dict[str, Any]] = []
        for child in ast.iter_child_nodes(s):
            if isinstance(child, ast.expr):
                nodes.extend(self.expr(child))
        return nodes

    def _branch(self, stmts: list[ast.stmt]) -> list[dict[str, Any]]:
        """A block that may or may not run: steps first run in it are not 'done' after it."""
        before = set(self.done)
        out = self.block(stmts)
        self.done = before
        return out

    # -- expressions -----------------------------------------------------------------------------

    def expr(self, e: ast.AST | None) -> list[dict[str, Any]]:
        if e is None:
            return []
        if isinstance(e, ast.Call):
            return self.call(e)
        if isinstance(e, ast.ListComp | ast.GeneratorExp | ast.SetComp):
            inner = self.expr(e.elt)
            if not inner:
                return []
            label = " ".join(f"for {ast.unparse(g.target)} in {ast.unparse(g.iter)}" for g in e.generators)
            return [self.node("LoopNode", getattr(e, "lineno", 0), label=label, body=inner)]
        out: list[dict[str, Any]] = []
        for child in ast.iter_child_nodes(e):
            out.extend(self.expr(child))
        return out

    def call(self, c: ast.Call) -> list[dict[str, Any]]:
        func = c.func
        if isinstance(func, ast.Attribute) and _is_name(func.value, "asyncio") and func.attr == "gather":
            branches = [b for b in (self.expr(a.value if isinstance(a, ast.Starred) else a) for a in c.args) if b]
            return [self.node("ParallelNode", c.lineno, branches=branches)] if branches else []
        if isinstance(func, ast.Attribute) and _is_name(func.value, self.step_var) and func.attr in _PRIMITIVES:
            return [self._primitive(func.attr, c)]
        if isinstance(func, ast.Name) and func.id in self.defs and not c.args:
            return self._run_step(func.id, c.lineno)
        entered = self._enter(c)
        if entered:
            return entered
        out: list[dict[str, Any]] = []
        for child in [c.func, *c.args, *(k.value for k in c.keywords)]:
            out.extend(self.expr(child))
        return out

    def _enter(self, c: ast.Call) -> list[dict[str, Any]]:
        """A call of a helper (a method of the class, a function defined in run) that uses steps:
        a FunctionCall node holding what its body draws, with `step` renamed to its parameter."""
        func = c.func
        key = (
            f"self.{func.attr}"
            if isinstance(func, ast.Attribute) and _is_name(func.value, "self")
            else func.id
            if isinstance(func, ast.Name)
            else None
        )
        fn = self.helpers.get(key) if key else None
        if fn is None or key in self.calling:
            return []
        params = [a.arg for a in fn.args.posonlyargs + fn.args.args]
        if key is not None and key.startswith("self.") and params[:1] == ["self"]:
            params = params[1:]
        step_var = self.step_var
        for position, arg in enumerate(c.args):
            if _is_name(arg, self.step_var) and position < len(params):
                step_var = params[position]
        for kw in c.keywords:
            if kw.arg and _is_name(kw.value, self.step_var):
                step_var = kw.arg
        saved, self.step_var = self.step_var, step_var
        self.calling.append(key or "")
        try:
            body = self.block(fn.body)
        finally:
            self.calling.pop()
            self.step_var = saved
        return [self.node("FunctionCall", c.lineno, name=key, body=body)] if body else []

    def _primitive(self, attr: str, c: ast.Call) -> dict[str, Any]:
        args = list(c.args)
        kw = {k.arg: k.value for k in c.keywords if k.arg}
        name_node = args[0] if args else kw.get("name")
        name, computed = _name_of(name_node)
        fields: dict[str, Any] = {"name": name, "computed": computed, "match": _match(name_node)}
        if attr == "sleep":
            fields["duration"] = _text(args[1] if len(args) > 1 else kw.get("duration"))
        elif attr == "sleep_until":
            fields["until"] = _text(args[1] if len(args) > 1 else kw.get("timestamp") or kw.get("when"))
        else:
            fields["event_type"] = _text(args[1] if len(args) > 1 else kw.get("event_type"))
            fields["timeout"] = _text(args[2] if len(args) > 2 else kw.get("timeout")) or '"24 hours"'
        return self.node(_PRIMITIVES[attr], c.lineno, **fields)

    def _run_step(self, fn: str, line: int) -> list[dict[str, Any]]:
        d = self.defs[fn]
        deps = self._deps(d)
        before: list[dict[str, Any]] = []
        pending = [x for x in deps if x in self.defs and self.defs[x].name not in self.done]
        if pending:
            runs = [self._run_step(x, line) for x in pending]
            if d.concurrent and len(runs) > 1:
                before.append(self.node("ParallelNode", line, branches=runs))
            else:
                before.extend(n for r in runs for n in r)
        self.done.add(d.name)
        node = self.node(
            "StepDo", line, name=d.name, computed=d.computed, match=d.match,
            depends=[self.defs[x].name if x in self.defs else x for x in deps], concurrent=d.concurrent,
            defined_at=d.line,
        )  # fmt: skip
        return [*before, node]

    def _deps(self, d: _StepDef) -> list[str]:
        """Function names (or step names) this step depends on."""
        if d.depends is not None:
            return d.depends
        by_step_name = {v.name: k for k, v in self.defs.items()}
        return [by_step_name.get(p, p) for p in d.params if p != "ctx"]

    def _register(self, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for dec in fn.decorator_list:
            target = dec.func if isinstance(dec, ast.Call) else dec
            if not (
                isinstance(target, ast.Attribute) and target.attr == "do" and _is_name(target.value, self.step_var)
            ):
                continue
            args = dec.args if isinstance(dec, ast.Call) else []
            kw = {k.arg: k.value for k in dec.keywords if k.arg} if isinstance(dec, ast.Call) else {}
            name_node = args[0] if args else kw.get("name")
            if name_node is None or (isinstance(name_node, ast.Constant) and name_node.value is None):
                name, computed, match = fn.name, False, "^" + re.escape(fn.name) + "$"
            else:
                name, computed = _name_of(name_node)
                match = _match(name_node)
            depends_node = kw.get("depends") or (args[1] if len(args) > 1 else None)
            depends = None
            if isinstance(depends_node, ast.List | ast.Tuple):
                depends = [ast.unparse(x) for x in depends_node.elts]
            concurrent_node = kw.get("concurrent")
            concurrent = isinstance(concurrent_node, ast.Constant) and concurrent_node.value is True
            params = [a.arg for a in fn.args.posonlyargs + fn.args.args]
            d = _StepDef(name, computed, params, depends, concurrent, fn.lineno, match)
            self.defs[fn.name] = d
            return
        self.helpers[fn.name] = fn  # not a step: a helper a later call may enter


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _text(node: ast.AST | None) -> str | None:
    return None if node is None else ast.unparse(node)


def _name_of(node: ast.AST | None) -> tuple[str, bool]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value, False
    return (ast.unparse(node) if node is not None else "?"), True


def _match(node: ast.AST | None) -> str:
    """A regex for the runtime names this name expression can take."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return "^" + re.escape(node.value) + "$"
    if isinstance(node, ast.JoinedStr):
        parts = [re.escape(str(v.value)) if isinstance(v, ast.Constant) else ".+?" for v in node.values]
        return "^" + "".join(parts) + "$"
    return ".*"


def diagram_of_source(source: str, class_name: str) -> dict[str, Any]:
    """Draw `class_name.run` found in `source` (a module or the class's own source)."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError as exc:
        raise DiagramError(
            f"Cannot draw {class_name}: its source does not parse ({exc.msg}, line {exc.lineno})."
        ) from None
    cls = next((n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == class_name), None)
    if cls is None:
        raise DiagramError(f"Cannot draw {class_name}: no class of that name in its source.")
    run = next((n for n in cls.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == "run"), None)
    if run is None:
        raise DiagramError(f"Cannot draw {class_name}: it has no run(self, event, step) method.")
    params = [a.arg for a in run.args.args]
    walker = _Walker(step_var=params[2] if len(params) > 2 else "step")
    for method in cls.body:
        if isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef) and method.name != "run":
            walker.helpers[f"self.{method.name}"] = method
    nodes = [walker.node("StartNode", run.lineno, label=f"{class_name}.run")]
    nodes.extend(walker.block(run.body))
    return {"nodes": nodes}


def diagram_of_class(cls: type, class_name: str | None = None) -> dict[str, Any] | None:
    """Draw a loaded workflow class; None when its source is not available (e.g. built in a REPL)."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return None
    return diagram_of_source(source, class_name or cls.__name__)


def diagram_of_project(cfg: Any, workflow: str) -> dict[str, Any]:
    """Draw a configured workflow from source files: its `class_name` in `main`, else in a module beside
    it. DiagramError names the workflow and what is missing."""
    spec = next((w for w in cfg.workflows if w.name == workflow), None)
    if spec is None:
        known = ", ".join(w.name for w in cfg.workflows) or "none"
        raise DiagramError(f"Workflow '{workflow}' is not in {cfg.path.name} (configured: {known}).")
    main = cfg.main
    candidates = [main, *sorted(p for p in main.parent.rglob("*.py") if p != main and ".pyflows" not in p.parts)]
    pattern = re.compile(rf"^\s*class\s+{re.escape(spec.class_name)}\b", re.M)
    for path in candidates:
        source = path.read_text("utf-8")
        if pattern.search(source):
            graph = diagram_of_source(source, spec.class_name)
            return {"workflow": workflow, "class_name": spec.class_name, "source": str(path), **graph}
    raise DiagramError(
        f"Cannot draw '{workflow}': class {spec.class_name} is not defined in {main} or a module beside it."
    )


# -- Mermaid ---------------------------------------------------------------------------------------


def _label(text: str) -> str:
    return '"' + text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;") + '"'


class _Mermaid:
    def __init__(self) -> None:
        self.lines: list[str] = ["flowchart TD"]
        self.n = 0

    def fresh(self) -> str:
        self.n += 1
        return f"j{self.n}"

    def seq(self, nodes: list[dict[str, Any]], entry: list[str]) -> list[str]:
        """Draw nodes in order after `entry` ids; returns the exit ids."""
        ends = entry
        for node in nodes:
            ends = self.one(node, ends)
        return ends

    def link(self, sources: list[str], target: str, label: str | None = None) -> None:
        arrow = f"-->|{_label(label)}|" if label else "-->"
        self.lines.extend(f"    {s} {arrow} {target}" for s in sources)

    def one(self, node: dict[str, Any], entry: list[str]) -> list[str]:
        i, kind = node["id"], node["type"]
        if kind == "StartNode":
            self.lines.append(f"    {i}([{_label(node['label'])}])")
            return [i]
        if kind == "StepDo":
            self.lines.append(f"    {i}[{_label('step.do ' + node['name'])}]")
        elif kind == "StepSleep":
            self.lines.append(f"    {i}>{_label('sleep ' + node['name'] + ' · ' + str(node['duration']))}]")
        elif kind == "StepSleepUntil":
            self.lines.append(f"    {i}>{_label('sleep_until ' + node['name'])}]")
        elif kind == "StepWaitForEvent":
            self.lines.append(
                f"    {i}{{{{{_label('wait_for_event ' + node['name'] + ' · ' + str(node['event_type']))}}}}}"
            )
        elif kind == "BreakNode":
            self.lines.append(f"    {i}(({_label(node['label'])}))")
            self.link(entry, i)
            return []
        elif kind == "ParallelNode":
            fork, join = i, self.fresh()
            self.lines.append(f"    {fork}[/{_label('parallel')}/]")
            self.link(entry, fork)
            self.lines.append(f"    {join}[\\{_label('all done')}\\]")
            for branch in node["branches"]:
                self.link(self.seq(branch, [fork]), join)
            return [join]
        elif kind == "FunctionCall":
            self.lines.append(f"    subgraph {i}[{_label(node['name'] + '()')}]")
            self.lines.append("    direction TB")
            head = self.fresh()
            self.lines.append(f"    {head}(({_label('call')}))")
            ends = self.seq(node["body"], [head])
            self.lines.append("    end")
            self.link(entry, head)
            return ends
        elif kind == "LoopNode":
            self.lines.append(f"    subgraph {i}[{_label(node['label'])}]")
            self.lines.append("    direction TB")
            head = self.fresh()
            self.lines.append(f"    {head}(({_label('loop')}))")
            ends = self.seq(node["body"], [head])
            self.link(ends, head)
            self.lines.append("    end")
            self.link(entry, head)
            return [head]
        elif kind == "IfNode":
            self.lines.append(f"    {i}{{{_label('if ' + node['test'])}}}")
            self.link(entry, i)
            yes = self.seq(node["then"], [i]) if node["then"] else [i]
            no = self.seq(node["else"], [i]) if node["else"] else [i]
            return yes + [x for x in no if x not in yes]
        elif kind == "SwitchNode":
            self.lines.append(f"    {i}{{{_label('match ' + node['subject'])}}}")
            self.link(entry, i)
            return [x for case in node["cases"] for x in self.seq(case["body"], [i])] or [i]
        elif kind == "TryNode":
            self.lines.append(f"    subgraph {i}[{_label('try')}]")
            self.lines.append("    direction TB")
            start = self.fresh()
            self.lines.append(f"    {start}(({_label('try')}))")
            ends = self.seq(node["body"], [start])
            self.lines.append("    end")
            self.link(entry, start)
            for h in node["handlers"]:
                ends = ends + self.seq(h["body"], [start]) if h["body"] else ends
            return self.seq(node["finally"], ends) if node["finally"] else ends
        self.link(entry, i)
        return [i]


def to_mermaid(graph: dict[str, Any]) -> str:
    """The diagram as a Mermaid `flowchart TD` (what `pyflows workflows diagram --format mermaid` prints)."""
    m = _Mermaid()
    m.seq(graph["nodes"], [])
    return "\n".join(m.lines) + "\n"

"""The user's Worker: import `main`, find its handlers and workflow classes, call `fetch`.

    worker = load_worker(config)        # UserCodeError: import failure (with the traceback), or a
                                        # workflows[].class_name the module does not define
    worker.specs(config)                # WorkflowSpecs for the engine, classes bound by class_name
    env = build_env(config, engine)     # self.env: workflow bindings + vars + secrets
    response = await worker.fetch(request, env)

`main` is imported with `runtime/sdk` first on sys.path and the module's own folder second, so
`import workers`, `js`, `pyodide.ffi` and `asgi` resolve to pyflows' shims (even when the real
workers-runtime-sdk is installed) and `from helpers import x` finds `src/helpers.py`, as on
Cloudflare. Handler style follows `config.modern_handlers` (SPEC §2): `Default(WorkerEntrypoint).fetch`
or the legacy module-level `on_fetch(request, env, ctx)`; either may take fewer parameters.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from pyflows.runtime.bindings import build_storage_bindings
from pyflows.runtime.bindings.platform import platform_bindings
from pyflows.runtime.errors import UserCodeError
from pyflows.runtime.sdk import SHIM_DIR
from pyflows.runtime.surface import entrypoints
from pyflows.runtime.surface.entrypoints import ExecutionContext, WorkerEntrypoint, WorkflowEntrypoint, call_relaxed
from pyflows.runtime.surface.http import Request, Response
from pyflows.runtime.surface.values import JsDict, python_from_rpc

if TYPE_CHECKING:
    from pyflows.runtime.config import Config
    from pyflows.runtime.triggers import Triggers
    from pyflows.runtime.workflows.engine import Engine, WorkflowSpec

__all__ = ["Env", "Worker", "build_env", "call_relaxed", "load_worker"]

# Top-level names the shims provide; stale copies (an installed SDK, a previous load) are purged.
SHIM_MODULES = ("workers", "js", "pyodide", "asgi")
_THIS_FILE = str(Path(__file__).resolve())
_loaded_dirs: set[Path] = set()


class Env(JsDict):
    """`self.env`: workflow bindings, `vars` and secrets by name, as attributes or keys.

    A missing name raises AttributeError naming what is defined. Secret values never show in
    `repr()` (it is printed in tracebacks and logs).
    """

    def __init__(self, values: Mapping[str, Any], *, secret_names: frozenset[str] = frozenset()) -> None:
        super().__init__(values)
        dict.__setattr__(self, "_secret_names", secret_names)  # not an item

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            if name.startswith("__"):
                raise AttributeError(name) from None
            defined = ", ".join(sorted(self)) or "nothing"
            raise AttributeError(
                f"env has no binding or variable {name!r} (defined: {defined}). Add it to `vars` or "
                "`workflows` in the wrangler config, or to .dev.vars."
            ) from None

    def __repr__(self) -> str:
        secret: frozenset[str] = dict.__getattribute__(self, "_secret_names")
        shown = ", ".join(f"{k}=<hidden>" if k in secret else f"{k}={v!r}" for k, v in self.items())
        return f"Env({shown})"


class Worker:
    """A loaded Worker module: its fetch handler (if any) and its WorkflowEntrypoint classes."""

    def __init__(self, module: ModuleType, main: Path, shown_main: str, modern: bool) -> None:
        self.module = module
        self.main = main
        self.shown_main = shown_main
        self.modern = modern
        self.workflow_classes = _workflow_classes(module)
        self.warnings: list[str] = []
        self.siblings: list[Worker] = []  # the other Workers of the session (config.siblings), same order
        self._default: type | None = None
        self._on_fetch: Callable[..., Any] | None = None
        default = getattr(module, "Default", None)
        exported = _exported(module)
        if isinstance(default, type) and issubclass(default, WorkerEntrypoint) and "Default" in exported:
            self._default = default
        on_fetch = getattr(module, "on_fetch", None)
        if not modern and callable(on_fetch) and self._default is None:
            self._on_fetch = on_fetch
        if modern and self._default is None and callable(on_fetch):
            self.warnings.append(
                f"{shown_main} defines a global on_fetch, but with compatibility_date 2025-08-14 or "
                "later Workers call `class Default(WorkerEntrypoint)` and ignore global handlers. Move "
                "it into `class Default(WorkerEntrypoint)` as `async def fetch(self, request)`, or add "
                '"disable_python_no_global_handlers" to compatibility_flags.'
            )

    @property
    def has_fetch(self) -> bool:
        return self._default is not None or self._on_fetch is not None

    def specs(self, config: Config) -> list[WorkflowSpec]:
        """One WorkflowSpec per `workflows[]` entry, its class looked up by `class_name`."""
        from pyflows.runtime.workflows.engine import WorkflowSpec

        out = []
        for sibling, sibling_config in zip(self.siblings, config.siblings, strict=True):
            out.extend(sibling.specs(sibling_config))
        for wf in config.workflows:  # load_worker() checked that every class_name is defined
            if wf.script_name not in (None, config.name):
                continue  # defined by another Worker of the session, which contributes the spec
            cls = self.workflow_classes[wf.class_name]
            out.append(
                WorkflowSpec(
                    name=wf.name,
                    binding=wf.binding,
                    class_name=wf.class_name,
                    script_name=wf.script_name or config.name,
                    cls=cls,
                    max_steps=wf.max_steps,
                    concurrency_limit=wf.concurrency_limit,
                )
            )
        return out

    def _missing_class_message(self, config: Config, index: int) -> str:
        wf = config.workflows[index]
        where = f"workflows[{index}].class_name is {wf.class_name!r} (workflow {wf.name!r}, binding {wf.binding})"
        found = ", ".join(sorted(self.workflow_classes)) or "none"
        obj = getattr(self.module, wf.class_name, None)
        if isinstance(obj, type) and issubclass(obj, WorkflowEntrypoint):
            why = f"{self.shown_main} defines it but leaves it out of __all__, so it is not exported"
            fix = f"add {wf.class_name!r} to __all__"
        elif obj is not None:
            why = f"{wf.class_name} in {self.shown_main} is not a WorkflowEntrypoint subclass"
            fix = f"declare it as `class {wf.class_name}(WorkflowEntrypoint)` (from workers import WorkflowEntrypoint)"
        else:
            why = f"module {self.module.__name__} ({self.shown_main}) defines no class {wf.class_name}"
            fix = f"define `class {wf.class_name}(WorkflowEntrypoint)` there, or fix class_name in {config.path.name}"
        return f"{where}, but {why}. WorkflowEntrypoint classes found: {found}. To fix: {fix}."

    async def fetch(self, request: Request, env: Any, ctx: ExecutionContext | None = None) -> Response:
        """Call the Worker's fetch handler; a missing handler is a 500 explaining what to define."""
        ctx = ctx or ExecutionContext()
        entrypoints.request_ctx.set(ctx)  # this invocation's task only
        if self._default is not None:
            instance = self._default(ctx, env)
            method = getattr(instance, "fetch", None)
            if not self.modern:  # legacy mode renames fetch to on_fetch on entrypoint classes
                method = getattr(instance, "on_fetch", None) or method
            if method is None:
                return _no_handler(f"class Default in {self.shown_main} has no `async def fetch(self, request)`.")
            result = call_relaxed(method, request)
        elif self._on_fetch is not None:
            result = call_relaxed(self._on_fetch, request, env, ctx)
        else:
            hint = (
                self.warnings[0]
                if self.warnings
                else (
                    f"{self.shown_main} has no fetch handler: define `class Default(WorkerEntrypoint)` with "
                    "`async def fetch(self, request)`"
                    + ("" if self.modern else " or a global `on_fetch(request, env, ctx)`")
                    + "."
                )
            )
            return _no_handler(hint)
        if inspect.iscoroutine(result) and "pyodide.ffi" in sys.modules:
            # In a greenlet, so `pyodide.ffi.run_sync` from sync code under it can await on this loop
            # (runtime/surface/stack.py). Only once something imported `pyodide.ffi`: the stepping
            # costs ~8% of fetch throughput, and code that can call run_sync has imported it (a module
            # first imported during a request gets the helper-thread run_sync for that request).
            from pyflows.runtime.surface.stack import run_switchable  # greenlet: imported only for this

            result = await run_switchable(result)
        elif inspect.isawaitable(result):
            result = await result
        if not isinstance(result, Response):
            raise TypeError(
                f"The fetch handler returned {type(result).__name__}, not a Response. Return "
                "workers.Response(...), Response.json(...) or Response.redirect(...)."
            )
        return result

    def handler(self, name: str) -> Callable[..., Any] | None:
        """The bound handler `name` ("scheduled", "queue") of `Default`, or the legacy global `on_<name>`."""
        if self._default is not None:
            return getattr(self._default, name, None) or getattr(self._default, f"on_{name}", None)
        if not self.modern:
            fn = getattr(self.module, f"on_{name}", None)
            return fn if callable(fn) else None
        return None

    async def _call_handler(self, name: str, arg: Any, env: Any) -> Any:
        """Call `scheduled(controller, env, ctx)` / `queue(batch, env, ctx)` (relaxed: fewer params are fine)."""
        ctx = ExecutionContext()
        entrypoints.request_ctx.set(ctx)  # this invocation's task only
        if self._default is not None:
            instance = self._default(ctx, env)
            method = getattr(instance, name, None) or getattr(instance, f"on_{name}", None)
        else:
            method = self.handler(name)
        if method is None:
            raise RuntimeError(f"{self.shown_main} has no {name}() handler.")
        result = call_relaxed(method, arg, env, ctx)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def scheduled(self, controller: Any, env: Any) -> None:
        """Cloudflare's Cron Trigger entry: `scheduled(self, controller, env, ctx)` / `on_scheduled(...)`."""
        await self._call_handler("scheduled", controller, env)

    async def queue(self, batch: Any, env: Any) -> None:
        """Cloudflare's Queue consumer entry: `queue(self, batch)` / `on_queue(batch, env, ctx)`."""
        await self._call_handler("queue", batch, env)


def _no_handler(message: str) -> Response:
    return Response(message + "\n", status=500)


def _exported(module: ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    return [n for n in vars(module) if not n.startswith("_")]


def _workflow_classes(module: ModuleType) -> dict[str, type]:
    """Cloudflare's rule: the module's `__all__`, else its public names, that subclass WorkflowEntrypoint."""
    found: dict[str, type] = {}
    for name in _exported(module):
        obj = getattr(module, name, None)
        if isinstance(obj, type) and issubclass(obj, WorkflowEntrypoint) and obj is not WorkflowEntrypoint:
            found[name] = obj
    return found


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


class _FreshSourceLoader(importlib.machinery.SourceFileLoader):
    """Compile the project's files from source every time, never through a cached .pyc.

    CPython trusts a .pyc whose source has the same size and the same mtime *second*; a save that
    keeps the length within a second of the last one would otherwise reload the old code
    (found by bench/: "pong-v2" -> "pong-v3"). Project code is small; compiling it is cheap.
    """

    def get_code(self, fullname: str) -> Any:
        return self.source_to_code(self.get_data(self.path), self.path)


class _ProjectFinder(importlib.abc.MetaPathFinder):
    """Finds modules under the Worker's folder and loads them with `_FreshSourceLoader`."""

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.prefix = self.root + os.sep

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        search = [self.root] if path is None else [p for p in path if str(p).startswith(self.prefix)]
        if not search:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, search)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return spec if spec is not None and path is not None else None
        spec.loader = _FreshSourceLoader(fullname, str(spec.origin))
        return spec


def _prepare_import_path(main_dir: Path) -> None:
    for name in list(sys.modules):
        if name.split(".", 1)[0] in SHIM_MODULES:
            del sys.modules[name]
    # Forget modules of a previously loaded project (tests load several in one process).
    stale = tuple(str(d) + os.sep for d in _loaded_dirs | {main_dir})
    for name, mod in list(sys.modules.items()):
        file = getattr(mod, "__file__", None)
        if isinstance(file, str) and file.startswith(stale):
            del sys.modules[name]
    for entry in (str(SHIM_DIR), str(main_dir)):
        while entry in sys.path:
            sys.path.remove(entry)
    sys.path[:0] = [str(SHIM_DIR), str(main_dir)]
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _ProjectFinder)]
    sys.meta_path.insert(0, _ProjectFinder(main_dir))
    for d in _loaded_dirs - {main_dir}:
        while str(d) in sys.path:
            sys.path.remove(str(d))
    _loaded_dirs.add(main_dir)
    importlib.invalidate_caches()


def _import_error_text(exc: BaseException, main: Path) -> str:
    if isinstance(exc, SyntaxError):
        return "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
    tbe = traceback.TracebackException.from_exception(exc)
    # Keep the user's frames: drop importlib's machinery and this loader.
    tbe.stack = traceback.StackSummary.from_list(
        [f for f in tbe.stack if not f.filename.startswith("<frozen") and f.filename != _THIS_FILE]
    )
    text = "".join(tbe.format()).rstrip()
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.split(".", 1)[0]
        if top == main.parent.name:
            text += (
                f"\n\nImports are rooted at {main.parent.name}/ (the folder of main), as on Cloudflare: "
                f"write `from {exc.name.split('.', 1)[-1]} import ...`, without the '{top}.' prefix."
            )
        else:
            text += (
                f"\n\nIs {top!r} installed in the Python environment running pyflows "
                f"({sys.executable})? Install it there, e.g. `pip install {top}`."
            )
    return text


def load_worker(config: Config, *, _session: tuple[str, ...] = ()) -> Worker:
    """Import the Worker module `config.main` (and first its session `siblings`); UserCodeError
    (with the traceback) if it fails."""
    # The session's other Workers first, so this one (which serves HTTP) keeps its import path.
    names = _session or (config.name, *(s.name for s in config.siblings))
    siblings = [load_worker(sibling, _session=names) for sibling in config.siblings]
    main = Path(config.main).resolve()
    shown = _shown(main, Path(config.root).resolve())
    _prepare_import_path(main.parent)
    name = main.stem
    spec = importlib.util.spec_from_file_location(name, main, loader=_FreshSourceLoader(name, str(main)))
    if spec is None or spec.loader is None:
        raise UserCodeError(f"Cannot import {shown}: not a Python module. `main` must point at a .py file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: B036 - SystemExit in user code is an import failure too
        sys.modules.pop(name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise UserCodeError(
            f"Could not import the Worker module {shown}:\n\n{_import_error_text(exc, main)}",
            main=shown,
        ) from None
    worker = Worker(module, main, shown, config.modern_handlers)
    worker.siblings = siblings
    for index in range(len(config.workflows)):  # fail at startup, not on the first request
        script = config.workflows[index].script_name
        if script not in (None, config.name):
            if script not in names:
                raise UserCodeError(
                    f"{config.path.name}: workflows[{index}].script_name is {script!r}, but no Worker of that name "
                    f"runs in this session ({', '.join(map(repr, names))}). Start it too: "
                    f"pyflows dev -c {config.path.name} -c <its folder>/wrangler.jsonc."
                )
            continue
        if config.workflows[index].class_name not in worker.workflow_classes:
            raise UserCodeError(worker._missing_class_message(config, index))
    from pyflows.runtime.triggers import check_handlers

    check_handlers(worker, config, names)  # crons without scheduled(), a consumer without queue(), DO classes
    return worker


def build_env(
    config: Config, engine: Engine | None, triggers: Triggers | None = None, *, persist_to: Path | None = None
) -> Env:
    """`self.env`: a binding per workflow, then `vars` (JSON values with attribute access), then secrets.

    KV, D1 and R2 data live under `persist_to` (runtime/bindings `storage_root`; None: the default)."""
    values: dict[str, Any] = {}
    if engine is not None:
        from pyflows.runtime.workflows.binding import WorkflowBinding

        for wf in config.workflows:
            values[wf.binding] = WorkflowBinding(engine, wf.name)
    if triggers is not None:
        values.update(triggers.bindings(config))  # queues, Durable Objects, services
    values.update(build_storage_bindings(config, persist_to))  # KV, D1, R2 (runtime/bindings)
    values.update(platform_bindings(config))  # assets.binding, ai (runtime/bindings/platform.py)
    for key, value in config.env_values.items():
        values[key] = python_from_rpc(value) if isinstance(value, dict | list) else value
    env = Env(values, secret_names=frozenset(config.secrets))
    entrypoints.current_env = env
    return env

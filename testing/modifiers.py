"""What `modify(fn)` hands to `fn`: the modifier `m`, and the per-instance state it writes.

Semantics copy Cloudflare's `WorkflowInstanceModifier` (`cloudflare:test`, @cloudflare/vitest-plugin,
workflows-shared `modifier.ts` / `context.ts`), with its traps fixed:

* a step selector is `{"name": str, "index": int = 1}`; `index` is 1-based and counts calls of that
  name within one kind of step (do, sleep, wait_for_event);
* inside one `step.do` attempt the checks run in Cloudflare's order: a mocked error, then a forced
  timeout, then a mocked result, else the real function runs. `mock_step_error(s, e, times)` and
  `force_step_timeout(s, times)` share one failure counter in the order they were registered
  (`mock_step_error(s, e, 2)` then `force_step_timeout(s, 1)`: attempts 1-2 fail, attempt 3 times out);
* a mocked `None`, `False`, `0` or `""` is a real mock (Cloudflare's kit silently runs the step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyflows.runtime.errors import PyflowsError


class IntrospectionError(PyflowsError):
    """pyflows.testing was used wrongly: a bad step selector, a step mocked twice, an unknown binding..."""


Key = tuple[str, int]  # (step name, 1-based index)


def step_key(step: Any, what: str) -> Key:
    """Validate a `{"name", "index"?}` selector; IntrospectionError saying what is wrong otherwise."""
    example = '{"name": "charge card", "index": 1}'
    if not isinstance(step, dict):
        raise IntrospectionError(
            f"{what}: a step selector is a dict like {example} (index is 1-based, default 1), got {step!r}."
        )
    unknown = set(step) - {"name", "index"}
    if unknown:
        raise IntrospectionError(f"{what}: unknown key(s) {sorted(unknown)} in step selector {step!r}; use {example}.")
    name = step.get("name")
    if not isinstance(name, str) or not name:
        raise IntrospectionError(f"{what}: the step selector needs a non-empty 'name' string, got {step!r}.")
    index = step.get("index", 1)
    if isinstance(index, bool) or not isinstance(index, int) or index < 1:
        raise IntrospectionError(
            f"{what}: 'index' in step selector {step!r} must be an integer from 1 (the first call of the step "
            "with that name is 1)."
        )
    return (name, index)


def shown(key: Key) -> str:
    return f"{{'name': {key[0]!r}, 'index': {key[1]}}}"


def error_payload(error: Any, what: str) -> dict[str, str]:
    """`{"name", "message"}` from an exception, an exception class or such a dict (Cloudflare keeps only those).

    A `NonRetryableError` subclass is recorded as `NonRetryableError`, as the engine records one
    that a step raises: it stops the retries."""
    from pyflows.runtime.surface.entrypoints import NonRetryableError

    cls = error if isinstance(error, type) else type(error)
    if issubclass(cls, BaseException):
        name = "NonRetryableError" if issubclass(cls, NonRetryableError) else cls.__name__
        return {"name": name, "message": "" if error is cls else str(error)}
    if isinstance(error, dict) and isinstance(error.get("name"), str) and isinstance(error.get("message", ""), str):
        return {"name": error["name"], "message": error.get("message", "")}
    raise IntrospectionError(
        f"{what}: the error must be an exception such as RuntimeError('payment declined') or a dict "
        f'{{"name": ..., "message": ...}}, got {error!r}.'
    )


def _stored(value: Any, what: str, method: str) -> Any:
    """`value` as the engine will store it (a copy: changing the caller's object later changes nothing);
    IntrospectionError now, at the `modify` call, if it cannot be stored."""
    from pyflows.runtime.surface.values import encode, loads, python_from_rpc

    try:
        return python_from_rpc(loads(encode(value, what=what)))
    except TypeError as exc:
        raise IntrospectionError(f"{method}: {what} cannot be stored: {str(exc).rstrip('.')}.") from None
    except ValueError as exc:  # over the size limit: the message names `what`
        raise IntrospectionError(f"{method}: {str(exc).rstrip('.')}.") from None


def check_called(result: Any, method: str) -> None:
    """IntrospectionError if `fn(m)` returned a modifier instead of calling it (`lambda m:
    m.disable_sleeps`, without the parentheses): it would silently change nothing."""
    for item in result if isinstance(result, tuple | list) else (result,):
        if callable(item):
            name = getattr(item, "__name__", None) or repr(item)
            raise IntrospectionError(f"{method}: m.{name} was not called: add the parentheses, m.{name}(...).")


def _times(times: Any, what: str) -> int | None:
    if times is None:
        return None
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise IntrospectionError(
            f"{what}: times must be a positive integer (or None for every attempt), got {times!r}."
        )
    return times


@dataclass
class _Failure:
    kind: str  # "error" | "timeout"
    remaining: int | None  # None: every attempt
    info: dict[str, str] | None = None


_NOTHING = object()


@dataclass
class InstanceMods:
    """The modifications of one instance; the engine reads them through `runtime/workflows/hooks.py`."""

    results: dict[Key, Any] = field(default_factory=dict)  # key -> mocked value (any value, even None)
    failures: dict[Key, list[_Failure]] = field(default_factory=dict)
    all_sleeps: bool = False
    sleeps: set[Key] = field(default_factory=set)
    all_retry_delays: bool = False
    retry_delays: set[Key] = field(default_factory=set)
    event_timeouts: set[Key] = field(default_factory=set)
    events: list[tuple[str, Any]] = field(default_factory=list)  # mocked events not yet delivered
    applied: set[Key] = field(default_factory=set)  # steps a mock answered at least once (for `steps`)

    # -- InstanceHooks ----------------------------------------------------------------------------

    def step_override(self, name: str, count: int, attempt: int, timeout_ms: int) -> tuple[str, Any] | None:
        key = (name, count)
        failures = self.failures.get(key)
        if failures:
            chosen = next((f for f in failures if f.remaining), None)  # counted ones, in order
            if chosen is None:  # then "every attempt": an error before a timeout, as Cloudflare checks
                forever = [f for f in failures if f.remaining is None]
                chosen = next((f for f in forever if f.kind == "error"), forever[0] if forever else None)
            if chosen is not None:
                if chosen.remaining:
                    chosen.remaining -= 1
                self.applied.add(key)
                if chosen.kind == "error":
                    return ("error", chosen.info)
                return (
                    "timeout",
                    {"name": "WorkflowTimeoutError", "message": f"Execution timed out after {timeout_ms}ms"},
                )
        value = self.results.get(key, _NOTHING)
        if value is not _NOTHING:
            self.applied.add(key)
            return ("result", value)
        return None

    def retry_delay_ms(self, name: str, count: int, delay_ms: int) -> int:
        return 0 if self.all_retry_delays or (name, count) in self.retry_delays else delay_ms

    def sleep_disabled(self, name: str, count: int) -> bool:
        return self.all_sleeps or (name, count) in self.sleeps

    def event_timeout_forced(self, name: str, count: int) -> bool:
        return (name, count) in self.event_timeouts


class Modifier:
    """`m` in `await instance.modify(lambda m: ...)`; every method names Cloudflare's (snake_case).

    Methods take effect when called; `mock_event` is delivered when `modify` returns (or when the
    instance is created, for an instance introspected before `create`).
    """

    def __init__(self, mods: InstanceMods) -> None:
        self._mods = mods

    def _keys(self, steps: Any, what: str) -> list[Key] | None:
        if steps is None:
            return None
        if isinstance(steps, dict) or not isinstance(steps, list | tuple):
            raise IntrospectionError(
                f"{what}: pass a list of step selectors, e.g. [{{'name': 'pause'}}], or nothing for every step; "
                f"got {steps!r}."
            )
        return [step_key(s, what) for s in steps]

    def disable_sleeps(self, steps: list[dict[str, Any]] | None = None) -> None:
        """`step.sleep` / `step.sleep_until` (all, or the selected ones) end at once."""
        keys = self._keys(steps, "disable_sleeps")
        if keys is None:
            self._mods.all_sleeps = True
        else:
            self._mods.sleeps.update(keys)

    def disable_retry_delays(self, steps: list[dict[str, Any]] | None = None) -> None:
        """Retry back-offs become 0 ms; every attempt still runs."""
        keys = self._keys(steps, "disable_retry_delays")
        if keys is None:
            self._mods.all_retry_delays = True
        else:
            self._mods.retry_delays.update(keys)

    def mock_step_result(self, step: dict[str, Any], value: Any) -> None:
        """The step does not run; its attempt is recorded as a success returning `value` (None counts)."""
        key = step_key(step, "mock_step_result")
        if key in self._mods.results:
            raise IntrospectionError(
                f"mock_step_result: step {shown(key)} is already mocked with a result for this instance; mock each "
                "step once (a second call of the same step name is {'index': 2})."
            )
        if any(f.kind == "timeout" and f.remaining is None for f in self._mods.failures.get(key, [])):
            raise IntrospectionError(
                f"mock_step_result: step {shown(key)} already times out on every attempt (force_step_timeout), so "
                "this result would never be reached; pass times=N to force_step_timeout, then mock the result."
            )
        self._mods.results[key] = _stored(value, f"The mocked result of step {shown(key)}", "mock_step_result")

    def mock_step_error(self, step: dict[str, Any], error: Any, times: int | None = None) -> None:
        """Every attempt (or the next `times`) fails with `error` (its type name and message are kept)."""
        key = step_key(step, "mock_step_error")
        if key in self._mods.results:
            raise IntrospectionError(
                f"mock_step_error: step {shown(key)} already has a mocked result; as in Cloudflare's kit, mock the "
                "error first, then the result (with times=N, the result answers the attempts after those N)."
            )
        info = error_payload(error, "mock_step_error")
        self._mods.failures.setdefault(key, []).append(_Failure("error", _times(times, "mock_step_error"), info))

    def force_step_timeout(self, step: dict[str, Any], times: int | None = None) -> None:
        """Every attempt (or the next `times`) ends with `WorkflowTimeoutError` as if its timeout passed."""
        key = step_key(step, "force_step_timeout")
        if times is None and key in self._mods.results:
            raise IntrospectionError(
                f"force_step_timeout: step {shown(key)} already has a mocked result, which would never be reached "
                "after a timeout on every attempt; force the timeout first (with times=N), then mock the result."
            )
        self._mods.failures.setdefault(key, []).append(_Failure("timeout", _times(times, "force_step_timeout")))

    def mock_event(self, event: dict[str, Any]) -> None:
        """Send `{"type", "payload"}` to the instance as if `send_event` had been called (buffered until a wait)."""
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise IntrospectionError(
                f"mock_event: pass a dict like {{'type': 'approval', 'payload': {{...}}}}, got {event!r}."
            )
        unknown = sorted(str(k) for k in event if k not in ("type", "payload"))
        if unknown:
            raise IntrospectionError(
                f"mock_event: unknown key(s) {', '.join(map(repr, unknown))}; an event has 'type' and 'payload'."
            )
        from pyflows.runtime.protocol.limits import check_event_type

        try:
            check_event_type(event["type"])
        except PyflowsError as exc:
            raise IntrospectionError(f"mock_event: {exc}") from None
        payload = _stored(event.get("payload"), f"The payload of mocked event {event['type']!r}", "mock_event")
        self._mods.events.append((event["type"], payload))

    def force_event_timeout(self, step: dict[str, Any]) -> None:
        """The selected `step.wait_for_event` raises `WorkflowTimeoutError` at once."""
        self._mods.event_timeouts.add(step_key(step, "force_event_timeout"))


class Recorder:
    """`m` in `handle.modify_all(fn)`: checks each call now, replays them on every instance created later."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self._check = Modifier(InstanceMods())

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._check, name) if not name.startswith("_") else None
        if method is None:
            raise AttributeError(name)

        def record(*args: Any, **kwargs: Any) -> None:
            method(*args, **kwargs)  # raises now for bad input, not at the next create()
            self.calls.append((name, args, kwargs))

        record.__name__ = name  # named as the modifier it records (check_called names it)
        return record

    def apply(self, mods: InstanceMods) -> None:
        m = Modifier(mods)
        for name, args, kwargs in self.calls:
            getattr(m, name)(*args, **kwargs)

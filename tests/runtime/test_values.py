"""The RPC boundary (JSON-like step results) and durations ("10 seconds" or ms)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pyflows.runtime.protocol.durations import epoch_ms, iso, to_ms
from pyflows.runtime.surface.values import (
    JsDict,
    ValueTooLargeError,
    dumps,
    encode,
    loads,
    python_from_rpc,
    python_to_rpc,
    to_api,
)


def roundtrip(value):
    return python_from_rpc(loads(dumps(python_to_rpc(value))))


def test_json_like_values_round_trip_with_attribute_access():
    out = roundtrip({"a": [1, "x", None, True, {"b": 1.5}], "c": {"d": {}}})
    assert out == {"a": [1, "x", None, True, {"b": 1.5}], "c": {"d": {}}}
    assert isinstance(out, JsDict) and out.a[4].b == 1.5 and isinstance(out.c.d, JsDict)
    with pytest.raises(AttributeError):
        _ = out.missing


def test_integral_floats_come_back_as_int():
    assert roundtrip({"x": 2.0})["x"] == 2 and type(roundtrip({"x": 2.0})["x"]) is int


def test_datetimes_round_trip_and_show_as_iso_in_the_api():
    naive = datetime(2026, 11, 21, 12, 31, 25, 75000)
    aware = datetime(2026, 11, 21, 13, 31, 25, 75000, tzinfo=timezone(timedelta(hours=1)))
    assert roundtrip(naive) == naive
    assert roundtrip(aware) == naive  # aware datetimes come back as naive UTC, as in workerd
    assert to_api(python_to_rpc({"t": naive})) == {"t": "2026-11-21T12:31:25.075Z"}


@pytest.mark.parametrize("bad", [(1, 2), bytearray(b"x"), {1, 2}, object()])
def test_non_transferable_values_are_type_errors(bad):
    with pytest.raises(
        TypeError, match=rf"^{type(bad)!r} cannot be sent over RPC\.$".replace("(", r"\(").replace(")", r"\)")
    ):
        python_to_rpc({"nested": [bad]})


def test_awaitables_are_rejected():
    async def coro():
        return 1

    c = coro()
    with pytest.raises(TypeError, match="cannot be sent over RPC"):
        python_to_rpc(c)
    c.close()
    loop = asyncio.new_event_loop()
    fut = loop.create_future()
    with pytest.raises(TypeError, match="cannot be sent over RPC"):
        python_to_rpc(fut)
    loop.close()


def test_non_str_keys_are_rejected_with_the_key():
    with pytest.raises(TypeError, match="dict key 1 \\(int\\)"):
        python_to_rpc({1: "x"})


def test_size_limit_names_the_size_and_the_limit():
    encode("x" * 1000, what="Result")
    with pytest.raises(ValueTooLargeError, match=r"Result is 1,048,579 bytes serialized, over the limit of 1,048,576"):
        encode("x" * (1024 * 1024 + 1), what="Result")
    with pytest.raises(ValueTooLargeError):  # multi-byte characters count as bytes
        encode("é" * (600 * 1024), what="Result")


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        (1500, 1500),
        ("10 seconds", 10_000),
        ("1 second", 1000),
        ("2 hours", 7_200_000),
        ("3 days", 259_200_000),
        ("1 week", 604_800_000),
        ("1 minute", 60_000),
        ("1 year", 31_536_000_000),
        ("2 months", 5_184_000_000),
    ],
)
def test_durations(value, ms):
    assert to_ms(value) == ms
    assert to_ms(value) == ms  # a text parsed before (steps parse theirs on every call) gives the same


def test_a_bad_duration_text_fails_every_time_it_is_given() -> None:
    for _ in range(2):  # only valid texts are remembered
        with pytest.raises(ValueError, match="Invalid step timeout '3 fortnights'"):
            to_ms("3 fortnights", what="step timeout")


@pytest.mark.parametrize("bad", ["10 parsecs", "soon", -1, True, None, float("inf"), float("nan")])
def test_bad_durations_say_what_is_accepted(bad):
    with pytest.raises(ValueError, match="Invalid duration"):
        to_ms(bad)


def test_epoch_ms_and_iso():
    assert epoch_ms(datetime(2026, 1, 1)) == epoch_ms(datetime(2026, 1, 1, tzinfo=UTC)) == 1767225600000
    assert epoch_ms(1767225600000) == 1767225600000
    assert iso(1767225600123) == "2026-01-01T00:00:00.123Z" and iso(None) is None

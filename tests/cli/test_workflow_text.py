"""The words and numbers `pyflows workflows` prints, in-process: durations, dates, JSON errors, flags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pyflows.cli import humanize, render, validation
from pyflows.cli.commands.workflows import normalize_argv
from pyflows.cli.views import instance as instance_view
from pyflows.runtime.errors import PyflowsError

T0 = datetime(2026, 11, 21, 12, 31, 26, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 seconds"),
        (0.4, "0 seconds"),
        (0.5, "1 second"),
        (2.2, "2 seconds"),
        (59.6, "60 seconds"),  # date-fns: still under a minute, so seconds, rounded
        (60, "1 minute"),
        (89, "1 minute"),
        (90, "2 minutes"),
        (3599, "60 minutes"),
        (3600, "1 hour"),
        (5 * 3600 + 1, "5 hours"),
        (86400 * 3, "3 days"),
        (86400 * 45, "2 months"),
        (86400 * 359, "1 year"),  # 12 months reads as a year
        (86400 * 800, "2 years"),
    ],
)
def test_distance_strict(seconds: float, text: str) -> None:
    assert humanize.distance_strict(T0 + timedelta(seconds=seconds), T0) == text
    assert humanize.distance_strict(T0, T0 + timedelta(seconds=seconds)) == text


def test_local_datetime_en_us(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        assert humanize.local_datetime("2026-11-21T12:31:26.075Z") == "11/21/2026, 12:31:26 PM"
        assert humanize.local_datetime("2026-01-05T00:04:09.000Z") == "1/5/2026, 12:04:09 AM"
        assert humanize.local_datetime("2026-01-05T23:00:00Z") == "1/5/2026, 11:00:00 PM"
        assert humanize.local_datetime(None) == "Invalid Date"
        monkeypatch.setenv("TZ", "Asia/Kolkata")
        time.tzset()
        assert humanize.local_datetime("2026-11-21T12:31:26.075Z") == "11/21/2026, 6:01:26 PM"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_labels() -> None:
    assert humanize.status_label("waiting") == "⏰ Waiting"
    assert humanize.status_label("waitingForPause") == "⏱️ Waiting for Pause"
    assert humanize.status_label("???") == "❓ Unknown"
    assert humanize.step_type_label("waitForEvent") == "👀 Waiting for event"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{bad json", "Expected property name or '}' in JSON at position 1 (line 1 column 2)"),
        ('{"a":1,}', "Expected double-quoted property name in JSON at position 7 (line 1 column 8)"),
        ('{"a":1,\n }', "Expected double-quoted property name in JSON at position 9 (line 2 column 2)"),
        ("[1, ]", "Unexpected token ']', \"[1, ]\" is not valid JSON"),
        ('{"a" 1}', "Expected ':' after property name in JSON at position 5 (line 1 column 6)"),
        ('{"a":1 "b":2}', "Expected ',' or '}' after property value in JSON at position 7 (line 1 column 8)"),
        ("[1 2]", "Expected ',' or ']' after array element in JSON at position 3 (line 1 column 4)"),
        ('{"a":1} x', "Unexpected non-whitespace character after JSON at position 8 (line 1 column 9)"),
        ('"abc', "Unterminated string in JSON at position 4 (line 1 column 5)"),
        ("", "Unexpected end of JSON input"),
        ('{"a":', "Unexpected end of JSON input"),
        ("bad", "Unexpected token 'b', \"bad\" is not valid JSON"),
        ('{"a":}', 'Unexpected token \'}\', "{"a":}" is not valid JSON'),
        ("NaN", "Unexpected token 'N', \"NaN\" is not valid JSON"),
        (
            '{"key": "value", "other": oops}',
            'Unexpected token \'o\', ..." "other": oops}" is not valid JSON',
        ),
    ],
)
def test_json_errors_read_like_v8(text: str, reason: str) -> None:
    with pytest.raises(PyflowsError) as caught:
        validation.parse_json_argument(text, "event payload")
    assert str(caught.value) == f'Error while parsing event payload: "{text}" with SyntaxError: {reason}\' '


def test_valid_json_arguments() -> None:
    assert validation.parse_json_argument('{"a": [1, 2.5, null, true]}', "x") == {"a": [1, 2.5, None, True]}
    assert validation.parse_json_argument('"text"', "x") == "text"


@pytest.mark.parametrize(
    ("value", "end_of_day", "iso"),
    [
        ("2026-01-31", False, "2026-01-31T00:00:00.000Z"),
        ("2026-01-31", True, "2026-01-31T23:59:59.999Z"),
        ("2026-01-01T13:00:00Z", True, "2026-01-01T13:00:00.000Z"),
        ("2026-01-01T13:00:00.5+02:00", False, "2026-01-01T11:00:00.500Z"),
        ("2024-02-29", False, "2024-02-29T00:00:00.000Z"),
    ],
)
def test_check_date(value: str, end_of_day: bool, iso: str) -> None:
    assert validation.check_date(value, "--date-start", end_of_day=end_of_day) == iso


@pytest.mark.parametrize("value", ["2026-02-30", "2025-02-29", "2026-04-31", "2026-02-30T10:00:00Z"])
def test_impossible_dates(value: str) -> None:
    with pytest.raises(PyflowsError, match="is not a real calendar date. Check the month and day."):
        validation.check_date(value, "--date-start", end_of_day=False)


@pytest.mark.parametrize("value", ["2026-13-01", "2026-01-32", "January 1, 2026", "2026-01-01 10:00", "2026-1-1"])
def test_invalid_dates(value: str) -> None:
    with pytest.raises(PyflowsError, match=f'invalid date "{value}" for --date-end'):
        validation.check_date(value, "--date-end", end_of_day=True)


def test_argv_accepts_wranglers_boolean_values() -> None:
    args = ["workflows", "instances", "describe", "wf", "--step-output", "false", "--json"]
    assert normalize_argv(args) == ["workflows", "instances", "describe", "wf", "--no-step-output", "--json"]
    assert normalize_argv(["workflows", "x", "--step-output=TRUE"]) == ["workflows", "x", "--step-output"]
    assert normalize_argv(["workflows", "x", "--step-output", "latest"]) == [
        "workflows",
        "x",
        "--step-output",
        "latest",
    ]
    assert normalize_argv(["dev", "--step-output", "false"]) == ["dev", "--step-output", "false"]


@pytest.mark.parametrize(
    ("retries", "failures", "ms"),
    [
        ({"delay": 1000, "backoff": "exponential"}, 1, 1000),
        ({"delay": 1000, "backoff": "exponential"}, 4, 8000),
        ({"delay": "5 seconds", "backoff": "linear"}, 3, 15000),
        ({"delay": "1 second", "backoff": "constant"}, 5, 1000),
        ({"delay": "[dynamic]"}, 1, None),
        ({}, 1, None),
    ],
)
def test_retry_delay(retries: dict[str, object], failures: int, ms: int | None) -> None:
    assert instance_view.retry_delay_ms(retries, failures=failures) == ms


def test_retries_at_cases() -> None:
    failed = {"start": "2026-01-01T00:00:00.000Z", "end": None, "success": False, "error": None}
    step = {"type": "step", "success": None, "config": {"retries": {"delay": 1000}}, "attempts": [failed]}
    assert instance_view.retries_at(step) == "unknown"  # the failed attempt has no end
    ended = dict(failed, end="2026-01-01T00:00:01.000Z")
    assert instance_view.retries_at(dict(step, attempts=[ended], config={"retries": {"delay": "[dynamic]"}})) == (
        "unknown (dynamic delay)"
    )
    assert instance_view.retries_at(dict(step, success=True, attempts=[ended])) is None
    working = dict(ended, success=None)
    assert instance_view.retries_at(dict(step, attempts=[ended, working])) is None  # an attempt is running
    past = instance_view.retries_at(dict(step, attempts=[ended]))
    assert past is not None and past.endswith(" ago)")


def test_labelled_values() -> None:
    assert render.labelled([("Name", "a"), ("Script Name", "b")]) == "Name:         a\nScript Name:  b"
    assert render.labelled([("Error", "one\ntwo")], indent=2) == "  Error:  one\n          two"


def test_banner_rule_matches_the_title_in_utf16_units() -> None:
    # Wrangler's " ⛅️ wrangler 4.164.0" is 20 UTF-16 units over a rule of 20; ours is 19.
    assert render.banner_text("4.164.0") == "\n ⛅️ pyflows 4.164.0\n" + "─" * 19 + "\n"

"""Log lines carry local times, with the date when the line is not from today."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shipdeck.model import LogLine
from shipdeck.tui.screens.logs import format_log_line

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_todays_line_shows_local_time_only() -> None:
    ts = NOW - timedelta(minutes=5)
    text = format_log_line(LogLine(line="ready", ts=ts), NOW)
    assert text == ts.astimezone().strftime("%H:%M:%S ") + "ready"


def test_older_line_shows_the_date() -> None:
    ts = NOW - timedelta(days=2)
    text = format_log_line(LogLine(line="boot", stream="stderr", ts=ts), NOW)
    assert text == ts.astimezone().strftime("%Y-%m-%d %H:%M:%S ") + "! boot"


def test_line_without_time_has_no_stamp() -> None:
    assert format_log_line(LogLine(line="x"), NOW) == "x"

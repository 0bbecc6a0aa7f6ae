"""EventLog: batched flushes, bounded buffer, literal text, search."""

from __future__ import annotations

from datetime import UTC, datetime

from textual.app import App, ComposeResult

from shipdeck.model import Event
from shipdeck.tui.text import literal
from shipdeck.tui.widgets.event_log import EventLog, format_event


class _Host(App[None]):
    def compose(self) -> ComposeResult:
        # A long interval: the test decides when to flush.
        yield EventLog(max_lines=50, flush_interval=60)


async def test_batches_bounds_and_searches() -> None:
    app = _Host()
    async with app.run_test() as pilot:
        log = app.query_one(EventLog)
        log.write_text_lines(f"line {i}" for i in range(120))
        assert log.line_count == 0 and log.pending_count == 50  # queued, and already bounded
        assert log.dropped_lines == 70
        log.flush()
        await pilot.pause()
        assert log.line_count == 50
        assert log.lines[0] == "line 70" and log.lines[-1] == "line 119"
        hit = log.find("LINE 75", start=0)
        assert hit == 5
        assert log.find("line 1", start=hit) is not None
        assert log.find("absent", start=0) is None
        assert log.count_matches("line 11") == 10
        log.show_line(log.find("line 90", start=0))
        assert log.highlighted_line == 20
        # Writing 10 more prunes 10 off the top: the highlighted match moves with its line...
        log.write_text_lines(f"more {i}" for i in range(10))
        log.flush()
        assert log.highlighted_line == 10 and log.lines[10] == "line 90"
        # ...and is dropped once its line is pruned.
        log.write_text_lines(f"again {i}" for i in range(20))
        log.flush()
        assert log.highlighted_line is None


async def test_markup_and_escapes_stay_literal() -> None:
    app = _Host()
    async with app.run_test() as pilot:
        log = app.query_one(EventLog)
        log.write_text_lines(["[bold red]not markup[/]", "esc \x1b[2Jclear", "two\nlines"])
        log.flush()
        await pilot.pause()
        assert list(log.lines[:4]) == ["[bold red]not markup[/]", "esc ?[2Jclear", "two", "lines"]


def test_format_event_is_one_literal_line() -> None:
    event = Event(
        id="evt_1",
        seq=3,
        type="agent.paused",
        provider="miteos",
        created_at=datetime(2026, 1, 1, 12, 30, 5, tzinfo=UTC),
        data={"status": "paused", "agent_id": "agt_1", "note": "a\nb\x1b", "nested": {"x": 1}, "error": None},
    )
    assert format_event(event) == "12:30:05 agent.paused         status=paused note=a?b? agent_id=agt_1"
    assert literal("\x9b31m") == "?31m"


async def test_a_clear_drops_the_lines_still_queued() -> None:
    """A change of source clears the log: the old source's queued lines must not show under the new one."""
    app = _Host()
    async with app.run_test():
        log = app.query_one(EventLog)
        log.write_text_lines(["old source 1", "old source 2"])
        assert log.pending_count == 2
        log.clear()
        log.write_text_lines(["new source"])
        log.flush()
        assert log.lines == ["new source"]

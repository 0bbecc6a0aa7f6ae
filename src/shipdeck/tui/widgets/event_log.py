"""EventLog: a bounded, batched tail of events or log lines, rendered with the Line API.

Writers call :meth:`EventLog.write_events` / :meth:`EventLog.write_text_lines` as often as they like;
lines are queued and flushed to the screen at most ~10 times a second in one ``write_lines`` call, and
the widget keeps at most ``max_lines`` lines (a ring buffer). Text is never interpreted: no markup, and
control characters and escape sequences are replaced before they reach the terminal.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Self

from textual.strip import Strip
from textual.timer import Timer
from textual.widgets import Log

from shipdeck.model import Event
from shipdeck.tui.text import literal

DEFAULT_MAX_LINES = 5_000
FLUSH_INTERVAL = 0.1


def _short_time(at: datetime | None) -> str:
    # Not strftime, which costs twice as much: this runs for every event shown (5,000 a second at most).
    return f"{at.hour:02d}:{at.minute:02d}:{at.second:02d}" if at else "--:--:--"


# What a human reads first; ids (long, and the same on many lines) go last.
_LEADING_FIELDS = ("status", "state", "tool", "thought", "summary", "reason", "error", "message")


def format_event(event: Event, labels: Mapping[str, str] | None = None) -> str:
    """One line per event: time, type, the readable fields, then the ids; nested and null values left out.
    ``labels``: what an id is called where it is known (a version id -> ``v5``: ``from_version=v5``, not
    ``from_version_id=ver_…`` cut off at 120 columns); an id labelled "" is left out (the deployment
    whose events these all are)."""
    data = event.data
    scalars = {
        key: value for key, value in data.items() if value is not None and not isinstance(value, (dict, list))
    }
    leading = [key for key in _LEADING_FIELDS if key in scalars]
    ids = [key for key in scalars if key.endswith("_id") and key not in leading]
    rest = [key for key in scalars if key not in leading and key not in ids]
    named: list[str] = []
    unnamed: list[str] = []
    for key in ids:
        label = labels.get(scalars[key]) if labels and isinstance(scalars[key], str) else None
        if label is None:
            unnamed.append(f"{key}={scalars[key]}")
        elif label:
            named.append(f"{key.removesuffix('_id')}={label}")
    parts = [f"{key}={scalars[key]}" for key in leading + rest] + named + unnamed
    return literal(f"{_short_time(event.created_at)} {event.type:<20} {' '.join(parts)}".rstrip())


class EventLog(Log):
    """A read-only tail of events or log lines, bounded and batched; ``highlight_line`` marks a match."""

    COMPONENT_CLASSES = {"event-log--match"}
    DEFAULT_CSS = """
    EventLog { height: 1fr; border: none; }
    EventLog > .event-log--match { background: $accent 40%; text-style: bold reverse; }
    """

    def __init__(
        self,
        *,
        max_lines: int = DEFAULT_MAX_LINES,
        flush_interval: float = FLUSH_INTERVAL,
        auto_scroll: bool = True,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's own parameter name
        classes: str | None = None,
    ) -> None:
        super().__init__(
            max_lines=max_lines, auto_scroll=auto_scroll, highlight=False, name=name, id=id, classes=classes
        )
        # Events are queued as they are and formatted when flushed: a busy stream overflows the queue
        # between flushes (5,000 a second against 10 flushes), and what is dropped is never formatted.
        self._pending: deque[str | Event] = deque(maxlen=max_lines)
        self._flush_interval = flush_interval
        self._flush_timer: Timer | None = None
        self.highlighted_line: int | None = None
        self.dropped_lines = 0
        # What the ids in the events are called (see format_event), set by whoever knows them.
        self.labels: dict[str, str] = {}

    def on_mount(self) -> None:
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        """One flush ``flush_interval`` after the first queued line (an idle log runs no timer at all)."""
        if self._pending and self._flush_timer is None and self.is_mounted:
            self._flush_timer = self.set_timer(self._flush_interval, self._flush_due, name="event-log-flush")

    def _flush_due(self) -> None:
        self._flush_timer = None
        self.flush()

    # -- writing ----------------------------------------------------------------------------------------
    def write_text_lines(self, lines: Iterable[str]) -> None:
        """Queue lines (shown on the next flush). Each line is made literal; embedded newlines split it."""
        for line in lines:
            for part in str(line).split("\n"):
                self._queue(literal(part))
        self._schedule_flush()

    def write_events(self, events: Iterable[Event]) -> None:
        """Queue events (each one line, formatted by :func:`format_event` when flushed)."""
        for event in events:
            self._queue(event)
        self._schedule_flush()

    def _queue(self, item: str | Event) -> None:
        """One line to show on the next flush; the oldest queued is dropped (and counted) when full."""
        if len(self._pending) == self._pending.maxlen:
            self.dropped_lines += 1
        self._pending.append(item)

    def flush(self) -> None:
        """Write what is queued in one batch (called by the timer; tests may call it directly)."""
        if not self._pending:
            return
        labels = self.labels
        batch = [line if isinstance(line, str) else format_event(line, labels) for line in self._pending]
        self._pending.clear()
        before = len(self.lines)
        self.write_lines(batch)
        pruned = before + len(batch) - len(self.lines)
        if pruned > 0 and self.highlighted_line is not None:
            # Lines pruned off the top shift every index; a match that was pruned is dropped.
            self.highlighted_line -= pruned
            if self.highlighted_line < 0:
                self.highlighted_line = None

    def clear(self) -> Self:
        """Drop what is shown and what is queued: lines written before a clear never show after it (the
        logs screen clears on a change of source; a queued line of the old source appeared under the new)."""
        self._pending.clear()
        return super().clear()

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    # -- search -----------------------------------------------------------------------------------------
    def find(self, needle: str, *, start: int, backwards: bool = False) -> int | None:
        """Index of the next line containing ``needle`` (case-insensitive), wrapping around; None if none."""
        lines = self.lines
        if not needle or not lines:
            return None
        needle = needle.casefold()
        count = len(lines)
        step = -1 if backwards else 1
        for offset in range(1, count + 1):
            index = (start + step * offset) % count
            if needle in lines[index].casefold():
                return index
        return None

    def count_matches(self, needle: str) -> int:
        needle = needle.casefold()
        return sum(1 for line in self.lines if needle in line.casefold()) if needle else 0

    def show_line(self, index: int | None) -> None:
        """Highlight line ``index`` (None clears) and scroll it into the middle of the view."""
        self.highlighted_line = index
        if index is not None:
            self.scroll_to(y=max(0, index - self.size.height // 2), animate=False)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        if self.highlighted_line is not None and self.scroll_offset.y + y == self.highlighted_line:
            strip = strip.apply_style(self.get_component_rich_style("event-log--match"))
        return strip

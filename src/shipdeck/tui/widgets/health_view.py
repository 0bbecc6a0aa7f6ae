"""The Health tab: is the highlighted deployment failing its users, since when, and did the change help?

The charts are Textual's own :class:`~textual.widgets.Sparkline`: it ships with the pinned Textual (no new
dependency, stable in snapshots), draws bar heights as block characters that stay readable with NO_COLOR and
at 80 columns, and fits in two rows of a 24-row terminal, where a plotting widget (textual-plotext) needs
axes and a dozen rows to say as much. A sparkline scales from its minimum to its maximum, so each chart's
title names both ends. Version changes are marked with ``^`` under the time axis, with their labels.

It renders what :class:`shipdeck.live.health.HealthMonitor` has read; it never calls the network.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Sparkline, Static

from shipdeck.model.service_health import (
    LEVEL_FLAGS,
    HealthDetail,
    HealthPoint,
    ServiceHealth,
    VersionChange,
    format_ms,
    format_rate,
    no_rate_words,
    reading_is_current,
    window_words,
)
from shipdeck.tui.text import literal
from shipdeck.tui.widgets.static_text import set_text

LEVEL_WORDS = {**LEVEL_FLAGS, "ok": "ok", "unknown": "no requests"}
ROUTES_SHOWN = 3
FAILING_SHOWN = 3
SPAN_WORDS = {"1h": "last hour", "24h": "last 24 h"}


def summary_text(
    health: ServiceHealth | None, movement: str | None = None, *, now: datetime | None = None
) -> Text:
    """``12.4% errors ⚠ high · p50 96 ms · p95 840 ms · p99 1.9 s · 1180 rpm (last 30 s, as of 12:00:01)``;
    the window in :func:`window_words` (``30 s ending 3 d ago, stale`` for an old reading)."""
    if health is None:
        return Text("no health figures for this deployment")
    if health.error_rate is None:
        return Text(literal(no_rate_words(health)))
    text = Text()
    level = health.level
    style = "bold" if level in ("critical", "warning") else ""
    text.append(f"{format_rate(health.error_rate)} errors {LEVEL_WORDS[level]}", style=style)
    text.append(f" · p50 {format_ms(health.p50_ms)} · p95 {format_ms(health.p95_ms)}")
    text.append(f" · p99 {format_ms(health.p99_ms)}")
    if health.rpm is not None:
        text.append(f" · {health.rpm:.0f} rpm")
    at = now or datetime.now(UTC)
    if not reading_is_current(health, at):
        text.append(f" ({window_words(health, at)})", style="dim")
    elif health.as_of is not None:
        # When the figures were read: a window of "last 30 s" alone made a read minutes old look current.
        read = f"as of {health.as_of.astimezone(UTC):%H:%M:%S}"
        text.append(
            f" ({window_words(health, at)}, {read})" if health.window_s else f" ({read})", style="dim"
        )
    elif health.window_s:
        text.append(f" ({window_words(health, at)})", style="dim")
    if movement:
        text.append(f"\nsince your change: {movement}", style="bold")
    return text


def marks_line(points: Sequence[HealthPoint], changes: Sequence[VersionChange], width: int) -> str:
    """``^`` under the columns where a version began taking traffic, then the versions' labels."""
    if not points or width <= 0:
        return ""
    start, end = points[0].at, points[-1].at
    span = (end - start).total_seconds() or 1.0
    cells = [" "] * width
    labels = []
    for change in changes:
        if not start <= change.at <= end:
            continue
        column = min(width - 1, max(0, int((change.at - start).total_seconds() / span * width)))
        cells[column] = "^"
        name = f"v{change.version_number}" if change.version_number is not None else "a version"
        labels.append(f"{name} went live {change.at.astimezone(UTC).strftime('%H:%M')}")
    if not labels:
        return ""
    line = "".join(cells).rstrip()
    tail = "  " + ", ".join(labels)
    return line + tail if len(line) + len(tail) <= width else line + "\n" + tail.strip()


def chart_data(values: Sequence[float | None]) -> list[float]:
    """A Sparkline's data: a missing figure is 0, and so is a non-finite one, which the api's parsing never
    lets through but which the Sparkline cannot draw at all (it raised ValueError and ended the console)."""
    return [value if value is not None and math.isfinite(value) else 0.0 for value in values]


def _finite(values: Sequence[float | None]) -> list[float]:
    return [value for value in values if value is not None and math.isfinite(value)]


def _range(values: Sequence[float], render: Callable[[float], str]) -> str:
    return f"{render(min(values))} … {render(max(values))}" if values else "no figures"


class HealthView(VerticalScroll):
    DEFAULT_CSS = """
    HealthView { height: 1fr; padding: 0 1; }
    HealthView Static { height: auto; }
    HealthView Sparkline { height: 2; margin: 0; }
    HealthView .health-title { color: $text-muted; }
    """

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        id: str | None = None,  # noqa: A002 - Textual's own parameter name
    ) -> None:
        super().__init__(id=id)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.detail: HealthDetail | None = None
        self.span = "1h"

    def compose(self) -> ComposeResult:
        yield Static("", id="health-summary")
        yield Static("", id="health-errors-title", classes="health-title")
        yield Sparkline([], id="health-errors")
        yield Static("", id="health-marks")
        yield Static("", id="health-p95-title", classes="health-title")
        yield Sparkline([], id="health-p95")
        yield Static("", id="health-lists")

    def show(
        self,
        detail: HealthDetail | None,
        *,
        unavailable: str | None = None,
        loading: bool = False,
        movement: str | None = None,
        span: str = "1h",
        wanted_span: str | None = None,
        lists_read: bool = True,
        lists_waiting: bool = False,
        failure: str | None = None,
    ) -> None:
        self.detail = detail
        self.span = span
        summary = self.query_one("#health-summary", Static)
        charts = (
            "#health-errors-title",
            "#health-errors",
            "#health-marks",
            "#health-p95-title",
            "#health-p95",
        )
        if detail is None:
            empty = "loading…" if loading else "no health figures for this deployment"
            message = unavailable or failure or empty
            set_text(summary, Text(literal(message)))
            for selector in charts:
                self.query_one(selector).display = False
            set_text(self.query_one("#health-lists", Static), "")
            return
        for selector in charts:
            self.query_one(selector).display = True
        health = detail.health
        shown = summary_text(health, movement, now=self.clock())
        if failure:
            # The figures stay (they are the last known), said to be from before the failed read.
            shown.append(f"\n{literal(failure)}: these figures are from before", style="bold")
        set_text(summary, shown)
        points = health.series
        rates = _finite([p.error_rate for p in points])
        p95s = _finite([p.p95_ms for p in points])
        label = SPAN_WORDS.get(span, "last hour")
        if wanted_span is not None and wanted_span != span:
            # h relabelled the chart at once while it still drew the other span's series.
            label += f"; {SPAN_WORDS.get(wanted_span, wanted_span).removeprefix('last ')}: reading…"
        set_text(
            self.query_one("#health-errors-title", Static),
            f"error rate, {label} ({_range(rates, format_rate)}; h: 1 h / 24 h)",
        )
        self.query_one("#health-errors", Sparkline).data = chart_data([p.error_rate for p in points])
        width = max(1, self.scrollable_content_region.width or 80)
        set_text(self.query_one("#health-marks", Static), marks_line(points, health.version_changes, width))
        set_text(
            self.query_one("#health-p95-title", Static), f"p95 latency, {label} ({_range(p95s, format_ms)})"
        )
        p95_chart = self.query_one("#health-p95", Sparkline)
        p95_chart.data = chart_data([p.p95_ms for p in points])
        p95_chart.display = bool(p95s)
        self.query_one("#health-p95-title", Static).display = bool(p95s)
        not_read = WAITING_FOR_BUDGET if lists_waiting else NOT_READ_YET
        set_text(self.query_one("#health-lists", Static), lists_text(detail) if lists_read else not_read)

    def on_resize(self) -> None:
        if self.detail is not None:
            health = self.detail.health
            width = max(1, self.scrollable_content_region.width)
            set_text(
                self.query_one("#health-marks", Static),
                marks_line(health.series, health.version_changes, width),
            )


# Until the routes and failing requests are read: never "none" (that reads as "nothing is failing").
NOT_READ_YET = "top failing routes, latest failing requests: reading…"
WAITING_FOR_BUDGET = (
    "top failing routes, latest failing requests: waiting for the health reads' budget "
    "(3 requests; a few a minute are kept for health)"
)


def lists_text(detail: HealthDetail) -> Text:
    text = Text()
    failing_routes = [r for r in detail.routes if r.errors][:ROUTES_SHOWN]
    over = f" ({literal(detail.routes_over)})" if detail.routes_over else ""
    text.append(f"top failing routes{over}\n", style="bold")
    for route in failing_routes:
        name = literal(f"{route.method or ''} {route.route}".strip())
        text.append(
            f"  {name}  {format_rate(route.error_rate)} of {route.requests}, p95 {format_ms(route.p95_ms)}\n"
        )
    if not failing_routes:
        text.append("  none: no route is failing\n")
    text.append("latest failing requests\n", style="bold")
    for request in detail.failing[:FAILING_SHOWN]:
        at = request.at.astimezone(UTC).strftime("%H:%M:%S") if request.at else "-"
        version = f" v{request.version_number}" if request.version_number is not None else ""
        line = f"  {at} {request.status or '-'} {request.path or '-'}{version}  {request.error or ''}"
        text.append(literal(line.rstrip()) + "\n")
    if not detail.failing:
        text.append("  none in the last hour\n")
    return text

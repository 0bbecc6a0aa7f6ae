"""Service health in the neutral model: is a deployment failing its users right now?

Not :class:`shipdeck.model.Health` (the meaning of a state string); this is what the provider measures:
the error rate of the requests served (0..1), latency percentiles, requests per minute, over a window that
ends at ``as_of``. Providers without metrics have no ServiceHealth at all (``None`` in ``--json``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from pydantic import Field

from shipdeck.model import Model, ProviderName, Timestamp, Version

# Over this error rate a deployment is flagged (symbol and word, never colour alone).
ERROR_RATE_WARNING = 0.02
ERROR_RATE_CRITICAL = 0.05


class HealthPoint(Model):
    """One point of a trend: the error rate and p95 of the requests in the bucket that ends at ``at``."""

    at: Timestamp
    error_rate: float | None = None
    p95_ms: float | None = None
    requests: int | None = None


class VersionChange(Model):
    """A version began taking traffic at ``at`` (a promote, rollback or restore)."""

    at: Timestamp
    version_id: str | None = None
    version_number: int | None = None


class RouteHealth(Model):
    method: str | None = None
    route: str
    requests: int = 0
    errors: int = 0
    error_rate: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None


class RequestRecord(Model):
    """One served request from the provider's request log."""

    at: Timestamp | None = None
    method: str | None = None
    path: str | None = None
    status: int | None = None
    duration_ms: float | None = None
    version_number: int | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.status is not None and self.status >= 500


class ServiceHealth(Model):
    deployment_id: str
    provider: ProviderName
    error_rate: float | None = None  # 0..1; None: no requests in the window
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    rpm: float | None = None
    requests: int | None = None
    errors: int | None = None
    window_s: float | None = None
    as_of: Timestamp | None = None
    version_id: str | None = None  # the version taking (most of) the traffic
    series: list[HealthPoint] = Field(default_factory=list)  # oldest first, when the provider sent one
    version_changes: list[VersionChange] = Field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The ``"health"`` object of ``shipdeck status --json``."""
        return {
            "error_rate": self.error_rate,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "rpm": self.rpm,
            "window_s": self.window_s,
            "as_of": self.as_of.isoformat().replace("+00:00", "Z") if self.as_of else None,
        }

    @property
    def level(self) -> str:
        """``ok``, ``warning`` or ``critical`` by error rate (``unknown`` without requests)."""
        return health_level(self.error_rate)


# How long after a version goes live its figures are its own: before, traffic is still moving over.
SWITCH_SETTLE_S = 60.0
# The words for an error rate over a threshold, one vocabulary for the list's ERRORS column, the Health
# tab and `shipdeck health`/`status` (they said "high"/"warn", "high"/"raised" and "failing"/"degraded").
LEVEL_FLAGS = {"critical": "⚠ high", "warning": "⚠ warn"}


def health_level(error_rate: float | None) -> str:
    if error_rate is None:
        return "unknown"
    if error_rate >= ERROR_RATE_CRITICAL:
        return "critical"
    if error_rate >= ERROR_RATE_WARNING:
        return "warning"
    return "ok"


class RowFigures(NamedTuple):
    """A list row's ERRORS cell: the error rate now, the recent rates, and whether the last read of them
    failed (the figures are then the ones from before, which the cell must not show as current)."""

    rate: float | None
    trend: Sequence[float | None]
    stale: bool = False


def no_rate_words(health: ServiceHealth) -> str:
    """What figures without an error rate say: no traffic, or (requests counted) a rate the server did not
    give as a number. A NaN rate beside 1,168 rpm read "no requests in the last window" of a deployment
    failing 12% of them."""
    traffic = (health.rpm or 0) > 0 or (health.requests or 0) > 0
    if not traffic:
        return "no requests in the last window (stopped, or no traffic)"
    counted = f"{health.rpm:.0f} rpm" if health.rpm else f"{health.requests} requests"
    return (
        f"error rate unknown: the server gave none it could read ({counted} in the window, "
        f"p95 {format_ms(health.p95_ms)})"
    )


class HealthDetail(Model):
    """What the Health tab and ``shipdeck health`` show: the figures, the routes, the latest failures."""

    health: ServiceHealth
    routes: list[RouteHealth] = Field(default_factory=list)
    failing: list[RequestRecord] = Field(default_factory=list)
    # What the routes' figures cover ("last hour", "last 500 requests"): a route at 3.4% under a current
    # rate of 0.3% read as a contradiction without it.
    routes_over: str | None = None


# -- words and figures (shared by the CLI, the console and the rollback / promote dialogs) --------------
TREND_BLOCKS = " ▁▂▃▄▅▆▇█"
# Error rates at which the trend climbs one block: a log-like scale, so 0.3% and 12% look nothing alike.
TREND_STEPS = (0.0005, 0.002, 0.005, 0.01, 0.02, 0.05, 0.08, 0.12)


def format_rate(rate: float | None) -> str:
    """``0.124`` -> ``12.4%``; ``0.0031`` -> ``0.3%``; None -> ``-``."""
    if rate is None:
        return "-"
    percent = rate * 100
    if percent >= 10:
        return f"{percent:.1f}%"
    if percent >= 0.05 or percent == 0:
        return f"{percent:.1f}%"
    return "<0.1%"


def format_ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 10_000:
        return f"{value / 1000:.0f} s"
    return f"{value:.0f} ms"


def trend_text(rates: list[float | None], width: int) -> str:
    """The last ``width`` error rates as block characters (``·`` where there was no figure)."""
    cells = []
    for rate in rates[-width:]:
        if rate is None:
            cells.append("·")
            continue
        level = sum(1 for step in TREND_STEPS if rate >= step)
        cells.append(TREND_BLOCKS[level] if level else "▁")
    return "".join(cells).rjust(width)


def format_age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


# How far a reading's as_of may be from this clock (either way) and still be "the last 30 s": a client's
# clock may be minutes off the server's (a laptop, a VM without NTP), and a read or two may fail; past it
# the figures are an old window's (an as_of of 1970) or a clock's that cannot be trusted. At 60 s every
# current reading read as "stale" on a client five minutes fast.
READING_SKEW_S = 600.0


def reading_is_current(health: ServiceHealth, now: datetime) -> bool:
    """Whether the figures are of the window that ends about now (or say nothing about when: no as_of)."""
    if health.as_of is None:
        return True
    age = (now - health.as_of).total_seconds()
    return -READING_SKEW_S <= age <= (health.window_s or 0.0) + READING_SKEW_S


def window_words(health: ServiceHealth, now: datetime) -> str:
    """The window the figures cover, as true as ``as_of`` lets it be: ``last 30 s`` for a current reading
    (``current`` without a window); ``30 s ending 20454 d ago, stale`` for one whose window ended long ago
    (an as_of of 1970 was shown as the last 30 s); ``30 s, as of 2 h ahead of this clock: age unknown`` for
    one from the future."""
    window = f"{health.window_s:.0f} s" if health.window_s else None
    if health.as_of is None or reading_is_current(health, now):
        return f"last {window}" if window else "current"
    age = (now - health.as_of).total_seconds()
    if age < 0:
        return f"{window or 'read'}, as of {format_age(-age)} ahead of this clock: age unknown"
    return f"{window + ' ' if window else ''}ending {format_age(age)} ago, stale"


class VersionFigures(Model):
    """A version's error rate and p95 while it served, and when (for the rollback / promote dialogs)."""

    number: int | None = None
    error_rate: float | None = None
    p95_ms: float | None = None
    live_from: datetime | None = None
    live_until: datetime | None = None  # None: serving now
    # The serving version's figures are not its own yet: why (the last read measured another version; it
    # went live inside the measuring window and the series has no point since).
    not_yet: str | None = None


def version_figures(health: ServiceHealth, number: int | None, *, serving: bool) -> VersionFigures | None:
    """What ``health`` says of version ``number`` (None: nothing). The serving version gets the current
    figures; another one the mean of the series' points while it served (within the series' span)."""
    changes = sorted(health.version_changes, key=lambda c: c.at)
    spans: list[tuple[datetime, datetime | None]] = []
    for index, change in enumerate(changes):
        if change.version_number == number:
            until = changes[index + 1].at if index + 1 < len(changes) else None
            spans.append((change.at, until))
    if serving:
        return _serving_figures(health, number, changes)
    if not spans:
        return None
    points = [
        p
        for p in health.series
        for start, until in spans
        if p.at > start and (until is None or p.at <= until) and p.error_rate is not None
    ]
    # The first minute after a switch mixes both versions: leave it out when there is more to go on.
    settled = [p for p in points if all(p.at.timestamp() - s.timestamp() > 60 for s, _ in spans)] or points
    if not settled:
        return VersionFigures(number=number, live_from=spans[-1][0], live_until=spans[-1][1])
    p95s = [p.p95_ms for p in settled if p.p95_ms is not None]
    rates = [p.error_rate for p in settled if p.error_rate is not None]
    return VersionFigures(
        number=number,
        error_rate=sum(rates) / len(rates) if rates else None,
        p95_ms=sum(p95s) / len(p95s) if p95s else None,
        live_from=spans[-1][0],
        live_until=spans[-1][1],
    )


def _serving_figures(
    health: ServiceHealth, number: int | None, changes: list[VersionChange]
) -> VersionFigures:
    """The serving version's own figures. Right after a switch the last read may still measure the version
    before (its newest switch is to another one), and a window that began before the switch mixes both:
    then the series' points since the switch, else no figures yet."""
    newest = changes[-1] if changes else None
    if newest is not None and number is not None and newest.version_number not in (None, number):
        return VersionFigures(
            number=number, not_yet=f"the last read measured v{newest.version_number}, not v{number}"
        )
    live_from = newest.at if newest is not None and newest.version_number == number else None
    window_start = (
        health.as_of - timedelta(seconds=health.window_s)
        if health.as_of is not None and health.window_s is not None
        else None
    )
    just_switched = (
        live_from is not None
        and health.as_of is not None
        and (health.as_of - live_from).total_seconds() < SWITCH_SETTLE_S
    )
    if just_switched:
        # Traffic is still moving over (the old version served a third of it 30 s in): no verdict yet.
        return VersionFigures(number=number, live_from=live_from, not_yet="too new to measure")
    if live_from is None or window_start is None or live_from <= window_start:
        return VersionFigures(
            number=number, error_rate=health.error_rate, p95_ms=health.p95_ms, live_from=live_from
        )
    # The series' points from a minute after the switch: the first minute mixes both versions (a lone
    # point there read as the new version's own, "12.7% -> 12.3%, steady" after a good rollback).
    since = [
        p
        for p in health.series
        if p.error_rate is not None and (p.at - live_from).total_seconds() > SWITCH_SETTLE_S
    ]
    if not since:
        return VersionFigures(number=number, live_from=live_from, not_yet="too new to measure")
    rates = [p.error_rate for p in since if p.error_rate is not None]
    p95s = [p.p95_ms for p in since if p.p95_ms is not None]
    return VersionFigures(
        number=number,
        error_rate=sum(rates) / len(rates),
        p95_ms=sum(p95s) / len(p95s) if p95s else None,
        live_from=live_from,
    )


def _label(figures: VersionFigures | None, fallback: str) -> str:
    if figures is None or figures.number is None:
        return fallback
    return f"v{figures.number}"


def change_health_line(
    current: VersionFigures | None,
    target: VersionFigures | None,
    now: datetime,
    *,
    target_label: str = "target",
    overall: float | None = None,
) -> str:
    """The dialogs' health line: ``v5 (live 14 min): 12.4% errors, p95 840 ms -> v4 (last live 14 min ago):
    0.3%, 120 ms``. Either side may be unknown (``no figures``). ``overall``: the deployment's error rate
    over the last window, as the list shows it, said when the serving version has no figures of its own
    yet (the list read 13.2% beside a dialog saying "no figures")."""
    left = _label(current, "current")
    if current is not None and current.live_from is not None:
        left += f" (live {format_age((now - current.live_from).total_seconds())})"
    if current is not None and current.error_rate is not None:
        left += f": {format_rate(current.error_rate)} errors, p95 {format_ms(current.p95_ms)}"
    elif current is not None and current.not_yet is not None:
        left += f": no figures yet ({current.not_yet})"
        if overall is not None:
            left += f"; the deployment's errors {format_rate(overall)}, versions mixed"
    else:
        left += ": no figures"
    right = _label(target, target_label)
    if target is not None and target.live_until is not None:
        right += f" (last live {format_age((now - target.live_until).total_seconds())} ago)"
    if target is not None and target.error_rate is not None:
        right += f": {format_rate(target.error_rate)}, {format_ms(target.p95_ms)}"
    else:
        right += ": no figures in the last hour"
    return f"{left} -> {right}"


def failed_when_last_live(target: VersionFigures | None, now: datetime) -> str | None:
    """The dialogs' warning for a target version over the error-rate threshold while it was last live
    (``v5 failed its users when it was last live (4 min ago): 12.6% errors``); None otherwise."""
    if target is None or target.number is None or target.live_until is None or target.error_rate is None:
        return None
    if health_level(target.error_rate) not in LEVEL_FLAGS:
        return None
    ago = format_age((now - target.live_until).total_seconds())
    rate = format_rate(target.error_rate)
    return f"v{target.number} failed its users when it was last live ({ago} ago): {rate} errors"


def change_health_words(
    health: ServiceHealth,
    current: Version | None,
    target: Version,
    now: datetime,
    *,
    overall: float | None = None,
    read_age: float = 0.0,
) -> tuple[str, str | None]:
    """What a rollback or promote to ``target`` says of health, in the console's dialog and the CLI's
    preview alike: the line of the serving version's figures -> the target's while it served within the
    series (change_health_line), and the warning when the target failed its users when it was last live
    (failed_when_last_live; the version just rolled back from, named again). One read of the figures for
    both, and one clock: the server's time of the read moved on by ``read_age`` seconds (the time since it),
    ``now`` where the figures say none. The line counted from the read and the warning from this
    machine's clock: one dialog said "last live 5 min ago" and "(9 min ago)" of the same switch."""
    at = health.as_of + timedelta(seconds=read_age) if health.as_of is not None else now
    serving = version_figures(health, current.number if current is not None else None, serving=True)
    earlier = version_figures(health, target.number, serving=False)
    line = change_health_line(serving, earlier, at, target_label=target.label, overall=overall)
    return line, failed_when_last_live(earlier, at)


def measured_version(health: ServiceHealth) -> tuple[str | None, int | None]:
    """The version ``health``'s figures measure (id, number; None where they do not say): the version
    taking the traffic, and the one the newest switch in the series put live."""
    newest = max(health.version_changes, key=lambda c: c.at, default=None)
    return health.version_id, newest.version_number if newest is not None else None


def failed_versions(health: ServiceHealth, versions: Iterable[Version], now: datetime) -> dict[str, str]:
    """The versions (id -> the dialogs' warning) that failed their users when they were last live, for
    the rollback rule to pass over (plans.rollback_choice)."""
    failed: dict[str, str] = {}
    for version in versions:
        if version.number is None:
            continue
        warning = failed_when_last_live(version_figures(health, version.number, serving=False), now)
        if warning is not None:
            failed[version.id] = warning
    return failed


def movement_text(before: float | None, latest: float | None, direction: str) -> str:
    """After an action: ``12.4% -> 3.1%, falling``."""
    if before is None and latest is None:
        return "measuring"
    return f"{format_rate(before)} -> {format_rate(latest)}, {direction}"

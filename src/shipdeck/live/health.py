"""Service health in the live state: the error rate of every listed deployment, read within a budget.

The vendors publish health per deployment (Miosa ``/observability``, Mixpeek ``/logs?log_type=requests``):
no call returns it for many deployments at once, so every row costs a request. An idle console may spend
10% of the Free tier's 60 requests a minute (bench/budget.py) and already spends about 2 a minute, so
health gets a **token bucket** of its own (:attr:`Timing.health_per_minute`, 3 a minute, holding at most
:attr:`Timing.health_burst`; a third of it while the push stream is down and polling spends the budget).
Out of it, in this order:

1. the watched deployment every ``health_watched_interval`` (30 s: one request, its figures with the hour's
   series and version changes, what the Health tab's chart and the dialogs' health line need), or its
   whole detail (routes and failing requests too: three requests) every ``health_detail_interval`` while
   the Health tab is open;
2. one **batch** every ``health_batch_interval`` (60 s) of as many rows as the bucket holds: the rows on
   screen (:meth:`HealthMonitor.show`) longest-unread first, then the rest in rotation. With 50,000 rows
   the rows on screen stay current and the others are read when they are scrolled to.

After the user's own change (:meth:`HealthMonitor.expect_change`) the console is no longer idle: the changed
row is read every ``health_settle_interval`` for ``health_settle`` seconds outside the bucket (still a
background read, which the adapter refuses when the rate-limit window is nearly spent), and when that time
is up the ``on_settled`` callback gets the figures (the audit log's "5 minutes after").

Every read is a background read: when the adapter keeps the budget for the user's own actions
(:class:`BudgetReserved`), the read waits for the next turn; while the server is not answering
(:attr:`LiveState.answering`), nothing is read, so the screenful is read at once when it is back.
Nothing here blocks: the UI reads :attr:`HealthMonitor.latest` and gets the rows in the live state's next
change batch. A provider without metrics (Miteos) is said so once (:attr:`HealthMonitor.unavailable`) and
never asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from shipdeck.api.context import background_reads
from shipdeck.api.errors import BudgetReserved, NotFound, ShipdeckError, UnsupportedAction
from shipdeck.model import Capability
from shipdeck.model.service_health import HealthDetail, RowFigures, ServiceHealth, version_figures

if TYPE_CHECKING:
    from shipdeck.live.plans import ChangePlan
    from shipdeck.live.session import ChangeOutcome, ChangeSession
    from shipdeck.live.state import LiveState
    from shipdeck.live.timing import Timing

FOLLOWED_ACTIONS = frozenset({"rollback", "promote", "publish"})  # changes of what serves users
DETAIL_REQUESTS = 3  # figures, routes, failing requests
BATCH_MAX = 200  # deployments read in one batch at most
BUDGET_SHARE = 0.2  # and never more than this share of the requests left in the rate-limit window
POLLING_SHARE = 1 / 3  # of the bucket's rate while the push stream is down
CONCURRENCY = 4
TREND_POINTS = 12  # error rates kept per deployment for the list's trend

# The figures some seconds after a change (health_settle, or less when another change of the row came first).
Settled = Callable[[ServiceHealth | None, float], None]


@dataclass
class Movement:
    """How a deployment's error rate moves after the user's action (for 'x% -> y%, falling')."""

    before: float | None
    started: float  # the monitor's clock (time.monotonic)
    latest: float | None = None
    on_settled: Settled | None = None
    read_at: float = 0.0
    # The version the change put live: its own figures, not a window that still holds the one before
    # ("errors 11.1% -> 11.7%, steady" right after a good rollback). None (a publish): the window's rate.
    target_number: int | None = None
    # The newest request the figures before the change counted (the server's clock), if any.
    before_as_of: datetime | None = None

    def own_rate(self, health: ServiceHealth, read_at: float) -> float | None:
        """The error rate of ``health`` (read at ``read_at``, the monitor's clock) that says how the change
        moved it; None until there is one (the direction says "measuring")."""
        if self.target_number is None:
            return health.error_rate
        if health.version_changes:
            own = version_figures(health, self.target_number, serving=True)
            return own.error_rate if own is not None else None
        # The provider does not say when versions switched (Mixpeek's request log): only a window that
        # began after the change measures the version it put live, so the read must come a whole window
        # after the change, and count none of the requests the figures before it counted.
        window = health.window_s
        if window is None or health.as_of is None or read_at - self.started < window:
            return None
        if self.before_as_of is not None and health.as_of - timedelta(seconds=window) <= self.before_as_of:
            return None
        return health.error_rate

    def direction(self) -> str:
        if self.before is None or self.latest is None:
            return "measuring"
        if self.latest < self.before * 0.8:
            return "falling"
        if self.latest > self.before * 1.25 + 0.001:
            return "rising"
        return "steady"


@dataclass
class Bucket:
    """Requests a background reader may send now (health; the live state's reads of deployments the list
    lacks): refilled at ``per_minute``, holding at most ``burst``; ``start`` is a one-time allowance on top
    (health's first screenful), spent first and never refilled."""

    per_minute: float
    burst: float
    tokens: float
    at: float
    start: float = 0.0

    @property
    def available(self) -> float:
        return self.tokens + self.start

    def refill(self, now: float, *, share: float = 1.0) -> None:
        self.tokens = min(self.burst * share, self.tokens + (now - self.at) * self.per_minute * share / 60.0)
        self.at = now

    def take_when_full(self, count: float, *, share: float = 1.0) -> bool:
        """``count`` requests, more than the bucket may ever hold (a third of it while polling holds 1; the
        Health tab's detail needs 3, and waiting for them held every health read of the profile back for
        good): taken once the bucket is full, the rest as a debt that the refill pays back first."""
        if self.take(count):
            return True
        if self.available + 1e-9 < self.burst * share:
            return False
        from_start = min(self.start, count)
        self.start -= from_start
        self.tokens -= count - from_start
        return True

    def take(self, count: float) -> bool:
        if self.available + 1e-9 < count:
            return False
        from_start = min(self.start, count)
        self.start -= from_start
        self.tokens -= count - from_start
        return True


@dataclass
class HealthMonitor:
    state: LiveState
    now: Callable[[], float] = time.monotonic
    latest: dict[str, ServiceHealth | None] = field(default_factory=dict)
    # The last figures with the hour's series per deployment (a 24 h detail read does not replace them).
    hour: dict[str, ServiceHealth] = field(default_factory=dict)
    trends: dict[str, deque[float | None]] = field(default_factory=dict)
    detail: HealthDetail | None = None
    detail_span: str = "1h"
    unavailable: str | None = None  # why this provider has no health (told once)
    reads: int = 0  # requests sent, for the bench and the budget tests
    pause: float = 0.0  # the seconds of the monitor's last pause, unless woken (for the tests)
    movements: dict[str, Movement] = field(default_factory=dict)
    # The deployments whose last read failed (the server's error, not the budget): when, and why. Their
    # figures are the ones before; a failed read used to keep them on screen as if current, silently.
    failures: dict[str, tuple[float, str]] = field(default_factory=dict)
    _shown: list[str] = field(default_factory=list)
    _rotation: int = 0
    _sorted_ids: list[str] = field(default_factory=list)
    _read_at: dict[str, float] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _watched_read_at: float | None = None
    _detail_read_at: float | None = None
    _detail_wanted: bool = False
    # The Health tab's first read of its row is held back by the health budget (said on the tab).
    detail_waiting: bool = False
    _detail_for: tuple[str, str] | None = None
    _bucket: Bucket | None = None
    _listed_at: float | None = None  # when the first rows were known (the wait for the screen starts)

    @property
    def timing(self) -> Timing:
        return self.state.timing

    # -- what the UI tells us ---------------------------------------------------------------------------
    def show(self, deployment_ids: Iterable[str]) -> None:
        """These rows are on screen: read them first in the next batch (a row never read is read as soon as
        the bucket allows, so a change of rows wakes the monitor)."""
        shown = list(deployment_ids)[:BATCH_MAX]
        if shown != self._shown:
            self._shown = shown
            self._wake.set()

    def wake(self) -> None:
        """Something the next turn depends on changed (the watched deployment): look now, not when the
        next read was due."""
        self._wake.set()

    def want_detail(self, wanted: bool) -> None:
        """The Health tab is open (routes and failing requests are read too) or closed."""
        if wanted != self._detail_wanted:
            self._detail_wanted = wanted
            if wanted:
                self._detail_read_at = None
                self._wake.set()

    def set_span(self, span: str) -> None:
        """The Health tab's chart span (1h or 24h); re-reads the watched detail soon."""
        if span != self.detail_span:
            self.detail_span = span
            self._detail_read_at = self._watched_read_at = None
            self._wake.set()

    def refresh_watched(self) -> None:
        self._watched_read_at = self._detail_read_at = None
        self._wake.set()

    def expect_change(
        self, deployment_id: str, on_settled: Settled | None = None, *, target_number: int | None = None
    ) -> ServiceHealth | None:
        """The user just rolled back, promoted or published: follow how the error rate moves (of version
        ``target_number`` when known), and after ``health_settle`` seconds hand the figures to
        ``on_settled``. Returns the figures before."""
        current = self.latest.get(deployment_id)
        earlier = self.movements.get(deployment_id)
        if earlier is not None and earlier.on_settled is not None:
            # The change before this one is settled now, with the figures it had until this one: the
            # audit lost its "health after" row when a second change of the row came within the window.
            earlier.on_settled(current, self.now() - earlier.started)
        self.movements[deployment_id] = Movement(
            before=current.error_rate if current else None,
            started=self.now(),
            on_settled=on_settled,
            target_number=target_number,
            before_as_of=current.as_of if current else None,
        )
        self._wake.set()
        return current

    def span_shown(self, deployment_id: str) -> str:
        """The span of the series held for a deployment: the detail's when it is this one's, else the
        hour of its last read (``h`` asks for 24 h at once; the figures come with the next read)."""
        held = self._detail_for
        return held[1] if held is not None and held[0] == deployment_id and self.detail is not None else "1h"

    def movement(self, deployment_id: str) -> Movement | None:
        return self.movements.get(deployment_id)

    def error_rate(self, deployment_id: str) -> float | None:
        health = self.latest.get(deployment_id)
        return None if health is None else health.error_rate

    def row_figures(self, deployment_id: str) -> RowFigures | None:
        """A list row's ERRORS cell (the main list's and the fleet's); None until the row was read. Stale
        while the server answers but this row's last read failed (when it does not answer, the header says
        so for every row, and which rows' reads happened to fail then says nothing more)."""
        if deployment_id not in self.latest:
            return None
        return RowFigures(
            self.error_rate(deployment_id),
            self.trends.get(deployment_id, ()),
            stale=deployment_id in self.failures and self.state.answering,
        )

    def read_failure(self, deployment_id: str) -> tuple[float, str] | None:
        """(seconds ago, why) of this deployment's last read when it failed; None when it did not."""
        failed = self.failures.get(deployment_id)
        return None if failed is None else (max(0.0, self.now() - failed[0]), failed[1])

    def read_age(self, deployment_id: str) -> float | None:
        """Seconds since this deployment's figures were last read (None: never)."""
        at = self._read_at.get(deployment_id)
        return None if at is None else max(0.0, self.now() - at)

    def hour_health(self, deployment_id: str) -> ServiceHealth | None:
        """The figures with the last hour's series (the dialogs' per-version figures): the Health tab's
        24 h detail averages a version's minutes into quarter hours, which hid a version that failed for
        ten minutes ("1.0%", and no warning) and misplaced when it was live."""
        if self.span_shown(deployment_id) == "1h":
            return self.watched_health(deployment_id)
        return self.hour.get(deployment_id) or self.watched_health(deployment_id)

    def watched_health(self, deployment_id: str) -> ServiceHealth | None:
        """The freshest figures of a deployment with its series (the Health tab's detail or the last read)."""
        if self.detail is not None and self.detail.health.deployment_id == deployment_id:
            return self.detail.health  # kept current by the watched row's reads
        return self.latest.get(deployment_id)

    # -- budget -----------------------------------------------------------------------------------------
    def per_minute(self) -> float:
        """Requests a minute health may spend while idle (the bucket's rate now)."""
        return self.timing.health_per_minute * self._share()

    def _share(self) -> float:
        return POLLING_SHARE if self.state.polling else 1.0

    def _tokens(self) -> Bucket:
        now = self.now()
        if self._bucket is None:
            timing = self.timing
            # A screenful at least: the rows on screen and the watched one (told before the first read,
            # see _waiting_for_screen), never less than health_start; batch_size keeps it within a share
            # of the rate-limit window.
            watched = 1.0 if self.state.watched is not None else 0.0
            screenful = max(timing.health_start, len(self._shown) + watched)
            start = max(0.0, screenful - timing.health_burst)
            self._bucket = Bucket(
                timing.health_per_minute, timing.health_burst, timing.health_burst, now, start=start
            )
        self._bucket.refill(now, share=self._share())
        return self._bucket

    def batch_size(self) -> int:
        """Rows the next batch may read: what the bucket holds, never more than BUDGET_SHARE of what is
        left in the rate-limit window."""
        size = int(self._tokens().available + 1e-9)
        remaining = self.state.adapter.rate_limit_remaining
        if remaining is not None:
            size = min(size, int(remaining * BUDGET_SHARE))
        return max(0, min(BATCH_MAX, size))

    def next_batch(self) -> list[str]:
        """The shown rows first (longest unread first), then the others in rotation; at most
        :meth:`batch_size` of them."""
        size = self.batch_size()
        known = self.state.deployments
        shown = sorted((d for d in self._shown if d in known), key=lambda d: self._read_at.get(d, -1.0))
        chosen = shown[:size]
        if len(chosen) < size and known:
            if len(self._sorted_ids) != len(known):
                self._sorted_ids = sorted(known)  # once per change of the list's size, not per batch
            ordered = self._sorted_ids
            start = self._rotation % len(ordered)
            picked = set(chosen)
            for offset in range(len(ordered)):
                if len(chosen) >= size:
                    break
                dep_id = ordered[(start + offset) % len(ordered)]
                if dep_id not in picked:
                    chosen.append(dep_id)
                    picked.add(dep_id)
                self._rotation = start + offset + 1
        return chosen

    def _unread_on_screen(self) -> list[str]:
        known = self.state.deployments
        return [d for d in self._shown if d in known and d not in self._read_at]

    # -- the loop ---------------------------------------------------------------------------------------
    async def run(self) -> None:
        if not self.state.adapter.capabilities.supports(Capability.HEALTH):
            self.unavailable = self.state.adapter.capabilities.why_not(Capability.HEALTH)
            self.state.touch(detail=True)
            return
        next_batch_at = 0.0
        while True:
            try:
                next_batch_at = await self._round(next_batch_at)
            except Exception as exc:  # a bug here must not take the live state down with it
                self.unavailable = f"reading health failed: {type(exc).__name__}: {exc}"[:200]
                self.state.touch(detail=True)
                await asyncio.sleep(self.timing.health_batch_interval)

    def _due(self, read_at: float | None, interval: float) -> bool:
        return read_at is None or self.now() - read_at >= interval

    async def _round(self, next_batch_at: float) -> float:
        timing = self.timing
        watched = self.state.watched
        await self._follow_changes()
        if not self.state.answering:
            # Down at start (the last known list on screen) or lost since: a read now fails, and the tokens
            # it took were the screenful the user needs first when the server is back (it then got 3 rows
            # a minute, and their version numbers with them).
            await self._pause()
            return next_batch_at
        if self._waiting_for_screen():
            await self._pause()
            return next_batch_at
        waiting = False
        if watched is not None and watched in self.state.deployments:
            stale = self._detail_for != (watched, self.detail_span)
            detail_due = stale or self._due(self._detail_read_at, timing.health_detail_interval)
            if self._detail_wanted and detail_due:
                if self._tokens().take_when_full(DETAIL_REQUESTS, share=self._share()):
                    self._detail_read_at = self._watched_read_at = self.now()
                    await self._read_detail(watched)
                else:
                    # The Health tab just opened on this row and shows "reading…": its three requests
                    # come first. The rows on screen took each token as it came (3 a minute), and the
                    # routes stayed unread for minutes while the tab was open. (A re-read of a detail
                    # already shown waits its turn with the rest.)
                    waiting = stale
            elif self._due(self._watched_read_at, timing.health_watched_interval) and self._tokens().take(1):
                self._watched_read_at = self.now()
                await self._read_watched(watched)
        if waiting != self.detail_waiting:
            self.detail_waiting = waiting
            if watched is not None:
                self.state.touch(watched, detail=True)  # the tab says why it still reads
        if waiting:
            await self._pause(self._next_due_in(next_batch_at))
            return next_batch_at
        if self.now() >= next_batch_at and self.state.deployments:
            ids = [d for d in self.next_batch() if d != watched or self._watched_read_at is None]
            self._tokens().take(len(ids))
            delay = await self._read_batch(ids)
            next_batch_at = self.now() + delay
        elif unread := self._unread_on_screen():
            # A row on screen that was never read (the first batch came before the screen said what it
            # shows, or the rate-limit share cut it short) does not wait a whole batch interval for its first
            # figures: it is read as soon as the bucket holds a token.
            ids = unread[: self.batch_size()]
            if ids and self._tokens().take(len(ids)):
                await self._read_batch(ids)
        await self._pause(self._next_due_in(next_batch_at))
        return next_batch_at

    def _next_due_in(self, next_batch_at: float) -> float:
        """Seconds until the next turn has something to read. An idle console sleeps until then (it woke
        every second, to find nothing due 29 times in 30); what the UI changes wakes it sooner (show,
        watch, want_detail, expect_change). Something due but held back (no token yet) is looked at again
        after the short pause, as is everything while the user's change is followed."""
        timing = self.timing
        short = min(1.0, timing.health_settle_interval)
        now = self.now()
        waits = [timing.health_batch_interval]
        if self.state.deployments:
            waits.append(next_batch_at - now)
        watched = self.state.watched
        if self.movements or self._unread_on_screen():
            waits.append(short)
        elif watched is not None:
            if watched not in self.state.deployments or self._watched_read_at is None:
                waits.append(short)  # not listed yet (its reads start when it is), or never read
            else:
                waits.append(self._watched_read_at + timing.health_watched_interval - now)
            if self._detail_wanted:
                if self._detail_for != (watched, self.detail_span) or self._detail_read_at is None:
                    waits.append(short)
                else:
                    waits.append(self._detail_read_at + timing.health_detail_interval - now)
        return max(short, min(waits))

    async def _pause(self, seconds: float | None = None) -> None:
        self._wake.clear()
        if seconds is None:
            seconds = min(1.0, self.timing.health_settle_interval)
        self.pause = seconds
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def _waiting_for_screen(self) -> bool:
        """Nothing is read until the screen has said which rows it shows (at most health_screen_wait after
        the first rows are known): the start allowance is for those rows, and the rotation of a big
        account begins elsewhere (it read 16 rows off screen, and the rows on screen waited for refills)."""
        if self._bucket is not None or self._shown:
            return False
        if not self.state.deployments:
            return True
        if self._listed_at is None:
            self._listed_at = self.now()
        return self.now() - self._listed_at < self.timing.health_screen_wait

    async def _follow_changes(self) -> None:
        """The rows the user just changed: read often for a while, then report the figures once."""
        timing = self.timing
        for dep_id, moving in list(self.movements.items()):
            now = self.now()
            if now - moving.started >= timing.health_settle:
                del self.movements[dep_id]
                if moving.on_settled is not None:
                    moving.on_settled(self.latest.get(dep_id), now - moving.started)
                self.state.touch(dep_id, detail=True)
            elif now - moving.read_at >= timing.health_settle_interval:
                moving.read_at = now
                if dep_id == self.state.watched:
                    self._watched_read_at = now
                    # The Health tab's headline too: it kept the figures from before the change for the
                    # 100 s until its next full read while the row already said 0.3%.
                    await self._read_watched(dep_id)
                else:
                    await self._read_one(dep_id)

    async def _read_one(self, dep_id: str) -> float | None:
        """One deployment's figures; the seconds the adapter asks to wait when it keeps the budget."""
        try:
            with background_reads():
                self.reads += 1
                health = await self.state.adapter.get_health(dep_id)
        except BudgetReserved as exc:
            return exc.retry_in
        except (NotFound, UnsupportedAction):
            health = None
        except ShipdeckError as exc:
            self._failed(dep_id, exc)  # the last figures stay, said to be stale; the next turn tries again
            return None
        self._record(dep_id, health)
        return None

    def _failed(self, dep_id: str, exc: ShipdeckError) -> None:
        known = dep_id in self.failures
        self.failures[dep_id] = (self.now(), exc.message[:200])
        if not known:
            self.state.touch(dep_id, detail=True)  # its row and the Health tab say so

    async def _read_watched(self, dep_id: str) -> None:
        await self._read_one(dep_id)
        if self.detail is not None and self.detail.health.deployment_id == dep_id:
            health = self.latest.get(dep_id)
            if health is not None:
                self.detail = self.detail.model_copy(update={"health": health})
            self.state.touch(dep_id, detail=True)

    async def _read_batch(self, ids: list[str]) -> float:
        """Read one batch; the seconds until the next (later when the budget is kept for the user)."""
        interval = self.timing.health_batch_interval
        if not ids:
            return interval
        limit = asyncio.Semaphore(CONCURRENCY)
        reserved: list[float] = []

        async def one(dep_id: str) -> None:
            async with limit:
                wait = await self._read_one(dep_id)
                if wait is not None:
                    reserved.append(wait)

        await asyncio.gather(*(one(dep_id) for dep_id in ids))
        return max([interval, *reserved])

    async def _read_detail(self, dep_id: str) -> None:
        try:
            with background_reads():
                self.reads += DETAIL_REQUESTS
                detail = await self.state.adapter.get_health_detail(dep_id, span=self.detail_span)
        except (NotFound, UnsupportedAction):
            detail = None
        except BudgetReserved:
            return  # the next turn tries again
        except ShipdeckError as exc:
            if self.state.watched == dep_id:
                self._failed(dep_id, exc)
            return
        if self.state.watched != dep_id:
            return
        self.detail = detail
        self._detail_for = (dep_id, self.detail_span)
        self._record(dep_id, detail.health if detail else None, hour=self.detail_span == "1h")
        self.state.touch(dep_id, detail=True)

    def _record(self, dep_id: str, health: ServiceHealth | None, *, hour: bool = True) -> None:
        self._read_at[dep_id] = self.now()
        if self.failures.pop(dep_id, None) is not None:
            self.state.touch(dep_id, detail=True)  # current again
        previous = self.latest.get(dep_id)
        self.latest[dep_id] = health
        if hour and health is not None:
            self.hour[dep_id] = health
        trend = self.trends.setdefault(dep_id, deque(maxlen=TREND_POINTS))
        if health is not None and health.series:
            # The provider sent its own trend (Miosa: a point a minute): the last minutes, then now.
            trend.clear()
            trend.extend(p.error_rate for p in health.series[-(TREND_POINTS - 1) :])
            trend.append(health.error_rate)
        elif health is not None and (previous is None or previous.as_of != health.as_of):
            trend.append(health.error_rate)
        moving = self.movements.get(dep_id)
        if moving is not None and health is not None:
            # None until the figures are the new version's own: the direction says "measuring".
            moving.latest = moving.own_rate(health, self._read_at[dep_id])
        if previous != health:
            self.state.touch(dep_id)


# -- the audit log's health before and after (the console's write path: ChangeSession) -------------------
def health_before(live: LiveState, plan: ChangePlan) -> bool:
    """Before a rollback, promote or publish is sent: put the deployment's figures (as last read) into the
    plan's audit details (``health_before``). True when its health is followed afterwards."""
    monitor = live.health
    if monitor is None or plan.deployment is None or plan.action not in FOLLOWED_ACTIONS:
        return False
    if monitor.unavailable is not None:
        return False
    before = monitor.latest.get(plan.deployment.id)
    plan.details["health_before"] = before.as_json() if before is not None else None
    return True


def follow_health(live: LiveState, session: ChangeSession, outcome: ChangeOutcome) -> None:
    """After the change was applied: follow the error rate (the watched row says how it moves) and, if
    the console is still open ``health_settle`` seconds later, add the figures to the audit record."""
    monitor, deployment = live.health, outcome.plan.deployment
    if monitor is None or deployment is None:
        return

    def settled(health: ServiceHealth | None, after_s: float) -> None:
        now = live.deployments.get(deployment.id)
        session.record_health_after(outcome, health, after_s=after_s, active=now)

    target = outcome.plan.to
    monitor.expect_change(deployment.id, settled, target_number=target.number if target else None)

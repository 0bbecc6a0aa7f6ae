"""Service health in the live state: the error rate of every listed deployment, read at a budget-aware rate.

One **batch** every ``BATCH_INTERVAL`` seconds reads the health of up to ``batch_size()`` deployments: the
rows the console shows first (:meth:`HealthMonitor.show`), then the rest in rotation, so an account of
50,000 rows is covered over many batches without ever spending more than a share of the rate-limit window.
The watched deployment is read more often (``WATCHED_INTERVAL``) with its detail (trend, routes, failing
requests). Every read is a background read: when the adapter keeps the budget for the user's own actions
(:class:`BudgetReserved`), the batch waits and tries again later. Nothing here blocks: the UI reads
:attr:`HealthMonitor.latest` and gets the rows in the live state's next change batch.

A provider without metrics (Miteos) is said so once (:attr:`HealthMonitor.unavailable`) and never asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shipdeck.api.context import background_reads
from shipdeck.api.errors import BudgetReserved, NotFound, ShipdeckError, UnsupportedAction
from shipdeck.model.service_health import HealthDetail, ServiceHealth

if TYPE_CHECKING:
    from shipdeck.live.state import LiveState

BATCH_INTERVAL = 30.0  # seconds between batches over the listed deployments
WATCHED_INTERVAL = 5.0  # the watched deployment (and its detail) is re-read this often
BATCH_MAX = 200  # deployments read in one batch at most
BUDGET_SHARE = 0.2  # at most this share of the requests left in the window goes to one batch
UNKNOWN_BUDGET_BATCH = 50  # batch size while the provider has not said its rate limit
CONCURRENCY = 4
TREND_POINTS = 12  # error rates kept per deployment for the list's trend
SETTLE_MINUTES = 5.0  # after an action, the watched row says how its error rate moves for this long


@dataclass
class Movement:
    """How a deployment's error rate moves after the user's action (for 'x% -> y%, falling')."""

    before: float | None
    started: float  # time.monotonic()
    latest: float | None = None

    def direction(self) -> str:
        if self.before is None or self.latest is None:
            return "measuring"
        if self.latest < self.before * 0.8:
            return "falling"
        if self.latest > self.before * 1.25 + 0.001:
            return "rising"
        return "steady"


@dataclass
class HealthMonitor:
    state: LiveState
    now: Callable[[], float] = time.monotonic
    latest: dict[str, ServiceHealth | None] = field(default_factory=dict)
    trends: dict[str, deque[float | None]] = field(default_factory=dict)
    detail: HealthDetail | None = None
    detail_span: str = "1h"
    unavailable: str | None = None  # why this provider has no health (told once)
    reads: int = 0  # requests sent, for the bench and the budget tests
    movements: dict[str, Movement] = field(default_factory=dict)
    _shown: list[str] = field(default_factory=list)
    _rotation: int = 0
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _watched_read_at: float = 0.0
    _detail_for: tuple[str, str] | None = None

    # -- what the UI tells us ---------------------------------------------------------------------------
    def show(self, deployment_ids: Iterable[str]) -> None:
        """These rows are on screen: read them first in the next batch."""
        self._shown = list(deployment_ids)[:BATCH_MAX]

    def set_span(self, span: str) -> None:
        """The Health tab's chart span (1h or 24h); re-reads the watched detail soon."""
        if span != self.detail_span:
            self.detail_span = span
            self._watched_read_at = 0.0
            self._wake.set()

    def refresh_watched(self) -> None:
        self._watched_read_at = 0.0
        self._wake.set()

    def expect_change(self, deployment_id: str) -> None:
        """The user just rolled back, promoted or published: follow how the error rate moves."""
        current = self.latest.get(deployment_id)
        self.movements[deployment_id] = Movement(
            before=current.error_rate if current else None, started=self.now()
        )
        self.refresh_watched()

    def movement(self, deployment_id: str) -> Movement | None:
        moving = self.movements.get(deployment_id)
        if moving is not None and self.now() - moving.started > SETTLE_MINUTES * 60:
            del self.movements[deployment_id]
            return None
        return moving

    def error_rate(self, deployment_id: str) -> float | None:
        health = self.latest.get(deployment_id)
        return None if health is None else health.error_rate

    # -- budget -----------------------------------------------------------------------------------------
    def batch_size(self) -> int:
        remaining = self.state.adapter.rate_limit_remaining
        if remaining is None:
            return UNKNOWN_BUDGET_BATCH
        return max(0, min(BATCH_MAX, int(remaining * BUDGET_SHARE)))

    def next_batch(self) -> list[str]:
        """The shown rows first, then the others in rotation; at most :meth:`batch_size` of them."""
        size = self.batch_size()
        known = self.state.deployments
        chosen = [dep_id for dep_id in self._shown if dep_id in known][:size]
        if len(chosen) < size and known:
            ordered = sorted(known)
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

    # -- the loop ---------------------------------------------------------------------------------------
    async def run(self) -> None:
        if not self.state.adapter.capabilities.supports("health"):
            self.unavailable = self.state.adapter.capabilities.why_not("health")
            self.state.touch(detail=True)
            return
        next_batch_at = 0.0
        while True:
            try:
                next_batch_at = await self._round(next_batch_at)
            except Exception as exc:  # a bug here must not take the live state down with it
                self.unavailable = f"reading health failed: {type(exc).__name__}: {exc}"[:200]
                self.state.touch(detail=True)
                await asyncio.sleep(BATCH_INTERVAL)

    async def _round(self, next_batch_at: float) -> float:
        now = self.now()
        watched = self.state.watched
        stale = self._detail_for != (watched, self.detail_span)
        if watched and (stale or now - self._watched_read_at >= WATCHED_INTERVAL):
            self._watched_read_at = now
            await self._read_detail(watched)
        if now >= next_batch_at and self.state.deployments:
            delay = await self._read_batch(self.next_batch())
            next_batch_at = self.now() + delay
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), 1.0)
        return next_batch_at

    async def _read_batch(self, ids: list[str]) -> float:
        """Read one batch; the seconds until the next (later when the budget is kept for the user)."""
        if not ids:
            return BATCH_INTERVAL
        limit = asyncio.Semaphore(CONCURRENCY)
        reserved: list[float] = []

        async def one(dep_id: str) -> None:
            async with limit:
                try:
                    with background_reads():
                        self.reads += 1
                        health = await self.state.adapter.get_health(dep_id)
                except BudgetReserved as exc:
                    reserved.append(exc.retry_in)
                    return
                except (NotFound, UnsupportedAction):
                    health = None
                except ShipdeckError:
                    return  # a failed read keeps the last figures; the next batch tries again
                self._record(dep_id, health)

        await asyncio.gather(*(one(dep_id) for dep_id in ids))
        return max([BATCH_INTERVAL, *reserved])

    async def _read_detail(self, dep_id: str) -> None:
        try:
            with background_reads():
                self.reads += 3
                detail = await self.state.adapter.get_health_detail(dep_id, span=self.detail_span)
        except (BudgetReserved, ShipdeckError):
            return
        if self.state.watched != dep_id:
            return
        self.detail = detail
        self._detail_for = (dep_id, self.detail_span)
        self._record(dep_id, detail.health if detail else None)
        self.state.touch(dep_id, detail=True)

    def _record(self, dep_id: str, health: ServiceHealth | None) -> None:
        previous = self.latest.get(dep_id)
        self.latest[dep_id] = health
        trend = self.trends.setdefault(dep_id, deque(maxlen=TREND_POINTS))
        if health is not None and (previous is None or previous.as_of != health.as_of):
            trend.append(health.error_rate)
        moving = self.movements.get(dep_id)
        if moving is not None and health is not None:
            moving.latest = health.error_rate
        if previous != health:
            self.state.touch(dep_id)

"""Simulated time."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta


class SimClock:
    """Simulated time: starts at ``epoch`` and runs ``speed`` times faster than the wall clock."""

    def __init__(self, epoch: datetime, speed: float) -> None:
        self.epoch = epoch.astimezone(UTC)
        self.speed = speed
        self._started = time.monotonic()
        self._advanced = 0.0

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self._started) * self.speed + self._advanced
        return self.epoch + timedelta(seconds=elapsed)

    def advance(self, seconds: float) -> None:
        self._advanced += seconds

    @staticmethod
    def iso(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def now_iso(self) -> str:
        return self.iso(self.now())

    async def sleep(self, sim_seconds: float) -> None:
        await asyncio.sleep(max(0.0, sim_seconds) / self.speed)

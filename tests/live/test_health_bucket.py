"""The health monitor's token bucket: a screenful at start, then the idle rate (no server needed)."""

from __future__ import annotations

import pytest

from shipdeck.live.health import Bucket
from shipdeck.live.timing import DEFAULT_TIMING


def test_the_start_allowance_is_spent_once_then_the_idle_rate_holds() -> None:
    timing = DEFAULT_TIMING
    extra = timing.health_start - timing.health_burst
    bucket = Bucket(timing.health_per_minute, timing.health_burst, timing.health_burst, at=0.0, start=extra)
    bucket.refill(30.0)
    assert bucket.available == timing.health_start  # kept until spent
    assert bucket.take(timing.health_start) and not bucket.take(1)
    bucket.refill(50.0)  # 20 s at 3 a minute
    assert bucket.available == pytest.approx(1.0)
    bucket.refill(50.0 + 3600.0)  # an hour idle fills it to the idle burst only, never the start again
    assert bucket.available == timing.health_burst
    bucket.refill(50.0 + 7200.0, share=1 / 3)  # while polling: a third of it
    assert bucket.available == pytest.approx(timing.health_burst / 3)

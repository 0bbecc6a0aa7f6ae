"""Fault decisions (5xx, 429, dropped connections) and the connection a fault may abort."""

from __future__ import annotations

import asyncio
import contextvars
import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipdeck.sim.options import FaultSpec


class Faults:
    """Deterministic fault decisions drawn from their own RNG (seeded from --rng-seed)."""

    def __init__(self, spec: FaultSpec, rng_seed: int) -> None:
        self.spec = spec
        self._rng = random.Random(f"faults:{rng_seed}")
        self._dropped_once = False

    def _roll(self, probability: float) -> bool:
        return probability > 0 and (probability >= 1.0 or self._rng.random() < probability)

    def error5xx(self) -> bool:
        return self._roll(self.spec.error5xx)

    def rate429(self) -> bool:
        return self._roll(self.spec.rate429)

    def drop_after_commit(self) -> bool:
        if self.spec.drop_after_commit_once and not self._dropped_once:
            self._dropped_once = True
            return True
        return self._roll(self.spec.drop_after_commit)


# The transport of the connection serving the current request (set by DroppableH11Protocol), so that a fault
# can close the connection after the change is committed and before any byte of the answer is sent.
CURRENT_TRANSPORT: contextvars.ContextVar[asyncio.BaseTransport | None] = contextvars.ContextVar(
    "shipdeck_sim_transport", default=None
)


def abort_current_connection() -> bool:
    transport = CURRENT_TRANSPORT.get()
    if transport is None:
        return False
    abort = getattr(transport, "abort", None)
    if abort is None:
        transport.close()
    else:
        abort()
    return True

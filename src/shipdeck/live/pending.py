"""Mutations that must not be lost: run through the ActionRunner, and retried with the same key.

When the connection drops while an action is in flight its outcome is unknown: the server may have acted.
:class:`PendingActions` keeps such an action as *pending* and resends it with the SAME idempotency key
(the server replays its first answer instead of acting twice) until it gets an answer, then reports it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from shipdeck.api.base import new_idempotency_key
from shipdeck.api.errors import NetworkError, ServerError, ShipdeckError
from shipdeck.live.actions import ActionRunner

T = TypeVar("T")

RETRY_DELAY_MIN = 0.5
RETRY_DELAY_MAX = 10.0
# A pending action is given up (and reported as unknown) after this many seconds without an answer.
GIVE_UP_AFTER = 600.0


@dataclass
class PendingAction(Generic[T]):
    action: str
    target: str
    idempotency_key: str
    call: Callable[[str], Awaitable[T]]
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    last_error: str = ""

    @property
    def label(self) -> str:
        return f"{self.action} {self.target}"


def outcome_unknown(exc: ShipdeckError) -> bool:
    """Whether the server may or may not have acted: no answer, or a 5xx after the client's retries."""
    return (isinstance(exc, NetworkError) and exc.retryable) or isinstance(exc, ServerError)


class PendingActions:
    """Runs mutations; keeps the ones whose outcome is unknown and resolves them when the server answers.

    ``on_change()`` is called whenever the set of pending actions changes (the header shows the count).
    """

    def __init__(self, runner: ActionRunner, *, on_change: Callable[[], None] | None = None) -> None:
        self.runner = runner
        self.pending: dict[str, PendingAction[Any]] = {}
        self._on_change = on_change or (lambda: None)

    async def run(
        self,
        action: str,
        target: str,
        call: Callable[[str], Awaitable[T]],
        *,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
        on_pending: Callable[[PendingAction[T]], None] | None = None,
    ) -> T:
        """Run the action to its end: an answer (returned), a refusal (raised), or pending then resolved.

        While the connection is down this keeps waiting (``on_pending`` is told once) and resends with the
        same idempotency key; it raises the last error only after ``GIVE_UP_AFTER`` seconds.
        """
        item: PendingAction[T] = PendingAction(
            action, target, new_idempotency_key(), call, reason=reason, details=details or {}
        )
        delay = RETRY_DELAY_MIN
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            while True:
                item.attempts += 1
                try:
                    return await self.runner.run(
                        action,
                        target,
                        call,
                        reason=reason,
                        details=item.details,
                        idempotency_key=item.idempotency_key,
                    )
                except ShipdeckError as exc:
                    if not outcome_unknown(exc) or loop.time() - started > GIVE_UP_AFTER:
                        raise
                    item.last_error = str(exc)
                    if item.idempotency_key not in self.pending:
                        self.pending[item.idempotency_key] = item
                        self._on_change()
                        if on_pending is not None:
                            on_pending(item)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_DELAY_MAX)
        finally:
            if self.pending.pop(item.idempotency_key, None) is not None:
                self._on_change()

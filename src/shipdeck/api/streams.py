"""The reconnect loop shared by every push stream (Miosa SSE, Miteos WebSocket, log tails).

A provider supplies ``connect(after)``: one connection's worth of ``(seq, item)`` pairs, resuming after
sequence ``after``. :func:`resilient_stream` turns that into one endless iterator that

* reconnects with exponential backoff and jitter after a transient failure (network, 5xx, 429, a dead
  connection found by the heartbeat watchdog, a clean close by the server);
* resumes from the last sequence it delivered and drops anything at or below it (duplicates after a
  resume);
* raises :class:`StreamResyncRequired` when the server says it cannot replay, or when the stream has been
  down longer than ``max_outage`` (the server's buffer may no longer reach back); the caller re-reads state
  over REST and starts a new iterator;
* raises other typed errors (401, 403, 404, ...) at once: another attempt cannot help.

Items for which ``is_final`` is true end the iterator (a log stream's ``done`` frame).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import TypeVar

from shipdeck.api.base import StreamHealth
from shipdeck.api.errors import ProtocolError, ShipdeckError, StreamResyncRequired
from shipdeck.api.transport import worth_reconnecting

T = TypeVar("T")

Connect = Callable[[int | None], AsyncGenerator[tuple[int | None, T], None]]


@dataclass(frozen=True)
class StreamOptions:
    # No bytes (SSE) or no pong (WebSocket) for this long: the connection is dead.
    heartbeat_timeout: float = 45.0
    # Down (failing to reconnect) longer than this: resume is not trusted, StreamResyncRequired.
    max_outage: float = 120.0
    # Every retry is a request against the account's rate limit, and while the stream is down the live
    # state polls instead (kept current): from 0.1 s up to 10 s a refused stream took 14 requests in its
    # first minute and 8 a minute after, a quarter of a Free tier (bench/budget).
    backoff_initial: float = 0.5
    backoff_max: float = 30.0


async def resilient_stream(
    connect: Connect[T],
    *,
    after: int | None,
    options: StreamOptions,
    describe: str,
    notice: Callable[[str], None] | None = None,
    is_final: Callable[[T], bool] | None = None,
    health: StreamHealth | None = None,
) -> AsyncIterator[T]:
    """``health``, when given, is kept up to date: down since the first failure, up at the next item (or at
    the next connection, when the failure was not of what the stream sent: :class:`StreamHealth`)."""
    last_seq = after
    failures = 0
    down_since: float | None = None
    while True:
        try:
            async with aclosing(connect(last_seq)) as connection:
                async for seq, item in connection:
                    failures = 0
                    down_since = None
                    if health is not None:
                        health.delivered()
                    if seq is not None:
                        if last_seq is not None and seq <= last_seq:
                            continue  # replayed after a resume: already delivered
                        last_seq = seq
                    yield item
                    if is_final is not None and is_final(item):
                        return
            reason, content = "closed by the server", False
        except StreamResyncRequired:
            raise
        except ShipdeckError as exc:
            if not (worth_reconnecting(exc) or isinstance(exc, ProtocolError)):
                raise
            reason, content = exc.message, isinstance(exc, ProtocolError)
        now = time.monotonic()
        if health is not None:
            health.failed(reason, content=content, now=now)
        if down_since is None:
            down_since = now
        elif now - down_since > options.max_outage:
            raise StreamResyncRequired(
                f"{describe} was down for more than {options.max_outage:g} s; state must be re-read"
            )
        delay = min(options.backoff_max, options.backoff_initial * (2**failures))
        delay = random.uniform(delay / 2, delay)
        failures += 1
        if notice is not None and failures > 1:
            notice(f"{describe}: {reason}; reconnecting in {delay:.1f} s")
        await asyncio.sleep(delay)

"""The reconnect loop shared by every push stream (Miosa SSE, Miteos WebSocket, log tails).

A provider supplies ``connect(after)``: one connection's worth of ``(seq, item)`` pairs, resuming after
sequence ``after``. :func:`resilient_stream` turns that into one endless iterator that

* reconnects with exponential backoff and jitter after a transient failure (network, 5xx, 429, a dead
  connection found by the heartbeat watchdog, a clean close by the server);
* resumes from the last sequence it delivered and drops an item at that sequence (a resume that repeats
  the last one);
* raises :class:`StreamResyncRequired` when the server says it cannot replay, when the stream has been
  down longer than ``max_outage`` (the server's buffer may no longer reach back), or when the sequence goes
  backwards: on one connection, or on a new one that starts below where the last stopped (a server whose
  numbering restarted, or a far-ahead id that was not the server's). Dropping what is below as duplicates
  dropped every later event: the console stayed on a stale version for minutes, saying '● live'. The
  caller re-reads state over REST and starts a new iterator, with no sequence to resume after;
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
    replays_from_start: bool = False,
) -> AsyncIterator[T]:
    """``health``, when given, is kept up to date: down since the first failure, up at the next new item (or
    at the next connection, when the failure was not of what the stream sent: :class:`StreamHealth`).
    ``replays_from_start``: every connection starts again from the first item (its sequence is the item's
    index), so what a new connection sends at or below the last sequence is the replay, dropped."""
    last_seq = after
    failures = 0
    down_since: float | None = None
    while True:
        opened = time.monotonic()
        try:
            async with aclosing(connect(last_seq)) as connection:
                connection_seq: int | None = None  # the last sequence this connection sent
                async for seq, item in connection:
                    if seq is not None:
                        went_back = backwards(seq, connection_seq, last_seq, replays_from_start)
                        if went_back is not None:
                            raise StreamResyncRequired(f"{describe}: {went_back}; state must be re-read")
                        connection_seq = seq
                        if last_seq is not None and seq <= last_seq:
                            continue  # replayed after a resume: already delivered
                        last_seq = seq
                    # Progress is a new item, never a replayed one: a server that sent the same old event
                    # on each connection and closed it had the stream reconnect every 0.4 s, for ever.
                    failures = 0
                    down_since = None
                    if health is not None:
                        health.delivered()
                    yield item
                    if is_final is not None and is_final(item):
                        return
            reason, content = "closed by the server", False
            if time.monotonic() - opened >= options.heartbeat_timeout:
                # Open that long, it was alive (a silent one fails on the heartbeat instead): a quiet
                # account's connection that the server recycles is not an outage growing with each close.
                failures = 0
                down_since = None
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


def backwards(
    seq: int, connection_seq: int | None, last_seq: int | None, replays_from_start: bool
) -> str | None:
    """Why ``seq`` says that the stream's numbering is not the one resumed after (None: it is): lower than
    what the same connection sent before it, or, first on a new connection, lower than the last sequence
    delivered (a repeat of that one is a resume that includes it, a duplicate)."""
    if connection_seq is not None:
        return f"sequence went backwards ({seq} after {connection_seq})" if seq < connection_seq else None
    if last_seq is not None and seq < last_seq and not replays_from_start:
        return f"sequence restarted below where it stopped ({seq} after {last_seq})"
    return None

"""What every HTTP adapter shares: the transport, its budget, stream options, and closing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from shipdeck.api.base import Adapter, StreamHealth
from shipdeck.api.errors import ProtocolError
from shipdeck.api.streams import StreamOptions
from shipdeck.api.transport import Transport

if TYPE_CHECKING:
    from httpx_sse import ServerSentEvent  # httpx is imported with the first stream (api/sse.py)

# SSE first, JSON as the fallback the official Miosa SDK names too: ``text/event-stream`` alone is refused
# with 406 by every route behind the server's JSON guard (Phoenix ``accepts ["json"]``).
SSE_HEADERS = {"Accept": "text/event-stream, application/json;q=0.9"}
# A list longer than this is mapped to models in a worker thread (map_rows).
OFF_LOOP_AFTER = 1000

T = TypeVar("T")


async def map_rows(raws: list[Any], mapper: Callable[[Any], T]) -> list[T]:
    """Each raw row as a model; a long list in a worker thread, so that a server listing 100,000 of them
    does not stop the event loop (the console answering keys) while they are parsed."""
    if len(raws) <= OFF_LOOP_AFTER:
        return [mapper(raw) for raw in raws]
    return await asyncio.to_thread(lambda: [mapper(raw) for raw in raws])


class HttpAdapter(Adapter):
    """An adapter speaking to its provider through one :class:`Transport`."""

    def __init__(self, transport: Transport, *, stream_options: StreamOptions | None = None) -> None:
        self.transport = transport
        self.stream_options = stream_options or StreamOptions()
        self.stream_health: StreamHealth | None = StreamHealth()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.transport!r})"

    async def aclose(self) -> None:
        await self.transport.aclose()

    @asynccontextmanager
    async def open_sse(
        self, path: str, *, what: str, last_event_id: int | None = None, connected: bool = False
    ) -> AsyncIterator[AsyncIterator[ServerSentEvent]]:
        """One SSE connection's frames (the one SSE connect of the adapters): resumed after
        ``last_event_id`` with ``Last-Event-ID`` when given (a provider that replays from the start gives
        None), ended by a NetworkError when no byte comes within the heartbeat timeout. ``connected``:
        this is the event stream, whose health says "up" as soon as it connects (a quiet account may send
        no event for minutes; until the first, the header said '● polled' long after the server was back),
        unless it last failed on what it sent (:meth:`StreamHealth.connected`)."""
        from shipdeck.api.sse import iter_sse

        headers = dict(SSE_HEADERS)
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        async with self.transport.open_stream(path, headers=headers) as response:
            answered = event_stream_problem(response.headers.get("content-type"))
            if answered is not None:
                # A proxy's login page or a JSON answer read as a stream gave no event and no error: the
                # header said "live" over a dead feed. Refused, the stream is down and says why.
                raise ProtocolError(f"{what}: the server answered {answered}, not an event stream")
            if connected and self.stream_health is not None:
                self.stream_health.connected()
            yield iter_sse(response, idle_timeout=self.stream_options.heartbeat_timeout, what=what)

    @property
    def rate_limit_remaining(self) -> int | None:
        return self.transport.budget.remaining

    @property
    def rate_limit_limit(self) -> int | None:
        return self.transport.budget.limit


def event_stream_problem(content_type: str | None) -> str | None:
    """What a stream's answer is instead of ``text/event-stream`` (its media type, printable and short), or
    None when it is one, or says nothing (some servers send no Content-Type on a stream)."""
    if content_type is None:
        return None
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in ("", "text/event-stream"):
        return None
    shown = "".join(c for c in media_type if c.isprintable())[:60]
    return shown or "an unreadable Content-Type"


def path_segment(value: object) -> str:
    """One URL path segment, escaped (ids come from users and servers: ``a/b`` must not become two)."""
    return quote(str(value), safe="")

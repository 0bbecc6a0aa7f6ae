"""What every HTTP adapter shares: the transport, its budget, stream options, and closing."""

from __future__ import annotations

from urllib.parse import quote

from shipdeck.api.base import Adapter, StreamHealth
from shipdeck.api.streams import StreamOptions
from shipdeck.api.transport import Transport


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

    @property
    def rate_limit_remaining(self) -> int | None:
        return self.transport.budget.remaining

    @property
    def rate_limit_limit(self) -> int | None:
        return self.transport.budget.limit


def path_segment(value: object) -> str:
    """One URL path segment, escaped (ids come from users and servers: ``a/b`` must not become two)."""
    return quote(str(value), safe="")

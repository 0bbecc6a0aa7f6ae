"""A loopback TCP proxy that plays a flapping network between the client and a real ``shipdeck sim``.

It runs its own event loop in a thread, so it keeps forwarding (or keeps stalling) whatever the test's loop
or the console is doing, and the same proxy serves async console tests and blocking CLI tests. On command it

* passes bytes through (``restore``), stalls them (``stall``: connections stay open, nothing moves), or
  refuses new connections (``go_down``: accepted, then reset);
* cuts every open connection with a FIN (``cut``) or an RST (``reset``, SO_LINGER 0), mid-response;
* loses the answer to one chosen request (``lose_answer_to``): the request reaches the server, the connection
  dies when the answer starts to come back (the "committed, but the client never heard" case);
* refuses the requests of one endpoint (``refuse``), as a broken gateway in front of a push stream would;
* holds the answer to one chosen request (``hold_answer_to``) until ``release``: the change is applied and
  its sender is still waiting, as over a slow link.

It reads the head of every HTTP request it forwards (method, path, headers), so a test can check what went
over the wire (the Idempotency-Key of each retry) without trusting the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

T = TypeVar("T")
COMMAND_TIMEOUT = 5.0


class LinkMode(StrEnum):
    PASS = "pass"
    STALL = "stall"
    DOWN = "down"


@dataclass(frozen=True)
class RequestHead:
    method: str
    path: str
    headers: dict[str, str]
    # When the proxy saw it (time.monotonic()).
    at: float


RequestPredicate = Callable[[RequestHead], bool]


@dataclass(eq=False)
class _Link:
    """One client connection and its upstream twin."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    sniffing: bool = True
    unread: bytearray = field(default_factory=bytearray)
    body_left: int = 0
    lose_answer: bool = False
    hold_answer: bool = False
    last_request: RequestHead | None = None


def _abort(writer: asyncio.StreamWriter, *, reset: bool) -> None:
    """Close one side now: with an RST (SO_LINGER 0) or a plain FIN."""
    sock = writer.get_extra_info("socket")
    if reset and sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
    else:
        writer.close()


class FaultProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``upstream_port``. Use :func:`fault_proxy` to run one."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.connections = 0
        self.requests: list[RequestHead] = []
        self._mode = LinkMode.PASS
        self._links: set[_Link] = set()
        self._lose: list[tuple[RequestPredicate, bool]] = []
        self._hold: list[RequestPredicate] = []
        self._released: asyncio.Event | None = None
        self._refused: RequestPredicate | None = None
        self._loop = asyncio.new_event_loop()
        self._flowing: asyncio.Event | None = None
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)

    # -- addresses ---------------------------------------------------------------------------------------
    def url(self, upstream_url: str) -> str:
        """``upstream_url`` (one of the sim's base URLs) as seen through the proxy."""
        parts = urlsplit(upstream_url)
        return urlunsplit(parts._replace(netloc=f"127.0.0.1:{self.port}"))

    # -- commands (from any thread) ----------------------------------------------------------------------
    def stall(self) -> None:
        self._call(self._set_mode(LinkMode.STALL))

    def go_down(self) -> None:
        """Reset every open connection and every new one until :meth:`restore`."""
        self._call(self._set_mode(LinkMode.DOWN))
        self.reset()

    def restore(self) -> None:
        self._call(self._set_mode(LinkMode.PASS))

    def cut(self) -> int:
        """Close every open connection with a FIN; how many there were."""
        return self._call(self._close_all(reset=False))

    def reset(self) -> int:
        """Close every open connection with an RST; how many there were."""
        return self._call(self._close_all(reset=True))

    def lose_answer_to(self, predicate: RequestPredicate, *, then_down: bool = False) -> None:
        """The next request matching ``predicate`` reaches the server but its answer is cut off (once);
        ``then_down``: and the link goes down at that moment."""
        self._call(self._add_loss(predicate, then_down))

    def hold_answer_to(self, predicate: RequestPredicate) -> None:
        """The next request matching ``predicate`` reaches the server; its answer waits for release()."""
        self._call(self._add_hold(predicate))

    def release(self) -> None:
        self._call(self._release())

    def refuse(self, predicate: RequestPredicate | None) -> None:
        """Reset every connection whose request matches ``predicate`` (None: refuse nothing again), as a
        firewall or a broken gateway in front of one endpoint would."""
        self._call(self._set_refusal(predicate))

    def requests_matching(self, predicate: RequestPredicate) -> list[RequestHead]:
        return [head for head in list(self.requests) if predicate(head)]

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()
        self._call(self._listen())

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(COMMAND_TIMEOUT)
        self._loop.close()

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(COMMAND_TIMEOUT)

    # -- inside the proxy's loop -------------------------------------------------------------------------
    async def _listen(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._close_all(reset=False)
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _set_mode(self, mode: LinkMode) -> None:
        assert self._flowing is not None
        self._mode = mode
        if mode is LinkMode.STALL:
            self._flowing.clear()
        else:
            self._flowing.set()

    async def _close_all(self, *, reset: bool) -> int:
        links = list(self._links)
        for link in links:
            self._drop(link, reset=reset)
        return len(links)

    async def _set_refusal(self, predicate: RequestPredicate | None) -> None:
        self._refused = predicate
        if predicate is not None:
            for link in list(self._links):
                if link.last_request is not None and predicate(link.last_request):
                    self._drop(link, reset=True)

    async def _add_loss(self, predicate: RequestPredicate, then_down: bool) -> None:
        self._lose.append((predicate, then_down))

    async def _add_hold(self, predicate: RequestPredicate) -> None:
        self._hold.append(predicate)
        self._released = asyncio.Event()

    async def _release(self) -> None:
        if self._released is not None:
            self._released.set()

    def _drop(self, link: _Link, *, reset: bool) -> None:
        self._links.discard(link)
        _abort(link.client, reset=reset)
        _abort(link.upstream, reset=reset)

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self._mode is LinkMode.DOWN:
            _abort(client_writer, reset=True)
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            _abort(client_writer, reset=True)
            return
        link = _Link(client_writer, upstream_writer)
        self._links.add(link)
        try:
            await asyncio.gather(
                self._pump(client_reader, upstream_writer, link, to_upstream=True),
                self._pump(upstream_reader, client_writer, link, to_upstream=False),
            )
        except asyncio.CancelledError:
            pass  # the proxy is shutting down
        finally:
            if link in self._links:
                self._drop(link, reset=False)

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link, *, to_upstream: bool
    ) -> None:
        assert self._flowing is not None
        try:
            while link in self._links:
                data = await reader.read(65536)
                if not data:
                    break
                await self._flowing.wait()
                if link not in self._links:
                    return
                if to_upstream:
                    self._sniff(link, data)
                    if link not in self._links:
                        return  # refused
                elif link.lose_answer:
                    self._drop(link, reset=False)
                    return
                elif link.hold_answer and self._released is not None:
                    await self._released.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        if link in self._links:
            self._drop(link, reset=False)

    def _sniff(self, link: _Link, data: bytes) -> None:
        """Record the head of each request on this connection (until it upgrades to a WebSocket)."""
        if not link.sniffing:
            return
        link.unread += data
        while link.unread:
            if link.body_left:
                skipped = min(link.body_left, len(link.unread))
                del link.unread[:skipped]
                link.body_left -= skipped
                continue
            end = link.unread.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self._parse_head(bytes(link.unread[:end]).decode("latin-1"))
            del link.unread[: end + 4]
            self.requests.append(head)
            link.last_request = head
            if self._refused is not None and self._refused(head):
                self._drop(link, reset=True)
                return
            link.body_left = int(head.headers.get("content-length", "0") or 0)
            if head.headers.get("upgrade", "").lower() == "websocket":
                link.sniffing = False
                return
            for index, held in enumerate(self._hold):
                if held(head):
                    del self._hold[index]
                    link.hold_answer = True
                    break
            for index, (predicate, then_down) in enumerate(self._lose):
                if predicate(head):
                    del self._lose[index]
                    link.lose_answer = True
                    if then_down:
                        self._mode = LinkMode.DOWN
                        for other in list(self._links - {link}):
                            self._drop(other, reset=True)
                    break

    @staticmethod
    def _parse_head(text: str) -> RequestHead:
        request_line, *header_lines = text.split("\r\n")
        method, path, _ = (request_line.split(" ", 2) + ["", ""])[:3]
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return RequestHead(method, path, headers, time.monotonic())


@contextlib.contextmanager
def fault_proxy(upstream_port: int) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream_port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()

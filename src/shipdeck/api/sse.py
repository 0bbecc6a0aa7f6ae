"""Server-sent events: a bounded line splitter in front of httpx-sse's field decoder.

httpx-sse decodes the fields (``event``, ``data``, ``id``, comments) exactly as the spec says; this module
adds what a hostile or broken server needs: a cap on line length and on one event's size, strict UTF-8,
CR / LF / CRLF endings split on bytes, and a liveness deadline (any bytes, including ``:heartbeat``
comments, count as alive).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
from httpx_sse import ServerSentEvent
from httpx_sse._decoders import SSEDecoder

from shipdeck.api.errors import NetworkError, ProtocolError

MAX_LINE_BYTES = 1024 * 1024
# One event's lines together (the decoder joins ``data`` lines without end until a blank line): as large as a
# Miteos WebSocket message may be. Short ``data`` lines without the blank line took a tail to 4 GB in 30 s.
MAX_EVENT_BYTES = 4 * 1024 * 1024


class SseParser:
    """Bytes in, complete events out. Raises ProtocolError on an over-long line, an over-large event (its
    lines but comments, up to the blank line that ends it) or invalid UTF-8."""

    def __init__(
        self, *, max_line_bytes: int = MAX_LINE_BYTES, max_event_bytes: int = MAX_EVENT_BYTES
    ) -> None:
        self.max_line_bytes = max_line_bytes
        self.max_event_bytes = max_event_bytes
        self._buffer = bytearray()
        self._pending_cr = False
        self._decoder = SSEDecoder()
        self._event_bytes = 0  # the lines of the event being read so far (what the decoder holds)

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        return self._decode(self._split(chunk))

    def flush(self) -> list[ServerSentEvent]:
        """At end of stream: the last frame counts even without its blank line."""
        lines = [bytes(self._buffer)] if self._buffer else []
        self._buffer.clear()
        return self._decode([*lines, b""])

    def _decode(self, lines: list[bytes]) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        decode = self._decoder.decode
        for line in lines:
            if not line:
                self._event_bytes = 0
            elif not line.startswith(b":"):
                self._event_bytes += len(line) + 1
                if self._event_bytes > self.max_event_bytes:
                    raise ProtocolError(
                        f"event stream event larger than {self.max_event_bytes} bytes (no blank line ends it)"
                    )
            event = decode(self._text(line))
            if event is not None:
                events.append(event)
        return events

    def _split(self, chunk: bytes) -> list[bytes]:
        # bytes.splitlines breaks at CR, LF and CRLF only (the str method also breaks at other characters),
        # in C: at 5,000 events a second, each its own chunk, a Python scan was a third of the console's time.
        lines: list[bytes] = []
        if self._pending_cr:
            self._pending_cr = False
            if chunk.startswith(b"\n"):
                chunk = chunk[1:]
        buffer = self._buffer
        for piece in chunk.splitlines(keepends=True):
            if piece.endswith(b"\n"):
                body = piece[:-2] if piece.endswith(b"\r\n") else piece[:-1]
            elif piece.endswith(b"\r"):
                body = piece[:-1]
            else:  # the unterminated tail: the start of the next chunk's first line
                buffer += piece
                break
            if buffer:
                buffer += body
                body = bytes(buffer)
                buffer.clear()
            if len(body) > self.max_line_bytes:
                raise ProtocolError(f"event stream line longer than {self.max_line_bytes} bytes")
            lines.append(body)
        # A CR that ends the chunk: an LF starting the next one belongs to it.
        self._pending_cr = chunk.endswith(b"\r")
        if len(buffer) > self.max_line_bytes:
            raise ProtocolError(f"event stream line longer than {self.max_line_bytes} bytes")
        return lines

    @staticmethod
    def _text(line: bytes) -> str:
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("event stream line is not valid UTF-8") from None


class _Liveness:
    """The stream's deadline, moved by every chunk for the price of a clock read. ``asyncio.timeout``
    around each read made and cancelled a timer per chunk: at 5,000 events a second, each its own chunk,
    that was a tenth of the stream's time. This timer is re-armed only when it fires, and it cancels the
    reading task only while that task waits for bytes (never while the consumer handles an event)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None, "iter_sse runs in a task"
        self.task = task
        self.seen = self.loop.time()
        self.waiting = False
        self.expired = False
        self._handle = self.loop.call_at(self.seen + seconds, self._check)

    def _check(self) -> None:
        now = self.loop.time()
        due = self.seen + self.seconds
        if not self.waiting:
            due = max(due, now + self.seconds)  # the consumer is busy with what arrived: not silence
        elif now >= due:
            self.expired = True
            self.task.cancel()
            return
        self._handle = self.loop.call_at(due, self._check)

    def close(self) -> None:
        self._handle.cancel()


async def iter_sse(
    response: httpx.Response, *, idle_timeout: float, max_line_bytes: int = MAX_LINE_BYTES, what: str
) -> AsyncIterator[ServerSentEvent]:
    """Events of one open SSE response; NetworkError when nothing (not even a heartbeat) arrives in time."""
    parser = SseParser(max_line_bytes=max_line_bytes)
    # Without a content coding the raw bytes are the content: aiter_raw spares a decoder and a chunker
    # layer per chunk (a chunk is an event, 5,000 a second in a busy tail).
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    raw = encoding in ("", "identity")
    chunks = (response.aiter_raw() if raw else response.aiter_bytes()).__aiter__()
    liveness = _Liveness(idle_timeout)
    try:
        while True:
            liveness.waiting = True
            try:
                chunk = await chunks.__anext__()
            except StopAsyncIteration:
                for event in parser.flush():
                    yield event
                return
            except asyncio.CancelledError:
                if liveness.expired and liveness.task.uncancel() == 0:
                    raise NetworkError(
                        f"{what}: no heartbeat for {idle_timeout:g} s, the connection looks dead"
                    ) from None
                raise
            except httpx.HTTPError as exc:
                raise NetworkError(f"{what}: connection lost ({exc.__class__.__name__})") from None
            liveness.waiting = False
            liveness.seen = liveness.loop.time()
            for event in parser.feed(chunk):
                yield event
    finally:
        liveness.close()

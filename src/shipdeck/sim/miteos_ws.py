"""The Miteos event WebSocket (``/v1/ws``), as the house decisions define it.

The gateway has already refused a bad token with HTTP 401 before the upgrade. Then:

* client -> server: ``{"type": "subscribe", "events": ["task.*", ...], "task_id"?: "..."}`` (no ``events``:
  every type), ``{"type": "resume", "after_seq": N}``, ``{"type": "ping"}``;
* server -> client: ``{"type": "subscribed", "events": [...], "task_id": ...}``, ``{"type": "pong"}``, events
  ``{"id", "seq", "type", "created_at", "data"}`` in ``seq`` order (the account's event log), and
  ``{"type": "resync_required", ...}`` when ``after_seq`` is older than what the log still keeps (or newer
  than anything it has), after which delivery goes on from the newest event. A message it cannot use gets
  ``{"type": "error", "detail": "..."}`` and the socket stays open.

A subscribe starts delivery at the newest event, unless a resume follows within :data:`RESUME_GRACE_SECONDS`
(clients send both back to back); a later resume rewinds the cursor (the client drops what it already has).
Protocol-level pings come from the server (uvicorn's ``ws_ping_interval``). With the ``ws_drop_every=N`` fault
the socket is closed (code 1012) after every N events sent on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from shipdeck.sim.core import Event, SimContext
from shipdeck.sim.miteos_store import PROVIDER

log = logging.getLogger("shipdeck.sim")

RESUME_GRACE_SECONDS = 0.3
BATCH = 500
# Real seconds between two looks at the log when nothing woke the sender (a safety net, not the latency).
IDLE_WAIT_SECONDS = 5.0
DROP_CLOSE_CODE = 1012  # "service restart": the client reconnects and resumes
MAX_MESSAGE_CHARS = 64 * 1024


class _Session:
    """One connection: what it subscribed to, where its cursor is, and how many events it sent."""

    def __init__(self, ctx: SimContext, websocket: WebSocket) -> None:
        self.ctx = ctx
        self.websocket = websocket
        self.patterns: list[str] | None = None  # None until subscribed
        self.task_id: str | None = None
        self.cursor = 0
        self.generation = 0  # bumped whenever the receiver moves the cursor
        self.resumed = asyncio.Event()
        self.wake = asyncio.Event()
        self.sent = 0

    async def run(self) -> None:
        sender = asyncio.create_task(self._send_events())
        receiver = asyncio.create_task(self._receive())
        try:
            await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for job in (sender, receiver):
                job.cancel()
            outcomes = await asyncio.gather(sender, receiver, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, Exception) and not isinstance(outcome, WebSocketDisconnect):
                log.error("Miteos event socket failed", exc_info=outcome)
        socket = self.websocket
        if WebSocketState.CONNECTED == socket.application_state == socket.client_state:
            # The client may vanish at any moment: a close that finds it gone is no error.
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await socket.close()

    # -- client -> server ------------------------------------------------------------------------------
    async def _receive(self) -> None:
        try:
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                if text is None:
                    await self._error("binary messages are not understood; send JSON text")
                else:
                    await self._handle(text)
        except (WebSocketDisconnect, RuntimeError):
            return  # the client left (RuntimeError: Starlette refuses a receive or send after the close)

    async def _handle(self, text: str) -> None:
        if len(text) > MAX_MESSAGE_CHARS:
            await self._error(f"message longer than {MAX_MESSAGE_CHARS} characters")
            return
        try:
            message = json.loads(text)
        except ValueError:
            await self._error("message is not valid JSON")
            return
        if not isinstance(message, dict):
            await self._error("message must be a JSON object")
            return
        kind = message.get("type")
        if kind == "ping":
            await self._send({"type": "pong"})
        elif kind == "subscribe":
            await self._subscribe(message)
        elif kind == "resume":
            await self._resume(message)
        else:
            await self._error(f"unknown message type {str(kind)[:40]!r} (expected subscribe, resume or ping)")

    async def _subscribe(self, message: dict[str, Any]) -> None:
        events = message.get("events", ["*"])
        task_id = message.get("task_id")
        if not isinstance(events, list) or not all(isinstance(e, str) and e for e in events):
            await self._error("subscribe: events must be a list of event type patterns like 'task.*'")
            return
        if task_id is not None and not isinstance(task_id, str):
            await self._error("subscribe: task_id must be a string")
            return
        first = self.patterns is None
        self.patterns = list(events)
        self.task_id = task_id
        if first and not self.resumed.is_set():
            self._move_cursor(self.ctx.events.latest_seq(PROVIDER))
        await self._send({"type": "subscribed", "events": self.patterns, "task_id": task_id})
        self.wake.set()

    async def _resume(self, message: dict[str, Any]) -> None:
        after_seq = message.get("after_seq")
        if not isinstance(after_seq, int) or isinstance(after_seq, bool) or after_seq < 0:
            await self._error("resume: after_seq must be a non-negative whole number")
            return
        events = self.ctx.events
        latest = events.latest_seq(PROVIDER)
        oldest = events.oldest_seq(PROVIDER)
        lost = oldest > 0 and after_seq < oldest - 1
        if lost or after_seq > latest:
            self._move_cursor(latest)
            await self._send(
                {
                    "type": "resync_required",
                    "after_seq": after_seq,
                    "oldest_seq": oldest,
                    "latest_seq": latest,
                    "detail": "after_seq is outside the replay buffer; re-read the state over REST",
                }
            )
        else:
            self._move_cursor(after_seq)
        self.resumed.set()
        self.wake.set()

    def _move_cursor(self, seq: int) -> None:
        self.cursor = seq
        self.generation += 1

    # -- server -> client ------------------------------------------------------------------------------
    def _wanted(self, event: Event) -> bool:
        if self.patterns is None:
            return False
        if self.task_id is not None and event.data.get("task_id") != self.task_id:
            return False
        return any(fnmatch.fnmatchcase(event.type, pattern) for pattern in self.patterns)

    async def _send_events(self) -> None:
        while self.patterns is None:
            await self.wake.wait()
            self.wake.clear()
        # Clients send their resume right after the subscribe: give it a moment before going live.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.resumed.wait(), RESUME_GRACE_SECONDS)
        drop_every = self.ctx.faults.spec.ws_drop_every
        while True:
            generation = self.generation
            batch = self.ctx.events.since(PROVIDER, self.cursor, BATCH)
            for event in batch:
                if self.generation != generation:
                    break  # a resume moved the cursor while we were sending
                self.cursor = event.seq
                if not self._wanted(event):
                    continue
                await self._send(event.as_json())
                self.sent += 1
                if drop_every and self.sent % drop_every == 0:
                    await self.websocket.close(code=DROP_CLOSE_CODE, reason="sim fault: ws_drop_every")
                    return
            if not batch:
                await self._wait_for_news()

    async def _wait_for_news(self) -> None:
        """Until an event after the cursor exists or the receiver moved the cursor."""
        self.wake.clear()
        waits: list[asyncio.Task[Any]] = [
            asyncio.create_task(self.ctx.events.wait_for_new(PROVIDER, self.cursor, IDLE_WAIT_SECONDS)),
            asyncio.create_task(self.wake.wait()),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for job in waits:
                job.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    async def _send(self, payload: dict[str, Any]) -> None:
        await self.websocket.send_text(json.dumps(payload))

    async def _error(self, detail: str) -> None:
        await self._send({"type": "error", "detail": detail})


def endpoint(ctx: SimContext) -> Callable[[WebSocket], Awaitable[None]]:
    async def events_socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await _Session(ctx, websocket).run()

    return events_socket

"""The gateway in front of every provider: request id, auth, rate limit, faults, request log.

A pure ASGI middleware (not BaseHTTPMiddleware) so that streaming responses pass through untouched and so that
``drop_after_commit`` can close the connection before the first byte of the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from uvicorn.protocols.http.h11_impl import H11Protocol

from shipdeck.sim.core import (
    CURRENT_TRANSPORT,
    DEMO_TOKENS,
    MUTATING_METHODS,
    REQUEST_ID,
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    SimContext,
    TokenInfo,
    abort_current_connection,
    is_loopback,
    new_request_id,
    provider_error,
    provider_for_path,
)

RATE_WINDOW_SECONDS = 60.0
log = logging.getLogger("shipdeck.sim")


class DroppableH11Protocol(H11Protocol):  # type: ignore[misc]
    """uvicorn's h11 protocol that exposes its transport to the request's context (see CURRENT_TRANSPORT).

    The ASGI task of a request is created inside ``data_received``, so it inherits the context variable.
    """

    def data_received(self, data: bytes) -> None:
        CURRENT_TRANSPORT.set(self.transport)
        super().data_received(data)


@dataclass
class _Window:
    started: float
    count: int


class RateLimiter:
    """Fixed one-minute windows per token (real time)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._windows: dict[str, _Window] = {}

    def take(self, token: str) -> tuple[bool, int, int]:
        """(allowed, remaining, seconds until the window resets)."""
        now = time.monotonic()
        window = self._windows.get(token)
        if window is None or now - window.started >= RATE_WINDOW_SECONDS:
            window = self._windows[token] = _Window(now, 0)
        reset = max(1, math.ceil(window.started + RATE_WINDOW_SECONDS - now))
        if window.count >= self.limit:
            return False, 0, reset
        window.count += 1
        return True, self.limit - window.count, reset


def _header(scope: Scope, wanted: bytes) -> str | None:
    return next((value.decode("latin-1") for name, value in scope.get("headers", []) if name == wanted), None)


def _bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    # Browsers cannot set headers on a WebSocket upgrade: the Miteos socket also accepts ?token=.
    if scope["type"] == "websocket" and query.get("token"):
        return str(query["token"][0])
    return None


class _ResponseProgress:
    """Sends a request's messages on, noting how far its response got; the request's task is added to
    ``streams`` as soon as its answer says ``text/event-stream`` (such a response never ends by itself)."""

    def __init__(self, send: Send, streams: set[asyncio.Task[Any]], task: asyncio.Task[Any] | None) -> None:
        self._send = send
        self._streams = streams
        self._task = task
        self.started = False
        self.complete = False
        self.event_stream = False

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.started = True
            self.event_stream = any(
                name.lower() == b"content-type" and value.startswith(b"text/event-stream")
                for name, value in message.get("headers", [])
            )
            if self.event_stream and self._task is not None:
                self._streams.add(self._task)
        elif kind == "websocket.close" or (kind == "http.response.body" and not message.get("more_body")):
            self.complete = True
        await self._send(message)

    async def finish(self, scope_type: str) -> None:
        """End a response cut by the shutdown: the last (empty) body chunk, or the socket's close."""
        if self.complete:
            return
        final: Message
        if scope_type == "websocket":
            final = {"type": "websocket.close", "code": 1001, "reason": "the sandbox is stopping"}
        elif self.started:
            final = {"type": "http.response.body", "body": b"", "more_body": False}
        else:
            return
        with contextlib.suppress(Exception):  # the client may be gone already
            await self._send(final)


class GatewayMiddleware:
    def __init__(self, app: ASGIApp, ctx: SimContext) -> None:
        self.app = app
        self.ctx = ctx
        self.limiter = RateLimiter(ctx.options.rate_limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == "/_sim" or path.startswith("/_sim/"):
            await self._control(scope, receive, send)
            return
        provider = provider_for_path(path)
        task = asyncio.current_task()
        response = _ResponseProgress(send, self.ctx.open_streams, task)
        if scope["type"] == "websocket" and task is not None:
            self.ctx.open_streams.add(task)  # never ends by itself
        try:
            if scope["type"] == "websocket":
                await self._websocket(scope, receive, response.send, provider)
                return
            await self._http(scope, receive, response.send, provider)
        except asyncio.CancelledError:
            if not self.ctx.stopping:
                raise
            # Shutting down: the server cancels the streams still open; that is their end, not a failure
            # (re-raised, uvicorn printed a traceback for each), and their response is ended properly
            # (else uvicorn logs "ASGI callable returned without completing response").
            await response.finish(scope["type"])
        finally:
            if task is not None:
                self.ctx.open_streams.discard(task)

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if not is_loopback(client[0] if client else None):
            await _send_json(send, 403, b'{"error": "the /_sim endpoints answer loopback clients only"}', [])
            return
        request_id = (b"x-request-id", new_request_id().encode())

        async def send_with_request_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), request_id]
            await send(message)

        await self.app(scope, receive, send_with_request_id if scope["type"] == "http" else send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send, provider: str | None) -> None:
        info = DEMO_TOKENS.get(_bearer_token(scope) or "")
        if provider is None or info is None or info.provider != provider:
            # Refuse before the upgrade with a real 401 when the server supports it.
            if "websocket.http.response" in scope.get("extensions", {}):
                response = provider_error(
                    provider or "miteos", 401, "UNAUTHORIZED", "Invalid or missing API token."
                )
                await send(
                    {
                        "type": "websocket.http.response.start",
                        "status": 401,
                        "headers": [(k.encode(), v.encode()) for k, v in response.headers.items()],
                    }
                )
                await send({"type": "websocket.http.response.body", "body": response.body})
            else:
                await send({"type": "websocket.close", "code": 4401})
            return
        scope.setdefault("state", {})["sim_token"] = info
        await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send, provider: str | None) -> None:
        request_id = new_request_id()
        REQUEST_ID.set(request_id)
        method: str = scope["method"]
        extra_headers: list[tuple[bytes, bytes]] = [(b"x-request-id", request_id.encode())]
        status_seen = 0
        token_kind = "none"
        dropped = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status_seen
            if message["type"] == "http.response.start":
                status_seen = message["status"]
                message["headers"] = list(message.get("headers", [])) + extra_headers
            await send(message)

        try:
            if provider is None:
                await self.app(scope, receive, send_with_headers)
                return
            token = _bearer_token(scope)
            info = DEMO_TOKENS.get(token or "")
            if token is not None:
                token_kind = info.kind if info is not None and info.provider == provider else "invalid"
            limit = self.ctx.options.rate_limit
            if info is None or info.provider != provider:
                extra_headers += _rate_headers(limit, limit, 60)
                message = "Missing API token." if token is None else "Invalid API token."
                await _send(send_with_headers, provider_error(provider, 401, "UNAUTHORIZED", message))
                return
            allowed, remaining, reset = self.limiter.take(info.token)
            extra_headers += _rate_headers(limit, remaining, reset)
            if not allowed:
                await _send(send_with_headers, _too_many(provider, reset))
                return
            faults = self.ctx.faults
            if faults.spec.latency_seconds:
                await asyncio.sleep(faults.spec.latency_seconds)
            if faults.error5xx():
                response = provider_error(
                    provider,
                    503,
                    "SERVICE_UNAVAILABLE",
                    "Injected fault: service unavailable.",
                    None,
                    {"Retry-After": "1"},
                )
                await _send(send_with_headers, response)
                return
            if faults.rate429():
                await _send(send_with_headers, _too_many(provider, 1))
                return
            if info.read_only and method in MUTATING_METHODS:
                await _send(
                    send_with_headers,
                    provider_error(
                        provider, 403, "FORBIDDEN", "This API token is read-only.", {"scope": "read"}
                    ),
                )
                return
            scope.setdefault("state", {})["sim_token"] = info
            try:
                if (
                    method in MUTATING_METHODS
                    and faults.spec.drop_after_commit + faults.spec.drop_after_commit_once
                ):
                    dropped = await self._call_with_drop(scope, receive, send_with_headers, info)
                else:
                    await self.app(scope, receive, send_with_headers)
            except Exception:
                # A bug of ours: log it, answer in the provider's shape (never a traceback to the client).
                log.exception("%s %s failed", method, scope["path"])
                if status_seen == 0:
                    error = provider_error(provider, 500, "INTERNAL", "The sandbox control plane failed.")
                    await _send(send_with_headers, error)
        finally:
            self.ctx.log_request(
                method,
                scope["path"],
                token_kind,
                0 if dropped else status_seen,
                request_id,
                idempotency_key=_header(scope, b"idempotency-key"),
            )

    async def _call_with_drop(self, scope: Scope, receive: Receive, send: Send, info: TokenInfo) -> bool:
        """Run the handler; on success (the change is committed) maybe close the connection unanswered."""
        dropping = False

        async def maybe_drop(message: Message) -> None:
            nonlocal dropping
            if message["type"] == "http.response.start" and message["status"] < 400:
                dropping = self.ctx.faults.drop_after_commit() and abort_current_connection()
            if not dropping:
                await send(message)

        await self.app(scope, receive, maybe_drop)
        return dropping


def _rate_headers(limit: int, remaining: int, reset: int) -> list[tuple[bytes, bytes]]:
    return [
        (b"x-ratelimit-limit", str(limit).encode()),
        (b"x-ratelimit-remaining", str(remaining).encode()),
        (b"x-ratelimit-reset", str(reset).encode()),
    ]


def _too_many(provider: str, retry_after: int) -> Any:
    return provider_error(
        provider,
        429,
        "RATE_LIMITED",
        "Too many requests; retry later.",
        None,
        {"Retry-After": str(retry_after)},
    )


async def _send(send: Send, response: Any) -> None:
    await _send_json(send, response.status_code, response.body, response.raw_headers)


async def _send_json(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [h for h in headers if h[0] not in (b"content-length", b"content-type")]
    headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

"""HTTP helpers every surface shares: ASGI types, the request id, JSON bodies, SSE frames."""

from __future__ import annotations

import contextvars
import ipaddress
import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("shipdeck_sim_request_id", default="")


class BadBody(Exception):
    """A request body that is not what the route expects; carries the message for a 422."""

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


async def json_body(request: Request, *, allow_empty: bool = True) -> dict[str, Any]:
    """The request's JSON object (``{}`` for an empty body when allowed); raises BadBody otherwise."""
    raw = await request.body()
    if not raw.strip():
        if allow_empty:
            return {}
        raise BadBody("A JSON object body is required.")
    try:
        parsed = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadBody("The request body is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise BadBody("The request body must be a JSON object.")
    return parsed


def sse_frame(data: Any, *, event: str | None = None, event_id: int | str | None = None) -> str:
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event is not None:
        lines.append(f"event: {event}")
    text = data if isinstance(data, str) else json.dumps(data)
    lines.extend(f"data: {line}" for line in text.split("\n"))
    return "\n".join(lines) + "\n\n"


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)

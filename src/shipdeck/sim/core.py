"""The sandbox control plane's core, in one import: what a surface needs from the named modules beside it.

Where each part lives
---------------------
``db`` (Database, core tables), ``clock`` (SimClock), ``events`` (Event, EventLog), ``faults`` (Faults, the
connection a fault aborts), ``options`` (SimOptions, FaultSpec, parse_seed), ``errors`` (the error shape of
each provider, :class:`Refusal`, OptionError), ``idempotency`` (Mutation), ``auth`` (tokens, provider of a
path), ``http`` (JSON bodies, SSE frames, request id), ``context`` (SimContext), ``surface`` (the protocol a
provider module implements). This module re-exports them, so a surface may import from here or from the part.

How a provider module plugs in
------------------------------
A provider module (``sim/miosa.py``, ``sim/miteos.py``, ...) exposes:

* ``PROVIDER: str`` -- its name, that of its row in ``sim/registry.py`` (base path, demo tokens, error
  shape; ``sim/app.py`` mounts the modules the registry names, in its order);
* ``create_schema(db: Database) -> None`` -- ``CREATE TABLE IF NOT EXISTS ...`` for its own tables;
* ``seed(ctx, kind: str) -> None`` -- fill an EMPTY database (``app.prepare`` calls it once, in one
  transaction; the data lives in the provider's ``*_seed`` module); ``kind`` is "demo", "empty" or
  "scale:N" (see :func:`parse_seed`). Anchor every seeded timestamp to ``ctx.clock.epoch`` and draw every
  random choice from ``ctx.rng``, so that a fixed ``--epoch`` and ``--rng-seed`` give identical data;
* ``routes(ctx: SimContext) -> list[BaseRoute]`` -- Starlette routes with FULL paths (``/api/v1/...``);
* ``resume(ctx: SimContext) -> None`` -- called once the server runs: ``ctx.spawn`` again the pipelines that
  were in progress when the process stopped.

that is, it satisfies :class:`~shipdeck.sim.surface.Surface`, and is listed in ``PROVIDERS`` in
``sim/app.py``.

What the gateway (``sim/gateway.py``) already does for every request under a provider's base path, so
handlers do not: ``X-Request-ID``; bearer-token auth (401 in the provider's error shape, 403 for a read-only
token on a mutating method; a WebSocket upgrade with a bad token is refused with 401 before the upgrade);
per-token rate limiting with ``X-RateLimit-*`` headers; fault injection (latency, 5xx, 429,
``drop_after_commit``); the request log behind ``GET /_sim/requests``. A handler reads the caller with
:func:`token_of`.

Rules for handlers:

* All database work is synchronous on the event loop thread through one connection. Never ``await`` inside
  ``with ctx.db.transaction():`` -- readers share the connection and must never see half a change.
* A mutation runs in ``with ctx.idempotent(request, body) as idem:``; return ``idem.replay`` if it is set,
  else do the change and return ``idem.respond(status, payload)``: the stored answer commits in the same
  transaction as the change, before the answer is sent.
* Events go through ``ctx.events.append(provider, type, data)`` inside the mutation's transaction; streams
  tail them with ``ctx.events.since(...)`` and ``await ctx.events.wait_for_new(...)``.
* Background work (pipelines) goes through ``ctx.spawn(coro)``; time passes with ``await ctx.clock.sleep(s)``.
* A refusal (404, 409, 422 ...) raises :class:`Refusal` (or the provider's subclass) and the surface's route
  wrapper answers it in the provider's shape with :func:`provider_error`; a bad body raises :class:`BadBody`
  (a Refusal) from :func:`json_body`.
"""

from __future__ import annotations

from shipdeck.sim.auth import (
    DEMO_TOKENS,
    MUTATING_METHODS,
    PROVIDER_BASE_PATHS,
    provider_for_path,
    token_of,
    tokens_for,
)
from shipdeck.sim.clock import SimClock
from shipdeck.sim.context import SimContext
from shipdeck.sim.db import CORE_SCHEMA, Database
from shipdeck.sim.errors import (
    OptionError,
    Refusal,
    answering,
    miosa_error,
    miteos_error,
    mixpeek_error,
    provider_error,
)
from shipdeck.sim.events import EVENT_RETENTION, Event, EventLog
from shipdeck.sim.faults import CURRENT_TRANSPORT, Faults, abort_current_connection
from shipdeck.sim.http import (
    REQUEST_ID,
    SSE_HEADERS,
    ASGIApp,
    BadBody,
    Message,
    Receive,
    Scope,
    Send,
    is_loopback,
    json_body,
    new_request_id,
    sse_frame,
)
from shipdeck.sim.idempotency import IDEMPOTENCY_TTL, Mutation, body_fingerprint
from shipdeck.sim.options import MIOSA_ENV_SHAPES, FaultSpec, SimOptions, parse_seed
from shipdeck.sim.registry import TokenInfo
from shipdeck.sim.surface import Surface

__all__ = [
    "CORE_SCHEMA",
    "CURRENT_TRANSPORT",
    "DEMO_TOKENS",
    "EVENT_RETENTION",
    "IDEMPOTENCY_TTL",
    "MIOSA_ENV_SHAPES",
    "MUTATING_METHODS",
    "PROVIDER_BASE_PATHS",
    "REQUEST_ID",
    "SSE_HEADERS",
    "ASGIApp",
    "BadBody",
    "Database",
    "Event",
    "EventLog",
    "FaultSpec",
    "Faults",
    "Message",
    "Mutation",
    "OptionError",
    "Receive",
    "Refusal",
    "Scope",
    "Send",
    "SimClock",
    "SimContext",
    "SimOptions",
    "Surface",
    "TokenInfo",
    "abort_current_connection",
    "answering",
    "body_fingerprint",
    "is_loopback",
    "json_body",
    "miosa_error",
    "miteos_error",
    "mixpeek_error",
    "new_request_id",
    "parse_seed",
    "provider_error",
    "provider_for_path",
    "sse_frame",
    "token_of",
    "tokens_for",
]

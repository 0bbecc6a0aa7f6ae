"""The sandbox control plane's core: database, simulated clock, event log, faults, errors, idempotency.

How a provider module plugs in
------------------------------
A provider module (``sim/miosa.py``, ``sim/miteos.py``, ...) exposes:

* ``PROVIDER: str`` -- its name, a key of :data:`PROVIDER_BASE_PATHS` ("miosa", "miteos", "mixpeek");
* ``create_schema(db: Database) -> None`` -- ``CREATE TABLE IF NOT EXISTS ...`` for its own tables;
* ``seed(ctx, kind: str) -> None`` -- fill an EMPTY database (``app.prepare`` calls it once, in one
  transaction); ``kind`` is "demo", "empty" or "scale:N" (see :func:`parse_seed`). Anchor every seeded
  timestamp to ``ctx.clock.epoch`` and draw every random choice from ``ctx.rng``, so that a fixed ``--epoch``
  and ``--rng-seed`` give identical data;
* ``routes(ctx: SimContext) -> list[BaseRoute]`` -- Starlette routes with FULL paths (``/api/v1/...``);
* ``resume(ctx: SimContext) -> None`` -- called once the server runs: ``ctx.spawn`` again the pipelines that
  were in progress when the process stopped.

and is listed in ``PROVIDERS`` in ``sim/app.py``.

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
* Errors use :func:`miosa_error`, :func:`miteos_error`, :func:`mixpeek_error` (or :func:`provider_error`);
  a bad body raises :class:`BadBody` from :func:`json_body`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import ipaddress
import json
import logging
import random
import re
import secrets
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

log = logging.getLogger("shipdeck.sim")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Longest prefix first: /v1/apps (Mixpeek) must win over /v1 (Miteos).
PROVIDER_BASE_PATHS: dict[str, str] = {"miosa": "/api/v1", "mixpeek": "/v1/apps", "miteos": "/v1"}
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
EVENT_RETENTION = 20_000  # per provider; the contract promises at least 10,000
IDEMPOTENCY_TTL = timedelta(hours=24)


# ----------------------------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class TokenInfo:
    token: str
    provider: str
    kind: str  # admin | readonly | test | key: what the request log shows instead of the token
    read_only: bool


DEMO_TOKENS: dict[str, TokenInfo] = {
    info.token: info
    for info in (
        TokenInfo("msk_u_demo_admin", "miosa", "admin", False),
        TokenInfo("msk_u_demo_readonly", "miosa", "readonly", True),
        TokenInfo("mt_test_demo", "miteos", "test", False),
        TokenInfo("sk_demo", "mixpeek", "key", False),
    )
}


def tokens_for(provider: str) -> list[str]:
    return [info.token for info in DEMO_TOKENS.values() if info.provider == provider]


def provider_for_path(path: str) -> str | None:
    for provider, base in sorted(PROVIDER_BASE_PATHS.items(), key=lambda item: -len(item[1])):
        if path == base or path.startswith(base + "/"):
            return provider
    return None


def token_of(request: Request) -> TokenInfo:
    """The authenticated caller (the gateway guarantees one for every provider route)."""
    info = request.scope.get("state", {}).get("sim_token")
    if not isinstance(info, TokenInfo):
        raise RuntimeError("token_of() called outside a provider route")
    return info


# ----------------------------------------------------------------------------------------------- options


class OptionError(ValueError):
    """A command-line option the simulator cannot use; the message says which and why."""


@dataclass(frozen=True)
class FaultSpec:
    latency_seconds: float = 0.0
    error5xx: float = 0.0
    rate429: float = 0.0
    drop_after_commit: float = 0.0
    drop_after_commit_once: bool = False
    ws_drop_every: int = 0
    sse_drop_every: int = 0

    @classmethod
    def parse(cls, spec: str) -> FaultSpec:
        """``latency=50ms,error5xx=0.05,rate429=0.02,drop_after_commit=1,drop_after_commit_once,sse_drop_every=200``"""
        values: dict[str, Any] = {}
        for raw in filter(None, (part.strip() for part in spec.split(","))):
            name, _, value = raw.partition("=")
            name = name.strip()
            value = value.strip()
            if name == "latency":
                values[name + "_seconds"] = _parse_duration(value)
            elif name in ("error5xx", "rate429", "drop_after_commit"):
                values[name] = _parse_probability(name, value)
            elif name in ("ws_drop_every", "sse_drop_every"):
                if not value.isdigit():
                    raise OptionError(f"--faults: {name} needs a whole number of events, got {value!r}")
                values[name] = int(value)
            elif name == "drop_after_commit_once":
                if value not in ("", "1", "true"):
                    raise OptionError(f"--faults: drop_after_commit_once takes no value, got {value!r}")
                values[name] = True
            else:
                known = (
                    "latency, error5xx, rate429, drop_after_commit, drop_after_commit_once, ws_drop_every, "
                )
                raise OptionError(f"--faults: unknown fault {name!r} (known: {known}sse_drop_every)")
        return cls(**values)


def _parse_duration(value: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)?", value)
    if not match:
        raise OptionError(f"--faults: latency must look like 50ms or 0.2s, got {value!r}")
    number = float(match.group(1))
    return number / 1000 if match.group(2) in (None, "ms") else number


def _parse_probability(name: str, value: str) -> float:
    try:
        probability = float(value)
    except ValueError:
        raise OptionError(f"--faults: {name} must be a probability between 0 and 1, got {value!r}") from None
    if not 0.0 <= probability <= 1.0:
        raise OptionError(f"--faults: {name} must be between 0 and 1, got {value!r}")
    return probability


def parse_seed(kind: str) -> tuple[str, int]:
    """``demo`` -> ("demo", 0); ``empty`` -> ("empty", 0); ``scale:N`` -> ("scale", N)."""
    if kind in ("demo", "empty"):
        return kind, 0
    name, _, count = kind.partition(":")
    if name == "scale" and count.isdigit() and int(count) > 0:
        return "scale", int(count)
    raise OptionError(f"--seed must be demo, empty or scale:N (N a positive number), got {kind!r}")


@dataclass(frozen=True)
class SimOptions:
    host: str = "127.0.0.1"
    port: int = 0
    db_path: Path | None = None  # None: in memory
    seed: str = "demo"
    speed: float = 1.0
    faults: FaultSpec = field(default_factory=FaultSpec)
    rng_seed: int = 0
    rate_limit: int = 600  # requests per minute per token
    heartbeat_seconds: float = 15.0
    ws_ping_seconds: float = 20.0  # protocol-level pings on WebSockets (the Miteos socket)
    allow_remote: bool = False
    epoch: datetime | None = None  # None: the real current time


# ----------------------------------------------------------------------------------------------- database


class Database:
    """One sqlite3 connection (WAL, synchronous=FULL) used only from the event loop thread."""

    def __init__(self, path: Path | None) -> None:
        target = str(path) if path is not None else ":memory:"
        self.connection = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        self.connection.row_factory = sqlite3.Row
        if path is not None:
            self.connection.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before we answer, so kill -9 loses nothing acknowledged.
        self.connection.execute("PRAGMA synchronous=FULL")
        self.connection.execute("PRAGMA foreign_keys=ON")
        self._depth = 0
        self._on_rollback: list[Callable[[], None]] = []

    def on_rollback(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after a rollback (to drop caches of rows that were never committed)."""
        self._on_rollback.append(callback)

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        return self.connection.execute(sql, params)

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        return self.connection.executemany(sql, rows)

    def query(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        return self.connection.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.connection.execute(sql, params).fetchone()
        return row

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Database]:
        """BEGIN IMMEDIATE .. COMMIT (rolled back on error). Nested blocks join the outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        self.connection.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self
        except BaseException:
            self._depth = 0
            self.connection.execute("ROLLBACK")
            for callback in self._on_rollback:
                callback()
            raise
        self._depth = 0
        self.connection.execute("COMMIT")

    def close(self) -> None:
        self.connection.close()

    def meta_get(self, key: str) -> str | None:
        row = self.query_one("SELECT value FROM sim_meta WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    def meta_set(self, key: str, value: str) -> None:
        self.execute("INSERT OR REPLACE INTO sim_meta(key, value) VALUES (?, ?)", (key, value))


CORE_SCHEMA = """
CREATE TABLE IF NOT EXISTS sim_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sim_events (
    provider TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL,
    created_at TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (provider, seq)
);
CREATE TABLE IF NOT EXISTS sim_idempotency (
    token TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, key TEXT NOT NULL,
    body_hash TEXT NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (token, method, path, key)
);
"""


# ----------------------------------------------------------------------------------------------- clock


class SimClock:
    """Simulated time: starts at ``epoch`` and runs ``speed`` times faster than the wall clock."""

    def __init__(self, epoch: datetime, speed: float) -> None:
        self.epoch = epoch.astimezone(UTC)
        self.speed = speed
        self._started = time.monotonic()
        self._advanced = 0.0

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self._started) * self.speed + self._advanced
        return self.epoch + timedelta(seconds=elapsed)

    def advance(self, seconds: float) -> None:
        self._advanced += seconds

    @staticmethod
    def iso(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def now_iso(self) -> str:
        return self.iso(self.now())

    async def sleep(self, sim_seconds: float) -> None:
        await asyncio.sleep(max(0.0, sim_seconds) / self.speed)


# ----------------------------------------------------------------------------------------------- events


@dataclass(frozen=True)
class Event:
    seq: int
    id: str
    type: str
    created_at: str
    data: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        """The wire shape shared by the SSE and WebSocket streams (``seq`` included)."""
        return {
            "id": self.id,
            "seq": self.seq,
            "type": self.type,
            "created_at": self.created_at,
            "data": self.data,
        }


class EventLog:
    """Per-provider append-only event log in SQLite with a monotonically increasing ``seq``."""

    def __init__(self, db: Database, clock: SimClock) -> None:
        self._db = db
        self._clock = clock
        self._latest: dict[str, int] = {}
        self._changed: asyncio.Event | None = None
        self._appends_since_trim = 0
        db.on_rollback(self._latest.clear)

    def latest_seq(self, provider: str) -> int:
        if provider not in self._latest:
            row = self._db.query_one("SELECT MAX(seq) AS seq FROM sim_events WHERE provider = ?", (provider,))
            self._latest[provider] = int(row["seq"]) if row and row["seq"] is not None else 0
        return self._latest[provider]

    def oldest_seq(self, provider: str) -> int:
        """The oldest seq still kept (0 when the log is empty)."""
        row = self._db.query_one("SELECT MIN(seq) AS seq FROM sim_events WHERE provider = ?", (provider,))
        return int(row["seq"]) if row and row["seq"] is not None else 0

    def append(self, provider: str, type_: str, data: dict[str, Any]) -> Event:
        return self.append_many(provider, [(type_, data)])[0]

    def append_many(self, provider: str, items: list[tuple[str, dict[str, Any]]]) -> list[Event]:
        seq = self.latest_seq(provider)
        created_at = self._clock.now_iso()
        events = []
        for type_, data in items:
            seq += 1
            events.append(Event(seq, f"evt_{provider[:2]}_{seq:010d}", type_, created_at, data))
        with self._db.transaction():
            self._db.executemany(
                "INSERT INTO sim_events(provider, seq, id, type, created_at, data) VALUES (?, ?, ?, ?, ?, ?)",
                [(provider, e.seq, e.id, e.type, e.created_at, json.dumps(e.data)) for e in events],
            )
            self._appends_since_trim += len(events)
            if self._appends_since_trim >= 1000:
                self._appends_since_trim = 0
                self._db.execute(
                    "DELETE FROM sim_events WHERE provider = ? AND seq <= ?",
                    (provider, seq - EVENT_RETENTION),
                )
        self._latest[provider] = seq
        self._notify()
        return events

    def since(self, provider: str, after_seq: int, limit: int = 1000) -> list[Event]:
        rows = self._db.query(
            "SELECT seq, id, type, created_at, data FROM sim_events WHERE provider = ? AND seq > ? "
            "ORDER BY seq LIMIT ?",
            (provider, after_seq, limit),
        )
        return [Event(r["seq"], r["id"], r["type"], r["created_at"], json.loads(r["data"])) for r in rows]

    async def wait_for_new(self, provider: str, after_seq: int, timeout: float) -> bool:
        """True once an event after ``after_seq`` exists, False after ``timeout`` real seconds.

        Waiters share one asyncio.Event per round of appends (no lock: a stream cancelled while it waits,
        when its client goes away, must not leave a half-released Condition that starves every other one).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.latest_seq(provider) <= after_seq:
            if self._changed is None:
                self._changed = asyncio.Event()
            changed = self._changed
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                return self.latest_seq(provider) > after_seq
        return True

    def _notify(self) -> None:
        changed = self._changed
        if changed is None or not _has_loop():
            return
        self._changed = None  # the next round of waiters gets a fresh event
        changed.set()


def _has_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


# ----------------------------------------------------------------------------------------------- faults


class Faults:
    """Deterministic fault decisions drawn from their own RNG (seeded from --rng-seed)."""

    def __init__(self, spec: FaultSpec, rng_seed: int) -> None:
        self.spec = spec
        self._rng = random.Random(f"faults:{rng_seed}")
        self._dropped_once = False

    def _roll(self, probability: float) -> bool:
        return probability > 0 and (probability >= 1.0 or self._rng.random() < probability)

    def error5xx(self) -> bool:
        return self._roll(self.spec.error5xx)

    def rate429(self) -> bool:
        return self._roll(self.spec.rate429)

    def drop_after_commit(self) -> bool:
        if self.spec.drop_after_commit_once and not self._dropped_once:
            self._dropped_once = True
            return True
        return self._roll(self.spec.drop_after_commit)


# The transport of the connection serving the current request (set by DroppableH11Protocol), so that a fault
# can close the connection after the change is committed and before any byte of the answer is sent.
CURRENT_TRANSPORT: contextvars.ContextVar[asyncio.BaseTransport | None] = contextvars.ContextVar(
    "shipdeck_sim_transport", default=None
)
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("shipdeck_sim_request_id", default="")


def abort_current_connection() -> bool:
    transport = CURRENT_TRANSPORT.get()
    if transport is None:
        return False
    abort = getattr(transport, "abort", None)
    if abort is None:
        transport.close()
    else:
        abort()
    return True


# ----------------------------------------------------------------------------------------------- errors


def miosa_error(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "error": {"code": code, "message": message, "details": details or {}},
        "message": message,
    }
    if REQUEST_ID.get():
        body["request_id"] = REQUEST_ID.get()
    if headers and "Retry-After" in headers:
        body["retry_after"] = int(headers["Retry-After"])
    return JSONResponse(body, status_code=status, headers=headers)


def miteos_error(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    # Miteos errors are FastAPI-style: the message (or a 422 list) in "detail"; the code is not on the wire.
    return JSONResponse(
        {"detail": details if isinstance(details, list) else message}, status, headers=headers
    )


def mixpeek_error(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {
        "success": False,
        "status": status,
        "error": {"message": message, "type": _MIXPEEK_TYPES.get(code, code), "details": details or {}},
    }
    return JSONResponse(body, status_code=status, headers=headers)


# Mixpeek names error types like exception classes (contract B.1); the gateway's shared codes, in its words.
_MIXPEEK_TYPES = {
    "UNAUTHORIZED": "UnauthorizedError",
    "FORBIDDEN": "ForbiddenError",
    "NOT_FOUND": "NotFoundError",
    "METHOD_NOT_ALLOWED": "MethodNotAllowedError",
    "IDEMPOTENCY_PAYLOAD_MISMATCH": "ConflictError",
    "RATE_LIMITED": "TooManyRequestsError",
    "SERVICE_UNAVAILABLE": "ServiceUnavailableError",
}


_ERROR_BUILDERS: dict[str, Callable[..., JSONResponse]] = {
    "miosa": miosa_error,
    "miteos": miteos_error,
    "mixpeek": mixpeek_error,
}


def provider_error(
    provider: str,
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return _ERROR_BUILDERS[provider](status, code, message, details, headers)


# ----------------------------------------------------------------------------------------------- idempotency


class Mutation:
    """One mutating request inside its transaction: a stored replay, or the place to record the answer."""

    def __init__(self, ctx: SimContext, key_fields: tuple[str, str, str, str] | None, body_hash: str) -> None:
        self._ctx = ctx
        self._key_fields = key_fields
        self._body_hash = body_hash
        self.replay: Response | None = None

    def respond(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> JSONResponse:
        """The JSON answer; stored for replay, in the same transaction, when there is an Idempotency-Key."""
        if self._key_fields is not None:
            self._ctx.db.execute(
                "INSERT OR REPLACE INTO sim_idempotency"
                "(token, method, path, key, body_hash, status, body, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (*self._key_fields, self._body_hash, status, json.dumps(payload), self._ctx.clock.now_iso()),
            )
        return JSONResponse(payload, status_code=status, headers=headers)


def body_fingerprint(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")) if body is not None else ""
    return hashlib.sha256(canonical.encode()).hexdigest()


# ----------------------------------------------------------------------------------------------- context


class SimContext:
    """Everything a provider module needs; one per server process."""

    def __init__(self, options: SimOptions) -> None:
        self.options = options
        self.db = Database(options.db_path)
        self.db.connection.executescript(CORE_SCHEMA)
        self.clock = SimClock(options.epoch or datetime.now(UTC), options.speed)
        # Ids are random draws from this generator. A restart on the same database must not draw the ids it
        # drew before (a publish after a restart failed on 'UNIQUE constraint failed: miosa_versions.id'):
        # each start of a database draws from a stream of its own, still reproducible from --rng-seed.
        starts = int(self.db.meta_get("starts") or "0")
        self.db.meta_set("starts", str(starts + 1))
        self.rng = random.Random(options.rng_seed if starts == 0 else f"{options.rng_seed}:start:{starts}")
        self.faults = Faults(options.faults, options.rng_seed)
        self.events = EventLog(self.db, self.clock)
        self.heartbeat_seconds = options.heartbeat_seconds
        self.request_log: deque[dict[str, Any]] = deque(maxlen=100_000)
        self._request_seq = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        # Set when the server was told to stop (Ctrl-C, SIGTERM): requests still open then (event and log
        # streams never end by themselves) are cancelled by the server, and end quietly.
        self.stopping = False

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a background job (a pipeline), tracked and cancelled at shutdown; failures are logged."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._job_done)
        return task

    def _job_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background job failed", exc_info=task.exception())

    async def shutdown(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.db.close()

    @contextlib.contextmanager
    def idempotent(self, request: Request, body: Any) -> Iterator[Mutation]:
        """The transaction of one mutation, with the house idempotency rules.

        Same (token, method, path, Idempotency-Key) and same body: ``idem.replay`` is the stored answer with
        ``Idempotency-Replayed: true``. Different body: ``idem.replay`` is a 409 IDEMPOTENCY_PAYLOAD_MISMATCH.
        """
        token = token_of(request)
        key = request.headers.get("idempotency-key")
        key_fields = (token.token, request.method, request.url.path, key) if key else None
        fingerprint = body_fingerprint(body)
        with self.db.transaction():
            mutation = Mutation(self, key_fields, fingerprint)
            if key_fields is not None:
                self._purge_expired_idempotency()
                stored = self.db.query_one(
                    "SELECT body_hash, status, body FROM sim_idempotency "
                    "WHERE token = ? AND method = ? AND path = ? AND key = ?",
                    key_fields,
                )
                if stored is not None and stored["body_hash"] == fingerprint:
                    mutation.replay = Response(
                        stored["body"],
                        status_code=stored["status"],
                        media_type="application/json",
                        headers={"Idempotency-Replayed": "true"},
                    )
                elif stored is not None:
                    mutation.replay = provider_error(
                        token.provider,
                        409,
                        "IDEMPOTENCY_PAYLOAD_MISMATCH",
                        "This Idempotency-Key was already used with a different request body.",
                        {"idempotency_key": key},
                    )
            yield mutation

    def _purge_expired_idempotency(self) -> None:
        cutoff = self.clock.iso(self.clock.now() - IDEMPOTENCY_TTL)
        self.db.execute("DELETE FROM sim_idempotency WHERE created_at < ?", (cutoff,))

    def log_request(
        self,
        method: str,
        path: str,
        token_kind: str,
        status: int,
        request_id: str,
        *,
        idempotency_key: str | None = None,
    ) -> None:
        self._request_seq += 1
        self.request_log.append(
            {
                "seq": self._request_seq,
                "method": method,
                "path": path,
                "token_kind": token_kind,
                "status": status,
                "request_id": request_id,
                "idempotency_key": idempotency_key,
            }
        )


# ----------------------------------------------------------------------------------------------- JSON bodies


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


# ----------------------------------------------------------------------------------------------- SSE


def sse_frame(data: Any, *, event: str | None = None, event_id: int | str | None = None) -> str:
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event is not None:
        lines.append(f"event: {event}")
    text = data if isinstance(data, str) else json.dumps(data)
    lines.extend(f"data: {line}" for line in text.split("\n"))
    return "\n".join(lines) + "\n\n"


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)

"""SimContext: everything a surface needs, one per server process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from shipdeck.sim.auth import token_of
from shipdeck.sim.clock import SimClock
from shipdeck.sim.db import CORE_SCHEMA, Database
from shipdeck.sim.errors import provider_error
from shipdeck.sim.events import EventLog
from shipdeck.sim.faults import Faults
from shipdeck.sim.idempotency import IDEMPOTENCY_TTL, Mutation, body_fingerprint
from shipdeck.sim.options import SimOptions

log = logging.getLogger("shipdeck.sim")


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
        # The requests that never end by themselves (event streams, WebSockets): cancelled first at shutdown,
        # so that Ctrl-C does not wait out uvicorn's graceful timeout with a console connected.
        self.open_streams: set[asyncio.Task[Any]] = set()

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

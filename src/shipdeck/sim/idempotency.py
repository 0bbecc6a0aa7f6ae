"""Idempotency-Key handling: a stored replay, or the place to record a mutation's answer."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from shipdeck.sim.context import SimContext


IDEMPOTENCY_TTL = timedelta(hours=24)


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

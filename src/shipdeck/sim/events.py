"""The per-provider append-only event log that every stream tails."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from shipdeck.sim.clock import SimClock
from shipdeck.sim.db import Database

EVENT_RETENTION = 20_000  # per provider; the contract promises at least 10,000


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

"""The sandbox's one SQLite connection and the core tables (meta, events, idempotency)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


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

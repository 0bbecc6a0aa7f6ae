"""The operator's audit log: every mutation, an "intent" line before it is sent and an "outcome" line after.

JSON lines under the state dir. Each line is written with one ``write`` on an ``O_APPEND`` descriptor
and fsynced, so lines never interleave and a crash loses at most the line being written. A corrupt
line is skipped and reported by :func:`read_audit`, never fatal. Tokens never reach this file.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shipdeck.config.paths import audit_log_file, ensure_private_dir


@dataclass(frozen=True)
class AuditIntent:
    id: str
    action: str
    target: str
    idempotency_key: str | None


class AuditLog:
    def __init__(self, path: Path | None = None, *, profile: str, provider: str) -> None:
        self.path = path or audit_log_file()
        self.profile = profile
        self.provider = provider

    def _append(self, record: dict[str, Any]) -> None:
        ensure_private_dir(self.path.parent)
        line = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if os.name == "posix" and os.fstat(fd).st_mode & 0o077:
                os.fchmod(fd, 0o600)  # created by an older version or by hand: tighten it
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                # The last write was cut short (crash, full disk): end that torn line so this record
                # starts a line of its own instead of being glued to it (and lost with it).
                line = b"\n" + line
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def intent(
        self,
        action: str,
        target: str,
        *,
        idempotency_key: str | None = None,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditIntent:
        rec = AuditIntent(uuid.uuid4().hex[:12], action, target, idempotency_key)
        self._append(
            {
                "time": _now(),
                "phase": "intent",
                "audit_id": rec.id,
                "profile": self.profile,
                "provider": self.provider,
                "action": action,
                "target": target,
                "idempotency_key": idempotency_key,
                "reason": reason,
                "details": details or {},
            }
        )
        return rec

    def outcome(
        self,
        intent: AuditIntent,
        outcome: str,
        *,
        request_id: str | None = None,
        error: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """``outcome``: "ok", "refused" (the API said no), "failed" (no answer), "unknown"."""
        self._append(
            {
                "time": _now(),
                "phase": "outcome",
                "audit_id": intent.id,
                "profile": self.profile,
                "provider": self.provider,
                "action": intent.action,
                "target": intent.target,
                "idempotency_key": intent.idempotency_key,
                "outcome": outcome,
                "request_id": request_id,
                "error": error,
                "details": details or {},
            }
        )


@dataclass(frozen=True)
class AuditReadProblem:
    line_number: int
    reason: str


def read_audit(path: Path | None = None) -> Iterator[dict[str, Any] | AuditReadProblem]:
    """Every record in order; a line that is not a JSON object yields an AuditReadProblem instead."""
    path = path or audit_log_file()
    if not path.exists():
        return
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                yield AuditReadProblem(number, f"not valid JSON ({exc.__class__.__name__})")
                continue
            if not isinstance(record, dict):
                yield AuditReadProblem(number, "not a JSON object")
                continue
            yield record


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

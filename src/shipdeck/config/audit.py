"""The operator's audit log: every change recorded once, an "intent" line before it is sent and one
"outcome" line after ("ok", "refused", "failed" when nothing can have been applied, "unknown" when the answer
never came back whole). A change resent after an unknown outcome adds "attempt" lines under the same audit
id, and the outcome learned later is one "reconciled" line ("applied" or "not applied").

JSON lines under the state dir. Each line is written with one ``write`` on an ``O_APPEND`` descriptor
and fsynced, so lines never interleave and a crash loses at most the line being written. A corrupt
line is skipped and reported by :func:`read_audit`, never fatal. Tokens never reach this file.
"""

from __future__ import annotations

import errno
import getpass
import json
import math
import os
import socket
import stat
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
    def __init__(
        self, path: Path | None = None, *, profile: str, provider: str, origin: str | None = None
    ) -> None:
        """``origin``: the server's scheme, host and port (which control plane the change went to)."""
        self.path = path or audit_log_file()
        self.profile = profile
        self.provider = provider
        self.origin = origin

    def _append(self, record: dict[str, Any]) -> None:
        ensure_private_dir(self.path.parent)
        line = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode()
        fd = _open_own_file(self.path)
        try:
            info = os.fstat(fd)
            if os.name == "posix" and info.st_mode & 0o077 and info.st_uid == os.getuid():
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

    def _record(self, intent: AuditIntent, phase: str, **fields: Any) -> None:
        """One line about ``intent``'s change: the fields every phase carries, then ``fields``."""
        self._append(
            {
                "time": _now(),
                "phase": phase,
                "audit_id": intent.id,
                "profile": self.profile,
                "provider": self.provider,
                "action": intent.action,
                "target": intent.target,
                "idempotency_key": intent.idempotency_key,
                **fields,
            }
        )

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
        self._record(rec, "intent", reason=reason, details=details or {}, actor=actor(), origin=self.origin)
        return rec

    def attempt(self, intent: AuditIntent, number: int, *, note: str) -> None:
        """The change was sent again (same idempotency key) after an unknown outcome."""
        self._record(intent, "attempt", attempt=number, note=note)

    def reconciled(
        self,
        intent: AuditIntent,
        *,
        applied: bool | None,
        how: str,
        request_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """The outcome of a change that was unknown, learned later: ``how`` says from what. None: the
        change is closed with its outcome still unknown (``how`` says why)."""
        outcome = "applied" if applied else "not applied" if applied is False else "still unknown, closed"
        self._record(
            intent, "reconciled", outcome=outcome, how=how, request_id=request_id, details=details or {}
        )

    def outcome(
        self,
        intent: AuditIntent,
        outcome: str,
        *,
        request_id: str | None = None,
        error: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """``outcome``: "ok", "refused" (the API said no), "failed" (not applied: nothing reached the
        server), "unknown" (it may have been applied)."""
        self._record(
            intent, "outcome", outcome=outcome, request_id=request_id, error=error, details=details or {}
        )

    def health_after(
        self,
        intent: AuditIntent,
        health: dict[str, Any] | None,
        *,
        after_s: float,
        active: str | None = None,
        undone: bool = False,
    ) -> None:
        """The deployment's service health ``after_s`` seconds after the change (the console was open);
        ``active``: the version live then, ``undone``: not the one the change put live (another change
        since: the figures are that version's, not this change's)."""
        self._record(
            intent,
            "health",
            after_s=round(after_s),
            health_after=health,
            active_version=active,
            undone=undone,
        )


def _open_own_file(path: Path) -> int:
    """The audit log opened for appending: never through a symbolic link (the records, and the chmod to
    0600, went to whatever file the link named), and only a regular file. OSError says why, in words."""
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if path.is_symlink():
            raise OSError(
                errno.ELOOP, "it is a symbolic link; give audit_log the file itself, not a link to it"
            ) from exc
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "it is not a regular file")
    return fd


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


def server_origin(base_url: str) -> str:
    """``scheme://host:port`` of a base URL (the port always written): which server a change went to."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(base_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "(invalid base URL)"
    return f"{parts.scheme}://{parts.hostname}:{port}"


def actor() -> dict[str, str]:
    """Who made the change from where: the OS user and the host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return {"user": user, "host": socket.gethostname()}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _on_off(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return "?"


def change_of(record: dict[str, Any]) -> str:
    """What a record's change was, for people: ``v6 -> v5 (staging)``, ``LOG_LEVEL``, ``www.example.com``."""
    details = record.get("details")
    if not isinstance(details, dict):
        return ""
    parts: list[str] = []
    auto_deploy = details.get("auto_deploy")
    if isinstance(auto_deploy, dict):  # a hold, or its way back: both were "update -"
        parts.append(f"auto-deploy {_on_off(auto_deploy.get('from'))} -> {_on_off(auto_deploy.get('to'))}")
    if record.get("action") == "redeploy" and details.get("from") is not None and details.get("to") is None:
        parts.append(f"rebuild of {details['from']}")  # not "v4 -> -": it makes a new version
    elif details.get("to") is not None or details.get("from") is not None:
        parts.append(f"{details.get('from') or '-'} -> {details.get('to') or '-'}")
    keys = details.get("keys")
    if isinstance(keys, list) and keys:
        parts.append(", ".join(str(key) for key in keys))
    if details.get("domain"):
        parts.append(str(details["domain"]))
    if details.get("environment"):
        parts.append(f"({details['environment']})")
    return " ".join(parts)


def result_of(record: dict[str, Any]) -> str:
    """A record's result, for people: the outcome and its error, the reconciliation, the reason."""
    phase = record.get("phase")
    if phase == "outcome":
        text = str(record.get("outcome") or "-")
        return text + (f": {record['error']}" if record.get("error") else "")
    if phase == "reconciled":
        return f"{record.get('outcome')} (found by {record.get('how')})"
    if phase == "attempt":
        return f"attempt {record.get('attempt')}: {record.get('note')}"
    if phase == "health":
        # A line edited by hand holds anything: ``"after_s": "zz"`` was a ValueError out of `shipdeck audit`.
        after = record.get("health_after")
        rate = _finite(after.get("error_rate")) if isinstance(after, dict) else None
        figure = f"{rate * 100:.1f}% errors" if rate is not None else "no figures"
        after_s = _finite(record.get("after_s"))
        text = f"health {'?' if after_s is None else round(after_s / 60)} min after: {figure}"
        if record.get("undone"):
            text += f" ({record.get('active_version') or 'another version'} live by then: changed since)"
        return text
    return f"reason: {record['reason']}" if record.get("reason") else ""


def _finite(value: Any) -> float | None:
    """A record's number, or None when it is none (text, a boolean, NaN, infinity)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)

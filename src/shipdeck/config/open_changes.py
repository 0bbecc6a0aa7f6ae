"""Changes whose outcome is unknown, kept across runs so that asking again replays instead of repeating.

When a change was sent and its answer never came back whole, shipdeck cannot tell whether the server
applied it. It records the change here (profile, identity, idempotency key, audit id, what it was) until
its outcome is known. Asking for the same change again within :data:`KEEP_FOR` seconds reuses that key, so
the server replays its first answer rather than acting twice (a second ``shipdeck rollback`` run does not
roll back a second step). A JSON file in the private state dir, 0600, holding no token and no env value.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shipdeck.config.paths import ensure_private_dir, open_changes_file

# Servers keep idempotency records for 24 h (Miosa's contract); past that a key proves nothing.
KEEP_FOR = 24 * 3600.0
MAX_ENTRIES = 500

_LOCK_FILES: dict[Path, int] = {}


def _lock_descriptor(path: Path) -> int:
    """The process's one descriptor of a lock file (closing another would drop its locks)."""
    fd = _LOCK_FILES.get(path)
    if fd is None:
        ensure_private_dir(path.parent)
        fd = _LOCK_FILES[path] = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    return fd


@dataclass
class OpenChange:
    profile: str
    identity: str
    idempotency_key: str
    audit_id: str
    action: str
    target: str
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    # Requests sent so far with its key (the audit numbers a later run's attempts from here).
    attempts: int = 1

    @property
    def age(self) -> float:
        return max(0.0, time.time() - self.created)

    @classmethod
    def from_json(cls, item: Any) -> OpenChange | None:
        """An entry of the file, or None when it is not one as written (a field missing or of another
        type: a hand edit, another version's file). Read unchecked, ``"created": "zz"`` and
        ``"identity": 5`` made every later rollback and promote fail on a TypeError or an AttributeError.
        Keys this version does not know are left out."""
        if not isinstance(item, dict) or not all(isinstance(item.get(name), str) for name in _TEXT_FIELDS):
            return None
        details = item.get("details", {})
        created = item.get("created", 0.0)
        attempts = item.get("attempts", 1)
        if not isinstance(details, dict) or not _number(created) or not _number(attempts):
            return None
        if not math.isfinite(created) or not isinstance(attempts, int):
            return None
        texts = {name: item[name] for name in _TEXT_FIELDS}
        return cls(**texts, details=details, created=float(created), attempts=attempts)


_TEXT_FIELDS = ("profile", "identity", "idempotency_key", "audit_id", "action", "target", "summary")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class OpenChanges:
    """The file of open changes; every method reads it anew (several shipdeck processes share it)."""

    def __init__(self, path: Path | None = None, *, warn: Callable[[str], None] | None = None) -> None:
        """``warn``: told once (per instance) that entries of the file were unreadable and skipped."""
        self.path = path or open_changes_file()
        self._warn = warn
        self._warned = False

    def all(self, profile: str | None = None) -> list[OpenChange]:
        return [c for c in self._read() if profile is None or c.profile == profile]

    def find(self, profile: str, identity: str) -> OpenChange | None:
        return next((c for c in self._read() if (c.profile, c.identity) == (profile, identity)), None)

    def find_prefix(self, profile: str, prefix: str) -> OpenChange | None:
        """The newest open change of ``profile`` whose identity starts with ``prefix``."""
        found = [c for c in self._read() if c.profile == profile and c.identity.startswith(prefix)]
        return max(found, key=lambda c: c.created) if found else None

    def add(self, change: OpenChange) -> None:
        with self._locked():
            entries = [
                c for c in self._read() if (c.profile, c.identity) != (change.profile, change.identity)
            ]
            entries.append(change)
            self._write(entries[-MAX_ENTRIES:])

    def remove(self, profile: str, identity: str) -> None:
        with self._locked():
            entries = self._read()
            kept = [c for c in entries if (c.profile, c.identity) != (profile, identity)]
            if len(kept) != len(entries):
                self._write(kept)

    @contextlib.contextmanager
    def sending(self, profile: str, identity: str) -> Iterator[bool]:
        """Hold one change's lock while it is sent: True, or False when another shipdeck process is sending
        the same change now (two terminals, a script beside the console); POSIX only (elsewhere: True).

        One lock file, one byte of it per change (by a digest of profile and identity), so that no file is
        left behind per change. Record locks belong to the process and go when any of its descriptors of
        the file closes, so the file stays open for the life of the process.
        """
        try:
            import fcntl
        except ImportError:
            yield True
            return
        fd = _lock_descriptor(self.path.with_name(f".{self.path.name}.sending"))
        digest = hashlib.blake2b(f"{profile}\0{identity}".encode(), digest_size=4).digest()
        offset = int.from_bytes(digest, "big")
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset)

    # -- file -------------------------------------------------------------------------------------------
    def _read(self) -> list[OpenChange]:
        try:
            raw = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return []  # none yet
        except OSError as exc:
            # Unreadable: it only loses the replay of the changes it held, never a change.
            self._skipped(f"it cannot be read ({exc.strerror or exc.__class__.__name__})")
            return []
        except (ValueError, RecursionError):
            self._skipped("it is not valid JSON")
            return []
        if not isinstance(raw, list):
            self._skipped("it is not a list of changes")
            return []
        now = time.time()
        out: list[OpenChange] = []
        bad = 0
        for item in raw:
            change = OpenChange.from_json(item)
            if change is None:
                bad += 1
            elif now - change.created < KEEP_FOR:
                out.append(change)
        if bad:
            self._skipped(f"{bad} of its {len(raw)} entries are unreadable and skipped, the others kept")
        return out

    def _skipped(self, why: str) -> None:
        if self._warn is not None and not self._warned:
            self._warned = True
            self._warn(f"{self.path.name}: {why} (a change it held, asked again, is sent under a new key)")

    def _write(self, entries: list[OpenChange]) -> None:
        ensure_private_dir(self.path.parent)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, json.dumps([asdict(c) for c in entries], ensure_ascii=False).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        ensure_private_dir(self.path.parent)
        lock = self.path.with_name(f".{self.path.name}.lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX)
            except ImportError:  # not POSIX: one process at a time is the user's job
                pass
            yield
        finally:
            os.close(fd)

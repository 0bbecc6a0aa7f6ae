"""The last known list of deployments of each profile, so that the console starts with what it last saw
("as of 3 min ago, connecting") and still shows it when the API is down at start.

One JSON file per profile in the user cache dir, owner-only (0600), written atomically. It holds the
deployments' declared fields only (names, states, URLs, version numbers, times), never a token, header or
env value; the live state decides what goes in. Bounded: at most MAX_ROWS rows are written and a file over
MAX_BYTES is not read. A missing, foreign or damaged file is no cache (never an error): the console then
starts as it would without one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from shipdeck.config.paths import cache_dir

FORMAT = 1
MAX_ROWS = 100_000
MAX_BYTES = 64 * 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def server_identity(base_url: str) -> str:
    """What a cache is valid for: the URL, without the port for a loopback host (the sandbox picks a free
    port each time it starts, and is the same sandbox)."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    netloc = host if host in _LOOPBACK else parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def cache_file(profile: str, provider: str, base_url: str, directory: Path | None = None) -> Path:
    """The cache file of a profile (its name, provider and server make the key)."""
    digest = hashlib.sha256(f"{provider}\n{server_identity(base_url)}".encode()).hexdigest()[:16]
    name = _UNSAFE.sub("_", profile)[:64] or "profile"
    return (directory or cache_dir()) / f"deployments-{name}-{digest}.json"


@dataclass(frozen=True)
class CachedList:
    saved_at: datetime
    rows: list[dict[str, Any]]


def write_cache(path: Path, rows: list[dict[str, Any]], saved_at: datetime) -> None:
    """Replace the cache at ``path`` (owner-only, atomic). Rows past MAX_ROWS are left out."""
    body = json.dumps(
        {"format": FORMAT, "saved_at": saved_at.isoformat(), "rows": rows[:MAX_ROWS]},
        separators=(",", ":"),
    )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temporary = tempfile.mkstemp(prefix=".deployments-", dir=path.parent)  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(body)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_cache(path: Path) -> CachedList | None:
    """The cache at ``path``, or None when there is none (missing, too big, not ours, damaged)."""
    try:
        if path.stat().st_size > MAX_BYTES:
            return None
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("rows"), list):
        return None
    try:
        saved_at = datetime.fromisoformat(str(data.get("saved_at")))
        if saved_at.utcoffset() is None:
            return None
        saved_at = saved_at.astimezone(UTC)  # one at the year limits overflows: no cache, as no row
    except (ValueError, OverflowError):
        return None
    rows = [row for row in data["rows"][:MAX_ROWS] if isinstance(row, dict)]
    return CachedList(saved_at, rows)

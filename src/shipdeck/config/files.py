"""Reading a small file the user points shipdeck at (the config file, a theme file), bounded.

Only a regular file is read, and at most ``limit`` bytes of it: a named pipe would block the read forever,
and a link to ``/dev/zero`` (or a huge file) would fill memory. One rule for every such file, so the config
loader and the theme loader cannot drift apart.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class FileRefused(Exception):
    """Not a file shipdeck reads: ``kind`` says what it is instead, or ``too_large`` that it is too big."""

    def __init__(self, *, kind: str | None = None, too_large: bool = False) -> None:
        super().__init__(kind or "too large")
        self.kind = kind
        self.too_large = too_large


def read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of ``path``. Raises FileNotFoundError / OSError as opened, FileRefused for anything but a
    regular file of at most ``limit`` bytes. Opened without blocking (a pipe put in the file's place after a
    check would otherwise hang the open), then checked on the open descriptor."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(kind=describe_kind(info))
        if info.st_size > limit:
            raise FileRefused(too_large=True)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise FileRefused(too_large=True)  # it grew since the fstat
    return b"".join(chunks)


def describe_kind(info: os.stat_result) -> str:
    """What a path that is not a regular file is, for a message."""
    if stat.S_ISDIR(info.st_mode):
        return "a directory"
    if stat.S_ISFIFO(info.st_mode):
        return "a named pipe"
    if stat.S_ISSOCK(info.st_mode):
        return "a socket"
    return "a device"

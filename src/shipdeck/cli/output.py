"""Output of the scriptable commands: aligned tables for humans, JSON for machines, one-line errors."""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

from pydantic import BaseModel

from shipdeck.model import HEALTH_SYMBOL, HEALTH_SYMBOL_ASCII, Version, health_of
from shipdeck.model.masking import mask_secrets


class CliError(Exception):
    """A refusal of the command line itself (bad usage, nothing to do, declined prompt)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


# Server text may hold escape sequences (an OSC 52 clipboard write, CSI that clears the screen), BEL,
# carriage returns that hide what came before, or 8-bit C1 controls. None of them may reach a terminal:
# every C0 control but tab and newline, DEL and every C1 control is shown as '?'.
_TERMINAL_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# In JSON, C0 controls are already escaped by json.dumps; DEL and C1 are not (they are legal raw).
_JSON_RAW_CONTROLS = re.compile("[\x7f-\x9f]")


# Characters that change how text reads without showing themselves (bidi controls such as U+202E, zero-width
# spaces and joiners, BOM): printed as their escape, `\u202e`, so `safe\u200bname` never reads as `safename`.
# (The console's twin is shipdeck.tui.text.literal.) In --json output the escape is the same JSON string.
_INVISIBLE = re.compile("[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
# A table cell is one line: a line break or tab in server text must not start a line of its own.
_CELL_BREAKS = re.compile("[\t\n\r]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def terminal_safe(text: str) -> str:
    return _INVISIBLE.sub(_escape, _TERMINAL_UNSAFE.sub("?", text))


class TerminalSafeStream:
    """A text stream that writes everything through :func:`terminal_safe` (other attributes pass through)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(terminal_safe(text))

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


@contextmanager
def terminal_safe_output() -> Iterator[None]:
    """stdout and stderr pass through :class:`TerminalSafeStream` for the duration (scriptable commands)."""
    saved = sys.stdout, sys.stderr
    sys.stdout = TerminalSafeStream(saved[0])  # type: ignore[assignment]
    sys.stderr = TerminalSafeStream(saved[1])  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def error_line(message: str, stream: TextIO | None = None) -> None:
    """One line on stderr, whatever the message holds (a server may send newlines or escapes)."""
    flat = terminal_safe(" ".join(message.split()))
    print(f"shipdeck: error: {flat}", file=stream or sys.stderr)


def warning_line(message: str, stream: TextIO | None = None) -> None:
    print(f"shipdeck: warning: {terminal_safe(' '.join(message.split()))}", file=stream or sys.stderr)


def to_jsonable(value: Any) -> Any:
    """JSON values of models, lists and dicts; a non-finite float (NaN, Infinity, which strict parsers
    refuse) is null: the api's parsing lets none through as a figure, but a model keeps a provider's extra
    fields as they came, and Python's JSON reader reads a literal NaN."""
    if isinstance(value, BaseModel):
        return to_jsonable(value.model_dump(mode="json"))
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    return value


def json_text(value: Any, *, indent: int | None = 2) -> str:
    """``value`` as JSON for a terminal: DEL and C1 controls in strings escaped (\\u009b) like json escapes
    C0 ones; env values a provider's object carries (Mixpeek's build config) masked
    (shipdeck.model.masking); never NaN or Infinity. ``indent`` None: one line (a ``--watch --json`` line,
    which wrote a server's raw C1 CSI to the terminal)."""
    shown = mask_secrets(to_jsonable(value), names=False)
    text = json.dumps(shown, indent=indent, ensure_ascii=False, default=str, allow_nan=False)
    return _JSON_RAW_CONTROLS.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def print_json(value: Any, stream: TextIO | None = None) -> None:
    """Indented JSON (:func:`json_text`)."""
    print(json_text(value), file=stream or sys.stdout)


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], stream: TextIO | None = None, *, empty: str = ""
) -> None:
    out = stream or sys.stdout
    if not rows:
        if empty:
            print(empty, file=out)
        return
    rows = [[_CELL_BREAKS.sub("?", cell) for cell in row] for row in rows]
    widths = [max(len(headers[i]), *(len(row[i]) for row in rows)) for i in range(len(headers))]
    for row in [list(headers), *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        print("  ".join(cells).rstrip(), file=out)


def state_text(state: str | None) -> str:
    """A state as symbol and word, never by colour alone; ASCII symbols when the terminal is not UTF-8."""
    symbols = HEALTH_SYMBOL if _utf8(sys.stdout) else HEALTH_SYMBOL_ASCII
    return f"{symbols[health_of(state)]} {state or 'unknown'}"


def _utf8(stream: TextIO) -> bool:
    encoding = getattr(stream, "encoding", None) or ""
    return encoding.lower().replace("-", "") == "utf8"


def age(when: datetime | None, now: datetime | None = None) -> str:
    if when is None:
        return "-"
    seconds = int(((now or datetime.now(UTC)) - when).total_seconds())
    if seconds < 0:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def shorten(text: str | None, width: int = 48) -> str:
    if not text:
        return ""
    line = " ".join(text.split())
    if len(line) <= width:
        return line
    ellipsis = "…" if _utf8(sys.stdout) else "..."
    return line[: width - len(ellipsis)] + ellipsis


def version_summary(version: Version | None) -> str:
    """``v12 ready, 3h ago, by alice: "fix login"`` for previews."""
    if version is None:
        return "(none)"
    parts = [f"{version.label} {version.state}", age(version.created_at)]
    if version.author:
        parts.append(f"by {version.author}")
    text = ", ".join(parts)
    if version.message:
        text += f': "{shorten(version.message, 60)}"'
    return text

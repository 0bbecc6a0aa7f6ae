"""Small formatting helpers shared by the console's widgets: ages, states, literal server text."""

from __future__ import annotations

import os
import re
from datetime import datetime

from shipdeck.model import HEALTH_SYMBOL, HEALTH_SYMBOL_ASCII, Health, health_of

__all__ = ["INVISIBLE_CHARS", "age_text", "literal", "state_label", "state_symbol"]

# C0 controls except tab, DEL and C1 controls: none of them may reach the terminal.
_CONTROL_CHARS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# Characters that change how text reads without showing themselves: bidi embeddings, overrides and isolates
# (U+202E makes 'txt.exe' read as 'exe.txt'), marks, zero-width spaces and joiners, the word joiner, the
# BOM / zero-width no-break space, the soft hyphen and the Mongolian vowel separator. `safe\u200bname` must
# not look like `safename`.
INVISIBLE_CHARS = re.compile("[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def _shown_as_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def literal(text: object) -> str:
    """Server text made safe to show on one line: control characters (ESC included) become '?', and
    invisible formatting characters (bidi controls, zero-width characters, BOM) are shown as their escape
    (``\\u202e``), so that what is shown is what is there."""
    return INVISIBLE_CHARS.sub(_shown_as_escape, _CONTROL_CHARS.sub("?", str(text)))


def ascii_symbols() -> bool:
    """SHIPDECK_ASCII set to anything but "" or "0": state symbols in ASCII (terminals without the glyphs)."""
    return os.environ.get("SHIPDECK_ASCII", "") not in ("", "0")


def state_symbol(health: Health) -> str:
    table = HEALTH_SYMBOL_ASCII if ascii_symbols() else HEALTH_SYMBOL
    return table[health]


def state_label(state: str | None) -> str:
    """A state as symbol and word (never colour alone): '● running', '? mystery'."""
    return f"{state_symbol(health_of(state))} {literal(state or 'unknown')}"


def age_text(at: datetime | None, now: datetime) -> str:
    """A short age: 42s, 5m, 3h, 12d ('-' when unknown; future times count as 0s)."""
    if at is None:
        return "-"
    seconds = max(0, int((now - at).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"

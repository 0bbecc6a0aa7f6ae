"""Small formatting helpers shared by the console's widgets: ages, states, literal server text."""

from __future__ import annotations

import os
from datetime import datetime

from shipdeck.model import HEALTH_SYMBOL, HEALTH_SYMBOL_ASCII, Health, health_of
from shipdeck.tui.widgets.event_log import literal

__all__ = ["age_text", "literal", "state_label", "state_symbol"]


def state_symbol(health: Health) -> str:
    table = HEALTH_SYMBOL_ASCII if os.environ.get("SHIPDECK_ASCII") else HEALTH_SYMBOL
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

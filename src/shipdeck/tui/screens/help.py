"""`?`: every key of the screen underneath, generated from its live bindings (so a remapped key shows as
remapped), with the reason next to any action that is unavailable here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.keys import format_key
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from shipdeck.tui.widgets.nav_table import NavScroll

Unavailable = Callable[[str], str | None]


def describe_key(key: str) -> str:
    """Textual key names as a person writes them ('ctrl+p', 'P', '/', ']', 'esc', 'enter')."""
    # Words rather than the arrow and return symbols Textual uses: they survive any terminal font.
    words = {"up": "up", "down": "down", "left": "left", "right": "right", "enter": "enter"}
    return words.get(key) or format_key(key)


def help_rows(screen: Screen[object], unavailable: Unavailable) -> list[tuple[str, str, str]]:
    """(keys, what it does, binding id) for every binding active on ``screen``, one row per binding.

    shipdeck's own bindings (those with an id) come first, in the order the screen defines them.
    """
    grouped: dict[tuple[str, str], tuple[list[str], Binding]] = {}
    for key, active in screen.active_bindings.items():
        binding = active.binding
        keys, _ = grouped.setdefault((binding.id or "", binding.action), ([], binding))
        if describe_key(key) not in keys:
            keys.append(describe_key(key))
    rows: list[tuple[str, str, str]] = []
    for keys, binding in grouped.values():
        description = binding.description or binding.action.replace("_", " ")
        reason = unavailable(binding.action)
        if reason:
            description += f"  (unavailable: {reason})"
        rows.append((", ".join(keys), description, binding.id or ""))
    return sorted(rows, key=lambda row: not row[2])


# Styles of this module's screens, beside it (a path of its own, so a subclass elsewhere finds it too).
STYLES = Path(__file__).with_suffix(".tcss")


class HelpScreen(ModalScreen[None]):
    CSS_PATH = STYLES
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="help-close")]

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        table = Text()
        key_width = max((len(keys) for keys, _, _ in self.rows), default=4)
        for keys, description, binding_id in self.rows:
            table.append(f"{keys:<{key_width}}  ", style="bold")
            table.append(description)
            if binding_id:
                table.append(f"  [{binding_id}]", style="dim")
            table.append("\n")
        with Vertical():
            # How to close it, first: a list longer than the screen pushed a hint below it off screen.
            yield Static(
                Content("Keys (esc or ?: close) · remap any by id in the config's [keymap] table"),
                id="help-title",
            )
            with NavScroll():
                yield Static(table, id="help-table")

    def action_close(self) -> None:
        self.dismiss(None)

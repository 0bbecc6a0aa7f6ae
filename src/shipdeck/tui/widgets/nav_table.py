"""A DataTable that moves like the deployments list: j/k, g/G, Home/End, PageUp/PageDown.

Every table of the console (Versions, Tasks, Agents, Pending, Audit, Domains, Env) is one of these, so the
same keys move the same way everywhere, and help (generated from the bindings) lists them where they work.
The profile switcher's list and the help's scroll take the same keys (NavOptionList, NavScroll).
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, OptionList

NAV_BINDINGS: list[BindingType] = [
    Binding("up,k", "cursor_up", "Up", show=False, id="table-up"),
    Binding("down,j", "cursor_down", "Down", show=False, id="table-down"),
    Binding("pageup", "page_up", "Page up", show=False, id="table-page-up"),
    Binding("pagedown", "page_down", "Page down", show=False, id="table-page-down"),
    Binding("home,g", "first_row", "First", show=False, id="table-first"),
    Binding("end,G", "last_row", "Last", show=False, id="table-last"),
]


class NavTable(DataTable[Any]):
    """DataTable with the console's navigation keys (row cursor by default)."""

    BINDINGS: ClassVar[list[BindingType]] = NAV_BINDINGS

    def __init__(self, *, cursor_type: Any = "row", **kwargs: Any) -> None:
        super().__init__(cursor_type=cursor_type, **kwargs)

    def action_first_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=0, animate=False)

    def action_last_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False)


class NavOptionList(OptionList):
    """An OptionList moved by the same keys as the tables (OptionList's own actions)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("k", "cursor_up", "Up", show=False, id="list-up"),
        Binding("j", "cursor_down", "Down", show=False, id="list-down"),
        Binding("g", "first", "First", show=False, id="list-first"),
        Binding("G", "last", "Last", show=False, id="list-last"),
    ]


class NavScroll(VerticalScroll):
    """A scrolled text (help) moved by the same keys: j/k a line, g/G to the top and the end."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("k", "scroll_up", "Up", show=False, id="scroll-up"),
        Binding("j", "scroll_down", "Down", show=False, id="scroll-down"),
        Binding("g", "scroll_home", "Top", show=False, id="scroll-top"),
        Binding("G", "scroll_end", "End", show=False, id="scroll-end"),
    ]

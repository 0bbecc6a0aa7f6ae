"""VirtualTable: a list of rows drawn on Textual's Line API, the base of the console's long lists.

Only the rows on screen are rendered (``render_line``), so replacing 500 rows costs a list assignment and a
repaint, not 500 widget rows (or one 500-line text) built on the UI thread. One header row of column titles,
a row cursor moved by the keys every table shares (``NAV_BINDINGS``), and a message drawn as the only row
when there are no rows ("loading…", why they could not be read, or that there are none). A subclass says
its columns, how a row reads (``row_cells``: already literal) and what identifies it (``row_key``, so the
cursor stays on the same row when the rows are replaced). The Versions tab, the detail's Domains and Env
tabs and the Domains screen are ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from shipdeck.tui.widgets.deployments_table import fit
from shipdeck.tui.widgets.nav_table import NAV_BINDINGS

# (title, minimum width, share of the spare width)
Column = tuple[str, int, int]

RowT = TypeVar("RowT")


def column_widths(columns: Sequence[Column], total: int) -> list[int]:
    """Each column its minimum, the spare width shared by the columns' shares (the last takes the rest)."""
    gaps = len(columns) - 1
    minimum = sum(width for _, width, _ in columns)
    spare = max(0, total - minimum - gaps)
    shares = sum(share for _, _, share in columns) or 1
    widths = [width + spare * share // shares for _, width, share in columns]
    widths[-1] += max(0, total - gaps - sum(widths))
    return widths


@dataclass(frozen=True)
class Paint:
    """What one repaint needs once, not once a line."""

    width: int
    widths: list[int]
    base: Style
    cursor: Style


class VirtualTable(ScrollView, Generic[RowT], can_focus=True):
    """Rows of ``RowT`` under a header, with a cursor; posts :class:`Highlighted` when it moves."""

    COLUMNS: ClassVar[tuple[Column, ...]] = ()
    # Drawn before every line (header, rows and message), inside the cursor's bar.
    MARGIN: ClassVar[str] = ""

    COMPONENT_CLASSES = {"virtual-table--header", "virtual-table--cursor", "virtual-table--message"}
    DEFAULT_CSS = """
    VirtualTable { height: 1fr; scrollbar-size-vertical: 1; overflow-x: hidden; }
    VirtualTable > .virtual-table--header { text-style: bold; color: $text-muted; }
    VirtualTable > .virtual-table--cursor { background: $block-cursor-blurred-background; }
    VirtualTable:focus > .virtual-table--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground; text-style: bold;
    }
    VirtualTable > .virtual-table--message { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = NAV_BINDINGS

    cursor: reactive[int] = reactive(0, always_update=True, repaint=False)

    class Highlighted(Message):
        """The cursor was set (moved, or the rows under it replaced)."""

        def __init__(self, table: VirtualTable[Any]) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> VirtualTable[Any]:
            return self.table

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's own parameter name
        super().__init__(id=id)
        self._rows: list[RowT] = []
        self.message: str = ""

    # -- what a subclass says ------------------------------------------------------------------------------
    def row_key(self, row: RowT) -> str:
        """What identifies ``row`` across reloads."""
        raise NotImplementedError

    def row_cells(self, row: RowT) -> Sequence[str]:
        """One string per column, server text already made literal."""
        raise NotImplementedError

    def begin_paint(self) -> None:
        """Called once before each repaint (a subclass reads its clock here)."""

    # -- data ----------------------------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def rows(self) -> list[RowT]:
        return list(self._rows)

    @property
    def highlighted(self) -> RowT | None:
        return self._rows[self.cursor] if 0 <= self.cursor < len(self._rows) else None

    @property
    def highlighted_key(self) -> str | None:
        row = self.highlighted
        return None if row is None else self.row_key(row)

    def show_rows(
        self, rows: Sequence[RowT], *, empty: str, keep_cursor: bool = True, select: str | None = None
    ) -> None:
        """Every row anew (``empty`` is the message when there are none). The cursor goes to ``select`` if it
        is there, else stays on the same row when ``keep_cursor`` and that row is still there (else on the
        same line), else to the first row."""
        message = "" if rows else empty
        if keep_cursor and select is None and message == self.message and self._rows == list(rows):
            # Read again, nothing changed (the detail is re-read every minute): nothing to repaint.
            return
        kept = select if select is not None else (self.highlighted_key if keep_cursor else None)
        self._rows = list(rows)
        self.message = message
        self._resize()
        index = self._index_of(kept) if kept is not None else None
        self.cursor = index if index is not None else (self.cursor if keep_cursor else 0)

    def show_message(self, message: str) -> None:
        """No rows: why (``loading…``, a server's reason, or nothing when there is nothing to show)."""
        if not self._rows and message == self.message:
            return
        self._rows = []
        self.message = message
        self._resize()
        self.cursor = 0

    def move_to(self, key: str) -> bool:
        """Put the cursor on the row ``key`` (False if there is none)."""
        index = self._index_of(key)
        if index is not None:
            self.cursor = index
        return index is not None

    def _index_of(self, key: str) -> int | None:
        return next((i for i, row in enumerate(self._rows) if self.row_key(row) == key), None)

    def _resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self._rows) + 1)
        self.refresh()

    # -- cursor --------------------------------------------------------------------------------------------
    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self._rows) - 1)) if self._rows else 0

    def watch_cursor(self) -> None:
        height = max(1, self.scrollable_content_region.height - 1)
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)
        self.refresh()
        self.post_message(self.Highlighted(self))

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 2)

    def action_cursor_up(self) -> None:
        self.cursor -= 1

    def action_cursor_down(self) -> None:
        self.cursor += 1

    def action_page_up(self) -> None:
        self.cursor -= self._page()

    def action_page_down(self) -> None:
        self.cursor += self._page()

    def action_first_row(self) -> None:
        self.cursor = 0

    def action_last_row(self) -> None:
        self.cursor = len(self._rows) - 1

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self._rows) + 1)

    # -- rendering -----------------------------------------------------------------------------------------
    _paint: Paint | None = None

    def render_lines(self, crop: Region) -> list[Strip]:
        self._paint = self._new_paint()
        try:
            return super().render_lines(crop)
        finally:
            self._paint = None

    def _new_paint(self) -> Paint:
        self.begin_paint()
        width = self.scrollable_content_region.width
        return Paint(
            width=width,
            widths=column_widths(self.COLUMNS, max(0, width - len(self.MARGIN))),
            base=self.rich_style,
            cursor=self.get_component_rich_style("virtual-table--cursor"),
        )

    def _line(self, cells: Sequence[str], paint: Paint, style: Style) -> Strip:
        text = self.MARGIN + " ".join(fit(cell, w) for cell, w in zip(cells, paint.widths, strict=True))
        return Strip([Segment(fit(text, paint.width), style)], paint.width)

    def render_line(self, y: int) -> Strip:
        paint = self._paint or self._new_paint()
        if y == 0:
            style = self.get_component_rich_style("virtual-table--header")
            return self._line([title for title, _, _ in self.COLUMNS], paint, style)
        index = int(self.scroll_y) + y - 1
        if index >= len(self._rows):
            if index == 0 and self.message:
                style = self.get_component_rich_style("virtual-table--message")
                text = fit(self.MARGIN + "  " + self.message, paint.width)
                return Strip([Segment(text, style)], paint.width)
            return Strip.blank(paint.width, paint.base)
        style = paint.base + paint.cursor if index == self.cursor else paint.base
        return self._line(self.row_cells(self._rows[index]), paint, style)

    def get_content_height(self, *args: object) -> int:
        return len(self._rows) + 1

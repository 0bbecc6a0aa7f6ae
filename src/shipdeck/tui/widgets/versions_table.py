"""VersionsTable: the Versions tab's list, virtual on Textual's Line API, as DeploymentsTable is.

Only the visible rows are rendered (``render_line``), so replacing 500 rows costs one sort and a repaint, not
500 widget rows built on the UI thread. Newest first (number, then id); the active version is marked ``▶``;
states are symbol and word; server text is literal. A message line above says when the rows are not all of
them ("loading…", or why they could not be read), drawn as the table's only row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from shipdeck.model import Version
from shipdeck.tui.text import age_text, literal, state_label
from shipdeck.tui.widgets.deployments_table import fit

# (title, minimum width, share of the spare width)
COLUMNS: tuple[tuple[str, int, int], ...] = (
    ("VER", 10, 0),
    ("STATE", 12, 0),
    ("AGE", 5, 0),
    ("AUTHOR", 10, 1),
    ("MESSAGE", 12, 4),
)


def column_widths(total: int) -> list[int]:
    gaps = len(COLUMNS) - 1
    minimum = sum(width for _, width, _ in COLUMNS)
    spare = max(0, total - minimum - gaps)
    shares = sum(share for _, _, share in COLUMNS)
    widths = [width + spare * share // shares for _, width, share in COLUMNS]
    widths[-1] += max(0, total - gaps - sum(widths))
    return widths


def newest_first(versions: Iterable[Version]) -> list[Version]:
    return sorted(versions, key=lambda v: (v.number or 0, v.id), reverse=True)


@dataclass(frozen=True)
class _Paint:
    width: int
    widths: list[int]
    base: Style
    cursor: Style
    now: datetime


class VersionsTable(ScrollView, can_focus=True):
    """The versions of the deployment shown, newest first."""

    COMPONENT_CLASSES = {"versions-table--header", "versions-table--cursor", "versions-table--message"}
    DEFAULT_CSS = """
    VersionsTable { height: 1fr; scrollbar-size-vertical: 1; overflow-x: hidden; }
    VersionsTable > .versions-table--header { text-style: bold; color: $text-muted; }
    VersionsTable > .versions-table--cursor { background: $block-cursor-blurred-background; }
    VersionsTable:focus > .versions-table--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground; text-style: bold;
    }
    VersionsTable > .versions-table--message { color: $text-muted; }
    """
    BINDINGS = [
        Binding("up,k", "cursor_up", "Up", show=False, id="versions-up"),
        Binding("down,j", "cursor_down", "Down", show=False, id="versions-down"),
        Binding("pageup", "page_up", "Page up", show=False, id="versions-page-up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="versions-page-down"),
        Binding("home,g", "first", "First", show=False, id="versions-first"),
        Binding("end,G", "last", "Last", show=False, id="versions-last"),
    ]

    cursor: reactive[int] = reactive(0, always_update=True, repaint=False)

    def __init__(
        self,
        *,
        clock: Callable[[], datetime],
        id: str | None = None,  # noqa: A002 - Textual's own parameter name
    ) -> None:
        super().__init__(id=id)
        self.clock = clock
        self._rows: list[Version] = []
        self._active: str | None = None
        self.message: str = ""

    # -- data --------------------------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def rows(self) -> list[Version]:
        return list(self._rows)

    @property
    def highlighted(self) -> Version | None:
        return self._rows[self.cursor] if 0 <= self.cursor < len(self._rows) else None

    def show_versions(self, versions: Iterable[Version], *, active: str | None, keep_cursor: bool) -> None:
        """Every row anew; the cursor stays on the same version when ``keep_cursor`` and it is still there."""
        kept = self.highlighted.id if keep_cursor and self.highlighted is not None else None
        self._rows = newest_first(versions)
        self._active = active
        self.message = "" if self._rows else "no versions yet"
        self._resize()
        ids = [v.id for v in self._rows]
        self.cursor = ids.index(kept) if kept in ids else (self.cursor if keep_cursor else 0)

    def show_message(self, message: str) -> None:
        """No rows: why (``loading…``, a server's reason, or nothing for no deployment)."""
        self._rows = []
        self.message = message
        self._resize()
        self.cursor = 0

    def _resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self._rows) + 1)
        self.refresh()

    # -- cursor ------------------------------------------------------------------------------------------
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

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = len(self._rows) - 1

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self._rows) + 1)

    # -- rendering ---------------------------------------------------------------------------------------
    def render_lines(self, crop: Region) -> list[Strip]:
        self._paint = self._new_paint()
        try:
            return super().render_lines(crop)
        finally:
            self._paint = None

    _paint: _Paint | None = None

    def _new_paint(self) -> _Paint:
        width = self.scrollable_content_region.width
        return _Paint(
            width=width,
            widths=column_widths(width),
            base=self.rich_style,
            cursor=self.get_component_rich_style("versions-table--cursor"),
            now=self.clock(),
        )

    def render_line(self, y: int) -> Strip:
        paint = self._paint or self._new_paint()
        width = paint.width
        if y == 0:
            style = self.get_component_rich_style("versions-table--header")
            text = " ".join(fit(title, w) for (title, _, _), w in zip(COLUMNS, paint.widths, strict=True))
            return Strip([Segment(fit(text, width), style)], width)
        index = int(self.scroll_y) + y - 1
        if index >= len(self._rows):
            if index == 0 and self.message:
                style = self.get_component_rich_style("versions-table--message")
                return Strip([Segment(fit("  " + self.message, width), style)], width)
            return Strip.blank(width, paint.base)
        return self._render_row(self._rows[index], paint, selected=index == self.cursor)

    def _render_row(self, version: Version, paint: _Paint, *, selected: bool) -> Strip:
        base = paint.base
        marker = "▶ " if version.id == self._active else "  "
        cells = (
            marker + literal(version.label),
            state_label(version.state),
            age_text(version.created_at, paint.now),
            literal(version.author or "-"),
            literal(version.message or ""),
        )
        text = " ".join(fit(cell, w) for cell, w in zip(cells, paint.widths, strict=True))
        style = base + paint.cursor if selected else base
        return Strip([Segment(fit(text, paint.width), style)], paint.width)

    def get_content_height(self, *args: object) -> int:
        return len(self._rows) + 1

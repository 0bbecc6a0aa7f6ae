"""VersionsTable: the Versions tab's list, a :class:`VirtualTable` (virtual, as DeploymentsTable is).

Newest first (number, then id); the active version is marked ``▶``; states are symbol and word; server text
is literal. A message line says when the rows are not all of them ("loading…", or why they could not be
read), drawn as the table's only row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from shipdeck.model import Version
from shipdeck.tui.text import age_text, literal, state_label
from shipdeck.tui.widgets.virtual_table import Column, VirtualTable

COLUMNS: tuple[Column, ...] = (
    ("VER", 10, 0),
    ("STATE", 12, 0),
    ("AGE", 5, 0),
    ("AUTHOR", 10, 1),
    ("MESSAGE", 12, 4),
)


def newest_first(versions: Iterable[Version]) -> list[Version]:
    return sorted(versions, key=lambda v: (v.number or 0, v.id), reverse=True)


class VersionsTable(VirtualTable[Version]):
    """The versions of the deployment shown, newest first."""

    COLUMNS = COLUMNS

    def __init__(
        self,
        *,
        clock: Callable[[], datetime],
        id: str | None = None,  # noqa: A002 - Textual's own parameter name
    ) -> None:
        super().__init__(id=id)
        self.clock = clock
        self._active: str | None = None
        self._now = clock()

    def show_versions(self, versions: Iterable[Version], *, active: str | None, keep_cursor: bool) -> None:
        """Every row anew; the cursor stays on the same version when ``keep_cursor`` and it is still there."""
        rows = newest_first(versions)
        # show_rows repaints nothing when the rows are the same; what else this table shows may have moved:
        # the active marker, or an AGE text on screen since the last paint (the detail's minutely re-read
        # kept them current when every show repainted). Rows off screen get their age when painted; this
        # runs for every batch about the deployment shown, so only the lines on screen are looked at.
        now = self.clock()
        top = int(self.scroll_y)
        on_screen = rows[top : top + max(1, self.scrollable_content_region.height)]
        moved = active != self._active or any(
            age_text(row.created_at, now) != age_text(row.created_at, self._now) for row in on_screen
        )
        self._active = active
        self.show_rows(rows, empty="no versions yet", keep_cursor=keep_cursor)
        if moved:
            self.refresh()

    def row_key(self, row: Version) -> str:
        return row.id

    def begin_paint(self) -> None:
        self._now = self.clock()

    def row_cells(self, row: Version) -> Sequence[str]:
        marker = "▶ " if row.id == self._active else "  "
        return (
            marker + literal(row.label),
            state_label(row.state),
            age_text(row.created_at, self._now),
            literal(row.author or "-"),
            literal(row.message or ""),
        )

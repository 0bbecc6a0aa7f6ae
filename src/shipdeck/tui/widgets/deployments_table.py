"""DeploymentsTable: a virtual table of deployments on Textual's Line API (a ScrollView).

Only the visible rows are rendered (``render_line``), so 50,000 rows cost what 30 do. Rows are keyed by
deployment id and updated in place; the order is stable (name, then id) and kept with binary insertion;
a filter (case-insensitive substring over name, slug, state, URL and version) narrows the rows without
touching the data. States are shown as symbol and word, never colour alone; server text is literal.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import filterfalse
from operator import itemgetter

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer

from shipdeck.model import Deployment, Health
from shipdeck.model.service_health import LEVEL_FLAGS, RowFigures, format_rate, health_level, trend_text
from shipdeck.tui.text import age_text, literal, state_label

# Where a row's service health comes from, by row key (None: not read).
HealthSource = Callable[[str], RowFigures | None]
# Over the threshold a row says so in symbol and word, not in colour alone.
_LEVEL_HEALTH = {"critical": Health.FAILED, "warning": Health.PROGRESS}

SortKey = tuple[str, str]

# (title, minimum width, share of the spare width)
COLUMNS: tuple[tuple[str, int, int], ...] = (
    ("STATE", 12, 0),
    ("NAME", 18, 3),
    ("VERSION", 7, 0),
    ("ERRORS", 16, 1),
    ("URL", 16, 3),
    ("AGE", 5, 0),
)
URL_COLUMN = 4

# More new rows than this in one update are merged in one pass rather than inserted one by one.
BULK_INSERT = 32
# Filter results kept at most (texts typed since the rows last changed).
MATCHES_KEPT = 32
# Highlight changes closer together than this are announced once the cursor rests (seconds).
HIGHLIGHT_SETTLE = 0.12

_HEALTH_CLASS = {
    Health.OK: "deployments-table--ok",
    Health.PROGRESS: "deployments-table--progress",
    Health.FAILED: "deployments-table--failed",
    Health.STOPPED: "deployments-table--stopped",
    Health.UNKNOWN: "deployments-table--unknown",
}


@dataclass(frozen=True)
class _Paint:
    """What every row of one paint shares."""

    width: int
    widths: list[int]
    base: Style
    cursor: Style
    health: dict[Health, Style]
    now: datetime


def _sort_key(dep: Deployment) -> SortKey:
    return (dep.name.lower(), dep.id)


def _age(dep: Deployment, now: datetime) -> str:
    return age_text(dep.updated_at or dep.created_at, now)


def row_name(dep: Deployment) -> str:
    """The name column: ``Shop (staging)`` where a provider lists an app once per environment (Mixpeek)."""
    return f"{dep.name} ({dep.environment})" if dep.environment else dep.name


# An environment's short name, where its full one leaves the app's name no room.
SHORT_ENVIRONMENT = {"production": "prod", "staging": "stg", "development": "dev", "preview": "prev"}
NAME_ROOM = 4  # cells the app's own name keeps at least, beside what tells its rows apart


def name_cell(dep: Deployment, width: int) -> str:
    """The NAME cell in exactly ``width`` cells (server text made literal). Cut, it keeps what tells rows of
    one app apart: the environment (Mixpeek: ``Docs Port… (production)``, or ``Docs P… (prod)`` where that
    leaves no room, not ``Docs Portal (prod…``) or the target after " / " (Miteos: ``ws_docs… / netlify``,
    not four rows of ``ws_docs_portal / …``)."""
    name = literal(dep.name)
    tails: list[str] = []
    if dep.environment:
        environment = literal(dep.environment)
        tails = [f" ({environment})", f" ({SHORT_ENVIRONMENT.get(environment, environment)})"]
    elif " / " in name:
        name, _, target = name.rpartition(" / ")
        tails = [f" / {target}"]
    if not tails or cell_len(name + tails[0]) <= width:
        return fit(name + (tails[0] if tails else ""), width)
    for tail in tails:
        if width - cell_len(tail) >= NAME_ROOM:
            return fit(name, width - cell_len(tail)) + tail
    room = min(NAME_ROOM, width)
    return fit(name, room) + fit(tails[-1], width - room)


def row_haystack(dep: Deployment) -> str:
    """What the filter looks through for a row (the fleet's adds its profile and provider)."""
    version = f"v{dep.active_version_number}" if dep.active_version_number is not None else ""
    # The name as the NAME column writes it ("Storefront (production)", its short form too): a filter
    # typed from what is on screen, "storefront (prod", found nothing.
    environment = dep.environment or ""
    short = SHORT_ENVIRONMENT.get(environment, environment)
    named = f"{row_name(dep)} {dep.name} ({short})" if environment else dep.name
    parts = (named, dep.slug or "", dep.state, dep.url or "", version, dep.environment or "", dep.id)
    return " ".join(parts).lower()


# The ERRORS column where no row can have a figure (a provider without request metrics: Miteos): its title's
# width, no share of the spare width (16 cells of "-" hid the names at 80 columns).
ERRORS_COLUMN = 3
NO_ERRORS = ("ERRORS", 6, 0)


def column_widths(total: int, *, errors: bool = True) -> list[int]:
    """Column widths for a table ``total`` cells wide (one space between columns); ``errors`` False: the
    ERRORS column is narrow (nothing will be in it)."""
    columns = list(COLUMNS)
    if not errors:
        columns[ERRORS_COLUMN] = NO_ERRORS
    gaps = len(columns) - 1
    minimum = sum(width for _, width, _ in columns)
    spare = max(0, total - minimum - gaps)
    shares = sum(share for _, _, share in columns)
    widths = [width + spare * share // shares for _, width, share in columns]
    # Give the rounding remainder to the last column that shares.
    widths[URL_COLUMN] += max(0, total - gaps - sum(widths))
    return widths


def errors_cell(rate: float | None, trend: Sequence[float | None], width: int) -> str:
    """``12.4% ▂▅██ ⚠ high``: the rate, its trend in blocks, and over the threshold a symbol and word."""
    if rate is None and not any(r is not None for r in trend):
        return "-"
    flag = LEVEL_FLAGS.get(health_level(rate), "")
    blocks = trend_text(list(trend), max(0, width - 13)) if width >= 16 else ""
    parts = [f"{format_rate(rate):>5}", blocks, flag]
    return " ".join(part for part in parts if part)


def health_cell(source: HealthSource | None, key: str, width: int, paint: _Paint) -> tuple[str, Style]:
    """The ERRORS cell of the row ``key`` and its style (the state colours: failing red, degraded amber;
    ``0.3% stale`` muted when the last read failed, the figure being from before; ``13.2% stale ⚠`` in its
    level's colour when that figure was over the threshold)."""
    read = source(key) if source is not None else None
    rate, trend = (read.rate, read.trend) if read is not None else (None, ())
    level = _LEVEL_HEALTH.get(health_level(rate))
    if read is not None and read.stale:
        # Over the threshold when last read, it keeps its mark and colour: a stale 13% read as a muted,
        # healthy row once the mark went with the trend.
        if level is not None:
            return f"{format_rate(rate):>5} stale ⚠", paint.health[level]
        return f"{format_rate(rate):>5} stale", paint.health[Health.STOPPED]
    return errors_cell(rate, trend, width), paint.health[level] if level else paint.base


def merged(order: list[tuple[SortKey, str]], placed: list[tuple[SortKey, str]]) -> list[tuple[SortKey, str]]:
    """``order`` (sorted) with ``placed`` merged in: a page of new rows is found its places by bisection
    and the runs between are copied in C. Sorting the whole list again instead compared every one of
    50,000 keys for each page (12 ms a page of a fleet's load, whose pages spread over the whole order)."""
    placed = sorted(placed)
    out: list[tuple[SortKey, str]] = []
    start = 0
    for item in placed:
        at = bisect.bisect_left(order, item, start)
        out += order[start:at]
        out.append(item)
        start = at
    out += order[start:]
    return out


def fit(text: str, width: int) -> str:
    """Pad or cut ``text`` to exactly ``width`` cells, marking a cut with '…'."""
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    return set_cell_size(text, max(0, width - 1)) + ("…" if width else "")


class DeploymentsTable(ScrollView, can_focus=True):
    """The deployments list. Posts :class:`DeploymentsTable.Highlighted` and :class:`Selected`."""

    COMPONENT_CLASSES = {
        "deployments-table--header",
        "deployments-table--cursor",
        "deployments-table--ok",
        "deployments-table--progress",
        "deployments-table--failed",
        "deployments-table--stopped",
        "deployments-table--unknown",
        "deployments-table--empty",
    }
    DEFAULT_CSS = """
    DeploymentsTable { height: 1fr; scrollbar-size-vertical: 1; overflow-x: hidden; }
    DeploymentsTable > .deployments-table--header { text-style: bold; color: $text-muted; }
    DeploymentsTable > .deployments-table--cursor { background: $block-cursor-blurred-background; }
    DeploymentsTable:focus > .deployments-table--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground; text-style: bold;
    }
    DeploymentsTable > .deployments-table--ok { color: $text-success; }
    DeploymentsTable > .deployments-table--progress { color: $text-warning; }
    DeploymentsTable > .deployments-table--failed { color: $text-error; text-style: bold; }
    DeploymentsTable > .deployments-table--stopped { color: $text-muted; }
    DeploymentsTable > .deployments-table--unknown { color: $text-accent; }
    DeploymentsTable > .deployments-table--empty { color: $text-muted; }
    """
    BINDINGS = [
        Binding("up,k", "cursor_up", "Up", show=False, id="cursor-up"),
        Binding("down,j", "cursor_down", "Down", show=False, id="cursor-down"),
        Binding("pageup", "page_up", "Page up", show=False, id="page-up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="page-down"),
        Binding("home,g", "first", "First", show=False, id="first"),
        Binding("end,G", "last", "Last", show=False, id="last"),
        Binding("enter", "select", "Open", id="open"),
    ]

    cursor: reactive[int] = reactive(0, always_update=True, repaint=False)

    class Highlighted(Message):
        def __init__(self, table: DeploymentsTable, deployment: Deployment | None) -> None:
            super().__init__()
            self.table = table
            self.deployment = deployment

        @property
        def control(self) -> DeploymentsTable:
            return self.table

    class Selected(Highlighted):
        """Enter on a row."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime],
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's own parameter name
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.clock = clock
        self._rows: dict[str, Deployment] = {}
        self._haystacks: dict[str, str] = {}
        self._order: list[tuple[SortKey, str]] = []
        self._ordered_ids: list[str] | None = None
        self._visible: list[str] = []
        self._filter = ""
        self._highlighted_id: str | None = None
        self.empty_message = "loading deployments…"
        self._announced_at = -HIGHLIGHT_SETTLE
        self._settle_timer: Timer | None = None
        self._paint: _Paint | None = None
        # What each painted row's AGE cell says, by line on screen (line -> (deployment id, age text)): a
        # tick repaints only the lines whose age text changed.
        self._painted_ages: dict[int, tuple[str, str]] = {}
        self.health_source: HealthSource | None = None
        self.unhealthy_first = False
        # The rows ahead of the state order, each with its rank (here: with `s`, a known error rate). Kept
        # row by row as rows and health reads arrive, so that ordering 50,000 rows never asks every row for
        # its health (a full sort per health batch made a key take seconds).
        self._ranks: dict[str, tuple[float, ...]] = {}
        # Filter results by filter text, for the order list they were found in (see _matching).
        self._matches: dict[str, list[str]] = {}
        self._matches_of: list[str] | None = None

    # -- data --------------------------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self._visible)

    @property
    def total_count(self) -> int:
        return len(self._rows)

    @property
    def filter_text(self) -> str:
        return self._filter

    @property
    def highlighted(self) -> Deployment | None:
        if 0 <= self.cursor < len(self._visible):
            return self._rows.get(self._visible[self.cursor])
        return None

    @property
    def visible_ids(self) -> list[str]:
        return list(self._visible)

    def row(self, deployment_id: str) -> Deployment | None:
        """The deployment a row shows, by id (None: no such row)."""
        return self._rows.get(deployment_id)

    @property
    def visible_rows(self) -> list[Deployment]:
        """The deployments shown (the filter applied), in their order on screen."""
        return [self._rows[dep_id] for dep_id in self.visible_ids]

    def replace_all(self, deployments: Iterable[Deployment]) -> set[str]:
        """Every row anew (after a snapshot); the cursor stays on the same deployment when it can. Returns
        the rows whose deployment changed (re-ranked and repainted already)."""
        rows = {dep.id: dep for dep in deployments}
        gone = self._rows.keys() - rows.keys()
        if self._rows and (len(self._rows) - len(gone)) * 2 >= len(rows):
            # Mostly the same deployments (the snapshot that ends a paged load, whose last pages may not be
            # in the table yet): the rows that left, arrived or changed only. Rebuilding all 50,000 (their
            # order, filter text and ranks) stalled the console as the load ended.
            if gone:
                self.remove_rows(gone, reindex=False)
            return self.upsert(dep for dep_id, dep in rows.items() if self._rows.get(dep_id) is not dep)
        self._rows = rows
        self._haystacks = {dep_id: row_haystack(dep) for dep_id, dep in self._rows.items()}
        self._order = sorted((_sort_key(dep), dep.id) for dep in self._rows.values())
        self._ranks.clear()
        self._rank_again(self._rows)
        self._ordered_ids = None
        self._reindex()
        self.refresh()  # every row anew: the same keys on screen may show other content
        return set(rows)

    def upsert(self, deployments: Iterable[Deployment]) -> set[str]:
        """Add or update rows in place (keyed by id); the order moves only if a name changed. Returns the
        rows whose deployment changed (re-ranked and repainted already)."""
        placed: list[tuple[SortKey, str]] = []
        updated: set[str] = set()
        refilter = False  # a row that now matches the filter, or no longer does
        for dep in deployments:
            old = self._rows.get(dep.id)
            if old == dep:
                continue  # read again, nothing changed: nothing to repaint
            updated.add(dep.id)
            self._rows[dep.id] = dep
            refilter |= self._set_haystack(dep.id, row_haystack(dep))
            if old is None or _sort_key(old) != _sort_key(dep):
                if old is not None:
                    self._remove_key((_sort_key(old), old.id))
                placed.append((_sort_key(dep), dep.id))
        if self._rank_again(updated):
            self._ordered_ids = None
        self._place(placed)
        if placed:
            self._ordered_ids = None
        if self._ordered_ids is None or refilter:
            self._reindex()
        if updated:
            self._refresh_rows(updated)
        return updated

    def _place(self, placed: list[tuple[SortKey, str]]) -> None:
        """Put new order keys into ``_order``: one by one when few, else merged in one pass."""
        if len(placed) > BULK_INSERT:
            self._order = merged(self._order, placed)
        else:
            for key in placed:
                bisect.insort(self._order, key)

    def _set_haystack(self, key: str, haystack: str) -> bool:
        """Keep a row's filter text; True when the row's match of the filter changed (a new row: True when
        it matches). A 50,000-row scan per update batch made typing slow while rows arrived."""
        old = self._haystacks.get(key)
        self._haystacks[key] = haystack
        if old != haystack:
            self._matches.clear()
        needle = self._filter
        if not needle:
            return False
        return (needle in haystack) != (old is not None and needle in old)

    def _refresh_rows(self, ids: set[str]) -> None:
        """Repaint the lines on screen that show one of ``ids`` (rows off screen are painted when shown)."""
        width = self.size.width
        for y, (dep_id, _) in self._painted_ages.items():
            if dep_id in ids:
                self.refresh(Region(0, y, width, 1))

    def remove_rows(self, ids: Iterable[str], *, reindex: bool = True) -> None:
        for dep_id in ids:
            old = self._rows.pop(dep_id, None)
            self._haystacks.pop(dep_id, None)
            self._ranks.pop(dep_id, None)
            if old is not None:
                self._remove_key((_sort_key(old), old.id))
        self._ordered_ids = None
        if reindex:
            self._reindex()

    def _remove_key(self, key: tuple[SortKey, str]) -> None:
        index = bisect.bisect_left(self._order, key)
        if index < len(self._order) and self._order[index] == key:
            del self._order[index]

    def set_filter(self, text: str) -> None:
        """Show only the rows matching ``text``. The cursor stays on its row while it matches, else goes to
        the first match: it kept its place on screen, so ``/status-page`` with the cursor seven rows down
        highlighted the third of three matches, and ``r`` rolled back whichever one that was."""
        previous, self._filter = self._filter, text.strip().lower()
        if previous and previous in self._filter and self._filter != previous:
            # Typing on: the matches are among the rows shown now (a 50,000-row scan only on the first key).
            self._reindex(among=self._visible, lost_to_first=True)
        else:
            self._reindex(lost_to_first=True)

    def _rank_of(self, key: str) -> tuple[float, ...] | None:
        """Why a row goes ahead of the state order (lowest first), or None. With `s`: failed rows first
        (as the fleet lists them; a failed build has no error rate, so it sank to the bottom), then a
        known error rate, highest first; rows without a figure keep the state order after them."""
        source = self.health_source
        if not self.unhealthy_first or source is None:
            return None
        dep = self._rows.get(key)
        if dep is not None and dep.health is Health.FAILED:
            return (0, 0.0)
        read = source(key)
        return None if read is None or read[0] is None else (1, -read[0])

    def _state_key(self, key: str) -> tuple[SortKey, str]:
        """A row's place in the state order (the key ``_order`` holds)."""
        return (_sort_key(self._rows[key]), key)

    def _rank_again(self, keys: Iterable[str]) -> bool:
        """Recompute these rows' ranks; True when the rows ahead of the state order changed."""
        moved = False
        for key in keys:
            rank = self._rank_of(key) if key in self._rows else None
            if rank == self._ranks.get(key):
                continue
            moved = True
            if rank is None:
                del self._ranks[key]
            else:
                self._ranks[key] = rank
        return moved

    def _ordered(self) -> list[str]:
        """Every row key in display order: the ranked rows, then the rest in the state order (cached until
        rows are added, removed or re-ranked)."""
        if self._ordered_ids is None:
            ranks = self._ranks
            if not ranks:
                # The usual case (and every page of a load): one pass in C, not a membership test a row.
                self._ordered_ids = list(map(itemgetter(1), self._order))
                return self._ordered_ids
            first = sorted(ranks, key=lambda key: (ranks[key], self._state_key(key)))
            # The rest in C too (the fleet ranks every failed row: this ran on every page of its load).
            first.extend(filterfalse(ranks.__contains__, map(itemgetter(1), self._order)))
            self._ordered_ids = first
        return self._ordered_ids

    def set_unhealthy_first(self, on: bool) -> None:
        """Sort by error rate, highest first (on), or in the table's own order (off); the cursor stays on
        its row."""
        self.unhealthy_first = on
        self._ranks.clear()
        self._rank_again(self._rows)  # every row once: the rule changed (a key press, not a hot path)
        self._ordered_ids = None
        self._reindex()

    def health_changed(self, keys: Iterable[str]) -> None:
        """These rows' health may have moved: re-order if one of them moved, else repaint those on screen."""
        keys = [key for key in keys if key in self._rows]
        if self._rank_again(keys):
            self._ordered_ids = None
            self._reindex()
        self._refresh_rows(set(keys))

    def window_ids(self) -> list[str]:
        """The keys of the rows on screen now (what the health monitor reads first)."""
        top = int(self.scroll_y)
        return self._visible[top : top + max(1, self.scrollable_content_region.height)]

    def _reindex(self, among: list[str] | None = None, *, lost_to_first: bool = False) -> None:
        # The cursor stays on the deployment it is on while rows arrive, move or go (pages of a big account
        # sorting in above it): the detail pane does not reload under a user who pressed nothing.
        keep = self._highlighted_id
        ordered = self._ordered()
        ids = ordered
        if self._filter:
            ids = self._matching(self._filter, ordered if among is None else among, ordered)
        shown = self.window_ids()
        self._visible = ids
        self._set_content_rows(len(ids))
        at = self._position_of(keep, ids) if keep is not None and keep in self._rows else None
        if at is None and lost_to_first:
            at = 0  # the highlighted row is filtered out: the first match, not whichever is at its place
        cursor = at if at is not None else min(self.cursor, max(0, len(ids) - 1))
        if cursor != self.cursor or not ids or ids[cursor] != keep:
            self.cursor = cursor  # (repaints)
        elif self.window_ids() != shown:
            self.refresh()
        # Else the lines on screen show the same rows: rows that arrived, moved or went elsewhere (most
        # pages of a load) repaint nothing; a row updated in place is repainted by its caller.

    def _position_of(self, key: str, ids: list[str]) -> int | None:
        """Where ``key`` is in ``ids``: looked for near the cursor first (rows arriving above it move it by
        a page at most), then everywhere."""
        at = self.cursor
        if 0 <= at < len(ids) and ids[at] == key:
            return at
        for start, stop in ((max(0, at - 1024), at + 1024), (0, len(ids))):
            try:
                return ids.index(key, start, stop)
            except ValueError:
                continue
        return None

    def _set_content_rows(self, rows: int) -> None:
        """The scrollable height for ``rows`` rows (and the header line). While the scrollbar shows and the
        list only grows, the scrollbar alone is updated: setting virtual_size repaints every line of the
        table (a reactive with layout), and a loading account grows with every page."""
        size = Size(self.size.width, rows + 1)
        old = self.virtual_size
        if size == old:
            return
        height = self.scrollable_content_region.height
        if self.is_mounted and size.width == old.width and height < old.height <= size.height:
            self.set_reactive(DeploymentsTable.virtual_size, size)
            self.vertical_scrollbar.window_virtual_size = size.height
        else:
            self.virtual_size = size

    def _matching(self, needle: str, among: list[str], ordered: list[str]) -> list[str]:
        """The rows of ``among`` whose filter text holds ``needle``, in order. Kept while neither the order
        nor any row's filter text changes: erasing what was typed (back to a text typed before) is answered
        without another pass over 50,000 rows."""
        if self._matches_of is not ordered:
            self._matches.clear()
            self._matches_of = ordered
        found = self._matches.get(needle)
        if found is None:
            haystacks = self._haystacks
            found = [key for key in among if needle in haystacks[key]]
            if len(self._matches) >= MATCHES_KEPT:
                self._matches.clear()
            self._matches[needle] = found
        return found

    def move_to(self, deployment_id: str) -> bool:
        """Put the cursor on a deployment (clearing a filter that hides it); False if unknown."""
        if deployment_id not in self._rows:
            return False
        if deployment_id not in self._visible:
            self.set_filter("")
        self.cursor = self._visible.index(deployment_id)
        return True

    # -- cursor ------------------------------------------------------------------------------------------
    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self._visible) - 1)) if self._visible else 0

    def watch_cursor(self, old: int, new: int) -> None:
        self._scroll_cursor_into_view()
        self.refresh()
        # The row key, not the deployment's id: the fleet's rows are keyed by profile and id (two profiles
        # may hold the same id), and _reindex keeps the cursor on this key while rows move.
        current_key = self._visible[new] if 0 <= new < len(self._visible) else None
        if current_key != self._highlighted_id:
            self._highlighted_id = current_key
            self._announce_highlight()

    def _announce_highlight(self) -> None:
        """Post Highlighted at once after a pause; while the cursor moves fast (paging, a held key), once
        it rests: the detail pane (and its reads) follows the row under the cursor, not every row passed."""
        now = time.monotonic()
        if self._settle_timer is None and now - self._announced_at >= HIGHLIGHT_SETTLE:
            self._announced_at = now
            self.post_message(self.Highlighted(self, self.highlighted))
            return
        if self._settle_timer is not None:
            self._settle_timer.stop()
        self._settle_timer = self.set_timer(HIGHLIGHT_SETTLE, self._announce_settled)

    def _announce_settled(self) -> None:
        self._settle_timer = None
        self._announced_at = time.monotonic()
        self.post_message(self.Highlighted(self, self.highlighted))

    def _scroll_cursor_into_view(self) -> None:
        height = max(1, self.scrollable_content_region.height - 1)
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def action_cursor_up(self) -> None:
        self.cursor -= 1

    def action_cursor_down(self) -> None:
        self.cursor += 1

    def action_page_up(self) -> None:
        self.cursor -= max(1, self.scrollable_content_region.height - 2)

    def action_page_down(self) -> None:
        self.cursor += max(1, self.scrollable_content_region.height - 2)

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = len(self._visible) - 1

    def action_select(self) -> None:
        self.post_message(self.Selected(self, self.highlighted))

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self._visible) + 1)

    # -- rendering ---------------------------------------------------------------------------------------
    def render_lines(self, crop: Region) -> list[Strip]:
        # Styles, column widths and the clock are read once per paint, not once per row (reading the
        # widget's rich_style alone cost ~0.1 ms a row).
        self._paint = self._new_paint()
        try:
            return super().render_lines(crop)
        finally:
            self._paint = None

    def _new_paint(self) -> _Paint:
        width = self.scrollable_content_region.width
        base = self.rich_style
        return _Paint(
            width=width,
            widths=column_widths(width, errors=self.health_source is not None),
            base=base,
            cursor=self.get_component_rich_style("deployments-table--cursor"),
            health={h: base + self.get_component_rich_style(c) for h, c in _HEALTH_CLASS.items()},
            now=self.clock(),
        )

    def render_line(self, y: int) -> Strip:
        paint = self._paint or self._new_paint()
        width, widths = paint.width, paint.widths
        if y == 0:
            style = self.get_component_rich_style("deployments-table--header")
            text = " ".join(fit(title, w) for (title, _, _), w in zip(COLUMNS, widths, strict=True))
            return Strip([Segment(fit(text, width), style)], width)
        index = int(self.scroll_y) + y - 1
        if index >= len(self._visible):
            self._painted_ages.pop(y, None)
            if index == 0:
                message = self.empty_message
                if self._rows and self._filter:
                    message = f"no deployment matches {self._filter!r} (esc clears the filter)"
                style = self.get_component_rich_style("deployments-table--empty")
                return Strip([Segment(fit("  " + message, width), style)], width)
            return Strip.blank(width, paint.base)
        dep = self._rows[self._visible[index]]
        age = _age(dep, paint.now)
        self._painted_ages[y] = (dep.id, age)
        return self._render_row(dep, paint, age, selected=index == self.cursor)

    def tick(self) -> int:
        """The clock moved on: repaint the rows whose AGE text changed (an age of "3h" changes once an
        hour), nothing else. Returns how many lines were repainted."""
        if not self._painted_ages:
            return 0
        now = self.clock()
        width = self.size.width
        changed = 0
        for y, (dep_id, shown) in self._painted_ages.items():
            dep = self._rows.get(dep_id)
            if dep is not None and _age(dep, now) != shown:
                self.refresh(Region(0, y, width, 1))
                changed += 1
        return changed

    def _render_row(self, dep: Deployment, paint: _Paint, age: str, *, selected: bool) -> Strip:
        base, widths, width = paint.base, paint.widths, paint.width
        version = f"v{dep.active_version_number}" if dep.active_version_number is not None else "-"
        cells = [
            (state_label(dep.state), paint.health[dep.health]),
            (name_cell(dep, widths[1]), base),
            (version, base),
            health_cell(self.health_source, dep.id, widths[ERRORS_COLUMN], paint),
            (literal(dep.url or "-"), base),
            (age, base),
        ]
        segments: list[Segment] = []
        for position, ((text, style), cell_width) in enumerate(zip(cells, widths, strict=True)):
            if position:
                segments.append(Segment(" ", base))
            segments.append(Segment(fit(text, cell_width), style))
        used = sum(widths) + len(widths) - 1
        if used < width:
            segments.append(Segment(" " * (width - used), base))
        if selected:
            cursor = paint.cursor
            segments = [Segment(text, (style or Style()) + cursor) for text, style, _ in segments]
        return Strip(segments, width)

    def get_content_height(self, *args: object) -> int:
        return len(self._visible) + 1

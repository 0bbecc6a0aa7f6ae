"""FleetTable: the deployments of several profiles in one virtual table (the fleet overview).

It is a :class:`DeploymentsTable` (same cursor, filter, virtual rendering and keys) whose rows are keyed by
profile and deployment id, ordered failed first, and carry profile and provider columns. Each profile's rows
are replaced or updated on their own, so a profile that is slow or down never holds back the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich.segment import Segment
from textual.geometry import Region
from textual.strip import Strip

from shipdeck.model import Deployment, Health
from shipdeck.model.service_health import health_level
from shipdeck.tui.text import literal, state_label
from shipdeck.tui.widgets.deployments_table import (
    DeploymentsTable,
    SortKey,
    _age,
    _Paint,
    fit,
    health_cell,
    name_cell,
    row_haystack,
)

# (title, minimum width, share of the spare width); at 80 columns the URL gives way first.
FLEET_COLUMNS: tuple[tuple[str, int, int], ...] = (
    ("PROFILE", 10, 1),
    ("PROVIDER", 8, 0),
    ("STATE", 12, 0),
    ("NAME", 14, 3),
    ("VERSION", 7, 0),
    ("ERRORS", 12, 1),
    ("URL", 5, 2),
    ("AGE", 4, 0),
)
NAME_COLUMN = 3
ERRORS_COLUMN = 5
# Failed first, then what is moving, what nobody knows, what is fine, what is off.
_RANK = {Health.FAILED: "0", Health.PROGRESS: "1", Health.UNKNOWN: "2", Health.OK: "3", Health.STOPPED: "4"}
_SEP = "\x1f"


def row_key(profile: str, deployment_id: str) -> str:
    """The fleet's key of a row: profile and deployment id (two profiles may list the same id)."""
    return f"{profile}{_SEP}{deployment_id}"


def split_key(key: str) -> tuple[str, str]:
    profile, _, deployment_id = key.partition(_SEP)
    return profile, deployment_id


def _fleet_sort_key(profile: str, dep: Deployment) -> SortKey:
    return (f"{_RANK.get(dep.health, '2')}{dep.name.lower()}", profile)


PROFILE_COLUMN, URL_COLUMN = 0, 6
PROFILE_WIDTH_MAX = 24


def fleet_widths(total: int, longest_profile: int = 0) -> list[int]:
    """The columns' widths at ``total`` cells. PROFILE is as wide as the longest profile name (up to
    PROFILE_WIDTH_MAX) where the URL and then NAME have room to give: its share alone cut the demo's own
    "miosa-production" to "miosa-producti…" at 120 columns."""
    gaps = len(FLEET_COLUMNS) - 1
    minimum = sum(width for _, width, _ in FLEET_COLUMNS)
    spare = max(0, total - minimum - gaps)
    shares = sum(share for _, _, share in FLEET_COLUMNS)
    widths = [width + spare * share // shares for _, width, share in FLEET_COLUMNS]
    widths[NAME_COLUMN] += max(0, total - gaps - sum(widths))  # the rounding remainder to NAME
    wanted = min(max(longest_profile, FLEET_COLUMNS[PROFILE_COLUMN][1]), PROFILE_WIDTH_MAX)
    if widths[PROFILE_COLUMN] > wanted:
        widths[NAME_COLUMN] += widths[PROFILE_COLUMN] - wanted
        widths[PROFILE_COLUMN] = wanted
    for giver in (URL_COLUMN, NAME_COLUMN):
        need = wanted - widths[PROFILE_COLUMN]
        give = max(0, min(need, widths[giver] - FLEET_COLUMNS[giver][1]))
        widths[giver] -= give
        widths[PROFILE_COLUMN] += give
    return widths


class FleetTable(DeploymentsTable):
    """Rows of every profile: ``replace_profile``, ``upsert_in`` and ``remove_in`` per profile."""

    def __init__(self, providers: Mapping[str, str], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.providers = dict(providers)  # profile name -> provider
        self._by_profile: dict[str, set[str]] = {name: set() for name in providers}

    def _rank_of(self, key: str) -> tuple[float, ...] | None:
        """Failed rows first, then the rows hurting their users (over the error-rate threshold, highest
        first), then the rest in the state order. With ``s`` (unhealthy_first): by error rate alone, as the
        main list."""
        if self.unhealthy_first:
            return super()._rank_of(key)
        dep = self._rows.get(key)
        if dep is None:
            return None
        if dep.health is Health.FAILED:
            return (0, 0.0)
        source = self.health_source
        read = source(key) if source is not None else None
        rate = read[0] if read is not None else None
        if health_level(rate) in ("critical", "warning"):
            return (1, -(rate or 0.0))
        return None

    def _state_key(self, key: str) -> tuple[SortKey, str]:
        return (_fleet_sort_key(split_key(key)[0], self._rows[key]), key)

    @property
    def highlighted_key(self) -> str | None:
        if 0 <= self.cursor < len(self._visible):
            return self._visible[self.cursor]
        return None

    def profile_of(self, key: str) -> str:
        return split_key(key)[0]

    def keys_of(self, profile: str) -> set[str]:
        return set(self._by_profile.get(profile, ()))

    def replace_profile(self, profile: str, deployments: Iterable[Deployment]) -> set[str]:
        """Every row of one profile anew (after its snapshot); the other profiles' rows stay. Returns the
        keys of the rows whose deployment changed (re-ranked and repainted already)."""
        fresh = {row_key(profile, dep.id): dep for dep in deployments}
        gone = self.keys_of(profile) - fresh.keys()
        if gone:
            self.remove_in(profile, [split_key(key)[1] for key in gone], reindex=False)
        return self.upsert_in(profile, [dep for key, dep in fresh.items() if self._rows.get(key) is not dep])

    def upsert_in(self, profile: str, deployments: Iterable[Deployment]) -> set[str]:
        """Add or update one profile's rows; returns the keys of those whose deployment changed (re-ranked
        and repainted already)."""
        placed: list[tuple[SortKey, str]] = []
        keys = self._by_profile.setdefault(profile, set())
        updated: list[str] = []
        refilter = False
        for dep in deployments:
            key = row_key(profile, dep.id)
            old = self._rows.get(key)
            if old == dep:
                continue  # read again, nothing changed: nothing to repaint
            updated.append(key)
            self._rows[key] = dep
            refilter |= self._set_haystack(key, _haystack(profile, self.providers.get(profile, ""), dep))
            keys.add(key)
            if old is None or _fleet_sort_key(profile, old) != _fleet_sort_key(profile, dep):
                if old is not None:
                    self._remove_key((_fleet_sort_key(profile, old), key))
                placed.append((_fleet_sort_key(profile, dep), key))
        if self._rank_again(updated):
            self._ordered_ids = None
        self._place(placed)
        if placed:
            self._ordered_ids = None
        if self._ordered_ids is None or refilter:
            self._reindex()
        if updated:
            self._refresh_rows(set(updated))
        return set(updated)

    def remove_in(self, profile: str, ids: Iterable[str], *, reindex: bool = True) -> None:
        keys = self._by_profile.setdefault(profile, set())
        for dep_id in ids:
            key = row_key(profile, dep_id)
            old = self._rows.pop(key, None)
            self._haystacks.pop(key, None)
            keys.discard(key)
            self._ranks.pop(key, None)
            if old is not None:
                self._remove_key((_fleet_sort_key(profile, old), key))
        self._ordered_ids = None
        if reindex:
            self._reindex()

    # -- rendering ---------------------------------------------------------------------------------------
    def _refresh_rows(self, ids: set[str]) -> None:
        """Repaint the lines on screen that show one of these row keys."""
        width = self.size.width
        for y, key in enumerate(self.window_ids(), start=1):
            if key in ids:
                self.refresh(Region(0, y, width, 1))

    def _new_paint(self) -> _Paint:
        paint = super()._new_paint()
        return _Paint(
            width=paint.width,
            widths=fleet_widths(paint.width, max((len(name) for name in self.providers), default=0)),
            base=paint.base,
            cursor=paint.cursor,
            health=paint.health,
            now=paint.now,
        )

    def render_line(self, y: int) -> Strip:
        paint = self._paint or self._new_paint()
        if y == 0:
            style = self.get_component_rich_style("deployments-table--header")
            titles = zip(FLEET_COLUMNS, paint.widths, strict=True)
            text = " ".join(fit(title, w) for (title, _, _), w in titles)
            return Strip([Segment(fit(text, paint.width), style)], paint.width)
        index = int(self.scroll_y) + y - 1
        if index >= len(self._visible):
            return super().render_line(y)
        key = self._visible[index]
        dep = self._rows[key]
        age = _age(dep, paint.now)
        # Recorded as the list does, so that the once-a-second tick repaints an AGE whose text changed
        # (the fleet's ages stood still).
        self._painted_ages[y] = (key, age)
        return self._fleet_row(key, dep, paint, age, selected=index == self.cursor)

    def _fleet_row(self, key: str, dep: Deployment, paint: _Paint, age: str, *, selected: bool) -> Strip:
        base, widths, width = paint.base, paint.widths, paint.width
        profile = self.profile_of(key)
        version = f"v{dep.active_version_number}" if dep.active_version_number is not None else "-"
        cells = [
            (literal(profile), base),
            (self.providers.get(profile, "?"), base),
            (state_label(dep.state), paint.health[dep.health]),
            (name_cell(dep, widths[NAME_COLUMN]), base),
            (version, base),
            health_cell(self.health_source, key, widths[ERRORS_COLUMN], paint),
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
            segments = [
                Segment(text, style + paint.cursor if style else paint.cursor) for text, style, _ in segments
            ]
        return Strip(segments, width)


def _haystack(profile: str, provider: str, dep: Deployment) -> str:
    # The row's own (its name as the NAME column writes it included: "storefront (prod" matched nothing).
    return f"{profile} {provider} ".lower() + row_haystack(dep)

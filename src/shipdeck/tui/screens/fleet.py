"""The fleet overview: the deployments of every profile at once, failed first, with each profile's
connection in the header. The keys and actions are the main screen's: an action runs under the highlighted
row's own profile (its read-only rule, token, audit log and change session)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.widgets import Footer, Input, Static

from shipdeck.live.state import ChangeBatch, ConnectionState
from shipdeck.model import Deployment
from shipdeck.model.service_health import RowFigures
from shipdeck.tui.commands import PaletteCommand
from shipdeck.tui.context import ProfileContext, ProfileContexts
from shipdeck.tui.screens.command_line import CommandLine
from shipdeck.tui.screens.main import MainScreen
from shipdeck.tui.text import literal
from shipdeck.tui.widgets.detail_pane import DetailPane
from shipdeck.tui.widgets.fleet_table import FleetTable, row_key, split_key
from shipdeck.tui.widgets.static_text import set_text

# How each profile's connection reads in the header (symbol and word, never colour alone).
_CONNECTION_MARK = {
    ConnectionState.LIVE: "●",
    ConnectionState.CONNECTING: "◌",
    ConnectionState.RECONNECTING: "◐",
    ConnectionState.STALE: "◑",
    ConnectionState.OFFLINE: "○",
}


# A profile in the fleet's connection line: (live, name, environment, state, why it is offline).
_Part = tuple[bool, str, str, str, str]


class FleetScreen(MainScreen):
    """Every profile's rows; the header line says how each profile's connection is."""

    DEFAULT_CSS = """
    FleetScreen #fleet-header { height: 1; padding: 0 1; background: $panel; }
    FleetScreen #fleet-header-connections { height: 1; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, contexts: ProfileContexts, *, left_out: Sequence[tuple[str, str]] = ()) -> None:
        self.contexts = contexts
        self.members = contexts.all()
        # Profiles of the config not opened (name, why): named in the header, after the connected ones.
        self.left_out = tuple(left_out)
        super().__init__(self.members[0], id="fleet")

    @property
    def context(self) -> ProfileContext:
        """The highlighted row's profile (the first profile while there is no row)."""
        key = self.fleet.highlighted_key if self.is_mounted else None
        if key is not None:
            return self.contexts.get(split_key(key)[0])
        return self._profile_context

    def command_deployments(self) -> list[Deployment]:
        return [d for context in self.members for d in context.live.sorted_deployments()]

    def row_key_of(self, deployment_id: str) -> str:
        """The row of ``deployment_id`` in the highlighted row's profile, else in the first that has it."""
        names = [self.context.name, *(c.name for c in self.members)]
        for name in names:
            if deployment_id in self.contexts.get(name).live.deployments:
                return row_key(name, deployment_id)
        return row_key(self.context.name, deployment_id)

    def show_created(self, context: ProfileContext, deployment: Deployment) -> None:
        context.live.apply_deployment(deployment)
        self.fleet.upsert_in(context.name, [deployment])
        self.fleet.move_to(row_key(context.name, deployment.id))

    def compose(self) -> ComposeResult:
        providers = {c.name: c.profile.provider for c in self.members}
        yield Static(f"shipdeck · fleet · {len(self.members)} profiles", id="fleet-header", markup=False)
        yield Static("", id="fleet-header-connections", markup=False)
        yield Input(
            placeholder="filter: profile, provider, name, state, URL (enter or down: keep, esc: clear)",
            id="filter",
        )
        yield CommandLine(id="command-line")
        yield FleetTable(providers, clock=self.clock, id="deployments")
        yield DetailPane(clock=self.clock, id="detail")
        yield Footer(compact=True)

    def followed_contexts(self) -> Sequence[ProfileContext]:
        return self.members

    @property
    def fleet(self) -> FleetTable:
        table = self.table
        assert isinstance(table, FleetTable)
        return table

    def apply_batch(self, batch: ChangeBatch, context: ProfileContext) -> None:
        live = context.live
        table = self.fleet
        if batch.reset:
            table.replace_profile(context.name, live.deployments.values())
        else:
            updated: set[str] = set()  # rows the table re-ranked and repainted already
            if batch.changed:
                updated = table.upsert_in(
                    context.name, (live.deployments[i] for i in batch.changed if i in live.deployments)
                )
            if batch.removed:
                table.remove_in(context.name, batch.removed)
            if batch.changed and live.health is not None:
                keys = (row_key(context.name, i) for i in batch.changed)
                table.health_changed(key for key in keys if key not in updated)
            if batch.connection_changed and live.health is not None:
                table.refresh()  # a row's figures are said to be stale only while the server answers
        if table.total_count == 0:
            loading = any(
                c.live.pages_loading and c.live.connection is not ConnectionState.OFFLINE
                for c in self.members
            )
            table.empty_message = "loading deployments…" if loading else "no deployments in any profile"
        mine = self.context is context
        if batch.events and mine:
            self.detail.add_events(batch.events)
        current = table.highlighted
        if mine and (
            batch.detail_changed or batch.reset or (current is not None and current.id in batch.changed)
        ):
            self.detail.show(current, live.detail)
            self.show_health()  # the Health tab kept the figures it opened with
        self.refresh_header()
        for problem in batch.problems:
            self.notify(literal(f"{context.name}: {problem}"), severity="warning", markup=False)

    def health_of_row(self, key: str) -> RowFigures | None:
        """The ERRORS cell of a fleet row: its own profile's health monitor, by deployment id."""
        name, deployment_id = split_key(key)
        context = self.contexts.get(name) if name in self.contexts.profiles else None
        monitor = context.live.health if context is not None else None
        return monitor.row_figures(deployment_id) if monitor is not None else None

    def read_health_on_screen(self) -> None:
        """Each profile's health monitor reads its own rows on screen first (by deployment id)."""
        on_screen: dict[str, list[str]] = {}
        for key in self.fleet.window_ids():
            name, deployment_id = split_key(key)
            on_screen.setdefault(name, []).append(deployment_id)
        for context in self.members:
            context.live.show(on_screen.get(context.name, []))
            if context.live.health is not None:
                context.live.health.show(on_screen.get(context.name, []))

    def connections_line(self, width: int | None = None) -> str:
        """``miosa-production (production) ● live · mixpeek ○ offline (connection refused)`` for the header;
        within ``width`` cells when it can be: first "(prod)", then the word "live" left to its mark and
        the profiles that are not live first, then why one is offline left out (its own screen says it), so
        that at 80 columns a profile that is down is never the one cut off (the last profile's state was,
        and with the sandbox down it read "mixpeek")."""
        parts: list[_Part] = []
        for context in self.members:
            word = context.connection_word()
            mark = (
                "■"
                if context.live_failure is not None
                else _CONNECTION_MARK.get(context.live.connection, "?")
            )
            state = f"{mark} {word}"
            why = ""
            if context.live.connection is ConnectionState.OFFLINE and context.live.connection_note:
                why = f" ({context.live.connection_note[:40]})"
            if context.session.pending:
                state += f" !{len(context.session.pending)}"
            live = context.current and not context.live.polling
            # A production profile says so in the overview too (the badge was only in its dialogs).
            production = context.profile.environment == "production"
            parts.append((live, context.name, "production" if production else "", state, why))
        left_out = [f"{name} ✖ {why}" for name, why in self.left_out]  # not opened: "no token"

        problems_first = sorted(parts, key=lambda part: part[0])  # the profiles not live first

        def line(shown: list[_Part], short_environment: bool, short_live: bool, with_why: bool) -> str:
            words = []
            for live, name, environment, state, why in shown:
                where = f" ({'prod' if short_environment else environment})" if environment else ""
                if live and short_live:
                    state = state.replace(f" {ConnectionState.LIVE.value}", "", 1)
                words.append(f"{name}{where} {state}{why if with_why else ''}")
            return " · ".join(words + left_out)

        forms = [
            (parts, False, False, True),
            (parts, True, False, True),
            (parts, True, True, True),
            (problems_first, True, True, True),
            (problems_first, True, True, False),
        ]
        for form in forms:
            text = line(*form)
            if width is None or cell_len(text) <= width:
                return text
        # Still too long: the live profiles at the end give way to a count of them (one was cut off in
        # silence, "… miosa-prod (prod) ● ·", under a header saying 4 profiles).
        for hidden in range(1, sum(1 for part in parts if part[0]) + 1):
            text = line(problems_first[:-hidden], True, True, False) + f" · +{hidden} live"
            if cell_len(text) <= (width or 0):
                break
        return text

    def refresh_header(self) -> None:
        if not self.is_mounted:
            return
        table = self.fleet
        shown = f"{table.row_count}/{table.total_count}" if table.filter_text else str(table.total_count)
        self._show("#fleet-header", f"shipdeck · fleet · {len(self.members)} profiles · {shown} deployments")
        width = self.query_one("#fleet-header-connections", Static).content_region.width
        self._show("#fleet-header-connections", literal(self.connections_line(width or None)))

    def _show(self, selector: str, text: str) -> None:
        """A header line, only when its text changed: the once-a-second tick made an idle fleet write
        148 KiB a minute when it set the same text again. One line of fixed height across the screen: its
        size never changes, so no layout pass (a loading fleet's count changed with every batch, and each
        re-laid out the whole screen)."""
        set_text(self.query_one(selector, Static), text, layout=False)

    def remember_row(self, deployment: Deployment | None) -> None:
        """The row key (profile and id), which esc after a filter goes back to."""
        key = self.fleet.highlighted_key
        if key is not None:
            self._last_highlighted = key

    def watch_row(self, deployment: Deployment | None) -> None:
        """One detail stream at a time, the highlighted row's (its own profile's live state)."""
        context = self.context
        for member in self.members:
            if member is not context:
                member.live.watch(None)
        context.live.watch(deployment.id if deployment else None)

    def palette_targets(self, needle: str) -> Iterator[PaletteCommand]:
        for context in self.members:
            for deployment in context.live.sorted_deployments():
                if needle and needle not in deployment.name.lower():
                    continue
                key = row_key(context.name, deployment.id)
                title = f"go to {deployment.name} ({context.name})"
                yield (title, lambda k=key: self.go_to(k), deployment.state)  # type: ignore[misc]

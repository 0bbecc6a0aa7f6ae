"""The main screen: header, filter, deployments table, detail tabs, key hints."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, TabbedContent

from shipdeck.api.errors import ShipdeckError
from shipdeck.live.actions import ChangeInFlight, ReadOnlyError
from shipdeck.live.health import HealthMonitor
from shipdeck.live.plans import (
    ChangePlan,
    NothingToDo,
    plan_auto_deploy,
    plan_hold_auto_deploy,
    plan_promote,
    plan_publish,
    plan_redeploy,
    promote_environment,
    same_app_in,
)
from shipdeck.live.state import ChangeBatch, DeploymentDetail
from shipdeck.model import Capability, Deployment, PublishRequest, Version
from shipdeck.model.service_health import (
    HealthDetail,
    RowFigures,
    change_health_words,
    failed_versions,
    format_age,
    movement_text,
)
from shipdeck.tui.screens.command_line import CommandLine, Resolved, completions, resolve
from shipdeck.tui.screens.command_output import (
    bind_custom_commands,
    custom_palette_commands,
    run_custom_command,
)
from shipdeck.tui.screens.dialogs import (
    ConfirmDialog,
    ConfirmRequest,
    PublishForm,
    badge_environment,
    change_request,
    version_line,
)
from shipdeck.tui.screens.screen_kit import describe_error
from shipdeck.tui.text import age_text, literal
from shipdeck.tui.widgets.deployments_table import DeploymentsTable
from shipdeck.tui.widgets.detail_pane import DetailPane
from shipdeck.tui.widgets.status_header import StatusHeader

if TYPE_CHECKING:
    from shipdeck.tui.commands import PaletteCommand
    from shipdeck.tui.context import ProfileContext

T = TypeVar("T")

# Action name -> the capability it needs (the UI explains, and sends nothing, when it is missing).
ACTION_CAPABILITY: dict[str, Capability] = {
    "rollback": Capability.ROLLBACK,
    "promote": Capability.PROMOTE,
    "publish": Capability.PUBLISH,
    "redeploy": Capability.REDEPLOY,
    "domains": Capability.DOMAINS,
    "env": Capability.ENV,
    "logs": Capability.DEPLOYMENT_LOGS,
    "deploy": Capability.DEPLOY,
    "stop": Capability.STOP,
    "auto_deploy": Capability.UPDATE,
}
# A dialog's health figures older than this say when they were read.
STALE_FIGURES_S = 15.0
MUTATIONS = frozenset({"rollback", "promote", "publish", "redeploy", "deploy", "stop", "auto_deploy"})


def health_read_failure(monitor: HealthMonitor, deployment_id: str) -> str | None:
    """``the last health read failed 40s ago (…)`` while a deployment's figures could not be read again."""
    failed = monitor.read_failure(deployment_id)
    if failed is None:
        return None
    ago, why = failed
    return f"the last health read failed {format_age(ago)} ago ({why})"


class LiveBatch(Message):
    """A change batch from a profile's live state (posted at most ~10 times a second)."""

    def __init__(self, batch: ChangeBatch, context: ProfileContext) -> None:
        super().__init__()
        self.batch = batch
        self.context = context


class MainScreen(Screen[None]):
    """Header, filter, deployments table, detail tabs, key hints."""

    # Where the focus goes when the screen has none (back from a screen opened while the focused table sat
    # in a tab that was then hidden). Textual's default, the first focusable widget, is the filter even
    # while it is not displayed: the keys typed next went into it unseen, and r or d acted on the rows
    # that filter left.
    AUTO_FOCUS = "#deployments"

    # Ordered by what an on-call engineer reaches for first: the compact footer shows as many as fit (at 80
    # columns: rollback, filter, command line, publish, promote, help, quit), the rest are in help (?).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "rollback", "Rollback", id="rollback"),
        # Priority: the app runs it as the key arrives, before it forwards the keys queued behind it, so
        # "/smile" in one burst (laggy SSH, paste) filters instead of running 'l' (logs) and 'e' (env).
        Binding("slash", "filter", "Filter", id="filter", priority=True),
        Binding("colon", "command_line", "Cmd", id="command-line", priority=True),
        Binding("p", "publish", "Publish", id="publish"),
        Binding("P", "promote", "Promote", id="promote"),
        Binding("question_mark", "app.help", "Help", id="help"),
        Binding("q", "app.quit", "Quit", id="quit"),
        Binding("e", "env", "Env", id="env"),
        Binding("d", "domains", "Domains", id="domains"),
        Binding("R", "redeploy", "Redeploy", id="redeploy"),
        Binding("J", "raw", "Raw JSON", id="raw"),
        Binding("S", "stop", "Stop (off the air)", show=False, id="stop"),
        Binding("H", "auto_deploy", "Auto-deploy on/off", show=False, id="auto-deploy"),
        Binding("l", "logs", "Logs", show=False, id="logs"),
        Binding("y", "copy", "Copy URL", show=False, id="copy"),
        Binding("v", "versions", "Versions", show=False, id="versions"),
        Binding("right_square_bracket", "next_tab", "Next tab", show=False, id="detail-next-tab"),
        Binding("left_square_bracket", "previous_tab", "Previous tab", show=False, id="detail-previous-tab"),
        Binding("t", "tasks", "Tasks", show=False, id="tasks"),
        Binding("escape", "back", "Back to list", show=False, id="back"),
        Binding("c", "app.switch_profile", "Profiles", show=False, id="switch-profile"),
        Binding("F", "app.fleet", "Fleet", show=False, id="fleet"),
        # Only while the filter or the command line has focus (check_action): priority, so that the keys
        # typed behind enter reach the list, not the input ('/smile<enter>r' filters, then rolls back).
        Binding("enter", "leave_input", "Keep filter", show=False, priority=True),
        Binding("down", "leave_input", "Keep filter", show=False, priority=True),
        Binding("s", "sort_health", "Errors first", show=False, id="sort-unhealthy-first"),
        Binding("h", "health_span", "Health 1h/24h", show=False, id="health-span"),
    ]

    # No id by default: each profile's screen is its own mode, all attached at once (one id for all made
    # the second profile's screen fail with DuplicateIds, and c left the user on the first).
    def __init__(self, context: ProfileContext, *, id: str | None = None) -> None:  # noqa: A002 - Textual's
        super().__init__(id=id)
        self._profile_context = context
        self.clock = context.clock
        self._last_highlighted: str | None = None
        # check_action's answers when the bindings were last refreshed (the footer shows these).
        self._footer_states: tuple[bool | None, ...] | None = None
        self._table: DeploymentsTable | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        bind_custom_commands(self)  # the config's [commands.NAME] keys

    def action_custom_command(self, name: str) -> None:
        run_custom_command(self, name)

    @property
    def context(self) -> ProfileContext:
        """The profile this screen acts under (the fleet: the highlighted row's)."""
        return self._profile_context

    def compose(self) -> ComposeResult:
        profile = self.context.profile
        yield StatusHeader(
            profile=profile.name,
            provider=profile.provider,
            environment=profile.environment,
            read_only=profile.read_only,
        )
        yield Input(
            placeholder="filter: name, state, URL, version (enter or down: keep, esc: clear)", id="filter"
        )
        yield CommandLine(id="command-line")
        yield DeploymentsTable(clock=self.clock, id="deployments")
        yield DetailPane(clock=self.clock, id="detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        # Textual runs the on_mount of every class in the MRO, so a subclass says what differs through
        # followed_contexts, never with an on_mount of its own: the fleet had one, and it followed its
        # first profile twice (each batch applied twice) and ticked twice a second.
        table = self.query_one(DeploymentsTable)
        # No provider shown reads request metrics (Miteos): no figures, and a narrow ERRORS column.
        measured = any(c.reads.capabilities.supports(Capability.HEALTH) for c in self.followed_contexts())
        table.health_source = self.health_of_row if measured else None
        table.focus()
        for context in self.followed_contexts():
            self.follow(context)
        self.set_interval(1.0, self.tick, name="header-tick")

    def followed_contexts(self) -> Sequence[ProfileContext]:
        """The profiles whose live state this screen shows."""
        return (self.context,)

    def follow(self, context: ProfileContext) -> None:
        """Subscribe to the context's live state and status, keep it connected, show what it has now (a
        warm context's rows at once, without a request)."""

        def post(batch: ChangeBatch) -> None:
            self.post_message(LiveBatch(batch, context))

        self._unsubscribe += [
            context.live.subscribe(post),
            context.subscribe_status(self.refresh_header),
        ]
        context.attach()
        self._unsubscribe.append(context.detach)
        self.apply_batch(ChangeBatch(reset=True, connection_changed=True), context)

    def on_unmount(self) -> None:
        for undo in self._unsubscribe:
            undo()
        self._unsubscribe.clear()

    def on_live_batch(self, message: LiveBatch) -> None:
        try:
            self.apply_batch(message.batch, message.context)
        except NoMatches:
            pass  # the screen is closing: its widgets are already gone

    # -- service health ----------------------------------------------------------------------------------
    @property
    def health(self) -> HealthMonitor | None:
        """The health monitor of the profile this screen acts under (None: it reads no health)."""
        return self.context.live.health

    def health_of_row(self, row_key: str) -> RowFigures | None:
        """The ERRORS cell's figures of a row; None until it was read."""
        monitor = self.health
        return monitor.row_figures(row_key) if monitor is not None else None

    def action_sort_health(self) -> None:
        table = self.table
        table.set_unhealthy_first(not table.unhealthy_first)
        order = "highest error rate first" if table.unhealthy_first else "in the usual order"
        self.notify(f"deployments sorted {order}", timeout=3)

    def action_health_span(self) -> None:
        monitor = self.health
        if monitor is None:
            return
        monitor.set_span("24h" if monitor.detail_span == "1h" else "1h")
        self.detail.show_tab("tab-health")
        self.show_health()

    def change_health(self, plan: ChangePlan) -> tuple[list[str], str | None]:
        """The rollback / promote dialog's health line (the serving version's figures -> the target's while
        it served within the hour; [] when health was not read for this deployment), and a warning when
        the target failed its users when it was last live (the version just rolled back from, offered
        again by the rule or by the Versions cursor). One read of the figures for both."""
        monitor, deployment, current, target = self.health, plan.deployment, plan.current, plan.to
        if monitor is None or deployment is None or target is None:
            return [], None
        health = monitor.hour_health(deployment.id)
        if health is None:
            return [], None
        latest = monitor.latest.get(deployment.id)
        age = monitor.read_age(deployment.id)
        line, warning = change_health_words(
            health,
            current,
            target,
            self.clock(),
            overall=latest.error_rate if latest is not None else None,
            read_age=age or 0.0,
        )
        if age is not None and age >= STALE_FIGURES_S:
            # The ages count to now; the rates are the read's: a dialog opened a minute later gave them
            # as if current.
            line += f" (figures read {format_age(age)} ago)"
        return [f"health:  {line}"], warning

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        monitor = self.health
        if monitor is not None and event.pane is not None:
            monitor.want_detail(event.pane.id == "tab-health")
        self.call_after_refresh(self._focus_shown)

    def _focus_shown(self) -> None:
        """A tab switch hid the focused widget (] with the Versions table focused): the keys go back to the
        list rather than nowhere (j and k did nothing until a click)."""
        if self.is_active and (self.focused is None or self.focused.region.area == 0):
            self.set_focus(self.table)

    def movement_line(self, deployment: Deployment | None) -> str | None:
        """'errors 12.4% -> 3.1%, falling' for a few minutes after the user's change of this deployment."""
        monitor = self.health
        moving = monitor.movement(deployment.id) if monitor is not None and deployment else None
        if moving is None:
            return None
        return "errors " + movement_text(moving.before, moving.latest, moving.direction())

    def show_health(self) -> None:
        monitor = self.health
        if monitor is None:
            return
        current = self.current()
        moving = monitor.movement(current.id) if current is not None else None
        movement = movement_text(moving.before, moving.latest, moving.direction()) if moving else None
        detail = monitor.detail
        lists_read = True
        if current is not None and (detail is None or detail.health.deployment_id != current.id):
            # Until the Health tab's detail is read: the figures and the chart from the last read, and
            # the routes and failing requests said to be still on their way.
            latest = monitor.watched_health(current.id)
            detail = HealthDetail(health=latest) if latest is not None else None
            lists_read = False
        self.detail.show_health(
            detail,
            unavailable=monitor.unavailable,
            movement=movement,
            span=monitor.span_shown(current.id) if current is not None else "1h",
            wanted_span=monitor.detail_span,
            lists_read=lists_read,
            lists_waiting=not lists_read and monitor.detail_waiting,
            failure=health_read_failure(monitor, current.id) if current is not None else None,
        )

    # -- helpers -----------------------------------------------------------------------------------------
    @property
    def table(self) -> DeploymentsTable:
        """The screen's table (found once: check_action asks for it for every key the footer shows, and a
        query walks the whole screen)."""
        table = self._table
        if table is None or table.parent is not self:
            self._table = table = self.query_one(DeploymentsTable)
        return table

    @property
    def detail(self) -> DetailPane:
        return self.query_one(DetailPane)

    def current(self) -> Deployment | None:
        return self.table.highlighted

    # -- filter ------------------------------------------------------------------------------------------
    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        focused = self.app.focused
        if isinstance(focused, Input):
            # A priority binding sees '/' before the filter or the command line does; there it is text
            # (Miteos names hold " / "). Posted behind the keys already queued, so the order typed is kept.
            focused.post_message(events.Key("slash", "/"))
            return
        box.add_class("-visible")
        # Focus now, not via Widget.focus() (deferred): the keys behind '/' are forwarded to whatever has
        # focus when the app reads them.
        self.set_focus(box)

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.table.set_filter(event.value)
        self.refresh_header()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_leave_input()

    def action_leave_input(self) -> None:
        """Enter or down in the filter: keep what was typed, back to the list (now, so that the keys queued
        behind reach the list). Enter in the command line runs it."""
        box = self.query_one("#filter", Input)
        line = self.query_one(CommandLine)
        if self.app.focused is line:
            # Run it from the line's own queue: in a burst (":smile" and enter at once over laggy SSH, a
            # paste) this priority binding runs before the line has taken the keys queued ahead of it. The
            # focus stays on the line until then, so no key typed behind enter acts on the row left behind.
            line.call_later(lambda: self._run_command_line(line.value))
            return
        if not box.value:
            box.remove_class("-visible")
        self.set_focus(self.table)

    def action_back(self) -> None:
        line = self.query_one(CommandLine)
        box = self.query_one("#filter", Input)
        if line.has_focus or (line.has_class("-visible") and not box.has_focus):
            # Also when the focus left it (a click on the list): an open line with stale text looks like
            # a filter in force.
            self._close_command_line()
            return
        if box.has_focus or (self.table.has_focus and box.value):
            box.value = ""
            box.remove_class("-visible")
            self.table.set_filter("")
            # Back on the deployment the user was on before the filter (a filter that matched nothing
            # left no row under the cursor, and clearing it must not land on another one).
            if self._last_highlighted is not None:
                self.table.move_to(self._last_highlighted)
        self.table.focus()

    # -- the command line (:) ----------------------------------------------------------------------------
    def action_command_line(self) -> None:
        line = self.query_one(CommandLine)
        if self.app.focused is line or isinstance(self.app.focused, Input):
            # In the filter or the command line itself ':' is text (a priority binding sees it first).
            target = self.app.focused
            assert target is not None
            target.post_message(events.Key("colon", ":"))
            return
        line.value = ""
        line.add_class("-visible")
        self.set_focus(line)

    def _close_command_line(self) -> None:
        line = self.query_one(CommandLine)
        line.value = ""
        line.remove_class("-visible")
        self.set_focus(self.table)

    def _palette_commands(self) -> list[tuple[str, str]]:
        from shipdeck.tui.commands import ACTION_COMMANDS

        return [(action, title) for title, action, _help in ACTION_COMMANDS]

    def _profile_names(self) -> list[str]:
        """Every profile the console knows (the app's), this screen's first when it is alone."""
        profiles = getattr(getattr(self.app, "contexts", None), "profiles", None)
        return list(profiles) if profiles else [self.context.profile.name]

    def command_deployments(self) -> list[Deployment]:
        """The deployments the command line goes to by name or id (the fleet: every profile's)."""
        return self.context.live.sorted_deployments()

    def row_key_of(self, deployment_id: str) -> str:
        """The table's key of the row of ``deployment_id`` (the fleet's keys also name the profile)."""
        return deployment_id

    def show_created(self, context: ProfileContext, deployment: Deployment) -> None:
        """A deployment an action of ``context``'s profile just made: listed at once, under the cursor."""
        context.live.apply_deployment(deployment)
        self.table.upsert([deployment])
        self.table.move_to(deployment.id)

    def command_completions(self, value: str) -> list[str]:
        return completions(
            value,
            commands=self._palette_commands(),
            deployments=self.command_deployments(),
            profiles=self._profile_names(),
        )

    def resolve_command(self, text: str) -> Resolved:
        return resolve(
            text,
            commands=self._palette_commands(),
            deployments=self.command_deployments(),
            profiles=self._profile_names(),
        )

    def _run_command_line(self, text: str) -> None:
        resolved = self.resolve_command(text)
        if resolved.kind == "error":
            # The line stays as typed, to be corrected.
            self.notify(literal(resolved.message), title=":", severity="warning", markup=False)
            return
        self._close_command_line()
        if resolved.kind == "quit":
            self.app.call_later(self.app.run_action, "app.quit")
        elif resolved.kind == "deployment":
            self._jump_to(resolved.target)
        elif resolved.kind == "ctx":
            self._switch_profile(resolved.target)
        else:
            # A view or a palette command: the same action its key runs (which explains when unavailable).
            self.app.call_later(self.run_command, resolved.target)

    def _jump_to(self, deployment_id: str) -> None:
        table = self.table
        key = self.row_key_of(deployment_id)
        if not table.move_to(key):
            # Hidden by the filter: clear it, then go there.
            box = self.query_one("#filter", Input)
            box.value = ""
            box.remove_class("-visible")
            table.set_filter("")
            table.move_to(key)
        table.focus()

    def _switch_profile(self, name: str) -> None:
        if name == self.context.profile.name:
            self.notify(f"Already on profile {literal(name)}.", title=":ctx", markup=False)
            return
        known = self._profile_names()
        if name not in known:
            self.notify(
                literal(f"No profile {name!r} (known: {', '.join(known)})"),
                title=":ctx",
                severity="warning",
                markup=False,
            )
            return
        self.app.call_later(self.app.run_action, f"app.switch_to({name!r})")

    # -- table and detail --------------------------------------------------------------------------------
    @on(DeploymentsTable.Highlighted)
    def _highlighted(self, event: DeploymentsTable.Highlighted) -> None:
        # The one handler (Textual runs a subclass's @on handler *and* this one): the fleet overrides the
        # two steps that differ, remember_row and watch_row.
        deployment = event.deployment
        self.remember_row(deployment)
        self.watch_row(deployment)
        self.refresh_footer_keys()  # the footer greys what this row cannot do
        live = self.context.live
        self.detail.show(deployment, live.detail)
        self.detail.reset_events(live.events)
        self.show_last_change()
        self.show_health()

    def remember_row(self, deployment: Deployment | None) -> None:
        """Note the row the user is on (esc after a filter goes back to it)."""
        if deployment is not None:
            self._last_highlighted = deployment.id

    def watch_row(self, deployment: Deployment | None) -> None:
        """Follow the highlighted deployment's detail (its stream and reads)."""
        self.context.live.watch(deployment.id if deployment else None)

    def key_states(self) -> tuple[bool | None, ...]:
        """What check_action says of each of this screen's own actions now (True: enabled, None: greyed,
        False: hidden), in a fixed order: what the footer's keys show."""
        return tuple(self.check_action(action, ()) for action in _SCREEN_ACTIONS)

    def refresh_bindings(self) -> None:
        super().refresh_bindings()
        # Also when Textual refreshes them (the focus moved): what the footer is about to show.
        self._footer_states = self.key_states() if self.is_mounted else None

    def refresh_footer_keys(self) -> None:
        """Refresh the bindings (the Footer recomposes all its keys) only when a key's greying changed:
        moving between rows that can do the same recomposed it on every row (12% of a console's CPU)."""
        states = self.key_states()
        if states != self._footer_states:
            self.refresh_bindings()
            self._footer_states = states

    @on(DeploymentsTable.Selected)
    def _selected(self, event: DeploymentsTable.Selected) -> None:
        if event.deployment is not None:
            self.detail.focus_versions()

    def action_versions(self) -> None:
        self.detail.focus_versions()

    def action_next_tab(self) -> None:
        self.detail.cycle_tab(1)

    def action_previous_tab(self) -> None:
        self.detail.cycle_tab(-1)

    def apply_batch(self, batch: ChangeBatch, context: ProfileContext) -> None:
        live = context.live
        table = self.table
        updated: set[str] = set()  # rows the table re-ranked and repainted already
        if batch.reset:
            table.empty_message = "loading deployments…" if live.pages_loading else "no deployments"
            updated = table.replace_all(live.deployments.values())
        else:
            if batch.changed:
                updated = table.upsert(live.deployments[i] for i in batch.changed if i in live.deployments)
            if batch.removed:
                table.remove_rows(batch.removed)
        if batch.connection_changed and not live.deployments and live.connection_note:
            # Nothing listed yet and the server refused or failed: say why where the rows would be.
            table.empty_message = literal(f"could not list deployments: {live.connection_note} (retrying)")
            table.refresh()
        if batch.events:
            self.detail.add_events(batch.events)
        current = table.highlighted
        if batch.detail_changed or (current is not None and current.id in batch.changed) or batch.reset:
            self.detail.show(current, live.detail)
            self.show_health()
        if batch.changed and live.health is not None:
            table.health_changed(batch.changed - updated)
        if batch.connection_changed and live.health is not None:
            table.refresh()  # a row's figures are said to be stale only while the server answers
        self.refresh_header()
        for problem in batch.problems:
            self.notify(literal(problem), severity="warning", markup=False)

    def refresh_header(self) -> None:
        # Also from on_mount (the first batch: the last known list and its age go into the first frame).
        try:
            header = self.query_one(StatusHeader)
        except NoMatches:
            return
        context = self.context
        live = context.live
        if context.live_failure is not None:
            header.show_stopped(context.live_failure)
        else:
            header.show_connection(
                live.connection, live.data_age(), polling=live.polling, cached=live.cached_age()
            )
        reads = context.reads
        header.show_budget(reads.rate_limit_remaining, reads.rate_limit_limit)
        header.show_pending(len(context.session.pending) + len(context.session.left_open))
        table = self.table
        if live.never_listed and not live.deployments and not live.list_arriving:
            header.show_no_list()  # the server has not answered a list yet: not "0 deployments"
        else:
            header.show_count(table.row_count, table.total_count, loading=live.list_arriving)

    def show_last_change(self) -> None:
        current = self.current()
        change = self.context.session.last_change_of(current) if current is not None else None
        now = self.clock()
        text = f"{change.text()}, {age_text(change.at, now)} ago" if change else None
        moving = self.movement_line(current)
        if moving is not None:
            text = f"{text}; {moving}" if text else moving
        self.detail.show_last_change(text)

    def start_change(
        self, plan: ChangePlan, *, show_pipeline: bool = False, first: ChangePlan | None = None
    ) -> None:
        """Execute a confirmed plan through the profile's session, in the background."""
        on_applied = (lambda: self.detail.show_tab("tab-pipeline")) if show_pipeline else None
        self.context.start_change(self, plan, first=first, on_applied=on_applied)

    def tick(self) -> None:
        """Once a second: data age, budget, and the elapsed time of a running pipeline stage."""
        self.refresh_header()
        self.show_last_change()
        if self.detail.detail is not None and self.detail.detail.pipeline_running:
            self.detail.refresh_times()
        self.table.tick()
        self.read_health_on_screen()

    def read_health_on_screen(self) -> None:
        """The health monitor reads the rows on screen first (and the live state learns their version
        numbers)."""
        on_screen = self.table.window_ids()
        self.context.live.show(on_screen)
        if self.health is not None:
            self.health.show(on_screen)

    # -- the command palette (it asks the active screen) ---------------------------------------------------
    def palette_commands(self) -> list[PaletteCommand]:
        from shipdeck.tui.commands import ACTION_COMMANDS

        # run_command awaits the async actions (rollback, promote) and says why a greyed one cannot run.
        return (
            [
                (title, lambda a=action: self.call_later(self.run_command, a), help_text)  # type: ignore[misc]
                for title, action, help_text in ACTION_COMMANDS
            ]
            + custom_palette_commands(self)
            + self.profile_commands()
        )

    def profile_commands(self) -> list[PaletteCommand]:
        """'profile: NAME' for every other profile the console knows (switch at once)."""
        from shipdeck.tui.screens.profiles import profile_line

        app = self.app
        profiles = getattr(getattr(app, "contexts", None), "profiles", {})
        return [
            (
                f"profile: {name}",
                lambda n=name: app.run_action(f"app.switch_to({n!r})"),  # type: ignore[misc]
                profile_line(profile),
            )
            for name, profile in profiles.items()
            if name != self.context.name or type(self) is not MainScreen
        ]

    def palette_targets(self, needle: str) -> Iterator[PaletteCommand]:
        for deployment in self.context.live.sorted_deployments():
            if needle and needle not in deployment.name.lower():
                continue
            yield (f"go to {deployment.name}", lambda d=deployment.id: self.go_to(d), deployment.state)  # type: ignore[misc]

    def go_to(self, row_key: str) -> None:
        """Put the cursor on a row (a deployment id; the fleet: its row key) and focus the list."""
        if self.table.move_to(row_key):
            self.table.focus()

    # -- actions -----------------------------------------------------------------------------------------
    def unavailable_reason(self, action: str) -> str | None:
        """Why ``action`` cannot run here (read-only, provider lacks it), or None."""
        capability = ACTION_CAPABILITY.get(action)
        capabilities = self.context.reads.capabilities
        if capability and not capabilities.supports(capability):
            return capabilities.why_not(capability)
        if action == "tasks" and self.context.tasks_profile() is None:
            return f"profile {self.context.profile.name} has no tasks (Miteos)"
        if action in MUTATIONS and self.context.session.read_only:
            try:
                self.context.session.check_writable(action.replace("_", "-"))  # auto-deploy, as said
            except ReadOnlyError as exc:
                return exc.message
        return None

    # Actions that act on the selected row: greyed while no row is selected.
    NEEDS_ROW = frozenset({*ACTION_CAPABILITY, "copy", "raw", "versions"})

    def why_unavailable(self, action: str) -> str | None:
        """Why the key of ``action`` can do nothing for the selected row now (what the footer greys)."""
        if action == "publish" and self.context.reads.capabilities.supports(Capability.DEPLOY):
            action = "deploy"  # Miteos publishes by triggering a deployment
        reason = self.unavailable_reason(action)
        if reason is None and action in self.NEEDS_ROW and self.current() is None:
            reason = "select a deployment first"
        return reason

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """False hides a binding, None greys it (its key still explains why: see on_key)."""
        if action == "leave_input":
            focused = self.app.focused
            return focused is self.query_one("#filter", Input) or focused is self.query_one(CommandLine)
        if not self.is_mounted or not self._table_composed():
            return True
        return None if self.why_unavailable(action) else True

    def _table_composed(self) -> bool:
        # The table found once (see table); a query (as this was) matched the whole screen on every call,
        # and the Footer asks for each of its keys on every bindings refresh.
        try:
            self.table  # noqa: B018 - raises until the screen is composed
        except NoMatches:
            return False
        return True

    async def run_command(self, action: str) -> None:
        """Run ``action`` as its key would, from the palette or the command line: a greyed one (which
        Textual would skip silently) says why instead."""
        reason = self.why_unavailable(action)
        if reason:
            self.notify(literal(reason), title=f"{action}: not available", severity="warning", markup=False)
            return
        await self.run_action(action)

    def on_key(self, event: events.Key) -> None:
        """A greyed key is not run by Textual: say why instead of doing nothing."""
        if isinstance(self.app.focused, Input):
            return
        active = self.active_bindings.get(event.key)
        if active is None or active.enabled or active.node is not self:
            return
        reason = self.why_unavailable(active.binding.action)
        if reason:
            event.stop()
            title = active.binding.description or active.binding.action
            self.notify(literal(reason), title=f"{title}: not available", severity="warning", markup=False)

    def _ready_for(self, action: str) -> Deployment | None:
        """The deployment to act on, or None after telling the user why not."""
        reason = self.unavailable_reason(action)
        if reason:
            self.notify(literal(reason), title=f"{action}: not available", severity="warning", markup=False)
            return None
        deployment = self.current()
        if deployment is None:
            self.notify("Select a deployment first.", title=action, severity="warning")
        return deployment

    async def _detail_with_versions(self, deployment: Deployment) -> DeploymentDetail | None:
        """The deployment's versions (waiting briefly for them to load), or None after saying why."""
        detail = await self.context.live.detail_for(deployment.id)
        if detail is None or detail.versions is None:
            why = detail.unavailable.get("versions") if detail else None
            self.notify(
                literal(why or f"The versions of {deployment.name} could not be read; nothing was sent."),
                severity="warning",
                markup=False,
            )
            return None
        return detail

    def _auto_deploy_key(self) -> str:
        """The key that turns auto-deploy back on, as this console binds it (a keymap may move H): what a
        hold's note and done line name (plans.plan_auto_deploy's ``turn_on``; the CLI names its command)."""
        binding = next(
            (b.binding for b in self.active_bindings.values() if b.binding.id == "auto-deploy"), None
        )
        return self.app.get_key_display(binding) if binding is not None else "H"

    def _badge_environment(self, environment: str | None) -> str:
        return badge_environment(environment, self.context.profile)

    def _environment_row(self, deployment: Deployment, environment: str | None) -> Deployment:
        """The same app's row in ``environment`` (one row per environment), else ``deployment`` itself."""
        return same_app_in(deployment, environment, self.context.live.deployments.values()) or deployment

    def _confirm_request(
        self, plan: ChangePlan, *, confirm_label: str, ask_reason: bool = False
    ) -> ConfirmRequest:
        """The dialog for ``plan``: a rollback's or promote's versions and their health, else its summary."""
        lines: list[str] | None = None
        unhealthy = None
        if plan.current is not None or plan.to is not None:
            now = self.clock()
            lines = [f"current: {version_line(plan.current, now)}", f"target:  {version_line(plan.to, now)}"]
            health_lines, unhealthy = self.change_health(plan)
            lines += health_lines
        return change_request(
            plan,
            self.context.profile,
            confirm_label=confirm_label,
            lines=lines,
            first_warning=unhealthy,
            ask_reason=ask_reason,
            name_profile=len(self.followed_contexts()) > 1,
        )

    def _planned(self, make: Callable[[], ChangePlan]) -> ChangePlan | None:
        """The plan, or None after saying why there is nothing to send."""
        try:
            try:
                return make()
            except NothingToDo as exc:
                self.context.session.found_nothing_to_do(exc)
                self.notify(literal(exc.message), title="nothing sent", severity="warning", markup=False)
                return None
        except ChangeInFlight as exc:  # the earlier change it would settle is being sent now
            self.notify(literal(exc.message), title="nothing sent", severity="warning", markup=False)
            return None

    async def action_rollback(self) -> None:
        deployment = self._ready_for("rollback")
        if deployment is None or (detail := await self._detail_with_versions(deployment)) is None:
            return
        still = self.current()
        if still is None or still.id != deployment.id:
            return  # the cursor moved while the versions loaded: act only on what the user sees
        versions = detail.versions or []
        session = self.context.session
        hour = self.health.hour_health(deployment.id) if self.health is not None else None
        try:
            plan, notice = session.plan_rollback(
                deployment,
                versions,
                to=self.detail.selected_version,
                capabilities=self.context.reads.capabilities,
                profile_environment=self.context.profile.environment,
                # r then enter, in an incident, never goes back to a version seen failing its users.
                avoid=failed_versions(hour, versions, self.clock()) if hour is not None else None,
            )
        except (NothingToDo, ChangeInFlight) as exc:
            self.notify(
                literal(exc.message), title="rollback: nothing sent", severity="warning", markup=False
            )
            return
        request = self._confirm_request(plan, confirm_label="roll back", ask_reason=True)
        hold: ChangePlan | None = None
        if deployment.auto_deploy and self.context.reads.capabilities.supports(Capability.UPDATE):
            hold = plan_hold_auto_deploy(deployment, plan, turn_on=self._auto_deploy_key())
            request.offer_hold = "also turn auto-deploy off first, so the next push does not undo it"
        if notice is not None:
            request.notes.insert(0, notice[0].upper() + notice[1:] + ".")

        def confirmed(reason: str | None) -> None:
            if reason is None:
                return
            plan.reason = reason or None
            self.start_change(plan, first=hold if request.hold else None)

        self.app.push_screen(ConfirmDialog(request), confirmed)

    async def action_promote(self) -> None:
        deployment = self._ready_for("promote")
        if deployment is None or (detail := await self._detail_with_versions(deployment)) is None:
            return
        versions = detail.versions or []
        replaced = self._environment_row(deployment, promote_environment(deployment))
        plan = self._planned(
            lambda: plan_promote(
                deployment,
                versions,
                self.detail.selected_version,
                replaced=replaced,
                profile_environment=self.context.profile.environment,
            )
        )
        if plan is None:
            return

        def confirmed(answer: str | None) -> None:
            if answer is not None:
                plan.reason = answer or None  # the reason typed, for the audit log (as a rollback's)
                self.start_change(plan)

        request = self._confirm_request(plan, confirm_label="promote", ask_reason=True)
        self.app.push_screen(ConfirmDialog(request), confirmed)

    def action_stop(self) -> None:
        """Take the deployment off the air, after its name is typed (it stops answering)."""
        deployment = self._ready_for("stop")
        if deployment is None:
            return
        from shipdeck.live.operations import plan_stop
        from shipdeck.tui.screens.screen_kit import TextPrompt

        def must_match(typed: str) -> str | None:
            if typed.strip() == deployment.name:
                return None
            return f"Type {literal(deployment.name)} exactly to stop it."

        def confirmed(typed: str | None) -> None:
            if typed is not None:
                self.start_change(plan_stop(deployment))

        where = f" ({deployment.url})" if deployment.url else ""
        prompt = TextPrompt(
            f"Stop {literal(deployment.name)}?",
            help_text=(
                f"This takes the site off the air{literal(where)}: it stops answering until a version is "
                "promoted again. Type the deployment's name to confirm."
            ),
            validate=must_match,
        )
        self.app.push_screen(prompt, confirmed)

    def action_auto_deploy(self) -> None:
        """Turn the row's auto-deploy off (hold what is live against the next push) or back on: a
        rollback's hold had no way back but the provider's dashboard."""
        deployment = self._ready_for("auto_deploy")
        if deployment is None:
            return
        if deployment.auto_deploy is None:
            self.notify(
                literal(
                    f"{deployment.name}: the server does not say whether auto-deploy is on; nothing sent"
                ),
                title="auto-deploy",
                severity="warning",
                markup=False,
            )
            return
        turn_on = self._auto_deploy_key()
        plan = self._planned(
            lambda: plan_auto_deploy(deployment, on=not deployment.auto_deploy, turn_on=turn_on)
        )
        if plan is None:
            return

        def confirmed(answer: str | None) -> None:
            if answer is not None:
                self.start_change(plan)

        label = "turn on" if plan.details["auto_deploy"]["to"] else "turn off"
        self.app.push_screen(ConfirmDialog(self._confirm_request(plan, confirm_label=label)), confirmed)

    def action_deploy(self) -> None:
        """The deploy form, prefilled from the row (Miteos: a new deployment of its workspace)."""
        from shipdeck.live.operations import plan_deploy
        from shipdeck.tui.screens.deploy_form import DeployForm, DeployInput

        deployment = self._ready_for("deploy")
        context = self.context  # the row's profile (the fleet's cursor may be elsewhere when it is done)
        reads = context.reads
        if deployment is None or not reads.capabilities.supports(Capability.DEPLOY):
            return
        sandbox = reads.sandbox_mode

        async def prefilled() -> None:
            # The live state keeps no provider extras (memory): the row's workspace and configuration are
            # read from the server, one GET.
            try:
                full = await reads.deployment(deployment.id)
            except ShipdeckError as exc:
                self.notify(describe_error(exc), title="deploy", severity="error", markup=False)
                return
            extra = full.model_extra or {}
            initial = DeployInput(
                workspace_id=str(extra.get("workspace_id") or ""),
                target=full.target or "",
                config_id=str(extra.get("config_id") or ""),
            )
            form = DeployForm(
                initial,
                targets=reads.capabilities.deploy_targets,
                environment=self.context.profile.environment,
                sandbox=sandbox,
            )
            self.app.push_screen(form, submitted)

        def submitted(chosen: DeployInput | None) -> None:
            if chosen is None:
                return

            def select(created: Deployment) -> None:
                self.show_created(context, created)

            plan = plan_deploy(
                chosen.workspace_id, chosen.target, chosen.config_id, sandbox=sandbox, on_done=select
            )
            self.start_change(plan, show_pipeline=True)

        self.run_worker(prefilled(), group="deploy-form", exclusive=True, exit_on_error=False)

    def action_publish(self) -> None:
        if self.context.reads.capabilities.supports(
            Capability.DEPLOY
        ):  # Miteos publishes by triggering a deployment
            self.action_deploy()
            return
        deployment = self._ready_for("publish")
        if deployment is None:
            return
        memory = self.context.publish_memory
        initial = memory.recall(deployment.id)
        if deployment.environment:  # one environment of an app (Mixpeek): publish there by default
            initial = initial.model_copy(update={"environment": deployment.environment})
        capabilities = self.context.reads.capabilities
        form = PublishForm(
            deployment.name,
            initial,
            environments=capabilities.environments,
            fields=capabilities.publish_fields,
            required=capabilities.publish_required,
            # One environment: the profile's (a sandbox account says so); several: the chosen target's.
            badge_environment=(
                self._badge_environment
                if len(capabilities.environments) > 1
                else lambda _: self.context.profile.environment
            ),
        )
        detail = self.context.live.detail
        versions = detail.versions or [] if detail and detail.deployment_id == deployment.id else []

        def submitted(request: PublishRequest | None) -> None:
            if request is None:
                return
            try:
                memory.remember(deployment.id, request)
            except OSError as exc:
                self.notify(f"Could not remember the form's values: {exc.strerror}", severity="warning")
            plan = self._planned(
                lambda: plan_publish(
                    deployment,
                    request,
                    capabilities,
                    versions=versions,
                    profile_environment=self.context.profile.environment,
                )
            )
            if plan is None:
                return
            style = self.context.profile.confirm
            if style == "type" or (style is None and plan.into_production) or plan.warnings:
                # Into production: the form's ctrl+s is not enough, the name is typed too. A warning (this
                # publish makes a static version of a dynamic app) is read and confirmed before it is sent.
                def confirmed(answer: str | None) -> None:
                    if answer is not None:
                        self.start_change(plan, show_pipeline=True)

                dialog = ConfirmDialog(self._confirm_request(plan, confirm_label="publish"))
                self.app.push_screen(dialog, confirmed)
                return
            self.start_change(plan, show_pipeline=True)

        self.app.push_screen(form, submitted)

    def action_redeploy(self) -> None:
        deployment = self._ready_for("redeploy")
        if deployment is None:
            return
        plan = plan_redeploy(deployment, profile_environment=self.context.profile.environment)

        def confirmed(answer: str | None) -> None:
            if answer is not None:
                self.start_change(plan, show_pipeline=True)

        self.app.push_screen(ConfirmDialog(self._confirm_request(plan, confirm_label="redeploy")), confirmed)

    def _push_for_deployment(self, action: str, make: Callable[[Deployment], Screen[Any]]) -> None:
        deployment = self._ready_for(action)
        if deployment is not None:
            self.app.push_screen(make(deployment))

    def action_domains(self) -> None:
        from shipdeck.tui.screens.domains import DomainsScreen

        context = self.context
        self._push_for_deployment("domains", lambda d: DomainsScreen(context.reads, context.session, d))

    def action_env(self) -> None:
        from shipdeck.tui.screens.env_editor import EnvEditorScreen

        context = self.context
        self._push_for_deployment(
            "env", lambda d: EnvEditorScreen(context.reads, context.session, d, context.profile)
        )

    def action_logs(self) -> None:
        from shipdeck.tui.screens.logs import LogsScreen

        self._push_for_deployment(
            "logs",
            lambda d: LogsScreen(
                self.context.reads,
                d,
                environment=self._badge_environment(d.environment),
                versions=self._known_versions(d),
            ),
        )

    def _known_versions(self, deployment: Deployment) -> list[Version]:
        """The versions of ``deployment`` the live state holds (its detail, when it is the one shown)."""
        detail = self.context.live.detail
        if detail is None or detail.deployment_id != deployment.id:
            return []
        return list(detail.versions or [])

    def action_raw(self) -> None:
        """The selected object as the API returned it: the version under the cursor, the builds or domains
        when their tab is open, else the deployment."""
        from shipdeck.tui.screens.raw_view import RawViewScreen

        deployment = self._ready_for("raw")
        if deployment is None:
            return
        version = self.detail.selected_version
        start = {"tab-domains": "domains", "tab-pipeline": "builds"}.get(self.detail.active_tab, "deployment")
        if version is not None:
            start = "version"
        reads = self.context.reads
        screen = RawViewScreen(
            reads,
            deployment,
            reads.raw_targets(deployment, version),
            start=start,
            environment=self._badge_environment(deployment.environment),
        )
        self.app.push_screen(screen)

    def action_copy(self) -> None:
        from shipdeck.tui.clipboard import copy_to_clipboard

        deployment = self.current()
        if deployment is None:
            self.notify("Select a deployment first.", severity="warning")
            return
        if deployment.url:
            copy_to_clipboard(self.app, deployment.url, what="URL")
        else:
            copy_to_clipboard(self.app, deployment.id, what="deployment id")

    def action_tasks(self) -> None:
        reason = self.unavailable_reason("tasks")
        if reason:
            self.notify(literal(reason), title="tasks", severity="warning", markup=False)
            return
        from shipdeck.tui.screens.tasks import TasksScreen

        parts = self.context.tasks_parts()
        if parts is not None:
            reads, session, environment = parts
            self.app.push_screen(TasksScreen(reads, session, environment=environment))


# The screen's own actions (not the app's), whose greying the footer shows by row; not leave_input, which
# follows the focus (and Textual refreshes the bindings whenever the focus moves).
_SCREEN_ACTIONS = tuple(
    sorted(
        {b.action for b in MainScreen.BINDINGS if isinstance(b, Binding) and "." not in b.action}
        - {"leave_input"}
    )
)


def _in_environment(environment: str | None) -> str:
    """`` · staging`` for a row that is one environment of an app (Mixpeek); nothing otherwise."""
    return f" · {environment}" if environment else ""

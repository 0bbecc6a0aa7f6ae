"""The console: ShipdeckApp and its main screen (header, deployments, detail tabs, actions).

The UI renders :class:`shipdeck.live.state.LiveState` and sends intents; every mutation goes through
:class:`shipdeck.live.pending.PendingActions` (ActionRunner: read-only guard, audit, one idempotency key,
retried with that key when the connection drops mid-flight).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input

from shipdeck.api.base import Adapter
from shipdeck.api.errors import NetworkError, ProtocolError, ShipdeckError
from shipdeck.config.audit import AuditLog
from shipdeck.config.console_options import ConsoleOptions
from shipdeck.config.profile import Profile
from shipdeck.config.themes import DEFAULT_DARK_THEME
from shipdeck.live.actions import ActionRunner, ReadOnlyError
from shipdeck.live.pending import PendingAction, PendingActions
from shipdeck.live.publish_memory import PublishMemory
from shipdeck.live.state import ChangeBatch, Clock, ConnectionState, DeploymentDetail, LiveState, utc_now
from shipdeck.model import PROMOTABLE_VERSION_STATES, Deployment, PublishRequest, Version
from shipdeck.model.service_health import change_health_line, movement_text, version_figures
from shipdeck.tui.commands import ShipdeckCommands
from shipdeck.tui.screens.dialogs import ConfirmDialog, ConfirmRequest, PublishForm, version_line
from shipdeck.tui.screens.help import HelpScreen, help_rows
from shipdeck.tui.screens.screen_kit import describe_error
from shipdeck.tui.text import literal
from shipdeck.tui.themes import FALLBACK_THEME, THEME_VARIABLE_DEFAULTS, convert_themes
from shipdeck.tui.widgets.deployments_table import DeploymentsTable
from shipdeck.tui.widgets.detail_pane import DetailPane
from shipdeck.tui.widgets.status_header import StatusHeader

T = TypeVar("T")

NOT_ROLLED_BACK = (
    "Not rolled back: environment variables, databases and stored data, domains. "
    "Only the active version changes."
)

# Action name -> the capability it needs (the UI explains, and sends nothing, when it is missing).
ACTION_CAPABILITY = {
    "rollback": "rollback",
    "promote": "promote",
    "publish": "publish",
    "redeploy": "redeploy",
    "domains": "domains",
    "env": "env",
    "logs": "deployment_logs",
}
MUTATIONS = frozenset({"rollback", "promote", "publish", "redeploy"})
# Seconds between two toasts of the client's progress notices (the header shows the connection meanwhile).
NOTICE_INTERVAL = 10.0


class LiveBatch(Message):
    """A change batch from the live state (posted at most ~10 times a second)."""

    def __init__(self, batch: ChangeBatch) -> None:
        super().__init__()
        self.batch = batch


class MainScreen(Screen[None]):
    """Header, filter, deployments table, detail tabs, key hints."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # Priority: the app runs it as the key arrives, before it forwards the keys queued behind it, so
        # "/smile" in one burst (laggy SSH, paste) filters instead of running 'l' (logs) and 'e' (env).
        Binding("slash", "filter", "Filter", id="filter", priority=True),
        Binding("r", "rollback", "Rollback", id="rollback"),
        Binding("P", "promote", "Promote", id="promote"),
        Binding("p", "publish", "Publish", id="publish"),
        Binding("R", "redeploy", "Redeploy", id="redeploy"),
        Binding("d", "domains", "Domains", id="domains"),
        Binding("e", "env", "Env", id="env"),
        Binding("l", "logs", "Logs", show=False, id="logs"),
        Binding("y", "copy", "Copy URL", show=False, id="copy"),
        Binding("v", "versions", "Versions", show=False, id="versions"),
        Binding("right_square_bracket", "next_tab", "Next tab", show=False, id="detail-next-tab"),
        Binding("left_square_bracket", "previous_tab", "Previous tab", show=False, id="detail-previous-tab"),
        Binding("t", "tasks", "Tasks", show=False, id="tasks"),
        Binding("escape", "back", "Back to list", show=False, id="back"),
        Binding("s", "sort_health", "Errors first", show=False, id="sort-unhealthy-first"),
        Binding("h", "health_span", "Health 1h/24h", show=False, id="health-span"),
    ]

    def __init__(self, shipdeck: ShipdeckApp) -> None:
        super().__init__(id="main")
        self.shipdeck = shipdeck

    def compose(self) -> ComposeResult:
        profile = self.shipdeck.profile
        yield StatusHeader(
            profile=profile.name,
            provider=profile.provider,
            environment=profile.environment,
            read_only=profile.read_only,
        )
        yield Input(placeholder="filter: name, state, URL, version (enter: keep, esc: clear)", id="filter")
        yield DeploymentsTable(clock=self.shipdeck.clock, id="deployments")
        yield DetailPane(clock=self.shipdeck.clock, id="detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DeploymentsTable)
        table.health_source = self._health_of
        table.focus()

    # -- service health ----------------------------------------------------------------------------------
    def _health_of(self, deployment_id: str) -> tuple[float | None, list[float | None]] | None:
        monitor = self.shipdeck.live.health
        if monitor is None or deployment_id not in monitor.latest:
            return None
        return monitor.error_rate(deployment_id), list(monitor.trends.get(deployment_id, ()))

    def action_sort_health(self) -> None:
        table = self.table
        table.set_unhealthy_first(not table.unhealthy_first)
        order = "highest error rate first" if table.unhealthy_first else "by name"
        self.notify(f"deployments sorted {order}", timeout=3)

    def action_health_span(self) -> None:
        monitor = self.shipdeck.live.health
        if monitor is None:
            return
        monitor.set_span("24h" if monitor.detail_span == "1h" else "1h")
        self.detail.show_tab("tab-health")
        self.show_health()

    def change_health_lines(
        self, deployment: Deployment, current: Version | None, target: Version | None
    ) -> list[str]:
        """The rollback / promote dialog's health line: current version's figures -> the target's, while
        it served within the Health tab's span ([] when health was not read for this deployment)."""
        monitor = self.shipdeck.live.health
        detail = monitor.detail if monitor is not None else None
        if detail is None or detail.health.deployment_id != deployment.id or target is None:
            return []
        health = detail.health
        now = health.as_of or self.shipdeck.clock()
        serving = version_figures(health, current.number if current else None, serving=True)
        earlier = version_figures(health, target.number, serving=False)
        line = change_health_line(serving, earlier, now, target_label=target.label)
        return [f"health:  {line}"]

    def show_health(self) -> None:
        monitor = self.shipdeck.live.health
        if monitor is None:
            return
        current = self.table.highlighted
        moving = monitor.movement(current.id) if current is not None else None
        movement = movement_text(moving.before, moving.latest, moving.direction()) if moving else None
        self.detail.show_health(
            monitor.detail, unavailable=monitor.unavailable, movement=movement, span=monitor.detail_span
        )

    # -- helpers -----------------------------------------------------------------------------------------
    @property
    def table(self) -> DeploymentsTable:
        return self.query_one(DeploymentsTable)

    @property
    def detail(self) -> DetailPane:
        return self.query_one(DetailPane)

    def current(self) -> Deployment | None:
        return self.table.highlighted

    # -- filter ------------------------------------------------------------------------------------------
    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if self.app.focused is box:
            # A priority binding sees '/' before the filter does; there it is text. Posted behind the keys
            # already queued for the filter, so the order typed is kept.
            box.post_message(events.Key("slash", "/"))
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
        if not event.value:
            event.input.remove_class("-visible")
        self.table.focus()

    def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_focus or (self.table.has_focus and box.value):
            box.value = ""
            box.remove_class("-visible")
            self.table.set_filter("")
        self.table.focus()

    # -- table and detail --------------------------------------------------------------------------------
    @on(DeploymentsTable.Highlighted)
    def _highlighted(self, event: DeploymentsTable.Highlighted) -> None:
        deployment = event.deployment
        live = self.shipdeck.live
        live.watch(deployment.id if deployment else None)
        self.detail.show(deployment, live.detail)
        self.detail.reset_events(live.events)
        self.show_health()

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

    def apply_batch(self, batch: ChangeBatch) -> None:
        live = self.shipdeck.live
        table = self.table
        if batch.reset:
            table.empty_message = "loading deployments…" if live.pages_loading else "no deployments"
            table.replace_all(live.deployments.values())
        else:
            if batch.changed:
                table.upsert(live.deployments[i] for i in batch.changed if i in live.deployments)
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
        if batch.changed and table.unhealthy_first:
            table.resort()
        self.refresh_header()
        for problem in batch.problems:
            self.notify(literal(problem), severity="warning", markup=False)

    def refresh_header(self) -> None:
        live = self.shipdeck.live
        header = self.query_one(StatusHeader)
        header.show_connection(live.connection, live.data_age(), polling=live.polling)
        adapter = self.shipdeck.adapter
        header.show_budget(adapter.rate_limit_remaining, adapter.rate_limit_limit)
        header.show_pending(len(self.shipdeck.pending.pending))
        table = self.table
        header.show_count(table.row_count, table.total_count, loading=live.pages_loading)

    def tick(self) -> None:
        """Once a second: data age, budget, and the elapsed time of a running pipeline stage."""
        self.refresh_header()
        if self.detail.detail is not None and self.detail.detail.pipeline_running:
            self.detail.refresh_times()
        self.table.refresh()
        if self.shipdeck.live.health is not None:
            self.shipdeck.live.health.show(self.table.window_ids())

    # -- actions -----------------------------------------------------------------------------------------
    def unavailable_reason(self, action: str) -> str | None:
        """Why ``action`` cannot run here (read-only, provider lacks it), or None."""
        capability = ACTION_CAPABILITY.get(action)
        capabilities = self.shipdeck.adapter.capabilities
        if capability and not capabilities.supports(capability):
            return capabilities.why_not(capability)
        if action == "tasks" and self.shipdeck.tasks_profile() is None:
            return f"profile {self.shipdeck.profile.name} has no tasks (Miteos)"
        if action in MUTATIONS and self.shipdeck.runner.read_only:
            try:
                self.shipdeck.runner.check_writable(action)
            except ReadOnlyError as exc:
                return exc.message
        return None

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
        detail = await self.shipdeck.live.detail_for(deployment.id)
        if detail is None or detail.versions is None:
            why = detail.unavailable.get("versions") if detail else None
            self.notify(
                literal(why or f"The versions of {deployment.name} could not be read; nothing was sent."),
                severity="warning",
                markup=False,
            )
            return None
        return detail

    def _badge_environment(self, environment: str | None) -> str:
        """The dialog's badge: the row's own environment (Mixpeek), unless the whole profile is a sandbox."""
        profile_environment = self.shipdeck.profile.environment
        if environment in ("production", "staging") and profile_environment != "sandbox":
            return environment
        return profile_environment

    def _environment_row(self, deployment: Deployment, environment: str | None) -> Deployment:
        """The same app's row in ``environment`` (one row per environment), else ``deployment`` itself."""
        if environment is None or deployment.environment in (None, environment):
            return deployment
        return next(
            (
                row
                for row in self.shipdeck.live.deployments.values()
                if row.environment == environment
                and (row.name, row.slug) == (deployment.name, deployment.slug)
            ),
            deployment,
        )

    async def action_rollback(self) -> None:
        deployment = self._ready_for("rollback")
        if deployment is None or (detail := await self._detail_with_versions(deployment)) is None:
            return
        versions = detail.versions or []
        current = next((v for v in versions if v.id == deployment.active_version_id), None)
        target = self.detail.selected_version or detail.previous_ready_version(deployment.active_version_id)
        if target is None:
            self.notify(
                f"{literal(deployment.name)} has no earlier ready version to roll back to; nothing was sent.",
                severity="warning",
                markup=False,
            )
            return
        if target.id == deployment.active_version_id:
            self.notify(f"{literal(target.label)} is already active; nothing was sent.", markup=False)
            return
        if target.state not in PROMOTABLE_VERSION_STATES:
            self.notify(
                f"{literal(target.label)} is {literal(target.state)}, not ready: cannot roll back to it; "
                "nothing was sent.",
                severity="warning",
                markup=False,
            )
            return
        now = self.shipdeck.clock()
        request = ConfirmRequest(
            title=f"Roll back {literal(deployment.name)}{_in_environment(deployment.environment)}",
            lines=[f"current: {version_line(current, now)}", f"target:  {version_line(target, now)}"]
            + self.change_health_lines(deployment, current, target),
            notes=[NOT_ROLLED_BACK],
            confirm_label="roll back",
            environment=self._badge_environment(deployment.environment),
            ask_reason=True,
        )

        def confirmed(reason: str | None) -> None:
            if reason is None:
                return
            self.shipdeck.start_mutation(
                "rollback",
                deployment,
                lambda key: self.shipdeck.adapter.rollback(
                    deployment.id,
                    to_version_id=target.id,
                    environment=deployment.environment,
                    reason=reason or None,
                    idempotency_key=key,
                ),
                reason=reason or None,
                details={"from": current.label if current else None, "to": target.label},
                done=lambda result: f"{deployment.name}: rolled back to {target.label}",
            )

        self.app.push_screen(ConfirmDialog(request), confirmed)

    async def action_promote(self) -> None:
        deployment = self._ready_for("promote")
        if deployment is None or (detail := await self._detail_with_versions(deployment)) is None:
            return
        versions = detail.versions or []
        # Mixpeek lists an app once per environment: promoting from its staging row replaces production's.
        target_environment = "production" if deployment.environment else None
        replaced = self._environment_row(deployment, target_environment)
        version = self.detail.selected_version
        if version is None:
            candidates = sorted(versions, key=lambda v: (v.number or 0, v.id), reverse=True)
            version = candidates[0] if candidates else None
        if version is None:
            self.notify(f"{literal(deployment.name)} has no versions.", severity="warning", markup=False)
            return
        if version.id == replaced.active_version_id:
            self.notify(
                f"{literal(version.label)} is already active{_in_environment(target_environment)} "
                "(v: pick another version in the Versions tab).",
                markup=False,
            )
            return
        if version.state not in PROMOTABLE_VERSION_STATES:
            self.notify(
                f"{literal(version.label)} is {literal(version.state)}: only ready versions can be promoted; "
                "nothing was sent.",
                title="promote",
                severity="warning",
                markup=False,
            )
            return
        now = self.shipdeck.clock()
        current = next((v for v in versions if v.id == replaced.active_version_id), None)
        request = ConfirmRequest(
            title=f"Promote {literal(version.label)} of {literal(deployment.name)}"
            + _in_environment(target_environment),
            lines=[f"current: {version_line(current, now)}", f"promote: {version_line(version, now)}"]
            + self.change_health_lines(deployment, current, version),
            confirm_label="promote",
            environment=self._badge_environment(target_environment),
        )

        def confirmed(answer: str | None) -> None:
            if answer is None:
                return
            self.shipdeck.start_mutation(
                "promote",
                deployment,
                lambda key: self.shipdeck.adapter.promote(
                    deployment.id, version.id, environment=target_environment, idempotency_key=key
                ),
                details={"version": version.label},
                done=lambda result: f"{deployment.name}: {version.label} promoted",
            )

        self.app.push_screen(ConfirmDialog(request), confirmed)

    def action_publish(self) -> None:
        deployment = self._ready_for("publish")
        if deployment is None:
            return
        memory = self.shipdeck.publish_memory
        initial = memory.recall(deployment.id)
        if deployment.environment:  # one environment of an app (Mixpeek): publish there by default
            initial = initial.model_copy(update={"environment": deployment.environment})
        capabilities = self.shipdeck.adapter.capabilities
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
                else lambda _: self.shipdeck.profile.environment
            ),
        )

        def submitted(request: PublishRequest | None) -> None:
            if request is None:
                return
            try:
                memory.remember(deployment.id, request)
            except OSError as exc:
                self.notify(f"Could not remember the form's values: {exc.strerror}", severity="warning")

            def done(result: Any) -> str:
                version = getattr(result, "version", None)
                label = f" {version.label}" if version is not None else ""
                return f"{deployment.name}: publishing new version{label}"

            self.shipdeck.start_mutation(
                "publish",
                deployment,
                lambda key: self.shipdeck.adapter.publish(deployment.id, request, idempotency_key=key),
                details=request.model_dump(exclude_none=True, mode="json"),
                done=done,
                show_pipeline=True,
            )

        self.app.push_screen(form, submitted)

    def action_redeploy(self) -> None:
        deployment = self._ready_for("redeploy")
        if deployment is None:
            return
        version = (
            f"v{deployment.active_version_number}"
            if deployment.active_version_number
            else "the active version"
        )
        request = ConfirmRequest(
            title=f"Redeploy {literal(deployment.name)}",
            lines=[f"Rebuild and restart {version} of {literal(deployment.name)}."],
            notes=["Picks up env var changes; the version does not change."],
            confirm_label="redeploy",
            environment=self.shipdeck.profile.environment,
        )

        def confirmed(answer: str | None) -> None:
            if answer is None:
                return
            self.shipdeck.start_mutation(
                "redeploy",
                deployment,
                lambda key: self.shipdeck.adapter.redeploy(deployment.id, idempotency_key=key),
                done=lambda result: f"{deployment.name}: redeploy started",
                show_pipeline=True,
            )

        self.app.push_screen(ConfirmDialog(request), confirmed)

    def _push_for_deployment(self, action: str, make: Callable[[Deployment], Screen[Any]]) -> None:
        deployment = self._ready_for(action)
        if deployment is not None:
            self.app.push_screen(make(deployment))

    def action_domains(self) -> None:
        from shipdeck.tui.screens.domains import DomainsScreen

        shipdeck = self.shipdeck
        self._push_for_deployment("domains", lambda d: DomainsScreen(shipdeck.adapter, shipdeck.runner, d))

    def action_env(self) -> None:
        from shipdeck.tui.screens.env_editor import EnvEditorScreen

        shipdeck = self.shipdeck
        self._push_for_deployment("env", lambda d: EnvEditorScreen(shipdeck.adapter, shipdeck.runner, d))

    def action_logs(self) -> None:
        from shipdeck.tui.screens.logs import LogsScreen

        self._push_for_deployment("logs", lambda d: LogsScreen(self.shipdeck.adapter, d))

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
        self.shipdeck.open_tasks()


class ShipdeckApp(App[int]):
    CSS_PATH = Path(__file__).parent / "shipdeck.tcss"
    TITLE = "shipdeck"
    # The screen gets -narrow below 100 columns (the header drops what matters least).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    COMMANDS = App.COMMANDS | {ShipdeckCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("ctrl+p", "command_palette", "Palette", show=False, id="command-palette"),
    ]

    def __init__(
        self,
        options: ConsoleOptions,
        *,
        adapter: Adapter | None = None,
        clock: Clock | None = None,
        make_adapter: Callable[[Profile], Adapter] | None = None,
    ) -> None:
        super().__init__()
        self.options = options
        self.profile = options.profile
        self.clock: Clock = clock or utc_now
        self._make_adapter = make_adapter or self._default_adapter_factory
        self.adapter = adapter if adapter is not None else self._make_adapter(self.profile)
        self._owns_adapter = adapter is None
        audit = AuditLog(options.audit_path, profile=self.profile.name, provider=self.profile.provider)
        self.runner = ActionRunner(audit, read_only=self.profile.read_only, profile_name=self.profile.name)
        self.pending = PendingActions(self.runner, on_change=self._pending_changed)
        self.live = LiveState(self.adapter, clock=self.clock, read_health=True)
        self.publish_memory = PublishMemory()
        self._unsubscribe = self.live.subscribe(self._post_batch)
        self._tasks_adapter: Adapter | None = None
        self._last_notice_at = -NOTICE_INTERVAL
        self._startup_problems: list[str] = [*options.config_problems]
        self._register_themes()

    # -- setup -------------------------------------------------------------------------------------------
    def _default_adapter_factory(self, profile: Profile) -> Adapter:
        from shipdeck.api.factory import make_adapter

        return make_adapter(profile, on_notice=self._notice)

    def _notice(self, text: str) -> None:
        """A progress line of the client ('retrying in 2 s'). These come with every retry: while the header
        already says the connection is down they are dropped, otherwise at most one per NOTICE_INTERVAL."""
        now = time.monotonic()
        if self.live.connection is not ConnectionState.LIVE or now - self._last_notice_at < NOTICE_INTERVAL:
            return
        self._last_notice_at = now
        self.notify(literal(text), markup=False, timeout=4)

    def _register_themes(self) -> None:
        themes, problems = convert_themes(self.options.user_themes)
        for theme in themes:
            self.register_theme(theme)
        self._startup_problems += [*self.options.theme_problems, *problems]
        wanted = self.options.theme or DEFAULT_DARK_THEME
        if wanted in self.available_themes:
            self.theme = wanted
            return
        fallback = DEFAULT_DARK_THEME if DEFAULT_DARK_THEME in self.available_themes else FALLBACK_THEME
        if self.options.theme:
            self._startup_problems.append(f"theme {wanted!r} is unknown or broken: using {fallback}")
        self.theme = fallback

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(THEME_VARIABLE_DEFAULTS)

    async def on_mount(self) -> None:
        self._apply_keymap()
        # Composed before the live state starts: its first batch must find the table to fill.
        await self.push_screen(MainScreen(self))
        for problem in self._startup_problems:
            self.notify(literal(problem), severity="warning", markup=False, timeout=8)
        self.run_worker(self.live.run(), name="live", group="live", exit_on_error=False)
        self.set_interval(1.0, self._tick, name="header-tick")

    def all_binding_ids(self) -> set[str]:
        """Every binding id the console knows (what the config's [keymap] may name)."""
        from shipdeck.tui.screens.dialogs import ConfirmDialog, PublishForm

        classes: Iterable[type[Any]] = (
            ShipdeckApp,
            MainScreen,
            DeploymentsTable,
            ConfirmDialog,
            PublishForm,
            HelpScreen,
        )
        ids: set[str] = set()
        for cls in classes:
            for binding in cls.BINDINGS:
                if isinstance(binding, Binding) and binding.id:
                    ids.add(binding.id)
        ids |= _other_screen_binding_ids()
        return ids

    def _apply_keymap(self) -> None:
        keymap = dict(self.options.keymap)
        unknown = sorted(set(keymap) - self.all_binding_ids())
        for binding_id in unknown:
            self._startup_problems.append(
                f"keymap: no key binding has the id {binding_id!r} (see ? for every id); ignored"
            )
            del keymap[binding_id]
        self.set_keymap(keymap)

    def handle_bindings_clash(self, clashed_bindings: set[Binding], node: Any) -> None:
        names = ", ".join(sorted(f"{b.id or b.action} ({b.key})" for b in clashed_bindings))
        self.notify(
            f"keymap: these bindings now share a key, the remapped one wins: {names}",
            severity="warning",
            markup=False,  # keys come from the user's config: '[' in one must not be read as markup
        )

    # -- the live state ----------------------------------------------------------------------------------
    def _post_batch(self, batch: ChangeBatch) -> None:
        self.post_message(LiveBatch(batch))

    def on_live_batch(self, message: LiveBatch) -> None:
        main = self._main_screen()
        if main is not None:
            try:
                main.apply_batch(message.batch)
            except NoMatches:
                pass  # the app is closing: the main screen's widgets are already gone

    def _main_screen(self) -> MainScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        return None

    def _tick(self) -> None:
        main = self._main_screen()
        if main is not None and main.is_mounted:
            try:
                main.tick()
            except NoMatches:
                pass

    def _pending_changed(self) -> None:
        main = self._main_screen()
        if main is not None and main.is_mounted:
            main.refresh_header()

    def deployments_snapshot(self) -> list[Deployment]:
        return self.live.sorted_deployments()

    def go_to_deployment(self, deployment_id: str) -> None:
        main = self._main_screen()
        if main is not None and main.table.move_to(deployment_id):
            main.table.focus()

    def run_main_action(self, action: str) -> None:
        main = self._main_screen()
        if action == "help":
            self.action_help()
        elif main is not None:
            # run_action awaits the async actions (rollback, promote); calling them bare did nothing.
            self.call_later(main.run_action, action)

    # -- mutations ---------------------------------------------------------------------------------------
    def start_mutation(
        self,
        action: str,
        deployment: Deployment,
        call: Callable[[str], Awaitable[T]],
        *,
        done: Callable[[T], str],
        reason: str | None = None,
        details: dict[str, Any] | None = None,
        show_pipeline: bool = False,
    ) -> None:
        """Run a mutation in the background; the outcome (or the server's refusal) is notified."""

        def on_pending(item: PendingAction[T]) -> None:
            self.notify(
                f"{item.label}: no answer ({literal(item.last_error)}). Pending: it will be resent with the "
                "same idempotency key when the connection is back (the server will not act twice).",
                title="pending",
                severity="warning",
                markup=False,
                timeout=10,
            )

        async def run() -> None:
            try:
                result = await self.pending.run(
                    action, deployment.name, call, reason=reason, details=details, on_pending=on_pending
                )
            except ShipdeckError as exc:
                # Failed: no usable answer (the message says whether the change may have happened);
                # refused: the server, the profile or the audit log said no, and nothing changed.
                outcome = "failed" if isinstance(exc, NetworkError | ProtocolError) else "refused"
                title = f"{action} {outcome}"
                self.notify(describe_error(exc), title=title, severity="error", markup=False, timeout=12)
                return
            if isinstance(result, Deployment):
                self.live.apply_deployment(result)
            self.live.mark_dirty(deployment.id)
            self.notify(literal(done(result)), title=action, markup=False)
            main = self._main_screen()
            if main is not None and show_pipeline:
                main.detail.show_tab("tab-pipeline")

        self.run_worker(run(), group="actions", exit_on_error=False)

    # -- other screens -----------------------------------------------------------------------------------
    def tasks_profile(self) -> Profile | None:
        if self.profile.provider == "miteos":
            return self.profile
        return self.profile.tasks

    def open_tasks(self) -> None:
        from shipdeck.tui.screens.tasks import TasksScreen

        profile = self.tasks_profile()
        if profile is None:
            return
        if profile is self.profile:
            adapter, runner = self.adapter, self.runner
        else:
            if self._tasks_adapter is None:
                self._tasks_adapter = self._make_adapter(profile)
            adapter = self._tasks_adapter
            audit = AuditLog(self.options.audit_path, profile=profile.name, provider=profile.provider)
            runner = ActionRunner(audit, read_only=profile.read_only, profile_name=profile.name)
        self.push_screen(TasksScreen(adapter, runner))

    def action_help(self) -> None:
        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        main = screen if isinstance(screen, MainScreen) else None
        rows = help_rows(screen, main.unavailable_reason if main else (lambda action: None))
        self.push_screen(HelpScreen(rows))

    async def on_unmount(self) -> None:
        self._unsubscribe()
        for adapter in (self.adapter if self._owns_adapter else None, self._tasks_adapter):
            if adapter is not None:
                try:
                    await adapter.aclose()
                except ShipdeckError:
                    pass


def _other_screen_binding_ids() -> set[str]:
    """Binding ids of the side screens (tasks, env, domains, logs), so the keymap may name them too."""
    import importlib

    ids: set[str] = set()
    for module_name in ("tasks", "env_editor", "domains", "logs", "screen_kit"):
        module = importlib.import_module(f"shipdeck.tui.screens.{module_name}")
        for value in vars(module).values():
            bindings = getattr(value, "BINDINGS", None) if isinstance(value, type) else None
            for binding in bindings or []:
                if isinstance(binding, Binding) and binding.id:
                    ids.add(binding.id)
    return ids


def make_app(
    options: ConsoleOptions,
    *,
    adapter: Adapter | None = None,
    clock: Callable[[], datetime] | None = None,
) -> ShipdeckApp:
    """The console app (tests pass an adapter and a fixed clock)."""
    return ShipdeckApp(options, adapter=adapter, clock=clock)


def _in_environment(environment: str | None) -> str:
    """`` · staging`` for a row that is one environment of an app (Mixpeek); nothing otherwise."""
    return f" · {environment}" if environment else ""

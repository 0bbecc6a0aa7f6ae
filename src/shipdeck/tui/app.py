"""The console: ShipdeckApp and its main screen (header, deployments, detail tabs, actions).

The UI renders :class:`shipdeck.live.state.LiveState` and sends intents. A change is decided by a planner
(:mod:`shipdeck.live.plans`), shown in a dialog, and executed by the profile's
:class:`shipdeck.live.session.ChangeSession` (read-only guard, audit once, one idempotency key, unknown
outcomes reconciled); no screen calls the adapter for a change itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
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
from textual.worker import Worker, WorkerState

from shipdeck.api.base import Adapter
from shipdeck.api.errors import ShipdeckError
from shipdeck.config.audit import AuditLog, server_origin
from shipdeck.config.console_options import ConsoleOptions
from shipdeck.config.open_changes import OpenChanges
from shipdeck.config.profile import Profile
from shipdeck.config.themes import DEFAULT_DARK_THEME
from shipdeck.live.actions import ReadOnlyError
from shipdeck.live.plans import (
    ChangePlan,
    NothingToDo,
    plan_hold_auto_deploy,
    plan_promote,
    plan_publish,
    plan_redeploy,
    plan_rollback,
    promote_environment,
    same_app_in,
)
from shipdeck.live.publish_memory import PublishMemory
from shipdeck.live.session import ChangeSession
from shipdeck.live.state import ChangeBatch, Clock, ConnectionState, DeploymentDetail, LiveState, utc_now
from shipdeck.live.timing import DEFAULT_TIMING, Timing
from shipdeck.model import Deployment, Health, PublishRequest, Version, health_of
from shipdeck.tui.commands import ShipdeckCommands
from shipdeck.tui.screens.dialogs import ConfirmDialog, ConfirmRequest, PublishForm, version_line
from shipdeck.tui.screens.help import HelpScreen, help_rows
from shipdeck.tui.screens.screen_kit import describe_error, run_change
from shipdeck.tui.text import age_text, literal
from shipdeck.tui.themes import FALLBACK_THEME, THEME_VARIABLE_DEFAULTS, convert_themes
from shipdeck.tui.widgets.deployments_table import DeploymentsTable
from shipdeck.tui.widgets.detail_pane import DetailPane
from shipdeck.tui.widgets.status_header import StatusHeader

T = TypeVar("T")

# Action name -> the capability it needs (the UI explains, and sends nothing, when it is missing).
ACTION_CAPABILITY = {
    "rollback": "rollback",
    "promote": "promote",
    "publish": "publish",
    "redeploy": "redeploy",
    "domains": "domains",
    "env": "env",
    "logs": "deployment_logs",
    "deploy": "deploy",
    "stop": "stop",
}
MUTATIONS = frozenset({"rollback", "promote", "publish", "redeploy", "deploy", "stop"})
# Ticks (seconds) between two read-backs of the changes whose outcome is unknown and that wait for the user.
WAITING_CHECK_EVERY = 10
# A published version is followed to its end (live or failed) for at most this long, for its toast.
FOLLOW_PUBLISH_FOR = 900.0
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
        Binding("S", "stop", "Stop (off the air)", show=False, id="stop"),
        Binding("d", "domains", "Domains", id="domains"),
        Binding("e", "env", "Env", id="env"),
        Binding("l", "logs", "Logs", show=False, id="logs"),
        Binding("y", "copy", "Copy URL", show=False, id="copy"),
        Binding("v", "versions", "Versions", show=False, id="versions"),
        Binding("right_square_bracket", "next_tab", "Next tab", show=False, id="detail-next-tab"),
        Binding("left_square_bracket", "previous_tab", "Previous tab", show=False, id="detail-previous-tab"),
        Binding("t", "tasks", "Tasks", show=False, id="tasks"),
        Binding("escape", "back", "Back to list", show=False, id="back"),
    ]

    def __init__(self, shipdeck: ShipdeckApp) -> None:
        super().__init__(id="main")
        self.shipdeck = shipdeck
        self._last_highlighted: str | None = None

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
        self.query_one(DeploymentsTable).focus()

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
            # Back on the deployment the user was on before the filter (a filter that matched nothing
            # left no row under the cursor, and clearing it must not land on another one).
            if self._last_highlighted is not None:
                self.table.move_to(self._last_highlighted)
        self.table.focus()

    # -- table and detail --------------------------------------------------------------------------------
    @on(DeploymentsTable.Highlighted)
    def _highlighted(self, event: DeploymentsTable.Highlighted) -> None:
        deployment = event.deployment
        if deployment is not None:
            self._last_highlighted = deployment.id
        live = self.shipdeck.live
        live.watch(deployment.id if deployment else None)
        self.detail.show(deployment, live.detail)
        self.detail.reset_events(live.events)
        self.show_last_change()

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
        self.refresh_header()
        for problem in batch.problems:
            self.notify(literal(problem), severity="warning", markup=False)

    def refresh_header(self) -> None:
        live = self.shipdeck.live
        header = self.query_one(StatusHeader)
        if self.shipdeck.live_failure is not None:
            header.show_stopped(self.shipdeck.live_failure)
        else:
            header.show_connection(live.connection, live.data_age(), polling=live.polling)
        adapter = self.shipdeck.adapter
        header.show_budget(adapter.rate_limit_remaining, adapter.rate_limit_limit)
        header.show_pending(len(self.shipdeck.session.pending))
        table = self.table
        header.show_count(table.row_count, table.total_count, loading=live.pages_loading)

    def show_last_change(self) -> None:
        current = self.current()
        change = self.shipdeck.session.last_change_of(current) if current is not None else None
        now = self.shipdeck.clock()
        self.detail.show_last_change(f"{change.text()}, {age_text(change.at, now)} ago" if change else None)

    def tick(self) -> None:
        """Once a second: data age, budget, and the elapsed time of a running pipeline stage."""
        self.refresh_header()
        self.show_last_change()
        if self.detail.detail is not None and self.detail.detail.pipeline_running:
            self.detail.refresh_times()
        self.table.refresh()

    # -- actions -----------------------------------------------------------------------------------------
    def unavailable_reason(self, action: str) -> str | None:
        """Why ``action`` cannot run here (read-only, provider lacks it), or None."""
        capability = ACTION_CAPABILITY.get(action)
        capabilities = self.shipdeck.adapter.capabilities
        if capability and not capabilities.supports(capability):
            return capabilities.why_not(capability)
        if action == "tasks" and self.shipdeck.tasks_profile() is None:
            return f"profile {self.shipdeck.profile.name} has no tasks (Miteos)"
        if action in MUTATIONS and self.shipdeck.session.read_only:
            try:
                self.shipdeck.session.check_writable(action)
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
        return same_app_in(deployment, environment, self.shipdeck.live.deployments.values()) or deployment

    def _confirm_request(
        self, plan: ChangePlan, *, confirm_label: str, ask_reason: bool = False
    ) -> ConfirmRequest:
        """The dialog for ``plan``: its preview, warnings and the confirmation the profile asks for."""
        now = self.shipdeck.clock()
        lines: list[str] = []
        if plan.current is not None or plan.to is not None:
            lines = [f"current: {version_line(plan.current, now)}", f"target:  {version_line(plan.to, now)}"]
        else:
            lines = [literal(plan.summary)]
        style = self.shipdeck.profile.confirm
        typed = style == "type" or (style is None and plan.into_production)
        name = plan.deployment.name if plan.deployment is not None else None
        return ConfirmRequest(
            title=literal(plan.title),
            lines=lines,
            notes=[literal(note) for note in plan.notes],
            warnings=[literal(warning) for warning in plan.warnings],
            confirm_label=confirm_label,
            environment=self._badge_environment(plan.environment),
            ask_reason=ask_reason,
            require_typed=name if typed else None,
        )

    def _planned(self, make: Callable[[], ChangePlan]) -> ChangePlan | None:
        """The plan, or None after saying why there is nothing to send."""
        try:
            return make()
        except NothingToDo as exc:
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
        session = self.shipdeck.session
        selected = self.detail.selected_version
        to: Version | None = selected
        resumes: str | None = None
        if selected is None and (resumable := session.resumable_rollback(deployment, versions)) is not None:
            to, earlier = resumable
            resumes = earlier.identity
        try:
            plan = plan_rollback(
                deployment,
                versions,
                to=to,
                capabilities=self.shipdeck.adapter.capabilities,
                profile_environment=self.shipdeck.profile.environment,
                resumes=resumes,
            )
        except NothingToDo as exc:
            if exc.settles is not None:
                session.settle(exc.settles, applied=True, how="the console found its target active")
            self.notify(
                literal(exc.message), title="rollback: nothing sent", severity="warning", markup=False
            )
            return
        request = self._confirm_request(plan, confirm_label="roll back", ask_reason=True)
        hold: ChangePlan | None = None
        if deployment.auto_deploy and self.shipdeck.adapter.capabilities.supports("update"):
            hold = plan_hold_auto_deploy(deployment)
            request.offer_hold = "also turn auto-deploy off first, so the next push does not undo it"
        if resumes is not None:
            request.notes.insert(0, "An earlier rollback to this version has an unknown outcome: this one "
                                    "resends it with the same idempotency key.")  # fmt: skip

        def confirmed(reason: str | None) -> None:
            if reason is None:
                return
            plan.reason = reason or None
            self.shipdeck.start_change(plan, first=hold if request.hold else None)

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
                profile_environment=self.shipdeck.profile.environment,
            )
        )
        if plan is None:
            return

        def confirmed(answer: str | None) -> None:
            if answer is not None:
                self.shipdeck.start_change(plan)

        self.app.push_screen(ConfirmDialog(self._confirm_request(plan, confirm_label="promote")), confirmed)

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
                self.shipdeck.start_change(plan_stop(deployment))

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

    def action_deploy(self) -> None:
        """The deploy form, prefilled from the row (Miteos: a new deployment of its workspace)."""
        from shipdeck.api.miteos import MiteosAdapter
        from shipdeck.live.operations import plan_deploy
        from shipdeck.tui.screens.deploy_form import DeployForm, DeployInput

        deployment = self._ready_for("deploy")
        adapter = self.shipdeck.adapter
        if deployment is None or not isinstance(adapter, MiteosAdapter):
            return
        sandbox = adapter.sandbox_mode

        async def prefilled() -> None:
            # The live state keeps no provider extras (memory): the row's workspace and configuration are
            # read from the server, one GET.
            try:
                full = await adapter.get_deployment(deployment.id)
            except ShipdeckError as exc:
                self.notify(describe_error(exc), title="deploy", severity="error", markup=False)
                return
            extra = full.model_extra or {}
            initial = DeployInput(
                workspace_id=str(extra.get("workspace_id") or ""),
                target=full.target or "",
                config_id=str(extra.get("config_id") or ""),
            )
            form = DeployForm(initial, environment=self.shipdeck.profile.environment, sandbox=sandbox)
            self.app.push_screen(form, submitted)

        def submitted(chosen: DeployInput | None) -> None:
            if chosen is None:
                return

            def select(created: Deployment) -> None:
                self.table.upsert([created])
                self.table.move_to(created.id)

            plan = plan_deploy(
                chosen.workspace_id, chosen.target, chosen.config_id, sandbox=sandbox, on_done=select
            )
            self.shipdeck.start_change(plan, show_pipeline=True)

        self.run_worker(prefilled(), group="deploy-form", exclusive=True, exit_on_error=False)

    def action_publish(self) -> None:
        if self.shipdeck.adapter.capabilities.deploy:  # Miteos publishes by triggering a deployment
            self.action_deploy()
            return
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
        detail = self.shipdeck.live.detail
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
                    profile_environment=self.shipdeck.profile.environment,
                )
            )
            if plan is None:
                return
            style = self.shipdeck.profile.confirm
            if style == "type" or (style is None and plan.into_production):
                # Into production: the form's ctrl+s is not enough, the name is typed too.
                def confirmed(answer: str | None) -> None:
                    if answer is not None:
                        self.shipdeck.start_change(plan, show_pipeline=True)

                dialog = ConfirmDialog(self._confirm_request(plan, confirm_label="publish"))
                self.app.push_screen(dialog, confirmed)
                return
            self.shipdeck.start_change(plan, show_pipeline=True)

        self.app.push_screen(form, submitted)

    def action_redeploy(self) -> None:
        deployment = self._ready_for("redeploy")
        if deployment is None:
            return
        plan = plan_redeploy(deployment, profile_environment=self.shipdeck.profile.environment)

        def confirmed(answer: str | None) -> None:
            if answer is not None:
                self.shipdeck.start_change(plan, show_pipeline=True)

        request = self._confirm_request(plan, confirm_label="redeploy")
        request.environment = self.shipdeck.profile.environment
        self.app.push_screen(ConfirmDialog(request), confirmed)

    def _push_for_deployment(self, action: str, make: Callable[[Deployment], Screen[Any]]) -> None:
        deployment = self._ready_for(action)
        if deployment is not None:
            self.app.push_screen(make(deployment))

    def action_domains(self) -> None:
        from shipdeck.tui.screens.domains import DomainsScreen

        shipdeck = self.shipdeck
        self._push_for_deployment("domains", lambda d: DomainsScreen(shipdeck.adapter, shipdeck.session, d))

    def action_env(self) -> None:
        from shipdeck.tui.screens.env_editor import EnvEditorScreen

        shipdeck = self.shipdeck
        self._push_for_deployment("env", lambda d: EnvEditorScreen(shipdeck.adapter, shipdeck.session, d))

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
        Binding("exclamation_mark", "pending", "Pending", show=False, id="pending"),
        Binding("A", "audit", "Audit", show=False, id="audit"),
        Binding("ctrl+r", "restart_live", "Restart live updates", show=False, id="restart-live"),
    ]

    def __init__(
        self,
        options: ConsoleOptions,
        *,
        adapter: Adapter | None = None,
        clock: Clock | None = None,
        make_adapter: Callable[[Profile], Adapter] | None = None,
        timing: Timing = DEFAULT_TIMING,
    ) -> None:
        super().__init__()
        self.options = options
        self.profile = options.profile
        self.clock: Clock = clock or utc_now
        # Every interval of the live view and the push streams' backoff (tests run on a faster one).
        self.timing = timing
        self._make_adapter = make_adapter or self._default_adapter_factory
        self.adapter = adapter if adapter is not None else self._make_adapter(self.profile)
        self._owns_adapter = adapter is None
        self.session = self._session_for(self.profile, self.adapter)
        self.live = LiveState(self.adapter, clock=self.clock, timing=timing)
        self.publish_memory = PublishMemory()
        self._unsubscribe = self.live.subscribe(self._post_batch)
        self._tasks_adapter: Adapter | None = None
        self._tasks_session: ChangeSession | None = None
        self._ticks = 0
        self._last_notice_at = -NOTICE_INTERVAL
        self._startup_problems: list[str] = [*options.config_problems]
        # Why the live updates stopped (the live loop failed); None while they run.
        self.live_failure: str | None = None
        self._register_themes()

    # -- setup -------------------------------------------------------------------------------------------
    def _default_adapter_factory(self, profile: Profile) -> Adapter:
        from shipdeck.api.factory import make_adapter

        return make_adapter(profile, on_notice=self.notice, stream_options=self.timing.stream)

    def notice(self, text: str) -> None:
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
        self._start_live()
        self.set_interval(1.0, self._tick, name="header-tick")

    # -- the live loop's worker: a failure is shown, never hidden behind '● live' -----------------------
    def _start_live(self) -> None:
        self.live_failure = None
        self.run_worker(self.live.run(), name="live", group="live", exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.name != "live" or event.state is not WorkerState.ERROR:
            return
        error = worker.error
        reason = describe_error(error) if isinstance(error, ShipdeckError) else repr(error)
        self.live_failure = reason[:120]
        binding = self._restart_binding()
        key = self.get_key_display(binding) if binding is not None else "ctrl+r"
        said = f"Live updates stopped: {self.live_failure}. The data shown is frozen; {key} restarts them."
        self.notify(
            literal(said),
            title="Live updates stopped",
            severity="error",
            markup=False,
            timeout=30,
        )
        self._pending_changed()

    def _restart_binding(self) -> Binding | None:
        for binding in self.active_bindings.values():
            if binding.binding.id == "restart-live":
                return binding.binding
        return None

    def action_restart_live(self) -> None:
        if self.live_failure is None:
            self.notify("Live updates are running.", markup=False, timeout=3)
            return
        self._start_live()
        self.notify("Live updates restarted.", markup=False, timeout=3)
        self._pending_changed()

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

    @property
    def main_screen(self) -> MainScreen | None:
        """The console's main screen, wherever it is on the screen stack (None before it is pushed)."""
        return self._main_screen()

    def _tick(self) -> None:
        self._ticks += 1
        waiting = any(i.state == "waiting" and i.plan.check for i in self.session.pending.values())
        if waiting and self._ticks % WAITING_CHECK_EVERY == 0:
            self.run_worker(self._check_waiting(), group="pending-check", exclusive=True)
        main = self._main_screen()
        if main is not None and main.is_mounted:
            try:
                main.tick()
            except NoMatches:
                pass

    async def _check_waiting(self) -> None:
        """Read back the changes of unknown outcome (never resends them): the settled ones are told."""
        for outcome in await self.session.check_waiting():
            self.notify(literal(outcome.message()), title=f"{outcome.plan.action}: applied", markup=False)

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
        elif action in ("pending", "audit"):
            self.call_later(self.run_action, action)
        elif main is not None:
            # run_action awaits the async actions (rollback, promote); calling them bare did nothing.
            self.call_later(main.run_action, action)

    # -- changes -----------------------------------------------------------------------------------------
    def _session_for(self, profile: Profile, adapter: Adapter) -> ChangeSession:
        """The write path of one profile: read-only guard, audit log, idempotency keys, pending changes."""
        audit = AuditLog(
            self.options.audit_path,
            profile=profile.name,
            provider=profile.provider,
            origin=server_origin(profile.base_url),
        )
        return ChangeSession(
            adapter,
            audit,
            read_only=profile.read_only,
            profile_name=profile.name,
            open_changes=OpenChanges(),
            on_change=self._pending_changed,
            clock=self.clock,
        )

    def start_change(
        self, plan: ChangePlan, *, show_pipeline: bool = False, first: ChangePlan | None = None
    ) -> None:
        """Execute a confirmed plan in the background; its outcome always ends in one toast.
        ``first``: a change to make before it (holding auto-deploy); if that one is not applied, stop."""
        main = self._main_screen()
        screen: Screen[Any] = main if main is not None else self.screen

        async def run() -> None:
            if first is not None:
                held = await run_change(screen, self.session, first)
                if held is None or not held.applied:
                    return
            outcome = await run_change(screen, self.session, plan)
            if outcome is None or not outcome.applied:
                return
            if isinstance(outcome.result, Deployment):
                self.live.apply_deployment(outcome.result)
            if plan.deployment is not None:
                self.live.mark_dirty(plan.deployment.id)
            current = self._main_screen()
            if current is not None and show_pipeline:
                current.detail.show_tab("tab-pipeline")
            version = getattr(outcome.result, "version", None)
            if plan.deployment is not None and isinstance(version, Version):
                follow = self._follow_version(plan.deployment, version)
                self.run_worker(follow, group="follow-publish", exit_on_error=False)

        self.run_worker(run(), group="actions", exit_on_error=False)

    async def _follow_version(self, deployment: Deployment, version: Version) -> None:
        """A published version ends in a toast too: live, or failed. Read from the live state (kept
        current by the stream) while the deployment is watched, else from the API every few seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FOLLOW_PUBLISH_FOR
        state = version.state
        seconds = 0
        while health_of(state) is Health.PROGRESS and loop.time() < deadline:
            await asyncio.sleep(1.0)
            seconds += 1
            detail = self.live.detail
            if detail is not None and detail.deployment_id == deployment.id and detail.versions is not None:
                found = next((v for v in detail.versions if v.id == version.id), None)
                state = found.state if found is not None else state
            elif seconds % 5 == 0:
                try:
                    state = (await self.adapter.get_version(deployment.id, version.id)).state
                except ShipdeckError:
                    continue
        where = f"{literal(deployment.name)}: {literal(version.label)}"
        if health_of(state) is Health.OK:
            self.notify(f"{where} is {literal(state)}", title="publish: live", markup=False, timeout=10)
        elif health_of(state) is Health.FAILED:
            self.notify(
                f"{where} {literal(state)} (its build log is in the Pipeline tab; l opens the logs)",
                title="publish: failed",
                severity="error",
                markup=False,
                timeout=15,
            )

    def action_pending(self) -> None:
        from shipdeck.tui.screens.pending import PendingScreen

        if not isinstance(self.screen, PendingScreen):
            self.push_screen(PendingScreen(self.session))

    def action_audit(self) -> None:
        from shipdeck.tui.screens.pending import AuditScreen

        if not isinstance(self.screen, AuditScreen):
            self.push_screen(AuditScreen(self.session))

    async def action_quit(self) -> None:
        """Quit at once, unless changes are in flight or of unknown outcome: then say so and ask."""
        from shipdeck.tui.screens.pending import quit_question

        if not self.session.pending:
            self.exit()
            return
        if isinstance(self.screen, ConfirmDialog):
            return

        def decided(answer: str | None) -> None:
            if answer is not None:
                self.exit()

        self.push_screen(ConfirmDialog(quit_question(self.session, self.profile.environment)), decided)

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
            adapter, session = self.adapter, self.session
        else:
            if self._tasks_adapter is None:
                self._tasks_adapter = self._make_adapter(profile)
            adapter = self._tasks_adapter
            if self._tasks_session is None:
                self._tasks_session = self._session_for(profile, adapter)
            session = self._tasks_session
        self.push_screen(TasksScreen(adapter, session))

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
    timing: Timing = DEFAULT_TIMING,
) -> ShipdeckApp:
    """The console app (tests pass an adapter, a fixed clock and a fast timing)."""
    return ShipdeckApp(options, adapter=adapter, clock=clock, timing=timing)


def _in_environment(environment: str | None) -> str:
    """`` · staging`` for a row that is one environment of an app (Mixpeek); nothing otherwise."""
    return f" · {environment}" if environment else ""

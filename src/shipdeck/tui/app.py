"""The console: ShipdeckApp (themes, keymap, the live loop, the screen stack); the main screen is in
:mod:`shipdeck.tui.screens.main`.

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
from typing import Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from shipdeck.api.base import Adapter
from shipdeck.api.errors import ShipdeckError
from shipdeck.config.audit import AuditLog, server_origin
from shipdeck.config.console_options import ConsoleOptions
from shipdeck.config.open_changes import OpenChanges
from shipdeck.config.profile import Profile
from shipdeck.config.themes import DEFAULT_DARK_THEME
from shipdeck.live.health import follow_health, health_before
from shipdeck.live.plans import (
    ChangePlan,
)
from shipdeck.live.publish_memory import PublishMemory
from shipdeck.live.session import ChangeSession
from shipdeck.live.state import ChangeBatch, Clock, ConnectionState, LiveState, utc_now
from shipdeck.live.timing import DEFAULT_TIMING, Timing
from shipdeck.model import Deployment, Health, Version, health_of
from shipdeck.tui.commands import ShipdeckCommands
from shipdeck.tui.screens.dialogs import ConfirmDialog, PublishForm
from shipdeck.tui.screens.help import HelpScreen, help_rows
from shipdeck.tui.screens.main import LiveBatch, MainScreen
from shipdeck.tui.screens.screen_kit import describe_error, run_change
from shipdeck.tui.text import literal
from shipdeck.tui.themes import FALLBACK_THEME, THEME_VARIABLE_DEFAULTS, convert_themes
from shipdeck.tui.widgets.deployments_table import DeploymentsTable

# Ticks (seconds) between two read-backs of the changes whose outcome is unknown and that wait for the user.
WAITING_CHECK_EVERY = 10
# A published version is followed to its end (live or failed) for at most this long, for its toast.
FOLLOW_PUBLISH_FOR = 900.0
# Seconds between two toasts of the client's progress notices (the header shows the connection meanwhile).
NOTICE_INTERVAL = 10.0


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
        self.live = LiveState(self.adapter, clock=self.clock, timing=timing, read_health=True)
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
        from shipdeck.tui.screens.dialogs import ConfirmDialog

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
            followed = health_before(self.live, plan)
            outcome = await run_change(screen, self.session, plan)
            if outcome is None or not outcome.applied:
                return
            if followed:
                follow_health(self.live, self.session, outcome)
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

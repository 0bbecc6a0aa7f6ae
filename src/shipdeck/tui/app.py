"""The console: ShipdeckApp (themes, keymap, the screen stack, the profile contexts, one handler for failed
workers). The screens are in :mod:`shipdeck.tui.screens`; each is built on a profile's context
(:mod:`shipdeck.tui.context`) and subscribes to its live state itself.

Every profile shown gets a Textual *mode* of its own ("profile:NAME", a main screen and what is pushed over
it); the fleet overview is the mode "fleet". Switching profile switches mode: the other profile's screen
stack, and its live connection, stay as they were, so switching back is instant. A context nobody has
looked at for ``warm_for`` seconds is closed (its mode removed).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import weakref
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events
from textual.app import App
from textual.binding import Binding, BindingType
from textual.css.errors import StylesheetError
from textual.widgets import Input, TextArea
from textual.worker import Worker, WorkerState

from shipdeck.api.base import Adapter
from shipdeck.api.errors import ShipdeckError
from shipdeck.config.console_options import ConsoleOptions
from shipdeck.config.profile import Profile
from shipdeck.config.themes import DEFAULT_DARK_THEME
from shipdeck.live.session import ChangeSession
from shipdeck.live.state import Clock, LiveState, utc_now
from shipdeck.live.timing import DEFAULT_TIMING, Timing
from shipdeck.tui.alerts import Alerter
from shipdeck.tui.bindings import all_binding_ids, checked_keymap
from shipdeck.tui.context import (
    WARM_FOR,
    ProfileContext,
    ProfileContexts,
    context_maker,
    default_adapter_factory,
)
from shipdeck.tui.keys import send_again
from shipdeck.tui.screens.dialogs import ConfirmDialog
from shipdeck.tui.screens.main import MainScreen
from shipdeck.tui.screens.screen_kit import describe_error
from shipdeck.tui.text import literal
from shipdeck.tui.themes import THEME_VARIABLE_DEFAULTS, convert_themes, pick_theme

if TYPE_CHECKING:
    from textual.command import Provider

# The screens a start on one profile does not show (the fleet, help, the switcher, the palette's commands)
# are imported when first opened: the first frame waits for less.

FLEET_MODE = "fleet"
# The profiles' work (the live loops) starts once the first frame is painted, with the last known list in
# it; at the latest this long (s) after mounting, should that frame never settle.
FIRST_FRAME_WAIT = 1.0


def _shipdeck_commands() -> type[Provider]:
    from shipdeck.tui.commands import ShipdeckCommands

    return ShipdeckCommands


# Seconds between two looks for contexts that have been idle for longer than warm_for.
COOL_EVERY = 15.0


def profile_mode(name: str) -> str:
    return f"profile:{name}"


class ShipdeckApp(App[int]):
    CSS_PATH = Path(__file__).parent / "shipdeck.tcss"
    TITLE = "shipdeck"
    # The screen gets -narrow below 100 columns (the header drops what matters least).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    COMMANDS = App.COMMANDS | {_shipdeck_commands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("question_mark", "help", "Help", id="help"),
        # Priority: run as the key arrives, so that the keys typed behind it go to the palette (see
        # ShipdeckPalette), not to the list ('d' of "domains" opened the domains).
        Binding("ctrl+p", "command_palette", "Palette", show=False, id="command-palette", priority=True),
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
        warm_for: float = WARM_FOR,
        terminal_env: Mapping[str, str] | None = None,
    ) -> None:
        """``terminal_env``: the environment that says what the terminal can show (TERM, COLORTERM);
        None (tests) keeps the default theme whatever terminal runs them."""
        super().__init__()
        self._retyped: weakref.WeakSet[events.Key] = weakref.WeakSet()
        self.options = options
        self.clock: Clock = clock or utc_now
        # Every interval of the live view and the push streams' backoff (tests run on a faster one).
        self.timing = timing
        self.warm_for = warm_for
        self._startup_problems: list[str] = [*options.config_problems]
        # The changes still without a known outcome when the console stopped (said on stderr after it).
        self.cut_off: list[str] = []
        self._stop_signals: list[int] = []
        self._terminal_env = terminal_env
        self.alert = Alerter(options.alert, terminal_env or {}, self.bell, self._write_to_terminal)
        make = context_maker(
            options,
            given_adapter=adapter,  # the start profile's (tests): not closed by the console
            make_adapter=make_adapter
            or default_adapter_factory(
                timing, lambda n, t: self.contexts.notice(n, t), deadline=options.request_deadline
            ),
            clock=self.clock,
            timing=timing,
            run_worker=self._run_for_context,
            notify=self.notify,
            alert=self.alert,
        )
        self.contexts = ProfileContexts(list(options.all_profiles), make)
        self._first_frame = asyncio.Event()
        self._register_themes()
        # Made now: a profile the console cannot connect with fails here, before the terminal is taken.
        self._start_context = None if options.start_fleet else self.contexts.get(options.profile.name)

    def _run_for_context(self, work: Coroutine[Any, Any, None], group: str, name: str) -> Worker[None]:
        # App workers: a change in flight or a live loop outlives a switch to another profile's screen.
        return self.run_worker(self._after_first_frame(work), name=name, group=group, exit_on_error=False)

    async def _after_first_frame(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` once the first frame is on screen: connecting (the HTTP client, the first request,
        reading its answer) does not delay painting the last known list."""
        if not self._first_frame.is_set():
            try:
                await self._first_frame.wait()
            except BaseException:
                work.close()  # cancelled before it started
                raise
        await work

    @property
    def first_frame_painted(self) -> bool:
        """The first frame is on screen (the profiles' live loops may start)."""
        return self._first_frame.is_set()

    def _register_themes(self) -> None:
        themes, problems = convert_themes(self.options.theme_specs)
        for theme in themes:
            self.register_theme(theme)
        self._startup_problems += [*self.options.theme_problems, *problems]
        self.theme, problem = pick_theme(
            self.options.theme, self.available_themes, self._terminal_env, DEFAULT_DARK_THEME
        )
        self._startup_problems += [problem] if problem else []
        # The last theme whose CSS Textual took: a switch to one it refuses goes back to this one.
        self._css_theme = self.theme

    def refresh_css(self, animate: bool = True) -> None:
        """Textual's, except that a theme its CSS parser refuses (picked from the palette: ctrl+p, theme)
        does not kill the console: it is said, dropped from the list, and the theme before it comes back.
        Theme files are checked with that parser when they are loaded; this is the net under that check."""
        try:
            super().refresh_css(animate)
        except StylesheetError:
            refused = self.theme
            if refused == self._css_theme or self._css_theme not in self.available_themes:
                raise
            self.unregister_theme(refused)
            self.notify(
                literal(
                    f"theme {refused!r}: Textual cannot use its CSS variables; back to {self._css_theme}"
                ),
                severity="error",
                markup=False,
            )
            self.theme = self._css_theme
            return
        self._css_theme = self.theme

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(THEME_VARIABLE_DEFAULTS)

    async def on_mount(self) -> None:
        self._apply_keymap()
        self._stop_on_signals()
        if self.options.start_fleet:
            await self.open_fleet()
        else:
            await self.switch_profile(self.options.profile.name)
        for problem in self._startup_problems:
            self.notify(literal(problem), severity="warning", markup=False, timeout=8)
        # Called once the screen has been refreshed and nothing more is waiting to be painted.
        self.call_after_refresh(self._first_frame.set)
        self.set_timer(FIRST_FRAME_WAIT, self._first_frame.set, name="first-frame-wait")
        self.set_interval(1.0, self._tick, name="contexts-tick")
        self.set_interval(COOL_EVERY, self._cool, name="contexts-cool")

    # -- profiles and the fleet: one mode each ------------------------------------------------------------
    async def switch_profile(self, name: str) -> None:
        """Show ``name``'s main screen (made on first use; as it was left, when it is still warm)."""
        context = self.contexts.get(name)
        mode = profile_mode(name)
        if mode not in self._modes:
            self.add_mode(mode, lambda: MainScreen(context))
        await self.switch_mode(mode)

    async def open_fleet(self) -> None:
        from shipdeck.tui.screens.fleet import FleetScreen

        if FLEET_MODE not in self._modes:
            self.add_mode(FLEET_MODE, lambda: FleetScreen(self.contexts, left_out=self.options.left_out))
        await self.switch_mode(FLEET_MODE)

    def action_switch_profile(self) -> None:
        from shipdeck.tui.screens.profiles import ProfileSwitcher

        if isinstance(self.screen, ProfileSwitcher) or self._only_one_profile():
            return
        current = self.active_context

        def chosen(name: str | None) -> None:
            if name == FLEET_MODE:
                self.action_fleet()
            elif name is not None:
                self.action_switch_to(name)

        self.push_screen(ProfileSwitcher.of(self.contexts, current.name if current else None), chosen)

    def action_switch_to(self, name: str) -> None:
        if name in self.contexts.profiles:
            self.run_worker(self.switch_profile(name), group="switch", exit_on_error=False)

    def action_fleet(self) -> None:
        if self._only_one_profile():
            return
        self.run_worker(self.open_fleet(), group="switch", exit_on_error=False)

    def _only_one_profile(self) -> bool:
        if len(self.contexts.profiles) > 1:
            return False
        self.notify("Only one profile is configured (see `shipdeck config`).", markup=False, timeout=4)
        return True

    async def _cool(self) -> None:
        """Close the contexts nobody has looked at for warm_for seconds (their modes first)."""
        for context in self.contexts.cold(self.warm_for):
            mode = profile_mode(context.name)
            if mode == self.current_mode:
                continue
            if mode in self._modes:
                await self.remove_mode(mode)
            self.contexts.forget(context)
            await context.close()

    def _tick(self) -> None:
        for context in self.contexts:
            context.tick()

    @property
    def active_context(self) -> ProfileContext | None:
        """The profile on screen: the main screen's, or the fleet's highlighted row's."""
        for screen in reversed(self.screen_stack):
            if isinstance(screen, MainScreen):
                return screen.context
        return None

    # For tests and benches: the profile on screen's parts (screens use their own context, never these).
    @property
    def live(self) -> LiveState:
        return self._active().live

    @property
    def session(self) -> ChangeSession:
        return self._active().session

    @property
    def adapter(self) -> Adapter:
        return self._active().adapter

    @property
    def profile(self) -> Profile:
        return self._active().profile

    def _active(self) -> ProfileContext:
        context = self.active_context
        return context if context is not None else self.contexts.get(self.options.profile.name)

    @property
    def main_screen(self) -> MainScreen | None:
        """The active mode's main screen, wherever it is on its stack (None before pushed)."""
        return next((s for s in self.screen_stack if isinstance(s, MainScreen)), None)

    # -- the one handler for failed workers ---------------------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state is not WorkerState.ERROR:
            return
        error = worker.error
        reason = (describe_error(error) if isinstance(error, ShipdeckError) else repr(error))[:120]
        context = next((c for c in self.contexts if c.worker is worker), None)
        if context is None:
            self.notify(
                literal(f"{worker.name or 'a task'} failed: {reason}"), severity="error", markup=False
            )
            return
        binding = self._binding("restart-live")
        key = self.get_key_display(binding) if binding is not None else "ctrl+r"
        context.live_stopped(reason, key, say_profile=len(self.contexts.profiles) > 1)

    def _binding(self, binding_id: str) -> Binding | None:
        for binding in self.active_bindings.values():
            if binding.binding.id == binding_id:
                return binding.binding
        return None

    def action_restart_live(self) -> None:
        stopped = [c for c in self.contexts if c.live_failure is not None]
        if not stopped:
            self.notify("Live updates are running.", markup=False, timeout=3)
            return
        for context in stopped:
            context.start()
            context.status_changed()
        self.notify("Live updates restarted.", markup=False, timeout=3)

    # -- keymap ------------------------------------------------------------------------------------------
    def _apply_keymap(self) -> None:
        if not self.options.keymap:
            return  # nothing to check: knowing every id imports every screen's module
        keymap, problems = checked_keymap(self.options.keymap, all_binding_ids(ShipdeckApp))
        self._startup_problems += problems
        self.set_keymap(keymap)

    def handle_bindings_clash(self, clashed_bindings: set[Binding], node: Any) -> None:
        names = ", ".join(sorted(f"{b.id or b.action} ({b.key})" for b in clashed_bindings))
        self.notify(
            f"keymap: these bindings now share a key, the remapped one wins: {names}",
            severity="warning",
            markup=False,  # keys come from the user's config: '[' in one must not be read as markup
        )

    # -- alerts ------------------------------------------------------------------------------------------
    @property
    def alerts_sent(self) -> list[str]:
        """The alerts sent ("bell" or a desktop notification's escape sequence), most recent last."""
        return self.alert.sent

    def _write_to_terminal(self, sequence: str) -> None:
        driver = self._driver
        if driver is not None:
            driver.write(sequence)
            driver.flush()

    # -- screens of the profile on screen ----------------------------------------------------------------
    def action_pending(self) -> None:
        from shipdeck.tui.screens.pending import PendingScreen

        context = self.active_context
        if context is not None and not isinstance(self.screen, PendingScreen):
            self.push_screen(PendingScreen(context.session))

    def action_audit(self) -> None:
        from shipdeck.tui.screens.pending import AuditScreen

        context = self.active_context
        if context is not None and not isinstance(self.screen, AuditScreen):
            self.push_screen(AuditScreen(context.session))

    async def on_key(self, event: events.Key) -> None:
        """A printable key that bubbles up to here while a text field has the focus never reached that field
        (a field takes every printable key it is sent): it was sent to the screen below in one burst with
        the key that opened this one ('r', then the reason), before the field had the focus, and Textual
        dropped it. It goes round again, to the field."""
        focused = self.focused
        takes_text = isinstance(focused, Input) or (isinstance(focused, TextArea) and not focused.read_only)
        if event.is_printable and takes_text and event not in self._retyped:
            # (No binding is skipped: a focused field takes printable keys before any.) Sent round once,
            # never twice (a field that takes no text).
            self._retyped.add(send_again(event, self))

    def action_command_palette(self) -> None:
        """Textual's palette, but enter waits for the search of what was typed (see ShipdeckPalette)."""
        from textual.command import CommandPalette

        from shipdeck.tui.commands import ShipdeckPalette

        if self.use_command_palette and not isinstance(self.screen, CommandPalette):
            self.push_screen(ShipdeckPalette(id="--command-palette"))

    def action_help(self) -> None:
        from shipdeck.tui.screens.help import HelpScreen, help_rows

        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        main = screen if isinstance(screen, MainScreen) else None
        rows = help_rows(screen, main.unavailable_reason if main else (lambda action: None))
        self.push_screen(HelpScreen(rows))

    async def action_quit(self) -> None:
        """Quit at once, unless changes are in flight or of unknown outcome: then say so and ask."""
        from shipdeck.tui.screens.pending import quit_question

        open_ones = [c for c in self.contexts if c.session.pending]
        if not open_ones:
            self.exit()
            return
        if isinstance(self.screen, ConfirmDialog):
            return

        def decided(answer: str | None) -> None:
            if answer is not None:
                self._note_cut_off()
                self.exit()

        context = open_ones[0]
        self.push_screen(ConfirmDialog(quit_question(context.session, context.profile.environment)), decided)

    def _stop_on_signals(self) -> None:
        """SIGTERM and SIGHUP (a closed SSH session) end the console as a confirmed quit does: the changes
        in flight are recorded unknown (they killed it with a bare intent line), and said after it."""
        loop = asyncio.get_running_loop()
        for name in STOP_SIGNALS:
            number = getattr(signal, name, None)
            if number is None:
                continue
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(number, self._stopped_by, int(number))
                self._stop_signals.append(int(number))

    def _stopped_by(self, number: int) -> None:
        self._note_cut_off()
        self.exit(return_code=128 + number)

    def _note_cut_off(self) -> None:
        self.cut_off = [
            f"{context.profile.name}: {item.plan.title} ({item.plan.summary})"
            for context in self.contexts
            for item in context.session.pending.values()
        ]

    async def on_unmount(self) -> None:
        loop = asyncio.get_running_loop()
        for number in self._stop_signals:
            loop.remove_signal_handler(number)
        for context in self.contexts:
            await context.close()


# The signals that end the console as a confirmed quit does.
STOP_SIGNALS = ("SIGTERM", "SIGHUP")


def make_app(
    options: ConsoleOptions,
    *,
    adapter: Adapter | None = None,
    clock: Callable[[], datetime] | None = None,
    timing: Timing = DEFAULT_TIMING,
    terminal_env: Mapping[str, str] | None = None,
) -> ShipdeckApp:
    """The console app (tests pass an adapter, a fixed clock and a fast timing)."""
    return ShipdeckApp(options, adapter=adapter, clock=clock, timing=timing, terminal_env=terminal_env)

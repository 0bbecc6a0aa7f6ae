"""The user's ``[commands.NAME]`` in the console: their keys on the main screen, their palette entries, and
the pane that shows a command's output while it runs (or the terminal handed over, ``interactive = true``).

What a command sees (its environment) is decided in :mod:`shipdeck.live.custom_commands`; this module only
binds, asks, runs and shows.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Log, Static

from shipdeck.config.custom_commands import CustomCommand
from shipdeck.live.actions import ReadOnlyError
from shipdeck.live.custom_commands import CommandRun, command_environment, start_problem, stream_command
from shipdeck.tui.binding_scopes import command_clashes
from shipdeck.tui.screens.dialogs import ConfirmDialog, ConfirmRequest
from shipdeck.tui.text import literal

if TYPE_CHECKING:
    from shipdeck.tui.app import ShipdeckApp
    from shipdeck.tui.screens.main import MainScreen


def command_line(command: CustomCommand) -> str:
    """The argv as one readable line (quoted where it has spaces), for the pane and the dialog."""
    return literal(subprocess.list2cmdline(list(command.run)))


class CommandOutputScreen(Screen[None]):
    """One run of a custom command: its output as it comes, then how it ended. Closing it stops the run."""

    DEFAULT_CSS = """
    CommandOutputScreen #command-status { height: auto; max-height: 3; padding: 0 1; background: $panel; }
    CommandOutputScreen #command-log { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Back", id="command-output-close"),
        Binding("ctrl+r", "rerun", "Run again", id="command-output-rerun"),
    ]

    def __init__(self, command: CustomCommand, env: Mapping[str, str], target: str) -> None:
        super().__init__()
        self.command = command
        self.env = dict(env)
        self.target = target
        self.run = CommandRun(command)

    def compose(self) -> ComposeResult:
        yield Static("", id="command-status")
        yield Log(id="command-log", max_lines=10_000, auto_scroll=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Log).focus()
        self._start()

    def _start(self) -> None:
        self.run = CommandRun(self.command)
        self.query_one(Log).clear()
        self._show_status()
        self.run_worker(self._follow(), group="command", exclusive=True, exit_on_error=False)

    async def _follow(self) -> None:
        log = self.query_one(Log)
        async for line in stream_command(self.command, self.env, self.run):
            log.write_line(literal(line.expandtabs()))
        self._show_status()

    def _show_status(self) -> None:
        run = self.run
        dropped = f" ({run.dropped} lines past the first 10000 dropped)" if run.dropped else ""
        text = (
            f"{literal(self.command.title)} · {literal(self.target)}\n"
            f"$ {command_line(self.command)}\n"
            f"{run.summary()}{dropped}"
        )
        self.query_one("#command-status", Static).update(Content(text))

    @property
    def finished(self) -> bool:
        return self.run.finished

    def action_rerun(self) -> None:
        self._start()

    def action_close(self) -> None:
        # The worker is cancelled with the screen; stream_command kills the process on its way out.
        self.workers.cancel_group(self, "command")
        self.dismiss()


def bind_custom_commands(screen: MainScreen) -> None:
    """Put each configured command on its key on the main screen (not in the footer: it lists the built-in
    keys; `?` and the palette list these). A command whose key another binding holds there is left out,
    with a warning naming both."""
    app = _shipdeck(screen)
    commands = app.options.commands
    clashes = command_clashes(app.options.keymap, commands)
    for command in commands:
        clash = clashes.get(command.name)
        if clash is not None:
            app.notify(
                literal(f"[commands.{command.name}]: left out: {clash.message()}"),
                severity="warning",
                markup=False,
                timeout=8,
            )
            continue
        binding = Binding(command.key, command.action, command.title, show=False, id=command.binding_id)
        for made in Binding.make_bindings([binding]):
            # Bindings are a class-level list in Textual; a screen's own map is the supported place to add
            # one at run time (what BindingsMap.bind does, with the id the keymap and help use).
            screen._bindings.key_to_bindings.setdefault(made.key, []).append(made)


def _shipdeck(screen: MainScreen) -> ShipdeckApp:
    from shipdeck.tui.app import ShipdeckApp

    app = screen.app
    assert isinstance(app, ShipdeckApp)
    return app


def custom_palette_commands(screen: MainScreen) -> list[tuple[str, Callable[[], object], str]]:
    """The palette's entry for each custom command: (title, what runs it, help)."""
    return [
        (
            command.title,
            lambda name=command.name: run_custom_command(screen, name),  # type: ignore[misc]
            literal(command.description or f"your command ({command.key}): {command_line(command)}"),
        )
        for command in _shipdeck(screen).options.commands
    ]


def find_command(app: ShipdeckApp, name: str) -> CustomCommand | None:
    return next((c for c in app.options.commands if c.name == name), None)


def run_custom_command(screen: MainScreen, name: str) -> None:
    """The key or the palette entry of a custom command: check, ask if asked to, then run it."""
    app = _shipdeck(screen)
    context = screen.context  # the fleet: the highlighted row's profile
    command = find_command(app, name)
    if command is None:
        screen.notify(f"No command named {name!r} in the config.", severity="warning", markup=False)
        return
    if command.mutates:
        try:
            context.session.check_writable(f"command.{command.name}")
        except ReadOnlyError as exc:
            screen.notify(
                literal(exc.message),
                title=f"{command.title}: not run",
                severity="warning",
                markup=False,
            )
            return
    deployment = screen.current()
    version = screen.detail.selected_version if deployment is not None else None
    env = command_environment(context.profile, deployment, version)
    target = deployment.name if deployment is not None else f"profile {context.profile.name}"
    if not command.confirm:
        _start(app, command, env, target)
        return
    request = ConfirmRequest(
        title=f"Run {command.title}",
        lines=[f"$ {command_line(command)}", f"for {literal(target)}"],
        confirm_label="run",
        environment=env.get("SHIPDECK_ENVIRONMENT", context.profile.environment),
    )

    def confirmed(answer: str | None) -> None:
        if answer is not None:
            _start(app, command, env, target)

    app.push_screen(ConfirmDialog(request), confirmed)


def _start(app: ShipdeckApp, command: CustomCommand, env: dict[str, str], target: str) -> None:
    if not command.interactive:
        app.push_screen(CommandOutputScreen(command, env, target))
        return
    code: int | None = None
    problem: str | None = None
    try:
        with app.suspend():
            try:
                code = subprocess.call(list(command.run), env=env)
            except OSError as exc:
                problem = start_problem(command, exc)
    except SuspendNotSupported:
        app.notify(
            f"{command.title}: this terminal cannot be handed over (interactive = true needs a real "
            "terminal, not a browser or a test)",
            severity="error",
            markup=False,
        )
        return
    if problem is not None:
        app.notify(literal(problem), title=command.title, severity="error", markup=False)
    elif code:
        app.notify(f"{command.title}: exit code {code}", severity="warning", markup=False)

"""The command palette's shipdeck commands, built from the screen it was opened over.

A screen that offers commands has ``palette_commands()`` (title, what to run, help) and may have
``palette_targets()`` (deployments to go to: title, what to run, help); the palette asks the active screen,
never the App. Profile switching is offered wherever the App has more than one profile to show.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

from textual import events, on
from textual.command import (
    Command,
    CommandInput,
    CommandList,
    CommandPalette,
    DiscoveryHit,
    Hit,
    Hits,
    Provider,
)
from textual.content import Content
from textual.markup import escape
from textual.widgets import Input
from textual.worker import Worker, WorkerState

from shipdeck.tui.keys import send_again
from shipdeck.tui.text import literal

# With 50,000 deployments the palette scores names lazily and stops after this many hits.
MAX_DEPLOYMENT_HITS = 50

# (title, run it, help)
PaletteCommand = tuple[str, Callable[[], object], str]

# The main list's actions: (title, action name, help). A screen turns them into PaletteCommands.
ACTION_COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("Roll back the selected deployment", "rollback", "preview current -> target, enter confirms"),
    ("Promote the selected version", "promote", "only ready versions"),
    ("Publish to the selected deployment", "publish", "a form; values remembered per deployment"),
    ("Redeploy the selected deployment", "redeploy", "build a new version from the active one's source"),
    (
        "Auto-deploy on/off for the selected deployment",
        "auto_deploy",
        "hold what is live, or let pushes deploy (H)",
    ),
    ("Domains of the selected deployment", "domains", "add, verify, remove"),
    ("Env vars of the selected deployment", "env", "staged changes, diff before apply"),
    ("Logs of the selected deployment", "logs", "build and runtime logs, live"),
    ("Raw JSON of the selected object", "raw", "deployment, version, builds or domains as the API sent it"),
    ("Filter deployments", "filter", "substring over name, state, URL, version"),
    ("Command line", "command_line", "go to a deployment or a view by typing (:)"),
    ("Tasks", "tasks", "Miteos tasks, agents and approvals"),
    ("Pending changes", "app.pending", "changes in flight or of unknown outcome: resend or drop (!)"),
    ("Audit log", "app.audit", "every change made from this profile, and its outcome (A)"),
    ("Switch profile", "app.switch_profile", "every profile: provider, environment, read-only (c)"),
    ("Fleet overview", "app.fleet", "every profile's deployments at once, failed first (F)"),
    ("Help: every key", "app.help", "generated from the key bindings"),
)


@runtime_checkable
class PaletteSource(Protocol):
    """A screen that offers palette commands."""

    def palette_commands(self) -> Iterable[PaletteCommand]: ...

    def palette_targets(self, needle: str) -> Iterable[PaletteCommand]: ...


class ShipdeckCommands(Provider):
    def _source(self) -> PaletteSource | None:
        screen = self.screen
        return screen if isinstance(screen, PaletteSource) else None

    async def discover(self) -> Hits:
        source = self._source()
        for title, run, help_text in source.palette_commands() if source else ():
            yield DiscoveryHit(title, run, help=help_text)

    async def search(self, query: str) -> Hits:
        source = self._source()
        if source is None:
            return
        matcher = self.matcher(query)
        for title, run, help_text in source.palette_commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), run, help=help_text)
        needle = query.lower().removeprefix("go to ").strip()
        hits = 0
        for title, run, help_text in source.palette_targets(needle):
            score = matcher.match(title)
            if score <= 0:
                continue
            # Server text is literal: matcher.highlight and the palette's help would read it as markup.
            yield Hit(score, Content(literal(title)), run, help=escape(literal(help_text)))
            hits += 1
            if hits >= MAX_DEPLOYMENT_HITS:
                return


class ShipdeckPalette(CommandPalette):
    """Textual's command palette, made safe for keys that arrive in one burst.

    Typed at once (ctrl+p, "domains", enter over laggy SSH, or by a fast typist), Textual's palette ran
    "Roll back the selected deployment": the letters went to the list behind it (ctrl+p was still on its
    way to the app's binding), and enter, once the palette's input had the focus, took the list's first
    command, highlighted by default. Here:

    * ctrl+p is a priority binding (ShipdeckApp), so the keys behind it reach the palette, not the list;
    * keys that reach the palette before its input has the focus go to the input, in order;
    * with nothing typed, no command is highlighted until the user moves to one, so enter alone runs
      nothing (Textual's enter then highlights the first);
    * an enter that comes before the search of what was typed has listed its hits waits for them.

    Textual's own handler (``_select_or_command``), list refresh and workers' group are used as they are:
    textual is pinned, and tests/tui/test_console_keys.py would see a change.
    """

    _enter_waiting = False
    _searched_for = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sent_to_input: weakref.WeakSet[events.Key] = weakref.WeakSet()

    def _input_box(self) -> Input:
        return self.query_one(CommandInput)

    async def on_key(self, event: events.Key) -> None:
        box = self._input_box()
        if self.focused is not box and not box.has_focus and event not in self._sent_to_input:
            # Came before the input had the focus (the app forwards keys to the screen then): to the input,
            # in the order they came, enter included; once (escape, which the input leaves alone, comes
            # back up here and is the palette's own).
            self._sent_to_input.add(send_again(event, box))

    @on(Input.Changed)
    def _search_started(self, event: Input.Changed) -> None:
        self._searched_for = event.value.strip()  # Textual's handler of the same message starts it

    def _refresh_command_list(
        self, command_list: CommandList, commands: list[Command], clear_current: bool
    ) -> None:
        super()._refresh_command_list(command_list, commands, clear_current)
        if not self._searched_for:
            command_list.highlighted = None

    @on(Input.Submitted)
    def _enter_after_search(self, event: Input.Submitted) -> None:
        event.stop()
        event.prevent_default()  # Textual's handler of the same message runs from here, once
        if self._search_pending():
            self._enter_waiting = True
        else:
            self._select_or_command()

    def _search_pending(self) -> bool:
        """The list does not show the hits of what is typed yet."""
        if not self._list_visible:
            return False  # a command was picked (its title is in the input now): enter runs it
        if self._input_box().value.strip() != self._searched_for:
            return True  # typed, and its Changed (which starts the search) not handled yet
        return any(
            worker.node is self
            and worker.group == self._GATHER_COMMANDS_GROUP
            and worker.state in (WorkerState.PENDING, WorkerState.RUNNING)
            for worker in self.workers
        )

    @on(Worker.StateChanged)
    def _search_ended(self, event: Worker.StateChanged) -> None:
        if not self._enter_waiting or event.worker.group != self._GATHER_COMMANDS_GROUP:
            return
        if event.state is WorkerState.ERROR:
            self._enter_waiting = False  # nothing listed to take: the next enter decides
        elif event.state is WorkerState.SUCCESS and not self._search_pending():
            self._enter_waiting = False
            self._select_or_command()

"""The `:` command line (k9s style): jump to a deployment by name or id, open a view, switch profile, or run
a palette command, with inline completion (tab or right arrow takes the suggestion).

What a line means is decided by :func:`resolve`, a pure function of the text and what the console knows
(views, commands, deployments, profiles), so it is tested without a screen. Views live in one table,
:data:`VIEWS`: a new screen adds itself with :func:`register_view` and the command line, its completion and
the help know it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from textual import events
from textual.binding import Binding
from textual.suggester import Suggester
from textual.widgets import Input

from shipdeck.model import Deployment
from shipdeck.tui.keys import send_again


@dataclass(frozen=True)
class View:
    """``:name`` opens it by running ``action`` on the main screen (``app.`` prefix for App actions)."""

    name: str
    action: str
    help: str
    aliases: tuple[str, ...] = ()


# The views the command line opens. Screens that need a provider feature say why not when it is missing
# (the action explains, the command line only runs it).
VIEWS: dict[str, View] = {}


def register_view(view: View) -> None:
    """Add (or replace) a ``:name`` view; its aliases answer too."""
    VIEWS[view.name] = view


for _view in (
    View("versions", "versions", "the selected deployment's versions", ("v", "ver")),
    View("tasks", "tasks", "Miteos tasks, agents and approvals"),
    View("audit", "app.audit", "every change made from this profile", ("a",)),
    View("pending", "app.pending", "changes in flight or of unknown outcome"),
    View("domains", "domains", "domains of the selected deployment"),
    View("env", "env", "env vars of the selected deployment"),
    View("logs", "logs", "logs of the selected deployment"),
    View("raw", "raw", "the selected object as the API returned it"),
    View("help", "app.help", "every key of this screen"),
    View("fleet", "app.fleet", "every profile's deployments at once"),
):
    register_view(_view)

# Words that are not views: `:ctx NAME` switches profile, `:q` quits.
CTX_WORDS = ("ctx", "context", "profile")
QUIT_WORDS = ("q", "quit")


@dataclass(frozen=True)
class Resolved:
    """What a command line means. ``kind``: 'view', 'command', 'deployment', 'ctx', 'quit' or 'error'."""

    kind: str
    target: str = ""
    message: str = ""


def _view_named(word: str) -> View | None:
    for view in VIEWS.values():
        if word == view.name or word in view.aliases:
            return view
    return None


def resolve(
    text: str,
    *,
    commands: Sequence[tuple[str, str]],
    deployments: Iterable[Deployment],
    profiles: Sequence[str] = (),
) -> Resolved:
    """The meaning of ``text`` (without the leading ':').

    ``commands``: (action, title) of the palette's commands. Order of precedence: quit, ctx, a view, a
    command's action name, a deployment (exact id, exact name, then a unique case-insensitive prefix or
    substring of the name), a command whose title contains the words. Ambiguity is an error that lists the
    candidates; nothing is guessed.
    """
    line = text.strip()
    if not line:
        return Resolved("error", message="Type a deployment, a view (versions, tasks, audit) or a command.")
    word, _, rest = line.partition(" ")
    lowered = word.lower()
    if lowered in QUIT_WORDS and not rest:
        return Resolved("quit")
    if lowered in CTX_WORDS:
        name = rest.strip()
        if not name:
            known = ", ".join(profiles) or "none"
            return Resolved("error", message=f":ctx needs a profile name (known: {known})")
        return Resolved("ctx", target=name)
    if not rest and (view := _view_named(lowered)) is not None:
        return Resolved("view", target=view.action)
    for action, _title in commands:
        if lowered == action.lower() and not rest:
            return Resolved("command", target=action)
    rows = list(deployments)
    for deployment in rows:
        if deployment.id == line:
            return Resolved("deployment", target=deployment.id)
    needle = line.lower()
    exact = [d for d in rows if d.name.lower() == needle]
    if len(exact) == 1:
        return Resolved("deployment", target=exact[0].id)
    candidates = exact or [d for d in rows if d.name.lower().startswith(needle)]
    candidates = candidates or [d for d in rows if needle in d.name.lower()]
    if len(candidates) == 1:
        return Resolved("deployment", target=candidates[0].id)
    if len(candidates) > 1:
        shown = ", ".join(sorted({d.name for d in candidates})[:6])
        more = f" and {len(candidates) - 6} more" if len(candidates) > 6 else ""
        return Resolved("error", message=f"{line!r} matches {len(candidates)} deployments: {shown}{more}")
    titled = [action for action, title in commands if needle in title.lower()]
    if len(titled) == 1:
        return Resolved("command", target=titled[0])
    return Resolved(
        "error", message=f"no deployment, view or command {line!r} (tab completes; :help lists the keys)"
    )


def completions(
    text: str,
    *,
    commands: Sequence[tuple[str, str]],
    deployments: Iterable[Deployment],
    profiles: Sequence[str] = (),
) -> list[str]:
    """Every full line that starts with ``text`` (case-insensitive): views, commands, ``ctx NAME``, and
    deployment names, in that order."""
    lowered = text.lower()
    word, space, rest = lowered.partition(" ")
    if space and word in CTX_WORDS:
        return [f"{word} {name}" for name in profiles if name.lower().startswith(rest.strip())]
    words = [view.name for view in VIEWS.values()] + [action for action, _ in commands] + ["ctx"]
    out = [w for w in dict.fromkeys(words) if w.startswith(lowered)]
    out += [d.name for d in deployments if d.name.lower().startswith(lowered)]
    return out


class CommandSuggester(Suggester):
    """The first completion of what is typed, shown inline (tab or right arrow takes it)."""

    def __init__(self, line: CommandLine) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self._line = line

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        found = self._line.complete(value)
        # The suggestion must extend what was typed, as typed: keep the user's characters.
        return value + found[0][len(value) :] if found else None


class CommandLine(Input):
    """The `:` input. The main screen fills in what it can complete (``complete``) and runs the line."""

    BINDINGS = [Binding("tab", "accept_suggestion", "Complete", show=False, id="command-complete")]

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(
            placeholder="deployment, view (versions tasks audit pending), ctx NAME or command; tab completes",
            id=id,
        )
        self.suggester = CommandSuggester(self)

    async def _on_key(self, event: events.Key) -> None:
        if self.screen.focused is self:  # (has_focus lags: it changes when the Blur queued behind runs)
            return  # typed into the line (Input's own handling runs next)
        # A key typed behind enter in a burst reached the line before it ran and closed: it was meant for
        # what has the focus now (":smile<enter>r" rolls back smile-dental-landing, as "/smile<enter>r"
        # does), so it goes round again instead of into a hidden line.
        send_again(event, self.app)

    def complete(self, value: str) -> list[str]:
        from shipdeck.tui.screens.main import MainScreen

        screen = self.screen
        if isinstance(screen, MainScreen):
            return screen.command_completions(value)
        return []

    def action_accept_suggestion(self) -> None:
        """Tab (and right arrow at the end) takes the inline suggestion."""
        if self._suggestion:
            self.value = self._suggestion
            self.cursor_position = len(self.value)

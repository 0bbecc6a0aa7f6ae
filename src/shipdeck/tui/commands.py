"""The command palette's shipdeck commands, built from the screen it was opened over.

A screen that offers commands has ``palette_commands()`` (title, what to run, help) and may have
``palette_targets()`` (deployments to go to: title, what to run, help); the palette asks the active screen,
never the App. Profile switching is offered wherever the App has more than one profile to show.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, runtime_checkable

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.markup import escape

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
    ("Domains of the selected deployment", "domains", "add, verify, remove"),
    ("Env vars of the selected deployment", "env", "staged changes, diff before apply"),
    ("Logs of the selected deployment", "logs", "build and runtime logs, live"),
    ("Filter deployments", "filter", "substring over name, state, URL, version"),
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

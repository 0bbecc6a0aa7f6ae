"""The command palette's shipdeck commands: go to a deployment, and the main screen's actions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.markup import escape

from shipdeck.tui.text import literal

if TYPE_CHECKING:
    from shipdeck.tui.app import ShipdeckApp

# With 50,000 deployments the palette scores names lazily and stops after this many hits.
MAX_DEPLOYMENT_HITS = 50

ACTION_COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("Roll back the selected deployment", "rollback", "preview current -> target, enter confirms"),
    ("Promote the selected version", "promote", "only ready versions"),
    ("Publish to the selected deployment", "publish", "a form; values remembered per deployment"),
    ("Redeploy the selected deployment", "redeploy", "build a new version from the active one's source"),
    ("Domains of the selected deployment", "domains", "add, verify, remove"),
    ("Env vars of the selected deployment", "env", "staged changes, diff before apply"),
    ("Logs of the selected deployment", "logs", "build and runtime logs, live"),
    ("Raw JSON of the selected object", "raw", "deployment, version, builds or domains as the API sent it"),
    ("Filter deployments", "filter", "substring over name, state, URL, version"),
    ("Command line", "command_line", "go to a deployment or a view by typing (:)"),
    ("Tasks", "tasks", "Miteos tasks, agents and approvals"),
    ("Pending changes", "pending", "changes in flight or of unknown outcome: resend or drop (!)"),
    ("Audit log", "audit", "every change made from this profile, and its outcome (A)"),
    ("Help: every key", "help", "generated from the key bindings"),
)


class ShipdeckCommands(Provider):
    @property
    def shipdeck(self) -> ShipdeckApp:
        from shipdeck.tui.app import ShipdeckApp

        app = self.app
        assert isinstance(app, ShipdeckApp)
        return app

    def _run_action(self, action: str) -> None:
        self.shipdeck.run_main_action(action)

    def _go_to(self, deployment_id: str) -> None:
        self.shipdeck.go_to_deployment(deployment_id)

    async def discover(self) -> Hits:
        for title, action, help_text in ACTION_COMMANDS:
            yield DiscoveryHit(title, lambda a=action: self._run_action(a), help=help_text)  # type: ignore[misc]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, action, help_text in ACTION_COMMANDS:
            score = matcher.match(title)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(title), lambda a=action: self._run_action(a), help=help_text
                )  # type: ignore[misc]
        needle = query.lower().removeprefix("go to ").strip()
        hits = 0
        for deployment in self.shipdeck.deployments_snapshot():
            if needle and needle not in deployment.name.lower():
                continue
            title = f"go to {deployment.name}"
            score = matcher.match(title)
            if score <= 0:
                continue
            # Server text is literal: matcher.highlight and the palette's help would read it as markup.
            yield Hit(
                score,
                Content(literal(title)),
                lambda d=deployment.id: self._go_to(d),  # type: ignore[misc]
                help=escape(literal(deployment.state)),
            )
            hits += 1
            if hits >= MAX_DEPLOYMENT_HITS:
                return

"""The raw view (k9s `y`): the selected deployment, version, builds or domains exactly as the API returned
them, pretty-printed JSON, with search (/, n, N) and copy (y), secrets masked.

The bodies are read fresh, one GET each, by :meth:`shipdeck.live.reads.Reads.raw_bodies` (inside
:func:`shipdeck.api.context.captured_bodies`): the transport hands back what it decoded, so neither the
adapters nor the models keep raw bodies. What the console's summary says and what the server said can
then be compared when they disagree.

Masking (:mod:`shipdeck.model.masking`, the same rule as the CLI's ``--json``): env values, and any field
whose name says it holds a secret, are replaced by ``****`` whatever their length, and the profile's own
token is masked wherever it appears (the transport's ``redact``). JSON is shown with ``ensure_ascii``:
control and invisible characters appear escaped (``\\u202e``), never as what they would do to the terminal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Input, Static, TextArea
from textual.widgets.text_area import Selection

from shipdeck.api.errors import ShipdeckError
from shipdeck.live.reads import RawTarget, Reads
from shipdeck.model import Deployment
from shipdeck.model.masking import mask_secrets
from shipdeck.tui.screens.screen_kit import describe_error
from shipdeck.tui.text import literal


def pretty(body: Any) -> str:
    return json.dumps(body, indent=2, ensure_ascii=True, sort_keys=False)


# Styles of this module's screens, beside it (a path of its own, so a subclass elsewhere finds it too).
STYLES = Path(__file__).with_suffix(".tcss")


class RawViewScreen(Screen[None]):
    """The raw JSON of one object; 1-4 switch between the deployment, the version, builds and domains."""

    CSS_PATH = STYLES
    BINDINGS = [
        Binding("escape,q", "close", "Back", id="raw-close"),
        Binding("slash", "search", "Search", id="raw-search"),
        Binding("n", "next_match", "Next", id="raw-next"),
        Binding("N", "previous_match", "Prev", id="raw-prev"),
        Binding("y", "copy", "Copy JSON", id="raw-copy"),
        Binding("1", "show(0)", "Deployment", show=False, id="raw-deployment"),
        Binding("2", "show(1)", "2nd object", show=False, id="raw-2"),
        Binding("3", "show(2)", "3rd object", show=False, id="raw-3"),
        Binding("4", "show(3)", "4th object", show=False, id="raw-4"),
        Binding("ctrl+r", "reload", "Reload", id="raw-reload"),
    ]

    def __init__(
        self,
        reads: Reads,
        deployment: Deployment,
        targets: list[RawTarget],
        *,
        start: str = "deployment",
        environment: str = "",
    ) -> None:
        super().__init__()
        self.reads = reads
        self.deployment = deployment
        self.targets = targets
        self.index = next((i for i, t in enumerate(targets) if t.key == start), 0)
        self.environment = environment
        self.text = ""
        self.masked: object = None
        self.query_text = ""

    def compose(self) -> ComposeResult:
        yield Static("", id="raw-title")
        yield TextArea(
            "", id="raw-body", read_only=True, language="json", show_line_numbers=True, soft_wrap=False
        )
        yield Input(placeholder="search (enter: find, esc: close)", id="raw-search")
        yield Static("", id="raw-status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#raw-body", TextArea).focus()
        self.action_reload()

    @property
    def target(self) -> RawTarget:
        return self.targets[self.index]

    def _render_title(self) -> None:
        others = " ".join(f"{i + 1} {t.label}" for i, t in enumerate(self.targets) if i != self.index)
        badge = f" · {self.environment.upper()}" if self.environment else ""
        title = f"Raw · {self.deployment.name}{badge} · {self.target.label}"
        if others:
            title += f"   ({others})"
        self.query_one("#raw-title", Static).update(Content(literal(title)))

    def action_show(self, index: int) -> None:
        if 0 <= index < len(self.targets) and index != self.index:
            self.index = index
            self.action_reload()

    def action_reload(self) -> None:
        self._render_title()
        self.query_one("#raw-status", Static).update(Content(f"reading {self.target.label}…"))
        self.run_worker(self._load(self.target), group="raw-load", exclusive=True, exit_on_error=False)

    async def _load(self, target: RawTarget) -> None:
        try:
            bodies = await self.reads.raw_bodies(target)
        except ShipdeckError as exc:
            self.query_one("#raw-status", Static).update(Content(describe_error(exc)))
            return
        redact = self.reads.redact
        shown: list[object] = []
        for method, path, body in bodies:
            shown.append(mask_secrets(body, redact))
            last_request = f"{method} {path}"
        if not shown:
            self.query_one("#raw-status", Static).update(Content("the API returned no body"))
            return
        self.masked = shown[-1] if len(shown) == 1 else shown
        self.text = pretty(self.masked)
        self.query_one("#raw-body", TextArea).load_text(self.text)
        status = f"{last_request} · {len(self.text.splitlines())} lines · secrets masked"
        self.query_one("#raw-status", Static).update(Content(literal(status)))

    # -- search ----------------------------------------------------------------------------------------
    def action_search(self) -> None:
        box = self.query_one("#raw-search", Input)
        box.add_class("-visible")
        # Focus now (not deferred): the keys typed right behind '/' go to the search box.
        self.set_focus(box)

    @on(Input.Submitted, "#raw-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_text = event.value
        event.input.remove_class("-visible")
        self.set_focus(self.query_one("#raw-body", TextArea))
        if not self.find(1, from_start=True):
            self.notify(
                f"{literal(event.value)!r} not found", title="search", severity="warning", markup=False
            )

    def on_key(self, event: Any) -> None:
        box = self.query_one("#raw-search", Input)
        if event.key == "escape" and box.has_focus:
            event.stop()
            box.remove_class("-visible")
            self.set_focus(self.query_one("#raw-body", TextArea))

    def matches(self) -> list[tuple[int, int]]:
        """(line, column) of every case-insensitive match of the search, in order."""
        needle = self.query_text.lower()
        if not needle:
            return []
        found: list[tuple[int, int]] = []
        for line_no, line in enumerate(self.text.lower().split("\n")):
            column = line.find(needle)
            while column >= 0:
                found.append((line_no, column))
                column = line.find(needle, column + 1)
        return found

    def find(self, step: int, *, from_start: bool = False) -> bool:
        """Select the next (step 1) or previous (-1) match after the cursor, wrapping around."""
        found = self.matches()
        if not found:
            return False
        area = self.query_one("#raw-body", TextArea)
        here = (0, -1) if from_start else area.selection.start
        if step > 0:
            target = next((m for m in found if m > here), found[0])
        else:
            target = next((m for m in reversed(found) if m < here), found[-1])
        line_no, column = target
        area.selection = Selection((line_no, column), (line_no, column + len(self.query_text)))
        area.scroll_cursor_visible(center=True)
        return True

    def action_next_match(self) -> None:
        if not self.find(1) and self.query_text:
            self.notify("no match", title="search", severity="warning")

    def action_previous_match(self) -> None:
        if not self.find(-1) and self.query_text:
            self.notify("no match", title="search", severity="warning")

    # -- copy ------------------------------------------------------------------------------------------
    def action_copy(self) -> None:
        from shipdeck.tui.clipboard import copy_to_clipboard

        if self.masked is None:
            self.notify("Nothing to copy yet.", severity="warning")
            return
        compact = json.dumps(self.masked, ensure_ascii=True, separators=(",", ":"))
        copy_to_clipboard(self.app, compact, what=f"{self.target.label} JSON (secrets masked)")

    def action_close(self) -> None:
        self.dismiss(None)

"""The env editor: staged adds, changes and deletes, a diff before anything is sent, then an
optional one-key redeploy (env changes apply on the next deploy).

The API never returns a value, only a masked ``preview``: nothing can be revealed here. Values typed
live only in this screen's memory until they are sent; they are never shown back, logged or audited
(the audit log records the keys only).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Static, TextArea

from shipdeck.api.errors import ShipdeckError
from shipdeck.config.profile import Profile
from shipdeck.live.env import EnvListing
from shipdeck.live.plans import NothingToDo, plan_env_set, plan_env_unset, plan_redeploy
from shipdeck.live.reads import Reads
from shipdeck.live.session import ChangeSession
from shipdeck.model import Deployment, EnvVar
from shipdeck.model.masking import shown_preview
from shipdeck.model.validation import env_key_problem, env_value_problem
from shipdeck.tui.screens.dialogs import ConfirmDialog, badge_environment, change_request
from shipdeck.tui.screens.screen_kit import (
    TableRow,
    TextPrompt,
    cell,
    cursor_key,
    describe_error,
    fill_table,
    read_only_note,
    refused_because_read_only,
    run_change,
    run_change_work,
    run_read,
    screen_closed,
)
from shipdeck.tui.text import literal
from shipdeck.tui.widgets.nav_table import NavTable

NO_REVEAL_NOTE = (
    "Changes apply on the next deploy. Values cannot be revealed: the API only returns masked previews."
)


# Styles of this module's screens, beside it (a path of its own, so a subclass elsewhere finds it too).
STYLES = Path(__file__).with_suffix(".tcss")


@dataclass(frozen=True)
class StagedChange:
    """``value`` is None for a delete."""

    key: str
    value: str | None

    @property
    def is_delete(self) -> bool:
        return self.value is None

    def __repr__(self) -> str:  # never show a value, even in a traceback or a debugger
        return f"StagedChange({self.key!r}, {'delete' if self.is_delete else 'set'})"


def describe_new_value(value: str) -> str:
    """A typed value, described without showing it or telling its length (only its line count)."""
    lines = value.count("\n") + 1
    return "new value (hidden" + (f", {lines} lines)" if lines > 1 else ")")


def diff_lines(current: dict[str, EnvVar], staged: dict[str, StagedChange]) -> list[tuple[str, str]]:
    """(sign, line) per staged change, sorted by key: '+' added, '~' changed, '-' deleted."""
    out: list[tuple[str, str]] = []
    for key in sorted(staged):
        change = staged[key]
        existing = current.get(key)
        if change.value is None:
            shown = f" (was {shown_preview(existing.preview)})" if existing and existing.preview else ""
            out.append(("-", f"- {key}{shown}"))
        elif existing is None:
            out.append(("+", f"+ {key} = {describe_new_value(change.value)}"))
        else:
            was = shown_preview(existing.preview) or "(masked)"
            out.append(("~", f"~ {key}: {was} -> {describe_new_value(change.value)}"))
    return out


class EnvValuePrompt(TextPrompt):
    """The value dialog: one line by default; ctrl+n reopens it as a multi-line one, keeping the text."""

    BINDINGS = [Binding("ctrl+n", "multiline", "Multi-line", id="env-value-multiline")]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wants_multiline = False
        self.typed = ""

    def action_multiline(self) -> None:
        if isinstance(self.query_one("#prompt-value"), TextArea):
            return  # already multi-line
        self.wants_multiline = True
        self.typed = self.value
        self.dismiss(None)


class EnvDiffScreen(ModalScreen[bool]):
    """The diff of staged changes; y applies, esc goes back to editing."""

    CSS_PATH = STYLES
    BINDINGS = [
        Binding("y,enter", "apply", "Apply", id="env-diff-apply"),
        Binding("escape,n", "back", "Back", id="env-diff-back"),
    ]
    _SIGN_CLASS = {"+": "diff-add", "~": "diff-change", "-": "diff-delete"}

    def __init__(
        self, deployment: str, environment: str, lines: list[tuple[str, str]], note: str | None = None
    ) -> None:
        super().__init__()
        self._deployment = deployment
        self._environment = environment
        self._lines = lines
        self._note = note  # the "was" previews may be another environment's (EnvListing.note)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Content(
                    literal(
                        f"Apply {len(self._lines)} change(s) to {self._deployment} ({self._environment})?"
                    )
                ),
                classes="diff-title",
            )
            with VerticalScroll():
                for sign, line in self._lines:
                    yield Static(Content(literal(line)), classes=self._SIGN_CLASS[sign])
            if self._note:
                yield Static(Content(literal(self._note)), classes="diff-unsure")
            yield Static(
                Content("Changes apply on the next deploy (R redeploys after applying)."), classes="diff-note"
            )
            yield Static(Content("y apply · esc back to editing"), classes="diff-note")

    def action_apply(self) -> None:
        self.dismiss(True)

    def action_back(self) -> None:
        self.dismiss(False)


class EnvEditorScreen(Screen[None]):
    CSS_PATH = STYLES
    BINDINGS = [
        Binding("escape,q", "close", "Back", id="env-close"),
        Binding("a", "add", "Add", id="env-add"),
        Binding("enter,c", "change", "Edit", id="env-change"),
        Binding("M", "change_multiline", "Multi-line", show=False, id="env-change-multiline"),
        Binding("delete,d", "delete", "Delete", id="env-delete"),
        Binding("u", "unstage", "Unstage", id="env-unstage"),
        Binding("s", "review", "Review & apply", id="env-apply"),
        Binding("v", "next_environment", "Environment", id="env-environment"),
        Binding("R", "redeploy", "Redeploy", id="env-redeploy"),
        Binding("ctrl+r", "reload", "Reload", id="env-reload"),
    ]

    def __init__(self, reads: Reads, runner: ChangeSession, deployment: Deployment, profile: Profile) -> None:
        super().__init__()
        self.reads = reads
        self.runner = runner
        self.deployment = deployment
        self.profile = profile  # how its changes are confirmed (R: the main screen's redeploy dialog)
        environments = reads.capabilities.env_environments or ("production",)
        self.environments: tuple[str, ...] = tuple(environments)
        self.environment = self.environments[0]
        # How the server listed this environment: whether it said these are its variables (live.env). None
        # until its list is read (nothing is said of a list not yet read).
        self.listed: EnvListing | None = None
        self.current: dict[str, EnvVar] = {}
        self.staged: dict[str, StagedChange] = {}
        self._closing_confirmed = False
        self.sending: dict[str, StagedChange] = {}  # the staged changes an apply is sending now

    def compose(self) -> ComposeResult:
        # Which environment a change here reaches, as the main screen and Logs badge it (a production
        # profile's env was applied with a plain y under no badge).
        badge = badge_environment(self.deployment.environment, self.profile)
        with Horizontal(id="env-bar"):
            yield Static(Content(literal(badge.upper())), id="env-badge", classes=f"-{badge}")
            yield Static("", id="env-title")
        yield Static(Content(NO_REVEAL_NOTE), id="env-note")
        note = read_only_note(self.runner)
        yield Static(Content(note), id="env-readonly", classes="" if note else "-hidden")
        yield Static("", id="env-unsure", classes="-hidden")
        yield NavTable(id="env-table")
        yield Static("", id="env-status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#env-table", DataTable).focus()
        self._render_title()
        self.action_reload()

    # -- rendering --------------------------------------------------------------------------------------
    def _render_title(self) -> None:
        others = ", ".join(e for e in self.environments if e != self.environment)
        switch = f" (v: {others})" if others else ""
        title = f"Env · {self.deployment.name} · {self.environment}{switch}"
        self.query_one("#env-title", Static).update(Content(literal(title)))

    def _render_table(self) -> None:
        rows: list[TableRow] = []
        for key in sorted(set(self.current) | set(self.staged)):
            existing, change = self.current.get(key), self.staged.get(key)
            preview = shown_preview(existing.preview) if existing else ""
            if change is None:
                sign, shown = " ", preview
            elif change.value is None:
                sign, shown = "-", f"(delete) {preview}"
            else:
                sign = "~" if existing else "+"
                shown = describe_new_value(change.value)
            rows.append((key, [cell(sign), cell(key), cell(shown)]))
        fill_table(self.query_one("#env-table", DataTable), (" ", "Name", "Value (preview)"), rows)
        self._render_unsure()
        self._render_status()

    def _render_unsure(self) -> None:
        """Over the rows, when the server did not say they are this environment's (they may be the default
        one's): said plainly rather than labelled as the environment asked for."""
        note = self.listed.note() if self.listed is not None else None
        unsure = self.query_one("#env-unsure", Static)
        unsure.update(Content(literal(note or "")))
        unsure.set_class(note is None, "-hidden")

    def _render_status(self, extra: str = "") -> None:
        unsent = self._unsent()
        if self.sending:
            # 'not sent yet' while they were on the wire invited a second apply (refused, but confusing).
            text = f"Sending {len(self.sending)} change(s): a notification says what became of each."
            if unsent:
                text += f" {len(unsent)} more staged, not sent yet."
        elif self.staged:
            text = f"{len(self.staged)} staged change(s), not sent yet: s to review and apply, u to unstage."
        else:
            text = "No staged changes. a add · c or enter edit (M multi-line) · d or del delete."
        self.query_one("#env-status", Static).update(Content(literal(f"{text} {extra}".strip())))

    def _unsent(self) -> list[str]:
        """The staged keys no apply is sending now (staged anew while one was sent counts as unsent)."""
        return [key for key, change in self.staged.items() if self.sending.get(key) is not change]

    @property
    def selected_key(self) -> str | None:
        return cursor_key(self.query_one("#env-table", DataTable))

    def select_key(self, key: str) -> None:
        """Move the cursor to ``key``'s row."""
        table: DataTable[Any] = self.query_one("#env-table", DataTable)
        table.move_cursor(row=table.get_row_index(key), animate=False)

    # -- loading ----------------------------------------------------------------------------------------
    def action_reload(self) -> None:
        run_read(self, self._load(), group="env-load")

    async def _load(self) -> None:
        try:
            listed = await self.reads.env(self.deployment.id, self.environment)
        except ShipdeckError as exc:
            self.notify(describe_error(exc), title="Could not read env", severity="error", markup=False)
            return
        if listed.environment != self.environment:
            return  # switched environment while it was read: that one's read follows
        self.listed = listed
        self.current = {var.name: var for var in listed.rows}
        self._render_table()

    # -- staging ----------------------------------------------------------------------------------------
    def stage(self, key: str, value: str | None) -> None:
        if value is None and key not in self.current:
            self.staged.pop(key, None)  # deleting a key that was only staged: just forget it
        else:
            self.staged[key] = StagedChange(key, value)
        self._render_table()

    def _ask_value(self, key: str, *, multiline: bool = False, initial: str = "") -> None:
        """One line (enter submits), unless asked for several (M in the list, ctrl+n in the dialog)."""
        prompt: EnvValuePrompt

        def got(value: str | None) -> None:
            if value is not None:
                self.stage(key, value)
            elif prompt.wants_multiline:
                self._ask_value(key, multiline=True, initial=prompt.typed)

        existing = self.current.get(key)
        shown = f"Current preview: {shown_preview(existing.preview)}. " if existing else ""
        how = "Newlines, tabs and any characters are kept." if multiline else "ctrl+n: a multi-line value."
        prompt = EnvValuePrompt(
            f"Value for {key} ({self.environment})",
            help_text=f"{shown}{how} Not sent until you apply (s).",
            initial=initial,
            multiline=multiline,
            validate=env_value_problem,
            allow_empty=True,
        )
        self.app.push_screen(prompt, got)

    def action_add(self) -> None:
        def got(key: str | None) -> None:
            if key is not None:
                self._ask_value(key.strip())

        prompt = TextPrompt(
            "New variable name",
            help_text="Letters, digits and _, not starting with a digit.",
            placeholder="DATABASE_URL",
            validate=lambda typed: env_key_problem(typed.strip()),
        )
        self.app.push_screen(prompt, got)

    def action_change(self) -> None:
        key = self.selected_key
        if key is None:
            self.action_add()
        else:
            self._ask_value(key)

    def action_change_multiline(self) -> None:
        key = self.selected_key
        if key is None:
            self.action_add()
        else:
            self._ask_value(key, multiline=True)

    @on(DataTable.RowSelected, "#env-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a row edits it (the table takes enter before the screen's binding sees it)."""
        event.stop()
        self.action_change()

    def action_delete(self) -> None:
        key = self.selected_key
        if key is None:
            return
        listed = self.listed or EnvListing(self.environment)
        if key in self.current and (refusal := listed.unset_refusal(key)) is not None:
            # Not staged: sent, it might remove the default environment's variable (live.env).
            self.notify(refusal, title="Delete not staged", severity="warning", markup=False)
            return
        self.stage(key, None)

    def action_unstage(self) -> None:
        key = self.selected_key
        if key is not None and key in self.staged:
            del self.staged[key]
            self._render_table()

    def action_next_environment(self) -> None:
        if self.staged:
            self.notify(
                "Apply (s) or unstage (u) the staged changes before switching environment.",
                severity="warning",
            )
            return
        index = self.environments.index(self.environment)
        self.environment = self.environments[(index + 1) % len(self.environments)]
        self.listed = None
        self.current = {}
        self._render_title()
        self._render_table()
        self.action_reload()

    # -- applying ---------------------------------------------------------------------------------------
    def action_review(self) -> None:
        if refused_because_read_only(self, self.runner, "env-set"):
            return
        if not self.staged:
            self.notify("Nothing staged: a adds, c or enter changes, d or del deletes.", severity="warning")
            return

        def decided(apply: bool | None) -> None:
            if apply:
                run_change_work(self, self.apply(), group="env-apply")

        note = self.listed.note() if self.listed is not None else None
        lines = diff_lines(self.current, self.staged)
        diff = EnvDiffScreen(self.deployment.name, self.environment, lines, note)
        self.app.push_screen(diff, decided)

    async def apply(self) -> None:
        """Send the staged changes: one call for every set, one per delete. A change stays staged until
        it is known applied: a refused, failed or unknown one is kept (applying again reuses its
        idempotency key, so the server cannot apply it twice)."""
        environment = self.environment
        sent = dict(self.staged)
        to_set = {key: c.value for key, c in sent.items() if c.value is not None}
        to_delete = [key for key, c in sent.items() if c.value is None]
        self.sending = sent
        self._render_status()
        try:
            applied = await self._send_staged(to_set, to_delete)
        finally:
            self.sending = {}
            if not screen_closed(self):
                self._render_status()
        for key in applied:
            if self.staged.get(key) is sent[key]:  # not staged anew while it was sent
                del self.staged[key]
        if screen_closed(self):
            return  # closed while they were sent: each change's toast said what became of it
        await self._load()
        if applied:
            # Each change has its toast (what became of it); what to do next stays in the status line.
            self._render_status(
                f"Applied {len(applied)} change(s) to {environment}. They take effect on the next deploy: "
                "R redeploys now."
            )
        elif self.staged:
            self._render_status("Not applied (see the notification); still staged.")

    async def _send_staged(self, to_set: dict[str, str], to_delete: list[str]) -> list[str]:
        """The keys applied: one call for every set, one per delete."""
        deployment, environment = self.deployment, self.environment
        applied: list[str] = []
        if to_set:
            outcome = await run_change(self, self.runner, plan_env_set(deployment, to_set, environment))
            if outcome is not None and outcome.applied:
                applied += list(to_set)
        for key in to_delete:
            try:
                plan = plan_env_unset(deployment, key, self.listed or EnvListing(environment))
            except NothingToDo as exc:  # the server no longer shows it keeps this environment apart
                self.notify(exc.message, title="env.unset: not sent", severity="warning", markup=False)
                continue
            outcome = await run_change(self, self.runner, plan)
            if outcome is not None and outcome.applied:
                applied.append(key)
        return applied

    def action_redeploy(self) -> None:
        if refused_because_read_only(self, self.runner, "redeploy"):
            return
        plan = plan_redeploy(self.deployment, profile_environment=self.profile.environment)

        async def go() -> None:
            outcome = await run_change(self, self.runner, plan)  # its one toast says what became of it
            run = outcome.result if outcome is not None else None
            if outcome is not None and outcome.applied:
                started = f": {run.id} ({run.status})" if run is not None and getattr(run, "id", None) else ""
                self._render_status(f"Redeploy started{started}; the new version goes live when it builds.")

        def confirmed(answer: str | None) -> None:
            if answer is not None:
                run_change_work(self, go(), group="env-redeploy")

        # A new version made live: asked as the main screen's R asks (one key sent it to production).
        request = change_request(plan, self.profile, confirm_label="redeploy")
        self.app.push_screen(ConfirmDialog(request), confirmed)

    def action_close(self) -> None:
        # Changes being sent go on when the screen closes (their toasts say what became of each); only
        # those not sent yet are discarded, and that is asked twice.
        unsent = self._unsent()
        if unsent and not self._closing_confirmed:
            self._closing_confirmed = True
            self.notify(
                f"{len(unsent)} staged change(s) not applied: press esc again to discard them.",
                severity="warning",
            )
            return
        if self.sending:
            self.notify(
                f"{len(self.sending)} change(s) still being sent: a notification says what became of each.",
                markup=False,
            )
        self.staged.clear()
        self.app.pop_screen()

    @on(DataTable.RowHighlighted)
    def _moved(self) -> None:
        self._closing_confirmed = False

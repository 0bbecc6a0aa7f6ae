"""Changes in flight or of unknown outcome, and the audit log: what shipdeck did, and what it cannot tell.

The Pending screen lists the session's pending changes with their age and state; a waiting change (its
outcome unknown past the resend window) is resent only when the user asks (``enter``, with the same
idempotency key: the server cannot apply it twice) or dropped (``x``). The Audit screen shows the audit
log's latest records of this profile: from -> to and each outcome, reconciliations included.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from shipdeck.config.audit import AuditReadProblem, change_of, read_audit, result_of
from shipdeck.config.open_changes import OpenChange
from shipdeck.live.session import ChangeSession, PendingChange
from shipdeck.tui.screens.dialogs import ConfirmRequest
from shipdeck.tui.screens.screen_kit import (
    cell,
    cursor_key,
    fill_table,
    notify_outcome,
    run_change_work,
    screen_closed,
)
from shipdeck.tui.text import literal
from shipdeck.tui.widgets.nav_table import NavTable

STATE_WORDS = {
    "sending": "sending",
    "unknown": "outcome unknown: checking",
    "waiting": "outcome unknown: enter resends, x drops",
}
AUDIT_ROWS = 500
# A change an earlier run (or another process) left open, as the Pending screen lists it.
LEFT_OPEN_STATE = "earlier run: outcome unknown; ask again to resend, x drops"
LEFT_OPEN_SENDING = "being sent by another shipdeck process"


def _age(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    return f"{seconds / 60:.0f}m"


def quit_question(session: ChangeSession, environment: str) -> ConfirmRequest:
    """What quitting with pending changes means, asked before the console exits."""
    lines = [
        literal(f"{item.plan.title}: {item.plan.summary} ({STATE_WORDS.get(item.state, item.state)})")
        for item in session.pending.values()
    ]
    return ConfirmRequest(
        title=f"Quit with {len(lines)} change(s) not known to be applied?",
        lines=lines,
        notes=[
            "They will not be resent by this console. Their outcome stays unknown in the audit log; "
            "asking for the same change again (console or CLI, within 24 h) resends it with the same "
            "idempotency key, so it cannot be applied twice."
        ],
        confirm_label="quit anyway",
        environment=environment,
    )


# Styles of this module's screens, beside it (a path of its own, so a subclass elsewhere finds it too).
STYLES = Path(__file__).with_suffix(".tcss")


class PendingScreen(Screen[None]):
    CSS_PATH = STYLES
    BINDINGS = [
        Binding("escape,q", "close", "Back", id="pending-close"),
        # priority: the table under the cursor has an enter of its own (select), which took the key.
        Binding("enter", "resend", "Resend", id="pending-resend", priority=True),
        Binding("x,delete", "drop", "Drop", id="pending-drop"),
    ]

    def __init__(self, session: ChangeSession) -> None:
        super().__init__()
        self.session = session

    def compose(self) -> ComposeResult:
        yield Static(Content(f"Pending changes · {self.session.profile_name}"), id="pending-title")
        yield Static(
            Content(
                "Changes sent and not yet known to be applied. A change whose answer was lost is checked "
                "and resent with its idempotency key for 30 s, then waits for you."
            ),
            id="pending-help",
        )
        yield NavTable(id="pending-table")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.render_rows()
        self.set_interval(1.0, self.render_rows, name="pending-ages")

    def render_rows(self) -> None:
        now = time.monotonic()
        rows = [(identity, self._cells(item, now)) for identity, item in self.session.pending.items()]
        rows += [(change.identity, self._left_open_cells(change)) for change in self.session.left_open]
        table: DataTable[Any] = self.query_one("#pending-table", DataTable)
        if rows:
            fill_table(table, ["CHANGE", "WHAT", "STATE", "AGE", "TRIES", "LAST ERROR"], rows)
        else:
            table.clear(columns=True)
            table.add_column("nothing pending (a dropped change keeps its unknown outcome: the audit log, A)")

    @staticmethod
    def _cells(item: PendingChange, now: float) -> list[Text]:
        return [
            cell(item.plan.title, limit=40),
            cell(item.plan.summary, limit=30),
            cell(STATE_WORDS.get(item.state, item.state)),
            cell(_age(item.age(now))),
            cell(item.attempts),
            cell(item.last_error, limit=60),
        ]

    def _left_open_cells(self, change: OpenChange) -> list[Text]:
        # Not resent from here: its plan was made by the run that sent it, from what was live then.
        busy = self.session.sent_elsewhere(change.identity)
        state = LEFT_OPEN_SENDING if busy else LEFT_OPEN_STATE
        return [
            cell(change.target, limit=40),
            cell(change.summary, limit=30),
            cell(state),
            cell(_age(change.age)),
            cell(change.attempts),
            cell(""),
        ]

    def _selected(self) -> PendingChange | None:
        key = cursor_key(self.query_one("#pending-table", DataTable))
        return self.session.pending.get(key) if key else None

    def _selected_left_open(self) -> OpenChange | None:
        key = cursor_key(self.query_one("#pending-table", DataTable))
        return next((c for c in self.session.left_open if c.identity == key), None)

    def action_resend(self) -> None:
        item = self._selected()
        if item is None:
            if self._selected_left_open() is not None:
                self.notify(
                    "An earlier run sent this one: ask for the same change again (its key on the list, or "
                    "the same CLI command) and it is resent with its idempotency key, planned from what is "
                    "live now.",
                    severity="warning",
                )
            return
        if item.state != "waiting":
            self.notify("This change is being sent or checked already.", severity="warning")
            return

        async def resend() -> None:
            outcome = await self.session.resend(item.identity)
            if outcome is not None:
                notify_outcome(self, outcome)
            if not screen_closed(self):
                self.render_rows()

        run_change_work(self, resend(), group="pending-resend")

    def action_drop(self) -> None:
        item = self._selected()
        if item is None:
            earlier = self._selected_left_open()
            if earlier is not None and self.session.drop_left_open(earlier.identity):
                self.notify(
                    literal(f"Dropped {earlier.target} ({earlier.summary}): its outcome stays unknown."),
                    markup=False,
                )
                self.render_rows()
            elif earlier is not None:
                self.notify("It is being sent now; wait for its answer.", severity="warning")
            return
        if not self.session.drop(item.identity):
            self.notify("A change being sent cannot be dropped; wait for its answer.", severity="warning")
            return
        self.notify(
            literal(f"Dropped {item.plan.title}: it will not be resent; its outcome stays unknown."),
            markup=False,
        )
        self.render_rows()

    def action_close(self) -> None:
        self.app.pop_screen()


class AuditScreen(Screen[None]):
    """The audit log's latest records of one profile, newest last (as `shipdeck audit` prints them)."""

    CSS_PATH = STYLES
    BINDINGS = [
        Binding("escape,q", "close", "Back", id="audit-close"),
        Binding("ctrl+r", "reload", "Reload", id="audit-reload"),
    ]

    def __init__(self, session: ChangeSession) -> None:
        super().__init__()
        self.session = session
        self.problems = 0

    def compose(self) -> ComposeResult:
        yield Static(Content(f"Audit log · {self.session.profile_name}"), id="audit-title")
        yield NavTable(id="audit-table")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        records: deque[dict[str, Any]] = deque(maxlen=AUDIT_ROWS)
        self.problems = 0
        try:
            for item in read_audit(self.session.audit.path):
                if isinstance(item, AuditReadProblem):
                    self.problems += 1
                elif item.get("profile") == self.session.profile_name:
                    records.append(item)
        except OSError as exc:
            self.notify(f"Cannot read the audit log: {exc.strerror or exc}", severity="error")
        # The longest column (the target) last, so that at 80 columns what changed and how it ended show.
        rows = [
            (
                f"{number}",
                [
                    cell(str(r.get("time", ""))[5:19].replace("T", " ")),
                    cell(r.get("phase")),
                    cell(r.get("action")),
                    cell(change_of(r) or "-", limit=24),
                    cell(result_of(r), limit=50),
                    cell(r.get("target"), limit=40),
                ],
            )
            for number, r in enumerate(records)
        ]
        table: DataTable[Any] = self.query_one("#audit-table", DataTable)
        fill_table(table, ["TIME (UTC)", "PHASE", "ACTION", "CHANGE", "RESULT", "TARGET"], rows)
        if rows:
            table.move_cursor(row=len(rows) - 1, animate=False)
        if self.problems:
            self.notify(f"{self.problems} corrupt audit line(s) skipped.", severity="warning")

    def action_close(self) -> None:
        self.app.pop_screen()

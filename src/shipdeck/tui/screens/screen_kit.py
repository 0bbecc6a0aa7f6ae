"""Pieces shared by the Tasks, Env, Domains and Logs screens: the text prompt, executing a change plan
through the session with a toast of its outcome, and error text for humans."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Input, Static, TextArea
from textual.worker import Worker

from shipdeck.api.errors import ApiError, ShipdeckError
from shipdeck.live.actions import ReadOnlyError
from shipdeck.live.plans import ChangePlan
from shipdeck.live.session import ChangeOutcome, ChangeSession, OutcomeStatus
from shipdeck.model import health_of
from shipdeck.tui.text import literal, state_symbol

T = TypeVar("T")

Validator = Callable[[str], str | None]


def badge_environment(screen: Screen[Any], given: str | None) -> str:
    """The environment badge's word of a side screen: what the console passed, else its profile's."""
    if given:
        return given
    profile = getattr(screen.app, "profile", None)
    return str(getattr(profile, "environment", "") or "production")


def describe_error(exc: ShipdeckError) -> str:
    """The server's reason, the HTTP status and the request id, on one literal line."""
    text = exc.message
    if isinstance(exc, ApiError):
        text = f"{text} (HTTP {exc.status}{', ' + exc.code if exc.code else ''})"
    if exc.request_id:
        text = f"{text} [request {exc.request_id}]"
    return literal(text)


def screen_closed(screen: Screen[Any]) -> bool:
    """``screen`` was closed (popped, its widgets gone or going): a worker that awaited past the close has
    nowhere to draw."""
    return not screen.is_attached or screen not in screen.app.screen_stack


async def _drawing_on(screen: Screen[Any], work: Coroutine[Any, Any, None]) -> None:
    # A read or a change that ends by drawing on its screen: when the screen closed while it awaited, its
    # widgets were being pruned and the drawing raised NoMatches (the worker's error ended the console).
    try:
        await work
    except NoMatches:
        if not screen_closed(screen):
            raise


def run_read(
    screen: Screen[Any], work: Coroutine[Any, Any, None], *, group: str, exclusive: bool = True
) -> Worker[None]:
    """A read for ``screen``: a worker of the screen, cancelled when it closes; what it draws after the
    close is dropped."""
    return screen.run_worker(_drawing_on(screen, work), group=group, exclusive=exclusive)


def run_change_work(screen: Screen[Any], work: Coroutine[Any, Any, None], *, group: str) -> Worker[None]:
    """Work that sends a change from ``screen``: a worker of the app, as the main screen's changes are, so
    closing the screen never cancels a change in flight (cancelled, it was recorded unknown and no toast
    said what became of it, while the server had applied it). Never exclusive: a second change in the
    same group must not cancel the first. What it draws on the screen once closed is dropped."""
    return screen.app.run_worker(_drawing_on(screen, work), group=group)


# The toast title and severity of each outcome.
OUTCOME_TOAST: dict[OutcomeStatus, tuple[str, Any]] = {
    OutcomeStatus.OK: ("done", "information"),
    OutcomeStatus.REFUSED: ("refused", "error"),
    OutcomeStatus.FAILED: ("failed, not applied", "error"),
    OutcomeStatus.UNKNOWN: ("outcome unknown", "error"),
    OutcomeStatus.SUPERSEDED: ("changed since, nothing sent", "warning"),
}


# Changes whose request starts a build: taken, they have started, and their end comes in a toast of its own
# (a Miteos deploy's "deploy: done" read as the end, twenty seconds before it was live or failed).
STARTS_A_BUILD = frozenset({"publish", "deploy", "redeploy"})


def notify_outcome(screen: Screen[Any], outcome: ChangeOutcome) -> None:
    """Every change ends with one toast that says what became of it."""
    title, severity = OUTCOME_TOAST[outcome.status]
    plan = outcome.plan
    if outcome.applied and plan.action in STARTS_A_BUILD:
        title = "started"
    if outcome.applied and plan.shortfall is not None and plan.shortfall(outcome.result) is not None:
        title, severity = "sent, not in effect", "warning"  # a verification that found no records
    text = outcome.message()
    if outcome.status is OutcomeStatus.UNKNOWN:
        text += ". It is listed as pending: ! shows the pending changes, on any screen."
    screen.notify(literal(text), title=f"{outcome.plan.action}: {title}", severity=severity, markup=False,
                  timeout=8 if outcome.applied else 15)  # fmt: skip


def notify_unknown(screen: Screen[Any], plan: ChangePlan) -> None:
    screen.notify(
        literal(f"{plan.title}: no complete answer; checking whether it was applied (it is resent only with "
                "the same idempotency key, so it cannot happen twice)"),
        title=f"{plan.action}: checking",
        severity="warning",
        markup=False,
    )  # fmt: skip


async def run_change(screen: Screen[Any], session: ChangeSession, plan: ChangePlan) -> ChangeOutcome | None:
    """Execute ``plan`` through the session and tell the user its outcome; None when it was not sent
    (read-only profile, audit log unwritable: said in a toast too). Never raises a ShipdeckError."""
    try:
        outcome = await session.execute(plan, on_unknown=lambda _item: notify_unknown(screen, plan))
    except ShipdeckError as exc:
        screen.notify(describe_error(exc), title=f"{plan.action}: not sent", severity="error", markup=False)
        return None
    notify_outcome(screen, outcome)
    return outcome


def cell(value: object, *, limit: int | None = None) -> Text:
    """A table cell from server data: literal (never markup), one line, optionally shortened."""
    text = literal("" if value is None else value)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return Text(text)


TableRow = tuple[str, Sequence[Text]]


def cursor_key(table: DataTable[Any]) -> str | None:
    """The key of the row under the cursor (None when the table is empty)."""
    if table.row_count == 0:
        return None
    value = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    return None if value is None else str(value)


def fill_table(table: DataTable[Any], labels: Sequence[str], rows: Sequence[TableRow]) -> None:
    """Replace every row (keyed by id), keeping the cursor on the same key when it is still there.

    Columns are re-created with explicit widths from the content: DataTable's own lazy measuring keeps
    stale widths when rows are replaced before it runs, which made what is shown depend on timing.
    """
    keep = cursor_key(table)
    widths = [len(label) for label in labels]
    for _key, cells in rows:
        widths = [max(width, text.cell_len) for width, text in zip(widths, cells, strict=True)]
    table.clear(columns=True)
    for label, width in zip(labels, widths, strict=True):
        table.add_column(label, width=width)
    for key, cells in rows:
        table.add_row(*cells, key=key)
    keys = [key for key, _cells in rows]
    if keep in keys:
        table.move_cursor(row=keys.index(keep), animate=False)


def state_cell(state: str | None) -> Text:
    """A state as symbol + word, so it never depends on colour (ASCII symbols with SHIPDECK_ASCII=1)."""
    return cell(f"{state_symbol(health_of(state))} {state or 'unknown'}")


def refused_because_read_only(screen: Screen[Any], runner: ChangeSession, action: str) -> bool:
    """True (and the reason shown) when the profile is read-only, before asking the user anything."""
    try:
        runner.check_writable(action)
    except ReadOnlyError as exc:
        screen.notify(exc.message, title="Read-only", severity="warning", markup=False)
        return True
    return False


def read_only_note(runner: ChangeSession) -> str:
    return (
        f"READ-ONLY profile {runner.profile_name}: the change keys are disabled "
        "(nothing is sent; open a profile without read_only to act)."
        if runner.read_only
        else ""
    )


# Styles of this module's screens, beside it (a path of its own, so a subclass elsewhere finds it too).
STYLES = Path(__file__).with_suffix(".tcss")


class TextPrompt(ModalScreen[str | None]):
    """Ask for one value. ``validate`` returns the reason a value is refused (the text typed stays).

    ``multiline`` uses a text area (newlines kept; ctrl+s submits), otherwise enter submits.
    ``secret`` masks the input (it is never echoed, logged or stored by this screen).
    """

    CSS_PATH = STYLES
    BINDINGS = [
        # Priority: a text area with tab_behavior="indent" takes esc itself (to release focus), so without it
        # the multi-line prompt (env values) ignored the esc its hint promises.
        Binding("escape", "cancel", "Cancel", id="prompt-cancel", priority=True),
        Binding("ctrl+s", "submit", "Submit", id="prompt-submit"),
    ]

    def __init__(
        self,
        title: str,
        *,
        help_text: str = "",
        initial: str = "",
        placeholder: str = "",
        validate: Validator | None = None,
        multiline: bool = False,
        secret: bool = False,
        allow_empty: bool = False,
        keys: str | None = None,
    ) -> None:
        """``keys``: what enter and esc do, in the caller's words (a "Cancel task?" prompt whose last line
        said "esc to cancel" under "esc to keep it" contradicted itself); by default submit / cancel."""
        super().__init__()
        self._keys = keys
        self._title = title
        self._help = help_text
        self._initial = initial
        self._placeholder = placeholder
        self._validate = validate
        self._multiline = multiline
        self._secret = secret
        self._allow_empty = allow_empty

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content(self._title), classes="prompt-title")
            if self._help:
                yield Static(Content(self._help), classes="prompt-help")
            if self._multiline:
                # Tab inserts a tab character: values may hold tabs; esc and ctrl+s still leave.
                yield TextArea(
                    self._initial,
                    id="prompt-value",
                    soft_wrap=True,
                    show_line_numbers=False,
                    tab_behavior="indent",
                )
                keys = self._keys or "ctrl+s to submit, esc to cancel"
            else:
                yield Input(
                    self._initial, placeholder=self._placeholder, password=self._secret, id="prompt-value"
                )
                keys = self._keys or "enter to submit, esc to cancel"
            yield Static("", id="prompt-error", classes="prompt-error")
            yield Static(Content(keys), classes="prompt-help")

    def on_mount(self) -> None:
        for area in self.query(TextArea):
            area.indent_type = "tabs"

    @property
    def value(self) -> str:
        widget = self.query_one("#prompt-value")
        return widget.text if isinstance(widget, TextArea) else widget.value  # type: ignore[attr-defined]

    def show_error(self, reason: str) -> None:
        self.query_one("#prompt-error", Static).update(Content(reason))

    @on(Input.Submitted)
    def _on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def action_submit(self) -> None:
        value = self.value
        if not value.strip() and not self._allow_empty:
            self.show_error("A value is required (esc to cancel).")
            return
        if self._validate is not None and (reason := self._validate(value)) is not None:
            self.show_error(reason)
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)

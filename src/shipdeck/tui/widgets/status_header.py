"""The console's one-line header: who, where, how fresh, how much budget, and what may not be done.

The environment badge says its word (PRODUCTION, STAGING, SANDBOX) in the theme's badge colours: the word
carries the meaning, colour only reinforces it. READ-ONLY is a badge of its own.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static

from shipdeck.live.state import ConnectionState

CONNECTION_SYMBOL = {
    ConnectionState.CONNECTING: "◌",
    ConnectionState.LIVE: "●",
    ConnectionState.RECONNECTING: "◐",
    ConnectionState.STALE: "◑",
    ConnectionState.OFFLINE: "✖",
}


def connection_text(state: ConnectionState, age: float | None, *, polling: bool = False) -> str:
    """'● live', '● polled 8s', '◑ stale 42s', ... (the age shows whenever the data may be out of date:
    polled data is as old as the last poll, not pushed as it changes)."""
    if state is ConnectionState.LIVE and polling:
        return f"{CONNECTION_SYMBOL[state]} polled" + (f" {int(age)}s" if age is not None else "")
    text = f"{CONNECTION_SYMBOL[state]} {state.value}"
    if state is not ConnectionState.LIVE and age is not None:
        text += f" {int(age)}s"
    return text


def budget_text(remaining: int | None, limit: int | None) -> str:
    """The rate-limit budget left, as a whole percentage when the limit is known ('budget 97%')."""
    if remaining is None:
        return ""
    if not limit:
        return f"budget {remaining}"
    return f"budget {max(0, remaining) * 100 // limit}%"


LOW_BUDGET_PERCENT = 20


class StatusHeader(Horizontal):
    DEFAULT_CSS = """
    StatusHeader { height: 1; background: $panel; color: $foreground; }
    StatusHeader > Static { width: auto; height: 1; padding: 0 1; }
    StatusHeader > #header-title { text-style: bold; color: $text-primary; }
    StatusHeader > #header-spacer { width: 1fr; padding: 0; }
    StatusHeader > .badge { text-style: bold; }
    StatusHeader > .-production {
        background: $production-badge-background; color: $production-badge-foreground;
    }
    StatusHeader > .-staging { background: $staging-badge-background; color: $staging-badge-foreground; }
    StatusHeader > .-sandbox { background: $sandbox-badge-background; color: $sandbox-badge-foreground; }
    StatusHeader > #header-readonly {
        background: $readonly-badge-background; color: $readonly-badge-foreground; display: none;
    }
    StatusHeader.-read-only > #header-readonly { display: block; }
    StatusHeader > #header-connection.-down { color: $text-warning; text-style: bold; }
    StatusHeader > #header-count { color: $text-muted; }
    StatusHeader > #header-pending { color: $text-warning; text-style: bold; }
    StatusHeader > #header-budget.-low { color: $text-error; text-style: bold; }
    """

    def __init__(self, *, profile: str, provider: str, environment: str, read_only: bool) -> None:
        super().__init__(id="status-header", classes="-read-only" if read_only else "")
        self._profile = profile
        self._provider = provider
        self._environment = environment

    def compose(self) -> ComposeResult:
        yield Static("shipdeck", id="header-title")
        yield Static(
            Content(self._environment.upper()),
            id="header-environment",
            classes=f"badge -{self._environment}",
        )
        yield Static(Content(f"{self._profile} · {self._provider}"), id="header-profile")
        yield Static("READ-ONLY", id="header-readonly", classes="badge")
        yield Static("", id="header-spacer")
        yield Static("", id="header-count")
        yield Static("", id="header-pending")
        yield Static("", id="header-budget")
        yield Static(connection_text(ConnectionState.CONNECTING, None), id="header-connection")

    # What the header shows, as reactives: the main screen sets them (every tick, every batch) and a part is
    # repainted only when its value changed (Textual compares the new value with the old one).
    connection: reactive[tuple[ConnectionState, int | None, bool]] = reactive(
        (ConnectionState.CONNECTING, None, False), init=False
    )
    stopped: reactive[str | None] = reactive(None, init=False)
    budget: reactive[tuple[int | None, int | None]] = reactive((None, None), init=False)
    count: reactive[tuple[int, int, bool]] = reactive((-1, -1, False), init=False)  # none shown yet
    pending: reactive[int] = reactive(0, init=False)

    def show_connection(self, state: ConnectionState, age: float | None, *, polling: bool = False) -> None:
        self.stopped = None
        # Whole seconds: the text shows no more, so a fraction changing repaints nothing.
        self.connection = (state, None if age is None else int(age), polling)

    def show_stopped(self, reason: str) -> None:
        """The live updates stopped (their loop failed): the data shown is frozen, whatever its age."""
        self.stopped = reason

    def show_budget(self, remaining: int | None, limit: int | None) -> None:
        self.budget = (remaining, limit)

    def show_count(self, shown: int, total: int, *, loading: bool) -> None:
        """'9 deployments', '3/9 shown', 'loading 1,200…'."""
        self.count = (shown, total, loading)

    def show_pending(self, count: int) -> None:
        self.pending = count

    # -- watchers: each repaints its own part ------------------------------------------------------------
    def _paint_connection(self) -> None:
        widget = self.query_one("#header-connection", Static)
        if self.stopped is not None:
            widget.update(Content(f"✖ stopped: {self.stopped}"))
            widget.set_class(True, "-down")
            return
        state, age, polling = self.connection
        widget.update(Content(connection_text(state, age, polling=polling)))
        widget.set_class(state is not ConnectionState.LIVE, "-down")

    def watch_connection(self) -> None:
        self._paint_connection()

    def watch_stopped(self) -> None:
        self._paint_connection()

    def watch_budget(self, budget: tuple[int | None, int | None]) -> None:
        remaining, limit = budget
        widget = self.query_one("#header-budget", Static)
        widget.update(Content(budget_text(remaining, limit)))
        low = remaining is not None and bool(limit) and remaining * 100 < LOW_BUDGET_PERCENT * (limit or 1)
        widget.set_class(low, "-low")

    def watch_count(self, count: tuple[int, int, bool]) -> None:
        shown, total, loading = count
        if loading:
            text = f"loading {total:,}…"
        elif shown != total:
            text = f"{shown:,}/{total:,} shown"
        else:
            text = f"{total:,} deployments"
        self.query_one("#header-count", Static).update(Content(text))

    def watch_pending(self, count: int) -> None:
        self.query_one("#header-pending", Static).update(Content(f"⧗ {count} pending" if count else ""))

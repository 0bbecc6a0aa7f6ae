"""The console's one-line header: who, where, how fresh, how much budget, and what may not be done.

The environment badge says its word (PRODUCTION, STAGING, SANDBOX) in the theme's badge colours: the word
carries the meaning, colour only reinforces it. READ-ONLY is a badge of its own.
"""

from __future__ import annotations

from rich.cells import cell_len
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


def ago_text(seconds: float) -> str:
    """'12 s', '3 min', '5 h', '2 d'."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min"
    if whole < 86400:
        return f"{whole // 3600} h"
    return f"{whole // 86400} d"


def connection_text(
    state: ConnectionState, age: float | None, *, polling: bool = False, cached: float | None = None
) -> str:
    """'● live', '● polled 8s', '◑ stale 42s', ... (the age shows whenever the data may be out of date:
    polled data is as old as the last poll, not pushed as it changes). ``cached``: the list shown is the
    last known one, saved that many seconds ago ('◌ as of 3 min ago, connecting')."""
    if cached is not None:
        doing = "connecting" if state is ConnectionState.CONNECTING else "API unreachable"
        if state is ConnectionState.LIVE:
            doing = "loading"
        return f"{CONNECTION_SYMBOL[state]} as of {ago_text(cached)} ago, {doing}"
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
        self._widths: dict[str, int] = {}  # each part's painted width (see _paint)

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

    # What each part of the header shows, as reactives holding the text painted (and whether it is marked):
    # the main screen sets them every tick and every batch, and a part is repainted only when what it shows
    # changed (Textual compares the new value with the old one), not when a number behind it moved.
    connection: reactive[tuple[str, bool]] = reactive(
        (connection_text(ConnectionState.CONNECTING, None), True), init=False
    )
    budget: reactive[tuple[str, bool]] = reactive(("", False), init=False)
    count: reactive[str] = reactive("", init=False)
    pending: reactive[str] = reactive("", init=False)

    def show_connection(
        self, state: ConnectionState, age: float | None, *, polling: bool = False, cached: float | None = None
    ) -> None:
        text = connection_text(state, age, polling=polling, cached=cached)
        self.connection = (text, state is not ConnectionState.LIVE or cached is not None)

    def show_stopped(self, reason: str) -> None:
        """The live updates stopped (their loop failed): the data shown is frozen, whatever its age."""
        self.connection = (f"✖ stopped: {reason}", True)

    def show_budget(self, remaining: int | None, limit: int | None) -> None:
        low = remaining is not None and bool(limit) and remaining * 100 < LOW_BUDGET_PERCENT * (limit or 1)
        self.budget = (budget_text(remaining, limit), low)

    def show_count(self, shown: int, total: int, *, loading: bool) -> None:
        """'9 deployments', '3/9 shown', 'loading 1,200…'."""
        if loading:
            self.count = f"loading {total:,}…"
        elif shown != total:
            self.count = f"{shown:,}/{total:,} shown"
        else:
            self.count = f"{total:,} deployments"

    def show_no_list(self) -> None:
        self.count = "no list yet"

    def show_pending(self, count: int) -> None:
        self.pending = f"⧗ {count} pending" if count else ""

    # -- watchers: each repaints its own part ------------------------------------------------------------
    def _paint(self, part: str, text: str, mark: str | None = None, marked: bool = False) -> None:
        widget = self.query_one(f"#header-{part}", Static)
        # A part whose width is unchanged ("loading 1,200…" -> "loading 1,400…") is repainted without a
        # layout of the whole screen: the count of a loading 50,000-row account laid out the screen on
        # every page, 23 of the 26 layouts of its load and most of the time the screen spent on them.
        width = cell_len(text)
        widget.update(Content(text), layout=self._widths.get(part) != width)
        self._widths[part] = width
        if mark is not None:
            widget.set_class(marked, mark)

    def watch_connection(self, shown: tuple[str, bool]) -> None:
        self._paint("connection", shown[0], "-down", shown[1])

    def watch_budget(self, shown: tuple[str, bool]) -> None:
        self._paint("budget", shown[0], "-low", shown[1])

    def watch_count(self, text: str) -> None:
        self._paint("count", text)

    def watch_pending(self, text: str) -> None:
        self._paint("pending", text)

"""Build and deployment logs, tailed live: search (/ n N), follow or pause, batched and bounded.

Lines arrive from the adapter's async iterator as fast as the server sends them; the EventLog queues
them and writes one batch ~10 times a second, keeping at most ``MAX_LOG_LINES``.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Static

from shipdeck.api.base import Adapter
from shipdeck.api.errors import ShipdeckError
from shipdeck.model import Capability, Deployment, LogLine
from shipdeck.tui.clipboard import copy_to_clipboard
from shipdeck.tui.screens.screen_kit import TextPrompt, describe_error
from shipdeck.tui.text import literal
from shipdeck.tui.widgets.event_log import EventLog

MAX_LOG_LINES = 10_000


def format_log_line(line: LogLine, now: datetime) -> str:
    """One log line with its time in local time; the date is shown when it is not ``now``'s day."""
    stamp = ""
    if line.ts is not None:
        local = line.ts.astimezone()
        same_day = local.date() == now.astimezone().date()
        stamp = local.strftime("%H:%M:%S " if same_day else "%Y-%m-%d %H:%M:%S ")
    marker = "! " if line.stream == "stderr" else ""
    return f"{stamp}{marker}{line.line}"


def save_path_problem(text: str) -> str | None:
    """Why a path typed in the save prompt is refused (the prompt keeps it), or None."""
    path = Path(text.strip()).expanduser()
    if not text.strip():
        return "Type a file name."
    if path.exists():
        return f"{path} exists: type another name (nothing is overwritten)."
    if not path.parent.is_dir():
        return f"No such folder: {path.parent}"
    return None


class LogsScreen(Screen[None]):
    DEFAULT_CSS = """
    LogsScreen #logs-status { height: auto; max-height: 3; padding: 0 1; background: $panel; }
    LogsScreen #logs-log { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape,q", "close", "Back", id="logs-close"),
        Binding("slash", "search", "Search", id="logs-search"),
        Binding("n", "next_match", "Next", id="logs-next"),
        Binding("N", "previous_match", "Prev", id="logs-prev"),
        Binding("f", "toggle_follow", "Follow/pause", id="logs-follow"),
        Binding("b", "switch_source", "Build/deploy", id="logs-source"),
        Binding("i", "runtime", "Runtime", id="logs-runtime"),
        Binding("y", "copy_line", "Copy line", id="logs-copy"),
        Binding("s", "save", "Save to file", id="logs-save"),
        Binding("ctrl+r", "restart", "Restart", id="logs-restart"),
    ]

    def __init__(self, adapter: Adapter, deployment: Deployment, build_id: str | None = None) -> None:
        super().__init__()
        self.adapter = adapter
        self.deployment = deployment
        self.build_id = build_id or deployment.current_build_id
        self.showing_build = build_id is not None
        # The runtime instance whose log is shown (i cycles through them), or None.
        self.runtime_instance: str | None = None
        self.following = True
        self.stream_state = "connecting"
        self.search_term = ""
        self.lines_received = 0

    def compose(self) -> ComposeResult:
        yield Static("", id="logs-status")
        yield EventLog(id="logs-log", max_lines=MAX_LOG_LINES)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(EventLog).focus()
        self.action_restart()

    def app_clock(self) -> datetime:
        """The app's injectable clock (tests fix it), so "today" is stable in tests and snapshots."""
        clock = getattr(self.app, "clock", None)
        now = clock() if callable(clock) else None
        return now if isinstance(now, datetime) else datetime.now().astimezone()

    @property
    def log_view(self) -> EventLog:
        return self.query_one(EventLog)

    @property
    def source_label(self) -> str:
        if self.runtime_instance is not None:
            return f"runtime {self.runtime_instance}"
        return f"build {self.build_id}" if self.showing_build else "deployment"

    def _render_status(self) -> None:
        parts = [
            f"Logs · {self.deployment.name} · {self.source_label}",
            self.stream_state,
            "following" if self.following else "paused",
        ]
        if self.search_term:
            hits = self.log_view.count_matches(self.search_term)
            where = self.log_view.highlighted_line
            position = f", line {where + 1}" if where is not None else ""
            parts.append(f"/{self.search_term} {hits} hits{position}")
        try:
            status = self.query_one("#logs-status", Static)
        except NoMatches:
            return  # the screen was closed while its tail ended: nothing to show it on
        status.update(Content(literal(" · ".join(parts))))

    # -- the tail ---------------------------------------------------------------------------------------
    def _open_stream(self) -> AsyncIterator[LogLine]:
        if self.runtime_instance is not None:
            return self.adapter.runtime_logs(self.deployment.id, self.runtime_instance)
        if self.showing_build and self.build_id:
            return self.adapter.build_logs(self.deployment.id, self.build_id)
        return self.adapter.deployment_logs(self.deployment.id)

    async def _tail(self) -> None:
        self.stream_state = "streaming"
        self._render_status()
        try:
            async for line in self._open_stream():
                self.lines_received += 1
                if line.done_state:
                    self.log_view.write_text_lines([f"── {self.source_label} finished: {line.done_state} ──"])
                    self.stream_state = f"finished ({literal(line.done_state)})"
                    break
                self.log_view.write_text_lines([format_log_line(line, self.app_clock())])
            else:
                self.stream_state = "ended"
        except NoMatches:
            return  # the screen was closed while a line arrived
        except ShipdeckError as exc:
            if not self.is_attached:  # closed meanwhile (a polled runtime log ends with its screen)
                return
            self.stream_state = "stream error"
            self.log_view.write_text_lines([f"── stream error: {describe_error(exc)} (ctrl+r restarts) ──"])
            self.notify(describe_error(exc), title="Logs", severity="error", markup=False)
        self._render_status()

    def action_restart(self) -> None:
        self.log_view.clear()
        self.log_view.highlighted_line = None
        self.run_worker(self._tail(), group="logs-tail", exclusive=True)

    def action_switch_source(self) -> None:
        if not self.build_id:
            self.notify("This deployment has no build to show logs for.", severity="warning")
            return
        self.showing_build = not self.showing_build if self.runtime_instance is None else False
        self.runtime_instance = None
        self.action_restart()

    def action_runtime(self) -> None:
        """The runtime log of the deployment's instances: the first, then the next on each press."""
        capabilities = self.adapter.capabilities
        if not capabilities.supports(Capability.RUNTIME_LOGS):
            self.notify(
                literal(capabilities.why_not(Capability.RUNTIME_LOGS)), severity="warning", markup=False
            )
            return
        self.run_worker(self._next_instance(), group="logs-runtime", exclusive=True)

    async def _next_instance(self) -> None:
        try:
            instances = await self.adapter.list_runtime_instances(self.deployment.id)
        except ShipdeckError as exc:
            self.notify(describe_error(exc), title="Runtime", severity="error", markup=False)
            return
        if not self.is_attached:  # the screen was closed while the instances were read
            return
        if not instances:
            self.notify("This deployment has no runtime instances.", severity="warning")
            return
        ids = [instance.id for instance in instances]
        current = self.runtime_instance
        self.runtime_instance = ids[(ids.index(current) + 1) % len(ids)] if current in ids else ids[0]
        chosen = instances[ids.index(self.runtime_instance)]
        self.notify(literal(f"Runtime {chosen.id}: {chosen.state}"), title="Runtime", markup=False)
        self.action_restart()

    def action_toggle_follow(self) -> None:
        self.following = not self.following
        self.log_view.auto_scroll = self.following
        if self.following:
            self.log_view.flush()
            self.log_view.scroll_end(animate=False)
        self._render_status()

    # -- search -----------------------------------------------------------------------------------------
    def action_search(self) -> None:
        def got(term: str | None) -> None:
            if term is not None:
                # A new search starts from the top of what is on screen.
                self.search_term = term
                self.log_view.highlighted_line = None
                self._jump(backwards=False)

        self.app.push_screen(
            TextPrompt("Search the log", initial=self.search_term, placeholder="text (case-insensitive)"), got
        )

    def _jump(self, *, backwards: bool) -> None:
        if not self.search_term:
            self.notify("No search yet: press / to search.", severity="warning")
            return
        log = self.log_view
        log.flush()
        start = log.highlighted_line
        if start is None:
            start = log.scroll_offset.y - 1 if not backwards else log.scroll_offset.y + log.size.height
        found = log.find(self.search_term, start=start, backwards=backwards)
        if found is None:
            self.notify(literal(f"Not found: {self.search_term}"), severity="warning", markup=False)
        else:
            # Reading a match: stop following so new lines do not scroll it away.
            self.following = False
            log.auto_scroll = False
            log.show_line(found)
        self._render_status()

    def action_next_match(self) -> None:
        self._jump(backwards=False)

    def action_previous_match(self) -> None:
        self._jump(backwards=True)

    def action_copy_line(self) -> None:
        log = self.log_view
        index = log.highlighted_line
        if index is None or index >= len(log.lines):
            self.notify("Search (/) to pick a line to copy.", severity="warning")
            return
        copy_to_clipboard(self.app, log.lines[index], what=f"log line {index + 1}")

    # -- save -------------------------------------------------------------------------------------------
    def action_save(self) -> None:
        stamp = self.app_clock().astimezone().strftime("%Y%m%d-%H%M%S")
        # The name comes from the server: only safe characters reach the file name (no "/" or "..").
        safe = re.sub(r"[^A-Za-z0-9_-]+", "_", self.deployment.name).strip("_") or "deployment"
        default = Path.cwd() / f"{safe}-{stamp}.log"

        def got(text: str | None) -> None:
            if text is not None:
                self.save_to(Path(text.strip()).expanduser())

        self.app.push_screen(
            TextPrompt(
                "Save the log to a file",
                initial=str(default),
                help_text="An existing file is never overwritten; the file is readable by you only.",
                validate=save_path_problem,
            ),
            got,
        )

    def save_to(self, path: Path) -> None:
        """Write the lines shown (filtered view as it is) to a new file, mode 0600; errors are told."""
        log = self.log_view
        log.flush()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.writelines(f"{line}\n" for line in log.lines)
        except FileExistsError:
            self.notify(literal(f"Not saved: {path} exists."), severity="error", markup=False)
        except OSError as exc:
            self.notify(literal(f"Not saved: {path}: {exc.strerror or exc}"), severity="error", markup=False)
        else:
            self.notify(literal(f"Saved {len(log.lines)} lines to {path}"), markup=False)

    def action_close(self) -> None:
        self.app.pop_screen()

"""Build, deployment, runtime and request logs, tailed live: search (/ n N), follow or pause, level and
time filters, wrap, save; batched and bounded.

Lines arrive from the source's async iterator (:meth:`shipdeck.live.reads.Reads.log_lines`) as fast as
the server sends them. The screen keeps the last ``MAX_LOG_LINES`` it received (time, level, text); the
EventLog shows those the filters keep, queued and written one batch ~10 times a second. A filter or wrap
change redraws from what was kept.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Static

from shipdeck.api.errors import ShipdeckError
from shipdeck.live.reads import LogSource, Reads
from shipdeck.model import Capability, Deployment, LogLine, Version
from shipdeck.tui.clipboard import copy_to_clipboard
from shipdeck.tui.screens.screen_kit import TextPrompt, badge_environment, describe_error
from shipdeck.tui.text import literal
from shipdeck.tui.widgets.event_log import EventLog

MAX_LOG_LINES = 10_000

# Levels, lowest first; the level filter keeps a line at or above its floor.
INFO, WARNING, ERROR = 0, 1, 2
LEVEL_FILTERS = (("all", INFO), ("warnings+errors", WARNING), ("errors", ERROR))
TIME_FILTERS: tuple[tuple[str, timedelta | None], ...] = (
    ("all", None),
    ("last 1 h", timedelta(hours=1)),
    ("last 15 min", timedelta(minutes=15)),
)
# Where a wrapped line goes on: its continuation rows start with this (copy joins them back).
CONTINUATION = "  ↪ "
_ERROR_WORDS = re.compile(r"\b(error|errors|fatal|failed|failure|exception|traceback|panic)\b", re.IGNORECASE)
_WARNING_WORDS = re.compile(r"\b(warn|warning|warnings|deprecated)\b", re.IGNORECASE)


def line_level(line: LogLine) -> int:
    """INFO, WARNING or ERROR: the provider's level when it gives one (a request's 4xx/5xx is "error"),
    else the text's words; a stderr line is at least a warning."""
    given = (line.level or "").casefold()
    if given in ("error", "err", "fatal", "critical", "crit", "alert", "emerg"):
        return ERROR
    if given in ("warn", "warning"):
        return WARNING
    if given:
        return INFO
    if _ERROR_WORDS.search(line.line):
        return ERROR
    if _WARNING_WORDS.search(line.line) or line.stream == "stderr":
        return WARNING
    return INFO


@dataclass(frozen=True)
class Kept:
    """One line as received: its text as shown (time included), level and time; ``always`` for the
    screen's own notes (a stream's end or error), which no filter hides."""

    text: str
    level: int
    ts: datetime | None
    always: bool = False


def wrap_rows(text: str, width: int) -> list[str]:
    """``text`` cut into rows of at most ``width`` cells, continuation rows marked; joined back exactly."""
    if width <= len(CONTINUATION) + 4 or len(text) <= width:
        return [text]
    rows, rest = [text[:width]], text[width:]
    step = width - len(CONTINUATION)
    while rest:
        rows.append(CONTINUATION + rest[:step])
        rest = rest[step:]
    return rows


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
    LogsScreen #logs-bar { height: 1; background: $panel; }
    LogsScreen #logs-bar > Static { width: auto; }
    LogsScreen #logs-title { width: 1fr; padding: 0 1; text-style: bold; }
    LogsScreen #logs-environment { padding: 0 1; text-style: bold; }
    LogsScreen #logs-environment.-production {
        background: $production-badge-background; color: $production-badge-foreground;
    }
    LogsScreen #logs-environment.-staging {
        background: $staging-badge-background; color: $staging-badge-foreground;
    }
    LogsScreen #logs-environment.-sandbox {
        background: $sandbox-badge-background; color: $sandbox-badge-foreground;
    }
    LogsScreen #logs-status { height: auto; max-height: 3; padding: 0 1; background: $panel; }
    LogsScreen #logs-log { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape,q", "close", "Back", id="logs-close"),
        Binding("t", "next_source", "Source", id="logs-next-source"),
        Binding("e", "level_filter", "Level", id="logs-level"),
        Binding("T", "time_filter", "Time", id="logs-time"),
        Binding("slash", "search", "Search", id="logs-search"),
        # n/N are listed in help (?): the footer keeps its 80 columns for the keys one reaches for first.
        Binding("n", "next_match", "Next match", id="logs-next", show=False),
        Binding("N", "previous_match", "Previous match", id="logs-prev", show=False),
        Binding("f", "toggle_follow", "Follow", id="logs-follow"),
        Binding("s", "save", "Save", id="logs-save"),
        Binding("w", "toggle_wrap", "Wrap", id="logs-wrap"),
        Binding("b", "switch_source", "Build/deploy", id="logs-source"),
        Binding("i", "runtime", "Runtime", id="logs-runtime"),
        Binding("y", "copy_line", "Copy line", id="logs-copy"),
        Binding("ctrl+r", "restart", "Restart", id="logs-restart"),
    ]

    def __init__(
        self,
        reads: Reads,
        deployment: Deployment,
        build_id: str | None = None,
        *,
        environment: str | None = None,
        versions: Iterable[Version] = (),
    ) -> None:
        super().__init__()
        self.reads = reads
        # The deployment's versions as known (the detail's): to say whose build a build log is.
        self._builds_of = {v.build_id: v for v in versions if v.build_id}
        self.deployment = deployment
        self.build_id = build_id or deployment.current_build_id
        self.showing_build = build_id is not None
        # The runtime instance whose log is shown (i cycles through them), or None.
        self.runtime_instance: str | None = None
        self.showing_requests = False
        self.following = True
        self.stream_state = "connecting"
        self.search_term = ""
        self.lines_received = 0
        self.level_filter = LEVEL_FILTERS[0][0]
        self.time_filter = TIME_FILTERS[0][0]
        self.wrap = False
        self._environment = environment
        self._kept: deque[Kept] = deque(maxlen=MAX_LOG_LINES)
        self._source_choices = 0  # counts the user's choices of a source other than runtime
        self._wrap_width = 0

    def compose(self) -> ComposeResult:
        environment = self.environment
        with Horizontal(id="logs-bar"):
            yield Static(
                Content(literal(environment.upper())), id="logs-environment", classes=f"badge -{environment}"
            )
            yield Static(Content(literal(self.title_text)), id="logs-title")
        yield Static("", id="logs-status")
        yield EventLog(id="logs-log", max_lines=MAX_LOG_LINES)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(EventLog).focus()
        self.action_restart()

    @property
    def environment(self) -> str:
        """The badge's word: what the console passed (the row's environment), else the profile's."""
        return badge_environment(self, self._environment)

    @property
    def version_label(self) -> str:
        """The version live, said as such: a build's log (b) may be another version's, the one building."""
        dep = self.deployment
        if dep.active_version_number is not None:
            return f"v{dep.active_version_number} live"
        return f"{dep.active_version_id} live" if dep.active_version_id else "no active version"

    @property
    def title_text(self) -> str:
        return f"Logs · {self.deployment.name} · {self.version_label}"

    def app_clock(self) -> datetime:
        """The app's injectable clock (tests fix it), so "today" is stable in tests and snapshots."""
        clock = getattr(self.app, "clock", None)
        now = clock() if callable(clock) else None
        return now if isinstance(now, datetime) else datetime.now().astimezone()

    @property
    def log_view(self) -> EventLog:
        return self.query_one(EventLog)

    @property
    def source(self) -> LogSource:
        """deployment, build, runtime or requests."""
        if self.showing_requests:
            return "requests"
        if self.runtime_instance is not None:
            return "runtime"
        return "build" if self.showing_build else "deployment"

    @property
    def build_version(self) -> str | None:
        """'v5' when the build whose log is shown made a version this screen knows; after a rollback the
        latest build is often not the live version's (its log read as if it were)."""
        version = self._builds_of.get(self.build_id) if self.build_id else None
        return version.label if version is not None else None

    @property
    def source_label(self) -> str:
        if self.showing_requests:
            return "requests"
        if self.runtime_instance is not None:
            return f"runtime {self.runtime_instance}"
        built = self.build_version
        if self.showing_build:
            return f"build {self.build_id}" + (f" ({built})" if built else "")
        version = self._builds_of.get(self.build_id) if self.build_id else None
        if version is not None and version.id != self.deployment.active_version_id:
            return f"deployment (its latest build, {built}'s)"  # not the live version's: said so
        return "deployment"

    def sources(self) -> list[LogSource]:
        """The sources this deployment's provider has, in the order t cycles through them."""
        return self.reads.log_sources(self.build_id)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys the provider cannot serve here are hidden (footer and help list only what works)."""
        if action == "runtime":
            return self.reads.capabilities.supports(Capability.RUNTIME_LOGS)
        if action == "switch_source":
            return bool(self.build_id)
        if action == "next_source":
            return len(self.sources()) > 1
        return True

    def _render_status(self) -> None:
        if not self.is_attached:
            return  # the screen was closed while its tail ended: nothing to show it on
        parts = [
            self.source_label,
            self.stream_state,
            "following" if self.following else "paused",
            f"level: {self.level_filter}",
            f"time: {self.time_filter}",
            "wrap" if self.wrap else "cut",
        ]
        if self.filtering:
            parts.append(f"{self.shown_count} of {len(self._kept)} lines")
        if self.search_term:
            hits = self.log_view.count_matches(self.search_term)
            where = self.log_view.highlighted_line
            position = f", line {where + 1}" if where is not None else ""
            parts.append(f"/{self.search_term} {hits} hits{position}")
        try:
            status = self.query_one("#logs-status", Static)
        except NoMatches:
            return
        status.update(Content(literal(" · ".join(parts))))

    # -- what is kept, and what the filters show --------------------------------------------------------
    @property
    def filtering(self) -> bool:
        return self.level_filter != LEVEL_FILTERS[0][0] or self.time_filter != TIME_FILTERS[0][0]

    def _floor(self) -> int:
        return dict(LEVEL_FILTERS)[self.level_filter]

    def _since(self) -> datetime | None:
        window = dict(TIME_FILTERS)[self.time_filter]
        return None if window is None else self.app_clock() - window

    def _passes(self, kept: Kept, floor: int, since: datetime | None) -> bool:
        if kept.always:
            return True
        if kept.level < floor:
            return False
        return since is None or (kept.ts is not None and kept.ts >= since)

    def shown_lines(self) -> list[str]:
        """The kept lines the filters pass, whole (not wrapped): what save writes."""
        floor, since = self._floor(), self._since()
        return [kept.text for kept in self._kept if self._passes(kept, floor, since)]

    @property
    def kept(self) -> tuple[Kept, ...]:
        """Every line kept (the filters not applied), oldest first."""
        return tuple(self._kept)

    @property
    def shown_count(self) -> int:
        return len(self.shown_lines())

    def _rows(self, kept: Iterable[Kept]) -> list[str]:
        texts = [k.text for k in kept]
        if not self.wrap:
            return texts
        width = self._wrap_width
        return [row for text in texts for row in wrap_rows(text, width)]

    def receive(self, lines: Iterable[Kept]) -> None:
        """Keep ``lines`` and show those the filters pass. A batch that arrives after the screen was
        closed (its tail was between two lines) is dropped: the screen's widgets are gone."""
        if not self.is_attached:
            return
        batch = list(lines)
        self._kept.extend(batch)
        floor, since = self._floor(), self._since()
        shown = [k for k in batch if self._passes(k, floor, since)]
        if shown:
            self.log_view.write_text_lines(self._rows(shown))

    def _redraw(self) -> None:
        """Show the kept lines again through the filters and wrap (after a change of either)."""
        log = self.log_view
        log.flush()
        log.clear()
        log.highlighted_line = None
        self._wrap_width = max(10, log.scrollable_content_region.width - 1)
        floor, since = self._floor(), self._since()
        log.write_text_lines(self._rows(k for k in self._kept if self._passes(k, floor, since)))
        log.flush()
        if self.following:
            log.scroll_end(animate=False)
        self._render_status()

    def on_resize(self) -> None:
        if self.wrap and self.is_attached:
            self._redraw()

    # -- the tail ---------------------------------------------------------------------------------------
    def _open_stream(self) -> AsyncIterator[LogLine]:
        return self.reads.log_lines(
            self.deployment.id, self.source, build_id=self.build_id, instance_id=self.runtime_instance
        )

    def _note(self, text: str) -> Kept:
        return Kept(literal(text), INFO, None, always=True)

    async def _tail(self) -> None:
        self.stream_state = "streaming"
        self._render_status()
        try:
            async for line in self._open_stream():
                self.lines_received += 1
                if line.done_state:
                    self.receive([self._note(f"── {self.source_label} finished: {line.done_state} ──")])
                    self.stream_state = f"finished ({literal(line.done_state)})"
                    break
                text = literal(format_log_line(line, self.app_clock()))
                self.receive([Kept(text, line_level(line), line.ts)])
            else:
                self.stream_state = "ended"
        except NoMatches:
            return  # the screen was closed while a line arrived
        except ShipdeckError as exc:
            if not self.is_attached:  # closed meanwhile (a polled runtime log ends with its screen)
                return
            self.stream_state = "stream error"
            self.receive([self._note(f"── stream error: {describe_error(exc)} (ctrl+r restarts) ──")])
            self.notify(describe_error(exc), title="Logs", severity="error", markup=False)
        self._render_status()

    def action_restart(self) -> None:
        self._kept.clear()
        self.log_view.clear()
        self.log_view.highlighted_line = None
        self._wrap_width = max(10, self.log_view.scrollable_content_region.width - 1)
        self.run_worker(self._tail(), group="logs-tail", exclusive=True)

    def action_next_source(self) -> None:
        """t: the next source this provider has (deployment, build, runtime, requests)."""
        sources = self.sources()
        current = self.source
        target = sources[(sources.index(current) + 1) % len(sources)] if current in sources else sources[0]
        if target == "runtime":
            self.action_runtime()
            return
        self._drop_instance_lookup()
        self.showing_requests = target == "requests"
        self.showing_build = target == "build"
        self.runtime_instance = None
        self.action_restart()

    def action_switch_source(self) -> None:
        if not self.build_id:
            self.notify("This deployment has no build to show logs for.", severity="warning")
            return
        if self.runtime_instance is None and not self.showing_requests:
            self.showing_build = not self.showing_build
        else:
            self.showing_build = False
        self._drop_instance_lookup()
        self.runtime_instance = None
        self.showing_requests = False
        self.action_restart()

    def _drop_instance_lookup(self) -> None:
        """The user chose another source while the runtime instances may be being read: that read must not
        switch the screen back to runtime when it answers."""
        self._source_choices += 1

    def action_runtime(self) -> None:
        """The runtime log of the deployment's instances: the first, then the next on each press."""
        capabilities = self.reads.capabilities
        if not capabilities.supports(Capability.RUNTIME_LOGS):
            self.notify(
                literal(capabilities.why_not(Capability.RUNTIME_LOGS)), severity="warning", markup=False
            )
            return
        self.run_worker(self._next_instance(self._source_choices), group="logs-runtime", exclusive=True)

    async def _next_instance(self, choice: int) -> None:
        try:
            instances = await self.reads.runtime_instances(self.deployment.id)
        except ShipdeckError as exc:
            self.notify(describe_error(exc), title="Runtime", severity="error", markup=False)
            return
        if not self.is_attached:  # the screen was closed while the instances were read
            return
        if choice != self._source_choices:
            return  # the user chose another source meanwhile: this answer must not switch back to runtime
        if not instances:
            self.notify("This deployment has no runtime instances.", severity="warning")
            return
        ids = [instance.id for instance in instances]
        current = self.runtime_instance
        self.runtime_instance = ids[(ids.index(current) + 1) % len(ids)] if current in ids else ids[0]
        self.showing_requests = False
        chosen = instances[ids.index(self.runtime_instance)]
        self.notify(literal(f"Runtime {chosen.id}: {chosen.state}"), title="Runtime", markup=False)
        self.action_restart()

    # -- filters and wrap -------------------------------------------------------------------------------
    def action_level_filter(self) -> None:
        """e: all, warnings and errors, errors only."""
        names = [name for name, _ in LEVEL_FILTERS]
        self.level_filter = names[(names.index(self.level_filter) + 1) % len(names)]
        self._redraw()

    def action_time_filter(self) -> None:
        """T: all, the last hour, the last 15 minutes (by the lines' own times)."""
        names = [name for name, _ in TIME_FILTERS]
        self.time_filter = names[(names.index(self.time_filter) + 1) % len(names)]
        self._redraw()

    def action_toggle_wrap(self) -> None:
        """w: long lines wrap onto continuation rows, or are cut (scroll sideways with left/right)."""
        self.wrap = not self.wrap
        self._redraw()

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
        copy_to_clipboard(self.app, self.whole_line(index), what=f"log line {index + 1}")

    def whole_line(self, index: int) -> str:
        """The line shown at row ``index``: with wrap on, its rows joined back into the line received."""
        rows = self.log_view.lines
        if not self.wrap:
            return rows[index]
        start = index
        while start > 0 and rows[start].startswith(CONTINUATION):
            start -= 1
        parts = [rows[start]]
        for row in rows[start + 1 :]:
            if not row.startswith(CONTINUATION):
                break
            parts.append(row[len(CONTINUATION) :])
        return "".join(parts)

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
        """Write the lines the filters show (whole, never wrapped) to a new file, mode 0600; errors are
        told."""
        lines = self.shown_lines()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.writelines(f"{line}\n" for line in lines)
        except FileExistsError:
            self.notify(literal(f"Not saved: {path} exists."), severity="error", markup=False)
        except OSError as exc:
            self.notify(literal(f"Not saved: {path}: {exc.strerror or exc}"), severity="error", markup=False)
        else:
            self.notify(literal(f"Saved {len(lines)} lines to {path}"), markup=False)

    def action_close(self) -> None:
        self.app.pop_screen()

"""The detail pane: tabs Versions, Pipeline, Domains, Env, Events and Health for the highlighted deployment.

It renders what :class:`shipdeck.live.state.LiveState` has loaded; it never calls the network. Versions,
Domains and Env are virtual tables (:class:`VirtualTable`: only the rows on screen are drawn); Domains and Env
are read-only here (``d`` and ``e`` open their editors; ``y`` copies the name under the cursor). Server text
is literal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static, TabbedContent, TabPane

from shipdeck.live.state import DeploymentDetail, deployment_id_of
from shipdeck.model import Deployment, Domain, EnvVar, Event, PipelineRun, Version
from shipdeck.model.service_health import HealthDetail
from shipdeck.tui.clipboard import copy_to_clipboard
from shipdeck.tui.text import age_text, literal, state_label
from shipdeck.tui.widgets.event_log import EventLog
from shipdeck.tui.widgets.health_view import HealthView
from shipdeck.tui.widgets.static_text import set_text
from shipdeck.tui.widgets.versions_table import VersionsTable
from shipdeck.tui.widgets.virtual_table import VirtualTable

TAB_IDS = ("tab-versions", "tab-pipeline", "tab-domains", "tab-env", "tab-events", "tab-health")

DOMAINS_HINT = "(d: add, verify or remove domains)"
ENV_HINT = "(values are masked by the API; e: edit env)"


class DomainsList(VirtualTable[Domain]):
    """A deployment's custom domains: state, name, and why verification failed (the Domains tab and the
    Domains screen)."""

    COLUMNS = (("STATE", 14, 0), ("DOMAIN", 24, 1), ("ERROR", 10, 3))
    MARGIN = " "

    def row_key(self, row: Domain) -> str:
        return row.id

    def row_cells(self, row: Domain) -> Sequence[str]:
        return (state_label(row.status), literal(row.name), literal(row.error or ""))


class EnvList(VirtualTable[EnvVar]):
    """A deployment's environment variables: name and the API's masked preview."""

    COLUMNS = (("NAME", 16, 1), ("VALUE", 10, 2))
    MARGIN = " "

    def row_key(self, row: EnvVar) -> str:
        return row.name

    def row_cells(self, row: EnvVar) -> Sequence[str]:
        return (literal(row.name), literal(row.preview))


def _elapsed(start: datetime | None, end: datetime | None, now: datetime) -> str:
    if start is None:
        return ""
    seconds = max(0, int(((end or now) - start).total_seconds()))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def pipeline_text(runs: list[PipelineRun], now: datetime, *, limit: int = 5) -> Text:
    """The newest runs with their stages and elapsed times (a running stage counts up live)."""
    out = Text()
    for run in runs[:limit]:
        title = f"{state_label(run.status)}  {literal(run.message or run.id)}"
        title += f"  {age_text(run.created_at, now)} ago  ({literal(run.id)})"
        out.append(title + "\n", style="bold")
        for stage in run.stages:
            elapsed = _elapsed(stage.started_at, stage.finished_at, now)
            out.append(f"    {literal(stage.name):<14} {state_label(run.stage_state(stage)):<14} {elapsed}\n")
        if run.error:
            out.append(f"    error: {literal(run.error)}\n", style="bold")
    if not runs:
        out.append("no pipeline runs yet")
    return out


class DetailPane(Vertical):
    DEFAULT_CSS = """
    DetailPane { height: 1fr; }
    DetailPane TabbedContent { height: 1fr; }
    DetailPane ContentSwitcher { height: 1fr; }
    DetailPane TabPane { height: 1fr; padding: 0; }
    DetailPane .detail-text { padding: 0 1; }
    DetailPane #detail-summary { height: auto; padding: 0 1; color: $text-muted; }
    DetailPane #versions-cap { height: 1; color: $text-muted; display: none; }
    DetailPane #versions-change { height: 1; color: $text-warning; display: none; }
    DetailPane .list-cap { height: 1; color: $text-muted; display: none; }
    DetailPane .list-hint { height: 1; color: $text-muted; display: none; }
    """
    BINDINGS = [
        # Only while the Domains or Env list has the focus; elsewhere y is the screen's (copy the URL).
        Binding("y", "copy_name", "Copy name", show=False, id="detail-copy-name"),
    ]

    def __init__(self, *, clock: Callable[[], datetime], id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.clock = clock
        self.deployment: Deployment | None = None
        self.detail: DeploymentDetail | None = None

    def compose(self) -> ComposeResult:
        with TabbedContent(id="detail-tabs", initial="tab-versions"):
            with TabPane("Versions", id="tab-versions"):
                yield Static("", id="versions-change", classes="detail-text")
                yield Static("", id="versions-cap", classes="detail-text")
                yield VersionsTable(id="versions-table", clock=self.clock)
            with TabPane("Pipeline", id="tab-pipeline"), VerticalScroll():
                yield Static("", id="pipeline-text", classes="detail-text")
            with TabPane("Domains", id="tab-domains"):
                yield Static("", id="domains-cap", classes="detail-text list-cap")
                yield DomainsList(id="domains-list")
                yield Static(DOMAINS_HINT, id="domains-hint", classes="detail-text list-hint")
            with TabPane("Env", id="tab-env"):
                yield Static("", id="env-cap", classes="detail-text list-cap")
                yield EnvList(id="env-list")
                yield Static(ENV_HINT, id="env-hint", classes="detail-text list-hint")
            with TabPane("Events", id="tab-events"):
                yield Static("", id="events-empty", classes="detail-text")
                yield EventLog(id="events-log", max_lines=1000)
            with TabPane("Health", id="tab-health"):
                yield HealthView(id="health-view", clock=self.clock)

    @property
    def active_tab(self) -> str:
        return self.query_one(TabbedContent).active

    def show_tab(self, tab_id: str) -> None:
        self.query_one(TabbedContent).active = tab_id

    def cycle_tab(self, step: int) -> None:
        index = TAB_IDS.index(self.active_tab) if self.active_tab in TAB_IDS else 0
        self.show_tab(TAB_IDS[(index + step) % len(TAB_IDS)])

    # -- what the app calls ------------------------------------------------------------------------------
    def show(self, deployment: Deployment | None, detail: DeploymentDetail | None) -> None:
        same_deployment = self.deployment is not None and deployment is not None
        same_deployment = same_deployment and self.deployment.id == deployment.id  # type: ignore[union-attr]
        self.deployment = deployment
        if detail is not None and deployment is not None and detail.deployment_id != deployment.id:
            detail = None
        self.detail = detail
        self._show_versions(keep_cursor=same_deployment)
        self._label_events()
        self.refresh_times()
        self._show_list(
            self.query_one(DomainsList),
            "domains",
            detail.domains if detail is not None else None,
            detail.domains_total if detail is not None else None,
            what="domains",
            empty="no custom domains",
            keep_cursor=same_deployment,
        )
        self._show_list(
            self.query_one(EnvList),
            "env",
            detail.env if detail is not None else None,
            detail.env_total if detail is not None else None,
            what="environment variables",
            empty="no environment variables",
            keep_cursor=same_deployment,
        )

    def show_last_change(self, text: str | None) -> None:
        """'rolled back v8 -> v7 by ana, 3m ago' above the versions, until the next change."""
        line = self.query_one("#versions-change", Static)
        line.display = bool(text)
        set_text(line, literal(text or ""))  # the tick calls this every second

    def show_health(
        self,
        detail: HealthDetail | None,
        *,
        unavailable: str | None = None,
        movement: str | None = None,
        span: str = "1h",
        wanted_span: str | None = None,
        lists_read: bool = True,
        lists_waiting: bool = False,
        failure: str | None = None,
    ) -> None:
        """The Health tab: the monitor's detail of the deployment shown (another one's is not shown);
        ``lists_read`` False: its routes and failing requests are not read yet (the figures alone),
        ``lists_waiting``: and their read waits for the health budget; ``failure``: why the last read of
        the figures failed (those shown are from before);
        ``span`` the span of the series held, ``wanted_span`` the one asked for (h), still being read."""
        if detail is not None and (
            self.deployment is None or detail.health.deployment_id != self.deployment.id
        ):
            detail = None
        self.query_one(HealthView).show(
            detail,
            unavailable=unavailable,
            loading=self.deployment is not None,
            lists_read=lists_read,
            lists_waiting=lists_waiting,
            movement=movement,
            span=span,
            wanted_span=wanted_span,
            failure=failure,
        )

    def refresh_times(self) -> None:
        """Re-render what shows elapsed time (the running pipeline stage)."""
        text: Text | str
        if self.deployment is None:
            text = ""
        elif self.detail is None or self.detail.runs is None:
            text = self._missing("runs")
        else:
            text = pipeline_text(self.detail.runs, self.clock())
        set_text(self.query_one("#pipeline-text", Static), text)

    def add_events(self, events: Iterable[Event]) -> None:
        """Append the events that are about the deployment shown."""
        if self.deployment is None:
            return
        shown = self.deployment.id
        log = self.query_one("#events-log", EventLog)
        log.write_events(event for event in events if deployment_id_of(event) == shown)
        # An empty tab says so (and that it is live) rather than looking broken.
        hint = self.query_one("#events-empty", Static)
        hint.display = not log.lines and not log.pending_count
        if hint.display:
            text = Text(
                f"No events about {literal(self.deployment.name)} since the console started; "
                "new ones appear here as they happen."
            )
            set_text(hint, text)  # every batch of events, about any deployment, comes through here

    def _label_events(self) -> None:
        """The Events tab names the versions by number and leaves out the deployment's own id (every
        line's, the same): at 120 columns a rollback's line was cut in its version ids."""
        labels: dict[str, str] = {}
        if self.deployment is not None:
            labels[self.deployment.id] = ""
            versions = self.detail.versions if self.detail is not None else None
            labels.update((version.id, version.label) for version in versions or ())
        self.query_one("#events-log", EventLog).labels = labels

    def reset_events(self, recent: Iterable[Event]) -> None:
        """A different deployment is shown: its recent events from the live state's ring buffer."""
        log = self.query_one("#events-log", EventLog)
        log.flush()
        log.clear()
        self.add_events(recent)

    @property
    def selected_version(self) -> Version | None:
        """The version under the Versions tab's cursor, if that table has the focus."""
        table = self.query_one(VersionsTable)
        return table.highlighted if table.has_focus else None

    @property
    def selected_domain(self) -> Domain | None:
        """The domain under the Domains tab's cursor, if that list has the focus."""
        table = self.query_one(DomainsList)
        return table.highlighted if table.has_focus else None

    @property
    def selected_env_var(self) -> EnvVar | None:
        """The variable under the Env tab's cursor, if that list has the focus."""
        table = self.query_one(EnvList)
        return table.highlighted if table.has_focus else None

    def focus_versions(self) -> None:
        self.show_tab("tab-versions")
        self.query_one(VersionsTable).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "copy_name":  # else the key goes on to the screen's binding
            return self.selected_domain is not None or self.selected_env_var is not None
        return True

    def action_copy_name(self) -> None:
        if (domain := self.selected_domain) is not None:
            copy_to_clipboard(self.app, domain.name, what="domain name")
        elif (var := self.selected_env_var) is not None:
            copy_to_clipboard(self.app, var.name, what="variable name")

    # -- rendering ---------------------------------------------------------------------------------------
    def _missing(self, part: str) -> Text:
        """Why a part is not shown (literal: the reason may quote a server's error), or that it is loading."""
        if self.detail is not None and part in self.detail.unavailable:
            return Text(literal(self.detail.unavailable[part]))
        return Text("loading…")

    def _show_versions(self, *, keep_cursor: bool) -> None:
        table = self.query_one(VersionsTable)
        self._show_versions_cap()
        if self.deployment is None:
            table.show_message("")
        elif self.detail is None or self.detail.versions is None:
            table.show_message(self._missing("versions").plain)
        else:
            table.show_versions(
                self.detail.versions, active=self.deployment.active_version_id, keep_cursor=keep_cursor
            )

    def _show_versions_cap(self) -> None:
        """'showing newest 500 of 100,000 versions' when the live state kept only the newest."""
        cap = self.query_one("#versions-cap", Static)
        detail = self.detail
        kept = len(detail.versions) if detail is not None and detail.versions is not None else 0
        total = detail.versions_total if detail is not None else None
        cap.display = self.deployment is not None and total is not None and total > kept
        set_text(cap, f"showing newest {kept:,} of {total:,} versions" if cap.display and total else "")

    def _show_list(
        self,
        table: VirtualTable[Any],
        part: str,
        rows: Sequence[Any] | None,
        total: int | None,
        *,
        what: str,
        empty: str,
        keep_cursor: bool,
    ) -> None:
        """The Domains or Env tab: the rows the live state kept, the cap line when it kept only the first."""
        if self.deployment is None:
            table.show_message("")
        elif rows is None:
            table.show_message(self._missing(part).plain)
        else:
            table.show_rows(rows, empty=empty, keep_cursor=keep_cursor)
        loaded = self.deployment is not None and rows is not None
        line = cap_line(len(rows), total, what) if loaded and rows is not None else ""
        cap = self.query_one(f"#{part}-cap", Static)
        cap.display = bool(line)
        set_text(cap, line)
        self.query_one(f"#{part}-hint", Static).display = loaded


def cap_line(kept: int, total: int | None, what: str) -> str:
    """'showing the first 500 of 100,000 domains' when only the first were kept; else ''."""
    if total is None or total <= kept:
        return ""
    return f"showing the first {kept:,} of {total:,} {what}"

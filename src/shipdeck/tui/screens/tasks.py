"""The Tasks screen (Miteos): tasks, their agents and pending approvals, and a live event tail.

Everything shown comes from :class:`shipdeck.live.tasks.TasksLive` (REST snapshot + WebSocket events,
coalesced ~10 Hz). Every action is a change plan executed by the session (read-only guard, audit
once, one idempotency key).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from shipdeck.api.errors import ShipdeckError
from shipdeck.live.plans import plan_task_action
from shipdeck.live.reads import Reads
from shipdeck.live.session import ChangeSession
from shipdeck.live.tasks import PendingApproval, TasksUpdate, pending_approvals_of
from shipdeck.model import Agent, Capability, Task
from shipdeck.tui.screens.screen_kit import (
    TableRow,
    TextPrompt,
    badge_environment,
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
    state_cell,
)
from shipdeck.tui.text import literal
from shipdeck.tui.widgets.event_log import EventLog
from shipdeck.tui.widgets.nav_table import NavTable

# Styles of this module's screens, beside it (a path of its own, so a subclass elsewhere finds it too).
STYLES = Path(__file__).with_suffix(".tcss")


def shorten_prompt(prompt: str, limit: int = 70) -> str:
    text = " ".join(prompt.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class TasksScreen(Screen[None]):
    """Tasks (top), the selected task's agents (middle), live events (bottom)."""

    CSS_PATH = STYLES

    # Ordered by urgency: the footer shows as many as fit at 80 columns.
    BINDINGS = [
        Binding("a", "answer(True)", "Approve", id="approval-approve"),
        Binding("n", "answer(False)", "Deny", id="approval-deny"),
        # Not r/p (Rollback/Publish everywhere else) and not g (first row in every table).
        Binding("z", "pause_agent", "Pause", id="agent-pause"),
        Binding("u", "resume_agent", "Resume", id="agent-resume"),
        Binding("m", "guide_agent", "Guide", id="agent-guide"),
        Binding("x", "cancel_agent", "Cancel agent", id="agent-cancel"),
        Binding("X", "cancel_task", "Cancel task", id="task-cancel"),
        Binding("escape,q", "close", "Back", id="tasks-close"),
        Binding("ctrl+r", "reload", "Reload", id="tasks-reload"),
    ]

    def __init__(self, reads: Reads, runner: ChangeSession, *, environment: str | None = None) -> None:
        super().__init__()
        self._environment = environment
        self.reads = reads
        self.runner = runner
        self.live = reads.tasks_live(self._apply_update)
        self.tasks: tuple[Task, ...] = ()
        self.connection = "connecting"

    # -- layout -----------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        environment = self.environment
        with Horizontal(id="tasks-bar"):
            yield Static(
                Content(environment.upper()), id="tasks-environment", classes=f"badge -{environment}"
            )
            yield Static(Content("Tasks · connecting…"), id="tasks-status")
        note = read_only_note(self.runner)
        yield Static(Content(note), id="tasks-readonly", classes="" if note else "-hidden")
        yield NavTable(id="tasks-table")
        yield NavTable(id="agents-table")
        yield Static("", id="tasks-approval")
        yield EventLog(id="tasks-events", max_lines=2_000)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#tasks-table", DataTable).focus()
        capabilities = self.reads.capabilities
        if not capabilities.supports(Capability.TASKS):
            self.connection = f"unavailable: {capabilities.why_not(Capability.TASKS)}"
            self._render_status()
            return
        self.run_worker(self.live.run(), name="tasks-live", group="tasks-live", exclusive=True)

    @property
    def environment(self) -> str:
        """The badge's word: the environment of the profile the tasks come from."""
        return badge_environment(self, self._environment)

    # -- live updates -----------------------------------------------------------------------------------
    def _apply_update(self, update: TasksUpdate) -> None:
        try:
            self._show_update(update)
        except NoMatches:
            pass  # the screen is closing (esc, or the app quits): its widgets are already gone

    def _show_update(self, update: TasksUpdate) -> None:
        if update.events:
            self.query_one(EventLog).write_events(update.events)
        if update.tasks != self.tasks:
            # Most updates only carry events; the tables are rebuilt only when a task changed.
            self.tasks = update.tasks
            self._render_tasks()
        self.connection = update.connection
        self._render_status()

    def _render_status(self) -> None:
        waiting = sum(len(pending_approvals_of(task)) for task in self.tasks)
        running = sum(1 for task in self.tasks if not task.is_terminal)
        text = f"Tasks · {self.connection} · {len(self.tasks)} tasks, {running} active"
        if waiting:
            text += f" · {waiting} waiting for approval (a approve, n deny)"
        self.query_one("#tasks-status", Static).update(Content(literal(text)))

    # Ids are long: they go last, so that at 80 columns the prompt and what needs a human stay visible.
    TASK_COLUMNS = ("State", "Needs", "Prompt", "Agents", "Task")
    AGENT_COLUMNS = ("Type", "State", "Tool", "Progress", "Approval", "Agent")

    def _render_tasks(self) -> None:
        rows: list[TableRow] = []
        for task in self.tasks:
            waiting = len(pending_approvals_of(task))
            cells = [
                state_cell(task.status),
                cell(f"! {waiting} approval" if waiting else ""),
                cell(task.prompt, limit=40),
                cell(len(task.agents)),
                cell(task.id),
            ]
            rows.append((task.id, cells))
        fill_table(self.query_one("#tasks-table", DataTable), self.TASK_COLUMNS, rows)
        self._render_agents()

    def _render_agents(self) -> None:
        task = self.selected_task
        pending = {p.agent.id: p for p in pending_approvals_of(task)} if task else {}
        rows: list[TableRow] = []
        for agent in task.agents if task else []:
            waiting = pending.get(agent.id)
            cells = [
                cell(agent.type or ""),
                state_cell(agent.status),
                cell(agent.current_tool or ""),
                cell("" if agent.progress is None else f"{agent.progress}%"),
                cell(f"! {waiting.approval.action or 'approval'}" if waiting else ""),
                cell(agent.id),
            ]
            rows.append((agent.id, cells))
        fill_table(self.query_one("#agents-table", DataTable), self.AGENT_COLUMNS, rows)
        self._render_approval()

    def _render_approval(self) -> None:
        pending = self.selected_approval
        text = ""
        if pending is not None:
            approval = pending.approval
            risk = f"{approval.risk_level} risk " if approval.risk_level else ""
            text = (
                f"! Waiting for you ({risk}{approval.action or 'action'}): {approval.summary or ''}"
                f" · a approve, n deny · {approval.id} by {pending.agent.id}"
            )
        self.query_one("#tasks-approval", Static).update(Content(literal(text)))

    @on(DataTable.RowHighlighted, "#tasks-table")
    def _task_highlighted(self) -> None:
        self._render_agents()

    @on(DataTable.RowHighlighted, "#agents-table")
    def _agent_highlighted(self) -> None:
        self._render_approval()

    # -- selection --------------------------------------------------------------------------------------
    @property
    def selected_task(self) -> Task | None:
        key = cursor_key(self.query_one("#tasks-table", DataTable))
        return next((task for task in self.tasks if task.id == key), None)

    @property
    def selected_agent(self) -> Agent | None:
        task = self.selected_task
        if task is None:
            return None
        key = cursor_key(self.query_one("#agents-table", DataTable))
        return next((agent for agent in task.agents if agent.id == key), None)

    @property
    def selected_approval(self) -> PendingApproval | None:
        """The selected agent's pending approval, else the selected task's first one."""
        task = self.selected_task
        if task is None:
            return None
        pending = pending_approvals_of(task)
        agent = self.selected_agent
        mine = [p for p in pending if agent is not None and p.agent.id == agent.id]
        candidates = mine or pending
        return candidates[0] if candidates else None

    def select(self, task_id: str, agent_id: str | None = None) -> None:
        """Move the cursors to a task (and one of its agents)."""
        tasks: DataTable[Any] = self.query_one("#tasks-table", DataTable)
        tasks.move_cursor(row=tasks.get_row_index(task_id), animate=False)
        self._render_agents()
        if agent_id is not None:
            agents: DataTable[Any] = self.query_one("#agents-table", DataTable)
            agents.move_cursor(row=agents.get_row_index(agent_id), animate=False)
            self._render_approval()

    # -- actions ----------------------------------------------------------------------------------------
    def _act(
        self,
        action: str,
        target: str,
        task_id: str,
        done: str,
        *,
        reason: str | None = None,
        agent_id: str | None = None,
        instructions: str | None = None,
        what: str | None = None,
    ) -> None:
        plan = plan_task_action(
            action,
            target,
            task_id=task_id,
            done=done,
            what=what,
            reason=reason,
            agent_id=agent_id,
            instructions=instructions,
        )

        async def go() -> None:
            outcome = await run_change(self, self.runner, plan)
            if outcome is not None and outcome.applied and not screen_closed(self):
                # Read back with the next update; a read that fails says so in the bar (it crashed the
                # console when it was read here directly).
                self.live.mark_dirty([task_id])
                await self.live.flush()

        run_change_work(self, go(), group="tasks-actions")

    def _agent_for(self, action: str) -> tuple[Task, Agent] | None:
        if refused_because_read_only(self, self.runner, action):
            return None
        task, agent = self.selected_task, self.selected_agent
        if task is None or agent is None:
            self.notify("Select an agent first (tab to the agents table).", severity="warning")
            return None
        return task, agent

    def action_pause_agent(self) -> None:
        if chosen := self._agent_for("agent-pause"):
            task, agent = chosen
            self._act("agent-pause", agent.id, task.id, f"Paused agent {agent.id}")

    def action_resume_agent(self) -> None:
        if chosen := self._agent_for("agent-resume"):
            task, agent = chosen
            self._act("agent-resume", agent.id, task.id, f"Resumed agent {agent.id}")

    def action_guide_agent(self) -> None:
        if not (chosen := self._agent_for("agent-guide")):
            return
        task, agent = chosen

        def send(instructions: str | None) -> None:
            if instructions is None:
                return
            done = f"Sent guidance to agent {agent.id}"
            self._act("agent-guide", agent.id, task.id, done, instructions=instructions)

        prompt = TextPrompt(
            f"Guide agent {literal(agent.id)}",
            help_text="Instructions for the agent (it reads them on its next step).",
            multiline=True,
        )
        self.app.push_screen(prompt, send)

    def _confirm_with_reason(
        self, title: str, help_text: str, keys: str, then: Callable[[str | None], None]
    ) -> None:
        """Ask for an optional reason; enter confirms (an empty reason is fine), esc leaves things be.
        ``keys`` says both in the action's words, once."""

        def answered(reason: str | None) -> None:
            if reason is not None:
                then(reason.strip() or None)

        prompt = TextPrompt(
            title, help_text=help_text, placeholder="reason (optional)", allow_empty=True, keys=keys
        )
        self.app.push_screen(prompt, answered)

    def action_cancel_agent(self) -> None:
        if not (chosen := self._agent_for("agent-cancel")):
            return
        task, agent = chosen

        def cancel(reason: str | None) -> None:
            self._act("agent-cancel", agent.id, task.id, f"Cancelled agent {agent.id}", reason=reason)

        self._confirm_with_reason(
            f"Cancel agent {literal(agent.id)}?",
            "It stops for good.",
            "enter to cancel the agent, esc to keep it running",
            cancel,
        )

    def action_cancel_task(self) -> None:
        if refused_because_read_only(self, self.runner, "task-cancel"):
            return
        task = self.selected_task
        if task is None:
            self.notify("No task selected.", severity="warning")
            return

        def cancel(reason: str | None) -> None:
            self._act("task-cancel", task.id, task.id, f"Cancelled task {task.id}", reason=reason)

        self._confirm_with_reason(
            f"Cancel task {literal(task.id)} and all its agents?",
            # The id alone did not say which task it is: its prompt, cut to a line.
            literal(shorten_prompt(task.prompt)),
            "enter to cancel the task, esc to keep it running",
            cancel,
        )

    def action_answer(self, approved: bool) -> None:
        action = "approval-approve" if approved else "approval-deny"
        if refused_because_read_only(self, self.runner, action):
            return
        pending = self.selected_approval
        if pending is None:
            self.notify("Nothing waiting for approval in the selected task.", severity="warning")
            return
        agent_id, approval = pending.agent.id, pending.approval
        verb = "Approve" if approved else "Deny"
        risk = f" ({literal(approval.risk_level)} risk)" if approval.risk_level else ""

        def answer(reason: str | None) -> None:
            done = f"{'Approved' if approved else 'Denied'} {approval.id} ({approval.action or 'action'})"
            self._act(
                action,
                approval.id,
                pending.task.id,
                done,
                reason=reason,
                agent_id=agent_id,
                what=f"{approval.action or 'action'} of agent {agent_id}",
            )

        self._confirm_with_reason(
            f"{verb} {literal(approval.action or 'the action')}{risk} for agent {literal(agent_id)}?",
            literal(approval.summary or ""),
            f"enter to {verb.lower()}, esc to go back without answering",
            answer,
        )

    def action_reload(self) -> None:
        async def reload() -> None:
            try:
                await self.live.snapshot()
            except ShipdeckError as exc:
                self.notify(describe_error(exc), title="Could not re-read the tasks", severity="error")
                self.live.mark_dirty(["*"])  # read again with the next updates
            await self.live.flush()

        run_read(self, reload(), group="tasks-reload", exclusive=False)

    def action_close(self) -> None:
        self.app.pop_screen()

"""Live state of a Miteos account's tasks, agents and approvals, for the Tasks screen. No Textual.

A REST snapshot (``list_tasks``, then ``get_task`` for each task, which carries its agents and
approvals) is followed by the push stream (``adapter.events()``). Events are not applied field by
field: an event only marks its task dirty, and every ``interval`` (about 10 Hz) the dirty tasks are
re-read over REST and one :class:`TasksUpdate` goes to the subscriber. So a burst of a thousand events
costs one re-read per task and one repaint. When the stream cannot resume (StreamResyncRequired) the
whole snapshot is read again. Buffers are bounded: at most ``max_events`` recent events are kept.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from shipdeck.api.base import Adapter
from shipdeck.api.errors import NotFound, ShipdeckError, StreamResyncRequired
from shipdeck.model import Agent, Approval, Event, Task

FLUSH_INTERVAL = 0.1
MAX_EVENTS = 1_000
SNAPSHOT_LIMIT = 50
# Concurrent get_task calls while re-reading: enough to be quick, few enough to respect rate limits.
READ_CONCURRENCY = 6
RECONNECT_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)
# The longest pause before tasks that could not be read are read again.
READ_RETRY_MAX = 10.0


@dataclass(frozen=True)
class PendingApproval:
    task: Task
    agent: Agent
    approval: Approval


@dataclass(frozen=True)
class TasksUpdate:
    """One coalesced change: the full task list (newest first), the events since the last update,
    and the connection state in words ("connecting", "live", "resyncing", "down: <reason>")."""

    tasks: tuple[Task, ...]
    events: tuple[Event, ...] = ()
    connection: str = "live"
    dropped_events: int = 0


def task_id_of(event: Event) -> str | None:
    value = event.data.get("task_id")
    if isinstance(value, str):
        return value
    task = event.data.get("task")
    if isinstance(task, dict) and isinstance(task.get("id"), str):
        return str(task["id"])
    return None


def agent_id_of(event: Event) -> str | None:
    value = event.data.get("agent_id")
    if isinstance(value, str):
        return value
    agent = event.data.get("agent")
    if isinstance(agent, dict) and isinstance(agent.get("id"), str):
        return str(agent["id"])
    return None


def pending_approvals_of(task: Task) -> list[PendingApproval]:
    """Approvals waiting for a human, whether the provider nests them in the agent or the task."""
    found: dict[str, PendingApproval] = {}
    for agent in task.agents:
        approval = agent.pending_approval
        if approval is not None and approval.status == "pending":
            found[approval.id] = PendingApproval(task, agent, approval)
    agents = {agent.id: agent for agent in task.agents}
    for approval in task.approvals:
        if approval.status != "pending" or approval.id in found:
            continue
        owner = agents.get(approval.agent_id or "")
        if owner is not None:
            found[approval.id] = PendingApproval(task, owner, approval)
    return list(found.values())


@dataclass
class TasksState:
    """The tasks as last read, by id, plus which agent belongs to which task."""

    tasks: dict[str, Task] = field(default_factory=dict)
    task_of_agent: dict[str, str] = field(default_factory=dict)

    def put(self, task: Task) -> None:
        self.tasks[task.id] = task
        for agent in task.agents:
            self.task_of_agent[agent.id] = task.id

    def ordered(self) -> tuple[Task, ...]:
        """Tasks needing a human first, then running ones, then the rest; newest first within each."""

        def rank(task: Task) -> tuple[int, float]:
            urgency = 0 if pending_approvals_of(task) else (2 if task.is_terminal else 1)
            created = task.created_at.timestamp() if task.created_at else 0.0
            return urgency, -created

        return tuple(sorted(self.tasks.values(), key=rank))

    def agent(self, agent_id: str) -> tuple[Task, Agent] | None:
        task = self.tasks.get(self.task_of_agent.get(agent_id, ""))
        if task is None:
            return None
        for agent in task.agents:
            if agent.id == agent_id:
                return task, agent
        return None


class TasksLive:
    """Keeps :attr:`state` current and calls ``on_update`` with coalesced :class:`TasksUpdate` batches.

    Run :meth:`run` as a task (the screen's worker) and cancel it to stop. ``on_update`` is called on
    the event loop that runs :meth:`run`.
    """

    def __init__(
        self,
        adapter: Adapter,
        on_update: Callable[[TasksUpdate], None],
        *,
        interval: float = FLUSH_INTERVAL,
        max_events: int = MAX_EVENTS,
        snapshot_limit: int = SNAPSHOT_LIMIT,
    ) -> None:
        self.adapter = adapter
        self.on_update = on_update
        self.interval = interval
        self.snapshot_limit = snapshot_limit
        self.state = TasksState()
        self.recent_events: deque[Event] = deque(maxlen=max_events)
        self.connection = "connecting"
        # The stream's state (its loop's word) and the last re-read's failure: either can make it "down",
        # and each clears its own (a re-read that failed said "down" until the screen was reopened).
        self._stream_state = "connecting"
        self._read_failure: str | None = None
        self._new_events: deque[Event] = deque(maxlen=max_events)
        self._dropped = 0
        self._dirty: set[str] = set()
        self._changed = False
        self._read_gate = asyncio.Semaphore(READ_CONCURRENCY)
        # After reads failed: how many times in a row, and when to try again (events are shown meanwhile).
        self._failed_reads = 0
        self._next_read_at = 0.0

    # -- reading ----------------------------------------------------------------------------------------
    async def snapshot(self) -> None:
        """Read every task (first ``snapshot_limit``) and the details of each, replacing the state."""
        page = await self.adapter.list_tasks(limit=self.snapshot_limit)
        details = await asyncio.gather(
            *(self._read_task(task.id) for task in page.items), return_exceptions=True
        )
        fresh = TasksState()
        failure: str | None = None
        for listed, detailed in zip(page.items, details, strict=True):
            if isinstance(detailed, ShipdeckError):
                # Shown as listed, read again with the next updates (one unreadable task emptied the screen).
                failure = failure or str(detailed)
                self._dirty.add(listed.id)
                detailed = None
            elif isinstance(detailed, BaseException):
                raise detailed
            fresh.put(detailed or listed)
        self.state = fresh
        self._changed = True
        self._set_read_failure(failure)

    async def _read_task(self, task_id: str) -> Task | None:
        async with self._read_gate:
            try:
                return await self.adapter.get_task(task_id)
            except NotFound:
                return None

    async def refresh_task(self, task_id: str) -> None:
        """Re-read one task now (after an action) and announce it with the next update."""
        task = await self._read_task(task_id)
        if task is None:
            self.state.tasks.pop(task_id, None)
        else:
            self.state.put(task)
        self._changed = True

    def mark_dirty(self, task_ids: Iterable[str]) -> None:
        self._dirty.update(task_ids)

    def accept(self, event: Event) -> None:
        """Take one event from the stream: keep it, and mark the task it concerns for a re-read."""
        if len(self._new_events) == self._new_events.maxlen:
            self._dropped += 1
        self._new_events.append(event)
        self.recent_events.append(event)
        task_id = task_id_of(event)
        if task_id is None and (agent_id := agent_id_of(event)) is not None:
            task_id = self.state.task_of_agent.get(agent_id)
        if task_id is not None:
            self._dirty.add(task_id)
        elif event.type.startswith(("task.", "agent.", "approval.")):
            # An event we cannot place (a new task, an agent we have not seen): re-read the list.
            self._dirty.add("*")

    def _set_connection(self, state: str) -> None:
        self._stream_state = state
        self._show_connection()

    def _set_read_failure(self, failure: str | None) -> None:
        self._read_failure = failure
        self._show_connection()

    def _show_connection(self) -> None:
        state = f"down: {self._read_failure}" if self._read_failure else self._stream_state
        stream = self.adapter.stream_health
        if state == "live" and stream is not None and stream.down_since is not None:
            # The socket reconnects by itself without a word: the bar said "live" for minutes with the
            # server gone, and the tasks shown were what it last said.
            state = f"reconnecting: {stream.reason}" if stream.reason else "reconnecting"
        if state != self.connection:
            self.connection = state
            self._changed = True

    # -- the loops --------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Snapshot, then follow the stream and publish updates until cancelled."""
        flusher = asyncio.create_task(self._flush_forever())
        try:
            await self._follow_stream()
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher

    async def _follow_stream(self) -> None:
        failures = 0
        need_snapshot = True
        after: int | None = None
        while True:
            try:
                if need_snapshot:
                    await self.snapshot()
                    need_snapshot = False
                self._set_connection("live")
                async for event in self.adapter.events(after=after):
                    failures = 0
                    if event.seq is not None:
                        after = event.seq
                    self.accept(event)
                # The adapter reconnects by itself; an iterator that ends means the stream was closed.
                raise StreamResyncRequired("the event stream ended")
            except StreamResyncRequired:
                self._set_connection("resyncing")
                need_snapshot, after = True, None
            except ShipdeckError as exc:
                self._set_connection(f"down: {exc}")
                need_snapshot = True
                await asyncio.sleep(RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)])
                failures += 1

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.flush()

    async def flush(self) -> str | None:
        """Re-read dirty tasks and publish one update if anything changed (the tasks, new events, the
        connection). A task that cannot be read is read again later, after a growing pause, and the rest
        is shown meanwhile with the connection "down: <why>" (one failing task froze the whole screen,
        still saying "live", and was re-read ten times a second). Returns the failure, None when all read."""
        loop = asyncio.get_running_loop()
        failure: str | None = None
        if self._dirty and loop.time() >= self._next_read_at:
            dirty, self._dirty = self._dirty, set()
            if "*" in dirty:
                dirty.discard("*")
                try:
                    page = await self.adapter.list_tasks(limit=self.snapshot_limit)
                    dirty.update(task.id for task in page.items if task.id not in self.state.tasks)
                except ShipdeckError as exc:
                    failure = str(exc)
                    self._dirty.add("*")
            ordered = sorted(dirty)
            results = await asyncio.gather(
                *(self.refresh_task(task_id) for task_id in ordered), return_exceptions=True
            )
            for task_id, result in zip(ordered, results, strict=True):
                if isinstance(result, ShipdeckError):
                    failure = failure or str(result)
                    self._dirty.add(task_id)  # read again later: the server may be back by then
                elif isinstance(result, BaseException):
                    raise result
            if failure is None:
                self._failed_reads = 0
            else:
                self._failed_reads += 1
                pause = self.interval * 2 ** min(self._failed_reads, 10)
                self._next_read_at = loop.time() + min(pause, READ_RETRY_MAX)
            self._set_read_failure(failure)
        elif self._read_failure is not None:
            failure = self._read_failure  # still waiting to read again
        self._show_connection()  # the stream's own health may have changed meanwhile
        self._publish()
        return failure

    def _publish(self) -> None:
        if not (self._changed or self._new_events):
            return
        update = TasksUpdate(
            tasks=self.state.ordered(),
            events=tuple(self._new_events),
            connection=self.connection,
            dropped_events=self._dropped,
        )
        self._new_events.clear()
        self._dropped = 0
        self._changed = False
        self.on_update(update)

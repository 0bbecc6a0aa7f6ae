"""Tasks screen against a real `shipdeck sim` (Miteos): every action, checked by reading the server back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from textual.pilot import Pilot
from textual.widgets import Static

from shipdeck.tui.screens.screen_kit import TextPrompt
from shipdeck.tui.screens.tasks import TasksScreen
from shipdeck.tui.widgets.event_log import EventLog
from tests.simproc import SimServer
from tests.tui.screen_host import (
    TOKENS,
    ScreenHost,
    eventually,
    frozen_sim,
    get_json,
    profile_for,
    screen_text,
)

TERMINAL = {"complete", "completed", "failed", "cancelled"}


@pytest.fixture(scope="module")
def tasks_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    # Slow simulated time: the demo tasks stay where the seed put them while the test acts on them.
    with frozen_sim(tmp_path_factory.mktemp("tasks-sim"), speed=0.01) as server:
        yield server


def host(sim: SimServer, tmp_path: Path, *, read_only: bool = False) -> ScreenHost:
    profile = profile_for(sim, "miteos", read_only=read_only)
    return ScreenHost(profile, tmp_path / "audit.jsonl", TasksScreen)


async def tasks_screen(pilot: Pilot[Any]) -> TasksScreen:
    def loaded() -> TasksScreen | None:
        screen = pilot.app.screen
        return screen if isinstance(screen, TasksScreen) and screen.tasks else None

    found: TasksScreen = await eventually(loaded, what="tasks loaded")
    return found


async def server_task(sim: SimServer, task_id: str) -> dict[str, Any]:
    answer = await get_json(sim, "miteos", f"/tasks/{task_id}")
    task: dict[str, Any] = answer.get("data", answer)
    return task


def agent_in(task: dict[str, Any], agent_id: str) -> dict[str, Any]:
    return next(agent for agent in task.get("agents", []) if agent["id"] == agent_id)


def live_agent(
    screen: TasksScreen, *, status: str | None = None, exclude: frozenset[str] | set[str] = frozenset()
) -> tuple[str, str]:
    """(task id, agent id) of an agent of a non-terminal task, optionally with ``status``."""
    for task in screen.tasks:
        if task.status in TERMINAL:
            continue
        for agent in task.agents:
            if agent.status in TERMINAL | {"killed"}:
                continue
            if status is None or agent.status == status:
                return task.id, agent.id
    raise AssertionError(f"no live agent (status={status}) in {[t.status for t in screen.tasks]}")


async def test_pause_resume_guide_and_cancel_an_agent(tasks_sim: SimServer, tmp_path: Path) -> None:
    app = host(tasks_sim, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await tasks_screen(pilot)
        task_id, agent_id = live_agent(screen, status="acting")
        screen.select(task_id, agent_id)
        await pilot.press("z")

        async def agent_status(want: str) -> bool:
            return bool(agent_in(await server_task(tasks_sim, task_id), agent_id)["status"] == want)

        await eventually(lambda: agent_status("paused"), what="agent paused on the server")
        await eventually(lambda: "agent.paused" in "\n".join(screen.query_one(EventLog).lines), what="event")
        await pilot.press("u")
        await eventually(lambda: _not_paused(tasks_sim, task_id, agent_id), what="agent resumed")

        await pilot.press("m")
        assert isinstance(app.screen, TextPrompt)
        for char in "use the staging db":
            await pilot.press(char)
        await pilot.press("ctrl+s")
        await eventually(lambda: any("Sent guidance" in m for m in app.messages), what="guidance sent")
        guided = lambda: _has_event(tasks_sim, "agent.guided", agent_id, instructions="use the staging db")  # noqa: E731
        await eventually(guided, what="agent.guided event with the instructions")

        await pilot.press("x")
        assert isinstance(app.screen, TextPrompt)
        await pilot.press("enter")  # no reason: confirm
        await eventually(lambda: _agent_stopped(tasks_sim, task_id, agent_id), what="agent cancelled")
    audit = (tmp_path / "audit.jsonl").read_text()
    for action in ("agent-pause", "agent-resume", "agent-guide", "agent-cancel"):
        assert f'"{action}"' in audit


async def _not_paused(sim: SimServer, task_id: str, agent_id: str) -> bool:
    return bool(agent_in(await server_task(sim, task_id), agent_id)["status"] != "paused")


async def _agent_stopped(sim: SimServer, task_id: str, agent_id: str) -> bool:
    return agent_in(await server_task(sim, task_id), agent_id)["status"] in {"cancelled", "killed"}


async def _has_event(sim: SimServer, event_type: str, agent_id: str, **data: Any) -> bool:
    """Replay the simulator's own event socket from the start (not through shipdeck's client)."""
    url = sim.miteos.replace("http://", "ws://") + "/ws"
    headers = {"Authorization": f"Bearer {TOKENS['miteos']}"}
    async with websockets.connect(url, additional_headers=headers, open_timeout=5) as socket:
        await socket.send(json.dumps({"type": "subscribe", "events": ["agent.*"]}))
        await socket.send(json.dumps({"type": "resume", "after_seq": 0}))
        try:
            while True:
                frame = json.loads(await asyncio.wait_for(socket.recv(), timeout=1.0))
                payload = frame.get("data") or {}
                wanted = {"agent_id": agent_id, **data}
                if frame.get("type") == event_type and all(payload.get(k) == v for k, v in wanted.items()):
                    return True
        except TimeoutError:
            return False


async def test_approve_and_deny_answer_the_approval_on_the_server(
    tasks_sim: SimServer, tmp_path: Path
) -> None:
    app = host(tasks_sim, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await tasks_screen(pilot)
        waiting = [task for task in screen.tasks if screen_has_pending(screen, task.id)]
        assert waiting, "the demo seed has a task waiting on approval"
        task_id = waiting[0].id
        screen.select(task_id)
        pending = screen.selected_approval
        assert pending is not None
        # (Painted on the next refresh, which a busy machine may not have run yet.)
        await eventually(lambda: "waiting for approval" in screen_text(app), what="the approval on screen")
        await pilot.press("a")
        await eventually(lambda: isinstance(app.screen, TextPrompt), what="the approval prompt")
        for char in "ok by oncall":
            await pilot.press(char)
        await pilot.press("enter")

        async def answered() -> bool:
            task = await server_task(tasks_sim, task_id)
            approvals = list(task.get("approvals", []))
            approvals += [a["pending_approval"] for a in task.get("agents", []) if a.get("pending_approval")]
            mine = [a for a in approvals if a["id"] == pending.approval.id]
            return not mine or all(a.get("status") != "pending" for a in mine)

        await eventually(answered, what="approval answered on the server")
        approved = lambda: _has_event(  # noqa: E731
            tasks_sim, "agent.action", pending.agent.id, approval_id=pending.approval.id, output="approved"
        )
        await eventually(approved, what="the approval recorded as approved")
        await eventually(
            lambda: (
                screen.selected_approval is None
                or screen.selected_approval.approval.id != pending.approval.id
            ),
            what="approval gone from the screen",
        )
        await pilot.press("n")
        await pilot.pause()
        # Nothing else is waiting in that task: deny says so instead of sending anything.
        assert screen.selected_approval is None
        assert any("Nothing waiting for approval" in m for m in app.messages)
    assert '"approval-approve"' in (tmp_path / "audit.jsonl").read_text()
    assert "ok by oncall" in (tmp_path / "audit.jsonl").read_text()


async def test_deny_with_a_reason(tmp_path: Path) -> None:
    # A simulator of its own: the shared one's only seeded approval is answered by the test above.
    with frozen_sim(tmp_path, speed=0.01) as sim:
        app = host(sim, tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await tasks_screen(pilot)
            task_id = next(task.id for task in screen.tasks if screen_has_pending(screen, task.id))
            screen.select(task_id)
            pending = screen.selected_approval
            assert pending is not None
            await pilot.press("n")
            assert isinstance(app.screen, TextPrompt) and "Deny" in screen_text(app)
            for char in "too risky":
                await pilot.press(char)
            await pilot.press("enter")

            # The simulator lists only pending approvals; its event log says how it was answered.
            thought = "The operator rejected the action; revising the approach: too risky"
            agent_id = pending.agent.id
            denied = lambda: _has_event(sim, "agent.thinking", agent_id, thought=thought)  # noqa: E731
            await eventually(denied, what="the denial and its reason on the server")
            assert not [
                a for a in (await server_task(sim, task_id))["approvals"] if a["id"] == pending.approval.id
            ]
            assert any(m.startswith(f"Denied {pending.approval.id}") for m in app.messages)


def screen_has_pending(screen: TasksScreen, task_id: str) -> bool:
    from shipdeck.live.tasks import pending_approvals_of

    return any(pending_approvals_of(task) for task in screen.tasks if task.id == task_id)


async def test_cancel_task(tasks_sim: SimServer, tmp_path: Path) -> None:
    app = host(tasks_sim, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await tasks_screen(pilot)
        task = next(t for t in screen.tasks if t.status not in TERMINAL)
        screen.select(task.id)
        await pilot.press("X")
        assert isinstance(app.screen, TextPrompt)
        # The prompt says which task by what it does, not by its id alone.
        shown = "\n".join(str(w.render()) for w in app.screen.query(".prompt-help").results(Static))
        assert " ".join(task.prompt.split())[:40] in shown, shown
        # What esc does is said once, in the action's words: "esc to keep it" above "esc to cancel" was
        # two answers to "what does esc do in a Cancel dialog".
        assert shown.count("esc") == 1 and "esc to keep it running" in shown, shown
        assert "esc to cancel" not in shown, shown
        await pilot.press("escape")  # changed my mind: nothing sent
        await pilot.pause()
        assert (await server_task(tasks_sim, task.id))["status"] not in TERMINAL
        await pilot.press("X", "enter")

        async def cancelled() -> bool:
            return bool((await server_task(tasks_sim, task.id))["status"] == "cancelled")

        await eventually(cancelled, what="task cancelled on the server")
        await eventually(
            lambda: any(t.id == task.id and t.status == "cancelled" for t in screen.tasks), what="shown"
        )


async def test_read_only_refuses_every_action_before_asking(tasks_sim: SimServer, tmp_path: Path) -> None:
    app = host(tasks_sim, tmp_path, read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await tasks_screen(pilot)
        task_id, agent_id = live_agent(screen)
        before = agent_in(await server_task(tasks_sim, task_id), agent_id)["status"]
        screen.select(task_id, agent_id)
        for key in ("z", "u", "m", "x", "X", "a", "n"):
            await pilot.press(key)
            await pilot.pause()
            assert not isinstance(app.screen, TextPrompt), key
        assert sum("is read-only" in m for m in app.messages) == 7
        assert "READ-ONLY profile" in screen_text(app)
        assert agent_in(await server_task(tasks_sim, task_id), agent_id)["status"] == before
    assert not (tmp_path / "audit.jsonl").exists()


async def test_a_read_that_fails_after_an_action_or_a_reload_does_not_take_the_console_down(
    tasks_sim: SimServer, tmp_path: Path
) -> None:
    """The pause is applied and the task's re-read after it answers 500, then the list's too (ctrl+r):
    both crashed the console with a traceback. Now the outcome is said, the read failure is in the bar
    and the screen stays."""
    from shipdeck.config.profile import Profile, Secret
    from tests.api.hostile import SeenRequest, Writer, hostile_server, response

    acting = next(
        (t["id"], a["id"])
        for t in (await get_json(tasks_sim, "miteos", "/tasks"))["tasks"]
        for a in t["agents"]
        if a["status"] == "acting" and t["status"] not in TERMINAL
    )
    task_id, agent_id = acting
    paused: list[bool] = []

    async def handler(request: SeenRequest, writer: Writer) -> None:
        if request.method == "GET" and paused:
            writer.write(response(500, b'{"detail": "maintenance"}'))  # every read after the pause fails
            return
        headers = {k: v for k, v in request.headers.items() if k in ("authorization", "idempotency-key")}
        async with httpx.AsyncClient() as http:
            real = await http.request(
                request.method, tasks_sim.root + request.path, headers=headers, content=request.body
            )
        if request.method == "POST" and request.path.endswith("/pause"):
            paused.append(True)
        writer.write(response(real.status_code, real.content))

    async with hostile_server(handler) as server:
        profile = Profile(
            "test", "miteos", server.url + "/v1", Secret(TOKENS["miteos"]), environment="sandbox"
        )
        app = ScreenHost(profile, tmp_path / "audit.jsonl", TasksScreen)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await tasks_screen(pilot)
            screen.select(task_id, agent_id)
            await pilot.press("z")
            await eventually(lambda: any("Paused agent" in m for m in app.messages), what="the outcome")
            await eventually(lambda: "(500)" in screen_text(app), what="the failed re-read in the bar")
            await pilot.press("ctrl+r")
            await eventually(
                lambda: any(n.title == "Could not re-read the tasks" for n in app._notifications),
                what="the failed reload said",
            )
            assert app.screen is screen and app.is_running
    assert agent_in(await server_task(tasks_sim, task_id), agent_id)["status"] == "paused"

"""TasksLive against a real `shipdeck sim` (Miteos): snapshot, stream, coalescing, bounded buffers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import httpx
import pytest

from shipdeck.api.base import Adapter
from shipdeck.api.factory import make_adapter
from shipdeck.live.tasks import TasksLive, TasksUpdate, pending_approvals_of
from tests.reliability.proxy import FaultProxy, fault_proxy
from tests.simproc import SimServer
from tests.tui.screen_host import eventually, frozen_sim, get_json, profile_for


@pytest.fixture(scope="module")
def live_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    with frozen_sim(tmp_path_factory.mktemp("tasks-live-sim"), speed=0.01) as server:
        yield server


@pytest.fixture
async def adapter(live_sim: SimServer) -> AsyncIterator[Adapter]:
    client = make_adapter(profile_for(live_sim, "miteos"))
    yield client
    await client.aclose()


async def started(live: TasksLive) -> asyncio.Task[None]:
    task = asyncio.create_task(live.run())
    await eventually(lambda: live.connection == "live" and live.state.tasks, what="snapshot + stream")
    return task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_snapshot_matches_the_server_and_an_action_arrives_as_one_update(
    live_sim: SimServer, adapter: Adapter
) -> None:
    updates: list[TasksUpdate] = []
    live = TasksLive(adapter, updates.append)
    runner = await started(live)
    try:
        listed = await get_json(live_sim, "miteos", "/tasks", limit=50)
        server_ids = {task["id"] for task in listed.get("tasks", listed.get("data", []))}
        await eventually(lambda: updates, what="first update")
        assert {task.id for task in updates[-1].tasks} == server_ids
        assert any(pending_approvals_of(task) for task in updates[-1].tasks), "seed has an approval waiting"
        # The one waiting on a human comes first.
        assert pending_approvals_of(updates[-1].tasks[0])

        active = [(t, a) for t in live.state.ordered() if not t.is_terminal for a in t.agents]
        task, agent = next((t, a) for t, a in active if a.status == "acting")
        await adapter.pause_agent(agent.id)

        def paused_update() -> TasksUpdate | None:
            for update in updates:
                mine = next((t for t in update.tasks if t.id == task.id), None)
                if mine and any(a.id == agent.id and a.status == "paused" for a in mine.agents):
                    return update
            return None

        update = await eventually(paused_update, what="update with the paused agent")
        seen = [event.type for u in updates for event in u.events]
        assert "agent.paused" in seen
        assert update.connection == "live"
        await adapter.resume_agent(agent.id)
    finally:
        await stop(runner)


async def test_a_burst_is_coalesced_and_buffers_stay_bounded(live_sim: SimServer, adapter: Adapter) -> None:
    updates: list[TasksUpdate] = []
    live = TasksLive(adapter, updates.append, max_events=500)
    runner = await started(live)
    try:
        await eventually(lambda: updates, what="first update")
        updates.clear()
        async with httpx.AsyncClient(timeout=10) as client:
            before = (await client.get(f"{live_sim.root}/_sim/requests")).json()["last_seq"]
            # Events the screen cannot place (no task id): each flush re-reads the list once, not per event.
            answer = await client.post(
                f"{live_sim.root}/_sim/burst",
                json={"provider": "miteos", "count": 3000, "type": "agent.action"},
            )
            answer.raise_for_status()

            def all_seen() -> bool:
                return sum(len(u.events) + u.dropped_events for u in updates) >= 3000

            await eventually(all_seen, timeout=30, what="every burst event delivered")
            requests = (await client.get(f"{live_sim.root}/_sim/requests", params={"since": before})).json()
        assert len(updates) < 100, f"{len(updates)} updates for one burst: not coalesced"
        assert all(len(u.events) <= 500 for u in updates)
        assert len(live.recent_events) == 500
        list_calls = [r for r in requests["requests"] if r.get("path", "").endswith("/tasks")]
        assert 1 <= len(list_calls) <= len(updates) + 1
    finally:
        await stop(runner)


@contextlib.asynccontextmanager
async def live_through_a_proxy(sim: SimServer) -> AsyncIterator[tuple[FaultProxy, TasksLive]]:
    """TasksLive of a Miteos profile whose link goes through a fault proxy, started (snapshot + stream)."""
    with fault_proxy(sim.port) as link:
        profile = profile_for(sim, "miteos")
        client = make_adapter(replace(profile, base_url=link.url(profile.base_url)))
        live = TasksLive(client, lambda update: None, interval=0.05)
        runner = await started(live)
        try:
            yield link, live
        finally:
            await stop(runner)
            await client.aclose()


async def test_a_failed_re_read_says_down_and_the_next_good_one_says_live_again(live_sim: SimServer) -> None:
    """Through a proxy that goes down and comes back: a re-read of a task failing said "down: ..." for as
    long as the screen stayed open, although the reads worked again and events kept coming."""
    async with live_through_a_proxy(live_sim) as (link, live):
        task_id = next(iter(live.state.tasks))
        link.go_down()
        live.mark_dirty([task_id])
        await eventually(lambda: live.connection.startswith("down"), what="the failed re-read said so")
        link.restore()
        await eventually(lambda: live.connection == "live", what="live again once reads work")


async def test_one_task_that_cannot_be_read_does_not_freeze_the_others(live_sim: SimServer) -> None:
    """A server that fails the reads of one task: the screen froze, still saying "live", while that
    read was retried ten times a second. Now the others are shown, the bar says "down: ...", the failing
    read waits longer each time, and once it works the bar says live again."""
    from shipdeck.config.profile import Profile, Secret
    from tests.api.hostile import SeenRequest, Writer, hostile_server, response
    from tests.conftest import MITEOS_TOKEN

    listed = (await get_json(live_sim, "miteos", "/tasks"))["tasks"]
    bad = listed[0]["id"]
    failing = [True]
    bad_reads: list[str] = []

    async def handler(request: SeenRequest, writer: Writer) -> None:
        if request.method == "GET" and request.path.split("?")[0].endswith(f"/tasks/{bad}"):
            bad_reads.append(request.path)
            if failing[0]:
                writer.write(response(503, b'{"detail": "maintenance"}'))
                return
        async with httpx.AsyncClient() as http:
            real = await http.get(
                live_sim.root + request.path, headers={"Authorization": f"Bearer {MITEOS_TOKEN}"}
            )
        writer.write(response(real.status_code, real.content))

    async with hostile_server(handler) as server:
        client = make_adapter(Profile("t", "miteos", server.url + "/v1", Secret(MITEOS_TOKEN)), timeout=2.0)
        updates: list[TasksUpdate] = []
        live = TasksLive(client, updates.append, interval=0.05)
        try:
            await live.snapshot()  # one unreadable task no longer fails the whole snapshot
            assert bad in live.state.tasks and len(live.state.tasks) == len(listed)
            assert live.connection.startswith("down: ") and "503" in live.connection
            assert await live.flush() is not None
            assert updates and updates[-1].connection.startswith("down: ")
            reads = len(bad_reads)
            for _ in range(5):
                await live.flush()  # within the pause: not read again at once
            assert len(bad_reads) == reads
            failing[0] = False

            async def live_again() -> bool:
                await live.flush()
                return live.connection == "live" or live.connection == "connecting"

            await eventually(live_again, what="the read working again, once its pause is over")
            assert not live.connection.startswith("down"), live.connection
            assert not updates[-1].connection.startswith("down")
        finally:
            await client.aclose()


async def test_a_stream_that_lost_its_server_is_not_called_live(live_sim: SimServer) -> None:
    """The socket reconnects by itself: with the server gone the bar said "live" for minutes, the tasks
    shown being what the server last said. Now it says reconnecting until the stream is back."""
    async with live_through_a_proxy(live_sim) as (link, live):
        link.go_down()
        await eventually(lambda: live.connection.startswith("reconnecting"), what="the lost stream said")
        link.restore()
        await eventually(lambda: live.connection == "live", what="live again once it delivers")

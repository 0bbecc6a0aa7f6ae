"""The Miteos adapter against a real ``shipdeck sim``: deployments as pipelines, tasks, agents, events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from shipdeck.api.errors import AuthError, NotFound, StreamResyncRequired, UnsupportedAction
from shipdeck.api.factory import make_adapter
from shipdeck.api.miteos import MiteosAdapter
from shipdeck.config.profile import Profile, Secret
from shipdeck.model import Capability, Event, Task
from tests.api.helpers import adapter_for, eventually, latest_seq
from tests.simproc import SimServer


@pytest.fixture
async def miteos(sim: SimServer) -> AsyncIterator[MiteosAdapter]:
    adapter = adapter_for(sim, "miteos")
    assert isinstance(adapter, MiteosAdapter)
    yield adapter
    await adapter.aclose()


@pytest.fixture
async def fresh(fresh_sim: SimServer) -> AsyncIterator[MiteosAdapter]:
    adapter = adapter_for(fresh_sim, "miteos")
    assert isinstance(adapter, MiteosAdapter)
    yield adapter
    await adapter.aclose()


async def test_deployments_page_by_offset_and_are_pipelines(miteos: MiteosAdapter) -> None:
    whole = (await miteos.list_deployments(limit=100)).items
    assert whole and all(dep.provider == "miteos" and dep.target for dep in whole)
    paged = [dep.id async for page in miteos.iter_deployment_pages(limit=2) for dep in page]
    assert paged == [dep.id for dep in whole]
    # Pages larger than Miteos serves (the default of iter_deployment_pages) are clamped, not refused.
    assert [dep.id async for page in miteos.iter_deployment_pages() for dep in page] == paged
    assert len((await miteos.list_tasks(limit=500)).items) <= 100
    live = next(dep for dep in whole if dep.state == "live")
    assert live.url and (await miteos.get_deployment(live.id)).id == live.id
    (run,) = await miteos.list_pipeline_runs(live.id)
    assert [(s.name, s.state) for s in run.stages] == [
        ("pending", "complete"),
        ("building", "complete"),
        ("deploying", "complete"),
        ("live", "complete"),
    ]
    assert miteos.rate_limit_limit is not None and miteos.rate_limit_remaining is not None


async def test_capabilities_say_what_miteos_cannot_do(miteos: MiteosAdapter) -> None:
    caps = miteos.capabilities
    assert not caps.supports(Capability.ROLLBACK) and not caps.supports(Capability.PROMOTE)
    assert not caps.supports(Capability.PUBLISH) and caps.supports(Capability.TASKS)
    dep = (await miteos.list_deployments(limit=1)).items[0]
    with pytest.raises(UnsupportedAction, match="no versions to roll back"):
        await miteos.rollback(dep.id)
    with pytest.raises(UnsupportedAction, match="promote"):
        await miteos.promote(dep.id, "v1")


async def test_trigger_a_deployment_and_watch_it_go_live(fresh: MiteosAdapter) -> None:
    workspace = (await fresh.list_deployments(limit=1)).items[0].model_extra or {}
    dep = await fresh.create_deployment(str(workspace.get("workspace_id", "ws_demo")), "vercel", "cfg_demo")
    assert dep.state == "pending"

    async def finished() -> str | None:
        state = (await fresh.get_deployment(dep.id)).state
        return state if state in ("live", "failed") else None

    assert await eventually(finished) in ("live", "failed")


async def test_tasks_and_agent_controls(fresh: MiteosAdapter) -> None:
    page = await fresh.list_tasks(limit=2)
    assert page.items and (page.total is None or page.total >= len(page.items))
    task = await fresh.create_task("Summarise the incident timeline", config={"autonomy_level": 50})
    assert task.status == "pending" and (await fresh.get_task(task.id)).id == task.id

    async def with_agent() -> Task | None:
        current = await fresh.get_task(task.id)
        return current if current.agents else None

    running = await eventually(with_agent)
    agent = running.agents[0]
    assert (await fresh.pause_agent(agent.id)).status == "paused"
    assert (await fresh.resume_agent(agent.id)).status != "paused"
    guided = await fresh.guide_agent(agent.id, "focus on the database")
    assert guided.id == agent.id
    cancelled = await fresh.cancel_task(task.id)
    assert cancelled.status == "cancelled"
    assert isinstance(await fresh.list_deliverables(task.id), list)


async def test_approvals_can_be_answered(fresh: MiteosAdapter) -> None:
    async def waiting_approval() -> tuple[str, str] | None:
        for task in (await fresh.list_tasks(limit=50)).items:
            for agent in task.agents:
                if agent.pending_approval is not None:
                    return agent.id, agent.pending_approval.id
            for approval in task.approvals:
                if approval.status == "pending" and approval.agent_id:
                    return approval.agent_id, approval.id
        return None

    agent_id, approval_id = await eventually(waiting_approval)
    answered = await fresh.answer_approval(
        agent_id, approval_id, approved=False, reason="not during the incident"
    )
    assert answered.id == agent_id


async def test_agent_errors_and_bad_tokens(sim: SimServer, miteos: MiteosAdapter) -> None:
    with pytest.raises(NotFound, match=r"\(404\)"):
        await miteos.pause_agent("agnt_missing")
    profile = Profile(name="agents", provider="miteos", base_url=sim.miteos, token=Secret("mt_test_wrong"))
    bad = make_adapter(profile)
    with pytest.raises(AuthError, match=r"token rejected \(401\) for profile agents"):
        await bad.list_tasks()
    with pytest.raises(AuthError, match="event stream"):
        async for _ in bad.events():
            pass
    await bad.aclose()


async def test_websocket_events_arrive_and_resume(fresh: MiteosAdapter, fresh_sim: SimServer) -> None:
    events: list[Event] = []
    after = await latest_seq(fresh_sim, "miteos")

    async def collect() -> None:
        async for event in fresh.events(after=after):
            events.append(event)
            if created and event.type.startswith("task.") and event.data.get("task_id") == created[0]:
                return

    created: list[str] = []
    collector = asyncio.create_task(collect())
    created.append((await fresh.create_task("Check the error budget")).id)
    await asyncio.wait_for(collector, 30)
    seqs = [e.seq for e in events if e.seq is not None]
    assert len(seqs) == len(events)  # every Miteos event is numbered
    assert seqs == sorted(set(seqs)) and all(e.provider == "miteos" for e in events)
    resumed = []
    async with asyncio.timeout(10):
        async for event in fresh.events(after=seqs[-1] - 1):
            resumed.append(event.seq)
            break
    assert resumed == [seqs[-1]]


async def test_cancel_an_agent(fresh: MiteosAdapter) -> None:
    task = await fresh.create_task("Draft the postmortem")

    async def with_agent() -> Task | None:
        current = await fresh.get_task(task.id)
        return current if current.agents else None

    agent = (await eventually(with_agent)).agents[0]
    cancelled = await fresh.cancel_agent(agent.id)
    assert cancelled.id == agent.id and cancelled.status in ("killed", "cancelled", "error", "complete")


async def test_resume_from_beyond_the_log_asks_for_a_resync(miteos: MiteosAdapter) -> None:
    with pytest.raises(StreamResyncRequired, match="re-read"):
        async with asyncio.timeout(10):
            async for _ in miteos.events(after=10**9):
                pass

"""The Tasks screen's actions (Miteos) say what the server did, as rollbacks do: an answer about another
agent, or one that shows the action not taken, is not reported as done; the task is read back to tell.

A server in front of a real `shipdeck sim` forwards every read. For the action a test picks it either
forwards the request and spoils the answer (the sim applied it) or answers itself and forwards nothing
(nothing changed). The sim's own state says what really happened.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipdeck.api.factory import make_adapter
from shipdeck.config.audit import read_audit
from shipdeck.config.profile import Profile, Secret
from shipdeck.live.plans import ChangePlan, plan_task_action
from shipdeck.live.session import ChangeOutcome, ChangeSession, OutcomeStatus
from tests.api.hostile import SeenRequest, Writer, hostile_server, response
from tests.conftest import MITEOS_TOKEN
from tests.simproc import SimServer, running_sim

HEADERS = {"Authorization": f"Bearer {MITEOS_TOKEN}"}
FORWARDED = ("authorization", "idempotency-key", "content-type")


@pytest.fixture
def own_sim(tmp_path: Path) -> Iterator[SimServer]:
    # Slow, so that the seed's agents stay where they are while a test runs.
    with running_sim(db_path=tmp_path / "sim.db", speed=0.01) as server:
        yield server


def tasks(sim: SimServer) -> list[dict[str, Any]]:
    body = httpx.get(sim.miteos + "/tasks?limit=50", headers=HEADERS, timeout=10).json()
    return list(body["tasks"])


def task(sim: SimServer, task_id: str) -> dict[str, Any]:
    return dict(httpx.get(f"{sim.miteos}/tasks/{task_id}", headers=HEADERS, timeout=10).json())


def running_agent(sim: SimServer) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(task id, an acting agent, another agent of another task)."""
    found = [(t["id"], a) for t in tasks(sim) for a in t["agents"] if a["status"] == "acting"]
    (task_id, agent), (_, other) = found[0], found[1]
    return task_id, agent, other


def waiting_approval(sim: SimServer) -> tuple[str, str, str]:
    """(task id, agent id, approval id) of the seed's pending approval."""
    for t in tasks(sim):
        for approval in t["approvals"]:
            return t["id"], approval["agent_id"], approval["id"]
    raise AssertionError("the demo seed has a pending approval")


def agent_status(sim: SimServer, task_id: str, agent_id: str) -> str:
    return str(next(a["status"] for a in task(sim, task_id)["agents"] if a["id"] == agent_id))


def posts(sim: SimServer, suffix: str) -> list[dict[str, Any]]:
    return [r for r in sim.requests() if r["method"] == "POST" and r["path"].endswith(suffix)]


@contextlib.asynccontextmanager
async def session_behind(
    sim: SimServer, tmp_path: Path, suffix: str, answer: bytes, *, forward: bool
) -> AsyncIterator[ChangeSession]:
    """A change session of a Miteos profile whose server answers the POST ending in ``suffix`` with
    ``answer``: after forwarding it to the sim (``forward``), or instead of it."""

    async def handler(request: SeenRequest, writer: Writer) -> None:
        headers = {k: v for k, v in request.headers.items() if k in FORWARDED}
        change = request.method == "POST" and request.path.endswith(suffix)
        if change and not forward:
            writer.write(answer)
            return
        async with httpx.AsyncClient() as client:
            real = await client.request(
                request.method, sim.root + request.path, headers=headers, content=request.body
            )
        writer.write(answer if change else response(real.status_code, real.content))

    from tests.tui.screen_host import make_session

    async with hostile_server(handler) as server:
        profile = Profile("t", "miteos", server.url + "/v1", Secret(MITEOS_TOKEN))
        adapter = make_adapter(profile, timeout=4.0, deadline=4.0)
        try:
            yield make_session(adapter, tmp_path / "audit.jsonl", profile)
        finally:
            await adapter.aclose()


def phases(audit: Path, action: str) -> list[tuple[str, Any]]:
    rows = [r for r in read_audit(audit) if isinstance(r, dict) and r.get("action") == action]
    return [(r["phase"], r.get("outcome")) for r in rows]


def approval_plan(task_id: str, agent_id: str, approval_id: str) -> ChangePlan:
    return plan_task_action(
        "approval-approve", approval_id, task_id=task_id, agent_id=agent_id, done="Approved"
    )


async def approve_behind(
    sim: SimServer, tmp_path: Path, answer: bytes, *, forward: bool, settle_for: float
) -> ChangeOutcome:
    """Approve the seed's pending approval through a server that answers it with ``answer``."""
    task_id, agent_id, approval_id = waiting_approval(sim)
    path = f"/agents/{agent_id}/approve/{approval_id}"
    async with session_behind(sim, tmp_path, path, answer, forward=forward) as session:
        return await session.execute(approval_plan(task_id, agent_id, approval_id), settle_for=settle_for)


async def test_a_pause_answered_with_another_agent_is_read_back_before_it_is_called_done(
    own_sim: SimServer, tmp_path: Path
) -> None:
    """The sim paused the agent and the answer was another agent's: before, "Paused agent" from that
    answer alone. Now the task is read back, which shows it paused: applied, and sent once."""
    task_id, agent, other = running_agent(own_sim)
    lie = response(200, json.dumps({"agent": other}).encode())
    async with session_behind(
        own_sim, tmp_path, f"/agents/{agent['id']}/pause", lie, forward=True
    ) as session:
        plan = plan_task_action("agent-pause", agent["id"], task_id=task_id, done="Paused")
        outcome = await session.execute(plan, settle_for=10.0)
    assert outcome.status is OutcomeStatus.OK, outcome
    assert outcome.reconciled is not None, "taken from the answer, not read back"
    assert agent_status(own_sim, task_id, agent["id"]) == "paused"
    assert len(posts(own_sim, "/pause")) == 1
    assert phases(tmp_path / "audit.jsonl", "agent-pause") == [
        ("intent", None),
        ("outcome", "unknown"),
        ("reconciled", "applied"),
    ]


@pytest.mark.parametrize(
    ("action", "answer_of"),
    [
        # The agent's own body, still acting: the cancel did not stop it.
        ("agent-cancel", lambda agent, other, task_id: {"agent": agent}),
        # Another agent's body, paused: not this one.
        ("agent-pause", lambda agent, other, task_id: {"agent": {**other, "status": "paused"}}),
        # The task still running.
        ("task-cancel", lambda agent, other, task_id: {"id": task_id, "status": "running", "agents": []}),
        # Bare acknowledgements: they show nothing, so they prove nothing.
        ("agent-pause", lambda agent, other, task_id: {}),
        ("agent-cancel", lambda agent, other, task_id: {}),
        ("task-cancel", lambda agent, other, task_id: {}),
        # The same agent, still acting, for a pause.
        ("agent-pause", lambda agent, other, task_id: {"agent": agent}),
    ],
)
async def test_an_action_whose_answer_shows_it_not_taken_is_unknown_when_nothing_changed(
    own_sim: SimServer, tmp_path: Path, action: str, answer_of: Any
) -> None:
    """A 200 that shows the action not taken, from a server that never acts: not "Cancelled"/"Paused"."""
    task_id, agent, other = running_agent(own_sim)
    target = task_id if action == "task-cancel" else agent["id"]
    suffix = {"agent-cancel": "/cancel", "agent-pause": "/pause", "task-cancel": "/cancel"}[action]
    path = f"/tasks/{task_id}{suffix}" if action == "task-cancel" else f"/agents/{agent['id']}{suffix}"
    answer = response(200, json.dumps(answer_of(agent, other, task_id)).encode())
    async with session_behind(own_sim, tmp_path, path, answer, forward=False) as session:
        plan = plan_task_action(action, target, task_id=task_id, done="Done")
        outcome = await session.execute(plan, settle_for=1.0)
    assert outcome.status is OutcomeStatus.UNKNOWN, outcome
    assert "the server's answer" in str(outcome.error), outcome.error
    assert agent_status(own_sim, task_id, agent["id"]) == "acting"
    assert task(own_sim, task_id)["status"] == "running"


def test_asking_again_with_another_reason_is_the_same_cancel_and_other_guidance_is_another_change() -> None:
    """A cancel's reason goes only to the audit: asking again with another one went out under a new key,
    a second cancel of an agent the first one may have stopped. Guidance is its text."""
    first = plan_task_action("agent-cancel", "agt_1", task_id="t", done="", reason="runaway")
    again = plan_task_action("agent-cancel", "agt_1", task_id="t", done="")
    assert first.identity == again.identity
    one = plan_task_action("agent-guide", "agt_1", task_id="t", done="", instructions="use staging")
    other = plan_task_action("agent-guide", "agt_1", task_id="t", done="", instructions="stop at once")
    assert one.identity != other.identity
    no = plan_task_action("approval-deny", "apr_1", task_id="t", done="", agent_id="agt_1", reason="risky")
    bare = plan_task_action("approval-deny", "apr_1", task_id="t", done="", agent_id="agt_1")
    assert no.identity != bare.identity  # the reason is sent with the answer


async def test_an_approval_answered_with_a_bare_acknowledgement_is_unknown(
    own_sim: SimServer, tmp_path: Path
) -> None:
    """Approve answered 200 {} and nothing changed: not "Approved"."""
    task_id, _agent_id, approval_id = waiting_approval(own_sim)
    outcome = await approve_behind(own_sim, tmp_path, response(200, b"{}"), forward=False, settle_for=1.0)
    assert outcome.status is OutcomeStatus.UNKNOWN, outcome
    assert [a["id"] for a in task(own_sim, task_id)["approvals"]] == [approval_id]


async def test_an_approval_answered_but_still_shown_waiting_is_unknown(
    own_sim: SimServer, tmp_path: Path
) -> None:
    """Approve answered 200 with the agent still waiting on that very approval, nothing changed: unknown,
    and the approval is still pending on the server."""
    task_id, agent_id, approval_id = waiting_approval(own_sim)
    agent = next(a for a in task(own_sim, task_id)["agents"] if a["id"] == agent_id)
    assert agent["pending_approval"]["id"] == approval_id
    answer = response(200, json.dumps({"agent": agent}).encode())
    outcome = await approve_behind(own_sim, tmp_path, answer, forward=False, settle_for=1.0)
    assert outcome.status is OutcomeStatus.UNKNOWN, outcome
    assert f"still shows approval {approval_id} waiting" in str(outcome.error)
    assert [a["id"] for a in task(own_sim, task_id)["approvals"]] == [approval_id]


async def test_an_approval_whose_answer_is_spoiled_is_settled_by_the_servers_replay(
    own_sim: SimServer, tmp_path: Path
) -> None:
    """The sim answered the approval and the answer still showed it waiting: the task no longer lists it
    (answered, by whom a read cannot say), so the same request is sent again under the same key and the
    server's replay says it was this one. Applied, answered once."""
    task_id, agent_id, approval_id = waiting_approval(own_sim)
    agent = next(a for a in task(own_sim, task_id)["agents"] if a["id"] == agent_id)
    answer = response(200, json.dumps({"agent": agent}).encode())
    first = await approve_behind(own_sim, tmp_path, answer, forward=True, settle_for=0.0)
    assert first.status is OutcomeStatus.UNKNOWN, first
    assert task(own_sim, task_id)["approvals"] == []
    plan = approval_plan(task_id, agent_id, approval_id)
    keys = {r.get("idempotency_key") for r in posts(own_sim, f"/approve/{approval_id}")}
    assert len(keys) == 1
    # A second run resends it: the sim replays the answer it stored (the relay passes this one through).
    async with session_behind(own_sim, tmp_path, "/never", b"", forward=True) as session:
        again = await session.execute(plan, settle_for=1.0)
    assert again.status is OutcomeStatus.OK, again
    assert {r.get("idempotency_key") for r in posts(own_sim, f"/approve/{approval_id}")} == keys

"""The Miteos event WebSocket (/v1/ws), with the real `websockets` client against `shipdeck sim`."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus
from websockets.frames import Frame, Opcode

from shipdeck.sim.cli import parse_options
from shipdeck.sim.core import OptionError
from tests.conftest import MITEOS_TOKEN
from tests.simproc import SimServer, running_sim

AUTH = {"Authorization": f"Bearer {MITEOS_TOKEN}"}
Json = dict[str, Any]


@pytest.fixture(scope="module")
def ws_sim() -> Iterator[SimServer]:
    """A simulator of this module's own with quick protocol pings."""
    with running_sim(["--rate-limit", "100000", "--ws-ping", "0.3"], speed=50.0) as server:
        yield server
        # Clients that vanish, send garbage or get dropped are all normal: none may cost a traceback.
        assert not [line for line in server.output if "Traceback" in line], "\n".join(server.output)


def ws_url(server: SimServer, query: str = "") -> str:
    return server.miteos.replace("http://", "ws://") + "/ws" + query


def latest_seq(server: SimServer) -> int:
    return int(httpx.get(f"{server.root}/_sim/health").json()["latest_seq"]["miteos"])


def burst(server: SimServer, count: int, type_: str = "task.burst") -> tuple[int, int]:
    response = httpx.post(
        f"{server.root}/_sim/burst", json={"provider": "miteos", "count": count, "type": type_}, timeout=60
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return int(body["first_seq"]), int(body["last_seq"])


async def receive(socket: ClientConnection, timeout: float = 10) -> Json:
    frame: Json = json.loads(await asyncio.wait_for(socket.recv(), timeout))
    return frame


async def subscribe(socket: ClientConnection, events: list[str], **extra: Any) -> None:
    await socket.send(json.dumps({"type": "subscribe", "events": events, **extra}))
    assert (await receive(socket))["type"] == "subscribed"


async def events_until(socket: ClientConnection, last_seq: int, types: str = "task.burst") -> list[Json]:
    """Events of ``types`` until the one with ``last_seq`` (other traffic of the demo is skipped)."""
    seen: list[Json] = []
    while True:
        frame = await receive(socket)
        if frame.get("type") == types:
            seen.append(frame)
            if frame["seq"] >= last_seq:
                return seen


# ------------------------------------------------------------------------------------------------ auth


@pytest.mark.parametrize(
    "query,headers", [("", {}), ("", {"Authorization": "Bearer mt_test_x"}), ("?token=no", {})]
)
async def test_a_bad_token_is_refused_with_401_before_the_upgrade(
    ws_sim: SimServer, query: str, headers: dict[str, str]
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url(ws_sim, query), additional_headers=headers):
            pass
    assert refused.value.response.status_code == 401
    assert "detail" in json.loads(refused.value.response.body or b"{}")


async def test_the_token_may_come_in_the_query(ws_sim: SimServer) -> None:
    async with connect(ws_url(ws_sim, f"?token={MITEOS_TOKEN}")) as socket:
        await subscribe(socket, ["task.*"])


async def test_the_socket_is_also_served_at_v1_events(ws_sim: SimServer) -> None:
    url = ws_sim.miteos.replace("http://", "ws://") + "/events"
    async with connect(url, additional_headers=AUTH) as socket:
        await socket.send(json.dumps({"type": "ping"}))
        assert await receive(socket) == {"type": "pong"}


# ------------------------------------------------------------------------------------------------ events


async def test_subscribe_then_receive_the_events_of_a_new_task(ws_sim: SimServer) -> None:
    async with connect(ws_url(ws_sim), additional_headers=AUTH) as socket:
        await subscribe(socket, ["task.*", "agent.*", "approval.*"])
        async with httpx.AsyncClient(base_url=ws_sim.miteos, headers=AUTH) as api:
            created = await api.post(
                "/tasks", json={"prompt": "Watch me", "config": {"max_agents": 1, "autonomy_level": 0}}
            )
        task_id = created.json()["id"]
        seen: list[Json] = []
        while not any(f["type"] == "approval.required" for f in seen):
            frame = await receive(socket)
            assert set(frame) == {"id", "seq", "type", "created_at", "data"}
            assert frame["id"].startswith("evt_")
            assert frame["type"].split(".")[0] in ("task", "agent", "approval")
            if frame["data"].get("task_id") == task_id:
                seen.append(frame)
        types = [f["type"] for f in seen]
        assert types[:3] == ["task.created", "task.planning", "task.running"]
        assert "agent.action" in types
        seqs = [f["seq"] for f in seen]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        approval = seen[-1]["data"]
        assert approval["approval_id"].startswith("apr_") and approval["risk_level"]


async def test_a_task_id_filter_and_pattern_filter(ws_sim: SimServer) -> None:
    async with httpx.AsyncClient(base_url=ws_sim.miteos, headers=AUTH) as api:
        task = (
            await api.post("/tasks", json={"prompt": "Filtered", "config": {"autonomy_level": 95}})
        ).json()
        async with connect(ws_url(ws_sim), additional_headers=AUTH) as socket:
            await subscribe(socket, ["agent.*", "task.*"], task_id=task["id"])
            await socket.send(json.dumps({"type": "resume", "after_seq": max(0, latest_seq(ws_sim) - 50)}))
            for _ in range(5):
                frame = await receive(socket)
                assert frame["data"]["task_id"] == task["id"]
                assert frame["type"].startswith(("agent.", "task."))


async def test_ping_is_answered_and_bad_messages_get_an_error(ws_sim: SimServer) -> None:
    async with connect(ws_url(ws_sim), additional_headers=AUTH) as socket:
        await subscribe(socket, ["nothing.*"])
        bad_messages: list[str | bytes] = ["not json", "[1]", '{"type": "dance"}', b'{"type": "ping"}']
        bad_messages += ['{"type": "resume", "after_seq": -1}', '{"type": "subscribe", "events": "all"}']
        for bad in bad_messages:
            await socket.send(bad)
            error = await receive(socket)
            assert error["type"] == "error" and error["detail"]
        await socket.send(json.dumps({"type": "ping"}))
        assert await receive(socket) == {"type": "pong"}


class PingCounter(ClientConnection):
    pings = 0

    def process_event(self, event: Any) -> None:
        if isinstance(event, Frame) and event.opcode is Opcode.PING:
            PingCounter.pings += 1
        super().process_event(event)


async def test_the_server_sends_protocol_pings(ws_sim: SimServer) -> None:
    PingCounter.pings = 0
    async with connect(
        ws_url(ws_sim), additional_headers=AUTH, create_connection=PingCounter, ping_interval=None
    ) as socket:
        await subscribe(socket, ["nothing.*"])
        # --ws-ping 0.3: pings keep coming while nothing else does (the deadline only bounds a hang).
        async with asyncio.timeout(30):
            while PingCounter.pings < 2:
                await asyncio.sleep(0.05)
    assert PingCounter.pings >= 2


# ------------------------------------------------------------------------------------------------ resume


async def test_resume_after_seq_loses_and_repeats_nothing(ws_sim: SimServer) -> None:
    start = latest_seq(ws_sim)
    first, last = burst(ws_sim, 400)
    received: list[int] = []
    # Leaves a backlog unread: an unbounded client queue keeps reading so that the close handshake is quick.
    async with connect(ws_url(ws_sim), additional_headers=AUTH, max_queue=None) as socket:
        await subscribe(socket, ["task.*"])
        await socket.send(json.dumps({"type": "resume", "after_seq": start}))
        for _ in range(150):
            frame = await receive(socket)
            if frame["type"] == "task.burst":
                received.append(frame["seq"])
    # A new connection resumes from the last seq seen.
    async with connect(ws_url(ws_sim), additional_headers=AUTH) as socket:
        await subscribe(socket, ["task.*"])
        await socket.send(json.dumps({"type": "resume", "after_seq": received[-1]}))
        received += [f["seq"] for f in await events_until(socket, last)]
    assert received == list(range(first, last + 1))


async def test_a_subscribe_alone_starts_at_the_newest_event(ws_sim: SimServer) -> None:
    burst(ws_sim, 20)
    async with connect(ws_url(ws_sim), additional_headers=AUTH) as socket:
        await subscribe(socket, ["marker.*"])  # answered 'subscribed': from here on, new events come
        first, _ = burst(ws_sim, 1, "marker.one")
        frame = await receive(socket)
        assert (frame["type"], frame["seq"]) == ("marker.one", first)


async def test_resync_required_for_a_seq_the_server_no_longer_has(tmp_path: Any) -> None:
    with running_sim(["--rate-limit", "100000"], seed="empty", speed=50.0) as server:
        _, last = burst(server, 25_000)
        async with connect(ws_url(server), additional_headers=AUTH) as socket:
            await subscribe(socket, ["*"])
            await socket.send(json.dumps({"type": "resume", "after_seq": 1}))
            resync = await receive(socket)
            assert resync["type"] == "resync_required" and resync["oldest_seq"] > 2
            assert last - resync["oldest_seq"] >= 10_000  # the replay buffer keeps at least 10,000 events
            await socket.send(json.dumps({"type": "resume", "after_seq": last + 10}))
            assert (await receive(socket))["type"] == "resync_required"
            # A seq still in the buffer replays from there.
            await socket.send(json.dumps({"type": "resume", "after_seq": last - 3}))
            assert [(await receive(socket))["seq"] for _ in range(3)] == [last - 2, last - 1, last]


async def test_ws_drop_every_closes_and_resume_covers_the_gap() -> None:
    with running_sim(["--rate-limit", "100000", "--faults", "ws_drop_every=40"], seed="empty") as server:
        first, last = burst(server, 150)
        received: list[int] = []
        drops = 0
        after = first - 1
        while after < last and drops < 10:
            async with connect(ws_url(server), additional_headers=AUTH) as socket:
                await subscribe(socket, ["task.*"])
                await socket.send(json.dumps({"type": "resume", "after_seq": after}))
                try:
                    while True:
                        frame = await receive(socket)
                        received.append(frame["seq"])
                        after = frame["seq"]
                        if after == last:
                            break
                except ConnectionClosed as closed:
                    assert isinstance(closed, ConnectionClosedError)
                    assert closed.rcvd is not None and closed.rcvd.code == 1012
                    drops += 1
        assert received == list(range(first, last + 1))
        assert drops == 3  # after 40, 80 and 120 events


async def test_the_demo_tasks_trickle_agent_events_at_a_modest_rate(ws_sim: SimServer) -> None:
    async with httpx.AsyncClient(base_url=ws_sim.miteos, headers=AUTH) as api:
        running = (await api.get("/tasks", params={"status": "running", "limit": 100})).json()["tasks"]
    demo_running = {
        t["id"] for t in running if t["prompt"].startswith(("Research competitor", "Build a landing"))
    }
    assert len(demo_running) == 2
    async with connect(ws_url(ws_sim), additional_headers=AUTH) as socket:
        await subscribe(socket, ["agent.*"])
        loop = asyncio.get_running_loop()
        started = loop.time()
        seen: list[Json] = []
        while loop.time() - started < 1.0:
            with contextlib.suppress(TimeoutError):
                seen.append(await receive(socket, timeout=max(0.01, 1.0 - (loop.time() - started))))
    from_demo = [f for f in seen if f["data"]["task_id"] in demo_running]
    # 50 simulated seconds at --speed 50: one agent step every 4 simulated seconds per running task.
    assert 10 <= len(from_demo) <= 40, len(from_demo)
    assert {f["type"] for f in from_demo} <= {"agent.thinking", "agent.action"}


def test_the_ping_interval_is_an_option_that_must_be_positive() -> None:
    assert parse_options([]).ws_ping_seconds == 20.0  # the house decision
    assert parse_options(["--ws-ping", "0.5"]).ws_ping_seconds == 0.5
    with pytest.raises(OptionError, match="--ws-ping"):
        parse_options(["--ws-ping", "0"])

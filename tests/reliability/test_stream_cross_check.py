"""A push stream that carries no deployment changes (a vendor's stream of other events, or one that lost
them) left the list as it was under '● live' for ever: nothing read the list while the stream was up. The
list is now read again now and then while it is up; a change no event named turns polling on beside it,
and the header says the data is polled."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx

from shipdeck.api.factory import make_adapter
from shipdeck.config.profile import Profile, Secret
from shipdeck.live.state import ConnectionState, LiveState
from shipdeck.live.timing import Timing
from tests.api.hostile import Handler, SeenRequest, Writer
from tests.conftest import ADMIN
from tests.reliability.conftest import FAST_TIMING
from tests.reliability.hostile_kit import _forward, threaded
from tests.simproc import SimServer

HEADERS = {"Authorization": f"Bearer {ADMIN}"}


def stream_of_other_events(sim: SimServer) -> Handler:
    """The simulator's REST API; its event stream stays open and says nothing but heartbeats."""

    async def handler(request: SeenRequest, writer: Writer) -> None:
        if request.path.split("?")[0].endswith("/events/stream"):
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
            )
            for _ in range(600):
                writer.write(b":heartbeat\n\n")
                await writer.drain()
                await asyncio.sleep(0.1)
            return
        real = await _forward(sim, request)
        writer.write(
            b"HTTP/1.1 %d OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (real.status_code, len(real.content), real.content)
        )

    return handler


def roll_back_behind_its_back(sim: SimServer) -> tuple[str, str]:
    """A colleague's rollback, straight to the server: (deployment id, the active version after)."""
    rows = httpx.get(sim.miosa + "/deployments?limit=200", headers=HEADERS, timeout=10).json()["data"]
    dep = next(d for d in rows if d["name"] == "status-page")
    answer = httpx.post(
        sim.miosa + f"/deployments/{dep['id']}/rollback", headers=HEADERS, json={}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return dep["id"], answer.json()["data"]["active_version_id"]


async def until(predicate: object, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_stream_that_misses_changes_is_caught_and_polling_takes_over(fresh_sim: SimServer) -> None:
    timing: Timing = replace(FAST_TIMING, stream_check_interval=1.0, stream_check_per_page=0.0)
    with threaded(stream_of_other_events(fresh_sim)) as server:
        adapter = make_adapter(Profile("quiet", "miosa", server.url + "/api/v1", Secret(ADMIN)), timeout=5.0)
        live = LiveState(adapter, timing=timing)
        task = asyncio.create_task(live.run())
        try:
            await until(lambda: bool(live.deployments) and live.connection is ConnectionState.LIVE)
            assert not live.polling, "the stream is up: pushed, not polled"
            dep_id, now_active = roll_back_behind_its_back(fresh_sim)
            await until(lambda: live.deployments[dep_id].active_version_id == now_active)
            assert live.stream_missed >= 1
            assert live.polling and "the event stream missed" in live.connection_note
            # Polling goes on beside the stream: the next change is read too.
            dep_id, now_active = roll_back_behind_its_back(fresh_sim)
            await until(lambda: live.deployments[dep_id].active_version_id == now_active)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await adapter.aclose()


async def test_a_stream_that_carries_the_changes_stays_pushed(fresh_sim: SimServer) -> None:
    """The same check on the simulator's own stream finds nothing missed: no polling."""
    timing: Timing = replace(FAST_TIMING, stream_check_interval=1.0, stream_check_per_page=0.0)
    adapter = make_adapter(Profile("sim", "miosa", fresh_sim.miosa, Secret(ADMIN)), timeout=5.0)
    live = LiveState(adapter, timing=timing)
    task = asyncio.create_task(live.run())
    try:
        await until(lambda: bool(live.deployments) and live.connection is ConnectionState.LIVE)
        dep_id, now_active = roll_back_behind_its_back(fresh_sim)
        await until(lambda: live.deployments[dep_id].active_version_id == now_active)
        before = len(list_reads(fresh_sim))
        await until(lambda: len(list_reads(fresh_sim)) > before + 2)  # a few checks have read the list
        assert live.stream_missed == 0 and not live.polling, live.connection_note
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await adapter.aclose()


def list_reads(sim: SimServer) -> list[str]:
    log = httpx.get(f"{sim.root}/_sim/requests").json()["requests"]
    return [row["path"] for row in log if str(row["path"]).split("?")[0].endswith("/deployments")]

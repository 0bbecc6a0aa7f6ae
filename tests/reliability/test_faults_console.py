"""The whole console on a flapping link: a fault proxy between it and a real `shipdeck sim` stalls, cuts or
resets connections. What the console shows is read from its widgets; what really happened is read from the
simulator (its request log, a tap of its event stream) and from the bytes the proxy forwarded."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.pilot import Pilot
from textual.widgets import Static
from websockets.sync.client import connect as ws_connect

from shipdeck.live.state import ConnectionState
from shipdeck.model import ProviderName
from shipdeck.tui.app import ShipdeckApp
from shipdeck.tui.screens.dialogs import ConfirmDialog
from shipdeck.tui.screens.help import HelpScreen
from tests.conftest import ADMIN, MITEOS_TOKEN
from tests.reliability.conftest import (
    base_url,
    console_through,
    every_notification,
    header_connection,
    header_current,
    loaded,
)
from tests.reliability.proxy import FaultProxy, RequestHead
from tests.simproc import SimServer
from tests.tui.console_host import POLL, SimHttp, main_screen, settle_actions, wait_for

SIZE = (120, 40)


def header_pending(app: ShipdeckApp) -> str:
    return str(main_screen(app).query_one("#header-pending", Static).render())


def burst(sim: SimServer, provider: ProviderName, count: int) -> dict[str, int]:
    """Make the server emit ``count`` events at once; their first and last sequence numbers."""
    answer = httpx.post(sim.root + "/_sim/burst", json={"provider": provider, "count": count}, timeout=10)
    answer.raise_for_status()
    return dict(answer.json())


def server_events(sim: SimServer, provider: ProviderName, after: int, until: int) -> list[dict[str, Any]]:
    """Every event the server emits after ``after`` up to ``until``, read straight from it (not via the
    proxy, not with shipdeck's client): the record the console's view is compared with."""
    if provider == "miosa":
        return _sse_tap(sim, after, until)
    return _ws_tap(sim, after, until)


def _sse_tap(sim: SimServer, after: int, until: int) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {ADMIN}", "Last-Event-ID": str(after)}
    events: list[dict[str, Any]] = []
    with httpx.stream("GET", sim.miosa + "/events/stream", headers=headers, timeout=10) as answer:
        frame: dict[str, Any] = {}
        for line in answer.iter_lines():
            if line.startswith("id:"):
                frame["seq"] = int(line[3:].strip())
            elif line.startswith("event:"):
                frame["type"] = line[6:].strip()
            elif line.startswith("data:"):
                frame["data"] = json.loads(line[5:].strip()).get("data", {})
            elif not line and "seq" in frame:
                events.append(frame)
                if frame["seq"] >= until:
                    return events
                frame = {}
    raise AssertionError("the server's event stream ended early")


def _ws_tap(sim: SimServer, after: int, until: int) -> list[dict[str, Any]]:
    url = sim.miteos.replace("http://", "ws://") + "/ws"
    events: list[dict[str, Any]] = []
    with ws_connect(url, additional_headers={"Authorization": f"Bearer {MITEOS_TOKEN}"}) as socket:
        socket.send(json.dumps({"type": "subscribe"}))
        socket.send(json.dumps({"type": "resume", "after_seq": after}))
        while True:
            message = json.loads(socket.recv(timeout=10))
            if "seq" in message:
                events.append(message)
                if message["seq"] >= until:
                    return events


async def stream_position(pilot: Pilot[Any], app: ShipdeckApp, sim: SimServer, provider: ProviderName) -> int:
    """Emit marker events until the console's stream has seen one; that marker's sequence number.

    A marker sent before the stream (re)subscribed is never delivered, so one is sent again each half
    second (a re-send period, not a wait before asserting), for at most a minute."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        marker = (await asyncio.to_thread(burst, sim, provider, 1))["last_seq"]
        resend_at = time.monotonic() + 0.5
        while time.monotonic() < resend_at:
            if (app.live.last_seq or 0) >= marker:
                return marker
            await pilot.pause()
            await asyncio.sleep(POLL)
    raise AssertionError(
        f"the console's event stream never came up (it saw up to {app.live.last_seq}, "
        f"the server is at {marker}; connection {app.live.connection}: {app.live.connection_note})"
    )


@pytest.mark.parametrize("failure", ["stall", "down"])
async def test_an_outage_shows_in_the_header_keys_still_work_and_it_recovers_by_itself(
    link_sim: SimServer, link: FaultProxy, tmp_path: Path, failure: str
) -> None:
    http = SimHttp(link_sim)
    app, adapter = console_through(link.url(link_sim.miosa), "miosa", tmp_path)
    told = every_notification(app)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        table = await loaded(pilot, app)
        await wait_for(pilot, lambda: header_connection(app).startswith("● live"))
        link.stall() if failure == "stall" else link.go_down()
        # A change the console cannot hear about while the link is out.
        changed = await asyncio.to_thread(roll_back_any, http)

        await wait_for(pilot, lambda: "reconnecting" in header_connection(app), timeout=30)
        await wait_for(pilot, lambda: re.search(r"stale \d+s", header_connection(app)), timeout=30)
        # Still responsive: the cursor moves, help opens and closes.
        row = table.cursor
        await pilot.press("down")
        assert table.cursor == row + 1
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), timeout=30)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen), timeout=30)

        link.restore()
        # Back promptly: within a read or two (stale_after 1.5 s, deadline 2 s), not after a long backoff.
        await wait_for(pilot, lambda: header_current(app), timeout=30)
        # Said, not shouted: a few lines for the whole outage, not one per retry.
        assert 1 <= len(told) <= 5, told
        # ... and it re-read what changed while it could not hear.
        await wait_for(
            pilot,
            lambda: app.live.deployments[changed["id"]].active_version_id == changed["active_version_id"],
            timeout=30,
        )
    await adapter.aclose()


def roll_back_any(http: SimHttp) -> dict[str, Any]:
    """Roll back the first deployment that can be (straight at the sim); the deployment after it."""
    headers = {**http.headers, "Idempotency-Key": f"outage-{id(http)}"}
    for deployment in all_deployments(http):
        answer = httpx.post(
            f"{http.sim.miosa}/deployments/{deployment['id']}/rollback", headers=headers, json={}, timeout=10
        )
        if answer.status_code == 200:
            return dict(answer.json()["data"])
        headers["Idempotency-Key"] += "x"
    raise AssertionError("no deployment on the simulator could be rolled back")


def is_rollback(head: RequestHead) -> bool:
    return head.method == "POST" and head.path.endswith("/rollback")


async def test_a_rollback_whose_answer_is_cut_off_is_neither_lost_nor_doubled(
    link_sim: SimServer, link: FaultProxy, tmp_path: Path
) -> None:
    http = SimHttp(link_sim)
    target, expected = two_steps_back_possible(http)
    app, adapter = console_through(link.url(link_sim.miosa), "miosa", tmp_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot, app)
        start = await stream_position(pilot, app, link_sim, "miosa")
        assert main_screen(app).table.move_to(target["id"])
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        # The rollback reaches the server, its answer never comes back, and the link stays down a while.
        link.lose_answer_to(is_rollback, then_down=True)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "1 pending" in header_pending(app), timeout=30)
        committed = await asyncio.to_thread(http.deployment, target["name"])
        assert committed["active_version_id"] == expected["id"]
        link.restore()
        await settle_actions(pilot, app)
        assert header_pending(app) == ""
        end = (await asyncio.to_thread(burst, link_sim, "miosa", 1))["last_seq"]
    await adapter.aclose()

    after = await asyncio.to_thread(http.deployment, target["name"])
    assert after["active_version_id"] == expected["id"]  # one step back, not two
    sent = link.requests_matching(is_rollback)
    assert len(sent) == 2, "the lost one, then one resend once the link was back"
    assert len({head.headers["idempotency-key"] for head in sent}) == 1
    logged = [r for r in http.requests() if r["method"] == "POST" and r["path"].endswith("/rollback")]
    assert [r["status"] for r in logged][-2:] == [200, 200]
    applied = [
        e
        for e in await asyncio.to_thread(server_events, link_sim, "miosa", start, end)
        if e["type"] == "deployment.rolled_back" and e["data"].get("deployment_id") == target["id"]
    ]
    assert len(applied) == 1


def all_deployments(http: SimHttp) -> list[dict[str, Any]]:
    deployments: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(http.sim.miosa + "/deployments", headers=http.headers, params=params).json()
        deployments += page["data"]
        cursor = page.get("next_cursor")
        if not cursor:
            return deployments


def two_steps_back_possible(http: SimHttp) -> tuple[dict[str, Any], dict[str, Any]]:
    """A deployment with two ready versions older than its active one (so a doubled rollback would show),
    and the version one rollback goes back to."""
    for deployment in all_deployments(http):
        versions = http.versions(deployment["id"])
        active = next((v for v in versions if v["id"] == deployment["active_version_id"]), None)
        if active is None:
            continue
        number = active["version_number"]
        older = [v for v in versions if v["state"] == "ready" and v["version_number"] < number]
        if len(older) >= 2:
            return deployment, max(older, key=lambda v: int(v["version_number"]))
    raise AssertionError("the demo seed has no deployment with two ready versions behind its active one")


@pytest.mark.parametrize("provider", ["miosa", "miteos"])
async def test_the_event_stream_resumes_across_cuts_without_gaps_or_repeats(
    link_sim: SimServer, link: FaultProxy, tmp_path: Path, provider: ProviderName
) -> None:
    """SSE (Miosa) and WebSocket (Miteos): a FIN and an RST in the middle of a stream of events, with more
    events emitted while the console is away; it must end with exactly what the server emitted."""
    app, adapter = console_through(link.url(base_url(link_sim, provider)), provider, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        start = await stream_position(pilot, app, link_sim, provider)
        streams_before = len(link.requests_matching(is_stream))
        for interrupt in (link.cut, link.reset, link.cut):
            first = (await asyncio.to_thread(burst, link_sim, provider, 300))["first_seq"]
            # Cut as soon as the burst starts arriving: mid-stream, the rest still on its way.
            await wait_for(pilot, lambda: (app.live.last_seq or 0) >= first, timeout=30)  # noqa: B023
            assert interrupt() >= 1
            await asyncio.to_thread(burst, link_sim, provider, 100)  # emitted while it is away
        end = (await asyncio.to_thread(burst, link_sim, provider, 1))["last_seq"]
        await wait_for(pilot, lambda: (app.live.last_seq or 0) >= end, timeout=30)
        received = [e.seq for e in app.live.events if e.seq is not None and start < e.seq <= end]
        assert app.live.connection is ConnectionState.LIVE
    await adapter.aclose()

    emitted = [e["seq"] for e in await asyncio.to_thread(server_events, link_sim, provider, start, end)]
    assert len(received) == len(set(received)), "an event was delivered twice"
    assert received == emitted, "the console's events differ from what the server emitted"
    assert len(link.requests_matching(is_stream)) - streams_before >= 3, "the stream was not really cut"


def is_stream(head: RequestHead) -> bool:
    return head.path.endswith(("/events/stream", "/ws"))

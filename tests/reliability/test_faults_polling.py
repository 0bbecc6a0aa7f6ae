"""Keeping current without a push stream: Mixpeek has none and is polled; a Miosa console whose event stream
is refused (REST still answering) falls back to polling, and goes back to streaming once the stream is back.
Requests are counted and timed by the fault proxy; changes are made straight at the simulator."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shipdeck.api.factory import make_adapter
from shipdeck.config.profile import Profile, Secret
from shipdeck.live import state
from shipdeck.live.plans import plan_rollback
from shipdeck.live.state import ConnectionState
from tests.conftest import MIXPEEK_TOKEN
from tests.reliability.conftest import console_through, header_connection, loaded
from tests.reliability.proxy import FaultProxy, RequestHead
from tests.reliability.test_faults_console import is_stream, roll_back_any, stream_position
from tests.simproc import SimServer
from tests.tui.console_host import SimHttp, wait_for

SIZE = (120, 40)
POLL_MIN = 0.2
POLL_MAX = 1.6


@pytest.fixture(autouse=True)
def _fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "POLL_INTERVAL_MIN", POLL_MIN)
    monkeypatch.setattr(state, "POLL_INTERVAL_MAX", POLL_MAX)


def is_full_read(head: RequestHead) -> bool:
    """A poll: the first page of the deployment list at the console's page size (the staleness probe
    reads 1; later pages have a cursor or an offset)."""
    listing, _, query = head.path.partition("?")
    first_page = "cursor=" not in query and ("offset=" not in query or "offset=0" in query)
    is_list = listing.endswith(("/apps", "/deployments"))
    return head.method == "GET" and is_list and "limit=200" in query and first_page


async def test_without_a_push_stream_the_console_polls_backs_off_and_rides_out_an_outage(
    link_sim: SimServer, link: FaultProxy, tmp_path: Path
) -> None:
    app, adapter = console_through(link.url(link_sim.mixpeek), "mixpeek", tmp_path)
    direct = make_adapter(Profile("direct", "mixpeek", link_sim.mixpeek, Secret(MIXPEEK_TOKEN)))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        # A change on the server shows up with no stream to announce it.
        target = next(d for d in app.live.sorted_deployments() if d.active_version_id)
        plan = plan_rollback(target, await direct.all_versions(target.id))
        assert plan.to is not None
        changed = await direct.rollback(target.id, to_version_id=plan.to.id)
        assert changed.active_version_id != target.active_version_id
        await wait_for(
            pilot,
            lambda: app.live.deployments[target.id].active_version_id == changed.active_version_id,
            timeout=5,
        )
        # Quiet now: the polls come further and further apart.
        since = len(link.requests)
        await pilot.pause(5)
        polls = [head.at for head in link.requests[since:] if is_full_read(head)]
        gaps = [later - earlier for earlier, later in zip(polls, polls[1:], strict=False)]
        assert len(gaps) >= 3, gaps
        assert gaps[-1] > 2 * gaps[0], f"no backoff: {gaps}"
        assert max(gaps) <= POLL_MAX + 0.5

        link.go_down()
        await wait_for(pilot, lambda: "reconnecting" in header_connection(app), timeout=8)
        link.restore()
        # No push stream: the header says the data is polled, and how old it is.
        await wait_for(pilot, lambda: header_connection(app).startswith("● polled"), timeout=8)
    await adapter.aclose()
    await direct.aclose()


async def test_a_refused_event_stream_falls_back_to_polling_then_back_to_streaming(
    link_sim: SimServer, link: FaultProxy, tmp_path: Path
) -> None:
    http = SimHttp(link_sim)
    app, adapter = console_through(link.url(link_sim.miosa), "miosa", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await stream_position(pilot, app, link_sim, "miosa")
        link.refuse(is_stream)
        changed = await asyncio.to_thread(roll_back_any, http)
        # Kept current by polling while the stream cannot connect.
        await wait_for(
            pilot,
            lambda: app.live.deployments[changed["id"]].active_version_id == changed["active_version_id"],
            timeout=10,
        )
        assert app.live.connection is ConnectionState.LIVE
        assert "polling" in app.live.connection_note
        await wait_for(pilot, lambda: header_connection(app).startswith("● polled"), timeout=3)

        link.refuse(None)
        await stream_position(pilot, app, link_sim, "miosa")
        await wait_for(pilot, lambda: "polling" not in app.live.connection_note, timeout=5)
        await wait_for(pilot, lambda: header_connection(app) == "● live", timeout=3)
        # Streaming again: the full re-reads stop.
        polls = len(link.requests_matching(is_full_read))
        await pilot.pause(POLL_MAX * 2)
        assert len(link.requests_matching(is_full_read)) == polls
    await adapter.aclose()

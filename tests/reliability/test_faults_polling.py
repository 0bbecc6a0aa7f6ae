"""Keeping current without a push stream: Mixpeek has none and is polled; a Miosa console whose event stream
is refused (REST still answering) falls back to polling, and goes back to streaming once the stream is back.
Requests are counted and timed by the fault proxy; changes are made straight at the simulator."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from shipdeck.api.factory import make_adapter
from shipdeck.config.profile import Profile, Secret
from shipdeck.live.plans import plan_rollback
from shipdeck.live.state import ConnectionState
from tests.conftest import MIXPEEK_TOKEN
from tests.reliability.conftest import FAST_TIMING, console_through, header_connection, loaded
from tests.reliability.proxy import FaultProxy, RequestHead
from tests.reliability.test_faults_console import is_stream, roll_back_any, stream_position
from tests.simproc import SimServer
from tests.tui.console_host import SimHttp, wait_for

SIZE = (120, 40)
POLL_MIN = 0.2
POLL_MAX = 1.6
FAST_POLLING = dataclasses.replace(FAST_TIMING, poll_interval_min=POLL_MIN, poll_interval_max=POLL_MAX)


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
    app, adapter = console_through(link.url(link_sim.mixpeek), "mixpeek", tmp_path, timing=FAST_POLLING)
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
            timeout=30,
        )
        # Quiet now: the polls come further and further apart, up to the longest interval. What is checked
        # is the interval the console chose after each poll (not the clock: a busy machine only delays them).
        chosen: list[float] = []
        since = len(link.requests_matching(is_full_read))

        def backed_off_to_the_longest() -> bool:
            interval = app.live.poll_interval
            if interval is not None and (not chosen or chosen[-1] != interval):
                chosen.append(interval)
            return interval == POLL_MAX

        await wait_for(pilot, backed_off_to_the_longest, timeout=60)
        assert chosen == sorted(chosen) and len(chosen) >= 3, f"no backoff: {chosen}"
        assert len(link.requests_matching(is_full_read)) >= since + 3  # and each one was a real poll

        link.go_down()
        await wait_for(pilot, lambda: "reconnecting" in header_connection(app), timeout=30)
        link.restore()
        # No push stream: the header says the data is polled, and how old it is.
        await wait_for(pilot, lambda: header_connection(app).startswith("● polled"), timeout=30)
    await adapter.aclose()
    await direct.aclose()


async def test_a_refused_event_stream_falls_back_to_polling_then_back_to_streaming(
    link_sim: SimServer, link: FaultProxy, tmp_path: Path
) -> None:
    http = SimHttp(link_sim)
    app, adapter = console_through(link.url(link_sim.miosa), "miosa", tmp_path, timing=FAST_POLLING)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await stream_position(pilot, app, link_sim, "miosa")
        link.refuse(is_stream)
        changed = await asyncio.to_thread(roll_back_any, http)
        # Kept current by polling while the stream cannot connect.
        await wait_for(
            pilot,
            lambda: app.live.deployments[changed["id"]].active_version_id == changed["active_version_id"],
            timeout=30,
        )
        assert app.live.connection is ConnectionState.LIVE
        assert "polling" in app.live.connection_note
        assert app.live.poll_interval is not None
        await wait_for(pilot, lambda: header_connection(app).startswith("● polled"), timeout=30)

        link.refuse(None)
        await stream_position(pilot, app, link_sim, "miosa")
        await wait_for(pilot, lambda: "polling" not in app.live.connection_note, timeout=30)
        await wait_for(pilot, lambda: header_connection(app) == "● live", timeout=30)
        # Streaming again: the poller stands down (no poll is in flight once it has), and the full re-reads
        # stop while the stream delivers.
        await wait_for(pilot, lambda: app.live.poll_interval is None, timeout=30)
        polls = len(link.requests_matching(is_full_read))
        for _ in range(3):
            await stream_position(pilot, app, link_sim, "miosa")
        assert len(link.requests_matching(is_full_read)) == polls
    await adapter.aclose()

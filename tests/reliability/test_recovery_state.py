"""The header tells the connection as it is after a recovery: once the server is back and the event stream
has reconnected, '● live', even when no event comes (it said '● polled' for minutes, until the first one)."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.conftest import console_through, header_connection, header_current, loaded
from tests.reliability.proxy import FaultProxy
from tests.simproc import SimServer
from tests.tui.console_host import wait_for

SIZE = (120, 40)


async def test_after_an_outage_the_header_says_live_once_the_stream_is_back(
    link_sim: SimServer, link: FaultProxy, tmp_path: Path
) -> None:
    app, adapter = console_through(link.url(link_sim.miosa), "miosa", tmp_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot, app)
        await wait_for(pilot, lambda: header_connection(app).startswith("● live"))
        # The server goes away (as in a restart): connections cut, new ones refused.
        link.go_down()
        link.cut()
        await wait_for(pilot, lambda: not header_current(app))
        link.restore()
        # Nothing happens on the account, so no event comes to say the stream is back: its reconnect does.
        await wait_for(pilot, lambda: header_connection(app).startswith("● live"))
        assert adapter.stream_health is not None and adapter.stream_health.down_since is None
    await adapter.aclose()

"""Failures that used to stay silent: the live loop dying under a header that kept saying '● live', and a
screen's background task failing after the screen was gone."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from shipdeck.live.state import ChangeBatch
from shipdeck.tui.app import ShipdeckApp
from tests.reliability.conftest import console_through, header_connection, loaded
from tests.simproc import SimServer
from tests.tui.console_host import composed, main_screen, notifications, wait_for

SIZE = (120, 40)


async def test_a_failed_live_loop_is_shown_and_can_be_restarted(tmp_path: Path, sim: SimServer) -> None:
    app, adapter = console_through(sim.miosa, "miosa", tmp_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot, app)
        await wait_for(pilot, lambda: header_connection(app).startswith("● live"))
        # A subscriber of the live state (a screen's callback with a bug) fails on the next change batch:
        # that ends the live loop.
        failures = [RuntimeError("subscriber bug")]

        def broken(batch: ChangeBatch) -> None:
            if failures:
                raise failures.pop()

        unsubscribe = app.live.subscribe(broken)
        app.live.mark_dirty(next(iter(app.live.deployments)))
        await wait_for(pilot, lambda: header_connection(app).startswith("✖ stopped:"))
        assert "subscriber bug" in header_connection(app)
        told = [m for m in notifications(app) if m.startswith("Live updates stopped")]
        assert len(told) == 1 and "^r restarts them" in told[0], notifications(app)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: header_connection(app).startswith("● live"))
        assert main_screen(app).context.live_failure is None
        unsubscribe()
    await adapter.aclose()


def header_count(app: ShipdeckApp) -> str:
    return str(main_screen(app).query_one("#header-count", Static).render())


async def test_a_rejected_token_leaves_no_loading_in_the_header(tmp_path: Path, sim: SimServer) -> None:
    app, adapter = console_through(sim.miosa, "miosa", tmp_path, token="msk_u_not_a_real_key")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await composed(pilot, app)
        await wait_for(pilot, lambda: any("token rejected" in m for m in notifications(app)))
        await wait_for(pilot, lambda: not header_count(app).startswith("loading"))
        assert header_count(app) == "no list yet"  # not "0 deployments": the server listed nothing
        assert not header_connection(app).startswith("● live")
    await adapter.aclose()

"""Snapshots of the console's health against a frozen `shipdeck sim` (fixed epoch, nearly stopped time): the
ERRORS column sorted unhealthy first, the Health tab with its charts and the rollback dialog's health line
for the demo's failing checkout-api, at 80x24 and 120x40, and each with NO_COLOR (the ANSI theme): the
failing row must read as failing in symbols and words alone. Regenerate with
`pytest tests/tui/test_health_snapshots.py --snapshot-update`, then look."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Sparkline, Static

from shipdeck.tui.app import ShipdeckApp
from shipdeck.tui.screens.dialogs import ConfirmDialog
from tests.simproc import SimServer
from tests.tui.console_host import console_app, console_options, console_sim, main_screen, wait_for
from tests.tui.test_console_snapshots import RunBefore, steady

SIZES = [(80, 24), (120, 40)]
SIZE_IDS = ["80x24", "120x40"]
COLOURS = ["colour", "no-color"]


@pytest.fixture(scope="module")
def health_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    with console_sim(tmp_path_factory.mktemp("healthsim"), "--rate-limit", "1000000", speed=0.001) as server:
        yield server


def make(sim: SimServer, tmp_path: Path, colours: str, monkeypatch: pytest.MonkeyPatch) -> ShipdeckApp:
    if colours == "no-color":
        monkeypatch.setenv("NO_COLOR", "1")
        return console_app(console_options(sim, tmp_path, theme="shipdeck-ansi"))
    return console_app(console_options(sim, tmp_path))


async def on_checkout_api(pilot: Pilot[Any], app: ShipdeckApp) -> None:
    """The cursor on checkout-api (active v5 failing, v4 before it healthy) with its detail shown."""
    screen = main_screen(app)
    table = screen.table
    target = next(d.id for d in table.visible_rows if d.name == "checkout-api")
    table.move_to(target)
    await wait_for(
        pilot,
        lambda: (
            (detail := app.live.detail) is not None
            and detail.deployment_id == target
            and screen.detail.detail is detail
        ),
        what="checkout-api's detail shown",
    )


@pytest.mark.parametrize("colours", COLOURS)
@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_errors_column_unhealthy_first(
    snap_compare: Any,
    health_sim: SimServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    size: tuple[int, int],
    colours: str,
) -> None:
    app = make(health_sim, tmp_path, colours, monkeypatch)

    async def sorted_by_errors(pilot: Pilot[Any]) -> None:
        table = main_screen(app).table
        await pilot.press("s")
        await wait_for(pilot, lambda: table.unhealthy_first, what="the errors-first order")
        table.action_first()  # the cursor stays on its row when the order changes: show the worst one
        await on_checkout_api(pilot, app)

    assert snap_compare(app, terminal_size=size, run_before=steady(app, sorted_by_errors))


@pytest.mark.parametrize("colours", COLOURS)
@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_health_tab_chart(
    snap_compare: Any,
    health_sim: SimServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    size: tuple[int, int],
    colours: str,
) -> None:
    app = make(health_sim, tmp_path, colours, monkeypatch)

    async def health_tab(pilot: Pilot[Any]) -> None:
        await on_checkout_api(pilot, app)
        screen = main_screen(app)
        monitor = app.live.health
        assert monitor is not None
        target = screen.table.highlighted
        assert target is not None
        screen.detail.show_tab("tab-health")
        # The detail (routes and failing requests) is read while the tab is open, then painted.
        await wait_for(
            pilot,
            lambda: monitor.detail is not None and monitor.detail.health.deployment_id == target.id,
            what="checkout-api's health detail",
        )
        await wait_for(
            pilot,
            lambda: (
                "latest failing requests" in str(screen.query_one("#health-lists", Static).render())
                and len(list(screen.query_one("#health-errors", Sparkline).data or [])) == 60
            ),
            what="the Health tab painted",
        )

    assert snap_compare(app, terminal_size=size, run_before=steady(app, health_tab))


@pytest.mark.parametrize("colours", COLOURS)
@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_rollback_dialog_health_line(
    snap_compare: Any,
    health_sim: SimServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    size: tuple[int, int],
    colours: str,
) -> None:
    app = make(health_sim, tmp_path, colours, monkeypatch)

    async def rollback_dialog(pilot: Pilot[Any]) -> None:
        await on_checkout_api(pilot, app)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the rollback dialog")

    run_before: RunBefore = steady(app, rollback_dialog)
    assert snap_compare(app, terminal_size=size, run_before=run_before)

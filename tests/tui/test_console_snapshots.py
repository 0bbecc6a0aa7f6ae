"""Snapshots of the console against a frozen `shipdeck sim` (fixed epoch, nearly stopped time, the console's
clock pinned near the epoch): the main screen, every detail tab, the rollback dialog and help, at 80x24
and 120x40. Regenerate with `pytest tests/tui/test_console_snapshots.py --snapshot-update`, then look."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from shipdeck.tui.app import ShipdeckApp
from shipdeck.tui.screens.dialogs import ConfirmDialog
from shipdeck.tui.screens.help import HelpScreen
from tests.simproc import SimServer
from tests.tui.console_host import (
    console_app,
    console_options,
    console_sim,
    main_screen,
    wait_for,
    wait_loaded,
)

SIZES = [(80, 24), (120, 40)]
RunBefore = Callable[[Pilot[Any]], Awaitable[None]]


@pytest.fixture(scope="module")
def frozen_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    # A large rate limit keeps the header's budget at the same percentage whatever ran before.
    with console_sim(tmp_path_factory.mktemp("snapsim"), "--rate-limit", "1000000", speed=0.001) as server:
        yield server


def steady(app: ShipdeckApp, then: RunBefore | None = None) -> RunBefore:
    """Wait until the list, the detail and every version number are loaded; drop start-up toasts."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_loaded(pilot, app)
        await wait_for(
            pilot, lambda: all(d.active_version_number is not None for d in app.live.deployments.values())
        )
        # Every row's error rate is read (the ERRORS column), and the highlighted row's health detail.
        await wait_for(pilot, lambda: health_loaded(app))
        await pilot.pause(0.3)
        if then is not None:
            await then(pilot)
        app.clear_notifications()
        await pilot.pause(0.1)

    return run_before


def health_loaded(app: ShipdeckApp) -> bool:
    monitor = app.live.health
    current = main_screen(app).table.highlighted
    return (
        monitor is not None
        and set(app.live.deployments) <= set(monitor.latest)
        and current is not None
        and monitor.detail is not None
        and monitor.detail.health.deployment_id == current.id
    )


def make(frozen_sim: SimServer, tmp_path: Path, **options: Any) -> ShipdeckApp:
    return console_app(console_options(frozen_sim, tmp_path, **options))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_main_screen(snap_compare: Any, frozen_sim: SimServer, tmp_path: Path, size: tuple[int, int]) -> None:
    app = make(frozen_sim, tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=steady(app))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
@pytest.mark.parametrize("tab", ["pipeline", "domains", "env", "events"])
def test_detail_tabs(
    snap_compare: Any, frozen_sim: SimServer, tmp_path: Path, tab: str, size: tuple[int, int]
) -> None:
    app = make(frozen_sim, tmp_path)

    async def open_tab(pilot: Pilot[Any]) -> None:
        screen = main_screen(app)
        table = screen.table
        target = next(i for i in table.visible_ids if table._rows[i].name == "smile-dental-landing")
        table.move_to(target)
        await wait_for(pilot, lambda: app.live.detail is not None and app.live.detail.deployment_id == target)
        await pilot.pause(0.2)
        screen.detail.show_tab(f"tab-{tab}")
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=size, run_before=steady(app, open_tab))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_rollback_dialog_in_production(
    snap_compare: Any, frozen_sim: SimServer, tmp_path: Path, size: tuple[int, int]
) -> None:
    app = make(frozen_sim, tmp_path)

    async def open_dialog(pilot: Pilot[Any]) -> None:
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))

    assert snap_compare(app, terminal_size=size, run_before=steady(app, open_dialog))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_help_lists_every_key(
    snap_compare: Any, frozen_sim: SimServer, tmp_path: Path, size: tuple[int, int]
) -> None:
    app = make(frozen_sim, tmp_path, keymap={"rollback": "b"})

    async def open_help(pilot: Pilot[Any]) -> None:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))

    assert snap_compare(app, terminal_size=size, run_before=steady(app, open_help))


def test_read_only_sandbox_header(snap_compare: Any, frozen_sim: SimServer, tmp_path: Path) -> None:
    app = make(frozen_sim, tmp_path, read_only=True, environment="sandbox")
    assert snap_compare(app, terminal_size=(80, 24), run_before=steady(app))


def test_no_color_and_sixteen_colours(
    snap_compare: Any, frozen_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NO_COLOR with the ANSI theme: PRODUCTION and every state still read as words and symbols."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = make(frozen_sim, tmp_path, theme="shipdeck-ansi")
    assert snap_compare(app, terminal_size=(80, 24), run_before=steady(app))


def open_checkout_health(app: ShipdeckApp) -> RunBefore:
    async def run(pilot: Pilot[Any]) -> None:
        screen = main_screen(app)
        target = next(i for i in screen.table.visible_ids if screen.table._rows[i].name == "checkout-api")
        screen.table.move_to(target)
        await wait_for(pilot, lambda: health_loaded(app))
        # No underline animation to catch half-way: the tab bar looks the same however busy the machine is.
        app.animation_level = "none"
        screen.detail.show_tab("tab-health")
        await pilot.pause(0.3)

    return run


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_health_tab_and_errors_column(
    snap_compare: Any, frozen_sim: SimServer, tmp_path: Path, size: tuple[int, int]
) -> None:
    """checkout-api failing: '⚠ high' in ERRORS, the hour's charts with v5 marked, routes and requests."""
    app = make(frozen_sim, tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=steady(app, open_checkout_health(app)))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_health_tab_without_colour(
    snap_compare: Any,
    frozen_sim: SimServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    size: tuple[int, int],
) -> None:
    """NO_COLOR: the trend reads as block heights and the warning as a symbol and a word."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = make(frozen_sim, tmp_path, theme="shipdeck-ansi")
    assert snap_compare(app, terminal_size=size, run_before=steady(app, open_checkout_health(app)))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_errors_first(
    snap_compare: Any, frozen_sim: SimServer, tmp_path: Path, size: tuple[int, int]
) -> None:
    app = make(frozen_sim, tmp_path)

    async def sort(pilot: Pilot[Any]) -> None:
        await pilot.press("s")
        await wait_for(pilot, lambda: main_screen(app).table.unhealthy_first)
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=size, run_before=steady(app, sort))

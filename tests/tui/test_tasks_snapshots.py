"""Snapshots of the Tasks screen at 80x24 and 120x40 (fixed simulated epoch, frozen simulated time)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from shipdeck.tui.screens.tasks import TasksScreen
from tests.simproc import SimServer
from tests.tui.console_host import settled
from tests.tui.screen_host import ScreenHost, eventually, frozen_sim, profile_for


@pytest.fixture(scope="module")
def still_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    with frozen_sim(tmp_path_factory.mktemp("tasks-snap-sim"), speed=0.0001) as server:
        yield server


async def loaded(pilot: Pilot[Any]) -> None:
    def ready() -> bool:
        screen = pilot.app.screen
        return isinstance(screen, TasksScreen) and bool(screen.tasks) and screen.connection == "live"

    await eventually(ready, what="tasks loaded")
    await settled(pilot, pilot.app)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_tasks_screen(
    snap_compare: Callable[..., bool], still_sim: SimServer, tmp_path: Path, size: tuple[int, int]
) -> None:
    app = ScreenHost(profile_for(still_sim, "miteos"), tmp_path / "audit.jsonl", TasksScreen)
    assert snap_compare(app, terminal_size=size, run_before=loaded)

"""Snapshots of the env editor's diff before apply at 80x24 and 120x40 (fixed seed and epoch)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from shipdeck.model import Deployment
from shipdeck.tui.screens.env_editor import EnvDiffScreen, EnvEditorScreen
from tests.simproc import SimServer
from tests.tui.console_host import settled
from tests.tui.screen_host import ScreenHost, eventually, frozen_sim, profile_for
from tests.tui.test_env_editor import first_deployment_with_env


@pytest.fixture(scope="module")
def still_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    with frozen_sim(tmp_path_factory.mktemp("env-snap-sim"), speed=0.0001) as server:
        yield server


async def staged_diff(pilot: Pilot[Any]) -> None:
    def ready() -> EnvEditorScreen | None:
        screen = pilot.app.screen
        return screen if isinstance(screen, EnvEditorScreen) and screen.current else None

    screen: EnvEditorScreen = await eventually(ready, what="env loaded")
    first, *_, last = sorted(screen.current)
    screen.stage("FEATURE_FLAGS", "checkout=on\nsearch=off")
    screen.stage(first, "rotated-secret-✓")
    screen.stage(last, None)
    await pilot.press("s")
    await eventually(lambda: isinstance(pilot.app.screen, EnvDiffScreen), what="diff shown")
    await settled(pilot, pilot.app)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_env_diff_before_apply(
    snap_compare: Callable[..., bool], still_sim: SimServer, tmp_path: Path, size: tuple[int, int]
) -> None:
    import asyncio

    dep: Deployment = asyncio.run(first_deployment_with_env(still_sim))
    profile = profile_for(still_sim, "miosa")
    app = ScreenHost(profile, tmp_path / "audit.jsonl", lambda a, r: EnvEditorScreen(a, r, dep, profile))
    assert snap_compare(app, terminal_size=size, run_before=staged_diff)

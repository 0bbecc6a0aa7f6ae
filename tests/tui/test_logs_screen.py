"""Logs screen against a real `shipdeck sim`: a build's log tailed live, searched, paused, copied."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.worker import Worker, WorkerState

from shipdeck.model import Deployment
from shipdeck.tui.screens.logs import LogsScreen
from tests.simproc import SimServer
from tests.tui.screen_host import ScreenHost, eventually, frozen_sim, get_json, profile_for, screen_text


@pytest.fixture(scope="module")
def logs_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    with frozen_sim(tmp_path_factory.mktemp("logs-sim"), speed=50.0) as server:
        yield server


async def deployment_with_build(sim: SimServer) -> tuple[Deployment, str]:
    for raw in (await get_json(sim, "miosa", "/deployments"))["data"]:
        builds = (await get_json(sim, "miosa", f"/deployments/{raw['id']}/builds"))["data"]
        if builds:
            dep = Deployment(id=raw["id"], provider="miosa", name=raw.get("name") or raw["id"])
            return dep, builds[0]["id"]
    raise AssertionError("the demo seed has no deployment with a build")


def host(sim: SimServer, tmp_path: Path, dep: Deployment, build_id: str | None) -> ScreenHost:
    profile = profile_for(sim, "miosa")
    return ScreenHost(profile, tmp_path / "audit.jsonl", lambda a, _r: LogsScreen(a, dep, build_id))


async def logs_screen(pilot: Pilot[Any], *, min_lines: int = 2) -> LogsScreen:
    def filled() -> LogsScreen | None:
        screen = pilot.app.screen
        return screen if isinstance(screen, LogsScreen) and screen.log_view.line_count >= min_lines else None

    found: LogsScreen = await eventually(filled, timeout=30, what="log lines")
    return found


async def test_build_log_search_follow_and_copy(logs_sim: SimServer, tmp_path: Path) -> None:
    dep, build_id = await deployment_with_build(logs_sim)
    app = host(logs_sim, tmp_path, dep, build_id)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await logs_screen(pilot)
        assert f"build {build_id}" in screen_text(app)
        log = screen.log_view
        # Search for a word the first line has; n and N move between matches and the status counts them.
        word = next(w for w in log.lines[0].split() if len(w) > 3 and not w[0].isdigit())
        await pilot.press("slash")
        for char in word:
            await pilot.press(char)
        await pilot.press("enter")
        await pilot.pause()
        first = log.highlighted_line
        assert first is not None and word.casefold() in log.lines[first].casefold()
        status = " ".join(screen_text(app).split())
        assert f"/{word} {log.count_matches(word)} hits, line {first + 1}" in status
        assert not screen.following  # reading a match pauses following
        hits = log.count_matches(word)
        await pilot.press("n")
        second = log.highlighted_line
        await pilot.press("N")
        assert log.highlighted_line == first
        if hits > 1:
            assert second != first
        await pilot.press("y")
        assert app.clipboard == log.lines[first]
        await pilot.press("f")
        assert screen.following and "following" in screen_text(app)


async def test_search_with_no_match_says_so(logs_sim: SimServer, tmp_path: Path) -> None:
    dep, build_id = await deployment_with_build(logs_sim)
    app = host(logs_sim, tmp_path, dep, build_id)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await logs_screen(pilot)
        await pilot.press("slash", *"zzqqxx", "enter")
        await pilot.pause()
        assert screen.log_view.highlighted_line is None
        assert any("Not found: zzqqxx" in m for m in app.messages)
        await pilot.press("n")
        assert any("Not found" in m for m in app.messages)


async def test_deployment_log_and_switching_to_the_build(logs_sim: SimServer, tmp_path: Path) -> None:
    dep, build_id = await deployment_with_build(logs_sim)
    dep = dep.model_copy(update={"current_build_id": build_id})
    app = host(logs_sim, tmp_path, dep, None)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await eventually(lambda: isinstance(app.screen, LogsScreen) and app.screen, what="screen")
        assert not screen.showing_build and "deployment" in screen_text(app)
        await pilot.press("b")
        assert screen.showing_build
        await logs_screen(pilot)
        assert f"build {build_id}" in screen_text(app)


def all_finished(workers: list[Worker[Any]]) -> bool:
    return all(w.is_finished for w in workers)


async def test_closing_the_logs_while_lines_arrive_fails_no_background_task(
    logs_sim: SimServer, tmp_path: Path
) -> None:
    """The tail writes lines and its status after every line; closing the screen mid-stream must not end in
    "No nodes match '#logs-status'" (a failed worker exits the app with its error)."""
    dep, build_id = await deployment_with_build(logs_sim)
    app = host(logs_sim, tmp_path, dep, None)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(8):
            screen = await logs_screen(pilot, min_lines=1)
            tails = list(screen.workers)
            app.pop_screen()
            await eventually(partial(all_finished, tails), timeout=30, what="the tail to end")
            assert app.is_running and app._exception is None
            assert not [w for w in tails if w.state is WorkerState.ERROR], [w.error for w in tails]
            await app.push_screen(LogsScreen(app.reads, dep, None))  # type: ignore[arg-type]
        await logs_screen(pilot, min_lines=1)
    assert app._exception is None

"""Miosa in the console: S stops a deployment only after its name is typed (it takes the site off the air),
and the logs screen switches to the runtime instances' logs (i) and back (b)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Static

from shipdeck.tui.screens.logs import LogsScreen
from shipdeck.tui.screens.screen_kit import TextPrompt
from tests.simproc import SimServer
from tests.tui.console_host import (
    SimHttp,
    console_app,
    console_options,
    console_sim,
    main_screen,
    notifications,
    poll_server,
    settle_actions,
    wait_for,
    wait_loaded,
)

NAME = "smile-dental-landing"


async def test_stop_needs_the_name_typed_then_takes_it_off_the_air(tmp_path: Path) -> None:
    with console_sim(tmp_path) as sim:
        http = SimHttp(sim)
        target = http.deployment(NAME)
        app = console_app(console_options(sim, tmp_path))
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await wait_loaded(pilot, app)
            assert main_screen(app).table.move_to(target["id"])
            await pilot.press("S")
            await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt))
            prompt = app.screen
            assert isinstance(prompt, TextPrompt)
            prompt.query_one(Input).value = NAME.upper()
            await pilot.press("enter")
            # A wrong name is refused in the prompt (it says why and stays open), and nothing is sent.
            await wait_for(pilot, lambda: str(prompt.query_one("#prompt-error", Static).render()) != "")
            assert isinstance(app.screen, TextPrompt)
            assert not [m for m in http.mutations() if m["path"].endswith("/stop")]
            prompt.query_one(Input).value = NAME
            await pilot.press("enter")
            await settle_actions(pilot, app)
            await poll_server(lambda: http.deployment(NAME)["state"] == "stopped")
            await wait_for(pilot, lambda: any("(off the air)" in m for m in notifications(app)))
            assert len([m for m in http.mutations() if m["path"].endswith("/stop")]) == 1


async def test_logs_switch_to_runtime_instances_and_back(sim: SimServer, tmp_path: Path) -> None:
    target = SimHttp(sim).deployment(NAME)
    app = console_app(console_options(sim, tmp_path))
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await wait_loaded(pilot, app)
        assert main_screen(app).table.move_to(target["id"])
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen))
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        await pilot.press("i")
        await wait_for(pilot, lambda: screen.runtime_instance is not None and screen.lines_received >= 5)
        first = screen.runtime_instance
        assert screen.source_label == f"runtime {first}"
        await wait_for(pilot, lambda: any(" GET /" in line for line in screen.log_view.lines))
        await pilot.press("i")
        await wait_for(pilot, lambda: screen.runtime_instance not in (None, first))
        await pilot.press("b")
        await wait_for(pilot, lambda: screen.runtime_instance is None and screen.source_label != "")
        assert not screen.source_label.startswith("runtime")

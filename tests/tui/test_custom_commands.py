"""The config's [commands.NAME] in the console: key, help, palette, environment, confirm, read-only."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from textual.command import CommandInput, CommandList, CommandPalette
from textual.widgets import Log

from shipdeck.config.custom_commands import CustomCommand
from shipdeck.tui.screens.command_output import CommandOutputScreen
from shipdeck.tui.screens.dialogs import ConfirmDialog
from shipdeck.tui.screens.help import HelpScreen
from tests.simproc import SimServer
from tests.tui.console_host import (
    console_app,
    console_options,
    main_screen,
    wait_for,
    wait_for_notification,
    wait_for_screen,
    wait_loaded,
)

DUMP_ENV = (
    "import json, os, sys\n"
    "env = {k: v for k, v in os.environ.items() if k.startswith('SHIPDECK_')}\n"
    "open(sys.argv[1], 'w').write(json.dumps(env))\n"
    "print('dumped', len(env), 'variables')\n"
)


def dump_command(out: Path, *, confirm: bool = False, mutates: bool = False) -> CustomCommand:
    return CustomCommand(
        name="dump",
        key="B",
        title="Dump the environment",
        run=(sys.executable, "-c", DUMP_ENV, str(out)),
        confirm=confirm,
        mutates=mutates,
    )


async def test_a_custom_command_runs_with_the_selected_rows_fields_and_shows_its_output(
    sim: SimServer, tmp_path: Path
) -> None:
    out = tmp_path / "env.json"
    options = replace(console_options(sim, tmp_path), commands=(dump_command(out),))
    app = console_app(options)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        table = await wait_loaded(pilot, app)
        await pilot.press("down")
        selected = table.highlighted
        assert selected is not None
        await pilot.press("B")
        pane = await wait_for_screen(pilot, app, CommandOutputScreen)
        await wait_for(pilot, lambda: pane.finished, what="the command to end")
        assert pane.run.exit_code == 0
        assert "dumped" in "\n".join(pane.query_one(Log).lines)
        env = json.loads(out.read_text())
        assert env["SHIPDECK_DEPLOYMENT_ID"] == selected.id
        assert env["SHIPDECK_DEPLOYMENT_NAME"] == selected.name
        assert env["SHIPDECK_PROFILE"] == "demo"
        assert env["SHIPDECK_PROVIDER"] == "miosa"
        assert env["SHIPDECK_ENVIRONMENT"] == "production"
        assert env.get("SHIPDECK_URL") == selected.url
        if selected.active_version_number is not None:
            assert env["SHIPDECK_VERSION"] == f"v{selected.active_version_number}"
        assert not any("msk_" in value for value in env.values())  # never the token
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is main_screen(app))
        # Listed in help, with its id, and in the palette.
        await pilot.press("question_mark")
        help_screen = await wait_for_screen(pilot, app, HelpScreen)
        rows = {binding_id: (keys, text) for keys, text, binding_id in help_screen.rows}
        assert rows["command-dump"] == ("B", "Dump the environment")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is main_screen(app))
        out.unlink()
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        app.screen.query_one(CommandInput).value = "dump the env"
        commands = app.screen.query_one(CommandList)
        await wait_for(pilot, lambda: commands.option_count > 0, what="palette hits")
        assert "Dump the environment" in str(commands.get_option_at_index(0).prompt)
        await pilot.press("enter")
        pane = await wait_for_screen(pilot, app, CommandOutputScreen)
        await wait_for(pilot, lambda: pane.finished, what="the command to end")
        assert json.loads(out.read_text())["SHIPDECK_DEPLOYMENT_ID"] == selected.id


async def test_confirm_asks_first_and_cancel_runs_nothing(sim: SimServer, tmp_path: Path) -> None:
    out = tmp_path / "env.json"
    options = replace(console_options(sim, tmp_path), commands=(dump_command(out, confirm=True),))
    app = console_app(options)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot, app)
        await pilot.press("B")
        await wait_for_screen(pilot, app, ConfirmDialog)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is main_screen(app))
        assert not out.exists()
        await pilot.press("B")
        await wait_for_screen(pilot, app, ConfirmDialog)
        await pilot.press("y")
        pane = await wait_for_screen(pilot, app, CommandOutputScreen)
        await wait_for(pilot, lambda: pane.finished, what="the command to end")
        assert out.exists()


async def test_a_mutating_command_is_refused_in_a_read_only_profile(sim: SimServer, tmp_path: Path) -> None:
    out = tmp_path / "env.json"
    options = replace(
        console_options(sim, tmp_path, read_only=True), commands=(dump_command(out, mutates=True),)
    )
    app = console_app(options)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await wait_loaded(pilot, app)
        await pilot.press("B")
        await wait_for_notification(pilot, app, "read-only")
        assert app.screen is main_screen(app)
        assert not out.exists()


async def test_a_command_on_a_taken_key_is_left_out_with_a_warning(sim: SimServer, tmp_path: Path) -> None:
    out = tmp_path / "env.json"
    clashing = replace(dump_command(out), key="r")
    options = replace(console_options(sim, tmp_path), commands=(clashing,))
    app = console_app(options)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await wait_loaded(pilot, app)
        message = await wait_for_notification(pilot, app, "[commands.dump]")
        assert "rollback" in message and "'r'" in message
        await pilot.press("r")  # still rolls back
        await wait_for_screen(pilot, app, ConfirmDialog)
        assert not out.exists()


async def test_a_missing_program_says_so_in_the_pane(sim: SimServer, tmp_path: Path) -> None:
    missing = CustomCommand(name="nope", key="B", title="Nope", run=("shipdeck-no-such-program",))
    options = replace(console_options(sim, tmp_path), commands=(missing,))
    app = console_app(options)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot, app)
        await pilot.press("B")
        pane = await wait_for_screen(pilot, app, CommandOutputScreen)
        await wait_for(pilot, lambda: pane.finished, what="the start to fail")
        assert pane.run.problem is not None and "no such program" in pane.run.problem
        assert "no such program" in str(pane.query_one("#command-status").render())

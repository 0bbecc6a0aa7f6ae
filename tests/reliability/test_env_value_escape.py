"""The env editor's multi-line value prompt says "esc to cancel": Esc cancels it, from inside the text area,
and nothing is staged."""

from __future__ import annotations

from pathlib import Path

from shipdeck.model import Deployment
from shipdeck.tui.screens.env_editor import EnvEditorScreen
from shipdeck.tui.screens.screen_kit import TextPrompt
from tests.simproc import SimServer
from tests.tui.screen_host import ScreenHost, eventually, get_json, profile_for


async def test_esc_cancels_the_multiline_value_prompt(tmp_path: Path, sim: SimServer) -> None:
    listing = await get_json(sim, "miosa", "/deployments")
    raw = listing["data"][0]
    dep = Deployment(id=raw["id"], provider="miosa", name=raw["name"])
    profile = profile_for(sim, "miosa")
    app = ScreenHost(profile, tmp_path / "audit.jsonl", lambda a, r: EnvEditorScreen(a, r, dep, profile))
    async with app.run_test(size=(120, 40)) as pilot:

        async def screen_is(kind: type) -> object | None:
            await pilot.pause()
            return app.screen if isinstance(app.screen, kind) else None

        editor = await eventually(lambda: screen_is(EnvEditorScreen), what="env editor")
        assert isinstance(editor, EnvEditorScreen)
        await pilot.press("a")
        await eventually(lambda: screen_is(TextPrompt), what="name prompt")
        for key in "NEW_KEY":
            await pilot.press(key)
        await pilot.press("enter")
        single = await eventually(lambda: screen_is(TextPrompt), what="value prompt")
        await pilot.press("ctrl+n")  # one line by default: ask for the multi-line prompt
        prompt = await eventually(
            lambda: (s := app.screen) is not single and isinstance(s, TextPrompt) and s._multiline and s,
            what="the multi-line value prompt",
        )
        assert isinstance(prompt, TextPrompt) and prompt._multiline
        await pilot.press("x", "enter", "y")
        await pilot.press("escape")
        await eventually(lambda: screen_is(EnvEditorScreen), what="the value prompt cancelled by esc")
        assert "NEW_KEY" not in editor.staged

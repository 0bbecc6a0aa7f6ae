"""Saving the logs screen to a file: a path prompt, a new 0600 file, never an overwrite, errors told."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Input

from shipdeck.tui.screens.logs import LogsScreen, save_path_problem
from shipdeck.tui.screens.screen_kit import TextPrompt
from tests.simproc import SimServer
from tests.tui.screen_host import eventually, frozen_sim
from tests.tui.test_logs_screen import deployment_with_build, host, logs_screen


@pytest.fixture(scope="module")
def save_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    with frozen_sim(tmp_path_factory.mktemp("logs-save-sim"), speed=50.0) as server:
        yield server


def test_save_path_problem_refuses_existing_files_and_missing_folders(tmp_path: Path) -> None:
    existing = tmp_path / "a.log"
    existing.write_text("keep me")
    assert "exists" in (save_path_problem(str(existing)) or "")
    assert "No such folder" in (save_path_problem(str(tmp_path / "nope" / "b.log")) or "")
    assert save_path_problem("  ") == "Type a file name."
    assert save_path_problem(str(tmp_path / "new.log")) is None


async def test_save_writes_a_new_private_file_and_never_overwrites(
    save_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    dep, build_id = await deployment_with_build(save_sim)
    app = host(save_sim, tmp_path, dep, build_id)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await logs_screen(pilot)

        def save_prompt() -> TextPrompt | None:
            return app.screen if isinstance(app.screen, TextPrompt) else None

        await pilot.press("s")
        prompt = await eventually(
            lambda: isinstance(app.screen, TextPrompt) and app.screen, what="save prompt"
        )
        box = prompt.query_one(Input)
        # The default is a new file in the user's working directory, named after the deployment.
        assert Path(box.value).parent == tmp_path and dep.name in Path(box.value).name
        target = tmp_path / "saved.log"
        box.value = str(target)
        await pilot.press("enter")
        await eventually(target.exists, what="the saved file")
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        saved = target.read_text(encoding="utf-8").splitlines()
        assert saved[: len(screen.log_view.lines)] == screen.log_view.lines[: len(saved)]
        assert saved
        # Saving again to the same name is refused in the prompt: the file keeps its content.
        await pilot.press("s")
        prompt = await eventually(
            lambda: isinstance(app.screen, TextPrompt) and app.screen, what="save prompt"
        )
        prompt.query_one(Input).value = str(target)
        await pilot.press("enter")
        assert isinstance(app.screen, TextPrompt)
        assert target.read_text(encoding="utf-8").splitlines() == saved
        await pilot.press("escape")
        await eventually(lambda: isinstance(app.screen, LogsScreen), what="back to the logs")
        # A path that cannot be written (its "folder" is a file) is told as an error, not a traceback.
        told: list[tuple[str, str]] = []
        monkeypatch.setattr(
            screen, "notify", lambda msg, **kw: told.append((str(msg), kw.get("severity", "")))
        )
        screen.save_to(target / "x.log")
        assert told and told[-1][1] == "error" and "Not saved" in told[-1][0]
        screen.save_to(target)
        assert "exists" in told[-1][0]
        assert target.read_text(encoding="utf-8").splitlines() == saved

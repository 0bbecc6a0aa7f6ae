"""A screen's read that ends after the screen was closed draws nothing and ends quietly (CI: a reload that
answered while the env editor was being closed queried its pruned table, and the worker's NoMatches ended
the console); the same NoMatches on an open screen is still an error."""

from __future__ import annotations

import asyncio

import pytest
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import WorkerFailed

from shipdeck.tui.screens.screen_kit import run_read, screen_closed


class Reading(Screen[None]):
    def __init__(self, answered: asyncio.Event) -> None:
        super().__init__()
        self.answered = answered
        self.drawn = False

    def compose(self) -> ComposeResult:
        yield Static("", id="shown")

    def on_mount(self) -> None:
        run_read(self, self._load(), group="load")

    async def _load(self) -> None:
        await self.answered.wait()
        self.query_one("#not-there", Static)  # the NoMatches of a pruned widget
        self.drawn = True


class Host(App[None]):
    pass


async def test_a_read_answered_as_its_screen_closes_ends_quietly() -> None:
    answered = asyncio.Event()
    app = Host()
    async with app.run_test() as pilot:
        screen = Reading(answered)
        await app.push_screen(screen)
        app.pop_screen()
        answered.set()  # the answer arrives while the screen is being removed
        await pilot.pause()
        assert screen_closed(screen)
        assert not screen.drawn
    assert app.return_code in (None, 0)


async def test_the_same_error_on_an_open_screen_is_not_hidden() -> None:
    answered = asyncio.Event()
    app = Host()
    with pytest.raises(WorkerFailed):
        async with app.run_test() as pilot:
            screen = Reading(answered)
            await app.push_screen(screen)
            answered.set()
            await pilot.pause()
            await pilot.pause()

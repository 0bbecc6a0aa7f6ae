"""Terminals: the 16-colour theme is picked on a terminal that reports fewer than 256 colours, and a
finished rollback rings the bell / sends a desktop notification when the config asks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from shipdeck.tui.alerts import desktop_sequence, notification_kind
from shipdeck.tui.app import make_app
from shipdeck.tui.screens.dialogs import ConfirmDialog
from shipdeck.tui.themes import SIXTEEN_COLOUR_THEME, has_fewer_than_256_colours
from tests.simproc import SimServer
from tests.tui.console_host import (
    APP_NOW,
    confirm,
    console_app,
    console_options,
    console_sim,
    settle_actions,
    wait_for,
    wait_for_notification,
    wait_for_screen,
    wait_loaded,
)


def test_colour_support_is_read_from_term_and_colorterm() -> None:
    assert has_fewer_than_256_colours({"TERM": "xterm"})
    assert has_fewer_than_256_colours({"TERM": "screen"})
    assert not has_fewer_than_256_colours({"TERM": "xterm-256color"})
    assert not has_fewer_than_256_colours({"TERM": "xterm", "COLORTERM": "truecolor"})
    assert not has_fewer_than_256_colours({})  # no TERM says nothing: the default theme stays
    assert not has_fewer_than_256_colours({"TERM": "dumb"})


async def test_a_sixteen_colour_terminal_gets_the_ansi_theme(sim: SimServer, tmp_path: Path) -> None:
    options = console_options(sim, tmp_path)
    app = make_app(options, clock=lambda: APP_NOW, terminal_env={"TERM": "xterm"})
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot, app)
        assert app.theme == SIXTEEN_COLOUR_THEME
        assert app.current_theme.ansi
    app = make_app(options, clock=lambda: APP_NOW, terminal_env={"TERM": "xterm-256color"})
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot, app)
        assert app.theme == "shipdeck-dark"
    # A theme the config names wins over the guess.
    chosen = replace(options, theme="shipdeck-light")
    app = make_app(chosen, clock=lambda: APP_NOW, terminal_env={"TERM": "xterm"})
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot, app)
        assert app.theme == "shipdeck-light"


def test_desktop_notifications_only_where_the_terminal_has_them() -> None:
    assert notification_kind({"TERM_PROGRAM": "WezTerm"}) == "osc9"
    assert notification_kind({"TERM": "foot"}) == "osc777"
    assert notification_kind({"TERM": "xterm"}) is None
    assert (
        desktop_sequence("done", "web;\x1b[31m", {"TERM_PROGRAM": "iTerm.app"})
        == "\x1b]9;done: web, [31m\x07"
    )
    assert desktop_sequence("done", "a;b", {"VTE_VERSION": "7000"}) == "\x1b]777;notify;done;a,b\x07"


async def test_a_finished_rollback_rings_and_notifies(tmp_path: Path) -> None:
    with console_sim(tmp_path) as sim:
        options = replace(console_options(sim, tmp_path, environment="staging"), alert="desktop")
        app = make_app(options, clock=lambda: APP_NOW, terminal_env={"TERM_PROGRAM": "WezTerm"})
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_loaded(pilot, app)
            await pilot.press("r")
            await wait_for_screen(pilot, app, ConfirmDialog)
            await confirm(pilot, app)
            await settle_actions(pilot, app)
            await wait_for(pilot, lambda: bool(app.alerts_sent), what="the alert")
            assert app.alerts_sent[-1].startswith("\x1b]9;rollback done: ")
        # The demo's default (and ConsoleOptions'): off.
        app = console_app(console_options(sim, tmp_path, environment="staging"))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_loaded(pilot, app)
            await pilot.press("r")
            await wait_for_screen(pilot, app, ConfirmDialog)
            await confirm(pilot, app)
            await settle_actions(pilot, app)
            assert app.alerts_sent == []


async def test_a_theme_textual_refuses_is_skipped_at_start_and_a_switch_to_one_does_not_kill_the_console(
    sim: SimServer, tmp_path: Path
) -> None:
    from textual.theme import Theme

    from shipdeck.config.themes import parse_theme

    # A theme file Textual's CSS parser refuses (a non-colour variable that is no colour): skipped and
    # said at start, not "CSS parsing failed" and exit 1.
    bad = parse_theme({"name": "bad-bar", "primary": "#123456", "variables": {"scrollbar": "notacolor"}})
    options = replace(console_options(sim, tmp_path), theme="bad-bar")
    options = replace(options, theme_specs=[*options.theme_specs, bad])
    app = console_app(options)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot, app)
        assert "bad-bar" not in app.available_themes and app.theme == "shipdeck-dark"
        await wait_for_notification(pilot, app, "variables.scrollbar 'notacolor'")
        # The net under that check: a theme that got past it, picked as the palette does, is dropped and
        # the theme before it comes back; the console goes on.
        app.register_theme(Theme("slipped", primary="#123456", variables={"scrollbar": "notacolor"}))
        app.theme = "slipped"
        await wait_for(pilot, lambda: app.theme == "shipdeck-dark" and "slipped" not in app.available_themes)
        await wait_for_notification(pilot, app, "theme 'slipped': Textual cannot use its CSS variables")
        assert app.is_running

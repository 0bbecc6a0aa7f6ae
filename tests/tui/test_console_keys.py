"""Keys, keymap, help, palette, filter, themes, the Tasks key and capabilities, against a real sim."""

from __future__ import annotations

from pathlib import Path

from textual.command import CommandInput, CommandList, CommandPalette
from textual.widgets import Input

from shipdeck.config.console_options import ConsoleOptions
from shipdeck.config.profile import Profile, Secret
from shipdeck.model import Capability
from shipdeck.tui.screens.dialogs import ConfirmDialog
from shipdeck.tui.screens.domains import DomainsScreen
from shipdeck.tui.screens.help import HelpScreen
from shipdeck.tui.screens.tasks import TasksScreen
from tests.simproc import SimServer
from tests.tui.console_host import (
    console_app,
    console_options,
    main_screen,
    notifications,
    screen_as,
    send_burst,
    wait_for,
    wait_for_notification,
    wait_for_screen,
    wait_loaded,
)


async def test_keymap_remaps_by_binding_id_help_shows_it_and_unknown_ids_are_reported(
    sim: SimServer, tmp_path: Path
) -> None:
    options = console_options(sim, tmp_path, keymap={"rollback": "b", "no-such-action": "x"})
    app = console_app(options)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await wait_loaded(pilot, app)
        assert any("'no-such-action'" in m for m in notifications(app))
        # 'r' no longer rolls back, 'b' does: keys are handled in order, so once b's dialog is up, r has
        # been handled too, and had it opened one there would be two.
        await pilot.press("r", "b")
        await wait_for_screen(pilot, app, ConfirmDialog)
        assert sum(isinstance(screen, ConfirmDialog) for screen in app.screen_stack) == 1
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmDialog))
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        rows = {binding_id: keys for keys, _, binding_id in help_screen.rows}
        assert rows["rollback"] == "b"
        for binding_id in (
            "filter",
            "promote",
            "publish",
            "redeploy",
            "domains",
            "env",
            "logs",
            "quit",
            "help",
        ):
            assert binding_id in rows


async def test_help_scrolls_with_the_tables_keys_at_80x24(sim: SimServer, tmp_path: Path) -> None:
    """At 80x24 help is longer than the screen; G and g did nothing there (only arrows and pages did)."""
    from textual.containers import VerticalScroll

    app = console_app(console_options(sim, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot, app)
        await pilot.press("question_mark")
        help_screen = await wait_for_screen(pilot, app, HelpScreen)
        scroll = help_screen.query_one(VerticalScroll)
        await wait_for(pilot, lambda: scroll.max_scroll_y > 1, what="help longer than the screen")
        await pilot.press("G")
        await wait_for(pilot, lambda: scroll.scroll_y == scroll.max_scroll_y, what="G: the end")
        await pilot.press("k")
        await wait_for(pilot, lambda: scroll.scroll_y == scroll.max_scroll_y - 1, what="k: a line up")
        await pilot.press("g")
        await wait_for(pilot, lambda: scroll.scroll_y == 0, what="g: the top")
        await pilot.press("j")
        await wait_for(pilot, lambda: scroll.scroll_y == 1, what="j: a line down")


async def test_filter_narrows_the_list_and_escape_clears_it(sim: SimServer, tmp_path: Path) -> None:
    app = console_app(console_options(sim, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        table = await wait_loaded(pilot, app)
        total = table.row_count
        await pilot.press("slash", *"dental")
        assert [d.name for d in table.visible_rows] == ["smile-dental-landing"]
        await pilot.press("enter")  # keep the filter, back to the list
        assert table.has_focus and table.row_count == 1
        assert table.highlighted is not None and table.highlighted.name == "smile-dental-landing"
        await pilot.press("escape")
        assert table.row_count == total


async def test_the_footer_is_refreshed_only_when_a_keys_greying_changes(
    sim: SimServer, tmp_path: Path
) -> None:
    """Moving between rows that can do the same leaves the footer alone (it recomposed every key on every
    row); a row that cannot (none selected) greys the keys that need one, and they come back."""
    app = console_app(console_options(sim, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        table = await wait_loaded(pilot, app)
        main = main_screen(app)
        pane = main.detail
        refreshed: list[object] = []
        seen = [table.highlighted]
        for step in range(4):
            await pilot.press("down")
            await wait_for(
                pilot,
                lambda: (shown := pane.deployment) is table.highlighted and shown not in seen,
                what="the next row in the detail pane",
            )
            seen.append(table.highlighted)
            if step == 0:  # from here on: rows that can do the same
                main.bindings_updated_signal.subscribe(main, refreshed.append, immediate=True)
        assert refreshed == []
        assert main.active_bindings["r"].enabled
        table.set_filter("no-such-deployment")
        # The footer's refresh follows the detail pane's change in a later callback (a busy machine shows it).
        await wait_for(
            pilot, lambda: pane.deployment is None and bool(refreshed), what="no row selected, keys greyed"
        )
        assert not main.active_bindings["r"].enabled
        count = len(refreshed)
        table.set_filter("")
        await wait_for(
            pilot,
            lambda: pane.deployment is not None and len(refreshed) > count,
            what="a row again, keys back",
        )
        assert main.active_bindings["r"].enabled


async def test_keys_typed_right_after_slash_go_to_the_filter(sim: SimServer, tmp_path: Path) -> None:
    """Over SSH keys arrive in bursts: '/smile' queued at once must filter, not open the logs ('l')."""
    app = console_app(console_options(sim, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        table = await wait_loaded(pilot, app)
        send_burst(app, [("slash" if c == "/" else c, c) for c in "/smile/"])
        await wait_for(pilot, lambda: table.screen.query_one("#filter", Input).value == "smile/")
        assert app.screen is table.screen, f"a key reached the list instead: {app.screen!r}"
        assert table.screen.query_one("#filter", Input).value == "smile/"  # '/' in the filter is text
        await pilot.press("backspace")
        assert [d.name for d in table.visible_rows] == ["smile-dental-landing"]


async def test_palette_goes_to_a_deployment(sim: SimServer, tmp_path: Path) -> None:
    app = console_app(console_options(sim, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        table = await wait_loaded(pilot, app)
        await pilot.press("ctrl+p")
        palette = await wait_for_screen(pilot, app, CommandPalette)
        await wait_for(pilot, lambda: palette.query_one(CommandInput).has_focus)
        await pilot.press(*"go to smile-dental")

        def offered() -> bool:
            options = palette.query_one(CommandList).options
            return any("smile-dental-landing" in str(option.prompt) for option in options)

        await wait_for(pilot, offered, what="the palette offering smile-dental-landing")
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: table.highlighted is not None and table.highlighted.name == "smile-dental-landing"
        )


async def test_palette_typed_in_one_burst_runs_what_was_typed_not_the_first_command(
    sim: SimServer, tmp_path: Path
) -> None:
    """ctrl+p, 'domains', enter in one burst (laggy SSH, a fast typist): enter came while the palette still
    listed every command, the search for 'domains' unfinished, and Textual's palette took the highlighted
    first one: a rollback dialog (in staging one more enter would have confirmed it)."""
    app = console_app(console_options(sim, tmp_path, environment="staging"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot, app)
        send_burst(app, [("ctrl+p", "\x10"), *[(c, c) for c in "domains"], ("enter", "\r")])
        await wait_for(
            pilot, lambda: isinstance(app.screen, (ConfirmDialog, DomainsScreen)), what="what enter ran"
        )
        assert isinstance(app.screen, DomainsScreen), f"enter ran the palette's first command: {app.screen!r}"
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is main_screen(app))
        # With nothing typed, no command is picked for the user: enter highlights the first, runs nothing.
        await pilot.press("ctrl+p")
        palette = await wait_for_screen(pilot, app, CommandPalette)
        await wait_for(pilot, lambda: palette.query_one(CommandList).option_count > 0, what="the commands")
        assert palette.query_one(CommandList).highlighted is None
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: palette.query_one(CommandList).highlighted == 0, what="the first highlighted"
        )
        assert screen_as(app, CommandPalette) is palette
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is main_screen(app))
        # Escape in the same burst as ctrl+p closes it.
        send_burst(app, [("ctrl+p", "\x10"), ("escape", "\x1b")])
        await wait_for(pilot, lambda: app.screen is main_screen(app), what="the palette closed")


async def test_themes_are_registered_and_an_unknown_one_falls_back_with_a_notice(
    sim: SimServer, tmp_path: Path
) -> None:
    app = console_app(console_options(sim, tmp_path, theme="no-such-theme"))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_loaded(pilot, app)
        assert app.theme == "shipdeck-dark"
        assert any("no-such-theme" in m for m in notifications(app))
        for name in ("shipdeck-light", "shipdeck-high-contrast", "shipdeck-ansi"):
            app.theme = name  # switched live; the badges' variables exist in every theme
            await pilot.pause()
        app.theme = "textual-light"  # a Textual theme: shipdeck's variables come from the defaults
        await pilot.pause()
        assert app.theme == "textual-light"


async def test_tasks_key_opens_tasks_when_the_profile_has_them_and_says_why_not_otherwise(
    sim: SimServer, tmp_path: Path
) -> None:
    app = console_app(console_options(sim, tmp_path))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_loaded(pilot, app)
        await pilot.press("t")
        await wait_for_notification(pilot, app, "has no tasks")
        assert not isinstance(app.screen, TasksScreen)
    app = console_app(console_options(sim, tmp_path, with_tasks=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot, app)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, TasksScreen))


async def test_actions_a_provider_lacks_say_why_and_send_nothing(sim: SimServer, tmp_path: Path) -> None:
    # A Miteos console: its adapter has no rollback to a version list, promote, ... (see capabilities).
    # (p is there: on a Miteos row it opens the deploy form, see test_deploy_form.py.)
    profile = Profile("miteos", "miteos", sim.miteos, Secret("mt_test_demo"), environment="staging")
    app = console_app(ConsoleOptions(profile=profile, audit_path=tmp_path / "audit.jsonl"))
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await wait_for(pilot, lambda: app.main_screen is not None)
        capabilities = app.adapter.capabilities
        lacking = [
            (key, action)
            for key, action in (
                ("r", Capability.ROLLBACK),
                ("P", Capability.PROMOTE),
                ("R", Capability.REDEPLOY),
            )
            if not capabilities.supports(action)
        ]
        assert lacking, "the Miteos adapter was expected to lack at least one of these actions"
        for key, action in lacking:
            await pilot.press(key)
            await wait_for_notification(pilot, app, capabilities.why_not(action))
            assert not isinstance(app.screen, ConfirmDialog)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        described = {binding_id: text for _, text, binding_id in help_screen.rows}
        assert "unavailable" in described[lacking[0][1]]
    assert not (tmp_path / "audit.jsonl").exists()


async def test_back_from_a_screen_opened_from_a_hidden_tab_puts_the_keys_on_the_list(
    sim: SimServer, tmp_path: Path
) -> None:
    """v (the Versions table), ] (another tab: that table hidden), e (Env), esc: the focus went to the
    hidden filter, so the next keys were typed into it unseen and r / d acted on another deployment."""
    from shipdeck.tui.screens.env_editor import EnvEditorScreen

    app = console_app(console_options(sim, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        table = await wait_loaded(pilot, app)
        await pilot.press("j", "j")
        on = table.highlighted
        await pilot.press("v", "right_square_bracket")
        await pilot.pause()
        hidden = app.focused
        assert hidden is not None and hidden.display and hidden.region.area > 0, f"focus left on {hidden!r}"
        await pilot.press("e")
        await wait_for_screen(pilot, app, EnvEditorScreen)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is main_screen(app), what="the main screen again")
        await pilot.pause()
        focused = app.focused
        assert not isinstance(focused, Input), f"the focus went to {focused!r}"
        assert focused is not None and focused.display and focused.region.area > 0, focused
        await pilot.press(*"jj")
        assert main_screen(app).query_one("#filter", Input).value == ""
        assert table.highlighted is not None and table.highlighted != on

"""Snapshots of the console against a frozen `shipdeck sim` (fixed epoch, nearly stopped time, the console's
clock pinned near the epoch): the main screen, every detail tab, the rollback and promote dialogs, help,
the Domains, Logs and Publish screens, the light and high-contrast themes and Mixpeek rows, at 80x24 and
120x40. Regenerate with `pytest tests/tui/test_console_snapshots.py --snapshot-update`, then look."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from shipdeck.api.streams import StreamOptions
from shipdeck.config.console_options import ConsoleOptions
from shipdeck.config.profile import Profile, Secret
from shipdeck.config.themes import load_themes
from shipdeck.live.state import ConnectionState
from shipdeck.model import Deployment
from shipdeck.tui.app import ShipdeckApp, make_app
from shipdeck.tui.screens.dialogs import ConfirmDialog, PublishForm
from shipdeck.tui.screens.domains import DomainsScreen
from shipdeck.tui.screens.help import HelpScreen
from shipdeck.tui.screens.logs import LogsScreen
from tests.conftest import MIXPEEK_TOKEN
from tests.simproc import SimServer
from tests.tui.console_host import (
    APP_NOW,
    TEST_TIMING,
    console_app,
    console_options,
    console_sim,
    header_laid_out,
    health_loaded,
    main_screen,
    screen_as,
    settled,
    steady_cursors,
    wait_for,
    wait_for_notification,
    wait_for_screen,
    wait_loaded,
)

SIZES = [(80, 24), (120, 40)]
RunBefore = Callable[[Pilot[Any]], Awaitable[None]]


@pytest.fixture(scope="module")
def frozen_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    # A large rate limit keeps the header's budget at the same percentage whatever ran before.
    with console_sim(tmp_path_factory.mktemp("snapsim"), "--rate-limit", "1000000", speed=0.001) as server:
        yield server


def numbered(deployment: Deployment) -> bool:
    return deployment.active_version_id is None or deployment.active_version_number is not None


def steady(app: ShipdeckApp, then: RunBefore | None = None) -> RunBefore:
    """Wait until the list, the detail and every version number are loaded; drop start-up toasts."""

    async def run_before(pilot: Pilot[Any]) -> None:
        table = await wait_loaded(pilot, app)
        # Every active version's number is known (a row with no active version has none to learn) ...
        await wait_for(pilot, lambda: all(numbered(d) for d in app.live.deployments.values()))
        # ... and the table got them (the live state publishes once per coalescing interval).
        await wait_for(pilot, lambda: all(numbered(d) for d in table.visible_rows))
        # Every row's error rate (the ERRORS column) and the highlighted row's health are read.
        await wait_for(pilot, lambda: health_loaded(app), what="every row's health")
        table.refresh()  # paint the ERRORS column now rather than at the next tick
        if then is not None:
            await then(pilot)
        steady_cursors(app)  # a dialog's input: its cursor shown, whichever half of the blink it is in
        app.clear_notifications()
        await pilot.pause()
        await wait_for(pilot, lambda: header_laid_out(app), what="the header laid out")

    return run_before


def make(frozen_sim: SimServer, tmp_path: Path, **options: Any) -> ShipdeckApp:
    return console_app(console_options(frozen_sim, tmp_path, **options))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_main_screen(snap_compare: Any, frozen_sim: SimServer, tmp_path: Path, size: tuple[int, int]) -> None:
    app = make(frozen_sim, tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=steady(app))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
@pytest.mark.parametrize("tab", ["pipeline", "domains", "env", "events"])
def test_detail_tabs(
    snap_compare: Any, frozen_sim: SimServer, tmp_path: Path, tab: str, size: tuple[int, int]
) -> None:
    app = make(frozen_sim, tmp_path)

    async def open_tab(pilot: Pilot[Any]) -> None:
        screen = main_screen(app)
        table = screen.table
        target = next(d.id for d in table.visible_rows if d.name == "smile-dental-landing")
        table.move_to(target)
        await wait_for(
            pilot,
            lambda: (
                (detail := app.live.detail) is not None
                and detail.deployment_id == target
                and screen.detail.detail is detail
            ),
        )
        screen.detail.show_tab(f"tab-{tab}")
        await wait_for(pilot, lambda: screen.detail.active_tab == f"tab-{tab}")

    assert snap_compare(app, terminal_size=size, run_before=steady(app, open_tab))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_rollback_dialog_in_production(
    snap_compare: Any, frozen_sim: SimServer, tmp_path: Path, size: tuple[int, int]
) -> None:
    app = make(frozen_sim, tmp_path)

    async def open_dialog(pilot: Pilot[Any]) -> None:
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))

    assert snap_compare(app, terminal_size=size, run_before=steady(app, open_dialog))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_help_lists_every_key(
    snap_compare: Any, frozen_sim: SimServer, tmp_path: Path, size: tuple[int, int]
) -> None:
    app = make(frozen_sim, tmp_path, keymap={"rollback": "b"})

    async def open_help(pilot: Pilot[Any]) -> None:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))

    assert snap_compare(app, terminal_size=size, run_before=steady(app, open_help))


def test_read_only_sandbox_header(snap_compare: Any, frozen_sim: SimServer, tmp_path: Path) -> None:
    app = make(frozen_sim, tmp_path, read_only=True, environment="sandbox")
    assert snap_compare(app, terminal_size=(80, 24), run_before=steady(app))


def test_no_color_and_sixteen_colours(
    snap_compare: Any, frozen_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NO_COLOR with the ANSI theme: PRODUCTION and every state still read as words and symbols."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = make(frozen_sim, tmp_path, theme="shipdeck-ansi")
    assert snap_compare(app, terminal_size=(80, 24), run_before=steady(app))


def screen_is(app: ShipdeckApp, kind: type[Any]) -> RunBefore:
    """Wait until ``kind`` is the active screen and its loads are done."""

    async def run(pilot: Pilot[Any]) -> None:
        await wait_for_screen(pilot, app, kind)
        await settled(pilot, app)

    return run


def pressing(app: ShipdeckApp, keys: tuple[str, ...], kind: type[Any]) -> RunBefore:
    async def run(pilot: Pilot[Any]) -> None:
        main_screen(app).table.focus()
        await pilot.press(*keys)
        await screen_is(app, kind)(pilot)

    return run


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
@pytest.mark.parametrize(
    ("key", "kind"),
    [("d", DomainsScreen), ("l", LogsScreen), ("p", PublishForm)],
    ids=["domains", "logs", "publish-form"],
)
def test_side_screens(
    snap_compare: Any,
    frozen_sim: SimServer,
    tmp_path: Path,
    key: str,
    kind: type[Any],
    size: tuple[int, int],
) -> None:
    app = make(frozen_sim, tmp_path)

    async def open_screen(pilot: Pilot[Any]) -> None:
        await pressing(app, (key,), kind)(pilot)
        if kind is LogsScreen:
            logs = screen_as(app, LogsScreen)
            await wait_for(
                pilot, lambda: logs.stream_state != "streaming", what="the build log read to its end"
            )

    assert snap_compare(app, terminal_size=size, run_before=steady(app, open_screen))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_promote_dialog(
    snap_compare: Any, frozen_sim: SimServer, tmp_path: Path, size: tuple[int, int]
) -> None:
    app = make(frozen_sim, tmp_path)

    async def open_dialog(pilot: Pilot[Any]) -> None:
        table = main_screen(app).table
        deployment = table.highlighted
        detail = app.live.detail
        assert deployment is not None and detail is not None and detail.versions
        # The Versions tab lists newest first; the first ready one that is not active.
        ordered = sorted(detail.versions, key=lambda v: v.number or 0, reverse=True)
        index = next(
            i for i, v in enumerate(ordered) if v.state == "ready" and v.id != deployment.active_version_id
        )
        await pressing(app, ("v", *["down"] * index, "P"), ConfirmDialog)(pilot)

    assert snap_compare(app, terminal_size=size, run_before=steady(app, open_dialog))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
@pytest.mark.parametrize("theme", ["shipdeck-light", "shipdeck-high-contrast"])
def test_themes(
    snap_compare: Any, frozen_sim: SimServer, tmp_path: Path, theme: str, size: tuple[int, int]
) -> None:
    app = make(frozen_sim, tmp_path, theme=theme)
    assert snap_compare(app, terminal_size=size, run_before=steady(app))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
@pytest.mark.parametrize("environment", ["staging", "production"])
def test_mixpeek_rows(
    snap_compare: Any, frozen_sim: SimServer, tmp_path: Path, environment: str, size: tuple[int, int]
) -> None:
    """A Mixpeek console: one row per app and environment, the cursor on a row of ``environment``."""
    profile = Profile("mx", "mixpeek", frozen_sim.mixpeek, Secret(MIXPEEK_TOKEN), environment="staging")
    options = ConsoleOptions(
        profile=profile, theme_specs=load_themes().themes, audit_path=tmp_path / "audit.jsonl"
    )
    app = console_app(options)

    async def select(pilot: Pilot[Any]) -> None:
        table = main_screen(app).table
        row = next(d for d in table.visible_rows if d.id.endswith(f"@{environment}"))
        table.move_to(row.id)
        await wait_for(
            pilot,
            lambda: (
                (detail := app.live.detail) is not None
                and detail.deployment_id == row.id
                and main_screen(app).detail.detail is detail
            ),
        )

    assert snap_compare(app, terminal_size=size, run_before=steady(app, select))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_stale_header(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    """The sandbox stops after the console has loaded: the header says stale (on a fast timing: stale
    after half a second), the rows stay."""
    with console_sim(tmp_path, "--rate-limit", "1000000", speed=0.001) as own_sim:
        fast = replace(
            TEST_TIMING,
            stale_after=0.5,
            stream=StreamOptions(backoff_initial=0.05, backoff_max=0.2),
        )
        app = make_app(console_options(own_sim, tmp_path), clock=lambda: APP_NOW, timing=fast)

        async def go_stale(pilot: Pilot[Any]) -> None:
            await asyncio.to_thread(own_sim.stop)
            await wait_for(pilot, lambda: app.live.connection is ConnectionState.STALE)
            # After an outage longer than stale_after the list is re-read; with the server gone no page
            # arrives, and the header keeps '9 deployments' (not 'loading 9…') with the stale state.
            header = main_screen(app)
            await wait_for(
                pilot,
                lambda: (
                    "stale" in str(header.query_one("#header-connection").render())
                    and "loading" not in str(header.query_one("#header-count").render())
                ),
            )

        assert snap_compare(app, terminal_size=size, run_before=steady(app, go_stale))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_offline_header(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    """Nothing listens at the profile's address: the header says offline and the list says why."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    profile = Profile(
        "gone", "miosa", f"http://127.0.0.1:{port}/api/v1", Secret("msk_x"), environment="staging"
    )
    app = console_app(ConsoleOptions(profile=profile, audit_path=tmp_path / "audit.jsonl"))

    async def offline(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.live.connection is ConnectionState.OFFLINE)
        # The batch that says so has reached the screen (its problem is notified with it).
        await wait_for_notification(pilot, app, "could not connect")
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=offline)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_command_line(
    snap_compare: Any, frozen_sim: SimServer, tmp_path: Path, size: tuple[int, int]
) -> None:
    """':' typed with a partial name: the inline completion shows what tab would take."""
    from shipdeck.tui.screens.command_line import CommandLine

    app = make(frozen_sim, tmp_path)

    async def typed(pilot: Pilot[Any]) -> None:
        line = main_screen(app).query_one(CommandLine)
        line.cursor_blink = False  # the picture must not catch half a blink
        await pilot.press("colon", *"smi")
        await wait_for(pilot, lambda: line._suggestion == "smile-dental-landing", what="the completion")

    assert snap_compare(app, terminal_size=size, run_before=steady(app, typed))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_raw_view(snap_compare: Any, frozen_sim: SimServer, tmp_path: Path, size: tuple[int, int]) -> None:
    """J: the highlighted deployment as the API returned it, with a search match selected."""
    from textual.widgets import TextArea

    from shipdeck.tui.screens.raw_view import RawViewScreen

    app = make(frozen_sim, tmp_path)

    async def raw(pilot: Pilot[Any]) -> None:
        await pilot.press("J")
        screen = await wait_for_screen(pilot, app, RawViewScreen)
        await wait_for(pilot, lambda: screen.masked is not None, what="the raw body")
        screen.query_one(TextArea).cursor_blink = False
        await pilot.press("slash", *"branch", "enter")
        await wait_for(pilot, lambda: screen.query_one(TextArea).selected_text == "branch")
        await settled(pilot, app)

    assert snap_compare(app, terminal_size=size, run_before=steady(app, raw))

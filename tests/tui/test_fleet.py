"""The fleet overview and the profile switcher, against a real `shipdeck sim` serving all three providers:
every profile's rows at once, an action under the row's own profile, switching in place (warm), and one
profile down while the others stay live."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input, Static

from shipdeck.config.console_options import ConsoleOptions
from shipdeck.config.profile import Profile, Secret
from shipdeck.live.session import ChangeSession
from shipdeck.live.state import ChangeBatch
from shipdeck.model import Event
from shipdeck.tui.app import ShipdeckApp
from shipdeck.tui.context import ProfileContext
from shipdeck.tui.screens.deploy_form import DeployForm
from shipdeck.tui.screens.fleet import FleetScreen
from shipdeck.tui.screens.main import MainScreen
from shipdeck.tui.widgets.fleet_table import FleetTable, row_key
from tests.conftest import ADMIN, MITEOS_TOKEN, MIXPEEK_TOKEN
from tests.simproc import SimServer
from tests.tui.console_host import (
    APP_NOW,
    TEST_TIMING,
    SimHttp,
    confirm,
    console_options,
    console_sim,
    notifications,
    screen_as,
    settle_actions,
    wait_for,
    wait_for_screen,
)
from tests.tui.screen_host import frozen_sim, screen_text

SIZES = [(80, 24), (120, 40)]


def fleet_profiles(sim: SimServer, *, mixpeek_url: str | None = None) -> tuple[Profile, ...]:
    return (
        Profile("miosa-production", "miosa", sim.miosa, Secret(ADMIN), environment="sandbox"),
        Profile("miteos-staging", "miteos", sim.miteos, Secret(MITEOS_TOKEN), environment="sandbox"),
        Profile(
            "mixpeek", "mixpeek", mixpeek_url or sim.mixpeek, Secret(MIXPEEK_TOKEN), environment="sandbox"
        ),
    )


def fleet_options(sim: SimServer, tmp_path: Path, **kwargs: Any) -> ConsoleOptions:
    profiles = fleet_profiles(sim, **kwargs)
    base = console_options(sim, tmp_path)
    return replace(base, profile=profiles[0], profiles=profiles, start_fleet=True)


def fleet_app(options: ConsoleOptions) -> ShipdeckApp:
    return ShipdeckApp(options, clock=lambda: APP_NOW)


def fleet_of(app: ShipdeckApp) -> FleetScreen:
    return screen_as(app, FleetScreen)


def rows_by_profile(app: ShipdeckApp) -> dict[str, list[str]]:
    table = fleet_of(app).query_one(FleetTable)
    rows: dict[str, list[str]] = {}
    for key in table.visible_ids:
        deployment = table.row(key)
        assert deployment is not None
        rows.setdefault(table.profile_of(key), []).append(deployment.name.lower())
    return rows


async def fleet_loaded(pilot: Pilot[Any], app: ShipdeckApp) -> None:
    await wait_for_screen(pilot, app, FleetScreen)

    def every_profile_listed() -> bool:
        rows = rows_by_profile(app)
        return all(rows.get(name) for name in app.contexts.profiles)

    await wait_for(pilot, every_profile_listed, what="rows of every profile")


@pytest.fixture
def own_sim(tmp_path: Path) -> Iterator[SimServer]:
    with console_sim(tmp_path) as server:
        yield server


async def test_the_fleet_lists_every_profile_with_its_provider(own_sim: SimServer, tmp_path: Path) -> None:
    app = fleet_app(fleet_options(own_sim, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await fleet_loaded(pilot, app)
        rows = rows_by_profile(app)
        assert "smile-dental-landing" in rows["miosa-production"]
        assert "storefront" in rows["mixpeek"]
        assert rows["miteos-staging"]
        table = fleet_of(app).query_one(FleetTable)
        assert table.providers == {
            "miosa-production": "miosa",
            "miteos-staging": "miteos",
            "mixpeek": "mixpeek",
        }
        # Failed first: no healthy row above a failed one.
        healths = [d.health.value for d in table.visible_rows]
        if "failed" in healths:
            assert healths.index("failed") == 0
        connections = fleet_of(app).connections_line()
        for name in app.contexts.profiles:
            assert name in connections


async def test_the_fleets_header_says_which_profiles_are_production(
    own_sim: SimServer, tmp_path: Path
) -> None:
    """The PRODUCTION badge showed only inside a profile's dialogs: the overview did not say which of its
    profiles changes production."""
    options = fleet_options(own_sim, tmp_path)
    first, *rest = options.profiles
    production = replace(first, environment="production")
    app = fleet_app(replace(options, profile=production, profiles=(production, *rest)))
    async with app.run_test(size=(120, 40)) as pilot:
        await fleet_loaded(pilot, app)
        line = fleet_of(app).connections_line()
        assert "miosa-production (production) ●" in line, line
        assert "miteos-staging (production)" not in line and "mixpeek (production)" not in line


async def test_the_fleets_header_names_a_profile_that_could_not_be_opened(
    own_sim: SimServer, tmp_path: Path
) -> None:
    """A profile without its token is left out of the fleet (said once at start): the header still names
    it, so that its deployments missing from the overview are not taken for none."""
    options = replace(fleet_options(own_sim, tmp_path), left_out=(("billing-prod", "no token"),))
    app = fleet_app(options)
    async with app.run_test(size=(120, 40)) as pilot:
        await fleet_loaded(pilot, app)
        await wait_for(
            pilot,
            lambda: "billing-prod ✖ no token" in screen_text(app),
            what="the left-out profile in the header",
        )
        assert "billing-prod" not in app.contexts.profiles


async def test_a_rollback_from_the_fleet_runs_under_the_rows_profile_once(
    own_sim: SimServer, tmp_path: Path
) -> None:
    app = fleet_app(fleet_options(own_sim, tmp_path))
    executed: list[str] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await fleet_loaded(pilot, app)
        miosa = app.contexts.get("miosa-production")
        execute = miosa.session.execute

        async def counted(plan: Any, **kwargs: Any) -> Any:
            executed.append(plan.action)
            return await execute(plan, **kwargs)

        miosa.session.execute = counted  # type: ignore[method-assign]
        for other in ("miteos-staging", "mixpeek"):
            assert isinstance(app.contexts.get(other).session, ChangeSession)
        target = next(d for d in miosa.live.deployments.values() if d.name == "smile-dental-landing")
        fleet = fleet_of(app)
        fleet.go_to(row_key("miosa-production", target.id))
        await wait_for(pilot, lambda: fleet.context is miosa and miosa.live.watched == target.id)
        mark = len(SimHttp(own_sim).mutations())
        await pilot.press("r")
        await wait_for(
            pilot, lambda: type(app.screen).__name__ == "ConfirmDialog", what="the rollback dialog"
        )
        # Two profiles can hold the same names: the dialog says which one changes.
        assert app.screen.request.title.startswith("miosa-production · Roll back")  # type: ignore[attr-defined]
        await confirm(pilot, app)
        await settle_actions(pilot, app)
        assert executed == ["rollback"]
        sent = SimHttp(own_sim).mutations()[mark:]
        assert len(sent) == 1 and "rollback" in sent[0]["path"] and target.id in sent[0]["path"]


async def test_a_miteos_deploy_from_the_fleet_selects_the_new_deployment_under_its_profile(
    own_sim: SimServer, tmp_path: Path
) -> None:
    """The deploy form's new deployment was put in the fleet's table under its bare id: the next look-up
    of the highlighted row's profile raised KeyError and the console died, the deploy sent."""
    app = fleet_app(fleet_options(own_sim, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await fleet_loaded(pilot, app)
        miteos = app.contexts.get("miteos-staging")
        before = set(miteos.live.deployments)
        row = next(d for d in miteos.live.deployments.values() if d.state == "live")
        fleet = fleet_of(app)
        fleet.go_to(row_key("miteos-staging", row.id))
        await wait_for(pilot, lambda: fleet.context is miteos and miteos.live.watched == row.id)
        await pilot.press("p")
        form = await wait_for_screen(pilot, app, DeployForm)
        await wait_for(pilot, lambda: form.query_one("#df-workspace", Input).value != "")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, DeployForm))

        def on_the_new_one() -> bool:
            key = fleet.fleet.highlighted_key
            return key is not None and key not in {row_key("miteos-staging", d) for d in before}

        await wait_for(pilot, on_the_new_one, what="the new deployment under the cursor")
        assert fleet.context is miteos
        created = fleet.fleet.highlighted_key
        assert created is not None and created.startswith(row_key("miteos-staging", ""))
        await settle_actions(pilot, app)
        assert app.screen is fleet


async def test_switching_profile_from_the_palette_and_back_is_warm(
    own_sim: SimServer, tmp_path: Path
) -> None:
    app = fleet_app(fleet_options(own_sim, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await fleet_loaded(pilot, app)
        mixpeek = app.contexts.get("mixpeek")
        live, worker = mixpeek.live, mixpeek.worker
        await pilot.press("ctrl+p")
        palette = await wait_for_screen(pilot, app, CommandPalette)
        palette.query_one(Input).value = "profile: mixpeek"

        def offered() -> bool:
            return any("profile: mixpeek" in str(o.prompt) for o in palette.query_one(CommandList).options)

        await wait_for(pilot, offered, what="the palette offering the profile")
        await pilot.press("enter")
        main = await wait_for_screen(pilot, app, MainScreen)
        assert not isinstance(main, FleetScreen) and main.context is mixpeek
        # The same live state, still running: its rows are on screen at once, nothing re-read.
        assert worker is not None and mixpeek.live is live and mixpeek.worker is worker
        assert not worker.is_finished
        assert main.table.total_count == len(live.deployments) > 0
        await pilot.press("F")
        fleet = await wait_for_screen(pilot, app, FleetScreen)
        assert rows_by_profile(app)["mixpeek"]
        assert fleet.query_one(FleetTable).total_count == sum(len(c.live.deployments) for c in fleet.members)
        # The command line switches too: ':ctx NAME' to a profile's own screen, ':fleet' back.
        await pilot.press("colon", *"ctx mixpeek", "enter")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, MainScreen)
                and not isinstance(app.screen, FleetScreen)
                and app.screen.context is mixpeek
            ),
            what="the mixpeek screen after :ctx",
        )
        await pilot.press("colon", *"fleet", "enter")
        await wait_for_screen(pilot, app, FleetScreen)


async def test_switching_from_one_profiles_screen_to_anothers_with_c(
    own_sim: SimServer, tmp_path: Path
) -> None:
    """Opened on one profile (no fleet), c then a second profile failed with DuplicateIds: both main
    screens had the id 'main'. The user stayed on the first profile, the one they meant to leave."""
    options = replace(fleet_options(own_sim, tmp_path), start_fleet=False)
    app = fleet_app(options)
    async with app.run_test(size=(120, 40)) as pilot:
        first = await wait_for_screen(pilot, app, MainScreen)
        assert first.context.name == "miosa-production"
        for name in ("mixpeek", "miosa-production", "miteos-staging"):
            app.action_switch_to(name)
            await wait_for(
                pilot,
                lambda n=name: isinstance(app.screen, MainScreen) and app.screen.context.name == n,  # type: ignore[misc]
                what=f"the screen of {name}",
            )
        failed = [w for w in app.workers if w.group == "switch" and w.error is not None]
        assert not failed, [w.error for w in failed]


async def test_the_profile_switcher_moves_with_the_tables_keys(own_sim: SimServer, tmp_path: Path) -> None:
    """j/k and g/G moved every list of the console but the profile switcher's, where they did nothing."""
    from textual.widgets import OptionList

    from shipdeck.tui.screens.profiles import ProfileSwitcher

    app = fleet_app(replace(fleet_options(own_sim, tmp_path), start_fleet=False))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_screen(pilot, app, MainScreen)
        await pilot.press("c")
        switcher = await wait_for_screen(pilot, app, ProfileSwitcher)
        options = switcher.query_one(OptionList)
        start = options.highlighted
        assert start is not None and start + 1 < options.option_count
        await pilot.press("j")
        await wait_for(pilot, lambda: options.highlighted == start + 1, what="j moved down")
        await pilot.press("G")
        await wait_for(pilot, lambda: options.highlighted == options.option_count - 1, what="G: the last")
        await pilot.press("k")
        await wait_for(pilot, lambda: options.highlighted == options.option_count - 2, what="k moved up")
        await pilot.press("g")
        await wait_for(pilot, lambda: options.highlighted == 0, what="g: the first (the fleet)")
        await pilot.press("enter")
        await wait_for_screen(pilot, app, FleetScreen)


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def test_a_profile_whose_server_is_down_does_not_hold_back_the_others(
    own_sim: SimServer, tmp_path: Path
) -> None:
    app = fleet_app(fleet_options(own_sim, tmp_path, mixpeek_url=_dead_url()))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_screen(pilot, app, FleetScreen)

        def others_listed() -> bool:
            rows = rows_by_profile(app)
            return bool(rows.get("miosa-production") and rows.get("miteos-staging"))

        await wait_for(pilot, others_listed, what="the live profiles' rows")
        fleet = fleet_of(app)
        await wait_for(pilot, lambda: "mixpeek ○ offline" in fleet.connections_line(), what="mixpeek offline")
        line = fleet.connections_line()
        assert "miosa-production ● live" in line and "miteos-staging ● live" in line
        assert "mixpeek" not in rows_by_profile(app)
        # At 80 columns the profile that is down is never the one cut off: shorter words first, then the
        # profiles that are not live ahead of the others (its state was cut to "mixpeek").
        narrow = fleet.connections_line(79)
        assert len(narrow) <= 79 and narrow.startswith("mixpeek"), narrow
        assert "○ offline" in narrow and "miosa-production ● ·" in narrow and " live" not in narrow
        # Narrower still, the live profiles give way to a count of them, never cut off in silence.
        narrower = fleet.connections_line(30)
        assert narrower.startswith("mixpeek ○ offline") and narrower.endswith(" live"), narrower
        assert "+1 live" in narrower or "+2 live" in narrower, narrower


@pytest.fixture(scope="module")
def still_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    with frozen_sim(tmp_path_factory.mktemp("fleet-snapshots")) as server:
        yield server


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_fleet_snapshot(
    snap_compare: Any, still_sim: SimServer, tmp_path: Path, size: tuple[int, int]
) -> None:
    app = fleet_app(fleet_options(still_sim, tmp_path))

    async def loaded(pilot: Pilot[Any]) -> None:
        await fleet_loaded(pilot, app)
        fleet = fleet_of(app)
        await wait_for(pilot, lambda: all(c.current for c in fleet.members), what="every profile live")
        await wait_for(pilot, lambda: all(not c.live.pages_loading for c in fleet.members))
        # Every active version's number is known (Miosa's list names it by id; it is looked up after).
        await wait_for(
            pilot,
            lambda: all(
                d.active_version_id is None or d.active_version_number is not None
                for d in fleet.fleet.visible_rows
            ),
            what="every row's version number",
        )
        # The cursor stays on the row it was on while the other profiles' rows sort in: which profile
        # answered first would decide the row; the snapshot shows the first one.
        fleet.fleet.action_first()
        first = fleet.fleet.visible_rows[0]
        await wait_for(
            pilot,
            lambda: fleet.detail.detail is not None and fleet.detail.detail.deployment_id == first.id,
            what="the first row's detail",
        )
        app.clear_notifications()
        fleet.refresh_header()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=loaded)


async def test_the_fleet_shows_each_rows_error_rate_and_puts_the_hurting_ones_after_the_failed(
    own_sim: SimServer, tmp_path: Path
) -> None:
    """checkout-api (the demo's incident: 8-15% errors) is read by its own profile's health monitor, says
    so in the ERRORS column in symbol and word, and moves up to just after the failed rows."""
    app = ShipdeckApp(fleet_options(own_sim, tmp_path), clock=lambda: APP_NOW, timing=TEST_TIMING)
    async with app.run_test(size=(120, 40)) as pilot:
        await fleet_loaded(pilot, app)
        fleet = fleet_of(app)
        table = fleet.query_one(FleetTable)
        key = next(
            k for k in table.visible_ids if (d := table.row(k)) is not None and d.name == "checkout-api"
        )

        def hurting_listed_after_the_failed() -> bool:
            read = fleet.health_of_row(key)
            if read is None or read[0] is None or read[0] < 0.05:
                return False
            order = table.visible_ids
            failed = [k for k in order if (d := table.row(k)) is not None and d.health.value == "failed"]
            return order.index(key) == len(failed)

        await wait_for(pilot, hurting_listed_after_the_failed, what="checkout-api's error rate, ranked")
        await wait_for(
            pilot, lambda: "⚠ high" in screen_text(app), what="the warning word in the ERRORS column"
        )


async def test_events_about_other_deployments_leave_the_empty_events_hint_alone(
    own_sim: SimServer, tmp_path: Path
) -> None:
    """Every batch of events went through the detail pane, which set its "No events about ..." hint again
    with the same text; Static lays the screen out on every update, and each layout repainted the table's
    scrollbar on the terminal (an idle fleet, 640 bytes every few seconds: bench/idle.py)."""
    app = fleet_app(fleet_options(own_sim, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await fleet_loaded(pilot, app)
        fleet = fleet_of(app)
        hint = fleet.query_one("#events-empty", Static)
        await wait_for(pilot, lambda: "No events about" in str(hint.content), what="the empty Events hint")
        updates: list[str] = []
        update = hint.update

        def counted(content: Any = "", *, layout: bool = True) -> None:
            updates.append(str(content))
            update(content, layout=layout)

        hint.update = counted  # type: ignore[method-assign,assignment]
        about = {"deployment_id": "dep_none"}
        elsewhere = Event(id="evt_elsewhere", type="deployment.updated", provider="miosa", data=about)
        for _ in range(3):
            fleet.detail.add_events([elsewhere])
            await pilot.pause()
        assert updates == [], f"the hint was set again with the same text: {updates!r}"
        assert hint.display


async def test_an_idle_fleet_updates_its_header_only_when_the_text_changes(
    own_sim: SimServer, tmp_path: Path
) -> None:
    """The fleet's once-a-second tick set both header lines again with the same text, and Static repaints
    on every update: an idle fleet wrote 148 KiB a minute to the terminal (bench/idle.py)."""
    app = fleet_app(fleet_options(own_sim, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await fleet_loaded(pilot, app)
        fleet = fleet_of(app)
        updates: list[tuple[str, str]] = []
        for selector in ("#fleet-header", "#fleet-header-connections"):
            widget = fleet.query_one(selector, Static)
            updates.append((selector, str(widget.content)))
            update = widget.update

            def counted(content: Any = "", *, _selector: str = selector, _update: Any = update) -> None:
                updates.append((_selector, str(content)))
                _update(content)

            widget.update = counted  # type: ignore[method-assign,assignment]
        for _ in range(5):
            fleet.tick()
            await pilot.pause()
        last: dict[str, str] = {}
        for selector, text in updates:
            assert last.get(selector) != text, f"{selector} updated again with the same text {text!r}"
            last[selector] = text


async def test_the_fleets_footer_follows_the_rows_profile_and_is_left_alone_within_one(
    own_sim: SimServer, tmp_path: Path
) -> None:
    """A read-only profile's rows grey the changes; moving between two rows of one profile refreshes no
    binding (the footer recomposed every key on every row), onto another profile's row it does."""
    options = fleet_options(own_sim, tmp_path)
    profiles = tuple(replace(p, read_only=True) if p.name == "mixpeek" else p for p in options.profiles)
    app = fleet_app(replace(options, profile=profiles[0], profiles=profiles))
    async with app.run_test(size=(120, 40)) as pilot:
        await fleet_loaded(pilot, app)
        fleet = fleet_of(app)
        table = fleet.query_one(FleetTable)
        miosa = [k for k in table.visible_ids if table.profile_of(k) == "miosa-production"]
        mixpeek = next(k for k in table.visible_ids if table.profile_of(k) == "mixpeek")

        def shown(key: str) -> bool:
            deployment = fleet.detail.deployment
            return deployment is not None and row_key(fleet.context.name, deployment.id) == key

        async def go(key: str) -> None:
            fleet.go_to(key)
            await wait_for(pilot, lambda: shown(key), what=f"the detail of {key}")

        await go(miosa[0])
        refreshed: list[object] = []
        fleet.bindings_updated_signal.subscribe(fleet, refreshed.append, immediate=True)
        await go(miosa[1])
        await go(miosa[2])
        assert refreshed == []
        assert fleet.active_bindings["r"].enabled
        await go(mixpeek)
        assert refreshed and not fleet.active_bindings["r"].enabled  # read-only: rollback greyed
        await go(miosa[0])
        assert fleet.active_bindings["r"].enabled


async def test_escape_after_a_filter_goes_back_to_the_fleet_row_the_user_was_on(
    own_sim: SimServer, tmp_path: Path
) -> None:
    app = fleet_app(fleet_options(own_sim, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await fleet_loaded(pilot, app)
        fleet = fleet_of(app)
        table = fleet.query_one(FleetTable)
        key = table.visible_ids[5]
        fleet.go_to(key)

        def shown() -> bool:
            deployment = fleet.detail.deployment
            return deployment is not None and row_key(fleet.context.name, deployment.id) == key

        await wait_for(pilot, shown, what="the row's detail")
        await pilot.press("slash", *"no-such-row")
        await wait_for(pilot, lambda: table.row_count == 0, what="nothing matching")
        await pilot.press("escape")
        await wait_for(pilot, lambda: table.filter_text == "", what="the filter cleared")
        assert table.highlighted_key == key


async def test_the_fleet_follows_each_profile_once_and_ticks_once(own_sim: SimServer, tmp_path: Path) -> None:
    """Textual runs the on_mount of every class in the MRO: the fleet's own on_mount and the main
    screen's both ran, so the first profile's batches were applied twice and the header ticked twice a
    second (bench/idle.py's profile: 240 ticks in 120 s)."""
    app = fleet_app(fleet_options(own_sim, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await fleet_loaded(pilot, app)
        fleet = fleet_of(app)
        sent = {context.name: ChangeBatch(connection_changed=True) for context in fleet.members}
        applied: list[str] = []  # the profiles whose batch of ours was applied, once per application
        apply = fleet.apply_batch

        def counted(batch: ChangeBatch, context: ProfileContext) -> None:
            if batch is sent.get(context.name):
                applied.append(context.name)
            apply(batch, context)

        fleet.apply_batch = counted  # type: ignore[method-assign]
        assert len(sent) == 3
        for context in fleet.members:
            context.live.publish(sent[context.name])
        await wait_for(pilot, lambda: len(applied) >= len(sent), what="every batch applied")
        await pilot.pause()
        assert sorted(applied) == sorted(sent)
        ticks = [timer for timer in fleet._timers if timer.name == "header-tick"]
        assert len(ticks) == 1


async def test_a_mixpeek_publish_from_the_fleet_shows_the_new_version_running_in_its_row(
    tmp_path: Path,
) -> None:
    """The fleet's row said '◐ building' with the old version for a minute (the list's next poll) while the
    same screen's Pipeline tab said complete and Versions the new one live, and no toast said it went live."""
    from shipdeck.tui.screens.dialogs import PublishForm

    with console_sim(tmp_path, speed=1.0) as sim:
        timing = replace(TEST_TIMING, poll_interval_min=3600.0, poll_interval_max=3600.0)
        options = fleet_options(sim, tmp_path)
        profiles = tuple(
            replace(p, environment="production") if p.provider == "mixpeek" else p for p in options.profiles
        )
        app = ShipdeckApp(replace(options, profiles=profiles), clock=lambda: APP_NOW, timing=timing)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await fleet_loaded(pilot, app)
            mixpeek = app.contexts.get("mixpeek")
            row = next(
                d
                for d in mixpeek.live.deployments.values()
                if d.id.endswith("@production") and d.name == "Storefront"
            )
            before = row.active_version_number
            fleet = fleet_of(app)
            key = row_key("mixpeek", row.id)
            fleet.go_to(key)
            await wait_for(pilot, lambda: fleet.context is mixpeek and mixpeek.live.watched == row.id)
            await pilot.press("p")
            form = await wait_for_screen(pilot, app, PublishForm)
            form.query_one("#pf-message", Input).value = "hotfix cart"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmDialog")
            await confirm(pilot, app)
            await settle_actions(pilot, app)

            def pipeline_complete() -> bool:
                detail = mixpeek.live.detail
                runs = detail.runs if detail is not None and detail.deployment_id == row.id else None
                return any(run.message == "hotfix cart" and run.status == "complete" for run in runs or [])

            await wait_for(pilot, pipeline_complete, what="the Pipeline tab's run complete")
            table = fleet.query_one(FleetTable)

            def row_running_the_new_version() -> bool:
                shown = table.row(key)
                return (
                    shown is not None
                    and shown.state == "running"
                    and shown.active_version_number not in (None, before)
                )

            await wait_for(pilot, row_running_the_new_version, what="the row running the new version")
            await wait_for(
                pilot,
                lambda: any(
                    m.startswith("Storefront (production): hotfix cart") and m.endswith("is complete")
                    for m in notifications(app)
                ),
                what="the publish's end told",
            )

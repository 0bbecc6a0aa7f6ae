"""The ':' command line, the filter's exits, table navigation, greyed keys and the raw view, against a real
sim."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from textual.widgets import Input, TextArea

from shipdeck.config.console_options import ConsoleOptions
from shipdeck.config.profile import Profile, Secret
from shipdeck.model import Capability, Deployment
from shipdeck.model.masking import MASK, mask_secrets
from shipdeck.tui.screens.command_line import (
    CommandLine,
    Resolved,
    View,
    completions,
    register_view,
    resolve,
)
from shipdeck.tui.screens.dialogs import ConfirmDialog
from shipdeck.tui.screens.help import HelpScreen
from shipdeck.tui.screens.pending import AuditScreen
from shipdeck.tui.screens.raw_view import RawViewScreen
from shipdeck.tui.widgets.versions_table import VersionsTable
from tests.simproc import SimServer
from tests.tui.console_host import (
    console_app,
    console_options,
    main_screen,
    notifications,
    send_burst,
    wait_for,
    wait_for_notification,
    wait_for_screen,
    wait_loaded,
)


def rows(*names: str) -> list[Deployment]:
    return [
        Deployment(id=f"dep_{i}", name=name, state="running", provider="miosa")
        for i, name in enumerate(names)
    ]


COMMANDS = [("rollback", "Roll back the selected deployment"), ("logs", "Logs of the selected deployment")]


def test_resolve_views_deployments_ctx_and_ambiguity() -> None:
    deployments = rows("smile-dental-landing", "status-page", "billing-api", "billing-worker")

    def meaning(text: str) -> Resolved:
        return resolve(text, commands=COMMANDS, deployments=deployments, profiles=["demo"])

    assert meaning("versions").kind == "view"
    assert meaning("audit").target == "app.audit"
    assert meaning("rollback").target == "rollback"
    assert (meaning("smile").kind, meaning("smile").target) == ("deployment", "dep_0")
    assert meaning("dep_1").target == "dep_1"
    assert meaning("billing-api").target == "dep_2"  # exact beats the prefix it shares with billing-worker
    ambiguous = meaning("billing")
    assert (
        ambiguous.kind == "error"
        and "billing-api" in ambiguous.message
        and "billing-worker" in ambiguous.message
    )
    assert meaning("ctx prod").kind == "ctx" and meaning("ctx prod").target == "prod"
    assert "known: demo" in meaning("ctx").message
    assert meaning("q").kind == "quit"
    assert meaning("nothing-like-this").kind == "error"
    assert completions("sta", commands=COMMANDS, deployments=deployments) == ["status-page"]
    assert completions("ver", commands=COMMANDS, deployments=deployments) == ["versions"]
    assert completions("ctx d", commands=COMMANDS, deployments=deployments, profiles=["demo"]) == ["ctx demo"]


def test_the_view_table_takes_new_views() -> None:
    register_view(View("example-view", "app.audit", "a view another screen adds"))
    assert resolve("example-view", commands=[], deployments=[]).target == "app.audit"
    assert "example-view" in completions("example", commands=[], deployments=[])


async def test_command_line_jumps_to_a_deployment_and_opens_views(sim: SimServer, tmp_path: Path) -> None:
    app = console_app(console_options(sim, tmp_path))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        table = await wait_loaded(pilot, app)
        line = main_screen(app).query_one(CommandLine)
        await pilot.press("colon", *"smi")
        assert line.has_focus and line.value == "smi"
        await wait_for(pilot, lambda: line._suggestion == "smile-dental-landing", what="the completion")
        await pilot.press("tab")
        assert line.value == "smile-dental-landing"
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: table.highlighted is not None and table.highlighted.name == "smile-dental-landing"
        )
        assert table.has_focus and not line.has_focus
        await pilot.press("colon", *"audit", "enter")
        await wait_for_screen(pilot, app, AuditScreen)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is main_screen(app))
        # Unknown: the line stays as typed, and says why.
        await pilot.press("colon", *"nosuch", "enter")
        await wait_for_notification(pilot, app, "no deployment, view or command")
        assert line.has_focus and line.value == "nosuch"
        await pilot.press("escape")
        assert table.has_focus and not line.has_class("-visible")
        await pilot.press("colon", *"ctx prod-eu", "enter")
        await wait_for_notification(pilot, app, "No profile 'prod-eu'")


async def test_filter_enter_keeps_text_and_the_key_after_it_acts(sim: SimServer, tmp_path: Path) -> None:
    """'/smile<enter>r' in one burst: the filter takes 'smile', enter leaves it, r opens the rollback."""
    app = console_app(console_options(sim, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        table = await wait_loaded(pilot, app)
        box = main_screen(app).query_one("#filter", Input)
        send_burst(app, [("slash", "/"), *[(c, c) for c in "smile"], ("enter", "\r"), ("r", "r")])
        await wait_for_screen(pilot, app, ConfirmDialog)
        assert box.value == "smile"
        assert [d.name for d in table.visible_rows] == ["smile-dental-landing"]
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is main_screen(app))
        assert box.value == "smile"
        # Down leaves the filter too, keeping its text.
        await pilot.press("slash", "end", "backspace", "down")  # (focus selects the text: end keeps it)
        assert table.has_focus and box.value == "smil" and box.has_class("-visible")


async def test_command_line_typed_in_one_burst_runs_what_was_typed(sim: SimServer, tmp_path: Path) -> None:
    """':smile<enter>' arriving at once: enter (a priority binding) ran before the line had taken the keys
    queued ahead of it, so it ran an empty line and said 'Type a deployment...'."""
    app = console_app(console_options(sim, tmp_path))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        table = await wait_loaded(pilot, app)
        line = main_screen(app).query_one(CommandLine)
        send_burst(app, [("colon", ":"), *[(c, c) for c in "smile"], ("enter", "\r")])
        await wait_for(
            pilot,
            lambda: table.highlighted is not None and table.highlighted.name == "smile-dental-landing",
            what="the jump to smile-dental-landing",
        )
        await wait_for(pilot, lambda: table.has_focus and not line.has_class("-visible"), what="it closed")
        assert line.value == ""
        send_burst(app, [("colon", ":"), *[(c, c) for c in "audit"], ("enter", "\r")])
        await wait_for_screen(pilot, app, AuditScreen)
        assert not [m for m in notifications(app) if "Type a deployment" in m]
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is main_screen(app))
        # The key typed behind enter acts on the row the line went to, not on the one it left.
        await pilot.press("home")
        send_burst(app, [("colon", ":"), *[(c, c) for c in "smile"], ("enter", "\r"), ("r", "r")])
        dialog = await wait_for_screen(pilot, app, ConfirmDialog)
        assert "smile-dental-landing" in dialog.request.title
        assert line.value == ""


async def test_a_slash_typed_in_the_command_line_is_text_and_escape_closes_a_line_left_open(
    sim: SimServer, tmp_path: Path
) -> None:
    """Miteos names hold " / ": '/' in the command line jumped to the filter, which took the rest; and a
    line whose focus had left stayed on screen with its text after escape, looking like a filter."""
    app = console_app(console_options(sim, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        table = await wait_loaded(pilot, app)
        screen = main_screen(app)
        line = screen.query_one(CommandLine)
        box = screen.query_one("#filter", Input)
        await pilot.press("colon", *"ws", "space", "slash", "space", *"ne")
        await wait_for(pilot, lambda: line.value == "ws / ne", what="the whole text in the line")
        assert line.has_focus and not box.has_class("-visible") and box.value == ""
        table.focus()  # the focus leaves the open line (a click on the list)
        await pilot.pause()
        await pilot.press("escape")
        await wait_for(pilot, lambda: not line.has_class("-visible"), what="the line closed")
        assert line.value == "" and table.has_focus


async def test_navigation_keys_move_in_the_versions_table(sim: SimServer, tmp_path: Path) -> None:
    app = console_app(console_options(sim, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot, app)
        versions = main_screen(app).query_one(VersionsTable)
        await pilot.press("v")
        await wait_for(pilot, lambda: versions.has_focus and versions.row_count > 2)
        await pilot.press("G")
        assert versions.cursor == versions.row_count - 1
        await pilot.press("k")
        assert versions.cursor == versions.row_count - 2
        await pilot.press("g")
        assert versions.cursor == 0
        await pilot.press("j")
        assert versions.cursor == 1
        await pilot.press("home")
        assert versions.cursor == 0
        await pilot.press("end")
        assert versions.cursor == versions.row_count - 1


async def test_greyed_keys_explain_and_help_lists_what_works_here(sim: SimServer, tmp_path: Path) -> None:
    # A read-only Miteos console: rollback and promote are not Miteos's; publish is refused read-only.
    profile = Profile(
        "miteos", "miteos", sim.miteos, Secret("mt_test_demo"), environment="staging", read_only=True
    )
    app = console_app(ConsoleOptions(profile=profile, audit_path=tmp_path / "audit.jsonl"))
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await wait_for(pilot, lambda: app.main_screen is not None and app.main_screen.current() is not None)
        screen = main_screen(app)
        enabled = {b.binding.action: b.enabled for b in screen.active_bindings.values()}
        assert enabled["publish"] is False  # read-only
        assert enabled["filter"] is True
        assert not app.adapter.capabilities.supports(Capability.PROMOTE)
        assert enabled["promote"] is False
        await pilot.press("P")
        await wait_for_notification(pilot, app, app.adapter.capabilities.why_not(Capability.PROMOTE))
        assert app.screen is screen
        await pilot.press("question_mark")
        help_screen = await wait_for_screen(pilot, app, HelpScreen)
        ids = {binding_id for _, _, binding_id in help_screen.rows}
        assert "filter" in ids
        # Bindings that only apply inside an input (enter/down leave the filter) are not listed here.
        assert not any("Keep filter" in description for _, description, _ in help_screen.rows)


def test_masking_hides_secret_fields_and_env_values_whatever_their_length() -> None:
    body = {
        "data": {
            "id": "dep_1",
            "api_key": "abc",
            "webhook_secret": "a-much-longer-secret-value",
            "env": [{"key": "DATABASE_URL", "value": "postgres://u:p@h/db"}, {"name": "EMPTY", "value": ""}],
            "note": "token msk_live_123 was used",
            "nested": {"Authorization": "Bearer x"},
        }
    }
    masked = mask_secrets(body, lambda text: text.replace("msk_live_123", "****"))
    data = masked["data"]
    assert data["api_key"] == MASK and data["webhook_secret"] == MASK
    assert data["env"][0]["value"] == MASK and data["env"][0]["key"] == "DATABASE_URL"
    assert data["env"][1]["value"] == ""
    assert data["nested"]["Authorization"] == MASK
    assert data["note"] == "token **** was used"
    assert data["id"] == "dep_1"


def test_an_env_map_in_a_providers_object_is_masked_in_the_raw_view_and_the_clis_json() -> None:
    """Mixpeek's app carries build_config.env_vars (NAME -> value): every value masked, names kept; the
    CLI's rule (names=False) masks those too but leaves other fields (a DNS verification token) alone."""
    body = {
        "build_config": {
            "envVars": {"DATABASE_URL": "postgres://u:p@h/db", "N": 3},
            "verification_token": "t",
        }
    }
    for names in (True, False):
        shown = mask_secrets(body, names=names)["build_config"]
        assert shown["envVars"] == {"DATABASE_URL": MASK, "N": 3}
        assert shown["verification_token"] == (MASK if names else "t")


async def test_raw_view_shows_what_the_api_returned_searches_and_copies(
    sim: SimServer, tmp_path: Path
) -> None:
    app = console_app(console_options(sim, tmp_path))
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        table = await wait_loaded(pilot, app)
        deployment = table.highlighted
        assert deployment is not None
        await pilot.press("J")
        screen = await wait_for_screen(pilot, app, RawViewScreen)
        await wait_for(pilot, lambda: screen.masked is not None, what="the raw body")
        shown = json.loads(screen.query_one(TextArea).text)
        assert shown["data"]["id"] == deployment.id  # the server's envelope, as it sent it
        assert "tenant_id" in shown["data"]  # a field the neutral model does not have
        await pilot.press("slash", *"tenant", "enter")
        area = screen.query_one(TextArea)
        assert area.selected_text.lower() == "tenant"
        await pilot.press("y")
        await wait_for_notification(pilot, app, "Copied")
        # 2: the next object (the version when one is selected, else builds): another GET, another body.
        await pilot.press("2")
        await wait_for(
            pilot, lambda: screen.index == 1 and screen.masked is not None and "data" in screen.text
        )
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is main_screen(app))
        # From the versions table, the raw view opens on the selected version.
        await pilot.press("v")
        await wait_for(pilot, lambda: main_screen(app).query_one(VersionsTable).has_focus)
        await pilot.press("J")
        screen = await wait_for_screen(pilot, app, RawViewScreen)
        assert screen.target.key == "version"


async def test_the_header_repaints_a_part_only_when_its_value_changes(sim: SimServer, tmp_path: Path) -> None:
    from textual.widgets import Static

    from shipdeck.live.state import ConnectionState
    from shipdeck.tui.widgets.status_header import StatusHeader

    app = console_app(console_options(sim, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot, app)
        header = main_screen(app).query_one(StatusHeader)
        pending = header.query_one("#header-pending", Static)
        painted: list[str] = []
        update = pending.update

        def counting_update(content: Any = "", *, layout: bool = True) -> None:
            painted.append(str(content))
            update(content, layout=layout)

        pending.update = counting_update  # type: ignore[method-assign]
        header.show_pending(0)
        header.show_pending(0)
        assert painted == []  # unchanged: not repainted
        header.show_pending(2)
        assert painted == ["⧗ 2 pending"]
        main_screen(app).context.live_failure = "boom"  # as the live loop's failure handler sets it
        main_screen(app).refresh_header()
        await pilot.pause()
        assert "stopped: boom" in str(header.query_one("#header-connection", Static).render())
        main_screen(app).context.live_failure = None
        header.show_connection(ConnectionState.LIVE, 3.7)
        await pilot.pause()
        assert str(header.query_one("#header-connection", Static).render()) == "● live"

"""The console on a Mixpeek profile, driven with keys against a real `shipdeck sim`.

Each app is listed once per environment. Rollback acts on the row's own environment, promote from a staging
row replaces production, and every preview names the environment. Outcomes are read back from the
simulator over HTTP (which version each environment points at), never from the console's own view.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from textual.pilot import Pilot
from textual.widgets import Input, Select, Static

from shipdeck.config.console_options import ConsoleOptions
from shipdeck.config.profile import Profile, Secret
from shipdeck.config.themes import load_themes
from shipdeck.tui.app import ShipdeckApp
from shipdeck.tui.screens.dialogs import ConfirmDialog, PublishForm
from shipdeck.tui.screens.logs import LogsScreen
from tests.conftest import MIXPEEK_TOKEN
from tests.simproc import SimServer
from tests.tui.console_host import (
    TEST_TIMING,
    confirm,
    console_app,
    console_sim,
    main_screen,
    notifications,
    poll_server,
    settle_actions,
    wait_for,
    wait_for_screen,
    wait_loaded,
)


def mixpeek_options(sim: SimServer, tmp_path: Path, *, environment: str = "production") -> ConsoleOptions:
    profile = Profile(
        "mixpeek-test",
        "mixpeek",
        sim.mixpeek,
        Secret(MIXPEEK_TOKEN),
        environment=environment,  # type: ignore[arg-type]
    )
    catalog = load_themes()
    return ConsoleOptions(
        profile=profile,
        keymap={},
        theme_specs=catalog.themes,
        theme_problems=catalog.problems,
        audit_path=tmp_path / "audit.jsonl",
    )


def server_app(sim: SimServer, slug: str) -> dict[str, Any]:
    response = httpx.get(sim.mixpeek, headers={"Authorization": f"Bearer {MIXPEEK_TOKEN}"}, timeout=10)
    return next(app for app in response.json()["results"] if app["slug"] == slug)


def pointers(sim: SimServer, slug: str) -> dict[str, int | None]:
    environments = server_app(sim, slug)["environments"]
    return {name: environments[name]["version"] for name in ("production", "staging")}


def server_version(sim: SimServer, app_id: str, number: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {MIXPEEK_TOKEN}"}
    return dict(httpx.get(f"{sim.mixpeek}/{app_id}/versions/{number}", headers=headers, timeout=10).json())


async def select_row(pilot: Pilot[Any], app: ShipdeckApp, row_id: str) -> None:
    """Put the cursor on ``row_id`` and wait until its versions are loaded."""
    await wait_loaded(pilot, app)
    assert main_screen(app).table.move_to(row_id)

    def loaded() -> bool:
        detail = app.live.detail
        loaded = detail is not None and detail.deployment_id == row_id and detail.versions is not None
        return loaded and main_screen(app).detail.detail is detail  # and shown

    await wait_for(pilot, loaded)


def dialog_text(dialog: ConfirmDialog) -> str:
    return " ".join([dialog.request.title, *dialog.request.lines, *dialog.request.notes])


async def test_rollback_on_a_staging_row_moves_only_staging_back(tmp_path: Path) -> None:
    with console_sim(tmp_path) as sim:
        app_id = server_app(sim, "storefront")["app_id"]
        before = pointers(sim, "storefront")
        staging = before["staging"]
        assert staging is not None and staging != before["production"]
        app = console_app(mixpeek_options(sim, tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            await select_row(pilot, app, f"{app_id}@staging")
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            dialog = app.screen
            assert isinstance(dialog, ConfirmDialog)
            text = dialog_text(dialog)
            assert "staging" in dialog.request.title and dialog.request.environment == "staging"
            assert f"v{staging}" in text and f"v{staging - 1}" in text
            await pilot.press("enter")
            await settle_actions(pilot, app)
        assert pointers(sim, "storefront") == {"production": before["production"], "staging": staging - 1}


async def test_promote_from_a_staging_row_replaces_production(tmp_path: Path) -> None:
    with console_sim(tmp_path) as sim:
        app_id = server_app(sim, "status-page")["app_id"]
        before = pointers(sim, "status-page")
        assert before["staging"] is not None and before["staging"] != before["production"]
        app = console_app(mixpeek_options(sim, tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            await select_row(pilot, app, f"{app_id}@staging")
            table = main_screen(app).table
            shown = ["".join(s.text for s in table.render_line(y)) for y in range(table.size.height)]
            assert any("Status Page (staging)" in line for line in shown)
            assert any("Status Page (production)" in line for line in shown)
            await pilot.press("P")  # no version picked: the newest, which staging serves
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            dialog = app.screen
            assert isinstance(dialog, ConfirmDialog)
            assert (
                dialog.request.title.endswith("(production)") and dialog.request.environment == "production"
            )
            assert dialog.has_class("-production")
            assert f"current: v{before['production']}" in dialog_text(dialog)
            assert dialog.request.require_typed == "Status Page", "into production: the name is typed"
            # What changes, as drawn: version, message, author and the source files (from plans.version_diff).
            assert before["production"] is not None
            old = server_version(sim, app_id, before["production"])
            new = server_version(sim, app_id, before["staging"])
            shown_diff = str(dialog.query_one("#confirm-diff", Static).render())
            assert f"version  v{before['production']} -> v{before['staging']}" in shown_diff
            assert f"message  {old['message']} -> {new['message']}" in shown_diff
            assert "author   " in shown_diff and new["deployed_by"] in shown_diff
            assert "~ src/App.jsx (+1 -1)" in shown_diff
            await confirm(pilot, app)
            await settle_actions(pilot, app)
            assert not [m for m in notifications(app) if "failed" in m.lower()], notifications(app)
        assert pointers(sim, "status-page") == {"production": before["staging"], "staging": before["staging"]}


async def test_a_sandbox_profile_keeps_its_badge_and_the_title_names_the_environment(tmp_path: Path) -> None:
    with console_sim(tmp_path) as sim:
        app_id = server_app(sim, "docs-portal")["app_id"]
        before = pointers(sim, "docs-portal")
        app = console_app(mixpeek_options(sim, tmp_path, environment="sandbox"))
        async with app.run_test(size=(80, 24)) as pilot:
            await select_row(pilot, app, f"{app_id}@production")
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            dialog = app.screen
            assert isinstance(dialog, ConfirmDialog)
            assert dialog.request.environment == "sandbox" and "(production)" in dialog.request.title
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmDialog))
        assert pointers(sim, "docs-portal") == before


async def test_publish_requires_a_message_then_deploys_to_the_rows_environment(tmp_path: Path) -> None:
    with console_sim(tmp_path) as sim:
        app_id = server_app(sim, "docs-portal")["app_id"]
        before = pointers(sim, "docs-portal")
        app = console_app(mixpeek_options(sim, tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            await select_row(pilot, app, f"{app_id}@staging")
            await pilot.press("p")
            await wait_for(pilot, lambda: isinstance(app.screen, PublishForm))
            form = app.screen
            assert isinstance(form, PublishForm)
            # Only what a Mixpeek deploy reads; the badge names the row's environment, then the chosen one.
            assert {widget.id for widget in form.query("Input, Select")} == {"pf-env", "pf-message"}
            badge = form.query_one("#publish-badge")
            assert str(badge.render()).startswith("STAGING ·") and not badge.has_class("-production")
            form.query_one("#pf-env", Select).value = "production"
            await pilot.pause()
            assert str(badge.render()).startswith("PRODUCTION ·") and badge.has_class("-production")
            form.query_one("#pf-env", Select).value = "staging"
            await pilot.press("ctrl+s")
            assert "Message: required" in str(form.query_one("#publish-error").render())
            # What is typed goes into the message: the form opens on it, not on the environment's list.
            message = form.query_one("#pf-message", Input)
            assert form.focused is message
            await pilot.press(*[{" ": "space"}.get(key, key) for key in "docs: from the console"])
            assert message.value == "docs: from the console"
            environment = form.query_one("#pf-env", Select)
            assert environment.value == "staging" and not environment.expanded
            await pilot.press("ctrl+s")
            await settle_actions(pilot, app)

            def staging_moved() -> bool:
                now = pointers(sim, "docs-portal")
                return now["staging"] != before["staging"]

            await poll_server(staging_moved)
        after = pointers(sim, "docs-portal")
        assert after["production"] == before["production"]
        assert after["staging"] is not None and after["staging"] > max(v for v in before.values() if v)
        newest = server_version(sim, app_id, after["staging"])
        assert newest["message"] == "docs: from the console"


async def test_logs_of_a_row_show_its_runtime_log_then_its_latest_build(tmp_path: Path) -> None:
    with console_sim(tmp_path) as sim:
        app_id = server_app(sim, "storefront")["app_id"]
        served = server_app(sim, "storefront")["environments"]["production"]["deploy_id"]
        app = console_app(mixpeek_options(sim, tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            await select_row(pilot, app, f"{app_id}@production")
            await pilot.press("l")
            await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen))
            screen = app.screen
            assert isinstance(screen, LogsScreen)
            # The runtime log (polled): lines with their level, and the tail keeps going.
            await wait_for(pilot, lambda: screen.lines_received >= 3)
            assert screen.stream_state == "streaming" and screen.source_label == "deployment"
            assert any("[info]" in line or "[error]" in line for line in screen.log_view.lines)
            # b: the build log of the deploy production serves, to its end.
            assert screen.build_id == served
            await pilot.press("b")
            await wait_for(pilot, lambda: screen.stream_state.startswith("finished"))
            assert screen.stream_state == "finished (complete)"
            # The log view paints queued lines on its next flush (a one-shot timer): wait for the last one.
            await wait_for(pilot, lambda: any("Deploy complete!" in line for line in screen.log_view.lines))


async def test_a_version_with_a_long_message_leaves_the_rollback_dialogs_target_and_keys_in_sight(
    tmp_path: Path,
) -> None:
    """A squash message of thousands of characters filled the dialog: the target, the reason field and
    "enter: roll back" were below the screen's edge. Now the message is its first line, cut, and the
    preview scrolls above the fields and keys, which stay on screen (80x24 and 120x40)."""
    from shipdeck.api.factory import make_adapter
    from shipdeck.model import PublishRequest

    with console_sim(tmp_path) as sim:
        app_id = server_app(sim, "storefront")["app_id"]
        headline = "feat: checkout rewrite " + "x" * 300
        message = headline + "\n\n" + "\n".join(f"* change {i}: " + "y" * 80 for i in range(40))
        adapter = make_adapter(Profile("w", "mixpeek", sim.mixpeek, Secret(MIXPEEK_TOKEN)))
        try:
            request = PublishRequest(message=message, environment="staging", promote=True)
            await adapter.publish(f"{app_id}@staging", request, idempotency_key="long-message")
        finally:
            await adapter.aclose()
        await poll_server(lambda: pointers(sim, "storefront")["staging"] is not None)
        for size in ((80, 24), (120, 40)):
            app = console_app(mixpeek_options(sim, tmp_path))
            async with app.run_test(size=size) as pilot:
                await select_row(pilot, app, f"{app_id}@staging")
                detail = app.live.detail
                assert detail is not None and any(v.message == message for v in detail.versions or [])
                await pilot.press("r")
                dialog = await wait_for_screen(pilot, app, ConfirmDialog)
                await pilot.pause()
                current = next(line for line in dialog.request.lines if line.startswith("current:"))
                assert "(+40 lines)" in current and "…" in current and "change 3" not in current
                height = app.screen.size.height
                for selector in ("#confirm-reason", ".confirm-keys"):
                    region = dialog.query_one(selector).region
                    assert region.height > 0 and region.bottom <= height, (size, selector, region)
                await pilot.press("escape")


async def test_a_rollback_confirmed_after_a_polled_row_moved_is_not_sent(tmp_path: Path) -> None:
    """Mixpeek is polled: the console's row is still the old one when enter comes. The session reads the
    server before sending, so a version made live meanwhile is not taken down."""
    import asyncio

    with console_sim(tmp_path) as sim:
        app_id = server_app(sim, "storefront")["app_id"]
        before = pointers(sim, "storefront")
        app = console_app(mixpeek_options(sim, tmp_path))
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await select_row(pilot, app, f"{app_id}@production")
            await pilot.press("r")
            await wait_for_screen(pilot, app, ConfirmDialog)
            other = before["staging"]
            assert other is not None and other != before["production"]
            restored = await asyncio.to_thread(
                httpx.post,
                f"{sim.mixpeek}/{app_id}/versions/{other}/restore",
                headers={"Authorization": f"Bearer {MIXPEEK_TOKEN}", "Idempotency-Key": "colleague"},
                json={"environment": "production"},
                timeout=10,
            )
            assert restored.status_code < 300, restored.text
            await pilot.press("enter")
            await wait_for(pilot, lambda: any("changed while this waited" in m for m in notifications(app)))
            await settle_actions(pilot, app)
        assert pointers(sim, "storefront")["production"] == other, "the colleague's version was taken down"


# The list's own poll kept out of reach: what a test sees of the row comes from the re-reads alone.
NO_POLL = replace(TEST_TIMING, poll_interval_min=3600.0, poll_interval_max=3600.0)


def shown_row(app: ShipdeckApp, name: str) -> str:
    table = main_screen(app).table
    lines = ["".join(s.text for s in table.render_line(y)) for y in range(table.size.height)]
    return next((line for line in lines if name in line), "")


async def publish_hotfix(pilot: Pilot[Any], app: ShipdeckApp, row_id: str) -> None:
    """p on the row, "hotfix cart" as the message, confirmed, and the change's worker done."""
    await select_row(pilot, app, row_id)
    await pilot.press("p")
    form = await wait_for_screen(pilot, app, PublishForm)
    form.query_one("#pf-message", Input).value = "hotfix cart"
    await pilot.press("ctrl+s")
    await wait_for_screen(pilot, app, ConfirmDialog)
    await confirm(pilot, app)
    await settle_actions(pilot, app)


async def test_a_publish_shows_its_version_running_in_the_row_once_the_deploy_is_live(tmp_path: Path) -> None:
    """A Mixpeek row said '◐ building' with the old version after its deploy had gone live, until the list's
    next poll (a minute), and no toast said so: a polled row in progress is re-read until it is not."""
    with console_sim(tmp_path, speed=1.0) as sim:
        app_id = server_app(sim, "storefront")["app_id"]
        before = pointers(sim, "storefront")["production"]
        app = console_app(mixpeek_options(sim, tmp_path), timing=NO_POLL)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await publish_hotfix(pilot, app, f"{app_id}@production")
            # The user moves on: the row is no longer the watched one, whose Pipeline tab is re-read.
            assert main_screen(app).table.move_to(f"{app_id}@staging")
            await poll_server(lambda: pointers(sim, "storefront")["production"] != before)
            live = pointers(sim, "storefront")["production"]

            def row_running() -> bool:
                row = shown_row(app, "Storefront (production)")
                return "running" in row and f"v{live}" in row

            await wait_for(pilot, row_running, what=f"the row running v{live}")
            await wait_for(
                pilot,
                lambda: any(
                    m.startswith("Storefront (production): hotfix cart") and m.endswith("is complete")
                    for m in notifications(app)
                ),
                what="the publish's end told",
            )


async def test_after_a_publish_the_watched_rows_versions_hold_the_version_it_runs(tmp_path: Path) -> None:
    """The row went to the new version, and its Versions tab still listed the old ones (no ▶), so the
    rollback dialog said "current: (none)": a polled provider sends no event when a version goes live, and
    the versions are read again when the watched row's active version changes."""
    with console_sim(tmp_path, speed=1.0) as sim:
        app_id = server_app(sim, "storefront")["app_id"]
        before = pointers(sim, "storefront")["production"]
        app = console_app(mixpeek_options(sim, tmp_path), timing=NO_POLL)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await publish_hotfix(pilot, app, f"{app_id}@production")
            await poll_server(lambda: pointers(sim, "storefront")["production"] != before)
            live = pointers(sim, "storefront")["production"]
            await wait_for(pilot, lambda: f"v{live}" in shown_row(app, "Storefront (production)"))

            def versions_hold_it() -> bool:
                detail = app.live.detail
                versions = detail.versions if detail is not None else None
                return any(v.number == live for v in versions or ())

            await wait_for(pilot, versions_hold_it, what=f"v{live} among the watched row's versions")
            await pilot.press("r")
            dialog = await wait_for_screen(pilot, app, ConfirmDialog)
            shown = " ".join(dialog.request.lines)
            assert f"current: v{live}" in shown.replace("  ", " ") or f"v{live} ->" in shown, shown
            await pilot.press("escape")

"""The console's actions, driven with keys against a real `shipdeck sim`; every assertion on an outcome
reads the simulator's state back over HTTP."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from textual.widgets import Input, Static

from shipdeck.api.factory import make_adapter
from shipdeck.config.paths import state_dir
from shipdeck.tui.app import make_app
from shipdeck.tui.screens.dialogs import ConfirmDialog, PublishForm
from shipdeck.tui.widgets.event_log import EventLog
from tests.simproc import running_sim
from tests.tui.console_host import (
    APP_NOW,
    EPOCH,
    READONLY_TOKEN,
    SimHttp,
    confirm,
    console_app,
    console_options,
    console_sim,
    every_notification,
    main_screen,
    notifications,
    poll_server,
    send_burst,
    settle_actions,
    wait_for,
    wait_for_notification,
    wait_for_screen,
    wait_loaded,
)

TARGET = "smile-dental-landing"


def previous_ready(versions: list[dict[str, object]], active_id: str) -> dict[str, object]:
    ordered = sorted(versions, key=lambda v: int(str(v["version_number"])), reverse=True)
    index = next(i for i, v in enumerate(ordered) if v["id"] == active_id)
    return next(v for v in ordered[index + 1 :] if v["state"] == "ready")


async def put_cursor_above(pilot: object, app: object, name: str) -> str:
    """Put the cursor on the row just above ``name`` (so one key, 'down', selects it); its id."""
    table = main_screen(app).table  # type: ignore[arg-type]
    ids = table.visible_ids
    target_id = next(d.id for d in table.visible_rows if d.name == name)
    index = ids.index(target_id)
    assert index > 0
    table.move_to(ids[index - 1])
    return target_id


async def test_rollback_from_the_list_in_three_keys_moves_the_active_version_back(tmp_path: Path) -> None:
    with console_sim(tmp_path) as sim:
        http = SimHttp(sim)
        before = http.deployment(TARGET)
        expected = previous_ready(http.versions(before["id"]), before["active_version_id"])
        app = console_app(console_options(sim, tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_loaded(pilot, app)
            await put_cursor_above(pilot, app, TARGET)
            await pilot.press("down", "r")  # select the row, open the rollback preview
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            dialog = app.screen
            assert isinstance(dialog, ConfirmDialog)
            preview = " ".join(dialog.request.lines + dialog.request.notes)
            assert f"v{expected['version_number']}" in preview
            assert "Not rolled back: environment variables, databases" in preview
            assert dialog.has_class("-production")
            await pilot.press("enter")  # the third key confirms (y would be the reason's text)
            await settle_actions(pilot, app)
            after = http.deployment(TARGET)
            assert after["active_version_id"] == expected["id"]
            # The console shows it too, once the stream has told it.
            await wait_for(
                pilot,
                lambda: app.live.deployments[before["id"]].active_version_id == expected["id"],
            )
            # ... and its Events tab lists what the stream said about it.
            events_log = main_screen(app).detail.query_one("#events-log", EventLog)
            await wait_for(pilot, lambda: any("deployment.rolled_back" in line for line in events_log.lines))
            # By version number, without the deployment's own id on every line: at 120 columns the line
            # was cut inside its version ids.
            line = next(line for line in events_log.lines if "deployment.rolled_back" in line)
            was = next(v for v in http.versions(before["id"]) if v["id"] == before["active_version_id"])
            wanted = f"version=v{expected['version_number']} from_version=v{was['version_number']}"
            assert wanted in line and "deployment_id=" not in line, line
        audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
        assert [(r["phase"], r["action"]) for r in audit] == [("intent", "rollback"), ("outcome", "rollback")]
        assert audit[1]["outcome"] == "ok"


async def test_a_rollback_confirmed_after_another_version_went_live_is_not_sent(tmp_path: Path) -> None:
    """The dialog said "current v(n)"; while it was open a colleague made another version live (the stream
    brings it). Enter must not take that version down unseen: nothing is sent, and the toast says why."""
    with console_sim(tmp_path) as sim:
        http = SimHttp(sim)
        dep = http.deployment(TARGET)
        versions = http.versions(dep["id"])
        target = previous_ready(versions, dep["active_version_id"])
        # Neither live nor the rollback's target: a version the rollback would take down unseen.
        skip = (dep["active_version_id"], target["id"])
        other = next(v for v in versions if v["state"] == "ready" and v["id"] not in skip)
        app = console_app(console_options(sim, tmp_path))
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await wait_loaded(pilot, app)
            await put_cursor_above(pilot, app, TARGET)
            await pilot.press("down", "r")
            dialog = await wait_for_screen(pilot, app, ConfirmDialog)
            promoted = await asyncio.to_thread(
                httpx.post,
                f"{sim.miosa}/deployments/{dep['id']}/versions/{other['id']}/promote",
                headers={**http.headers, "Idempotency-Key": "colleague"},
                json={},
                timeout=10,
            )
            assert promoted.status_code == 200, promoted.text
            await wait_for(
                pilot,
                lambda: app.live.deployments[dep["id"]].active_version_id == other["id"],
                what="the stream brought the colleague's promote",
            )
            assert app.screen is dialog
            await pilot.press("enter")
            message = await wait_for_notification(pilot, app, "changed while this waited")
            assert f"v{other['version_number']} is active now" in message and "nothing was sent" in message
            await settle_actions(pilot, app)
        assert [m["path"] for m in http.mutations()] == [
            f"/api/v1/deployments/{dep['id']}/versions/{other['id']}/promote"
        ], "the stale rollback was sent"


async def test_escape_cancels_a_rollback_and_nothing_is_sent(tmp_path: Path) -> None:
    with console_sim(tmp_path) as sim:
        http = SimHttp(sim)
        app = console_app(console_options(sim, tmp_path))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_loaded(pilot, app)
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmDialog))
        assert http.mutations() == []


async def test_a_y_typed_right_behind_r_never_confirms_a_rollback(tmp_path: Path) -> None:
    """'y' confirms a plain dialog, never one that asks a reason: typed in one burst behind 'r', or a
    moment after it, the y's are typed into the reason, and with the focus off the reason field a 'y' does
    nothing; nothing is sent."""
    with console_sim(tmp_path) as sim:
        http = SimHttp(sim)
        app = console_app(console_options(sim, tmp_path, environment="staging"))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_loaded(pilot, app)
            for gap in (0.0, 0.01):
                send_burst(app, [("r", "r")])
                await asyncio.sleep(gap)
                send_burst(app, [("y", "y")] * 3)
                await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
                reason = app.screen.query_one("#confirm-reason", Input)
                await wait_for(pilot, lambda: reason.has_focus, what="the reason field focused")  # noqa: B023
                await pilot.pause()
                assert reason.value == "yyy"
                await pilot.press("escape")
                await wait_for(pilot, lambda: app.screen is main_screen(app))
            # A reason typed in the same burst as 'r' is the reason (it was dropped).
            send_burst(app, [("r", "r"), *[("space" if c == " " else c, c) for c in "bad deploy"]])
            dialog = await wait_for_screen(pilot, app, ConfirmDialog)
            field = dialog.query_one("#confirm-reason", Input)
            await wait_for(pilot, lambda: field.value == "bad deploy", what="the reason typed")
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is main_screen(app))
            # Nor with the focus off the reason field (on the hold box: it was a yes there before).
            await pilot.press("r")
            dialog = await wait_for_screen(pilot, app, ConfirmDialog)
            assert dialog.request.offer_hold, "the first row's rollback offers the auto-deploy hold"
            await wait_for(pilot, lambda: dialog.query_one("#confirm-reason", Input).has_focus)
            await pilot.press("tab", "y")
            assert app.screen is dialog, "a y on the hold box confirmed the rollback"
            assert not dialog.query_one("#confirm-reason", Input).has_focus
            # Ticked or not reads in characters, not in colour alone (both were ▐X▌).
            box = dialog.query_one("#confirm-hold")
            assert "▐ ▌" in str(box.render()) and "X" not in str(box.render())
            await pilot.press("space")
            await wait_for(pilot, lambda: "▐X▌" in str(box.render()), what="the ticked box")
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is main_screen(app))
        assert http.mutations() == []


async def test_promote_the_version_selected_in_the_versions_tab(tmp_path: Path) -> None:
    with console_sim(tmp_path) as sim:
        http = SimHttp(sim)
        app = console_app(console_options(sim, tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            table = await wait_loaded(pilot, app)
            deployment = table.highlighted
            assert deployment is not None
            versions = sorted(http.versions(deployment.id), key=lambda v: v["version_number"], reverse=True)
            # The Versions tab lists newest first; pick the first ready one that is not active.
            index, chosen = next(
                (i, v)
                for i, v in enumerate(versions)
                if v["state"] == "ready" and v["id"] != deployment.active_version_id
            )
            await pilot.press("v", *["down"] * index, "P")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            assert isinstance(app.screen, ConfirmDialog)
            # Into production: the deployment's name is typed, a key is not enough.
            assert app.screen.request.require_typed == deployment.name
            await pilot.press("y", "enter")
            assert isinstance(app.screen, ConfirmDialog), "a key confirmed a promote into production"
            app.screen.query_one("#confirm-typed", Input).value = ""
            await confirm(pilot, app)
            await settle_actions(pilot, app)
        assert http.get(f"/deployments/{deployment.id}")["active_version_id"] == chosen["id"]


async def test_publish_form_creates_a_new_version_and_remembers_its_values(tmp_path: Path) -> None:
    with console_sim(tmp_path) as sim:
        http = SimHttp(sim)
        app = console_app(console_options(sim, tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            table = await wait_loaded(pilot, app)
            deployment = table.highlighted
            assert deployment is not None
            before = {v["id"] for v in http.versions(deployment.id)}
            await pilot.press("p")
            await wait_for(pilot, lambda: isinstance(app.screen, PublishForm))
            form = app.screen
            assert isinstance(form, PublishForm)
            # Bad input is refused with the reason, and what was typed stays.
            await pilot.press("ctrl+s")
            assert "Source sandbox: required" in str(form.query_one("#publish-error").render())
            # No mouse: the form opens with the first field focused, and keeps it after a refusal.
            assert app.focused is form.query_one("#pf-source")
            await pilot.press(*"sbx_demo_1")
            form.query_one("#pf-output").value = "../outside"  # type: ignore[attr-defined]
            await pilot.press("ctrl+s")
            assert "must stay inside the sandbox" in str(form.query_one("#publish-error").render())
            form.query_one("#pf-output").value = "dist"  # type: ignore[attr-defined]
            form.query_one("#pf-entry").value = "index.html"  # type: ignore[attr-defined]
            await pilot.press("ctrl+s")
            # Publishing into production asks for the name to be typed too (ctrl+s alone is not enough).
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            await confirm(pilot, app)
            await settle_actions(pilot, app)
            assert main_screen(app).detail.active_tab == "tab-pipeline"

        def new_version_exists() -> bool:
            return bool({v["id"] for v in http.versions(deployment.id)} - before)

        await poll_server(new_version_exists)
        remembered = json.loads((state_dir() / "publish-forms.json").read_text())
        assert remembered[deployment.id]["source_sandbox_id"] == "sbx_demo_1"
        assert remembered[deployment.id]["output_path"] == "dist"

        # The next form starts with what was used last time.
        app = console_app(console_options(sim, tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_loaded(pilot, app)
            await pilot.press("p")
            await wait_for(pilot, lambda: isinstance(app.screen, PublishForm))
            assert app.screen.query_one("#pf-source").value == "sbx_demo_1"  # type: ignore[attr-defined]
            assert app.screen.query_one("#pf-entry").value == "index.html"  # type: ignore[attr-defined]
            await pilot.press("escape")


async def test_redeploy_starts_a_build(tmp_path: Path) -> None:
    with console_sim(tmp_path) as sim:
        http = SimHttp(sim)
        app = console_app(console_options(sim, tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            table = await wait_loaded(pilot, app)
            deployment = table.highlighted
            assert deployment is not None
            builds_before = {b["id"] for b in http.get(f"/deployments/{deployment.id}/builds")}
            await pilot.press("R")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            # A new version made live in a production profile: the name is typed, as for a promote.
            assert app.screen.request.require_typed == deployment.name  # type: ignore[attr-defined]
            await confirm(pilot, app)
            await settle_actions(pilot, app)
        builds_after = {b["id"] for b in http.get(f"/deployments/{deployment.id}/builds")}
        assert builds_after - builds_before
        assert [r["path"] for r in http.mutations()] == [f"/api/v1/deployments/{deployment.id}/redeploy"]


async def test_read_only_profile_refuses_every_mutation_before_a_dialog_and_sends_nothing(
    tmp_path: Path,
) -> None:
    with console_sim(tmp_path) as sim:
        http = SimHttp(sim)
        app = console_app(console_options(sim, tmp_path, read_only=True))
        told = every_notification(app)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_loaded(pilot, app)
            assert main_screen(app).query_one("#status-header").has_class("-read-only")
            for count, key in enumerate(("r", "P", "p", "R"), start=1):
                await pilot.press(key)
                await wait_for(pilot, lambda: sum("is read-only" in m for m in told) >= count)  # noqa: B023
                assert not isinstance(app.screen, ConfirmDialog | PublishForm)
            assert sum("is read-only" in m for m in told) == 4, told
            await settle_actions(pilot, app)
        assert http.mutations() == []
        assert not (tmp_path / "audit.jsonl").exists()


async def test_the_servers_refusal_reason_is_shown(tmp_path: Path) -> None:
    # A read-only TOKEN on a profile not marked read-only: the server refuses, the console says why.
    with console_sim(tmp_path) as sim:
        http = SimHttp(sim)
        app = console_app(console_options(sim, tmp_path, token=READONLY_TOKEN))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_loaded(pilot, app)
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            await pilot.press("enter")
            await settle_actions(pilot, app)
            refusals = [m for m in notifications(app) if "HTTP 403" in m]
            assert refusals, notifications(app)
        assert [r["status"] for r in http.mutations()] == [403]
        audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
        assert audit[-1]["outcome"] == "refused"


async def test_an_action_whose_answer_is_lost_is_resolved_with_the_same_idempotency_key(
    tmp_path: Path,
) -> None:
    with console_sim(tmp_path, "--faults", "drop_after_commit_once") as sim:
        http = SimHttp(sim)
        before = http.deployment(TARGET)
        expected = previous_ready(http.versions(before["id"]), before["active_version_id"])
        app = console_app(console_options(sim, tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_loaded(pilot, app)
            await put_cursor_above(pilot, app, TARGET)
            await pilot.press("down", "r")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            await pilot.press("enter")
            await settle_actions(pilot, app)
            assert any("rolled back" in m for m in notifications(app)), notifications(app)
        rollbacks = [r for r in http.mutations() if r["path"].endswith("/rollback")]
        # The first answer was lost after the server committed; the resend got the stored answer.
        assert [r["status"] for r in rollbacks][0] == 0
        assert rollbacks[-1]["status"] == 200
        # Rolled back exactly once: to the previous ready version, not two versions back.
        assert http.deployment(TARGET)["active_version_id"] == expected["id"]
        audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
        keys = {r["idempotency_key"] for r in audit if r["action"] == "rollback"}
        assert len(keys) == 1


async def test_non_ready_version_is_not_promoted_and_the_reason_is_shown(tmp_path: Path) -> None:
    with console_sim(tmp_path) as sim:
        http = SimHttp(sim)
        app = console_app(console_options(sim, tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            table = await wait_loaded(pilot, app)
            # Find a deployment with a version that is not ready (the demo seed has failed builds).
            for dep_id in table.visible_ids:
                versions = http.versions(dep_id)
                bad = [v for v in versions if v["state"] != "ready"]
                if bad:
                    break
            else:
                raise AssertionError("the demo seed has no version that is not ready")
            table.move_to(dep_id)
            await wait_for(
                pilot,
                lambda: (
                    (detail := app.live.detail) is not None
                    and detail.deployment_id == dep_id
                    and main_screen(app).detail.detail is detail
                ),
            )
            ordered = sorted(versions, key=lambda v: v["version_number"], reverse=True)
            index = ordered.index(bad[0])
            await pilot.press("v", *["down"] * index, "P")
            await wait_for_notification(pilot, app, "only ready versions can be promoted")
            assert not isinstance(app.screen, ConfirmDialog)
        assert http.mutations() == []
        await asyncio.sleep(0)


async def test_a_rollback_sent_while_the_server_is_down_says_not_applied_and_is_not_resent_by_itself(
    tmp_path: Path,
) -> None:
    """Nothing listens: no request can have reached the server, so the console says the rollback failed
    and was not applied (not "pending", not "may have been applied"), and it never resends it by itself:
    the server, back, is unchanged."""
    db = tmp_path / "sim.db"
    with running_sim(["--epoch", EPOCH], db_path=db, speed=50.0) as first:
        port = first.port
        http = SimHttp(first)
        before = http.deployment(TARGET)
        options = console_options(first, tmp_path)
        # A short client deadline, so the outage is noticed in a second rather than a minute.
        adapter = make_adapter(options.profile, deadline=1.0, timeout=1.0)
        app = make_app(options, adapter=adapter, clock=lambda: APP_NOW)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await wait_loaded(pilot, app)
            await put_cursor_above(pilot, app, TARGET)
            await pilot.press("down", "r")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            await asyncio.to_thread(first.stop)
            await pilot.press("enter")
            await settle_actions(pilot, app)
            # The read that checks the row is still as shown fails first: nothing is sent at all.
            assert any("nothing was sent" in m or "not applied" in m for m in notifications(app)), (
                notifications(app)
            )
            assert not any("may have been applied" in m for m in notifications(app))
            assert not app.session.pending
            header = main_screen(app).query_one("#header-pending", Static)
            assert "pending" not in str(header.render())
            with running_sim(["--epoch", EPOCH, "--port", str(port)], db_path=db, speed=50.0) as second:
                await settle_actions(pilot, app)
                assert SimHttp(second).deployment(TARGET)["active_version_id"] == before["active_version_id"]
        await adapter.aclose()


async def test_h_holds_auto_deploy_and_turns_it_back_on(tmp_path: Path) -> None:
    """A rollback's hold (auto-deploy off) had no way back in the console: H turns auto-deploy off or on
    for the row, after its dialog, once each."""
    with console_sim(tmp_path) as sim:
        http = SimHttp(sim)
        app = console_app(console_options(sim, tmp_path))
        async with app.run_test(size=(80, 24)) as pilot:
            table = await wait_loaded(pilot, app)
            row = next(d for d in table.visible_rows if d.name == "status-page")
            assert row.auto_deploy, "the demo's status-page deploys on push"
            table.move_to(row.id)
            await wait_for(pilot, lambda: (c := main_screen(app).current()) is not None and c.id == row.id)
            for wanted, title in ((False, "Hold status-page"), (True, "Resume auto-deploy of status-page")):
                await pilot.press("H")
                await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the dialog")
                assert app.screen.request.title == title  # type: ignore[attr-defined]
                if not wanted:  # the way back, in the console's own terms (the CLI names its command)
                    assert "Pushes stop deploying until auto-deploy is turned on again (H)." in (
                        app.screen.request.notes  # type: ignore[attr-defined]
                    )
                await confirm(pilot, app)
                await settle_actions(pilot, app)

                def on_the_server(w: bool = wanted) -> bool:
                    return http.deployment("status-page")["auto_deploy"] is w

                def on_the_row(w: bool = wanted) -> bool:
                    current = main_screen(app).current()
                    return current is not None and current.auto_deploy is w

                await wait_for(pilot, on_the_server, what="the server's auto-deploy")
                await wait_for(pilot, on_the_row, what="the row's auto-deploy as the server has it")
        updates = [r for r in http.mutations() if r["method"] == "PATCH"]
        assert len(updates) == 2, updates


async def test_after_a_rollback_the_logs_say_whose_build_the_deployment_log_is(tmp_path: Path) -> None:
    """After checkout-api's rollback v5 -> v4 the header said "v4 live" over the latest build's log, v5's
    ("Build complete: version 5 is ready"), as if it were the live version's."""
    from shipdeck.tui.screens.logs import LogsScreen

    with console_sim(tmp_path) as sim:
        app = console_app(console_options(sim, tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            table = await wait_loaded(pilot, app)
            row = next(d for d in table.visible_rows if d.name == "checkout-api")
            table.move_to(row.id)
            await wait_for(pilot, lambda: (c := main_screen(app).current()) is not None and c.id == row.id)
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the rollback dialog")
            await confirm(pilot, app)
            await settle_actions(pilot, app)

            def rolled_back() -> bool:
                current = main_screen(app).current()
                detail = app.live.detail
                return (
                    current is not None
                    and current.active_version_number == 4
                    and detail is not None
                    and detail.deployment_id == row.id
                    and bool(detail.versions)
                )

            await wait_for(pilot, rolled_back, what="v4 live, and the versions read")
            await pilot.press("l")
            logs = await wait_for_screen(pilot, app, LogsScreen)
            assert logs.title_text.endswith("v4 live")
            assert logs.source_label == "deployment (its latest build, v5's)", logs.source_label

"""The console's changes through an outage: rollback, promote, env set and domain add, each sent through a
loopback proxy that loses the answer and then refuses connections. Each says it is being checked (never
"failed"), is counted as pending in the header, and once the link is back is found applied: exactly once.
Also the dialog's safety: text typed as a reason never confirms, and Esc after an empty filter keeps the
cursor on the deployment the user was on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from shipdeck.config.audit import read_audit
from shipdeck.tui.app import ShipdeckApp
from shipdeck.tui.screens.dialogs import ConfirmDialog
from shipdeck.tui.screens.domains import DomainsScreen
from shipdeck.tui.screens.env_editor import EnvDiffScreen, EnvEditorScreen
from shipdeck.tui.screens.screen_kit import TextPrompt
from tests.conftest import ADMIN
from tests.reliability.conftest import console_through, every_notification, loaded
from tests.reliability.proxy import FaultProxy, RequestHead
from tests.simproc import SimServer
from tests.tui.console_host import main_screen, notifications, settle_actions, wait_for
from tests.tui.screen_host import screen_text

SIZE = (120, 40)
HEADERS = {"Authorization": f"Bearer {ADMIN}"}


def header_pending(app: ShipdeckApp) -> str:
    return str(main_screen(app).query_one("#header-pending", Static).render())


def get(sim: SimServer, path: str) -> Any:
    return httpx.get(sim.miosa + path, headers=HEADERS, timeout=10).json()["data"]


def deployment(sim: SimServer, name: str) -> dict[str, Any]:
    return next(d for d in get(sim, "/deployments?limit=200") if d["name"] == name)


def detail_of(app: ShipdeckApp) -> str | None:
    """The deployment whose detail (versions) the console has loaded."""
    return app.live.detail.deployment_id if app.live.detail is not None else None


def is_change(head: RequestHead) -> bool:
    return head.method in ("POST", "PATCH", "PUT", "DELETE") and "/_sim/" not in head.path


async def type_text(pilot: Pilot[Any], text: str) -> None:
    await pilot.press(*["space" if c == " " else c for c in text])


async def rollback(
    pilot: Pilot[Any], app: ShipdeckApp, link: FaultProxy, sim: SimServer
) -> Callable[[], bool]:
    dep = deployment(sim, "status-page")
    versions = get(sim, f"/deployments/{dep['id']}/versions?limit=200")
    active = next(v for v in versions if v["id"] == dep["active_version_id"])
    ready = [v for v in versions if v["state"] == "ready" and v["version_number"] < active["version_number"]]
    expected = max(ready, key=lambda v: int(v["version_number"]))
    assert main_screen(app).table.move_to(dep["id"])
    await wait_for(pilot, lambda: detail_of(app) == dep["id"])
    await pilot.press("r")
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
    link.lose_answer_to(is_change, then_down=True)
    await pilot.press("enter")
    return lambda: deployment(sim, "status-page")["active_version_id"] == expected["id"]


async def promote(
    pilot: Pilot[Any], app: ShipdeckApp, link: FaultProxy, sim: SimServer
) -> Callable[[], bool]:
    dep = deployment(sim, "smile-dental-landing")
    versions = get(sim, f"/deployments/{dep['id']}/versions?limit=200")
    newest_first = sorted(versions, key=lambda v: int(v["version_number"]), reverse=True)
    target = next(v for v in newest_first if v["state"] == "ready" and v["id"] != dep["active_version_id"])
    assert main_screen(app).table.move_to(dep["id"])
    await wait_for(pilot, lambda: detail_of(app) == dep["id"])
    await pilot.press("v", *["down"] * newest_first.index(target), "P")
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
    link.lose_answer_to(is_change, then_down=True)
    await pilot.press("enter")  # the reason field has the focus: a y would be its text
    return lambda: deployment(sim, "smile-dental-landing")["active_version_id"] == target["id"]


async def env_set(
    pilot: Pilot[Any], app: ShipdeckApp, link: FaultProxy, sim: SimServer
) -> Callable[[], bool]:
    dep_id = await staged_env_var(pilot, app, sim, "OUTAGE_CHECK")
    link.lose_answer_to(is_change, then_down=True)
    await pilot.press("y")

    def applied() -> bool:
        names = [e.get("key") or e.get("name") for e in get(sim, f"/deployments/{dep_id}/env")]
        return "OUTAGE_CHECK" in names

    return applied


async def domain_add(
    pilot: Pilot[Any], app: ShipdeckApp, link: FaultProxy, sim: SimServer
) -> Callable[[], bool]:
    dep = deployment(sim, "smile-dental-landing")
    assert main_screen(app).table.move_to(dep["id"])
    await pilot.press("d")
    await wait_for(pilot, lambda: isinstance(app.screen, DomainsScreen))
    await pilot.press("a")
    await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt))
    await type_text(pilot, "outage-check.example.com")
    link.lose_answer_to(is_change, then_down=True)
    await pilot.press("enter")
    return lambda: any(
        d["domain"] == "outage-check.example.com" for d in get(sim, f"/deployments/{dep['id']}/domains")
    )


Change = Callable[[Pilot[Any], ShipdeckApp, FaultProxy, SimServer], Awaitable[Callable[[], bool]]]


@pytest.mark.parametrize("change", [rollback, promote, env_set, domain_add], ids=lambda c: c.__name__)
async def test_a_change_whose_answer_is_lost_is_checked_not_failed_and_applied_once(
    change: Change, link_sim: SimServer, link: FaultProxy, tmp_path: Path
) -> None:
    app, adapter = console_through(link.url(link_sim.miosa), "miosa", tmp_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        told = every_notification(app)
        await loaded(pilot, app)
        applied = await change(pilot, app, link, link_sim)
        await wait_for(pilot, lambda: any("checking whether it was applied" in m for m in told))
        assert await asyncio.to_thread(applied), "the server did not apply it (the answer alone was lost)"
        assert app.session.pending, "a change of unknown outcome is pending"
        link.restore()
        await wait_for(pilot, lambda: not app.session.pending, timeout=40)
        await settle_actions(pilot, app)
    await adapter.aclose()
    assert not any("failed" in m.lower() and "not applied" in m for m in told), told
    # Found by reading back ("applied, once") or by resending its key ("... not applied twice").
    assert any("applied, once" in m or "not applied twice" in m for m in told), told
    sent = link.requests_matching(is_change)
    assert len({h.headers.get("idempotency-key") for h in sent}) == 1, "one key for every send of it"
    records = [r for r in read_audit(tmp_path / "audit.jsonl") if isinstance(r, dict)]
    assert [r["phase"] for r in records if r["phase"] != "attempt"] == ["intent", "outcome", "reconciled"]
    assert records[-1]["outcome"] == "applied"


async def test_text_typed_as_a_reason_never_confirms_and_is_recorded(
    link_sim: SimServer, link: FaultProxy, tmp_path: Path
) -> None:
    app, adapter = console_through(link.url(link_sim.miosa), "miosa", tmp_path)
    before = deployment(link_sim, "status-page")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot, app)
        assert main_screen(app).table.move_to(before["id"])
        await wait_for(
            pilot, lambda: app.live.detail is not None and app.live.detail.deployment_id == before["id"]
        )
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await type_text(pilot, "bad deploy, yes really")  # a 'y' and a 'n' in the text
        assert isinstance(app.screen, ConfirmDialog), "typing the reason confirmed or cancelled the dialog"
        assert deployment(link_sim, "status-page")["active_version_id"] == before["active_version_id"]
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmDialog))
        await settle_actions(pilot, app)
        # Until the next change, the detail says who rolled it back and when.
        line = main_screen(app).detail.query_one("#versions-change", Static)
        await wait_for(pilot, lambda: "rolled back v" in str(line.render()) and " by " in str(line.render()))
    await adapter.aclose()
    intent = next(
        r for r in read_audit(tmp_path / "audit.jsonl") if isinstance(r, dict) and r["phase"] == "intent"
    )
    assert intent["reason"] == "bad deploy, yes really"
    assert deployment(link_sim, "status-page")["active_version_id"] != before["active_version_id"]


async def test_esc_after_a_filter_that_matched_nothing_keeps_the_cursor_where_it_was(
    link_sim: SimServer, link: FaultProxy, tmp_path: Path
) -> None:
    app, adapter = console_through(link.url(link_sim.miosa), "miosa", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        table = main_screen(app).table
        ids = table.visible_ids
        chosen = ids[len(ids) // 2]
        assert table.move_to(chosen)
        await pilot.press("slash")
        await type_text(pilot, "zzz-no-such-deployment")
        await wait_for(pilot, lambda: table.highlighted is None)
        await pilot.press("escape")
        await wait_for(pilot, lambda: table.highlighted is not None)
        assert table.highlighted is not None and table.highlighted.id == chosen
    await adapter.aclose()


async def test_a_waiting_change_is_listed_quitting_asks_and_dropping_it_is_audited(
    link_sim: SimServer, link: FaultProxy, tmp_path: Path
) -> None:
    from shipdeck.tui.screens.pending import AuditScreen, PendingScreen

    app, adapter = console_through(link.url(link_sim.miosa), "miosa", tmp_path)
    app.session.resend_window = 0.0  # give up at once: the change waits for the user
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot, app)
        await rollback(pilot, app, link, link_sim)
        await wait_for(pilot, lambda: any(i.state == "waiting" for i in app.session.pending.values()))
        assert "1 pending" in header_pending(app)
        # Quitting now asks, and says what happens to it.
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert isinstance(app.screen, ConfirmDialog)
        assert "not known to be applied" in app.screen.request.title
        await pilot.press("escape")
        await pilot.press("exclamation_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, PendingScreen))
        screen = app.screen
        assert isinstance(screen, PendingScreen)
        table = screen.query_one("#pending-table")
        await wait_for(pilot, lambda: getattr(table, "row_count", 0) == 1)
        await pilot.press("x")
        await wait_for(pilot, lambda: not app.session.pending)
        await pilot.press("escape", "A")
        await wait_for(pilot, lambda: isinstance(app.screen, AuditScreen))
        shown = [str(app.screen.query_one("#audit-table").get_row_at(i)) for i in range(3)]  # type: ignore[attr-defined]
        assert "unknown" in shown[1] and "dropped" in shown[2], shown
        link.restore()
        await pilot.press("escape", "q")
    await adapter.aclose()


async def test_enter_on_the_pending_screen_resends_a_waiting_change(
    link_sim: SimServer, link: FaultProxy, tmp_path: Path
) -> None:
    """The row says "enter resends": enter must reach the screen, not the table's own select. (An env
    set: its values cannot be read back, so only a resend can settle it.)"""
    from shipdeck.tui.screens.main import MainScreen
    from shipdeck.tui.screens.pending import PendingScreen

    app, adapter = console_through(link.url(link_sim.miosa), "miosa", tmp_path)
    app.session.resend_window = 0.0  # give up at once: the change waits for the user
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot, app)
        applied = await env_set(pilot, app, link, link_sim)
        await wait_for(pilot, lambda: any(i.state == "waiting" for i in app.session.pending.values()))
        link.restore()
        while not isinstance(app.screen, MainScreen):
            await pilot.press("escape")
            await pilot.pause()
        # Back on the list before the key (under load the focus came back a frame later, and a '!'
        # pressed while a closing screen's field still had it was that field's text).
        await wait_for(pilot, lambda: app.focused is main_screen(app).table, what="the list focused again")
        sent = len(link.requests_matching(is_change))
        await pilot.press("exclamation_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, PendingScreen))
        table = app.screen.query_one("#pending-table")
        await wait_for(pilot, lambda: getattr(table, "row_count", 0) == 1)
        app.session.resend_window = 30.0
        await pilot.press("enter")
        await wait_for(pilot, lambda: not app.session.pending, what="the resend settled the change")
        assert len(link.requests_matching(is_change)) > sent, "enter sent nothing"
        assert applied()
        await pilot.press("escape", "q")
    await adapter.aclose()


async def test_the_rollback_dialog_offers_to_hold_auto_deploy_and_does_it_first(
    link_sim: SimServer, link: FaultProxy, tmp_path: Path
) -> None:
    app, adapter = console_through(link.url(link_sim.miosa), "miosa", tmp_path)
    dep = deployment(link_sim, "patient-portal")
    assert dep["auto_deploy"], "the demo's patient-portal deploys on push"
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot, app)
        assert main_screen(app).table.move_to(dep["id"])
        await wait_for(pilot, lambda: detail_of(app) == dep["id"])
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert isinstance(app.screen, ConfirmDialog)
        assert any("auto-deploy is on" in w for w in app.screen.request.warnings)
        await pilot.press("tab", "space", "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmDialog))
        await settle_actions(pilot, app)
    await adapter.aclose()
    after = deployment(link_sim, "patient-portal")
    assert after["auto_deploy"] is False and after["active_version_id"] != dep["active_version_id"]
    intents = [
        r["action"]
        for r in read_audit(tmp_path / "audit.jsonl")
        if isinstance(r, dict) and r["phase"] == "intent"
    ]
    assert intents == ["update", "rollback"]


async def staged_env_var(pilot: Pilot[Any], app: ShipdeckApp, sim: SimServer, name: str) -> str:
    """The env editor of smile-dental-landing open, ``name`` staged and its review shown; the id."""
    dep = deployment(sim, "smile-dental-landing")
    assert main_screen(app).table.move_to(dep["id"])
    await pilot.press("e")
    await wait_for(pilot, lambda: isinstance(app.screen, EnvEditorScreen))
    await pilot.press("a")
    await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt))
    await type_text(pilot, name)
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt) and not app.screen.value)
    await type_text(pilot, "1")
    await pilot.press("ctrl+s", "s")  # the value prompt takes several lines: ctrl+s submits
    await wait_for(pilot, lambda: isinstance(app.screen, EnvDiffScreen))
    return str(dep["id"])


async def test_closing_the_env_editor_while_its_change_is_sent_neither_stops_nor_hides_it(
    link_sim: SimServer, link: FaultProxy, tmp_path: Path
) -> None:
    """Esc while an env set was in flight cancelled it: the server applied it, the audit log said
    "unknown", nothing was pending and no toast said anything; the editor's own warning said the change
    was "not applied"."""
    from shipdeck.tui.screens.main import MainScreen

    app, adapter = console_through(link.url(link_sim.miosa), "miosa", tmp_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        told = every_notification(app)
        await loaded(pilot, app)
        dep_id = await staged_env_var(pilot, app, link_sim, "CLOSED_MID_SEND")
        link.stall()
        await pilot.press("y")
        await wait_for(pilot, lambda: any(i.state == "sending" for i in app.session.pending.values()))
        await wait_for(pilot, lambda: isinstance(app.screen, EnvEditorScreen))
        status = app.screen.query_one("#env-status", Static)
        await wait_for(
            pilot, lambda: "Sending 1 change(s)" in str(status.render()), what="the status says sending"
        )
        assert "not sent yet" not in str(status.render())
        await pilot.press("escape")  # once: nothing unsent to discard
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        assert any("still being sent" in m for m in told), told
        assert not any("not applied" in m for m in told), told
        link.restore()
        await wait_for(pilot, lambda: any("set CLOSED_MID_SEND" in m for m in told[1:]), timeout=40)
        await wait_for(pilot, lambda: not app.session.pending)
        await settle_actions(pilot, app)
    await adapter.aclose()
    names = [e.get("key") or e.get("name") for e in get(link_sim, f"/deployments/{dep_id}/env")]
    assert "CLOSED_MID_SEND" in names
    records = [r for r in read_audit(tmp_path / "audit.jsonl") if isinstance(r, dict)]
    outcomes = [r["outcome"] for r in records if r["phase"] in ("outcome", "reconciled")]
    assert outcomes and outcomes[-1] in ("ok", "applied"), records


async def test_closing_the_domains_screen_while_a_domain_is_added_still_says_what_became_of_it(
    link_sim: SimServer, link: FaultProxy, tmp_path: Path
) -> None:
    from shipdeck.tui.screens.main import MainScreen

    app, adapter = console_through(link.url(link_sim.miosa), "miosa", tmp_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        told = every_notification(app)
        await loaded(pilot, app)
        dep = deployment(link_sim, "smile-dental-landing")
        assert main_screen(app).table.move_to(dep["id"])
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DomainsScreen))
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt))
        await type_text(pilot, "closed-mid-add.example.com")
        link.stall()
        await pilot.press("enter")
        await wait_for(pilot, lambda: any(i.state == "sending" for i in app.session.pending.values()))
        await wait_for(pilot, lambda: isinstance(app.screen, DomainsScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        link.restore()
        await wait_for(pilot, lambda: any("closed-mid-add.example.com" in m for m in told), timeout=40)
        await wait_for(pilot, lambda: not app.session.pending)
        await settle_actions(pilot, app)
    await adapter.aclose()
    added = [
        d
        for d in get(link_sim, f"/deployments/{dep['id']}/domains")
        if d["domain"] == "closed-mid-add.example.com"
    ]
    assert len(added) == 1
    records = [r for r in read_audit(tmp_path / "audit.jsonl") if isinstance(r, dict)]
    assert [r["outcome"] for r in records if r["phase"] in ("outcome", "reconciled")][-1] in ("ok", "applied")


async def test_sigterm_mid_change_ends_the_console_recording_it_unknown_and_saying_so(
    link_sim: SimServer, link: FaultProxy, tmp_path: Path
) -> None:
    """kill (or a closed SSH session) mid-rollback: the console died of the signal, with a bare intent line
    in the audit log. It now ends as a confirmed quit does, and names what it cut off."""
    import os
    import signal

    app, adapter = console_through(link.url(link_sim.miosa), "miosa", tmp_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot, app)
        dep = deployment(link_sim, "status-page")
        assert main_screen(app).table.move_to(dep["id"])
        await wait_for(pilot, lambda: detail_of(app) == dep["id"])
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        link.hold_answer_to(is_change)
        await pilot.press("enter")
        await wait_for(pilot, lambda: any(i.state == "sending" for i in app.session.pending.values()))
        await wait_for(pilot, lambda: bool(link.requests_matching(is_change)))
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = asyncio.get_running_loop().time() + 30
        while app.return_code is None:
            assert asyncio.get_running_loop().time() < deadline, "the console did not end on SIGTERM"
            await asyncio.sleep(0.05)
    link.release()
    await adapter.aclose()
    assert app.return_code == 128 + signal.SIGTERM
    assert len(app.cut_off) == 1 and "Roll back status-page" in app.cut_off[0], app.cut_off
    records = [r for r in read_audit(tmp_path / "audit.jsonl") if isinstance(r, dict)]
    assert [r["phase"] for r in records] == ["intent", "outcome"], records
    assert records[1]["outcome"] == "unknown"


async def test_a_console_started_after_a_run_left_a_change_open_lists_it_and_can_drop_it(
    link_sim: SimServer, link: FaultProxy, tmp_path: Path
) -> None:
    """A console reopened after its SSH session dropped mid-rollback said nothing pending and showed none
    of the changes of unknown outcome its earlier run left open."""
    from shipdeck.api.factory import make_adapter
    from shipdeck.config.audit import AuditLog
    from shipdeck.config.open_changes import OpenChanges
    from shipdeck.config.profile import Profile, Secret
    from shipdeck.live.plans import plan_rollback
    from shipdeck.live.session import ChangeSession, OutcomeStatus
    from shipdeck.tui.screens.pending import LEFT_OPEN_STATE, PendingScreen

    # The earlier run: a rollback whose answer was lost, its process gone (the entry stays open).
    url = link.url(link_sim.miosa)
    earlier = make_adapter(Profile("flaky", "miosa", url, Secret(ADMIN), environment="sandbox"), timeout=1.0)
    dep = deployment(link_sim, "marketing-site")
    async with earlier:
        session = ChangeSession(
            earlier,
            AuditLog(tmp_path / "audit.jsonl", profile="flaky", provider="miosa"),
            read_only=False,
            profile_name="flaky",
            open_changes=OpenChanges(),
        )
        session.resend_window = 0.0
        found = await earlier.get_deployment(dep["id"])
        plan = plan_rollback(found, (await earlier.list_versions(dep["id"], limit=200)).items)
        link.lose_answer_to(is_change, then_down=True)
        assert (await session.execute(plan)).status is OutcomeStatus.UNKNOWN
    link.restore()
    assert len(OpenChanges().all("flaky")) == 1

    app, adapter = console_through(url, "miosa", tmp_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot, app)
        await wait_for(pilot, lambda: "1 pending" in header_pending(app), what="the header counts it")
        await wait_for(
            pilot, lambda: any("an earlier run left with an unknown outcome" in m for m in notifications(app))
        )
        await pilot.press("exclamation_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, PendingScreen))
        table = app.screen.query_one("#pending-table")
        await wait_for(pilot, lambda: getattr(table, "row_count", 0) == 1)
        assert LEFT_OPEN_STATE in screen_text(app)
        await pilot.press("x")
        await wait_for(pilot, lambda: not app.session.left_open, what="dropped")
        await pilot.press("escape")
        await wait_for(pilot, lambda: "pending" not in header_pending(app), what="the header counts none")
    await adapter.aclose()
    assert OpenChanges().all("flaky") == []
    last = [r for r in read_audit(tmp_path / "audit.jsonl") if isinstance(r, dict)][-1]
    assert last["phase"] == "reconciled" and "dropped by the user" in last["how"], last

"""The console against broken and hostile servers: each problem is one clear notification, the header says
the data is not live, and the app keeps answering keys."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Sparkline, Static

from shipdeck.tui.app import ShipdeckApp
from shipdeck.tui.screens.dialogs import ConfirmDialog
from shipdeck.tui.screens.help import HelpScreen
from tests.api.hostile import Handler
from tests.conftest import ADMIN
from tests.reliability.conftest import console_through, every_notification, header_connection, loaded
from tests.reliability.hostile_kit import (
    BROKEN_ANSWERS,
    UNKNOWN_STATE,
    Case,
    deployments,
    is_health_figures,
    is_rollback,
    redirect_to,
    relay_except,
    rewritten,
    self_signed_listener,
    threaded,
    unreadable_figures,
)
from tests.simproc import SimServer
from tests.tui.console_host import composed, main_screen, notifications, settle_actions, wait_for

TOKEN = "msk_u_hostile_test_secret"
SIZE = (120, 40)
ROLLBACK_TARGET = "smile-dental-landing"


async def shows_problem(pilot: Pilot[int], app: ShipdeckApp, says: str) -> str:
    """Wait for the notification that says ``says``; check it is one line, tokenless, and that the header
    is not 'live' and keys still work. The notification's text."""
    await composed(pilot, app)
    await wait_for(pilot, lambda: any(says in m.lower() for m in notifications(app)), timeout=30)
    message = next(m for m in notifications(app) if says in m.lower())
    assert "\n" not in message and TOKEN not in message and "Traceback" not in message
    assert header_connection(app).split()[1] in ("offline", "stale", "reconnecting")
    await pilot.press("question_mark")
    await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), timeout=30)
    await pilot.press("escape")
    await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen), timeout=30)
    return message


async def run_against(url: str, tmp_path: Path, says: str) -> str:
    app, adapter = console_through(url, "miosa", tmp_path, token=TOKEN)
    told = every_notification(app)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        message = await shows_problem(pilot, app, says)
        # Said once, not once per retry: two more attempts fail the same way, and say nothing new.
        failures = app.live.failures
        await wait_for(pilot, lambda: app.live.failures >= failures + 2, what="two more failed attempts")
        assert sum(m == message for m in told) == 1, told
    await adapter.aclose()
    return message


@pytest.mark.parametrize("case", BROKEN_ANSWERS, ids=lambda case: case.name)
async def test_a_broken_answer_is_one_clear_notification(case: Case, tmp_path: Path) -> None:
    with threaded(case.handler) as server:
        await run_against(server.url + "/api/v1", tmp_path, case.says)


async def test_a_redirect_to_another_host_is_not_followed(tmp_path: Path) -> None:
    with threaded(deployments()) as elsewhere, threaded(redirect_to(elsewhere.url + "/steal")) as server:
        await run_against(server.url + "/api/v1", tmp_path, "does not follow redirects")
    assert elsewhere.seen == [], "the other host was called (and would have had the token)"


async def test_tls_errors_are_named(tmp_path: Path, sim: SimServer) -> None:
    await run_against(sim.miosa.replace("http://", "https://"), tmp_path, "tls")
    with self_signed_listener(tmp_path) as port:
        await run_against(f"https://127.0.0.1:{port}/api/v1", tmp_path, "self-signed certificate")


async def test_an_unknown_state_is_shown_as_it_came(tmp_path: Path) -> None:
    with threaded(deployments(UNKNOWN_STATE)) as server:
        app, adapter = console_through(server.url + "/api/v1", "miosa", tmp_path, token=TOKEN)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await composed(pilot, app)
            await wait_for(pilot, lambda: "dep_odd" in app.live.deployments)
            await wait_for(pilot, lambda: header_connection(app).startswith("● live"))
            # (This server answers the event stream with the list too: a notice about that is fair.)
            assert not [m for m in notifications(app) if "invalid" in m or "exploding" in m]
            row = app.live.deployments["dep_odd"]
            assert row.state == "exploding"
        await adapter.aclose()


@pytest.mark.parametrize(
    ("bad", "title", "says"),
    [
        # A 2xx whose body is unreadable: the server took it; only reading back can tell.
        (BROKEN_ANSWERS[0].handler, "rollback: outcome unknown", "may have been applied"),
        # A redirect: not followed (the token would go with it), but the server that sent it had the
        # request and may have acted on it first: unknown, never "not applied".
        (
            redirect_to("http://127.0.0.1:9/elsewhere"),
            "rollback: outcome unknown",
            "does not follow redirects",
        ),
    ],
    ids=["invalid JSON", "redirect"],
)
async def test_a_rollback_whose_answer_is_broken_says_so(
    tmp_path: Path, sim: SimServer, bad: Handler, title: str, says: str
) -> None:
    """Reads are the real simulator's; only the rollback's answer is broken (it never reaches the sim)."""
    with threaded(relay_except(sim, is_rollback, bad)) as server:
        app, adapter = console_through(server.url + "/api/v1", "miosa", tmp_path, token=ADMIN, deadline=5.0)
        # Reading back never shows it applied (the relay never forwards it): give up after 1 s, not 30.
        app.session.resend_window = 1.0
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await loaded(pilot, app)
            target = app.live.find(ROLLBACK_TARGET)
            assert target is not None and main_screen(app).table.move_to(target.id)
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            await pilot.press("enter")
            await settle_actions(pilot, app)
            shown = [(n.title, str(n.message)) for n in app._notifications]
            told = [(shown_title, message) for shown_title, message in shown if says in message]
            assert len(told) == 1 and told[0][0] == title, shown
            assert ADMIN not in told[0][1]
        await adapter.aclose()
    assert [r for r in server.seen if is_rollback(r)], "the rollback was never sent"


async def test_health_figures_that_are_no_numbers_are_shown_as_missing(
    tmp_path: Path, sim: SimServer
) -> None:
    """One series point's p95 of "nan" (or Infinity, or "1e999") ended the console when the Health tab
    opened: Textual's Sparkline raised 'cannot convert float NaN to integer'. The tab opens, says '-' for
    the figures no one can read and charts the points that are numbers."""
    with threaded(relay_except(sim, is_health_figures, rewritten(sim, unreadable_figures))) as server:
        app, adapter = console_through(server.url + "/api/v1", "miosa", tmp_path, token=ADMIN, deadline=5.0)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await loaded(pilot, app)
            target = app.live.find("checkout-api")
            screen = main_screen(app)
            assert target is not None and screen.table.move_to(target.id)
            screen.detail.show_tab("tab-health")
            monitor = app.live.health
            assert monitor is not None

            def read() -> bool:
                detail = monitor.detail
                return detail is not None and detail.health.deployment_id == target.id and bool(detail.routes)

            await wait_for(pilot, read, what="the Health tab's figures and routes")

            def shown(selector: str) -> str:
                return str(screen.query_one(selector, Static).render())

            await wait_for(pilot, lambda: "p50 - · p95 - · p99 -" in shown("#health-summary"), what="summary")
            await wait_for(pilot, lambda: ", p95 -" in shown("#health-lists"), what="the failing routes")
            words = " ".join(shown(s) for s in ("#health-summary", "#health-p95-title", "#health-lists"))
            assert not re.search(r"\b(nan|inf)\b", words, re.IGNORECASE), words
            assert "rpm" not in shown("#health-summary")  # absurd: not shown rather than 309 digits
            p95 = list(screen.query_one("#health-p95", Sparkline).data or [])
            assert p95 and all(math.isfinite(value) for value in p95) and max(p95) > 0
            assert app.is_running
        await adapter.aclose()

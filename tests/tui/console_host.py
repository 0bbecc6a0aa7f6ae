"""Helpers for driving the whole console against a real `shipdeck sim`, and for reading the simulator's
state back over HTTP (the tests' independent check: never the console's own view of it)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from textual import events
from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen

from shipdeck.config.console_options import ConsoleOptions
from shipdeck.config.profile import Profile, Secret
from shipdeck.config.themes import load_themes
from shipdeck.live.timing import Timing
from shipdeck.tui.app import ShipdeckApp, make_app
from shipdeck.tui.screens.main import MainScreen
from shipdeck.tui.widgets.deployments_table import DeploymentsTable
from tests.simproc import SimServer, running_sim

S = TypeVar("S", bound=Screen[Any])

EPOCH = "2026-01-01T00:00:00Z"
# The console's clock in tests: a little after the simulator's epoch, so ages render the same every run.
APP_NOW = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
ADMIN = "msk_u_demo_admin"
READONLY_TOKEN = "msk_u_demo_readonly"
# A wait's deadline only bounds a hang: a busy machine may take many times longer than an idle one.
DEADLINE = 30.0
# How often a wait looks again. pilot.pause() lets the app process what is queued; the short sleep gives
# the CPU to the simulator (a busy loop here would slow the very server the test waits for).
POLL = 0.02


@contextmanager
def console_sim(tmp_path: Path, *args: str, speed: float = 50.0) -> Iterator[SimServer]:
    """A simulator of the test's own, with the fixed epoch (and optional extra flags such as --faults)."""
    with running_sim(["--epoch", EPOCH, *args], db_path=tmp_path / "sim.db", speed=speed) as server:
        yield server


def console_options(
    sim: SimServer,
    tmp_path: Path,
    *,
    read_only: bool = False,
    token: str = ADMIN,
    environment: str = "production",
    keymap: dict[str, str] | None = None,
    theme: str | None = None,
    with_tasks: bool = False,
) -> ConsoleOptions:
    tasks = None
    if with_tasks:
        tasks = Profile("demo-tasks", "miteos", sim.miteos, Secret("mt_test_demo"), environment="sandbox")
    profile = Profile(
        "demo",
        "miosa",
        sim.miosa,
        Secret(token),
        environment=environment,  # type: ignore[arg-type]
        read_only=read_only,
        tasks=tasks,
    )
    catalog = load_themes()
    return ConsoleOptions(
        profile=profile,
        keymap=keymap or {},
        theme=theme,
        theme_specs=catalog.themes,
        theme_problems=catalog.problems,
        audit_path=tmp_path / "audit.jsonl",
    )


# Service health with a budget no test waits on (the default one, 3 requests a minute, is measured in
# bench/): every row is read at once, then again every few seconds.
TEST_TIMING = Timing(
    health_per_minute=6000,
    health_burst=500,
    health_batch_interval=5.0,
    health_watched_interval=2.0,
    health_detail_interval=2.0,
    health_settle_interval=1.0,
)


def console_app(options: ConsoleOptions, *, timing: Timing = TEST_TIMING) -> ShipdeckApp:
    return make_app(options, clock=lambda: APP_NOW, timing=timing)


def health_loaded(app: ShipdeckApp) -> bool:
    """Every listed row's error rate is read (the ERRORS column), the highlighted row's too (with the hour's
    series where the provider sends one: the Health tab's chart, the dialogs' health line)."""
    monitor = app.live.health
    screen = app.main_screen
    current = screen.table.highlighted if screen is not None else None
    return (
        monitor is not None
        and set(app.live.deployments) <= set(monitor.latest)
        and current is not None
        and current.id in monitor.latest
    )


def main_screen(app: ShipdeckApp) -> MainScreen:
    screen = app.main_screen
    assert screen is not None
    return screen


async def wait_for(
    pilot: Pilot[Any], predicate: Callable[[], object], *, timeout: float = DEADLINE, what: str = ""
) -> None:
    """Until ``predicate()`` is true (the state the test needs), the app running meanwhile."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            name = what or getattr(predicate, "__name__", "a condition")
            raise AssertionError(f"timed out after {timeout:g} s waiting for {name}")
        await pilot.pause()
        await asyncio.sleep(POLL)
    await pilot.pause()  # what made it true is painted before the test reads the screen


async def wait_for_notification(pilot: Pilot[Any], app: App[Any], text: str) -> str:
    """Until a notification containing ``text`` is shown; that notification's message."""
    await wait_for(pilot, lambda: any(text in m for m in notifications(app)), what=f"a notice {text!r}")
    return next(m for m in notifications(app) if text in m)


async def wait_for_screen(pilot: Pilot[Any], app: App[Any], kind: type[S]) -> S:
    """Until the active screen is a ``kind``; that screen."""
    await wait_for(pilot, lambda: isinstance(app.screen, kind), what=f"the {kind.__name__} screen")
    return screen_as(app, kind)


def screen_as(app: App[Any], kind: type[S]) -> S:
    """The active screen, which must be a ``kind`` (typed as one)."""
    screen = app.screen
    assert isinstance(screen, kind), f"the active screen is {screen!r}, not a {kind.__name__}"
    return screen


async def composed(pilot: Pilot[Any], app: ShipdeckApp) -> None:
    """The main screen's widgets exist (it is on the stack before they are composed)."""
    await wait_for(pilot, lambda: bool((screen := app.main_screen) and screen.query(DeploymentsTable)))


async def wait_loaded(pilot: Pilot[Any], app: ShipdeckApp) -> DeploymentsTable:
    """The deployments are listed and the highlighted one's detail is loaded."""
    await composed(pilot, app)
    table = main_screen(app).table

    pane = main_screen(app).detail

    def ready() -> bool:
        detail = app.live.detail
        current = table.highlighted
        loaded = current is not None and detail is not None and detail.deployment_id == current.id
        return loaded and pane.detail is detail  # and the pane shows it

    await wait_for(pilot, ready, what="the highlighted deployment's detail shown")
    return table


def every_notification(app: App[Any]) -> list[str]:
    """Every message the app notifies from now on, kept (the app drops a toast once it has expired)."""
    told: list[str] = []
    notify = app.notify

    def keep(message: str, *args: Any, **kwargs: Any) -> None:
        told.append(str(message))
        notify(message, *args, **kwargs)

    app.notify = keep  # type: ignore[method-assign]
    return told


# Workers that run as long as their screen does (streams, tails): never "done".
LONG_RUNNING_WORKERS = frozenset({"live", "tasks-live", "logs-tail"})


def loads_done(app: App[Any]) -> bool:
    """Every worker the app or a screen started to load or do something has finished (the long-running
    streams aside): what a screen read is in its widgets."""
    return all(w.is_finished for w in app.workers if w.group not in LONG_RUNNING_WORKERS)


async def settled(pilot: Pilot[Any], app: App[Any]) -> None:
    """Until the screen's loads are done and what they brought is painted."""
    await wait_for(pilot, lambda: loads_done(app), what="the screen's loads to finish")


def header_laid_out(app: App[Any]) -> bool:
    """The header's parts are as wide as their text: a part whose text just changed is drawn cut short
    ('10' for '10 deployments') until the next layout pass, which a busy machine can delay."""
    from rich.cells import cell_len
    from textual.widgets import Static

    from shipdeck.tui.widgets.status_header import StatusHeader

    for header in app.screen.query(StatusHeader):
        parts = [part for part in header.query(Static) if part.display and part.id != "header-spacer"]
        if sum(part.outer_size.width for part in parts) >= header.content_size.width:
            continue  # no room left: a part cut short is as wide as it will get (a narrow terminal)
        if any(part.content_size.width < cell_len(str(part.content)) for part in parts):
            return False
    return True


def steady_cursors(app: App[Any]) -> None:
    """Stop the text cursors of the screen's inputs blinking, so that a snapshot does not depend on which
    half of the blink it was taken in (Textual then keeps the cursor shown)."""
    from textual.widgets import Input, TextArea

    for widget in app.screen.query(Input):
        widget.cursor_blink = False
    for area in app.screen.query(TextArea):
        area.cursor_blink = False


def send_burst(app: App[Any], keys: list[tuple[str, str]]) -> None:
    """Keys as the terminal driver delivers a burst (laggy SSH, a paste): all queued before any runs."""
    assert app._driver is not None
    for key, character in keys:
        event = events.Key(key, character)
        event.set_sender(app)
        app._driver.send_message(event)


def notifications(app: App[Any]) -> list[str]:
    """The messages of the notifications on screen now. (Textual has no public accessor: this one helper
    reads its App._notifications, so a Textual upgrade that renames it breaks here only.)"""
    return [str(n.message) for n in app._notifications]


def titled_notifications(app: App[Any]) -> list[tuple[str, str]]:
    """(title, message) of the notifications on screen now (see :func:`notifications`)."""
    return [(str(n.title or ""), str(n.message)) for n in app._notifications]


async def confirm(pilot: Pilot[Any], app: ShipdeckApp) -> None:
    """Confirm the open ConfirmDialog the way it asks: type the name when it must be typed, enter when it
    has a reason field (a 'y' there is text), else 'y'."""
    from shipdeck.tui.screens.dialogs import ConfirmDialog

    dialog = app.screen
    assert isinstance(dialog, ConfirmDialog), dialog
    if dialog.request.require_typed is not None:
        await pilot.press(*["space" if c == " " else c for c in dialog.request.require_typed], "enter")
        if dialog.request.ask_reason:
            await pilot.press("enter")
    elif dialog.request.ask_reason:
        await pilot.press("enter")
    else:
        await pilot.press("y")


async def settle_actions(pilot: Pilot[Any], app: ShipdeckApp) -> None:
    """Every mutation the console started has finished (answered, refused, or resolved after pending)."""
    await wait_for(pilot, lambda: not [w for w in app.workers if w.group == "actions" and not w.is_finished])


class SimHttp:
    """Reads the simulator's state directly (admin token), independent of the console's client."""

    def __init__(self, sim: SimServer) -> None:
        self.sim = sim
        self.headers = {"Authorization": f"Bearer {ADMIN}"}

    def get(self, path: str) -> Any:
        response = httpx.get(self.sim.miosa + path, headers=self.headers, timeout=10)
        response.raise_for_status()
        return response.json()["data"]

    def deployment(self, name: str) -> dict[str, Any]:
        cursor = None
        while True:
            params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            response = httpx.get(self.sim.miosa + "/deployments", headers=self.headers, params=params)
            body = response.json()
            for deployment in body["data"]:
                if deployment["name"] == name:
                    return dict(deployment)
            cursor = body.get("next_cursor")
            if not cursor:
                raise AssertionError(f"no deployment {name!r} on the simulator")

    def versions(self, deployment_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/deployments/{deployment_id}/versions?limit=200"))

    def requests(self) -> list[dict[str, Any]]:
        response = httpx.get(self.sim.root + "/_sim/requests", timeout=10)
        return list(response.json()["requests"])

    def mutations(self) -> list[dict[str, Any]]:
        return [r for r in self.requests() if r["method"] in ("POST", "PUT", "PATCH", "DELETE")]


async def poll_server(check: Callable[[], bool], *, timeout: float = 15.0) -> None:
    """Wait until the simulator's own state satisfies ``check`` (read over HTTP off the event loop)."""
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        if time.monotonic() > deadline:
            raise AssertionError("the simulator never reached the expected state")
        await asyncio.sleep(0.1)

"""The logs screen's sources, filters, wrap and header, against a real `shipdeck sim`: request logs (t),
the level (e) and time (T) filters on lines already received and new ones, wrap (w), the header's badge,
name and version, and keys the provider cannot serve kept out of the footer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from shipdeck.model import Deployment
from shipdeck.tui.screens.help import help_rows
from shipdeck.tui.screens.logs import CONTINUATION, ERROR, LogsScreen
from tests.simproc import SimServer
from tests.tui.screen_host import ScreenHost, eventually, frozen_sim, get_json, profile_for, screen_text

REQUEST_ROW = re.compile(r"^(\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d (! )?(\d{3}) [A-Z]+ /")


@pytest.fixture(scope="module")
def logs_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    # Sandbox time runs 50 times faster: new requests are logged while a test watches.
    with frozen_sim(tmp_path_factory.mktemp("logs-filters-sim"), speed=50.0) as server:
        yield server


async def miosa_deployment(sim: SimServer, name: str) -> Deployment:
    for raw in (await get_json(sim, "miosa", "/deployments"))["data"]:
        if raw.get("name") == name:
            return Deployment(
                id=raw["id"],
                provider="miosa",
                name=raw["name"],
                active_version_number=raw.get("active_version_number"),
                active_version_id=raw.get("active_version_id"),
            )
    raise AssertionError(f"the demo seed has no {name}")


def host(sim: SimServer, tmp_path: Path, dep: Deployment, provider: Any = "miosa") -> ScreenHost:
    return ScreenHost(
        profile_for(sim, provider), tmp_path / "audit.jsonl", lambda a, _r: LogsScreen(a, dep, None)
    )


async def on_logs(app: ScreenHost) -> LogsScreen:
    found: LogsScreen = await eventually(
        lambda: isinstance(app.screen, LogsScreen) and app.screen.is_mounted and app.screen, what="logs"
    )
    return found


async def next_source(pilot: Pilot[Any], screen: LogsScreen) -> None:
    """t, then until the next source is on (runtime: once its instances were read and one was chosen)."""
    before = screen.source
    await pilot.press("t")
    await eventually(lambda: screen.source != before, what="the next source")


async def to_requests(pilot: Pilot[Any], screen: LogsScreen, *, min_lines: int = 20) -> None:
    for _ in range(len(screen.sources())):
        if screen.source == "requests":
            break
        await next_source(pilot, screen)
    assert screen.source == "requests"
    await eventually(lambda: len(screen.kept) >= min_lines, what="request lines")


def status_of(app: ScreenHost) -> str:
    return " ".join(screen_text(app).split())


async def test_request_logs_with_the_level_filter_on_old_and_new_lines(
    logs_sim: SimServer, tmp_path: Path
) -> None:
    dep = await miosa_deployment(logs_sim, "checkout-api")
    app = host(logs_sim, tmp_path, dep)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await on_logs(app)
        assert screen.sources() == ["deployment", "runtime", "requests"]
        await to_requests(pilot, screen)
        screen.log_view.flush()
        rows = screen.log_view.lines
        assert rows and all(REQUEST_ROW.match(row) for row in rows), rows[:3]
        assert "requests · streaming" in status_of(app)
        # Every request line is time, status, method and route, latency; 4xx and 5xx are the errors.
        failing = [k for k in screen.kept if int(REQUEST_ROW.match(k.text).group(3)) >= 400]  # type: ignore[union-attr]
        assert failing, "checkout-api's seed serves failing requests"
        assert all(k.level == ERROR for k in failing)
        await pilot.press("e")
        assert "level: warnings+errors" in status_of(app)
        await pilot.press("e")
        assert screen.level_filter == "errors"
        status = status_of(app)
        assert "level: errors" in status and f"of {len(screen.kept)} lines" in status
        before = len(screen.kept)
        # New lines arrive (sandbox time runs on): the filter keeps only the failing ones of them too.
        await eventually(lambda: len(screen.kept) > before + 5, timeout=60, what="new request lines")
        screen.log_view.flush()
        shown = screen.log_view.lines
        assert shown == screen.shown_lines()
        assert shown and all(int(REQUEST_ROW.match(row).group(3)) >= 400 for row in shown)  # type: ignore[union-attr]
        assert len(shown) < len(screen.kept)
        await pilot.press("e")
        assert screen.level_filter == "all" and "level: all" in status_of(app)
        screen.log_view.flush()
        assert len(screen.log_view.lines) == len(screen.kept)


async def test_a_source_chosen_while_runtime_instances_are_read_stays_chosen(
    logs_sim: SimServer, tmp_path: Path
) -> None:
    """On the runtime log, `i` (the next instance) starts reading the instances; `t` (to requests) before
    they answer: the late answer does not switch the screen back to runtime (seen on a busy machine: the
    request lines never came)."""
    dep = await miosa_deployment(logs_sim, "checkout-api")
    app = host(logs_sim, tmp_path, dep)
    async with app.run_test(size=(120, 40)):
        screen = await on_logs(app)
        assert screen.sources() == ["deployment", "runtime", "requests"]
        screen.action_runtime()
        await eventually(lambda: screen.source == "runtime", what="the runtime log")
        screen.action_runtime()  # the instances are being read again ...
        screen.action_next_source()  # ... and the user moves on to the requests meanwhile
        assert screen.source == "requests"
        await eventually(lambda: len(screen.kept) >= 20, what="request lines")
        assert screen.source == "requests"
        assert all(REQUEST_ROW.match(k.text) for k in screen.kept if not k.always), screen.kept[:3]


async def test_time_filter_keeps_the_lines_of_the_window(logs_sim: SimServer, tmp_path: Path) -> None:
    dep = await miosa_deployment(logs_sim, "checkout-api")
    app = host(logs_sim, tmp_path, dep)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await on_logs(app)
        await to_requests(pilot, screen, min_lines=50)
        stamps = [k.ts for k in screen.kept if k.ts is not None]
        oldest, newest = min(stamps), max(stamps)
        assert newest > oldest
        # "Now" a minute after the newest line: the last 15 minutes hold every line.
        now = newest + timedelta(minutes=1)
        app.clock = lambda: now  # type: ignore[attr-defined]
        await pilot.press("T")
        assert "time: last 1 h" in status_of(app)
        await pilot.press("T")
        assert screen.time_filter == "last 15 min" and "time: last 15 min" in status_of(app)
        assert screen.shown_count == len(screen.kept)
        # Later, the window starts between the oldest and the newest line: T again applies it to what was
        # received.
        now = oldest + timedelta(minutes=15) + (newest - oldest) / 2
        app.clock = lambda: now  # type: ignore[attr-defined]
        await pilot.press("T", "T", "T")  # all, 1 h, 15 min again
        assert screen.time_filter == "last 15 min"
        since = now - timedelta(minutes=15)
        expected = [k.text for k in screen.kept if k.ts is not None and k.ts >= since]
        assert 0 < len(expected) < len(screen.kept)
        assert screen.shown_lines()[: len(expected)] == expected
        screen.log_view.flush()
        assert screen.log_view.lines[: len(expected)] == expected


async def test_wrap_toggle_and_copy_of_a_wrapped_line(logs_sim: SimServer, tmp_path: Path) -> None:
    dep = await miosa_deployment(logs_sim, "checkout-api")
    app = host(logs_sim, tmp_path, dep)
    async with app.run_test(size=(34, 24)) as pilot:
        screen = await on_logs(app)
        await to_requests(pilot, screen, min_lines=5)
        log = screen.log_view
        log.flush()
        assert not screen.wrap and "cut" in status_of(app)
        width = log.scrollable_content_region.width
        long_rows = [row for row in log.lines if len(row) > width]
        assert long_rows, "request lines are longer than 34 columns"
        await pilot.press("w")
        assert screen.wrap
        log.flush()
        assert all(len(row) <= width for row in log.lines)
        assert any(row.startswith(CONTINUATION) for row in log.lines)
        # Joined back, the rows are the lines received (nothing lost at the cuts).
        whole = [screen.whole_line(i) for i, row in enumerate(log.lines) if not row.startswith(CONTINUATION)]
        assert whole[: len(screen.kept) - 5] == [k.text for k in screen.kept][: len(screen.kept) - 5]
        # y on a match copies the whole line, not the row it was found on.
        target = next(i for i, row in enumerate(log.lines) if row.startswith(CONTINUATION))
        log.show_line(target)
        await pilot.press("y")
        assert app.clipboard == screen.whole_line(target) and len(app.clipboard) > width
        await pilot.press("w")
        log.flush()
        assert not screen.wrap and not any(row.startswith(CONTINUATION) for row in log.lines)


async def test_header_names_deployment_environment_and_version(logs_sim: SimServer, tmp_path: Path) -> None:
    dep = await miosa_deployment(logs_sim, "checkout-api")
    app = host(logs_sim, tmp_path, dep)
    async with app.run_test(size=(120, 40)):
        screen = await on_logs(app)
        text = screen_text(app).splitlines()[0]
        assert "SANDBOX" in text and "checkout-api" in text
        assert screen.version_label in text and screen.version_label != "no active version"
        # The version live, said so: the build log shown may be of the version being built.
        assert screen.version_label.endswith(" live")
        # Help lists every key that works here, the footer's and those it leaves out for room (n, N).
        described = {row[1] for row in help_rows(app.screen, lambda _action: None)}
        assert {
            "Source",
            "Level",
            "Time",
            "Wrap",
            "Save",
            "Runtime",
            "Next match",
            "Previous match",
        } <= described


async def test_mixpeek_logs_hide_the_runtime_key_and_offer_requests_on_production(
    logs_sim: SimServer, tmp_path: Path
) -> None:
    apps = (await get_json(logs_sim, "mixpeek", ""))["results"]
    app_id = apps[0]["app_id"]
    dep = Deployment(id=f"{app_id}@production", provider="mixpeek", name="app", environment="production")
    app = host(logs_sim, tmp_path, dep, "mixpeek")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await on_logs(app)
        actions = {active.binding.action for active in screen.active_bindings.values()}
        assert "runtime" not in actions and "switch_source" not in actions
        assert {"next_source", "level_filter", "time_filter", "toggle_wrap", "save"} <= actions
        assert screen.sources() == ["deployment", "requests"]
        await to_requests(pilot, screen, min_lines=3)
        assert all(REQUEST_ROW.match(k.text) for k in screen.kept)


async def test_a_line_batch_after_the_screen_closed_is_dropped(logs_sim: SimServer, tmp_path: Path) -> None:
    """A batch that reaches the screen after it was popped (its tail was between two lines) must not end in
    "No nodes match '#logs-log'": without the screen's guard this raises NoMatches."""
    dep = await miosa_deployment(logs_sim, "checkout-api")
    app = host(logs_sim, tmp_path, dep)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await on_logs(app)
        await to_requests(pilot, screen, min_lines=3)
        batch = list(screen.kept[:3])
        app.pop_screen()
        await eventually(lambda: not screen.is_attached, what="the screen to be gone")
        kept = len(screen.kept)
        screen.receive(batch)
        assert len(screen.kept) == kept  # dropped, not kept for a screen that is gone
        assert app.is_running

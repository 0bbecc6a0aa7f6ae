"""The console's health: the ERRORS column, errors-first sorting and the Health tab, against a real sim."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from textual.widgets import Sparkline, Static

from shipdeck.model import Health
from shipdeck.model.service_health import format_rate, health_level
from shipdeck.tui.screens.dialogs import ConfirmDialog
from shipdeck.tui.widgets.deployments_table import column_widths, errors_cell
from shipdeck.tui.widgets.health_view import chart_data, marks_line
from shipdeck.tui.widgets.versions_table import VersionsTable
from tests.api.hostile import SeenRequest, Writer, hostile_server, response
from tests.reliability.hostile_kit import relay_except
from tests.tui.console_host import (
    console_app,
    console_options,
    console_sim,
    main_screen,
    wait_for,
    wait_loaded,
)


def test_the_errors_cell_says_it_in_words_and_fits_80_columns() -> None:
    widths = column_widths(79)
    assert sum(widths) + 5 == 79 and widths[3] >= 16
    assert errors_cell(0.124, [0.003, 0.12, 0.124], 16) == "12.4% ▂██ ⚠ high"
    assert errors_cell(0.03, [0.03], 16).endswith("⚠ warn")
    assert "⚠" not in errors_cell(0.003, [0.003], 16)
    assert errors_cell(None, [], 16) == "-"


async def test_errors_first_key_and_health_tab(tmp_path: Path) -> None:
    with console_sim(tmp_path, speed=5.0) as sim:
        app = console_app(console_options(sim, tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            table = await wait_loaded(pilot, app)
            monitor = app.live.health
            assert monitor is not None
            await wait_for(pilot, lambda: set(app.live.deployments) <= set(monitor.latest))
            assert table.highlighted is not None and table.highlighted.name != "checkout-api"
            await pilot.press("s")
            await wait_for(pilot, lambda: table.highlighted is not None)
            # The failed rows first (billing-api's build failed: no error rate, it sank to the bottom),
            # then the highest error rate: checkout-api.
            rows = [table._rows[i] for i in table.visible_ids]
            failed = [d.name for d in rows if d.health is Health.FAILED]
            assert [d.name for d in rows[: len(failed)]] == failed and "billing-api" in failed
            first = rows[len(failed)]
            assert first.name == "checkout-api"
            rates = [monitor.error_rate(d.id) for d in rows[len(failed) :]]
            known = [r for r in rates if r is not None]
            assert known == sorted(known, reverse=True)
            await pilot.press("s")
            names = [table._rows[i].name.lower() for i in table.visible_ids]
            assert names == sorted(names)

            table.move_to(first.id)
            screen = main_screen(app)
            # The detail (routes, failing requests) is read only while the Health tab is open.
            screen.detail.show_tab("tab-health")
            await wait_for(
                pilot,
                lambda: monitor.detail is not None and monitor.detail.health.deployment_id == first.id,
            )

            def summary() -> str:
                return str(screen.query_one("#health-summary", Static).render())

            await wait_for(pilot, lambda: "errors ⚠ high" in summary(), what="the Health tab's summary")
            assert "p95" in summary()
            chart = screen.query_one("#health-errors", Sparkline)
            assert len(list(chart.data or [])) == 60 and max(chart.data or [0]) >= 0.05
            marks = str(screen.query_one("#health-marks", Static).render())
            assert "^" in marks and "v5 went live" in marks
            lists = str(screen.query_one("#health-lists", Static).render())
            assert "/api/checkout" in lists and "latest failing requests" in lists
            assert "top failing routes (last hour)" in lists  # what the routes' figures cover
            await pilot.press("h")

            def title() -> str:
                return str(screen.query_one("#health-errors-title", Static).render())

            # Until the 24 hours are read the chart says it still draws the hour (it said "last 24 h" over
            # the hour's series for a minute).
            assert title().startswith("error rate, last hour; 24 h: reading…"), title()
            await wait_for(pilot, lambda: monitor.detail is not None and monitor.detail_span == "24h")
            await wait_for(
                pilot, lambda: monitor.detail is not None and len(monitor.detail.health.series) == 96
            )
            await wait_for(
                pilot, lambda: title().startswith("error rate, last 24 h ("), what="the 24 h title"
            )


def test_a_chart_never_gets_a_figure_it_cannot_draw() -> None:
    """Textual's Sparkline raises ValueError on NaN (and draws nothing sane of an infinity): the api's
    parsing lets none through, and the chart's data holds 0 in their place whatever reaches it."""
    assert chart_data([None, float("nan"), float("inf"), -float("inf"), 2.5]) == [0.0, 0.0, 0.0, 0.0, 2.5]


def test_version_marks_land_under_their_time() -> None:
    from datetime import UTC, datetime, timedelta

    from shipdeck.model.service_health import HealthPoint, VersionChange

    start = datetime(2026, 1, 1, tzinfo=UTC)
    points = [HealthPoint(at=start + timedelta(minutes=n)) for n in range(61)]
    line = marks_line(points, [VersionChange(at=start + timedelta(minutes=30), version_number=5)], 60)
    assert line.index("^") == 30 and "v5 went live 00:30" in line
    assert marks_line(points, [], 60) == ""


async def test_after_a_rollback_the_row_says_how_its_error_rate_moves(tmp_path: Path) -> None:
    """checkout-api's v5 fails ~12% of requests, v4 before it ~0.3%: after `r` and Enter in the console,
    the detail's last-change line says the rollback and how the error rate moves, and it ends 'falling'
    (traffic moves to v4 over about a minute of sandbox time: 3 s here at --speed 20)."""
    with console_sim(tmp_path, speed=20.0) as sim:
        app = console_app(console_options(sim, tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            table = await wait_loaded(pilot, app)
            monitor = app.live.health
            assert monitor is not None
            checkout = next(d for d in table.visible_rows if d.name == "checkout-api")
            table.move_to(checkout.id)
            await wait_for(pilot, lambda: (monitor.error_rate(checkout.id) or 0) >= 0.05, what="v5's errors")
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the rollback dialog")
            await pilot.press("enter")
            screen = main_screen(app)
            line = screen.detail.query_one("#versions-change", Static)

            def change_line() -> str:
                return str(line.render()) if line.display else ""

            # The movement starts with the request; the 'rolled back' part once the answer is in.
            await wait_for(
                pilot,
                lambda: "rolled back" in change_line() and "; errors " in change_line(),
                what="the rollback and its movement line",
            )
            await wait_for(pilot, lambda: change_line().endswith(", falling"), what="the error rate falling")
            moving = monitor.movement(checkout.id)
            assert moving is not None and moving.before is not None and moving.before >= 0.05
            assert moving.latest is not None and moving.latest < 0.8 * moving.before

            # Promote offered right after on the version just rolled back from (the Versions cursor starts
            # on the newest): the dialog says that v5 failed its users when it was last live.
            await pilot.press("v")
            versions = screen.detail.query_one(VersionsTable)
            await wait_for(pilot, lambda: versions.row_count > 1, what="the versions")
            selected = screen.detail.selected_version
            assert selected is not None and selected.number == 5, selected
            # The same on the Health tab's 24 h view (its quarter-hour points hid v5's failing minutes).
            await pilot.press("h")
            await wait_for(
                pilot,
                lambda: monitor.detail is not None and len(monitor.detail.health.series) == 96,
                what="the 24 h detail",
            )
            await pilot.press("P")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the promote dialog")
            dialog = "\n".join(str(w.render()) for w in app.screen.query(".confirm-warning").results(Static))
            assert "v5 failed its users when it was last live" in dialog, dialog
            await pilot.press("escape")
            # Figures read a while ago say so: "live 38 s" read as current a minute after that read.
            monitor.read_age = lambda _dep_id: 75.0  # type: ignore[method-assign,assignment]
            await wait_for(pilot, lambda: app.screen is screen, what="back on the list")
            await pilot.press("P")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the promote dialog")
            lines = app.screen.request.lines  # type: ignore[attr-defined]
            assert any(line.endswith("(figures read 75 s ago)") for line in lines), lines
            await pilot.press("escape")


async def test_the_health_tab_never_says_none_failing_before_it_read_the_routes() -> None:
    """Until its routes and failing requests are read, the tab says so: "none: no route is failing" under
    13% errors read as a reassurance. And the figures say when they were read."""
    from datetime import UTC, datetime, timedelta

    from textual.app import App, ComposeResult
    from textual.widgets import Static

    from shipdeck.model.service_health import HealthDetail, ServiceHealth
    from shipdeck.tui.widgets.health_view import NOT_READ_YET, HealthView

    as_of = datetime(2026, 12, 3, 10, 13, 42, tzinfo=UTC)

    class HealthApp(App[None]):
        def compose(self) -> ComposeResult:
            yield HealthView(clock=lambda: as_of + timedelta(seconds=5))

    health = ServiceHealth(
        deployment_id="d", provider="miosa", error_rate=0.131, p95_ms=844, window_s=30, as_of=as_of
    )
    app = HealthApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(HealthView)
        view.show(HealthDetail(health=health), lists_read=False)
        await pilot.pause()
        lists = str(view.query_one("#health-lists", Static).render())
        assert lists == NOT_READ_YET and "none" not in lists
        assert "(last 30 s, as of 10:13:42)" in str(view.query_one("#health-summary", Static).render())
        view.clock = lambda: as_of + timedelta(days=3)  # the same reading, three days on: not "last 30 s"
        view.show(HealthDetail(health=health), lists_read=False)
        await pilot.pause()
        assert "(30 s ending 3 d ago, stale)" in str(view.query_one("#health-summary", Static).render())
        view.show(HealthDetail(health=health))  # read, and empty: now "none" is what the server said
        await pilot.pause()
        assert "none: no route is failing" in str(view.query_one("#health-lists", Static).render())


def test_a_stage_an_ended_run_never_reached_is_not_called_pending() -> None:
    """A failed build's later stages read "◐ pending", the mark of a stage in progress."""
    from datetime import UTC, datetime

    from shipdeck.model import PipelineRun, PipelineStage
    from shipdeck.tui.widgets.detail_pane import pipeline_text

    started = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    stages = [
        PipelineStage(name="building", state="failed", started_at=started, finished_at=started),
        PipelineStage(name="ready", state="pending"),
    ]
    failed = PipelineRun(id="bld_1", deployment_id="dep_1", status="failed", stages=stages)
    text = pipeline_text([failed], started).plain
    assert "not reached" in text and "pending" not in text, text
    running = failed.model_copy(update={"status": "building"})
    assert "◐ pending" in pipeline_text([running], started).plain


async def test_figures_whose_read_failed_are_shown_as_stale_not_as_current(tmp_path: Path) -> None:
    """The observability endpoint failing while the list works: a failed read kept the last figures on
    screen as if current, and nothing said so. The row says ``stale`` (with its mark when over the
    threshold), the Health tab why; the next good read makes them current again."""
    failing = False

    def is_health(request: SeenRequest) -> bool:
        return failing and "/observability" in request.path

    async def unavailable(request: SeenRequest, writer: Writer) -> None:
        writer.write(response(500, b'{"error": {"message": "metrics store down"}}'))

    with console_sim(tmp_path, speed=5.0) as sim:
        async with hostile_server(relay_except(sim, is_health, unavailable)) as relay:
            options = console_options(sim, tmp_path)
            options = replace(options, profile=replace(options.profile, base_url=relay.url + "/api/v1"))
            app = console_app(options)
            async with app.run_test(size=(120, 40)) as pilot:
                table = await wait_loaded(pilot, app)
                monitor = app.live.health
                assert monitor is not None
                # checkout-api: over the threshold (its v5 fails 12% of requests in the demo data).
                row = next(d for d in app.live.deployments.values() if d.name == "checkout-api")
                assert table.move_to(row.id)
                await wait_for(pilot, lambda: app.live.watched == row.id, what="checkout-api watched")
                screen = main_screen(app)
                summary = screen.detail.query_one("#health-summary", Static)
                await wait_for(pilot, lambda: monitor.row_figures(row.id) is not None, what="figures")
                before = monitor.row_figures(row.id)
                assert before is not None and not before.stale
                assert health_level(before.rate) == "critical", before
                line = table.visible_ids.index(row.id) - int(table.scroll_y) + 1  # under the header line

                def cell() -> str:
                    return table.render_line(line).text

                assert "stale" not in cell()
                failing = True
                monitor.refresh_watched()
                await wait_for(pilot, lambda: "stale" in cell(), what="the row said to be stale")
                # A stale figure over the threshold keeps its mark (it read as a muted, healthy row).
                assert f"{format_rate(before.rate):>5} stale ⚠" in cell()
                screen.detail.show_tab("tab-health")
                await wait_for(pilot, lambda: "health read failed" in str(summary.render()))
                assert "metrics store down" in str(summary.render())
                assert "these figures are from before" in str(summary.render())
                failing = False
                monitor.refresh_watched()
                await wait_for(pilot, lambda: "stale" not in cell(), what="the figures current again")
                await wait_for(pilot, lambda: "health read failed" not in str(summary.render()))

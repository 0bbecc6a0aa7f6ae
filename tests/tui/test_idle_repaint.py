"""An idle console repaints nothing: the once-a-second tick repaints a table row only when its AGE text
changes, and the header and the detail pane only when their text does (bench/idle.py measures the CPU and
the bytes written to a terminal; here only what is repainted is counted, on a fake clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.strip import Strip
from textual.widgets import Static

from shipdeck.live.timing import Timing
from shipdeck.model import Deployment
from shipdeck.tui.themes import THEME_VARIABLE_DEFAULTS
from shipdeck.tui.widgets.deployments_table import DeploymentsTable
from shipdeck.tui.widgets.status_header import StatusHeader
from tests.simproc import SimServer
from tests.tui.console_host import APP_NOW, console_options, main_screen, wait_for, wait_loaded

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def deployment(index: int, age: timedelta) -> Deployment:
    return Deployment(
        id=f"dep_{index:06d}",
        provider="miosa",
        name=f"app-{index:06d}",
        state="running",
        active_version_number=1,
        created_at=NOW - age,
    )


def count_row_paints(table: DeploymentsTable) -> list[str]:
    """The name of each row painted from now on (the header line and blank lines are not counted)."""
    painted: list[str] = []
    render_line = table.render_line

    def counted(y: int) -> Strip:
        strip = render_line(y)
        index = int(table.scroll_y) + y - 1
        if y > 0 and index < table.row_count:
            painted.append(table.visible_rows[index].name)
        return strip

    table.render_line = counted  # type: ignore[method-assign]
    return painted


async def test_a_tick_repaints_only_the_rows_whose_age_text_changed() -> None:
    clock = Clock(NOW)

    class TableApp(App[None]):
        def compose(self) -> ComposeResult:
            yield DeploymentsTable(clock=clock, id="table")

    app = TableApp()
    async with app.run_test(size=(80, 14)) as pilot:
        table = app.query_one(DeploymentsTable)
        # Nine rows aged 3h and up (their text changes once an hour), one at 59 s (it reads "1m" a second
        # later, then not again for a minute).
        rows = [deployment(i, timedelta(hours=3, minutes=i)) for i in range(1, 10)]
        rows.append(deployment(10, timedelta(seconds=59)))
        table.replace_all(rows)
        await pilot.pause()
        painted = count_row_paints(table)
        lines = 0
        for _ in range(30):
            clock.now += timedelta(seconds=1)
            lines += table.tick()
            await pilot.pause()
        assert lines == 1
        assert painted == ["app-000010"]
        assert "1m" in table.render_line(table.visible_ids.index("dep_000010") + 1).text
        painted.clear()
        # An hour on, every row's text changed: each is repainted once.
        clock.now += timedelta(hours=1)
        assert table.tick() == 10
        await pilot.pause()
        assert sorted(painted) == sorted(f"app-{i:06d}" for i in range(1, 11))


async def test_an_idle_console_repaints_neither_table_nor_header_on_its_ticks(
    sim: SimServer, tmp_path: Path
) -> None:
    from shipdeck.tui.app import make_app

    clock = Clock(APP_NOW)
    # No health reads: they change figures (and so repaint rows and spend the budget) in the background;
    # this test is about ticks that change nothing.
    no_health = Timing(health_per_minute=0, health_burst=0, health_start=0)
    app = make_app(console_options(sim, tmp_path), clock=clock, timing=no_health)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await wait_loaded(pilot, app)
        screen = main_screen(app)
        header = screen.query_one(StatusHeader)
        # Each field's text as the tick found it, then each update (the budget may refill meanwhile: a
        # change of text is repainted, the same text never is).
        updates: list[tuple[str, str]] = []

        def count_updates(widget: Static) -> None:
            update = widget.update
            updates.append((widget.id or "", str(widget.content)))

            def counted(content: Any = "", **kwargs: Any) -> None:
                updates.append((widget.id or "", str(content)))
                update(content, **kwargs)

            widget.update = counted  # type: ignore[method-assign]

        for widget in [*header.query(Static), screen.detail.query_one("#versions-change", Static)]:
            count_updates(widget)
        as_found = len(updates)
        # Rows the server changed meanwhile (the background fill of version numbers) are repainted: those
        # only, once each.
        changed: set[str] = set()
        app.live.subscribe(lambda batch: changed.update(batch.changed))
        # A batch published before the subscription may still be on its way to the table (a message):
        # let it land before paints are counted, or its rows count as repainted by the ticks.
        await pilot.pause()
        await pilot.pause()
        painted = count_row_paints(table)
        # Ten ticks, a second apart on the console's clock, that change no text (the sim's deployments are
        # minutes old: a tenth of a second more does not change "5m"). What is live stays live.
        for _ in range(10):
            clock.now += timedelta(milliseconds=100)
            screen.tick()
            await pilot.pause()
        names = {dep.name for dep in table.visible_rows if dep.id in changed}
        assert set(painted) <= names and len(painted) <= len(names), (painted, names)
        last: dict[str, str] = {}
        for field, text in updates:
            assert last.get(field) != text, f"{field} repainted with the same text {text!r}"
            last[field] = text
        # What did change meanwhile is the world's doing, not the ticks': the budget refills as real time
        # passes (more of it on a busy machine), and the stream may report on its health. Nothing else.
        moved = updates[as_found:]
        assert {field for field, _ in moved} <= {"header-budget", "header-connection"}, moved


async def test_the_detail_pane_shown_again_unchanged_updates_none_of_its_lines(
    sim: SimServer, tmp_path: Path
) -> None:
    """Every batch of events about the deployment shown shows the detail pane again (ten a second in a
    busy tail). Each of its lines set again with the same text laid the whole screen out: 15 layouts a
    batch, and the tail's key latency doubled (bench/tail.py)."""
    from shipdeck.tui.app import make_app

    app = make_app(console_options(sim, tmp_path), clock=Clock(APP_NOW))
    async with app.run_test(size=(120, 40)) as pilot:
        table = await wait_loaded(pilot, app)
        screen = main_screen(app)
        await wait_for(pilot, lambda: app.live.detail is not None, what="the detail of the first row")
        screen.detail.show(table.highlighted, app.live.detail)
        screen.show_health()
        await pilot.pause()
        updates: list[str] = []
        for widget in screen.detail.query(Static):
            update = widget.update

            def counted(
                content: Any = "", *, _update: Any = update, _id: str = widget.id or "", **kw: Any
            ) -> None:
                updates.append(_id)
                _update(content, **kw)

            widget.update = counted  # type: ignore[method-assign]
        # Shown again: what changed since the last time is set (health read meanwhile, say), then, with
        # nothing in between that could change anything, twice more: nothing at all.
        screen.detail.show(table.highlighted, app.live.detail)
        screen.show_health()
        updates.clear()
        for _ in range(2):
            screen.detail.show(table.highlighted, app.live.detail)
            screen.show_health()
        assert updates == [], f"lines set again with the text they show: {sorted(set(updates))}"


async def test_a_list_shown_again_with_the_same_rows_repaints_nothing() -> None:
    """The detail is read again every minute; its Versions, Domains and Env lists were shown anew each
    time, and every line of them (the header too) went to the terminal unchanged (bench/idle.py)."""
    from shipdeck.model import EnvVar
    from shipdeck.tui.widgets.detail_pane import EnvList

    class ListApp(App[None]):
        def compose(self) -> ComposeResult:
            yield EnvList(id="env")

    app = ListApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(EnvList)
        rows = [EnvVar(name=f"VAR_{i}", preview="••••") for i in range(5)]
        table.show_rows(rows, empty="no environment variables")
        await pilot.pause()
        painted: list[int] = []
        render_line = table.render_line

        def counted(y: int) -> Strip:
            painted.append(y)
            return render_line(y)

        table.render_line = counted  # type: ignore[method-assign]
        for _ in range(3):
            table.show_rows([row.model_copy() for row in rows], empty="no environment variables")
            await pilot.pause()
        assert painted == []
        table.show_rows(
            [*rows[:4], EnvVar(name="VAR_4", preview="changed")], empty="no environment variables"
        )
        await pilot.pause()
        assert painted, "a changed row was not repainted"


async def test_the_versions_shown_again_still_move_their_marker_and_their_ages() -> None:
    """Rows the same, the table repaints nothing; but the active marker (after a rollback the same versions
    are listed) and an AGE text that the clock moved must still reach the screen."""
    from shipdeck.model import Version
    from shipdeck.tui.widgets.versions_table import VersionsTable

    clock = Clock(NOW)

    class VersionsApp(App[None]):
        def compose(self) -> ComposeResult:
            yield VersionsTable(clock=clock, id="versions")

    versions = [
        Version(
            id=f"ver_{n}",
            deployment_id="dep_1",
            number=n,
            state="ready",
            created_at=NOW - timedelta(minutes=n),
        )
        for n in (1, 2)
    ]
    app = VersionsApp()
    async with app.run_test(size=(80, 6)) as pilot:
        table = app.query_one(VersionsTable)
        table.show_versions(versions, active="ver_2", keep_cursor=True)
        await pilot.pause()

        def line_of(number: int) -> str:
            return table.render_line(1 + [v.number for v in table.rows].index(number)).text

        assert line_of(2).startswith("▶") and not line_of(1).startswith("▶")
        painted: list[int] = []
        render_line = table.render_line

        def counted(y: int) -> Strip:
            painted.append(y)
            return render_line(y)

        table.render_line = counted  # type: ignore[method-assign]
        table.show_versions(versions, active="ver_2", keep_cursor=True)
        await pilot.pause()
        assert painted == []  # nothing moved: nothing repainted
        table.show_versions(versions, active="ver_1", keep_cursor=True)  # rolled back: the same list
        await pilot.pause()
        assert painted and line_of(1).startswith("▶")
        painted.clear()
        clock.now += timedelta(hours=2)  # "1m" is now "2h": the next show repaints it
        table.show_versions(versions, active="ver_1", keep_cursor=True)
        await pilot.pause()
        assert painted and "2h" in line_of(1)


async def test_a_header_part_of_the_same_width_is_repainted_without_a_layout_of_the_screen() -> None:
    """A loading 50,000-row account changed the header's count on every page ("loading 1,200…", "loading
    1,400…"), and each change laid out the whole screen. Same width: repaint only; new width: layout."""

    class HeaderApp(App[None]):
        def compose(self) -> ComposeResult:
            yield StatusHeader(profile="p", provider="miosa", environment="sandbox", read_only=False)

        def get_theme_variable_defaults(self) -> dict[str, str]:
            return dict(THEME_VARIABLE_DEFAULTS)  # the badges' colours, as the console's App defines them

    app = HeaderApp()
    async with app.run_test(size=(120, 3)) as pilot:
        header = app.query_one(StatusHeader)
        count = header.query_one("#header-count", Static)
        layouts: list[tuple[str, bool]] = []
        update = count.update

        def counted(content: Any = "", *, layout: bool = True) -> None:
            layouts.append((str(content), layout))
            update(content, layout=layout)

        count.update = counted  # type: ignore[method-assign]
        for total in (1_200, 1_400, 9_800, 10_000, 10_200):
            header.show_count(total, total, loading=True)
            await pilot.pause()
        header.show_count(10_200, 10_200, loading=False)
        await pilot.pause()
        assert layouts == [
            ("loading 1,200…", True),  # the first paint of the part
            ("loading 1,400…", False),
            ("loading 9,800…", False),
            ("loading 10,000…", True),  # one cell wider
            ("loading 10,200…", False),
            ("10,200 deployments", True),
        ]
        # What is on screen is the new text at its full width, not the old one's.
        assert count.content_region.width == len("10,200 deployments")
        assert str(count.render()) == "10,200 deployments"

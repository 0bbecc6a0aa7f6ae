"""The virtual deployments table: order, in-place updates, filter, cursor, literal text, and correct at
50,000 rows. How fast it is at 50,000 is measured in bench/table.py (no test times anything)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from textual.app import App, ComposeResult

from shipdeck.model import Deployment
from shipdeck.model.service_health import RowFigures
from shipdeck.tui.widgets.deployments_table import DeploymentsTable, column_widths, fit, name_cell

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def deployment(index: int, *, name: str | None = None, state: str = "running") -> Deployment:
    return Deployment(
        id=f"dep_{index:06d}",
        provider="miosa",
        name=name or f"app-{index:06d}",
        state=state,
        active_version_number=index % 7,
        url=f"https://app-{index}.example.test",
        created_at=NOW - timedelta(minutes=index),
    )


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield DeploymentsTable(clock=lambda: NOW, id="table")


def screen_text(app: App[Any]) -> str:
    table = app.query_one(DeploymentsTable)
    return "\n".join(table.render_line(y).text for y in range(table.size.height))


async def test_rows_sorted_by_name_and_updated_in_place() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 12)) as pilot:
        table = app.query_one(DeploymentsTable)
        table.replace_all([deployment(2, name="zeta"), deployment(1, name="Alpha"), deployment(3, name="m")])
        await pilot.pause()
        assert [d.name for d in table.visible_rows] == ["Alpha", "m", "zeta"]
        await pilot.press("down")
        assert table.highlighted is not None and table.highlighted.name == "m"
        # An update of the highlighted row keeps the cursor on it, even when its name moves it.
        table.upsert([deployment(3, name="aaa-first", state="failed")])
        await pilot.pause()
        assert table.highlighted is not None and table.highlighted.id == "dep_000003"
        assert table.visible_ids[0] == "dep_000003"
        assert "✖ failed" in screen_text(app)
        table.remove_rows(["dep_000003"])
        await pilot.pause()
        assert table.row_count == 2


async def test_filter_is_a_case_insensitive_substring_and_says_when_nothing_matches() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 12)) as pilot:
        table = app.query_one(DeploymentsTable)
        table.replace_all([deployment(1, name="smile-dental-landing"), deployment(2, name="api-gateway")])
        table.set_filter("DENTAL")
        await pilot.pause()
        assert [d.name for d in table.visible_rows] == ["smile-dental-landing"]
        table.set_filter("nothing-like-this")
        await pilot.pause()
        assert "no deployment matches 'nothing-like-this'" in screen_text(app)
        # Typed from what the NAME column writes ("Storefront (production)", or "(prod)" cut short).
        both = [
            deployment(n, name="Storefront").model_copy(update={"environment": env})
            for n, env in ((3, "production"), (4, "staging"))
        ]
        table.replace_all(both)
        for typed in ("storefront (prod", "Storefront (production)", "front (stg)"):
            table.set_filter(typed)
            await pilot.pause()
            assert [d.environment for d in table.visible_rows] == (
                ["staging"] if "stg" in typed else ["production"]
            ), typed


async def test_server_text_is_literal_and_control_characters_never_reach_the_terminal() -> None:
    app = TableApp()
    async with app.run_test(size=(100, 6)) as pilot:
        table = app.query_one(DeploymentsTable)
        table.replace_all([deployment(1, name="[bold red]evil\x1b[2J", state="[blink]odd")])
        await pilot.pause()
        text = screen_text(app)
        assert "[bold red]evil?[2J" in text
        assert "? [blink]odd" in text  # unknown state: '?' symbol and the word as sent
        assert "\x1b" not in text


def test_columns_fill_the_width_and_cut_with_an_ellipsis() -> None:
    # 79: an 80-column terminal less the scrollbar, the narrowest the columns' minimums fit.
    for width in (79, 80, 120, 200):
        assert sum(column_widths(width)) + 5 == width
    assert fit("https://very-long.example.test", 10) == "https://v…"
    assert fit("ok", 4) == "ok  "


async def test_fifty_thousand_rows_paint_and_filter() -> None:
    rows = [deployment(i) for i in range(50_000)]
    app = TableApp()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(DeploymentsTable)
        table.replace_all(rows)
        await pilot.pause()
        assert table.row_count == 50_000
        assert "app-000000" in screen_text(app)

        table.set_filter("app-04999")
        assert table.row_count == 10  # app-049990 .. app-049999
        await pilot.press("end")
        assert table.highlighted is not None and table.highlighted.name == "app-049999"


async def test_fifty_thousand_rows_arriving_page_by_page_stay_sorted() -> None:
    rows = [deployment(i) for i in range(50_000)]
    rows.reverse()  # the worst order for insertion
    app = TableApp()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(DeploymentsTable)
        table.replace_all(rows[:200])
        for start in range(200, len(rows), 200):
            table.upsert(rows[start : start + 200])
        await pilot.pause()
        assert table.row_count == 50_000
        names = [d.name for d in table.visible_rows[:3]]
        assert names == ["app-000000", "app-000001", "app-000002"]


async def test_the_cursor_stays_on_its_deployment_while_pages_sort_in_above_it() -> None:
    announced: list[str | None] = []

    class Host(TableApp):
        def on_deployments_table_highlighted(self, message: DeploymentsTable.Highlighted) -> None:
            announced.append(message.deployment.id if message.deployment else None)

    app = Host()
    async with app.run_test(size=(80, 12)) as pilot:
        table = app.query_one(DeploymentsTable)
        # The first page holds the names that sort last; the pages after it sort in above them.
        table.replace_all([deployment(i, name=f"z-{i:04d}") for i in range(200)])
        await pilot.pause()
        first = table.highlighted
        assert first is not None and first.name == "z-0000"
        for page in range(3):
            table.upsert(deployment(1000 + page * 200 + i, name=f"a-{page}-{i:04d}") for i in range(200))
            table.upsert([deployment(1999, name=f"b-{page}")])  # one row at a time, too
            await pilot.pause()
            assert table.highlighted is not None and table.highlighted.id == first.id
        assert table.visible_ids.index(first.id) == 601
        await pilot.pause()
        # The detail pane was told once which deployment is highlighted, never again while pages arrived.
        assert announced == [first.id]


async def test_a_snapshot_of_mostly_the_same_rows_reads_only_the_rows_that_changed() -> None:
    """The snapshot that ends a paged load holds every row, the last pages' too: the rows already in the
    table are not indexed and ranked again (each row's health is asked once, when it arrives)."""
    asked: list[str] = []

    def health(key: str) -> RowFigures | None:
        asked.append(key)
        return RowFigures(0.5, []) if key == "dep_000007" else None

    rows = [deployment(i) for i in range(1000)]
    app = TableApp()
    async with app.run_test(size=(80, 12)) as pilot:
        table = app.query_one(DeploymentsTable)
        table.health_source = health
        table.set_unhealthy_first(True)  # ranking asks each row for its health
        table.replace_all(rows[:990])
        await pilot.pause()
        await pilot.press("down", "down")
        on = table.highlighted
        assert on is not None
        asked.clear()
        renamed = deployment(5, name="aaa-renamed")
        snapshot = [*rows[:5], renamed, *rows[6:500], *rows[501:]]  # one renamed, one gone, 10 new
        changed = table.replace_all(snapshot)
        assert sorted(asked) == sorted(["dep_000005", *(f"dep_{i:06d}" for i in range(990, 1000))])
        assert changed == set(asked)
        expected = ["dep_000007", "dep_000005"] + [
            f"dep_{i:06d}" for i in range(1000) if i not in (5, 7, 500)
        ]
        assert table.visible_ids == expected
        assert table.highlighted is on  # the cursor stayed on its deployment
        assert table.row("dep_000500") is None


async def test_a_row_re_ranked_by_an_update_moves_at_once() -> None:
    rates: dict[str, float] = {}
    app = TableApp()
    async with app.run_test(size=(80, 12)) as pilot:
        table = app.query_one(DeploymentsTable)
        table.health_source = lambda key: RowFigures(rates[key], []) if key in rates else None
        table.replace_all([deployment(i) for i in range(50)])
        table.set_unhealthy_first(True)
        await pilot.pause()
        rates["dep_000030"] = 0.2
        table.upsert([deployment(30, state="failed")])  # same name: its place in the name order stays
        assert table.visible_ids[0] == "dep_000030"


async def test_erasing_the_filter_after_a_row_changed_shows_the_row_as_it_is_now() -> None:
    """Filter results are kept to answer erasing without a pass over every row: a row whose text changed
    (or that arrived) in between is matched anew."""
    app = TableApp()
    async with app.run_test(size=(80, 12)):
        table = app.query_one(DeploymentsTable)
        table.replace_all([deployment(i) for i in range(300)])
        table.set_filter("app-00012")
        table.set_filter("app-000123")
        assert table.visible_ids == ["dep_000123"]
        moved = deployment(7).model_copy(update={"url": "https://app-000125.example.test"})
        table.upsert([moved])  # now matches 'app-00012', in the same place of the order
        table.set_filter("app-00012")
        assert "dep_000007" in table.visible_ids
        table.set_filter("app-000123")
        table.upsert([deployment(400, name="app-0001234")])  # a new row, placed in the order
        table.set_filter("app-00012")
        assert "dep_000400" in table.visible_ids and "dep_000007" in table.visible_ids


async def test_rows_on_screen_are_repainted_when_a_page_arrives_elsewhere() -> None:
    """A page of rows sorting in below the lines on screen (most pages of a big load) repaints no line, so
    the lines on screen are repainted only for what changed in them: a row updated in the same update, rows
    that moved into them."""
    app = TableApp()
    async with app.run_test(size=(80, 12)) as pilot:
        table = app.query_one(DeploymentsTable)
        table.replace_all([deployment(i) for i in range(300)])
        await pilot.pause()
        table.upsert(deployment(1000 + i) for i in range(200))  # app-0010xx: after the rows on screen
        await pilot.pause()
        assert table.row_count == 500 and "app-000001" in app.export_screenshot()
        table.upsert([deployment(2, state="failed"), *(deployment(2000 + i) for i in range(50))])
        await pilot.pause()
        assert "failed" in app.export_screenshot()  # (the SVG writes spaces as &#160;)
        table.upsert([deployment(3000, name="aaa-first")])  # above every row on screen
        await pilot.pause()
        assert "aaa-first" in app.export_screenshot()
        table.remove_rows(["dep_003000"])
        await pilot.pause()
        assert "aaa-first" not in app.export_screenshot()


def test_a_cut_name_keeps_what_tells_an_apps_rows_apart() -> None:
    def named(name: str, environment: str | None = None) -> Deployment:
        return Deployment(id="d", provider="mixpeek", name=name, environment=environment)

    assert name_cell(named("Docs Portal", "production"), 30) == "Docs Portal (production)".ljust(30)
    assert name_cell(named("Docs Portal", "production"), 20) == "Docs P… (production)"
    assert name_cell(named("Docs Portal", "production"), 14) == "Docs P… (prod)"
    assert name_cell(named("Docs Portal", "staging"), 14) == "Doc… (staging)"
    assert name_cell(named("ws_docs_portal / netlify"), 18) == "ws_docs… / netlify"
    assert name_cell(named("ws_edge_api / cloudflare"), 14) == "ws_… / cloudf…"
    assert name_cell(named("analytics-worker"), 14) == "analytics-wor…"
    for width in range(0, 30):
        for dep in (named("Docs Portal", "production"), named("ws_edge_api / cloudflare"), named("x")):
            assert len(name_cell(dep, width)) == width


def test_without_request_metrics_the_errors_column_gives_its_room_to_the_names() -> None:
    with_errors, without = column_widths(80), column_widths(80, errors=False)
    assert without[3] == len("ERRORS") < with_errors[3]
    assert without[1] > with_errors[1] and sum(without) == sum(with_errors)


async def test_a_filter_that_hides_the_highlighted_row_highlights_the_first_match() -> None:
    """`/status-page` with the cursor seven rows down highlighted the third of three matches (the cursor
    kept its place on screen), and `r` then rolled back whichever that was. The first match now; a row
    that still matches keeps the cursor."""
    names = ["api", "billing", "cart", "docs", "edge", "status-page", "status-page-eu", "status-page-us"]
    names.append("web")
    app = TableApp()
    async with app.run_test(size=(80, 14)) as pilot:
        table = app.query_one(DeploymentsTable)
        table.replace_all([deployment(i, name=name) for i, name in enumerate(names)])
        await pilot.pause()
        table.move_to("dep_000008")  # web: not a match
        table.set_filter("status-page")
        await pilot.pause()
        assert [d.name for d in table.visible_rows] == ["status-page", "status-page-eu", "status-page-us"]
        assert table.highlighted is not None and table.highlighted.name == "status-page"
        table.move_to("dep_000007")  # status-page-us
        table.set_filter("status-page-")  # still a match: the cursor stays on it
        await pilot.pause()
        assert table.highlighted is not None and table.highlighted.name == "status-page-us"
        table.set_filter("")
        await pilot.pause()
        assert table.highlighted is not None and table.highlighted.name == "status-page-us"

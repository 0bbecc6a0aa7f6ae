#!/usr/bin/env python
"""Table: the deployments table widget alone, with 50,000 rows (no simulator, no network).

Figures (headless 120x40, medians of ``--runs`` runs; the tests check the same cases for correctness only):

- all 50,000 rows replaced at once, to the first paint (< 1 s);
- a filter keystroke over 50,000 rows (< 50 ms);
- 50,000 rows arriving 200 at a time in the worst order (each page sorts before the rows already there)
  (< 5 s in all).
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import SCREEN_SIZE, Result, bench_arguments, finish, latency_target, median, ms  # noqa: E402

from shipdeck.model import Deployment  # noqa: E402

COUNT = 50_000
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def deployment(index: int) -> Deployment:
    return Deployment(
        id=f"dep_{index:06d}",
        provider="miosa",
        name=f"app-{index:06d}",
        state="running",
        active_version_number=index % 7,
        url=f"https://app-{index}.example.test",
        created_at=NOW - timedelta(minutes=index),
    )


async def one_run(rows: list[Deployment]) -> tuple[float, float, float]:
    from textual.app import App, ComposeResult

    from shipdeck.tui.widgets.deployments_table import DeploymentsTable

    class TableApp(App[None]):
        def compose(self) -> ComposeResult:
            yield DeploymentsTable(clock=lambda: NOW, id="table")

    app = TableApp()
    async with app.run_test(size=SCREEN_SIZE) as pilot:
        table = app.query_one(DeploymentsTable)
        started = time.perf_counter()
        table.replace_all(rows)
        await pilot.pause()
        first_paint = time.perf_counter() - started
        assert table.row_count == COUNT

        started = time.perf_counter()
        table.set_filter("app-04999")
        filter_time = time.perf_counter() - started
        assert table.row_count == 10

        table.set_filter("")
        backwards = list(reversed(rows))
        started = time.perf_counter()
        table.replace_all(backwards[:200])
        for start in range(200, len(backwards), 200):
            table.upsert(backwards[start : start + 200])
        paged = time.perf_counter() - started
        assert [d.name for d in table.visible_rows[:2]] == ["app-000000", "app-000001"]
    return first_paint, filter_time, paged


def main() -> int:
    parser = bench_arguments(__doc__ or "")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows = [deployment(i) for i in range(COUNT)]
    runs = [asyncio.run(one_run(rows)) for _ in range(args.runs)]
    first_paint = median([r[0] for r in runs])
    filter_time = median([r[1] for r in runs])
    paged = median([r[2] for r in runs])
    paint_target, filter_target, paged_target = (latency_target(t) for t in (1.0, 0.05, 5.0))
    results = [
        Result(
            "table 50k: replace all -> first paint",
            f"< {ms(paint_target)}",
            ms(first_paint),
            first_paint < paint_target,
        ),
        Result(
            "table 50k: filter keystroke",
            f"< {ms(filter_target)}",
            ms(filter_time),
            filter_time < filter_target,
        ),
        Result(
            "table 50k: 250 pages upserted, worst order",
            f"< {paged_target:g} s",
            f"{paged:.2f} s",
            paged < paged_target,
        ),
    ]
    return finish(results, args.json)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Scale: the console on ``--seed scale:50000`` (50,000 deployments, paged in 200 at a time).

Figures (headless 120x40, terminal encoding included, keys delivered as the terminal driver does):

- first rows painted after the first page arrives (< 1 s);
- key -> screen while the other pages load (the cursor moves; the UI must stay responsive);
- a filter keystroke re-rendered (p95 < 50 ms), once all 50,000 are loaded;
- a page scrolled (page down: p95 < 16 ms);
- resident memory of the console process (this one) once all 50,000 are loaded (< 300 MB).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    SCREEN_SIZE,
    FrameProbe,
    Result,
    bench_arguments,
    console_options,
    finish,
    isolate_user_dirs,
    key_to_screen,
    median,
    ms,
    percentile,
    rss_mb,
    simulator,
    wait_until,
)

COUNT = 50_000
FIRST_PAINT_TARGET = 1.0
FILTER_P95_TARGET = 0.050
SCROLL_P95_TARGET = 0.016
RSS_TARGET_MB = 300
# Typed into the filter, then erased, several times: narrowing and widening over 50,000 rows.
FILTER_TEXT = "app-0123"
FILTER_ROUNDS = 4
SCROLL_PAGES = 60


def summary(values: list[float]) -> str:
    return f"median {ms(median(values))}, p95 {ms(percentile(values, 0.95))}, max {ms(max(values))}"


async def run(count: int) -> list[Result]:
    from shipdeck.tui.app import make_app

    home = isolate_user_dirs()
    print(f"scale: seeding {count} deployments…")
    with simulator(f"scale:{count}", args=["--rate-limit", "100000"]) as server:
        app = make_app(console_options(server, home))
        probe = FrameProbe(app)
        first_page: list[float] = []
        original_list = app.adapter.list_deployments

        async def list_deployments(*args: Any, **kwargs: Any) -> Any:
            page = await original_list(*args, **kwargs)
            first_page.append(time.monotonic())
            return page

        app.adapter.list_deployments = list_deployments  # type: ignore[method-assign]
        async with app.run_test(size=SCREEN_SIZE) as pilot:
            await wait_until(lambda: app.main_screen is not None, timeout=30, what="the main screen")
            main = app.main_screen
            assert main is not None
            table = main.table
            painted_rows: list[float] = []
            original_render = table.render_lines

            def render_lines(crop: Any) -> Any:
                if table.row_count and not painted_rows:
                    painted_rows.append(time.monotonic())
                return original_render(crop)

            table.render_lines = render_lines  # type: ignore[method-assign]
            probe.watch_renders(table)
            probe.mark_after(table, "watch_cursor")
            probe.mark_after(table, "set_filter")
            await wait_until(lambda: painted_rows, timeout=60, what="the first rows")
            first_frame = await probe.first_frame_after(painted_rows[0])
            first_paint = first_frame - first_page[0]

            # While the rest pages in: move the cursor down and up, one key every 50 ms.
            loading: list[float] = []
            down = True
            while app.live.pages_loading:
                key = "down" if down else "up"
                loading.append(await key_to_screen(app, probe, key, mark="watch_cursor", widget=table))
                down = not down
                await asyncio.sleep(0.05)
            load_seconds = time.monotonic() - first_page[0]
            await wait_until(lambda: table.total_count >= count, timeout=60, what="all rows in the table")
            await pilot.pause(0.5)
            rss = rss_mb()

            await pilot.press("slash")
            filtering: list[float] = []
            for _ in range(FILTER_ROUNDS):
                for character in FILTER_TEXT:
                    filtering.append(
                        await key_to_screen(app, probe, character, mark="set_filter", widget=table)
                    )
                    await asyncio.sleep(0.03)
                for _ in FILTER_TEXT:
                    filtering.append(
                        await key_to_screen(app, probe, "backspace", mark="set_filter", widget=table)
                    )
                    await asyncio.sleep(0.03)
            await pilot.press("enter")
            await pilot.pause(0.2)

            scrolling: list[float] = []
            waits: list[float] = []  # from the cursor moving to the table being rendered
            for page in range(SCROLL_PAGES):
                key = "pagedown" if page < SCROLL_PAGES // 2 else "pageup"
                pressed = time.monotonic()
                scrolling.append(await key_to_screen(app, probe, key, mark="watch_cursor", widget=table))
                moved = next(t for t in probe.marks["watch_cursor"] if t >= pressed)
                waits.append(next(t for t in probe.renders[id(table)] if t >= moved) - moved)
                await asyncio.sleep(0.03)

    print(
        f"scale: first page answered, first rows painted {ms(first_paint)} later; all {count} loaded "
        f"{load_seconds:.1f} s after the first page"
    )
    print(f"scale: key -> screen while loading ({len(loading)} keys): {summary(loading)}")
    print(f"scale: filter keystroke -> screen ({len(filtering)} keys): {summary(filtering)}")
    print(f"scale: page down/up -> screen ({len(scrolling)} keys, 30 ms apart): {summary(scrolling)}")
    print(
        f"scale: of which waiting for Textual's next screen update (at most 60 a second) after the cursor "
        f"moved: {summary(waits)}"
    )
    print(f"scale: resident memory with {count} deployments loaded: {rss:.0f} MB")
    filter_p95 = percentile(filtering, 0.95)
    scroll_p95 = percentile(scrolling, 0.95)
    return [
        Result(
            f"scale {count // 1000}k: first rows after first page",
            f"< {FIRST_PAINT_TARGET * 1000:.0f} ms",
            ms(first_paint),
            first_paint < FIRST_PAINT_TARGET,
        ),
        Result(
            f"scale {count // 1000}k: key -> screen while loading (p95)",
            "responsive (< 100 ms)",
            f"{ms(percentile(loading, 0.95))} over {len(loading)} keys, load {load_seconds:.1f} s",
            percentile(loading, 0.95) < 0.100,
        ),
        Result(
            f"scale {count // 1000}k: filter keystroke (p95)",
            f"< {FILTER_P95_TARGET * 1000:.0f} ms",
            ms(filter_p95),
            filter_p95 < FILTER_P95_TARGET,
        ),
        Result(
            f"scale {count // 1000}k: scroll a page (p95)",
            f"< {SCROLL_P95_TARGET * 1000:.0f} ms",
            ms(scroll_p95),
            scroll_p95 < SCROLL_P95_TARGET,
        ),
        Result(
            f"scale {count // 1000}k: resident memory, all loaded",
            f"< {RSS_TARGET_MB} MB",
            f"{rss:.0f} MB",
            rss < RSS_TARGET_MB,
        ),
    ]


def main() -> int:
    parser = bench_arguments(__doc__ or "")
    parser.add_argument("--count", type=int, default=COUNT, help=f"deployments (default {COUNT})")
    args = parser.parse_args()
    return finish(asyncio.run(run(args.count)), args.json)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Fleet scale: the fleet overview on 5 profiles of 10,000 deployments each (one sandbox seeded with
``--seed scale:10000``, five profiles on it: 50,000 rows in one table), against the targets of one profile
of 50,000 (bench/scale.py).

Figures (headless 120x40, keys delivered as the terminal driver does):

- every profile's 10,000 rows in the table: how long after the start (the profiles page in in parallel);
- key -> screen while they load (the UI must stay responsive);
- a filter keystroke re-rendered (p95 < 50 ms) and a page scrolled (key -> screen p95 < 25 ms), all 50,000
  loaded;
- resident memory of the console once all are loaded (< 250 MB, as for one profile of 50,000: issue 19).
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import replace
from pathlib import Path

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
    latency_target,
    ms,
    percentile,
    rss_mb,
    simulator,
    wait_until,
)

PROFILES = 5
COUNT = 10_000
LOADING_P95_TARGET = latency_target(0.100)
FILTER_P95_TARGET = latency_target(0.050)
SCROLL_P95_TARGET = latency_target(0.025)
RSS_TARGET_MB = 250
FILTER_TEXT = "app-0123"
FILTER_ROUNDS = 4
SCROLL_PAGES = 60


async def run(profiles: int, count: int) -> list[Result]:
    from shipdeck.tui.app import ShipdeckApp
    from shipdeck.tui.screens.fleet import FleetScreen
    from shipdeck.tui.widgets.fleet_table import FleetTable

    home = isolate_user_dirs()
    total = profiles * count
    print(f"fleet: seeding {count} deployments, {profiles} profiles on them…")
    with simulator(f"scale:{count}", args=["--rate-limit", "1000000"]) as server:
        base = console_options(server, home)
        fleet = tuple(replace(base.profile, name=f"account-{n}") for n in range(profiles))
        app = ShipdeckApp(replace(base, profile=fleet[0], profiles=fleet, start_fleet=True))
        probe = FrameProbe(app)
        started = time.monotonic()
        async with app.run_test(size=SCREEN_SIZE) as pilot:
            await wait_until(lambda: isinstance(app.screen, FleetScreen), timeout=30, what="the fleet")
            table = app.screen.query_one(FleetTable)
            probe.watch_renders(table)
            probe.mark_after(table, "watch_cursor")
            probe.mark_after(table, "set_filter")
            await wait_until(lambda: table.total_count > 0, timeout=60, what="the first rows")
            first_rows = time.monotonic() - started
            loading: list[float] = []
            down = True
            while table.total_count < total:
                key = "down" if down else "up"
                loading.append(await key_to_screen(app, probe, key, mark="watch_cursor", widget=table))
                down = not down
                await asyncio.sleep(0.05)
                if time.monotonic() - started > 300:
                    raise SystemExit(f"fleet: only {table.total_count} of {total} rows after 300 s")
            load_seconds = time.monotonic() - started
            await pilot.pause(0.5)
            rss = rss_mb()
            await pilot.press("slash")
            filtering: list[float] = []
            for _ in range(FILTER_ROUNDS):
                for key in [*FILTER_TEXT, *["backspace"] * len(FILTER_TEXT)]:
                    filtering.append(await key_to_screen(app, probe, key, mark="set_filter", widget=table))
                    await asyncio.sleep(0.03)
            await pilot.press("enter")
            await pilot.pause(0.2)
            scrolling: list[float] = []
            for page in range(SCROLL_PAGES):
                key = "pagedown" if page < SCROLL_PAGES // 2 else "pageup"
                scrolling.append(await key_to_screen(app, probe, key, mark="watch_cursor", widget=table))
                await asyncio.sleep(0.03)
    print(f"fleet: first rows {ms(first_rows)} after the start; all {total} in {load_seconds:.1f} s")
    loading_p95 = percentile(loading, 0.95) if loading else 0.0
    filter_p95, scroll_p95 = percentile(filtering, 0.95), percentile(scrolling, 0.95)
    name = f"fleet {profiles}x{count // 1000}k"
    return [
        Result(f"{name}: all rows loaded", "(figure)", f"{load_seconds:.1f} s", True),
        Result(
            f"{name}: key -> screen while loading (p95)",
            f"responsive (< {ms(LOADING_P95_TARGET)})",
            f"{ms(loading_p95)} over {len(loading)} keys",
            loading_p95 < LOADING_P95_TARGET,
        ),
        Result(
            f"{name}: filter keystroke (p95)",
            f"< {ms(FILTER_P95_TARGET)}",
            ms(filter_p95),
            filter_p95 < FILTER_P95_TARGET,
        ),
        Result(
            f"{name}: page scroll key -> screen (p95)",
            f"< {ms(SCROLL_P95_TARGET)}",
            ms(scroll_p95),
            scroll_p95 < SCROLL_P95_TARGET,
        ),
        Result(
            f"{name}: resident memory, all loaded",
            f"< {RSS_TARGET_MB} MB",
            f"{rss:.0f} MB",
            rss < RSS_TARGET_MB,
        ),
    ]


def main() -> int:
    parser = bench_arguments(__doc__ or "")
    parser.add_argument("--profiles", type=int, default=PROFILES, help=f"profiles (default {PROFILES})")
    parser.add_argument("--count", type=int, default=COUNT, help=f"deployments each (default {COUNT})")
    args = parser.parse_args()
    return finish(asyncio.run(run(args.profiles, args.count)), args.json)


if __name__ == "__main__":
    sys.exit(main())

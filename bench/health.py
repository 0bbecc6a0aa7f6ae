#!/usr/bin/env python
"""Health across 50,000 deployments: the live state reads service health for a scale-seeded account
(``--seed scale:N``, default 50,000 Miosa deployments) for --seconds (default 180) after the list loaded.

Figures:

- health requests a minute, counted server-side (``/_sim/requests``: observability, routes, request-logs);
  target: the monitor's rate (3 a minute, 5% of the Free tier) plus what its bucket may hold when the window
  opens (its burst, spread over the window);
- the rows on screen all have health within 120 s of the first screen: as many rows as the real console
  shows at 120x40 (counted in the same run), told with ``show()`` when the first page is in, as the
  console's first tick does. With the Free tier's
  budget (3 a minute after a start allowance of 16, one row a request: no vendor reads health for many
  deployments at once) a screenful is covered by the first batch after the start allowance;
- health never blocks: the longest gap of a 10 ms ticker while batches run over 50,000 rows, compared with
  the same live state without health (its own stalls: GC, paging); target: under 100 ms (a frame at
  10 fps) more than without.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    ADMIN_TOKEN,
    SCREEN_SIZE,
    Result,
    bench_arguments,
    console_options,
    finish,
    isolate_user_dirs,
    latency_target,
    ms,
    percentile,
    sim_requests,
    simulator,
    wait_until,
)

HEALTH_PATHS = ("/observability", "/routes", "/request-logs")
STALL_TARGET = latency_target(0.100)
COVER_SECONDS = 120.0


async def rows_on_screen(server: Any, home: Path) -> int:
    """How many rows the console's table shows at 120x40 (what `show()` is told each tick)."""
    from shipdeck.tui.app import make_app

    app = make_app(console_options(server, home))
    async with app.run_test(size=SCREEN_SIZE):
        await wait_until(lambda: app.main_screen is not None, timeout=60, what="the main screen")
        main = app.main_screen
        assert main is not None
        await wait_until(lambda: main.table.highlighted is not None, timeout=120, what="the first rows")
        return len(main.table.window_ids())


async def measure(
    server_url: str, seconds: float, sim: object, *, read_health: bool, shown_rows: int
) -> dict[str, float]:
    from shipdeck.api.factory import make_adapter
    from shipdeck.config.profile import Profile, Secret
    from shipdeck.live.state import LiveState

    adapter = make_adapter(Profile("bench", "miosa", server_url, Secret(ADMIN_TOKEN), environment="sandbox"))
    live = LiveState(adapter, read_health=read_health)
    task = asyncio.create_task(live.run())
    monitor = live.health
    while not live.deployments:
        await asyncio.sleep(0.05)
    # The first screen, told as the console's first tick tells it (before the rest of the pages arrive):
    # the rows the user sees and the one the cursor is on.
    shown = sorted(live.deployments)[:shown_rows]
    if monitor is not None:
        monitor.show(shown)
    live.watch(shown[0])
    shown_at = time.monotonic()
    covered_at: float | None = None

    def check_covered() -> None:
        nonlocal covered_at
        if monitor is not None and covered_at is None and all(d in monitor.latest for d in shown):
            covered_at = time.monotonic() - shown_at

    while live.pages_loading:
        await asyncio.sleep(0.05)
        check_covered()
    # From here, after the load: the requests a minute and the event loop's stalls.
    started = time.monotonic()
    first_seq = max((r["seq"] for r in sim_requests(sim)), default=0)  # type: ignore[arg-type]
    gaps: list[float] = []
    last = time.monotonic()
    while time.monotonic() - started < seconds:
        await asyncio.sleep(0.01)
        now = time.monotonic()
        gaps.append(now - last - 0.01)
        last = now
        check_covered()
    elapsed = time.monotonic() - started
    served = [
        r
        for r in sim_requests(sim, first_seq)  # type: ignore[arg-type]
        if any(path in r["path"] for path in HEALTH_PATHS)
    ]
    budget = monitor.per_minute() if monitor is not None else 0
    # What the bucket may hold when the window opens (its burst), spread over the window: a short window
    # that opens on a full bucket may spend that much on top of the rate.
    slack = monitor.timing.health_burst * 60.0 / elapsed if monitor is not None else 0
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await adapter.aclose()
    return {
        "rows": float(len(live.deployments)),
        "per_minute": len(served) * 60.0 / elapsed,
        "budget": float(budget),
        "slack": float(slack),
        "covered_at": covered_at if covered_at is not None else -1.0,
        "with_health": float(len(monitor.latest) if monitor is not None else 0),
        "max_gap": max(gaps),
        "p99_gap": percentile(gaps, 0.99),
    }


def main() -> int:
    parser = bench_arguments(__doc__ or "")
    parser.add_argument("--deployments", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=180.0)
    args = parser.parse_args()
    home = isolate_user_dirs()
    with simulator(f"scale:{args.deployments}", args=["--rate-limit", "600"], timeout=600) as server:
        shown = asyncio.run(rows_on_screen(server, home))
        # The same run without health first: what the live state stalls anyway (paging, GC), to compare.
        base = asyncio.run(
            measure(server.miosa, args.seconds / 2, server, read_health=False, shown_rows=shown)
        )
        figures = asyncio.run(measure(server.miosa, args.seconds, server, read_health=True, shown_rows=shown))
    limit = figures["budget"] + figures["slack"]
    results = [
        Result(
            f"health requests a minute ({figures['rows']:.0f} rows)",
            f"<= {limit:.1f} (3/min + the bucket's burst over the window)",
            f"{figures['per_minute']:.1f}",
            figures["per_minute"] <= limit,
            note=f"{figures['with_health']:.0f} rows had health after {args.seconds:.0f} s",
        ),
        Result(
            f"the {shown} rows on screen at 120x40 have health",
            f"within {COVER_SECONDS:.0f} s",
            f"{figures['covered_at']:.1f} s" if figures["covered_at"] >= 0 else "never",
            0 <= figures["covered_at"] <= COVER_SECONDS,
        ),
        Result(
            "event loop stall while reading health",
            f"longest < {ms(STALL_TARGET)} more than without",
            f"longest {ms(figures['max_gap'])} (without: {ms(base['max_gap'])}),"
            f" p99 {ms(figures['p99_gap'])}",
            figures["max_gap"] < base["max_gap"] + STALL_TARGET,
        ),
    ]
    return finish(results, args.json)


if __name__ == "__main__":
    sys.exit(main())

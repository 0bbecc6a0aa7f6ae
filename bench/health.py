#!/usr/bin/env python
"""Health across 50,000 deployments: the live state reads service health for a scale-seeded account
(``--seed scale:N``, default 50,000 Miosa deployments) for --seconds (default 180) after the list loaded.

Figures:

- health requests a minute, counted server-side (``/_sim/requests``: observability, routes, request-logs);
  target: within HEALTH_SHARE (5%) of the announced rate limit, plus one batch of slack for the window's
  edges;
- the rows on screen (the first 30, told with ``show()`` as the console does every tick) all have health
  within two batches (30 rows, 18 a batch at the sandbox's 600 a minute);
- health never blocks: the longest gap of a 10 ms ticker while batches run over 50,000 rows, compared with
  the same live state without health (its own stalls: GC, paging); target: under 100 ms (a frame at
  10 fps) more than without.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    ADMIN_TOKEN,
    Result,
    bench_arguments,
    finish,
    isolate_user_dirs,
    latency_target,
    ms,
    percentile,
    sim_requests,
    simulator,
)

HEALTH_PATHS = ("/observability", "/routes", "/request-logs")
SHOWN = 30
STALL_TARGET = latency_target(0.100)
COVER_BATCHES = 2  # 30 rows, 18 a batch (30 a minute less the watched row's detail)


async def measure(server_url: str, seconds: float, sim: object, *, read_health: bool) -> dict[str, float]:
    from shipdeck.api.factory import make_adapter
    from shipdeck.config.profile import Profile, Secret
    from shipdeck.live.state import LiveState

    adapter = make_adapter(Profile("bench", "miosa", server_url, Secret(ADMIN_TOKEN), environment="sandbox"))
    live = LiveState(adapter, read_health=read_health)
    task = asyncio.create_task(live.run())
    monitor = live.health
    while live.pages_loading or not live.deployments:
        await asyncio.sleep(0.2)
    shown = sorted(live.deployments)[:SHOWN]
    if monitor is not None:
        monitor.show(shown)
    live.watch(shown[0])
    started = time.monotonic()
    first_seq = max((r["seq"] for r in sim_requests(sim)), default=0)  # type: ignore[arg-type]
    gaps: list[float] = []
    last = time.monotonic()
    covered_at: float | None = None
    while time.monotonic() - started < seconds:
        await asyncio.sleep(0.01)
        now = time.monotonic()
        gaps.append(now - last - 0.01)
        last = now
        if monitor is not None and covered_at is None and all(d in monitor.latest for d in shown):
            covered_at = now - started
    elapsed = time.monotonic() - started
    served = [
        r
        for r in sim_requests(sim, first_seq)  # type: ignore[arg-type]
        if any(path in r["path"] for path in HEALTH_PATHS)
    ]
    budget = monitor.per_minute() if monitor is not None else 0
    slack = monitor.batch_size() if monitor is not None else 0
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
    isolate_user_dirs()
    with simulator(f"scale:{args.deployments}", args=["--rate-limit", "600"], timeout=600) as server:
        # The same run without health first: what the live state stalls anyway (paging, GC), to compare.
        base = asyncio.run(measure(server.miosa, args.seconds / 2, server, read_health=False))
        figures = asyncio.run(measure(server.miosa, args.seconds, server, read_health=True))
    limit = figures["budget"] + figures["slack"]
    results = [
        Result(
            f"health requests a minute ({figures['rows']:.0f} rows)",
            f"<= {limit:.0f} (5% of the limit + a batch)",
            f"{figures['per_minute']:.1f}",
            figures["per_minute"] <= limit,
            note=f"{figures['with_health']:.0f} rows had health after {args.seconds:.0f} s",
        ),
        Result(
            f"the {SHOWN} rows on screen have health",
            f"within {COVER_BATCHES} batches ({COVER_BATCHES * 60} s)",
            f"{figures['covered_at']:.1f} s" if figures["covered_at"] >= 0 else "never",
            0 <= figures["covered_at"] <= COVER_BATCHES * 60 + 5,
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

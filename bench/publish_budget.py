#!/usr/bin/env python
"""API budget of one publish watched from the console to its end (issue target: at most 30 requests on
Miosa).

The console (headless, real sandbox on loopback, real event stream) opens on the demo account with the
published deployment selected; a publish plan is executed through the console's own session, and the
console is watched until the new version is ready and live, as the user would. Requests are counted by the
simulator itself (``/_sim/requests``) from the publish to the end, by path.
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
    Result,
    bench_arguments,
    console_options,
    finish,
    isolate_user_dirs,
    sim_requests,
    simulator,
    wait_until,
)

TARGET = 30
DEPLOYMENT = "smile-dental-landing"


async def watch_publish(speed: float) -> dict[str, Any]:
    from shipdeck.live.plans import plan_publish
    from shipdeck.model import PublishRequest
    from shipdeck.tui.app import make_app

    home = isolate_user_dirs()
    with simulator("demo", speed=speed) as server:
        app = make_app(console_options(server, home))
        async with app.run_test(size=SCREEN_SIZE) as pilot:
            await wait_until(lambda: app.live.find(DEPLOYMENT) is not None, timeout=60, what="the list")
            dep = app.live.find(DEPLOYMENT)
            main = app.main_screen
            assert dep is not None and main is not None
            await wait_until(lambda: main.table.row(dep.id) is not None, timeout=60, what="the row")
            main.table.move_to(dep.id)
            await wait_until(
                lambda: app.live.detail is not None and app.live.detail.deployment_id == dep.id,
                timeout=60,
                what="the detail",
            )
            # The start's own reads are over: the health monitor's first screenful (read once the screen has
            # said what it shows) is the console's start-up, not the publish's cost.
            monitor = app.live.health
            await wait_until(
                lambda: monitor is None or bool(monitor.latest) or monitor.unavailable is not None,
                timeout=60,
                what="the first health reads",
            )
            await pilot.pause(0.5)
            since = max((r["seq"] for r in sim_requests(server)), default=0)
            started = time.monotonic()
            request = PublishRequest(source_sandbox_id="sbx_bench_1")
            known = app.live.detail.versions if app.live.detail is not None else None
            plan = plan_publish(dep, request, app.adapter.capabilities, versions=known or [])
            outcome = await app.session.execute(plan)
            version = outcome.result.version

            def live() -> bool:
                current = app.live.deployments.get(dep.id)
                return current is not None and current.active_version_id == version.id

            await wait_until(live, timeout=300, what="the new version live", step=0.05)
            elapsed = time.monotonic() - started
        await asyncio.sleep(0.5)
        served = [r for r in sim_requests(server, since) if r["token_kind"] == "admin"]
    paths: dict[str, int] = {}
    for row in served:
        key = f"{row['method']} {row['path']}"
        paths[key] = paths.get(key, 0) + 1
    return {"requests": len(served), "seconds": elapsed, "by_path": paths}


def main() -> int:
    parser = bench_arguments(__doc__ or "")
    parser.add_argument("--speed", type=float, default=5.0, help="simulated time speed (default 5)")
    args = parser.parse_args()
    run = asyncio.run(watch_publish(args.speed))
    top = dict(sorted(run["by_path"].items(), key=lambda item: -item[1])[:8])
    print(f"publish watched to live: {run['requests']} requests in {run['seconds']:.1f} s; top {top}")
    results = [
        Result(
            "budget: one publish watched to its end (Miosa)",
            f"<= {TARGET} requests",
            f"{run['requests']} requests",
            run["requests"] <= TARGET,
        )
    ]
    return finish(results, args.json)


if __name__ == "__main__":
    sys.exit(main())

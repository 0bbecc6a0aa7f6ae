#!/usr/bin/env python
"""API budget: the console watching the demo account, idle, for --minutes (default 10).

Two runs, side by side (one subprocess each, own simulator, own console):

- streams up: the push stream connects; target: under 10 % of the Free tier (60 requests a minute) on
  average over the run;
- streams down: a wiretap in front of the simulator answers every event-stream request with 503; the
  console must fall back to reading with backoff; target: no 60-second window over 50 % of the Free tier.

Requests are counted server-side (the simulator's ``/_sim/requests``) plus, with streams down, the stream
requests the wiretap refused (they never reach the simulator but would count against a real account).
The wiretap timestamps every request, which gives the per-minute windows.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
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
)
from wiretap import wiretap  # noqa: E402

FREE_TIER_PER_MINUTE = 60
UP_TARGET = 0.10
DOWN_TARGET = 0.50
STREAM_PATH = "/events/stream"


def busiest_minute(times: list[float]) -> int:
    """The most requests in any 60-second window."""
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 60.0:
            start += 1
        best = max(best, end - start + 1)
    return best


async def watch(mode: str, minutes: float) -> dict[str, Any]:
    """Run the console idle for ``minutes``; what it asked of the server."""
    from shipdeck.tui.app import make_app

    home = isolate_user_dirs()
    refuse = STREAM_PATH if mode == "down" else None
    with simulator("demo") as server, wiretap(server.port, refuse=refuse) as tap:
        options = console_options(server, home, miosa_url=tap.url(server.miosa))
        app = make_app(options)
        started = time.monotonic()
        async with app.run_test(size=SCREEN_SIZE) as pilot:
            deadline = started + minutes * 60
            while time.monotonic() < deadline:
                await pilot.pause(min(5.0, max(0.0, deadline - time.monotonic())))
            connection = str(app.live.connection)
        # The app has closed its stream: the simulator has logged every request by now.
        await asyncio.sleep(0.5)
        served = [r for r in sim_requests(server) if r["token_kind"] == "admin"]
        tapped_requests = [(at, method, path) for at, method, path in tap.requests if at >= started]
    refused = [r for r in tapped_requests if refuse and refuse in r[2]]
    elapsed = time.monotonic() - started
    paths: dict[str, int] = {}
    for _, method, path in tapped_requests:
        key = f"{method} {path.split('?')[0]}"
        paths[key] = paths.get(key, 0) + 1
    return {
        "mode": mode,
        "minutes": elapsed / 60,
        "served": len(served),
        "refused": len(refused),
        "total": len(served) + len(refused),
        "tapped": len(tapped_requests),
        "busiest_minute": busiest_minute([at for at, _, _ in tapped_requests]),
        "connection_at_end": connection,
        "by_path": dict(sorted(paths.items(), key=lambda item: -item[1])[:8]),
    }


def describe(run: dict[str, Any]) -> str:
    per_minute = run["total"] / run["minutes"]
    return (
        f"streams {run['mode']}: {run['total']} requests in {run['minutes']:.1f} min "
        f"({run['served']} served by the simulator, {run['refused']} stream requests refused at the tap; "
        f"the tap saw {run['tapped']}), {per_minute:.1f}/min = {per_minute / FREE_TIER_PER_MINUTE:.1%} of "
        f"the Free tier; busiest minute {run['busiest_minute']}; connection at the end: "
        f"{run['connection_at_end']}; top requests {run['by_path']}"
    )


def results_of(up: dict[str, Any], down: dict[str, Any]) -> list[Result]:
    up_share = up["total"] / up["minutes"] / FREE_TIER_PER_MINUTE
    down_share = down["busiest_minute"] / FREE_TIER_PER_MINUTE
    return [
        Result(
            f"budget: idle {up['minutes']:.0f} min, streams up (average)",
            f"< {UP_TARGET:.0%} of 60/min",
            f"{up_share:.1%} ({up['total']} requests)",
            up_share < UP_TARGET,
        ),
        Result(
            f"budget: idle {down['minutes']:.0f} min, streams down (busiest minute)",
            f"<= {DOWN_TARGET:.0%} of 60/min",
            f"{down_share:.1%} ({down['busiest_minute']} in 60 s; {down['total']} in all)",
            down_share <= DOWN_TARGET,
        ),
    ]


def main() -> int:
    parser = bench_arguments(__doc__ or "")
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to watch (default 10)")
    parser.add_argument("--mode", choices=("up", "down"), help=argparse_hidden())
    parser.add_argument("--out", type=Path, help=argparse_hidden())
    args = parser.parse_args()
    if args.mode:  # one side, in its own process
        run = asyncio.run(watch(args.mode, args.minutes))
        args.out.write_text(json.dumps(run))
        return 0
    print(f"budget: the idle demo account for {args.minutes:g} min, streams up and down side by side")
    with tempfile.TemporaryDirectory(prefix="shipdeck-budget-") as scratch:
        outs = {mode: Path(scratch) / f"{mode}.json" for mode in ("up", "down")}
        children = {
            mode: subprocess.Popen(
                [sys.executable, __file__, "--mode", mode, "--minutes", str(args.minutes), "--out", str(out)],
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            for mode, out in outs.items()
        }
        for mode, child in children.items():
            if child.wait() != 0:
                print(f"budget: the streams-{mode} run failed", file=sys.stderr)
                return 2
        up, down = (json.loads(outs[mode].read_text()) for mode in ("up", "down"))
    print(describe(up))
    print(describe(down))
    return finish(results_of(up, down), args.json)


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())

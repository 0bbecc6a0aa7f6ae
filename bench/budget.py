#!/usr/bin/env python
"""API budget: the console watching an account, idle, for --minutes (default 10).

Three runs, side by side (one subprocess each, own simulator, own console):

- streams up: the push stream connects; target: under 10 % of the Free tier (60 requests a minute) on
  average over the run;
- streams down: a wiretap in front of the simulator answers every event-stream request with 503; the
  console must fall back to reading with backoff; target: no 60-second window over 50 % of the Free tier;
- a big account (50,000 deployments, ``--seed scale:50000``), streams up, counted from the end of its load:
  what an idle console costs where health has 50,000 rows to read; target: under 5 % of the Free tier.

Requests are counted at the wiretap every request of the console passes through, with its time (the
per-minute windows, and the big account's count from the end of its load); with streams down that includes
the stream requests the wiretap refused, which never reach the simulator but would count against a real
account.
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
    simulator,
)
from wiretap import wiretap  # noqa: E402

FREE_TIER_PER_MINUTE = 60
UP_TARGET = 0.10
DOWN_TARGET = 0.50
BIG_TARGET = 0.05
BIG_SEED = "scale:50000"
MODES = ("up", "down", "big")
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
    seed = BIG_SEED if mode == "big" else "demo"
    with simulator(seed, timeout=600) as server, wiretap(server.port, refuse=refuse) as tap:
        options = console_options(server, home, miosa_url=tap.url(server.miosa))
        app = make_app(options)
        started = time.monotonic()
        async with app.run_test(size=SCREEN_SIZE) as pilot:
            if mode == "big":  # counted from the end of the load (the load's 250 pages are its own cost)
                while app.live.pages_loading or not app.live.deployments:
                    await pilot.pause(0.2)
                started = time.monotonic()
            deadline = started + minutes * 60
            while time.monotonic() < deadline:
                await pilot.pause(min(5.0, max(0.0, deadline - time.monotonic())))
            connection = str(app.live.connection)
        tapped_requests = [(at, method, path) for at, method, path in tap.requests if at >= started]
    served = [r for r in tapped_requests if not (refuse and refuse in r[2])]
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
        f"({run['served']} passed to the simulator, {run['refused']} stream requests refused at the tap; "
        f"the tap saw {run['tapped']}), {per_minute:.1f}/min = {per_minute / FREE_TIER_PER_MINUTE:.1%} of "
        f"the Free tier; busiest minute {run['busiest_minute']}; connection at the end: "
        f"{run['connection_at_end']}; top requests {run['by_path']}"
    )


def results_of(up: dict[str, Any], down: dict[str, Any], big: dict[str, Any]) -> list[Result]:
    up_share = up["total"] / up["minutes"] / FREE_TIER_PER_MINUTE
    down_share = down["busiest_minute"] / FREE_TIER_PER_MINUTE
    big_share = big["total"] / big["minutes"] / FREE_TIER_PER_MINUTE
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
        Result(
            f"budget: 50k account idle {big['minutes']:.0f} min after its load, streams up (average)",
            f"< {BIG_TARGET:.0%} of 60/min",
            f"{big_share:.1%} ({big['total']} requests)",
            big_share < BIG_TARGET,
        ),
    ]


def main() -> int:
    parser = bench_arguments(__doc__ or "")
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to watch (default 10)")
    parser.add_argument("--mode", choices=MODES, help=argparse_hidden())
    parser.add_argument("--out", type=Path, help=argparse_hidden())
    args = parser.parse_args()
    if args.mode:  # one side, in its own process
        run = asyncio.run(watch(args.mode, args.minutes))
        args.out.write_text(json.dumps(run))
        return 0
    print(
        f"budget: idle for {args.minutes:g} min, side by side: the demo account with streams up and down,"
        " and a 50,000-deployment account with streams up"
    )
    with tempfile.TemporaryDirectory(prefix="shipdeck-budget-") as scratch:
        outs = {mode: Path(scratch) / f"{mode}.json" for mode in MODES}
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
        up, down, big = (json.loads(outs[mode].read_text()) for mode in MODES)
    for run in (up, down, big):
        print(describe(run))
    return finish(results_of(up, down, big), args.json)


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())

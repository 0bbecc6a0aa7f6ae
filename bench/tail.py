#!/usr/bin/env python
"""Live tail: 5,000 events a second for --seconds (default 60) into the Events tab of the console.

The simulator makes the events (``/_sim/burst``, 500 every 0.1 s, each about the deployment the console
shows; the feeder that asks for them is a process of its own, and the rate printed is the real one),
they travel the real path (SSE -> Miosa adapter -> LiveState -> ChangeBatch -> EventLog), and
meanwhile keys switch the detail tabs (Events <-> Env) every 0.25 s. Figures:

- key press -> the frame that shows the switched tab: p95 < 100 ms;
- every event the simulator made reached the live state (counted by sequence number), none lost;
- memory flat: resident memory at 10 s vs at the end (growth within 10 %);
- the console's CPU while the events stream: under half a core.

The simulator's rate limit is raised for this run: the events about the shown deployment make the console
re-read it (once a second, the live state's reread_min_gap), and this benchmark measures the tail, not the
request budget.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
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
    latency_target,
    median,
    ms,
    percentile,
    rss_mb,
    simulator,
    wait_until,
)

RATE = 5_000
BURSTS_PER_SECOND = 10
KEY_INTERVAL = 0.25
KEY_P95_TARGET = latency_target(0.100)
MEMORY_GROWTH_LIMIT = 0.10
CPU_TARGET = 0.50
EVENT_TYPE = "bench.tail"


def feed(root: str, deployment_id: str, seconds: float) -> dict[str, Any]:
    """Ask the simulator for RATE events a second, in bursts, on a steady schedule: what it made (each
    burst's first and last sequence number), how far the schedule fell behind, and the real duration."""
    import httpx

    count = RATE // BURSTS_PER_SECOND
    about = {"deployment_id": deployment_id}
    body = {"provider": "miosa", "count": count, "type": EVENT_TYPE, "data": about}
    seqs: list[tuple[int, int]] = []
    behind = 0.0
    error: str | None = None
    start = time.monotonic()
    bursts = int(seconds * BURSTS_PER_SECOND)
    with httpx.Client(timeout=10) as client:
        for index in range(bursts):
            due = start + index / BURSTS_PER_SECOND
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                behind = max(behind, -delay)
            answer = client.post(f"{root}/_sim/burst", json=body)
            if answer.status_code != 200:
                error = answer.text
                break
            seqs.append((answer.json()["first_seq"], answer.json()["last_seq"]))
    return {"seqs": seqs, "behind": behind, "error": error, "seconds": time.monotonic() - start}


class Feeder:
    """The feeder in a process of its own (this script with --feed): it must not share the console's
    interpreter, or a busy console slows its own load and the rate printed is only nominal."""

    def __init__(self, root: str, deployment_id: str, seconds: float) -> None:
        argv = [sys.executable, __file__, "--feed", root, deployment_id, str(seconds)]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        self.seqs: list[tuple[int, int]] = []
        self.behind = 0.0
        self.error: str | None = None
        self.seconds = 0.0

    def is_alive(self) -> bool:
        return self.process.poll() is None

    def join(self) -> None:
        out, _ = self.process.communicate(timeout=60)
        if self.process.returncode != 0:
            self.error = f"the feeder exited {self.process.returncode}"
            return
        report = json.loads(out)
        self.seqs = [(first, last) for first, last in report["seqs"]]
        self.behind, self.error, self.seconds = report["behind"], report["error"], report["seconds"]


async def run(seconds: float) -> list[Result]:
    import httpx

    from shipdeck.tui.app import make_app
    from shipdeck.tui.widgets.event_log import EventLog

    home = isolate_user_dirs()
    results: list[Result] = []
    with simulator("demo", args=["--rate-limit", "100000"]) as server:
        app = make_app(console_options(server, home))
        # One byte per event the run will make, allocated now: the count must not grow this process's
        # memory while it is being measured (a list of 300,000 ints would add 11 MB).
        health = await asyncio.to_thread(httpx.get, f"{server.root}/_sim/health")
        base = health.json()["latest_seq"]["miosa"] + 1
        received = bytearray(int(RATE * seconds * 1.2) + 10_000)
        tally = {"events": 0, "duplicates": 0, "out_of_range": 0}

        def count_events(batch: Any) -> None:
            for event in batch.events:
                if event.type != EVENT_TYPE or event.seq is None:
                    continue
                index = event.seq - base
                if not 0 <= index < len(received):
                    tally["out_of_range"] += 1
                    continue
                tally["events"] += 1
                if received[index]:
                    tally["duplicates"] += 1
                received[index] = 1

        async with app.run_test(size=SCREEN_SIZE) as pilot:
            app.live.subscribe(count_events)
            probe = FrameProbe(app)
            await wait_until(lambda: app.main_screen is not None, timeout=30, what="the main screen")
            main = app.main_screen
            assert main is not None
            await wait_until(lambda: main.table.highlighted is not None, timeout=30, what="the deployments")
            target = main.table.highlighted
            assert target is not None
            main.detail.show_tab("tab-events")
            await pilot.pause(0.3)
            log = main.query_one("#events-log", EventLog)
            env_text = main.query_one("#env-list")
            probe.watch_renders(log)
            probe.watch_renders(env_text)
            probe.mark_after(main.detail, "cycle_tab")
            lines_written = 0
            original_write_lines = log.write_lines

            def write_lines(lines: Any) -> Any:
                nonlocal lines_written
                lines = list(lines)
                lines_written += len(lines)
                return original_write_lines(lines)

            log.write_lines = write_lines  # type: ignore[method-assign]

            print(f"tail: {RATE} events/s about {target.name}, {seconds:.0f} s, a key every {KEY_INTERVAL}s")
            started = time.monotonic()
            cpu_started = time.process_time()
            feeder = Feeder(server.root, target.id, seconds)
            latencies: list[float] = []
            rss_early: float | None = None
            on_events = True
            while feeder.is_alive():
                key = "left_square_bracket" if on_events else "right_square_bracket"
                widget = env_text if on_events else log
                latencies.append(await key_to_screen(app, probe, key, mark="cycle_tab", widget=widget))
                on_events = not on_events
                elapsed = time.monotonic() - started
                if rss_early is None and elapsed >= min(10.0, seconds / 2):
                    rss_early = rss_mb()
                    so_far = tally["events"]
                    print(f"  {elapsed:.0f} s: rss {rss_early:.0f} MB, {so_far} events in the live state")
                await asyncio.sleep(KEY_INTERVAL)
            feeder.join()
            cpu_busy = (time.process_time() - cpu_started) / (time.monotonic() - started)
            # Let the last events arrive (the stream and the coalescing publisher are a little behind).
            expected = sum(last - first + 1 for first, last in feeder.seqs)
            try:
                await wait_until(
                    lambda: tally["events"] >= expected, timeout=30, what="the last events", step=0.05
                )
            except TimeoutError:
                pass
            if not on_events:
                await key_to_screen(app, probe, "right_square_bracket", mark="cycle_tab", widget=log)
            await pilot.pause(0.3)
            rss_late = rss_mb()
            elapsed = time.monotonic() - started
        if feeder.error:
            raise RuntimeError(f"the simulator refused a burst: {feeder.error}")

    lost = sum(1 for first, last in feeder.seqs for seq in range(first, last + 1) if not received[seq - base])
    duplicates = tally["duplicates"] + tally["out_of_range"]
    got = tally["events"] - duplicates
    rate = expected / feeder.seconds if feeder.seconds else 0.0
    p95 = percentile(latencies, 0.95)
    assert rss_early is not None
    growth = (rss_late - rss_early) / rss_early
    print(
        f"tail: {expected} events made ({rate:.0f}/s, feeder at most {ms(feeder.behind)} behind), "
        f"{got} reached the live state, {lost} lost, {duplicates} duplicates or strays; "
        f"{lines_written} lines written to the event pane (it keeps the last {log.max_lines})"
    )
    print(
        f"tail: key -> screen over {len(latencies)} keys: median {ms(median(latencies))}, p95 {ms(p95)}, "
        f"max {ms(max(latencies))}; rss {rss_early:.0f} MB at 10 s, {rss_late:.0f} MB at {elapsed:.0f} s"
    )
    results.append(
        Result(
            f"tail: key -> screen at {RATE}/s (p95)",
            f"< {KEY_P95_TARGET * 1000:.0f} ms",
            ms(p95),
            p95 < KEY_P95_TARGET,
        )
    )
    results.append(
        Result(
            "tail: events lost from the live state",
            "0",
            f"{lost} of {expected} ({rate:.0f}/s for {seconds:.0f} s)",
            lost == 0 and expected >= RATE * seconds * 0.99,
            f"the feeder, a process of its own, made them at {rate:.0f}/s (real): {feeder.seconds:.1f} s for "
            f"a nominal {seconds:.0f} s",
        )
    )
    results.append(
        Result(
            f"tail: console CPU while streaming {RATE}/s",
            f"< {CPU_TARGET:.0%} of a core",
            f"{cpu_busy:.0%} of a core",
            cpu_busy < CPU_TARGET,
            "this process: the console and the benchmark's key driver (the simulator and feeder excluded)",
        )
    )
    results.append(
        Result(
            "tail: memory 10 s -> end",
            f"flat (<= +{MEMORY_GROWTH_LIMIT:.0%})",
            f"{rss_early:.0f} -> {rss_late:.0f} MB ({growth:+.1%})",
            growth <= MEMORY_GROWTH_LIMIT,
        )
    )
    return results


def main() -> int:
    parser = bench_arguments(__doc__ or "")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to stream (default 60)")
    parser.add_argument("--feed", nargs=3, metavar=("ROOT", "DEPLOYMENT", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.feed:
        root, deployment_id, seconds = args.feed
        print(json.dumps(feed(root, deployment_id, float(seconds))))
        return 0
    return finish(asyncio.run(run(args.seconds)), args.json)


if __name__ == "__main__":
    sys.exit(main())

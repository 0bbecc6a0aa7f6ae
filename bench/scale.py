#!/usr/bin/env python
"""Scale: the console on ``--seed scale:50000`` (50,000 deployments, paged in 200 at a time).

Two parts, each figure measured the way its name says:

1. **From process start** (``--runs`` times, alternating with the baseline): the real ``shipdeck`` entry point
   (``shipdeck --no-cache --provider miosa --url URL``, the token in MIOSA_API_KEY) in a pseudo-terminal
   (120x40). The parent notes the monotonic clock before forking it and reads the pty's master side:
   *first rows* when a row's URL is first written, *all loaded* when the header says
   "50,000 deployments"; the console's CPU (user + system, from /proc) at that moment. The baseline is a
   plain httpx page loop over the same pages in its own fresh process (start, import, every page, JSON
   decoded), timed the same way: wall to its exit, CPU from its rusage. Ratios are per run pair, medians
   printed. The requests the console made until all were loaded come from the sandbox's own request log,
   by kind (pages, detail reads, version-number look-ups, single re-reads, health reads; health is budgeted
   apart), and the detail reads say whether the detail stayed on one deployment.
2. **In process** (headless 120x40, terminal encoding included, keys delivered as the terminal driver
   does): one load untouched (the highlighted row and the detail read when the first rows show are still
   the ones when all are loaded, and the detail was read once); then a load with the cursor moving every
   50 ms (key -> screen p95 < 100 ms), the filter (64 keystrokes, p95 < 50 ms), page down/up (key -> screen
   p95 < 25 ms; the render of the table's visible lines for the frame after each, p95 < 4 ms) and resident
   memory with all loaded (< 250 MB).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    ADMIN_TOKEN,
    SCREEN_SIZE,
    FrameProbe,
    PtyProcess,
    Result,
    bench_arguments,
    console_options,
    finish,
    isolate_user_dirs,
    key_to_screen,
    latency_target,
    load_note,
    median,
    ms,
    percentile,
    proc_cpu_seconds,
    request_kinds,
    rss_mb,
    sim_requests,
    simulator,
    wait_until,
)

COUNT = 50_000
PAGE = 200
FIRST_ROWS_TARGET = latency_target(1.0)
WALL_RATIO_TARGET = 2.0
CPU_RATIO_TARGET = 3.0
REQUESTS_TARGET = 260
LOADING_P95_TARGET = latency_target(0.100)
FILTER_P95_TARGET = latency_target(0.050)
SCROLL_P95_TARGET = latency_target(0.025)
RSS_TARGET_MB = 250
RENDER_P95_TARGET = latency_target(0.004)
# Typed into the filter, then erased, several times: narrowing and widening over 50,000 rows.
FILTER_TEXT = "app-0123"
FILTER_ROUNDS = 4
SCROLL_PAGES = 60
# Written only in a row (its URL cell): the first frame with rows (the cache is off: the server's rows).
ROW_MARKER = b".acme.miosa.app"

# The baseline: what any client must do to have every row (its own process, from its start).
PAGE_LOOP = """
import sys
import httpx

url, token = sys.argv[1], sys.argv[2]
rows = 0
cursor = None
with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
    while True:
        params = {"limit": PAGE, **({"cursor": cursor} if cursor else {})}
        body = client.get(url + "/deployments", params=params).json()
        rows += len(body["data"])
        cursor = body.get("next_cursor")
        if not cursor:
            break
print(rows)
"""


def page_loop(script: Path, miosa_url: str) -> tuple[float, float]:
    """(wall seconds from fork to exit, CPU seconds) of the plain httpx page loop in a fresh process."""
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.execv(sys.executable, [sys.executable, str(script), miosa_url, ADMIN_TOKEN])
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.monotonic() - started
    if status != 0:
        raise RuntimeError("the httpx page loop failed")
    return wall, usage.ru_utime + usage.ru_stime


def console_load(shipdeck: str, server: Any, count: int) -> tuple[float, float, float, float, dict[str, Any]]:
    """(first rows, all loaded, CPU at first rows, CPU at all loaded, requests by kind) of one real console
    start. The CPU at first rows is read as they are seen (a few ms late at most): what the start cost,
    apart from the load after it."""
    env = {**os.environ, "MIOSA_API_KEY": ADMIN_TOKEN, "PYTHONUNBUFFERED": "1"}
    served = sim_requests(server)
    since = served[-1]["seq"] if served else 0
    proc = PtyProcess([shipdeck, "--no-cache", "--provider", "miosa", "--url", server.miosa], env)
    try:
        first = proc.wait_for(ROW_MARKER, timeout=120) - proc.started
        cpu_at_first = proc_cpu_seconds(proc.pid)
        loaded = proc.wait_for(f"{count:,} deployments".encode(), timeout=300) - proc.started
        cpu = proc_cpu_seconds(proc.pid)
        requests = request_kinds(sim_requests(server, since))
    finally:
        proc.stop()
    return first, loaded, cpu_at_first, cpu, requests


def summary(values: list[float]) -> str:
    return f"median {ms(median(values))}, p95 {ms(percentile(values, 0.95))}, max {ms(max(values))}"


def kinds_text(kinds: dict[str, Any]) -> str:
    parts = ("pages", "detail", "versions", "reread", "stream", "other")
    listed = ", ".join(f"{kinds[k]} {k}" for k in parts if kinds[k])
    return f"{kinds['total'] - kinds['health']} ({listed}) + {kinds['health']} health"


async def untouched_load(server: Any, home: Path, count: int) -> tuple[bool, str, float]:
    """Load with nobody pressing a key: (cursor and detail stayed, what happened, resident MB at the end)."""
    from shipdeck.tui.app import make_app

    served = sim_requests(server)
    since = served[-1]["seq"] if served else 0
    app = make_app(console_options(server, home))
    async with app.run_test(size=SCREEN_SIZE) as pilot:
        await wait_until(lambda: app.main_screen is not None, timeout=30, what="the main screen")
        main = app.main_screen
        assert main is not None
        table = main.table
        await wait_until(lambda: table.highlighted is not None, timeout=60, what="the first rows")
        first = table.highlighted
        assert first is not None
        await wait_until(lambda: table.total_count >= count, timeout=300, what="all rows in the table")
        await wait_until(lambda: not app.live.pages_loading, timeout=60, what="the end of the load")
        await pilot.pause(0.5)
        rss = rss_mb()
        last = table.highlighted
        watched = app.live.watched
        detail = app.live.detail
        kinds = request_kinds(sim_requests(server, since))
    reads = kinds["detail_of"]
    stayed = (
        last is not None
        and last.id == first.id
        and watched == first.id
        and detail is not None
        and detail.deployment_id == first.id
        and set(reads) <= {first.id}
        and reads.get(first.id, 0) <= 1
    )
    what = (
        f"first row {first.name}, at the end {last.name if last else None}, detail of "
        f"{detail.deployment_id if detail else None} (first {first.id}); detail reads by deployment {reads}"
    )
    return stayed, what, rss


async def keys_while_loading(
    server: Any, home: Path, count: int
) -> tuple[list[float], list[float], list[float], list[float], list[float]]:
    """Key -> screen while loading, filter keystrokes and page scrolls, once all are loaded."""
    from shipdeck.tui.app import make_app

    app = make_app(console_options(server, home))
    probe = FrameProbe(app)
    async with app.run_test(size=SCREEN_SIZE) as pilot:
        await wait_until(lambda: app.main_screen is not None, timeout=30, what="the main screen")
        main = app.main_screen
        assert main is not None
        table = main.table
        probe.watch_renders(table)
        probe.mark_after(table, "watch_cursor")
        probe.mark_after(table, "set_filter")
        await wait_until(lambda: table.row_count, timeout=60, what="the first rows")

        # While the rest pages in: move the cursor down and up, one key every 50 ms.
        loading: list[float] = []
        down = True
        while app.live.pages_loading:
            key = "down" if down else "up"
            loading.append(await key_to_screen(app, probe, key, mark="watch_cursor", widget=table))
            down = not down
            await asyncio.sleep(0.05)
        await wait_until(lambda: table.total_count >= count, timeout=60, what="all rows in the table")
        await pilot.pause(0.5)

        await pilot.press("slash")
        filtering: list[float] = []
        for _ in range(FILTER_ROUNDS):
            for key in [*FILTER_TEXT, *["backspace"] * len(FILTER_TEXT)]:
                filtering.append(await key_to_screen(app, probe, key, mark="set_filter", widget=table))
                await asyncio.sleep(0.03)
        await pilot.press("enter")
        await pilot.pause(0.2)

        scrolling: list[float] = []
        waits: list[float] = []  # from the cursor moving to the table being rendered
        renders: list[float] = []  # how long that render of the table's visible lines took
        for page in range(SCROLL_PAGES):
            key = "pagedown" if page < SCROLL_PAGES // 2 else "pageup"
            pressed = time.monotonic()
            scrolling.append(await key_to_screen(app, probe, key, mark="watch_cursor", widget=table))
            moved = next(t for t in probe.marks["watch_cursor"] if t >= pressed)
            waits.append(next(t for t in probe.renders[id(table)] if t >= moved) - moved)
            renders.append(probe.render_time_after(table, moved))
            await asyncio.sleep(0.03)
    return loading, filtering, scrolling, waits, renders


def run(count: int, runs: int) -> list[Result]:
    home = isolate_user_dirs()
    shipdeck = shutil.which("shipdeck", path=str(Path(sys.executable).parent)) or shutil.which("shipdeck")
    if shipdeck is None:
        raise SystemExit("scale: no shipdeck entry point next to this python (pip install -e . first)")
    loop_script = home / "page_loop.py"
    loop_script.write_text(PAGE_LOOP.replace("PAGE", str(PAGE)))
    name = f"scale {count // 1000}k"
    print(f"scale: seeding {count} deployments…; {load_note()}")
    with simulator(f"scale:{count}", args=["--rate-limit", "100000"]) as server:
        page_loop(loop_script, server.miosa)  # untimed: warms the disk cache and the sandbox alike
        firsts: list[float] = []
        walls: list[float] = []
        cpus: list[float] = []
        loads: list[tuple[float, float]] = []
        wall_ratios: list[float] = []
        cpu_ratios: list[float] = []
        start_cpus: list[float] = []
        kinds: list[dict[str, Any]] = []
        for number in range(runs):
            first, loaded, start_cpu, cpu, requests = console_load(shipdeck, server, count)
            loop_wall, loop_cpu = page_loop(loop_script, server.miosa)
            firsts.append(first)
            loads.append((loaded, cpu))
            walls.append(loop_wall)
            cpus.append(loop_cpu)
            wall_ratios.append(loaded / loop_wall)
            cpu_ratios.append(cpu / loop_cpu)
            start_cpus.append(start_cpu)
            kinds.append(requests)
            print(
                f"  run {number + 1}: first rows {ms(first)} ({start_cpu:.2f} s CPU), "
                f"all loaded {loaded:.2f} s ({cpu:.2f} s CPU); "
                f"httpx page loop {loop_wall:.2f} s ({loop_cpu:.2f} s CPU); requests {kinds_text(requests)}"
            )
        stayed, what, rss = asyncio.run(untouched_load(server, home, count))
        print(f"scale: untouched load: {what}")
        loading, filtering, scrolling, waits, renders = asyncio.run(keys_while_loading(server, home, count))
    first = median(firsts)
    wall_ratio, cpu_ratio = median(wall_ratios), median(cpu_ratios)
    loaded, cpu = median([w for w, _ in loads]), median([c for _, c in loads])
    requests = sorted(kinds, key=lambda k: int(k["total"] - k["health"]))[len(kinds) // 2]
    worst_requests = max(int(k["total"] - k["health"]) for k in kinds)
    detail_reads = [sum(k["detail_of"].values()) for k in kinds]
    detail_ids = [len(k["detail_of"]) for k in kinds]
    print(
        f"scale: from process start (medians of {runs}): first rows {ms(first)}, all loaded {loaded:.2f} s "
        f"and {cpu:.2f} s CPU; httpx page loop {median(walls):.2f} s and {median(cpus):.2f} s CPU "
        f"(ratios {wall_ratio:.2f}x wall, {cpu_ratio:.2f}x CPU)"
    )
    # The CPU split: the start (process, imports, Textual, the first page) and the load after it.
    load_cpus = [total - start for (_, total), start in zip(loads, start_cpus, strict=True)]
    load_ratios = [load / loop for load, loop in zip(load_cpus, cpus, strict=True)]
    print(
        f"scale: of that CPU, {median(start_cpus):.2f} s until the first rows and {median(load_cpus):.2f} s "
        f"for the other pages ({median(load_ratios):.2f}x the whole httpx page loop's)"
    )
    print(f"scale: key -> screen while loading ({len(loading)} keys): {summary(loading)}")
    print(f"scale: filter keystroke -> screen ({len(filtering)} keys): {summary(filtering)}")
    print(f"scale: page down/up -> screen ({len(scrolling)} keys, 30 ms apart): {summary(scrolling)}")
    print(
        f"scale: of which waiting for Textual's next screen update (at most 60 a second) after the cursor "
        f"moved: {summary(waits)}"
    )
    print(f"scale: rendering the table's visible lines after a page scroll: {summary(renders)}")
    print(f"scale: resident memory with {count} deployments loaded: {rss:.0f} MB")
    loading_p95 = percentile(loading, 0.95)
    filter_p95 = percentile(filtering, 0.95)
    scroll_p95 = percentile(scrolling, 0.95)
    render_p95 = percentile(renders, 0.95)
    note = f"real `shipdeck` in a pty, {runs} runs alternating with the httpx loop; {load_note()}"
    return [
        Result(
            f"{name}: first rows from process start",
            f"< {FIRST_ROWS_TARGET * 1000:.0f} ms",
            ms(first),
            first < FIRST_ROWS_TARGET,
            note,
        ),
        Result(
            f"{name}: all loaded vs httpx page loop (wall)",
            f"< {WALL_RATIO_TARGET:g}x",
            f"{wall_ratio:.2f}x ({loaded:.2f} s vs {median(walls):.2f} s)",
            wall_ratio < WALL_RATIO_TARGET,
        ),
        Result(
            f"{name}: all loaded vs httpx page loop (CPU)",
            f"< {CPU_RATIO_TARGET:g}x",
            f"{cpu_ratio:.2f}x ({cpu:.2f} s vs {median(cpus):.2f} s)",
            cpu_ratio < CPU_RATIO_TARGET,
        ),
        Result(
            f"{name}: requests until all loaded (health apart)",
            f"<= {REQUESTS_TARGET}",
            f"{kinds_text(requests)} (most {worst_requests})",
            worst_requests <= REQUESTS_TARGET,
        ),
        Result(
            f"{name}: cursor and detail stay on the user's row while loading",
            "stay, detail read once",
            f"{'stayed' if stayed else 'MOVED'}; detail reads {max(detail_reads)} of "
            f"{max(detail_ids)} deployment(s) a start",
            stayed and max(detail_reads) <= 1 and max(detail_ids) <= 1,
        ),
        Result(
            f"{name}: key -> screen while loading (p95)",
            f"< {LOADING_P95_TARGET * 1000:.0f} ms",
            f"{ms(loading_p95)} over {len(loading)} keys",
            loading_p95 < LOADING_P95_TARGET,
        ),
        Result(
            f"{name}: filter keystroke (p95)",
            f"< {FILTER_P95_TARGET * 1000:.0f} ms",
            ms(filter_p95),
            filter_p95 < FILTER_P95_TARGET,
        ),
        Result(
            f"{name}: page scroll key -> screen (p95)",
            f"< {SCROLL_P95_TARGET * 1000:.0f} ms",
            ms(scroll_p95),
            scroll_p95 < SCROLL_P95_TARGET,
        ),
        Result(
            f"{name}: page scroll render (p95)",
            f"< {RENDER_P95_TARGET * 1000:.0f} ms",
            ms(render_p95),
            render_p95 < RENDER_P95_TARGET,
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
    parser.add_argument("--count", type=int, default=COUNT, help=f"deployments (default {COUNT})")
    parser.add_argument("--runs", type=int, default=3, help="process starts of each (median reported)")
    args = parser.parse_args()
    return finish(run(args.count, args.runs), args.json)


if __name__ == "__main__":
    sys.exit(main())

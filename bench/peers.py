#!/usr/bin/env python
"""Peers: our DeploymentsTable against Textual's own DataTable and, where it is installed,
textual-fastdatatable (an optional peer, never a dependency of shipdeck), with the same 50,000 rows.

Each table runs in a fresh process of its own (headless 120x40, the terminal encoding of each frame
included), the peers alternating, ``--runs`` times; medians are printed, and each peer's figure as a ratio
to ours from the same runs:

- **first paint**: from handing the table its 50,000 rows (ours: ``replace_all`` of the Deployment models
  the console holds; DataTable: ``add_rows`` of the cells as text; fastdatatable: mounting it on an Arrow
  backend built from the same cells) to the first frame painted after the table rendered;
- **memory**: the process's resident memory after that frame, less before the rows were handed over (the
  rows themselves were built before: the table's own structures);
- **page scroll**: 40 page-downs then 40 page-ups, 30 ms apart: key -> screen p95, and the time the table
  takes to render its visible lines for the frame after each scroll (p95); the rows are moved out of the
  cyclic garbage collector's reach first, as the console does once a big list is in.
"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    SCREEN_SIZE,
    FrameProbe,
    Result,
    bench_arguments,
    finish,
    key_to_screen,
    load_note,
    median,
    ms,
    percentile,
    rss_mb,
)
from table import COUNT, NOW, deployment  # noqa: E402

PEERS = ("ours", "datatable", "fastdatatable")
SCROLL_PAGES = 80
COLUMNS = ("STATE", "NAME", "VERSION", "ERRORS", "URL", "AGE")


def fastdatatable_installed() -> bool:
    try:
        import textual_fastdatatable  # noqa: F401
    except ImportError:
        return False
    return True


def cells(rows: list[Any]) -> list[tuple[str, ...]]:
    """The text our table shows for each row, as the peers get it."""
    from shipdeck.tui.text import age_text, state_label

    return [
        (
            state_label(d.state),
            d.name,
            f"v{d.active_version_number}" if d.active_version_number is not None else "-",
            "-",
            d.url or "-",
            age_text(d.created_at, NOW),
        )
        for d in rows
    ]


async def one(peer: str) -> dict[str, Any]:
    from textual.app import App, ComposeResult
    from textual.widget import Widget
    from textual.widgets import DataTable

    from shipdeck.tui.widgets.deployments_table import DeploymentsTable

    rows = [deployment(i) for i in range(COUNT)]
    texts = cells(rows)

    class PeerApp(App[None]):
        def compose(self) -> ComposeResult:
            if peer == "ours":
                yield DeploymentsTable(clock=lambda: NOW, id="table")
            elif peer == "datatable":
                yield DataTable(cursor_type="row", id="table")

    app = PeerApp()
    probe = FrameProbe(app)
    async with app.run_test(size=SCREEN_SIZE) as pilot:
        await pilot.pause()
        before = rss_mb()
        started = time.monotonic()
        table: Widget
        if peer == "ours":
            table = app.query_one(DeploymentsTable)
            probe.watch_renders(table)
            table.replace_all(rows)
            mark = "watch_cursor"
        elif peer == "datatable":
            table = app.query_one(DataTable)
            probe.watch_renders(table)
            table.add_columns(*COLUMNS)
            table.add_rows(texts)
            mark = "watch_cursor_coordinate"
        else:
            from textual_fastdatatable import ArrowBackend
            from textual_fastdatatable import DataTable as FastDataTable

            backend = ArrowBackend.from_records([COLUMNS, *texts], has_header=True)
            table = FastDataTable(backend=backend, cursor_type="row", id="table")
            probe.watch_renders(table)
            await app.mount(table)
            mark = "watch_cursor_coordinate"
        table.focus()
        first_paint = await painted_since(probe, table, started) - started
        # As the console does once a big list is in: the rows out of the cyclic collector's reach, so
        # that no full collection lands in a scroll (for every peer alike).
        gc.freeze()
        await pilot.pause(0.3)
        memory = rss_mb() - before
        probe.mark_after(table, mark)
        scrolls: list[float] = []
        renders: list[float] = []
        for page in range(SCROLL_PAGES):
            key = "pagedown" if page < SCROLL_PAGES // 2 else "pageup"
            pressed = time.monotonic()
            scrolls.append(await key_to_screen(app, probe, key, mark=mark, widget=table))
            moved = next(t for t in probe.marks[mark] if t >= pressed)
            renders.append(probe.render_time_after(table, moved))
            await asyncio.sleep(0.03)
    return {
        "first_paint": first_paint,
        "memory": memory,
        "scroll_p95": percentile(scrolls, 0.95),
        "render_p95": percentile(renders, 0.95),
    }


async def painted_since(probe: FrameProbe, table: Any, since: float, timeout: float = 60.0) -> float:
    """The first frame painted after ``table`` rendered (after ``since``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rendered = next((t for t in probe.renders.get(id(table), []) if t >= since), None)
        if rendered is not None:
            frame = next((t for t in probe.frames if t >= rendered), None)
            if frame is not None:
                return frame
        await asyncio.sleep(0.002)
    raise TimeoutError("the table was never painted")


def run_child(peer: str) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([sys.executable, __file__, "--one", peer, "--out", out.name], check=True)
        return json.loads(Path(out.name).read_text())  # type: ignore[no-any-return]


def main() -> int:
    parser = bench_arguments(__doc__ or "")
    parser.add_argument("--runs", type=int, default=3, help="fresh processes of each table (medians)")
    parser.add_argument("--one", choices=PEERS, help=argparse_hidden())
    parser.add_argument("--out", type=Path, help=argparse_hidden())
    args = parser.parse_args()
    if args.one:
        args.out.write_text(json.dumps(asyncio.run(one(args.one))))
        return 0
    peers = ["ours", "datatable"]
    if fastdatatable_installed():
        peers.append("fastdatatable")
    else:
        print("peers: textual-fastdatatable is not installed: skipped (pip install it to add it)")
    print(f"peers: {COUNT} rows, {args.runs} runs of each table in fresh processes; {load_note()}")
    runs: dict[str, list[dict[str, Any]]] = {peer: [] for peer in peers}
    for _ in range(args.runs):
        for peer in peers:
            runs[peer].append(run_child(peer))
    figures = {peer: {k: median([r[k] for r in rs]) for k in rs[0]} for peer, rs in runs.items()}
    for peer, f in figures.items():
        print(
            f"  {peer}: first paint {ms(f['first_paint'])}, memory +{f['memory']:.0f} MB, page scroll "
            f"key -> screen p95 {ms(f['scroll_p95'])}, render p95 {ms(f['render_p95'])}"
        )
    ours = figures["ours"]
    results: list[Result] = []
    for peer in peers[1:]:
        f = figures[peer]
        name = {"datatable": "Textual DataTable", "fastdatatable": "textual-fastdatatable"}[peer]
        for key, what, unit in (
            ("first_paint", "first paint", ms),
            ("memory", "memory", lambda mb: f"{mb:.0f} MB"),
            ("scroll_p95", "page scroll key -> screen p95", ms),
            ("render_p95", "page scroll render p95", ms),
        ):
            ratio = ours[key] / f[key] if f[key] else float("inf")
            results.append(
                Result(
                    f"peers 50k: {what}, ours vs {name}",
                    "(ratio, same run)",
                    f"{ratio:.2f}x ({unit(ours[key])} vs {unit(f[key])})",
                    True,
                )
            )
    return finish(results, args.json)


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Start: process start -> first painted deployment list (demo seed), through the real ``shipdeck`` entry
point in a pseudo-terminal (120x40), against a bare Textual app painting a 9-row ``DataTable`` in the same
pty, measured the same way in the same run.

Each run is a fresh process on the slave side of a pty; the parent notes ``time.monotonic()`` just before
forking it and reads the master side until a row's text has been written (a deployment's name; for the
bare app its last row), then until the header says "live" (the server's rows). The console runs as a user
would: ``shipdeck --provider miosa --url URL`` with the token in MIOSA_API_KEY, its cache of the last known
list warm from the run before (the untimed first run writes it). Console and bare runs alternate, so a noisy
neighbour hits both alike. Targets: the last known list within 1.3x the bare table, live rows within 2x.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    ADMIN_TOKEN,
    PtyProcess,
    Result,
    bench_arguments,
    finish,
    isolate_user_dirs,
    load_note,
    median,
    ms,
    simulator,
)

LIST_RATIO = 1.3
LIVE_RATIO = 2.0
LIVE_MARKER = "● live".encode()

BARE_APP = """
from textual.app import App, ComposeResult
from textual.widgets import DataTable


class Bare(App[None]):
    def compose(self) -> ComposeResult:
        yield DataTable()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("STATE", "NAME", "VERSION", "URL", "AGE")
        table.add_rows(
            ("running", f"app-{i:03d}", f"v{i}", f"https://app-{i:03d}.example.app", "1h")
            for i in range(ROWS)
        )


Bare().run()
"""


def time_run(argv: list[str], env: dict[str, str], markers: list[bytes]) -> list[float]:
    """Seconds from forking ``argv`` in a pty to each of ``markers`` written to it (in order)."""
    proc = PtyProcess(argv, env)
    try:
        return [proc.wait_for(marker, timeout=120) - proc.started for marker in markers]
    finally:
        proc.stop()


def demo_deployments(miosa_url: str) -> list[str]:
    import httpx

    names: list[str] = []
    cursor = None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        body = httpx.get(
            f"{miosa_url}/deployments", params=params, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ).json()
        names += [row["name"] for row in body["data"]]
        cursor = body.get("next_cursor")
        if not cursor:
            return names


def main() -> int:
    parser = bench_arguments(__doc__ or "")
    parser.add_argument("--runs", type=int, default=9, help="runs of each app (median reported)")
    args = parser.parse_args()
    home = isolate_user_dirs()  # the children inherit it
    shipdeck = shutil.which("shipdeck", path=str(Path(sys.executable).parent)) or shutil.which("shipdeck")
    if shipdeck is None:
        print("start: no shipdeck entry point next to this python (pip install -e . first)")
        return 2
    lists: list[float] = []
    lives: list[float] = []
    bare_times: list[float] = []
    with simulator("demo") as server:
        names = demo_deployments(server.miosa)
        # The row the console paints first (name order); the bare app's last row.
        first = min(names, key=str.lower).encode()
        bare = home / "bare_table.py"
        bare.write_text(BARE_APP.replace("ROWS", str(len(names))))
        bare_marker = f"app-{len(names) - 1:03d}".encode()
        env = {**os.environ, "MIOSA_API_KEY": ADMIN_TOKEN, "PYTHONUNBUFFERED": "1"}
        console = [shipdeck, "--provider", "miosa", "--url", server.miosa]
        print(f"start: demo seed has {len(names)} deployments; {args.runs} runs of each app, alternating")
        print(f"  {load_note()}")
        # One untimed run of each warms the disk cache for both alike and writes the console's cache.
        time_run(console, env, [first, LIVE_MARKER])
        time_run([sys.executable, str(bare)], env, [bare_marker])
        for run in range(args.runs):
            listed, live = time_run(console, env, [first, LIVE_MARKER])
            lists.append(listed)
            lives.append(live)
            bare_times.append(time_run([sys.executable, str(bare)], env, [bare_marker])[0])
            bare_time = ms(bare_times[-1])
            print(f"  run {run + 1}: console list {ms(listed)}, live {ms(live)}, bare table {bare_time}")
    listed, live, bare_median = median(lists), median(lives), median(bare_times)
    print(
        f"start: console list {ms(listed)}, live {ms(live)}, bare Textual table {ms(bare_median)} "
        f"(medians; ratios {listed / bare_median:.2f}x, {live / bare_median:.2f}x)"
    )
    note = f"through `shipdeck --provider miosa --url ...` in a pty, {args.runs} runs each; {load_note()}"
    results = [
        Result(
            "start: last known list painted vs bare Textual table",
            f"<= {LIST_RATIO}x",
            f"{listed / bare_median:.2f}x ({ms(listed)} vs {ms(bare_median)})",
            listed / bare_median <= LIST_RATIO,
            note,
        ),
        Result(
            "start: live rows vs bare Textual table",
            f"<= {LIVE_RATIO}x",
            f"{live / bare_median:.2f}x ({ms(live)} vs {ms(bare_median)})",
            live / bare_median <= LIVE_RATIO,
        ),
    ]
    return finish(results, args.json)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Start: process start -> first painted deployment list (demo seed), through the real ``shipdeck`` entry
point in a pseudo-terminal (120x40), against a bare Textual app painting a 9-row ``DataTable`` in the same
pty, measured the same way in the same run.

Each run is a fresh process on the slave side of a pty; the parent notes ``time.monotonic()`` just before
forking it and reads the master side until a row's text has been written (a deployment's name; for the
bare apps their last row) and, for the console, the header's "as of ..." (the last known list as a user
sees it: rows and their age), then until the header says "live" (the server's rows). The console runs as
a user would: ``shipdeck --provider miosa --url URL`` with the token in MIOSA_API_KEY, its cache of the last
known list warm from the run before (the untimed first run writes it). The apps alternate, so a noisy
neighbour hits all alike. Targets: the last known list within 1.3x the bare table, live rows within 2x.
A third app, bare Textual with the main screen's widget tree (header, list, six detail tabs, footer) and no
shipdeck code, shows the floor that widget tree sets.
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
CACHED_MARKER = b" as of "

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

# The floor: the same widget tree as shipdeck's main screen (a header of Statics, the hidden filter and
# command line, the list, the detail's six tabs with their lists, a compact footer over the main screen's
# keys), in plain Textual widgets with no shipdeck code, and the same rows.
SAME_TREE_APP = """
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Footer, Input, RichLog, Static, TabbedContent, TabPane

KEYS = (
    "r slash colon p P question_mark q e d R J S l y v right_square_bracket left_square_bracket"
    " t escape c F s h"
).split()


class Tree(App[None]):
    CSS = '''
    #header { height: 1; background: $panel; }
    #header > Static { width: auto; padding: 0 1; }
    #spacer { width: 1fr; }
    #filter, #command-line { display: none; }
    #list { height: 1fr; }
    #detail { height: 1fr; border-top: solid $primary; }
    '''
    BINDINGS = [Binding(key, "bell", f"Key {key}", show=i < 11) for i, key in enumerate(KEYS)]

    def compose(self) -> ComposeResult:
        with Horizontal(id="header"):
            for text in ("shipdeck", "SANDBOX", "profile · miosa", "READ-ONLY", "", "10 deployments", "", ""):
                yield Static(text)
            yield Static("◌ connecting", id="connection")
        yield Input(id="filter")
        yield Static(id="command-line")
        yield DataTable(id="list")
        with TabbedContent(id="detail"):
            with TabPane("Versions"):
                yield Static("")
                yield Static("")
                yield DataTable()
            with TabPane("Pipeline"), VerticalScroll():
                yield Static("")
            for name in ("Domains", "Env"):
                with TabPane(name):
                    yield Static("")
                    yield DataTable()
                    yield Static("hint")
            with TabPane("Events"):
                yield Static("")
                yield RichLog(max_lines=1000)
            with TabPane("Health"):
                yield Static("")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#list", DataTable)
        table.add_columns("STATE", "NAME", "VERSION", "ERRORS", "URL", "AGE")
        table.add_rows(
            ("running", f"app-{i:03d}", f"v{i}", "-", f"https://app-{i:03d}.example.app", "1h")
            for i in range(ROWS)
        )
        table.focus()


Tree().run()
"""


def time_run(argv: list[str], env: dict[str, str], markers: list[bytes]) -> list[float]:
    """Seconds from forking ``argv`` in a pty to each of ``markers`` written to it (in order)."""
    proc = PtyProcess(argv, env)
    try:
        return [proc.wait_for(marker, timeout=120) - proc.started for marker in markers]
    finally:
        proc.stop()


def console_run(argv: list[str], env: dict[str, str], first: bytes) -> tuple[list[float], bool]:
    """The console's times to its last known list (the first row and the header's "as of ..." both on
    screen) and to "live", and whether the cached list came first. Without it, the list's time is the first
    row's (then the server's)."""
    proc = PtyProcess(argv, env)
    try:
        row = proc.wait_for(first, timeout=120) - proc.started
        while CACHED_MARKER not in proc.tail and LIVE_MARKER not in proc.tail:
            proc.pump(0.002)
        cached = CACHED_MARKER in proc.tail and (
            LIVE_MARKER not in proc.tail or proc.tail.index(CACHED_MARKER) < proc.tail.index(LIVE_MARKER)
        )
        listed = proc.seen_at - proc.started if cached else row
        return [max(row, listed), proc.wait_for(LIVE_MARKER, timeout=120) - proc.started], cached
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
    tree_times: list[float] = []
    from_cache = 0
    with simulator("demo") as server:
        names = demo_deployments(server.miosa)
        # The row the console paints first (name order); the bare apps' last row.
        first = min(names, key=str.lower).encode()
        bare = home / "bare_table.py"
        bare.write_text(BARE_APP.replace("ROWS", str(len(names))))
        tree = home / "same_tree.py"
        tree.write_text(SAME_TREE_APP.replace("ROWS", str(len(names))))
        bare_marker = f"app-{len(names) - 1:03d}".encode()
        env = {**os.environ, "MIOSA_API_KEY": ADMIN_TOKEN, "PYTHONUNBUFFERED": "1"}
        console = [shipdeck, "--provider", "miosa", "--url", server.miosa]
        print(f"start: demo seed has {len(names)} deployments; {args.runs} runs of each app, alternating")
        print(f"  {load_note()}")
        # One untimed run of each warms the disk cache for all alike and writes the console's cache.
        time_run(console, env, [first, LIVE_MARKER])
        time_run([sys.executable, str(bare)], env, [bare_marker])
        time_run([sys.executable, str(tree)], env, [bare_marker])
        for run in range(args.runs):
            (listed, live), cached = console_run(console, env, first)
            lists.append(listed)
            lives.append(live)
            from_cache += cached
            bare_times.append(time_run([sys.executable, str(bare)], env, [bare_marker])[0])
            tree_times.append(time_run([sys.executable, str(tree)], env, [bare_marker])[0])
            print(
                f"  run {run + 1}: console list {ms(listed)}{'' if cached else ' (not the cached one)'}, "
                f"live {ms(live)}; bare table {ms(bare_times[-1])}, same widget tree {ms(tree_times[-1])}"
            )
    listed, live, bare_median, tree_median = (
        median(lists),
        median(lives),
        median(bare_times),
        median(tree_times),
    )
    print(
        f"start: console list {ms(listed)}, live {ms(live)}, bare Textual table {ms(bare_median)}, "
        f"bare Textual with the main screen's widget tree {ms(tree_median)} (medians; ratios to the bare "
        f"table {listed / bare_median:.2f}x, {live / bare_median:.2f}x; "
        f"the same tree {tree_median / bare_median:.2f}x)"
    )
    note = (
        f"through `shipdeck --provider miosa --url ...` in a pty, {args.runs} runs each, the cached list "
        f"painted first in {from_cache}; {load_note()}"
    )
    results = [
        Result(
            "start: last known list painted vs bare Textual table",
            f"<= {LIST_RATIO}x",
            f"{listed / bare_median:.2f}x ({ms(listed)} vs {ms(bare_median)})",
            listed / bare_median <= LIST_RATIO and from_cache == args.runs,
            note,
        ),
        Result(
            "start: live rows vs bare Textual table",
            f"<= {LIVE_RATIO}x",
            f"{live / bare_median:.2f}x ({ms(live)} vs {ms(bare_median)})",
            live / bare_median <= LIVE_RATIO,
        ),
        Result(
            "start: bare Textual app with the main screen's widget tree vs bare table (the floor)",
            "(figure)",
            f"{tree_median / bare_median:.2f}x ({ms(tree_median)} vs {ms(bare_median)}); console list "
            f"{listed / tree_median:.2f}x of it",
            True,
        ),
    ]
    return finish(results, args.json)


if __name__ == "__main__":
    sys.exit(main())

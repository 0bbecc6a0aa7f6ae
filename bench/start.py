#!/usr/bin/env python
"""Start: process start -> first painted deployment list (demo seed), against a bare Textual app that
paints one static table of the same size, measured the same way in the same run.

Each run is a fresh ``python`` subprocess; the parent notes ``time.monotonic()`` (system-wide on Linux)
just before starting it, the child prints ``time.monotonic()`` when the first frame with table rows is
painted (headless, terminal encoding included) and exits. Console and bare runs alternate, so a noisy
neighbour hits both alike. Target: median(console) <= 1.5 x median(bare).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    ADMIN_TOKEN,
    SCREEN_SIZE,
    Result,
    bench_arguments,
    finish,
    isolate_user_dirs,
    median,
    ms,
    simulator,
)

TARGET_RATIO = 1.5
PAINTED = "painted-at "


# ----------------------------------------------------------------------------------------------- children


def _exit_on_first_rows(app: object, table_class: type, has_rows: str) -> None:
    """Print the monotonic time of the first frame after a ``table_class`` rendered rows, then exit."""
    from textual._compositor import CompositorUpdate

    state = {"rows_rendered": False}
    original_render = table_class.render_lines  # type: ignore[attr-defined]

    def render_lines(self: object, crop: object) -> object:
        if getattr(self, has_rows) > 0:
            state["rows_rendered"] = True
        return original_render(self, crop)

    table_class.render_lines = render_lines  # type: ignore[attr-defined]
    original_display = app._display  # type: ignore[attr-defined]

    def display(screen: object, renderable: object) -> None:
        original_display(screen, renderable)
        if renderable is None or not state["rows_rendered"]:
            return
        if isinstance(renderable, CompositorUpdate):
            renderable.render_segments(app.console)  # type: ignore[attr-defined]
        print(f"{PAINTED}{time.monotonic()}", flush=True)
        os._exit(0)

    app._display = display  # type: ignore[attr-defined]


def child_console(miosa_url: str) -> None:
    import asyncio

    from shipdeck.config.console_options import ConsoleOptions
    from shipdeck.config.profile import Profile, Secret
    from shipdeck.config.themes import load_themes
    from shipdeck.tui.app import make_app
    from shipdeck.tui.widgets.deployments_table import DeploymentsTable

    profile = Profile("bench", "miosa", miosa_url, Secret(ADMIN_TOKEN), environment="sandbox")
    catalog = load_themes()
    options = ConsoleOptions(profile=profile, user_themes=catalog.themes, theme_problems=catalog.problems)
    app = make_app(options)
    _exit_on_first_rows(app, DeploymentsTable, "row_count")
    asyncio.run(app.run_async(headless=True, size=SCREEN_SIZE))


def child_bare(rows: int) -> None:
    import asyncio

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
                for i in range(rows)
            )

    app = Bare()
    _exit_on_first_rows(app, DataTable, "row_count")
    asyncio.run(app.run_async(headless=True, size=SCREEN_SIZE))


# ----------------------------------------------------------------------------------------------- parent


def time_child(args: list[str], env: dict[str, str]) -> float:
    """Seconds from starting a child to its first painted rows."""
    command = [sys.executable, __file__, "--child", *args]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    for line in done.stdout.splitlines():
        if line.startswith(PAINTED):
            return float(line[len(PAINTED) :]) - started
    raise RuntimeError(f"child {args} painted nothing:\n{done.stdout}\n{done.stderr}")


def demo_deployment_count(miosa_url: str) -> int:
    import httpx

    count, cursor = 0, None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        body = httpx.get(
            f"{miosa_url}/deployments", params=params, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ).json()
        count += len(body["data"])
        cursor = body.get("next_cursor")
        if not cursor:
            return count


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        if sys.argv[2] == "console":
            child_console(sys.argv[3])
        else:
            child_bare(int(sys.argv[3]))
        return 1  # the child exits from its first frame; getting here means it never painted rows
    parser = bench_arguments(__doc__ or "")
    parser.add_argument("--runs", type=int, default=9, help="runs of each app (median reported)")
    args = parser.parse_args()
    isolate_user_dirs()  # the children inherit it
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    console_times: list[float] = []
    bare_times: list[float] = []
    with simulator("demo") as server:
        rows = demo_deployment_count(server.miosa)
        print(f"start: demo seed has {rows} deployments; {args.runs} runs of each app, alternating")
        # One untimed run of each warms the disk cache for both alike.
        time_child(["console", server.miosa], env)
        time_child(["bare", str(rows)], env)
        for run in range(args.runs):
            console_times.append(time_child(["console", server.miosa], env))
            bare_times.append(time_child(["bare", str(rows)], env))
            print(f"  run {run + 1}: console {ms(console_times[-1])}, bare table {ms(bare_times[-1])}")
    console, bare = median(console_times), median(bare_times)
    ratio = console / bare
    print(f"start: console median {ms(console)}, bare Textual table median {ms(bare)}, ratio {ratio:.2f}x")
    result = Result(
        "start: first painted list vs bare Textual table",
        f"<= {TARGET_RATIO}x",
        f"{ratio:.2f}x ({ms(console)} vs {ms(bare)})",
        ratio <= TARGET_RATIO,
    )
    return finish([result], args.json)


if __name__ == "__main__":
    sys.exit(main())

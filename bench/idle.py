#!/usr/bin/env python
"""Idle: what the console costs while nobody touches it, through the real ``shipdeck demo`` entry point in
a pseudo-terminal (120x40), against a bare Textual app painting a 9-row table in the same pty, same run.

``shipdeck demo`` opens the fleet of its three sandbox profiles (Miosa, Miteos, Mixpeek), each with its
live connection. After the first painted list and a settle period, for ``--seconds`` seconds: the CPU time
of the console's own process (user + system from /proc, the simulator child excluded) and the bytes it
wrote to the terminal (read from the pty's master side). Both are printed per minute; a shorter run is
extrapolated linearly (printed as such). Targets: under 0.5% of one core and under 5 KB a minute.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    COLUMNS,
    LINES,
    PtyProcess,
    Result,
    bench_arguments,
    finish,
    isolate_user_dirs,
    load_note,
)

CPU_TARGET = 0.5  # percent of one core
BYTES_TARGET = 5 * 1024  # a minute
TICK = os.sysconf("SC_CLK_TCK")

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
            ("running", f"app-{i:03d}", f"v{i}", f"https://app-{i:03d}.example.app", "1h") for i in range(9)
        )


Bare().run()
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of the whole line (11 and 12 after the command name).
    return (int(fields[11]) + int(fields[12])) / TICK


def measure(argv: list[str], marker: bytes, seconds: float, settle: float) -> tuple[float, float]:
    """(percent of one core, bytes a minute) of ``argv`` idle in a pty after ``marker`` appeared."""
    proc = PtyProcess(argv)
    try:
        proc.wait_for(marker, timeout=120)
        proc.pump(settle)
        cpu_before, bytes_before, started = cpu_seconds(proc.pid), proc.received, time.monotonic()
        proc.pump(seconds)
        cpu = cpu_seconds(proc.pid) - cpu_before
        written = proc.received - bytes_before
        elapsed = time.monotonic() - started
    finally:
        proc.stop()
    return 100 * cpu / elapsed, written * 60 / elapsed


def main() -> int:
    parser = bench_arguments(__doc__ or "")
    parser.add_argument("--seconds", type=float, default=600, help="idle time measured (default 10 min)")
    parser.add_argument("--settle", type=float, default=5, help="seconds after the first list, unmeasured")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare Textual baseline")
    args = parser.parse_args()
    home = isolate_user_dirs()
    shipdeck = shutil.which("shipdeck", path=str(Path(sys.executable).parent)) or shutil.which("shipdeck")
    if shipdeck is None:
        print("idle: no shipdeck entry point next to this python (pip install -e . first)")
        return 2
    print(f"idle: {args.seconds:g} s after a {args.settle:g} s settle, {COLUMNS}x{LINES} pty; {load_note()}")
    # `shipdeck demo` opens the fleet of its three sandbox profiles; a Miosa row says its list is painted.
    console_cpu, console_bytes = measure(
        [shipdeck, "demo"], b"smile-dental-landing", args.seconds, args.settle
    )
    print(f"  console (shipdeck demo): {console_cpu:.2f}% of a core, {console_bytes / 1024:.2f} KiB/min")
    note = f"{args.seconds:g} s measured" + (
        ", extrapolated to a minute (target window 600 s)" if args.seconds < 600 else ""
    )
    if not args.no_bare:
        script = home / "bare_table.py"
        script.write_text(BARE_APP)
        bare_cpu, bare_bytes = measure([sys.executable, str(script)], b"app-008", args.seconds, args.settle)
        print(f"  bare Textual 9-row table: {bare_cpu:.2f}% of a core, {bare_bytes / 1024:.2f} KiB/min")
        note += f"; bare Textual table {bare_cpu:.2f}% CPU, {bare_bytes / 1024:.2f} KiB/min"
    note += f"; {load_note()}"
    results = [
        Result(
            "idle: console CPU (demo)",
            f"< {CPU_TARGET}% of a core",
            f"{console_cpu:.2f}%",
            console_cpu < CPU_TARGET,
            note,
        ),
        Result(
            "idle: bytes to the terminal (demo)",
            f"< {BYTES_TARGET // 1024} KB/min",
            f"{console_bytes / 1024:.2f} KiB/min",
            console_bytes < BYTES_TARGET,
        ),
    ]
    return finish(results, args.json)


if __name__ == "__main__":
    sys.exit(main())

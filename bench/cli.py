#!/usr/bin/env python
"""`shipdeck ls --json` against a plain httpx script making the same requests, as whole processes.

Both run against the same sandbox (demo seed), alternating A B A B so that a drift of the shared machine
hits both; each run's wall time is taken around the process and its CPU from the kernel's accounting of
the reaped child. The plain script makes the requests `ls --json` makes (read from the sandbox's own
request log after one `ls` run): the list pages, then one read of each active version whose number the
list does not give (Miosa's list names the active version by id), eight at a time on one keep-alive
client, and prints the JSON. The ratio is taken pair by pair; its median is printed. A third figure is the
same script making the list request alone (no version numbers in its output).

Benchmarks, not tests: nothing here is collected by pytest.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    ADMIN_TOKEN,
    Result,
    bench_arguments,
    finish,
    isolate_user_dirs,
    load_note,
    median,
    ms,
    sim_requests,
    simulator,
)

TARGET_RATIO = 1.5

PLAIN_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    import httpx

    base, token, paths = sys.argv[1], sys.argv[2], sys.argv[3:]

    async def main():
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as client:
            gate = asyncio.Semaphore(8)
            async def get(path):
                async with gate:
                    answer = await client.get(base + path)
                    answer.raise_for_status()
                    return answer.json()
            first = await get(paths[0])
            rest = await asyncio.gather(*(get(path) for path in paths[1:]))
        print(json.dumps([first, *rest]))

    asyncio.run(main())
    """
)


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one whole process; its output is read and dropped."""
    cpu = cpu_of_children()
    started = time.monotonic()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(
            f"{argv[:4]} exited {done.returncode}: {done.stderr.decode(errors='replace')[-500:]}"
        )
    return wall, cpu_of_children() - cpu


def main() -> int:
    parser = bench_arguments(__doc__ or "")
    parser.add_argument("--runs", type=int, default=9, help="pairs of runs (default 9)")
    args = parser.parse_args()
    isolate_user_dirs()
    env = {**os.environ, "MIOSA_API_KEY": ADMIN_TOKEN}
    # Bytecode caches are written as an installed package would have them (a machine may turn them off).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with simulator("demo") as server:
        shipdeck = [
            sys.executable,
            "-m",
            "shipdeck",
            "--provider",
            "miosa",
            "--url",
            server.miosa,
            "ls",
            "--json",
        ]
        seen = server.last_request_seq()
        timed(shipdeck, env)  # warm-up: caches, and the request log of one run
        made = sim_requests(server, seen)
        prefix = server.miosa.removeprefix(server.root)
        paths = [
            row["path"].removeprefix(prefix) + (f"?{row['query']}" if row.get("query") else "")
            for row in made
        ]
        script = Path(os.environ["XDG_CACHE_HOME"]).parent / "plain_ls.py"
        script.write_text(PLAIN_SCRIPT)
        plain = [sys.executable, str(script), server.miosa, ADMIN_TOKEN, *paths]
        timed(plain, env)
        # The list alone, the request a user might first write by hand: it prints no version numbers.
        list_only = [sys.executable, str(script), server.miosa, ADMIN_TOKEN, paths[0]]
        timed(list_only, env)
        triples = [(timed(shipdeck, env), timed(plain, env), timed(list_only, env)) for _ in range(args.runs)]
    pairs = [(a, b) for a, b, _ in triples]
    list_ratio = median([a[0] / c[0] for a, _, c in triples])
    list_wall = median([c[0] for _, _, c in triples])
    wall_ratio = median([a[0] / b[0] for a, b in pairs])
    cpu_ratio = median([a[1] / b[1] for a, b in pairs])
    ours_wall, plain_wall = median([a[0] for a, _ in pairs]), median([b[0] for _, b in pairs])
    lists = sum(1 for path in paths if path.split("?")[0].endswith("/deployments"))
    note = f"{len(paths)} requests each ({lists} list, {len(paths) - lists} version reads); {load_note()}"
    results = [
        Result(
            "cli: ls --json vs plain httpx, same requests (wall)",
            f"<= {TARGET_RATIO}x",
            f"{wall_ratio:.2f}x ({ms(ours_wall)} vs {ms(plain_wall)}, median of {args.runs} pairs)",
            wall_ratio <= TARGET_RATIO,
            note,
        ),
        Result(
            "cli: ls --json vs plain httpx, same requests (CPU)",
            f"<= {TARGET_RATIO}x",
            f"{cpu_ratio:.2f}x",
            cpu_ratio <= TARGET_RATIO,
        ),
        Result(
            "cli: ls --json vs plain httpx, the list request only (wall)",
            "(figure)",
            f"{list_ratio:.2f}x ({ms(list_wall)} for the list alone, which lacks the version numbers)",
            True,
        ),
    ]
    return finish(results, args.json)


if __name__ == "__main__":
    raise SystemExit(main())

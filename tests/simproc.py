"""Start `shipdeck sim` as a real subprocess on a free loopback port and read its ready lines.

The simulator prints, once it listens, one line per provider::

    miosa    http://127.0.0.1:43121/api/v1   tokens: msk_u_demo_admin msk_u_demo_readonly
    miteos   http://127.0.0.1:43121/v1       tokens: mt_test_demo
    mixpeek  http://127.0.0.1:43121/v1/apps  tokens: sk_demo
    shipdeck sim ready (Ctrl-C to stop)
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

_PROVIDER_LINE = re.compile(r"^(miosa|miteos|mixpeek)\s+(http://\S+)\s+tokens:\s*(.*)$")
READY_MARKER = "shipdeck sim ready"


@dataclass
class SimServer:
    process: subprocess.Popen[str]
    urls: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, list[str]] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)
    db_path: Path | None = None

    @property
    def root(self) -> str:
        """http://127.0.0.1:PORT"""
        url = self.urls["miosa"]
        return url[: url.index("/", len("http://"))]

    @property
    def port(self) -> int:
        return int(self.root.rsplit(":", 1)[1])

    @property
    def miosa(self) -> str:
        return self.urls["miosa"]

    @property
    def miteos(self) -> str:
        return self.urls["miteos"]

    @property
    def mixpeek(self) -> str:
        return self.urls["mixpeek"]

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        """What the simulator served after request ``since``: its own request log (one answer holds all)."""
        answer = httpx.get(f"{self.root}/_sim/requests", params={"since": since}, timeout=10)
        rows: list[dict[str, Any]] = answer.json()["requests"]
        return rows

    def last_request_seq(self) -> int:
        """The sequence number of the last request the simulator logged (a mark for ``requests``)."""
        return int(httpx.get(f"{self.root}/_sim/requests", timeout=10).json()["last_seq"])

    def stop(self, sig: int = signal.SIGINT, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


def sim_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "shipdeck", "sim", *args]


@contextmanager
def running_sim(
    args: Sequence[str] = (),
    *,
    db_path: Path | None = None,
    seed: str = "demo",
    speed: float = 20.0,
    rng_seed: int = 7,
    timeout: float = 60.0,
    env: dict[str, str] | None = None,
) -> Iterator[SimServer]:
    """A sandbox control plane on a free loopback port, stopped (SIGINT) when the block ends."""
    cmd_args = ["--host", "127.0.0.1", "--port", "0", "--seed", seed, "--speed", str(speed)]
    cmd_args += ["--rng-seed", str(rng_seed)]
    cmd_args += ["--db", str(db_path)] if db_path else ["--memory"]
    cmd_args += list(args)
    server = start_sim(cmd_args, timeout=timeout, env=env)
    server.db_path = db_path
    try:
        yield server
    finally:
        server.stop()


def start_sim(
    cmd_args: Sequence[str], *, timeout: float = 60.0, env: dict[str, str] | None = None
) -> SimServer:
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.Popen(
        sim_command(*cmd_args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=full_env,
    )
    server = SimServer(process=proc)
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            server.output.append(line)
            m = _PROVIDER_LINE.match(line.strip())
            if m:
                server.urls[m.group(1)] = m.group(2)
                server.tokens[m.group(1)] = m.group(3).split()
            if READY_MARKER in line:
                ready.set()
        ready.set()  # process ended: unblock the waiter

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.05):
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("shipdeck sim did not become ready:\n" + "\n".join(server.output))
    if proc.poll() is not None or "miosa" not in server.urls:
        proc.kill()
        raise RuntimeError("shipdeck sim failed to start:\n" + "\n".join(server.output))
    return server

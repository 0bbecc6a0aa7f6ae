"""`shipdeck demo`: the sandbox control plane in the background, on loopback, with demo data.

The simulator is a child process (``python -m shipdeck sim``); it prints one ready line per provider with
its URL and tokens, then "shipdeck sim ready". It is stopped with SIGINT (then killed) however the demo ends.
"""

from __future__ import annotations

import collections
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from types import TracebackType

from shipdeck.api.providers import SPECS, demo_spec
from shipdeck.cli.output import CliError
from shipdeck.config.profile import Profile, Secret

_PROVIDER_LINE = re.compile(rf"^({'|'.join(map(re.escape, SPECS))})\s+(http://\S+)\s+tokens:\s*(.*)$")
READY_MARKER = "shipdeck sim ready"
# The demo fleet's profile names: what each sandbox surface stands for (Mixpeek's rows carry their own
# environment, production and staging).
FLEET_NAMES = {"miosa": "miosa-production", "miteos": "miteos-staging", "mixpeek": "mixpeek"}
NETWORK_EXIT = 5


class DemoSandbox:
    """A running simulator; use as a context manager so it is stopped on every way out."""

    def __init__(self, db_path: Path, *, port: int = 0, start_timeout: float = 60.0) -> None:
        self.db_path = db_path
        self.port = port
        self.start_timeout = start_timeout
        self.urls: dict[str, str] = {}
        self.tokens: dict[str, list[str]] = {}
        # The last lines the simulator printed, to explain a failure.
        self.output: collections.deque[str] = collections.deque(maxlen=40)
        self.process: subprocess.Popen[str] | None = None
        self._ready = threading.Event()  # set when it announced itself, or when its output ended
        self._announced_ready = False

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "shipdeck", "sim",
            "--host", "127.0.0.1", "--port", str(self.port), "--db", str(self.db_path), "--seed", "demo",
        ]  # fmt: skip

    def start(self) -> DemoSandbox:
        try:
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                # Its database lives in the private state dir: owner-only files, like ours.
                umask=0o077 if os.name == "posix" else -1,
            )
        except OSError as exc:
            raise CliError(
                f"could not start the sandbox control plane: {exc.strerror}", NETWORK_EXIT
            ) from None
        # Keep reading its output for as long as it runs: a full pipe would stall the simulator.
        threading.Thread(target=self._pump, name="shipdeck-demo-sim-output", daemon=True).start()
        try:
            self._wait_ready(self.process)
        except BaseException:  # also Ctrl-C while waiting: never leave it running
            self.stop()
            raise
        return self

    def _wait_ready(self, process: subprocess.Popen[str]) -> None:
        deadline = time.monotonic() + self.start_timeout
        while not self._ready.wait(0.05):
            if time.monotonic() > deadline:
                raise CliError(
                    self._failure(f"did not become ready within {self.start_timeout:g}s"), NETWORK_EXIT
                )
        if not self._announced_ready or process.poll() is not None:
            raise CliError(self._failure("stopped before it was ready"), NETWORK_EXIT)
        console = demo_spec("console").name
        if console not in self.urls:
            raise CliError(self._failure(f"announced no {console.capitalize()} URL"), NETWORK_EXIT)

    def _pump(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.rstrip("\n")
            self.output.append(line)
            match = _PROVIDER_LINE.match(line.strip())
            if match:
                self.urls[match.group(1)] = match.group(2)
                self.tokens[match.group(1)] = match.group(3).split()
            if READY_MARKER in line:
                self._announced_ready = True
                self._ready.set()
        self._ready.set()  # it ended: wake the waiter

    def _failure(self, what: str) -> str:
        # Its ready lines carry tokens: never part of a message.
        lines = [line for line in self.output if line.strip() and not _PROVIDER_LINE.match(line.strip())]
        tail = " | ".join(lines[-5:])
        hint = f" (port {self.port} may be in use; try --port 0)" if self.port else ""
        return f"the sandbox control plane {what}{hint}" + (f": {tail}" if tail else "")

    def stop(self, timeout: float = 10.0) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def __enter__(self) -> DemoSandbox:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def profile(self, *, read_only: bool = False) -> Profile:
        """The console profile (the provider whose spec's demo role is "console": Miosa), with the tasks
        provider's side (Miteos) attached for the Tasks screen."""
        console, side = demo_spec("console"), demo_spec("tasks")
        assert console.demo is not None and side.demo is not None
        tasks = None
        if side.name in self.urls and self.tokens.get(side.name):
            tasks = Profile(
                name=side.demo.name,
                provider=side.name,
                base_url=self.urls[side.name],
                token=Secret(self.tokens[side.name][0]),
                environment="sandbox",
                read_only=read_only,
            )
        if not self.tokens.get(console.name):
            raise CliError(self._failure(f"announced no {console.name.capitalize()} token"), NETWORK_EXIT)
        return Profile(
            name=console.demo.name,
            provider=console.name,
            base_url=self.urls[console.name],
            token=Secret(self.tokens[console.name][0]),
            environment="sandbox",
            read_only=read_only,
            tasks=tasks,
        )

    def fleet_profiles(self, *, read_only: bool = False) -> list[Profile]:
        """The demo's fleet: one profile per provider the sandbox serves (Miosa production with its Tasks
        side, Miteos staging, Mixpeek production and staging), each named after what it stands for."""
        profiles: list[Profile] = [self.profile(read_only=read_only)]
        profiles[0] = replace(profiles[0], name=FLEET_NAMES.get(profiles[0].provider, profiles[0].provider))
        for provider, url in self.urls.items():
            if provider == profiles[0].provider or provider not in SPECS or not self.tokens.get(provider):
                continue
            profiles.append(
                Profile(
                    name=FLEET_NAMES.get(provider, provider),
                    provider=SPECS[provider].name,
                    base_url=url,
                    token=Secret(self.tokens[provider][0]),
                    environment="sandbox",
                    read_only=read_only,
                )
            )
        return profiles

    def single_profile(self, provider: str, *, read_only: bool = False) -> Profile:
        """``shipdeck demo --provider NAME``: that provider's profile alone (Miosa: today's demo profile)."""
        for profile in [self.profile(read_only=read_only), *self.fleet_profiles(read_only=read_only)[1:]]:
            if profile.provider == provider:
                return profile
        raise CliError(self._failure(f"announced no {provider} URL"), NETWORK_EXIT)

"""How the console starts, through the real ``shipdeck`` entry point: the last known list is painted before
the server's (even a server that answers in milliseconds), and nothing the first frame does not need is
imported before it (the sandbox, the server side, the other providers' adapters, the HTTP client)."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import sys
import time
from pathlib import Path

from tests.conftest import ADMIN
from tests.simproc import SimServer

LIVE = "● live".encode()
CACHED = b" as of "
# Bounds a hang only: each wait ends as soon as what it waits for is on the terminal.
DEADLINE = 60.0


class Terminal:
    """``argv`` on the slave side of a pseudo-terminal (120x40); what it writes is kept, in order."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.pid, self.fd = os.forkpty()
        if self.pid == 0:  # the child
            try:
                os.execve(argv[0], argv, {**env, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"})
            finally:
                os._exit(127)
        self.output = b""

    def wait_for(self, marker: bytes) -> None:
        deadline = time.monotonic() + DEADLINE
        while marker not in self.output:
            assert time.monotonic() < deadline, (
                f"{marker!r} never appeared; the screen had {self.output[-2000:]!r}"
            )
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    self.output += os.read(self.fd, 65536)
                except OSError:  # the child has gone
                    assert marker in self.output, f"the console ended before {marker!r}"

    def quit(self) -> int:
        os.write(self.fd, b"q")
        deadline = time.monotonic() + DEADLINE
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([self.fd], [], [], 0.1)
                if ready:
                    try:
                        self.output += os.read(self.fd, 65536)
                    except OSError:
                        pass
                done, status = os.waitpid(self.pid, os.WNOHANG)
                if done:
                    self._drain()  # what it wrote last may still be in the pty (a long import list)
                    return os.waitstatus_to_exitcode(status)
            os.kill(self.pid, signal.SIGTERM)
            return os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        finally:
            os.close(self.fd)

    def _drain(self) -> None:
        """Read what is left in the pty after the child ended."""
        while select.select([self.fd], [], [], 0.1)[0]:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # the child has gone and the pty is drained
                return
            if not chunk:
                return
            self.output += chunk


def shipdeck() -> str:
    found = shutil.which("shipdeck", path=str(Path(sys.executable).parent))
    assert found is not None, "the shipdeck entry point is installed next to this python"
    return found


def test_the_last_known_list_is_painted_before_the_servers_rows(sim: SimServer) -> None:
    env = {**os.environ, "MIOSA_API_KEY": ADMIN}
    argv = [shipdeck(), "--provider", "miosa", "--url", sim.miosa]
    first = Terminal(argv, env)
    first.wait_for(LIVE)
    assert first.quit() == 0  # and the list is saved for the next start
    assert CACHED not in first.output  # nothing was cached yet

    again = Terminal(argv, env)
    again.wait_for(LIVE)
    assert again.quit() == 0
    screen = again.output
    assert CACHED in screen, "the last known list never said how old it is"
    # Before the server's rows: the sandbox answers in milliseconds, and the cached list still comes first.
    assert screen.index(CACHED) < screen.index(LIVE)
    assert screen.index(b"analytics-worker") < screen.index(LIVE)


# Run as `shipdeck --provider miosa --url URL` would be, until the first frame is painted: which modules
# were imported by then.
BEFORE_FIRST_FRAME = """
import json, sys
import shipdeck.tui.app as app_module

painted = []

def first_frame(self):
    if not painted:
        painted.append(sorted(sys.modules))
        self.exit()

original = app_module.ShipdeckApp.on_mount

async def on_mount(self):
    await original(self)
    self.call_after_refresh(first_frame, self)

app_module.ShipdeckApp.on_mount = on_mount
from shipdeck.cli import main
main(sys.argv[1:])
print("\\nIMPORTED " + json.dumps(painted[0] if painted else []))
"""

NOT_BEFORE_FIRST_FRAME = (
    "shipdeck.sim",  # the sandbox's server side
    "uvicorn",
    "starlette",
    "shipdeck.cli.demo",
    "shipdeck.cli.serve",
    "shipdeck.api.miteos",  # the other providers' adapters: the profile is Miosa's
    "shipdeck.api.mixpeek",
    "websockets",
    "httpx",  # the HTTP client comes with the first request, after the first frame
    "httpx_sse",
    "tenacity",
)


def test_nothing_the_first_frame_does_not_need_is_imported_before_it(sim: SimServer, tmp_path: Path) -> None:
    script = tmp_path / "first_frame.py"
    script.write_text(BEFORE_FIRST_FRAME)
    env = {**os.environ, "MIOSA_API_KEY": ADMIN}
    console = Terminal([sys.executable, str(script), "--provider", "miosa", "--url", sim.miosa], env)
    console.wait_for(b"IMPORTED ")
    # The list's own end (its last name's quote, then ']'): a bare ']' is in the terminal's escape codes
    # already, and a 'q' sent while the list is still being printed is echoed into the middle of it.
    console.wait_for(b'"]')
    console.quit()
    listed = console.output.split(b"IMPORTED ", 1)[1]
    imported = json.loads(listed[: listed.index(b"]") + 1])
    assert "shipdeck.tui.screens.main" in imported  # it did get as far as the main screen
    early = [
        m
        for m in imported
        if any(m == name or m.startswith(name + ".") for name in NOT_BEFORE_FIRST_FRAME)
        and m != "httpx._main"  # api/__init__.py's stand-in for httpx's own command line, not httpx
    ]
    assert early == []

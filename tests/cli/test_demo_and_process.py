"""`shipdeck demo`'s sandbox lifecycle, and the command line as a real process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from shipdeck.cli.demo import DemoSandbox
from shipdeck.config.console_options import ConsoleOptions
from tests.cli.helpers import shipdeck
from tests.conftest import ADMIN
from tests.simproc import SimServer


def reachable(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.TransportError:
        return False
    return True


def test_demo_opens_the_console_on_a_sandbox_and_stops_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[ConsoleOptions] = []

    def fake_console(options: ConsoleOptions) -> int:
        # The sandbox is up while the console runs, and its data answers with the demo token.
        seen.append(options)
        answer = httpx.get(
            options.profile.base_url + "/deployments",
            headers={"Authorization": f"Bearer {options.profile.token.reveal()}"},
            timeout=5,
        )
        assert answer.status_code == 200 and answer.json()["data"]
        return 0

    monkeypatch.setattr("shipdeck.cli.app.open_console", fake_console)
    result = shipdeck(capsys, "demo", "--fresh")
    assert result.code == 0, result.err
    (options,) = seen
    profile = options.profile
    assert profile.provider == "miosa" and profile.environment == "sandbox"
    assert profile.base_url.startswith("http://127.0.0.1:")
    assert profile.tasks is not None and profile.tasks.provider == "miteos"
    assert {t.name for t in options.theme_specs} >= {"shipdeck-dark", "shipdeck-ansi"}
    assert not reachable(profile.base_url + "/deployments"), "the sandbox must stop when the console exits"


def test_demo_stops_the_sandbox_when_the_console_fails(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    urls: list[str] = []

    def crashing_console(options: ConsoleOptions) -> int:
        urls.append(options.profile.base_url)
        raise KeyboardInterrupt

    monkeypatch.setattr("shipdeck.cli.app.open_console", crashing_console)
    result = shipdeck(capsys, "demo")
    assert result.code == 130 and "interrupted" in result.err
    assert urls and not reachable(urls[0] + "/deployments")


def test_demo_on_a_busy_port_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = shipdeck(capsys, "demo", "--port", str(port))
    assert result.code == 5
    starting, error = result.err.splitlines()
    assert starting == "shipdeck: starting the sandbox control plane on loopback ..."
    assert error.startswith("shipdeck: error: the sandbox control plane stopped before it was ready")
    assert f"port {port} may be in use" in error and "Address already in use" in error


def test_sandbox_context_manager_stops_on_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), DemoSandbox(tmp_path / "demo.db") as sandbox:
        url = sandbox.urls["miosa"]
        assert reachable(url + "/deployments")
        raise RuntimeError("boom")
    assert sandbox.process is not None and sandbox.process.poll() is not None
    assert not reachable(url + "/deployments")


def run_process(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shipdeck", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
    )


def test_ad_hoc_ls_as_a_process(sim: SimServer) -> None:
    done = run_process(
        "--provider", "miosa", "--url", sim.miosa, "ls", "--json", env={"MIOSA_API_KEY": ADMIN}
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) and ADMIN not in done.stdout + done.stderr


def test_errors_as_a_process_are_one_line_without_traceback(sim: SimServer, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[profiles.a]\nprovider = "miosa"\nread_only = "no"\n')
    done = run_process("ls", env={"SHIPDECK_CONFIG": str(config)})
    assert done.returncode == 2
    assert (
        done.stderr
        == f"shipdeck: error: {config}, line 3: profiles.a.read_only: must be true or false (got 'no')\n"
    )
    refused = run_process(
        "--provider", "miosa", "--url", sim.miosa, "rollback", "whatever", env={"MIOSA_API_KEY": ADMIN}
    )
    assert refused.returncode in (2, 4) and "Traceback" not in refused.stderr
    assert refused.stderr.count("\n") == 1


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    state = tmp_path / "state"
    log_dir = state / "shipdeck"
    log_dir.mkdir(parents=True)
    record = json.dumps(
        {"time": "2026-01-01T00:00:00Z", "phase": "intent", "action": "rollback", "target": "x" * 80}
    )
    (log_dir / "audit.jsonl").write_text((record + "\n") * 3000)
    proc = subprocess.Popen(
        [sys.executable, "-m", "shipdeck", "audit"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "XDG_STATE_HOME": str(state)},
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().split()[0] == b"TIME"
    proc.stdout.close()  # like `| head -1`
    assert proc.wait(timeout=60) == 0
    assert proc.stderr.read() == b""

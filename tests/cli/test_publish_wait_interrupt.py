"""Ctrl-C while `publish --wait` waits for the build: the publish was applied and its outcome recorded, yet
the user read only 'interrupted' and ran it again (a second version). What was published is said before
the wait, and again when the wait is interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from shipdeck.config.audit import read_audit
from tests.conftest import ADMIN
from tests.simproc import SimServer, running_sim

HEADERS = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def slow_builds() -> Iterator[SimServer]:
    """Builds at real speed: a publish is still building seconds after it was taken."""
    with running_sim(speed=1.0) as server:
        yield server


def test_ctrl_c_while_waiting_says_the_publish_was_made(slow_builds: SimServer) -> None:
    rows = httpx.get(slow_builds.miosa + "/deployments?limit=200", headers=HEADERS, timeout=10).json()["data"]
    dep = rows[0]
    command = [sys.executable, "-m", "shipdeck", "--provider", "miosa", "--url", slow_builds.miosa]
    command += ["publish", dep["name"], "--sandbox", "sbx_wait", "--wait", "--yes", "--interval", "0.2"]
    waiting = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "MIOSA_API_KEY": ADMIN},
        text=True,
    )
    try:
        assert waiting.stderr is not None
        said = ""
        while "waiting until it ends" not in said:
            line = waiting.stderr.readline()
            assert line, f"the command ended before it waited: {said}"
            said += line
    finally:
        waiting.send_signal(signal.SIGINT)
        out, err = waiting.communicate(timeout=30)
    said += err
    assert waiting.returncode == 130, said
    published = [v for v in httpx.get(
        f"{slow_builds.miosa}/deployments/{dep['id']}/versions?limit=200", headers=HEADERS, timeout=10
    ).json()["data"] if v.get("source_sandbox_id") == "sbx_wait"]  # fmt: skip
    assert len(published) == 1
    label = f"v{published[0]['version_number']}"
    assert f"published {label} (" in said, said
    assert f"stopped waiting: {label} was published to {dep['name']}" in said, said
    assert "not sent again" in said
    outcomes = [r.get("outcome") for r in read_audit() if isinstance(r, dict) and r["phase"] == "outcome"]
    assert outcomes == ["ok"], outcomes

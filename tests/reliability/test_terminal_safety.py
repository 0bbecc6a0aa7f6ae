"""Server text that holds escape sequences or markup is shown as literal text, never interpreted.

A deployment name with an OSC 52 sequence must not write the clipboard, a log line with CSI must not
recolour or clear the screen, ``[bold]`` must print as typed and ``[@click=app.quit]`` must not become a
button. Checked in what the console really renders (every screen that shows server text) and in what
the scriptable commands print (plain and --json). The hostile text is written into a real
``shipdeck sim`` through its own API (names, sandbox ids that end up in build logs, env values, deploy
messages, task prompts); error messages come from a small hostile server.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import Result, shipdeck, write_config
from tests.conftest import ADMIN, MIXPEEK_TOKEN
from tests.reliability.safety_kit import (
    HOSTILE,
    MARKUP,
    EchoServer,
    assert_terminal_safe,
    echo_server,
    miosa_post,
)
from tests.simproc import SimServer, running_sim

HOSTILE_ENV_VALUE = "\x1b]52;c;aGk=\x07-middle-\x1b[2J\x07"


@pytest.fixture(scope="module")
def hostile_sim() -> Iterator[SimServer]:
    """A simulator of this module's own with hostile text in it (the shared one stays clean)."""
    with running_sim(speed=50.0) as server:
        yield server


@pytest.fixture(scope="module")
def hostile_deployment(hostile_sim: SimServer) -> dict[str, Any]:
    created = miosa_post(hostile_sim.miosa, "/deployments", {"name": HOSTILE})["data"]
    miosa_post(
        hostile_sim.miosa,
        f"/deployments/{created['id']}/env",
        {"env": {"HOSTILE_VALUE": HOSTILE_ENV_VALUE}},
    )
    return created


@pytest.fixture
def cli_profiles(hostile_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    config = f"""\
default_profile = "sim"

[profiles.sim]
provider = "miosa"
base_url = "{hostile_sim.miosa}"
token_env = "SIM_TOKEN"

[profiles.mixpeek]
provider = "mixpeek"
base_url = "{hostile_sim.mixpeek}"
token_env = "SIM_MIXPEEK_TOKEN"
"""
    monkeypatch.setenv("SHIPDECK_CONFIG", str(write_config(tmp_path / "config.toml", config)))
    monkeypatch.setenv("SIM_TOKEN", ADMIN)
    monkeypatch.setenv("SIM_MIXPEEK_TOKEN", MIXPEEK_TOKEN)
    return hostile_sim


def assert_output_safe(result: Result, what: str) -> None:
    assert_terminal_safe(result.out, f"{what}: stdout")
    assert_terminal_safe(result.err, f"{what}: stderr")


# -- scriptable commands -------------------------------------------------------------------------------


def test_names_print_literally_in_plain_and_json_output(
    capsys: pytest.CaptureFixture[str], cli_profiles: SimServer, hostile_deployment: dict[str, Any]
) -> None:
    listing = shipdeck(capsys, "ls")
    assert listing.code == 0, listing.err
    assert_output_safe(listing, "ls")
    assert MARKUP in listing.out

    status = shipdeck(capsys, "status", hostile_deployment["id"])
    assert status.code == 0, status.err
    assert_output_safe(status, "status")
    assert MARKUP in status.out

    as_json = shipdeck(capsys, "ls", "--json")
    assert as_json.code == 0, as_json.err
    assert_output_safe(as_json, "ls --json")
    # JSON keeps the exact text, escaped: a program reading it loses nothing.
    names = [row["name"] for row in json.loads(as_json.out)]
    assert HOSTILE in names


def test_env_previews_print_literally(
    capsys: pytest.CaptureFixture[str], cli_profiles: SimServer, hostile_deployment: dict[str, Any]
) -> None:
    plain = shipdeck(capsys, "env", hostile_deployment["id"])
    assert plain.code == 0, plain.err
    assert_output_safe(plain, "env")
    assert "HOSTILE_VALUE" in plain.out
    as_json = shipdeck(capsys, "env", hostile_deployment["id"], "--json")
    assert_output_safe(as_json, "env --json")
    previews = {row["name"]: row["preview"] for row in json.loads(as_json.out)}
    # The API masks the middle; the ends it shows are kept exactly in JSON.
    assert previews["HOSTILE_VALUE"].startswith(HOSTILE_ENV_VALUE[:3])


def test_deploy_messages_print_literally(capsys: pytest.CaptureFixture[str], cli_profiles: SimServer) -> None:
    published = shipdeck(
        capsys, "--profile", "mixpeek", "publish", "docs-portal@staging", "--message", HOSTILE, "--yes"
    )
    assert published.code == 0, published.err
    assert_output_safe(published, "publish")
    versions = _wait_for_version_with_message(capsys, HOSTILE)
    assert_output_safe(versions, "versions")
    # The table shortens long messages; what it shows is the text as sent, escapes made visible.
    assert "?[31mR?[0m" in versions.out
    as_json = shipdeck(capsys, "--profile", "mixpeek", "versions", "docs-portal@staging", "--json")
    assert_output_safe(as_json, "versions --json")
    assert HOSTILE in [row["message"] for row in json.loads(as_json.out)]


def _wait_for_version_with_message(capsys: pytest.CaptureFixture[str], message: str) -> Result:
    deadline = time.monotonic() + 30
    while True:
        as_json = shipdeck(capsys, "--profile", "mixpeek", "versions", "docs-portal@staging", "--json")
        if as_json.code == 0 and message in [row["message"] for row in json.loads(as_json.out)]:
            return shipdeck(capsys, "--profile", "mixpeek", "versions", "docs-portal@staging")
        assert time.monotonic() < deadline, "the hostile deploy never became a version"
        time.sleep(0.2)


@pytest.mark.parametrize("status", [403, 422, 404])
def test_server_error_messages_print_literally(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    monkeypatch.setenv("MIOSA_API_KEY", ADMIN)
    with echo_server(EchoServer(status=status, message=HOSTILE)) as server:
        result = shipdeck(capsys, "--provider", "miosa", "--url", server.root + "/api/v1", "ls")
        assert server.seen_authorization, "the command never reached the hostile server"
    assert result.code != 0
    assert_output_safe(result, f"error {status}")
    assert MARKUP in result.err
    assert len(result.err.strip().splitlines()) == 1, result.err


def test_a_typed_name_that_matches_nothing_is_echoed_literally(
    capsys: pytest.CaptureFixture[str], cli_profiles: SimServer
) -> None:
    result = shipdeck(capsys, "status", "no-such-" + HOSTILE)
    assert result.code == 4, result.err
    assert_output_safe(result, "not found")

"""`shipdeck stop` and `shipdeck releases` on a Miosa profile against a real `shipdeck sim`: stop takes the
deployment off the air (read back from the server), asks first, and a release promote puts it back; a
provider without them says so and sends nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.helpers import shipdeck, write_config
from tests.conftest import ADMIN, MITEOS_TOKEN
from tests.simproc import SimServer


@pytest.fixture
def miosa(fresh_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    config = f"""\
default_profile = "ms"

[profiles.ms]
provider = "miosa"
base_url = "{fresh_sim.miosa}"
token_env = "SIM_MIOSA_TOKEN"

[profiles.mt]
provider = "miteos"
base_url = "{fresh_sim.miteos}"
token_env = "SIM_MITEOS_TOKEN"
"""
    monkeypatch.setenv("SHIPDECK_CONFIG", str(write_config(tmp_path / "config.toml", config)))
    monkeypatch.setenv("SIM_MIOSA_TOKEN", ADMIN)
    monkeypatch.setenv("SIM_MITEOS_TOKEN", MITEOS_TOKEN)
    return fresh_sim


def server_deployment(sim: SimServer, name: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    rows = httpx.get(f"{sim.miosa}/deployments", params={"limit": 200}, headers=headers, timeout=10).json()
    return dict(next(d for d in rows["data"] if d["name"] == name))


def test_stop_takes_it_off_the_air_and_a_release_promote_puts_it_back(
    capsys: pytest.CaptureFixture[str], miosa: SimServer
) -> None:
    name = "smile-dental-landing"
    assert server_deployment(miosa, name)["state"] == "running"
    unconfirmed = shipdeck(capsys, "stop", name)
    assert unconfirmed.code == 2 and "off the air" in unconfirmed.err
    assert server_deployment(miosa, name)["state"] == "running"
    stopped = shipdeck(capsys, "stop", name, "--yes", "--json")
    assert stopped.code == 0, stopped.err
    assert json.loads(stopped.out)["state"] == "stopped"
    after = server_deployment(miosa, name)
    assert after["state"] == "stopped" and after["public_url"] is None

    listed = json.loads(shipdeck(capsys, "releases", name, "--json").out)
    active = next(r for r in listed if r["version_id"] == after["active_version_id"])
    promoted = shipdeck(capsys, "releases", name, "promote", active["id"], "--yes")
    assert promoted.code == 0, promoted.err
    assert f"promoted release {active['id']}" in promoted.out
    assert server_deployment(miosa, name)["state"] == "running"
    missing = shipdeck(capsys, "releases", name, "promote", "rel_nope", "--yes")
    assert missing.code == 4 and "no release 'rel_nope'" in missing.err


def test_auto_deploy_off_names_the_clis_way_back_not_the_consoles_key(
    capsys: pytest.CaptureFixture[str], miosa: SimServer
) -> None:
    """`auto-deploy DEP off` said "until you turn it on: H", a console key, to a shell."""
    held = shipdeck(capsys, "auto-deploy", "status-page", "off", "--yes")
    assert held.code == 0, held.err
    way_back = "shipdeck auto-deploy status-page on"
    assert (
        held.out.strip()
        == f"status-page: auto-deploy turned off (what is live holds until you turn it on: {way_back})"
    )
    assert f"turned on again ({way_back})." in held.err, held.err
    assert server_deployment(miosa, "status-page")["auto_deploy"] is False
    back = shipdeck(capsys, *way_back.split()[1:], "--yes")
    assert back.code == 0 and "auto-deploy turned on" in back.out, back.err


def test_a_hold_asked_of_a_named_profile_names_that_profile_in_its_way_back(
    capsys: pytest.CaptureFixture[str], miosa: SimServer
) -> None:
    """Printed without --profile, the way back failed with "several profiles and no default", or acted on
    the default profile's deployment of the same name."""
    held = shipdeck(capsys, "--profile", "ms", "auto-deploy", "status-page", "off", "--yes")
    assert held.code == 0, held.err
    assert "until you turn it on: shipdeck --profile ms auto-deploy status-page on)" in held.out, held.out


def test_a_provider_without_stop_says_so(capsys: pytest.CaptureFixture[str], miosa: SimServer) -> None:
    result = shipdeck(capsys, "--profile", "mt", "stop", "anything", "--yes")
    assert result.code == 2 and "stop" in result.err and "Traceback" not in result.err


def test_logs_of_a_runtime_instance(capsys: pytest.CaptureFixture[str], miosa: SimServer) -> None:
    result = shipdeck(capsys, "logs", "smile-dental-landing", "--limit", "20")
    assert result.code == 0, result.err
    assert len(result.out.splitlines()) == 20 and all(" GET /" in line for line in result.out.splitlines())
    errors = json.loads(shipdeck(capsys, "logs", "smile-dental-landing", "--level", "error", "--json").out)
    assert errors and all(" 500 " in line["line"] and line["stream"] == "stderr" for line in errors)

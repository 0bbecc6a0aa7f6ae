"""`shipdeck ls --all-profiles`: every profile's deployments with profile and provider, in parallel; a
profile that fails is named and makes the exit code non-zero, the others are listed all the same."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.cli.helpers import shipdeck, write_config
from tests.conftest import ADMIN, MITEOS_TOKEN, MIXPEEK_TOKEN
from tests.simproc import SimServer


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _configure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sim: SimServer, *, mixpeek: str) -> None:
    config = f"""\
[profiles.miosa-production]
provider = "miosa"
base_url = "{sim.miosa}"
token_env = "SIM_MIOSA_TOKEN"

[profiles.miteos-staging]
provider = "miteos"
base_url = "{sim.miteos}"
token_env = "SIM_MITEOS_TOKEN"

[profiles.mixpeek]
provider = "mixpeek"
base_url = "{mixpeek}"
token_env = "SIM_MIXPEEK_TOKEN"
"""
    monkeypatch.setenv("SHIPDECK_CONFIG", str(write_config(tmp_path / "config.toml", config)))
    monkeypatch.setenv("SIM_MIOSA_TOKEN", ADMIN)
    monkeypatch.setenv("SIM_MITEOS_TOKEN", MITEOS_TOKEN)
    monkeypatch.setenv("SIM_MIXPEEK_TOKEN", MIXPEEK_TOKEN)


def test_every_profile_is_listed_with_its_provider(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sim: SimServer
) -> None:
    _configure(monkeypatch, tmp_path, sim, mixpeek=sim.mixpeek)
    result = shipdeck(capsys, "ls", "--all-profiles", "--json")
    assert result.code == 0, result.err
    body = json.loads(result.out)
    assert body["failed"] == []
    seen = {(row["profile"], row["provider"]) for row in body["deployments"]}
    assert seen == {("miosa-production", "miosa"), ("miteos-staging", "miteos"), ("mixpeek", "mixpeek")}
    names = {row["name"].lower() for row in body["deployments"]}
    assert "smile-dental-landing" in names and "storefront" in names
    table = shipdeck(capsys, "ls", "--all-profiles")
    assert table.code == 0
    assert table.out.startswith("PROFILE") and "miteos-staging" in table.out
    # As plain `ls`: Miosa's rows get their version numbers, and --sort sorts (it was ignored).
    miosa = [row for row in body["deployments"] if row["provider"] == "miosa"]
    assert miosa and all(
        row["active_version_number"] is not None for row in miosa if row["active_version_id"]
    )
    by_name = json.loads(shipdeck(capsys, "ls", "--all-profiles", "--json", "--sort", "name").out)[
        "deployments"
    ]
    keys = [row["name"].casefold() for row in by_name]
    assert keys == sorted(keys)
    health = shipdeck(capsys, "ls", "--all-profiles", "--sort", "health")
    assert health.code == 2 and "cannot sort by health" in health.err


def test_a_failing_profile_is_named_and_the_others_still_listed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sim: SimServer
) -> None:
    _configure(monkeypatch, tmp_path, sim, mixpeek=_dead_url())
    result = shipdeck(capsys, "--timeout", "3", "ls", "--all-profiles", "--json")
    assert result.code != 0
    body = json.loads(result.out)
    assert [f["profile"] for f in body["failed"]] == ["mixpeek"]
    assert {row["profile"] for row in body["deployments"]} == {"miosa-production", "miteos-staging"}
    assert "profile mixpeek (mixpeek) failed" in result.err


def test_when_every_profile_fails_stdout_claims_no_empty_fleet(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every profile unreachable: the table said "no deployments", as if the fleet were read and empty."""
    config = "".join(
        f'[profiles.{name}]\nprovider = "{name}"\nbase_url = "{_dead_url()}"\ntoken_env = "SIM_TOKEN"\n\n'
        for name in ("miosa", "miteos", "mixpeek")
    )
    monkeypatch.setenv("SHIPDECK_CONFIG", str(write_config(tmp_path / "config.toml", config)))
    monkeypatch.setenv("SIM_TOKEN", ADMIN)
    table = shipdeck(capsys, "--timeout", "3", "ls", "--all-profiles")
    assert table.code == 5, table.err
    assert table.out == "", table.out
    assert all(f"profile {name} ({name}) failed" in table.err for name in ("miosa", "miteos", "mixpeek"))
    as_json = shipdeck(capsys, "--timeout", "3", "ls", "--all-profiles", "--json")
    assert as_json.code == 5
    body = json.loads(as_json.out)
    assert body["deployments"] == [] and len(body["failed"]) == 3


def test_an_empty_table_speaks_only_of_the_profiles_read() -> None:
    from shipdeck.cli.fleet import ProfileListing, _none_listed

    read, down = ProfileListing("a", "miosa"), ProfileListing("b", "miteos", error="could not connect")
    assert _none_listed([read]) == "no deployments"
    assert _none_listed([read, down]) == "no deployments in a"
    assert _none_listed([down]) == ""


def test_all_profiles_with_a_profile_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sim: SimServer
) -> None:
    _configure(monkeypatch, tmp_path, sim, mixpeek=sim.mixpeek)
    result = shipdeck(capsys, "--profile", "mixpeek", "ls", "--all-profiles")
    assert result.code == 2 and "--all-profiles" in result.err

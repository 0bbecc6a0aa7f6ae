"""Which screen the console opens on: the chosen profile, or the fleet (the config's start_screen says so,
or several profiles are configured and none was chosen); every profile is offered to the switcher."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipdeck.cli.app import _console_options
from shipdeck.cli.parser import build_parser
from shipdeck.config.console_options import ConsoleOptions
from shipdeck.config.errors import ConfigError
from shipdeck.config.loader import load_config
from tests.cli.helpers import write_config

PROFILES = """
[profiles.prod]
provider = "miosa"
base_url = "https://api.example.test"
token_env = "TEST_PROD_TOKEN"

[profiles.stage]
provider = "mixpeek"
base_url = "https://mx.example.test"
token_env = "TEST_STAGE_TOKEN"
"""


def _options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, head: str, *argv: str) -> ConsoleOptions:
    monkeypatch.setenv("SHIPDECK_CONFIG", str(write_config(tmp_path / "config.toml", head + PROFILES)))
    monkeypatch.setenv("TEST_PROD_TOKEN", "t1")
    monkeypatch.setenv("TEST_STAGE_TOKEN", "t2")
    monkeypatch.delenv("SHIPDECK_PROFILE", raising=False)
    return _console_options(load_config(), build_parser().parse_args(list(argv)))


def test_several_profiles_and_none_chosen_open_the_fleet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = _options(tmp_path, monkeypatch, "")
    assert options.start_fleet is True
    assert [p.name for p in options.profiles] == ["prod", "stage"]


def test_a_chosen_profile_opens_its_list_and_keeps_the_others_for_the_switcher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = _options(tmp_path, monkeypatch, 'default_profile = "stage"\n')
    assert options.start_fleet is False
    assert options.profile.name == "stage"
    assert [p.name for p in options.profiles] == ["prod", "stage"]
    chosen = _options(tmp_path, monkeypatch, "", "--profile", "prod")
    assert chosen.start_fleet is False and chosen.profile.name == "prod"


def test_start_screen_fleet_wins_over_a_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    options = _options(tmp_path, monkeypatch, 'default_profile = "stage"\nstart_screen = "fleet"\n')
    assert options.start_fleet is True


def test_an_unknown_start_screen_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="start_screen"):
        _options(tmp_path, monkeypatch, 'start_screen = "dashboard"\n')


def test_a_profile_without_its_token_is_left_out_and_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPDECK_CONFIG", str(write_config(tmp_path / "config.toml", PROFILES)))
    monkeypatch.setenv("TEST_PROD_TOKEN", "t1")
    monkeypatch.delenv("TEST_STAGE_TOKEN", raising=False)
    monkeypatch.delenv("SHIPDECK_PROFILE", raising=False)
    options = _console_options(load_config(), build_parser().parse_args([]))
    assert [p.name for p in options.profiles] == ["prod"]
    assert any("stage left out" in problem for problem in options.config_problems)
    # The fleet's header names it: a profile missing from the overview is not one with no rows.
    assert options.left_out == (("stage", "no token"),)


def test_the_global_timeout_bounds_the_consoles_requests_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`shipdeck --timeout 8` on a console: a hung rollback said "sending" for 60 s, the built-in deadline."""
    from shipdeck.api.miosa import MiosaAdapter
    from shipdeck.tui.app import ShipdeckApp

    options = _options(tmp_path, monkeypatch, "", "--timeout", "8", "--profile", "prod")
    adapter = ShipdeckApp(options).session.adapter
    assert isinstance(adapter, MiosaAdapter)
    assert (adapter.transport.deadline, adapter.transport.timeout) == (8, 8)
    default = _options(tmp_path, monkeypatch, "", "--profile", "prod")
    assert ShipdeckApp(default).session.adapter.transport.deadline == 60  # type: ignore[attr-defined]

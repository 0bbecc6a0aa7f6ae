"""`config check`: key clashes of [keymap] and [commands] are errors; --online tries every token."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import shipdeck, write_config
from tests.cli.test_scriptable import use_sim
from tests.simproc import SimServer

PROFILE = '[profiles.p]\nprovider = "miosa"\ntoken_env = "P_TOKEN"\n'


def test_a_remapped_key_that_takes_another_bindings_key_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("P_TOKEN", "msk_x")
    path = write_config(tmp_path / "config.toml", PROFILE + '[keymap]\nrollback = "p"\n')
    monkeypatch.setenv("SHIPDECK_CONFIG", str(path))
    result = shipdeck(capsys, "config", "check")
    assert result.code == 1
    assert "main screen: key 'p' is bound to both rollback (Rollback) and publish (Publish)" in result.err
    assert "publish would lose its key" in result.err
    assert f"{path}: ok" not in result.out
    # Moving Publish away as well settles it.
    write_config(path, PROFILE + '[keymap]\nrollback = "p"\npublish = "ctrl+u"\n')
    result = shipdeck(capsys, "config", "check")
    assert result.code == 0, result.err
    assert f"{path}: ok" in result.out


def test_a_custom_command_on_a_console_key_is_an_error_and_unknown_ids_are_warned(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("P_TOKEN", "msk_x")
    text = PROFILE + '[keymap]\nrolback = "b"\n[commands.runbook]\nkey = "e"\nrun = ["xdg-open", "x"]\n'
    monkeypatch.setenv("SHIPDECK_CONFIG", str(write_config(tmp_path / "config.toml", text)))
    result = shipdeck(capsys, "config", "check")
    assert result.code == 1
    assert "key 'e' is bound to both env (Env) and command-runbook (runbook)" in result.err
    assert "keymap.rolback: no key binding has this id; ignored (did you mean 'rollback'?)" in result.err


def test_online_says_which_tokens_work(
    capsys: pytest.CaptureFixture[str], sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_sim(sim, tmp_path, monkeypatch)
    offline = shipdeck(capsys, "config", "check")
    assert offline.code == 0  # every token is set: offline, nothing tells a bad one
    result = shipdeck(capsys, "config", "check", "--online")
    assert result.code == 3
    for name in ("sim", "sim-readonly-key", "miteos", "mixpeek"):
        assert f"profile {name}: token works" in result.out
    assert "profile sim-bad-key: token does not work against" in result.err
    assert "msk_u_not_a_real_key" not in result.out + result.err

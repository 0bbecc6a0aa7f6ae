"""A config file or an argument that is wrong, huge or strange ends in one clear line and the documented exit
code, before anything is sent: never a hang, a traceback or minutes of work."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.cli.helpers import Result, shipdeck, write_config
from tests.reliability.hostile_kit import routed, threaded

PROFILE = '[profiles.sandbox]\nprovider = "miosa"\nbase_url = "http://127.0.0.1:9/api/v1"\n'


@pytest.fixture
def config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.toml"
    monkeypatch.setenv("SHIPDECK_CONFIG", str(path))
    monkeypatch.setenv("MIOSA_API_KEY", "msk_u_config_test")
    return path


def one_error(result: Result, says: str, code: int = 2) -> None:
    assert result.code == code, result
    lines = result.err.strip().splitlines()
    assert lines and lines[-1].startswith("shipdeck: error: ") and says in lines[-1], result.err
    assert "Traceback" not in result.err and "unexpected" not in result.err


def test_a_large_config_with_many_unknown_keys_is_checked_in_one_pass(
    capsys: pytest.CaptureFixture[str], config_path: Path
) -> None:
    """A 1 MB config of unknown keys (each warned about with its line) took 99.5 s: the lookup of each
    key's line scanned the whole text again. The warnings still name the right lines."""
    keys = "".join(f"unknown_key_{n} = {n}\n" for n in range(40_000))
    write_config(config_path, PROFILE + keys[: 1024 * 1024 - len(PROFILE) - 1000])
    result = shipdeck(capsys, "config", "show")
    assert result.code == 0, result.err[-500:]
    warnings = result.err.splitlines()
    assert f"{config_path}, line 4: profiles.sandbox.unknown_key_0: unknown key, ignored" in warnings[0]
    assert len(warnings) > 30_000


def test_a_config_over_one_megabyte_is_refused(capsys: pytest.CaptureFixture[str], config_path: Path) -> None:
    write_config(config_path, PROFILE + "# padding\n" * 110_000)
    one_error(shipdeck(capsys, "config", "check"), "larger than 1 MB", code=2)


def test_a_fifo_as_config_is_refused_not_waited_on(
    capsys: pytest.CaptureFixture[str], config_path: Path
) -> None:
    os.mkfifo(config_path)
    one_error(shipdeck(capsys, "config", "check"), "not a regular file", code=2)
    one_error(shipdeck(capsys, "ls"), "a named pipe", code=2)


def test_a_config_nested_too_deeply_is_refused(capsys: pytest.CaptureFixture[str], config_path: Path) -> None:
    write_config(config_path, PROFILE + "deep = " + "[" * 5000 + "]" * 5000 + "\n")
    one_error(shipdeck(capsys, "config", "check"), "nested more than 32 levels deep", code=2)
    write_config(config_path, PROFILE + "deep = " + "[" * 40 + "]" * 40 + "\n")
    one_error(shipdeck(capsys, "config", "check"), "nested more than 32 levels deep", code=2)


def test_a_missing_shipdeck_config_file_is_named(
    capsys: pytest.CaptureFixture[str], config_path: Path
) -> None:
    one_error(
        shipdeck(capsys, "config", "show"), f"SHIPDECK_CONFIG names {config_path}, which does not exist", 2
    )


def test_a_config_starting_with_a_bom_is_read(capsys: pytest.CaptureFixture[str], config_path: Path) -> None:
    config_path.write_bytes(b"\xef\xbb\xbf" + PROFILE.encode())
    config_path.chmod(0o600)
    result = shipdeck(capsys, "config", "show")
    assert result.code == 0, result.err
    assert "sandbox" in result.out


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["versions", ""], "argument DEP: must not be empty"),
        (["versions", "x" * 100_000], "argument DEP: is 100,000 characters long"),
        (["rollback", "web", "--to", "v1\nv2", "--yes"], "must not hold control characters"),
        (["audit", "--tail", str(10**20)], "argument --tail: must be at most 1,000,000"),
        (["domains", "web", "add", "xn--zz."], "Not a valid (internationalised) domain name"),
        (["domains", "web", "add", "\U0001f600.example"], "Not a valid (internationalised) domain name"),
    ],
    ids=["empty name", "100 KB name", "line break", "huge --tail", "invalid A-label", "emoji label"],
)
def test_arguments_are_refused_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str], says: str
) -> None:
    monkeypatch.setenv("MIOSA_API_KEY", "msk_u_args_test")
    with threaded(routed({})) as server:
        result = shipdeck(capsys, "--provider", "miosa", "--url", server.url + "/api/v1", *argv)
    one_error(result, says, code=2)
    assert server.seen == [], "a request was sent"


def test_an_internationalised_domain_is_still_accepted(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check is IDNA 2008, not a refusal of anything non-ASCII: this one reaches the server."""
    monkeypatch.setenv("MIOSA_API_KEY", "msk_u_args_test")
    with threaded(routed({})) as server:
        result = shipdeck(
            capsys,
            "--provider",
            "miosa",
            "--url",
            server.url + "/api/v1",
            "domains",
            "web",
            "add",
            "bücher.example",
        )
    assert result.code not in (0, 2), result  # the hostile server knows no deployment 'web'
    assert server.seen, "nothing was sent"

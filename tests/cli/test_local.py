"""config, themes, audit and usage errors: no control plane needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shipdeck.config.audit import AuditLog
from shipdeck.config.console_options import ConsoleOptions
from shipdeck.config.paths import audit_log_file, config_file, user_themes_dir
from tests.cli.helpers import shipdeck, write_config

SECRET = "msk_literal_do_not_print_42"

CONFIG = f"""\
default_profile = "prod"

[profiles.prod]
provider = "miosa"
base_url = "https://api.example.com/api/v1"
token = "{SECRET}"
read_only = true

[profiles.stage]
provider = "mixpeek"
environment = "staging"
token_env = "STAGE_TOKEN"

[keymap]
rollback = "ctrl+b"
"""


@pytest.fixture
def config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = write_config(tmp_path / "shipdeck.toml", CONFIG)
    monkeypatch.setenv("SHIPDECK_CONFIG", str(path))
    return path


def test_config_path_default_and_override(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = shipdeck(capsys, "config", "path")
    assert result.code == 0 and result.out.strip() == str(config_file())
    monkeypatch.setenv("SHIPDECK_CONFIG", "/somewhere/else.toml")
    assert shipdeck(capsys, "config", "path").out.strip() == "/somewhere/else.toml"


def test_config_show_never_prints_the_token(capsys: pytest.CaptureFixture[str], config_path: Path) -> None:
    human = shipdeck(capsys, "config", "show")
    assert human.code == 0
    assert "* prod" in human.out and "literal token in the config file" in human.out
    assert "environment variable STAGE_TOKEN" in human.out and "rollback = ctrl+b" in human.out
    machine = shipdeck(capsys, "config", "show", "--json")
    data = json.loads(machine.out)
    assert data["default_profile"] == "prod" and data["path"] == str(config_path)
    assert [p["name"] for p in data["profiles"]] == ["prod", "stage"]
    assert data["profiles"][0]["read_only"] is True
    for output in (human.out, human.err, machine.out, machine.err):
        assert SECRET not in output


def test_config_check_reports_every_problem(
    capsys: pytest.CaptureFixture[str], config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = shipdeck(capsys, "config", "check")
    assert result.code == 3
    assert "profile prod: ok" in result.out
    assert "profile stage: no token: the environment variable STAGE_TOKEN is not set" in result.err
    monkeypatch.setenv("STAGE_TOKEN", "sk_x")
    result = shipdeck(capsys, "config", "check")
    assert result.code == 0 and f"{config_path}: ok" in result.out
    assert SECRET not in result.out + result.err and "sk_x" not in result.out + result.err


def test_config_check_on_a_broken_file_names_line_and_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path / "c.toml", '[profiles.a]\nprovider = "miosa"\nenvironment = "live"\n')
    monkeypatch.setenv("SHIPDECK_CONFIG", str(path))
    result = shipdeck(capsys, "config", "check")
    assert result.code == 2
    assert result.err.startswith(f"shipdeck: error: {path}, line 3: profiles.a.environment: must be one of")
    assert result.err.count("\n") == 1 and "Traceback" not in result.err


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_literal_token_in_a_shared_file_is_refused_with_the_fix(
    capsys: pytest.CaptureFixture[str], config_path: Path
) -> None:
    config_path.chmod(0o644)
    result = shipdeck(capsys, "ls")
    assert result.code == 3
    assert f"chmod 600 {config_path}" in result.err and SECRET not in result.err


def test_themes_lists_shipped_and_user_themes(capsys: pytest.CaptureFixture[str]) -> None:
    user_themes_dir().mkdir(parents=True)
    (user_themes_dir() / "mine.toml").write_text('name = "mine"\nprimary = "#123456"\ndark = false\n')
    (user_themes_dir() / "broken.toml").write_text('name = "broken"\nprimary = "nocolour"\n')
    result = shipdeck(capsys, "themes")
    assert result.code == 0
    for name in ("shipdeck-dark", "shipdeck-light", "shipdeck-high-contrast", "shipdeck-ansi", "mine"):
        assert name in result.out
    assert "broken.toml skipped: primary: 'nocolour' is not a colour" in result.err
    data = json.loads(shipdeck(capsys, "themes", "--json").out)
    mine = next(t for t in data if t["name"] == "mine")
    assert mine["dark"] is False and mine["source"].endswith("mine.toml")


def test_a_theme_textual_would_refuse_is_reported_by_themes_and_config_check(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A non-colour variable Textual's CSS parser refuses: listed as fine, then the console exited 1.
    user_themes_dir().mkdir(parents=True)
    bad = 'name = "bad-bar"\nprimary = "#123456"\n[variables]\nscrollbar = "notacolor"\n'
    (user_themes_dir() / "bad-bar.toml").write_text(bad)
    result = shipdeck(capsys, "themes")
    assert result.code == 0 and "bad-bar" not in result.out
    assert "bad-bar.toml skipped: theme bad-bar: variables.scrollbar 'notacolor'" in result.err
    config = tmp_path / "config.toml"
    config.write_text('theme = "bad-bar"\n[profiles.p]\nprovider = "miosa"\ntoken_env = "P_TOKEN"\n')
    monkeypatch.setenv("SHIPDECK_CONFIG", str(config))
    monkeypatch.setenv("P_TOKEN", "msk_x")
    checked = shipdeck(capsys, "config", "check")
    assert "bad-bar.toml skipped: theme bad-bar: variables.scrollbar 'notacolor'" in checked.err
    assert "theme 'bad-bar' not found" in checked.err


def test_audit_prints_records_and_skips_corrupt_lines(capsys: pytest.CaptureFixture[str]) -> None:
    log = AuditLog(profile="prod", provider="miosa")
    details = {"from": "v6", "to": "v5", "environment": "staging"}
    intent = log.intent("rollback", "web [dep_1]", idempotency_key="k1", reason="bad deploy", details=details)
    with audit_log_file().open("a") as fh:
        fh.write("{not json\n")
        fh.write("[1, 2]\n")
    log.outcome(intent, "ok", request_id="req_9")
    result = shipdeck(capsys, "audit")
    assert result.code == 0
    lines = result.out.strip().splitlines()
    assert lines[0].split() == ["TIME", "PHASE", "PROFILE", "ACTION", "TARGET", "CHANGE", "RESULT", "REQUEST"]
    assert "intent" in lines[1] and "reason: bad deploy" in lines[1]
    assert "v6 -> v5 (staging)" in lines[1]
    assert "outcome" in lines[2] and "req_9" in lines[2]
    assert (
        "line 2: skipped, not valid JSON" in result.err and "line 3: skipped, not a JSON object" in result.err
    )
    tail = json.loads(shipdeck(capsys, "audit", "--json", "--tail", "1").out)
    assert len(tail) == 1 and tail[0]["phase"] == "outcome" and tail[0]["request_id"] == "req_9"


def test_audit_with_no_log(capsys: pytest.CaptureFixture[str]) -> None:
    result = shipdeck(capsys, "audit")
    assert result.code == 0 and "no audit records" in result.out
    assert json.loads(shipdeck(capsys, "audit", "--json").out) == []


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["--url", "http://127.0.0.1:1/api/v1", "ls"], "--url needs --provider"),
        (["--profile", "a", "--provider", "miosa", "ls"], "not both"),
        (["--provider", "heroku", "ls"], "invalid choice: 'heroku'"),
        (["versions"], "the following arguments are required: DEP"),
        (["audit", "--tail", "0"], "must be more than 0"),
        (["--timeout", "soon", "ls"], "not a number"),
        (["config"], "the following arguments are required: ACTION"),
        # A port out of range reached bind(): "unexpected OverflowError".
        (["serve", "--port", "99999"], "--port: must be a port from 1 to 65535, or 0 for a free one"),
        (["serve", "--port", "-1"], "--port: must be a port from 1 to 65535, or 0 for a free one: '-1'"),
        (["demo", "--port", "65536"], "--port: must be a port from 1 to 65535"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    result = shipdeck(capsys, *argv)
    assert result.code == 2
    assert result.err.startswith("shipdeck: error: ") and words in result.err
    assert result.err.count("\n") == 1


def test_no_profile_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    result = shipdeck(capsys, "ls")
    assert result.code == 2 and "defines none" in result.err


def test_ad_hoc_without_token_is_an_auth_error(capsys: pytest.CaptureFixture[str]) -> None:
    result = shipdeck(capsys, "--provider", "miosa", "--url", "http://127.0.0.1:9/api/v1", "ls")
    assert result.code == 3 and "MIOSA_API_KEY is not set" in result.err


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    result = shipdeck(capsys, "--help")
    assert result.code == 0 and "exit codes: 0 ok" in result.out and "rollback" in result.out
    assert shipdeck(capsys, "--version").out.startswith("shipdeck ")


def test_console_gets_profile_keymap_themes_and_warnings(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = """\
default_profile = "main"
audit_log = "~/shipdeck-audit.jsonl"

[profiles.main]
provider = "miosa"
token_env = "MAIN_TOKEN"
theme = "shipdeck-light"
tasks_profile = "agents"
colour = "red"

[profiles.agents]
provider = "miteos"
token_env = "AGENTS_TOKEN_UNSET"

[keymap]
rollback = "ctrl+b"
promote = "ctrl+b"
"""
    monkeypatch.setenv("SHIPDECK_CONFIG", str(write_config(tmp_path / "c.toml", text)))
    monkeypatch.setenv("MAIN_TOKEN", "msk_main")
    (user_themes_dir()).mkdir(parents=True)
    (user_themes_dir() / "bad.toml").write_text("name = 3\n")
    seen: list[ConsoleOptions] = []

    def open_console(options: ConsoleOptions) -> int:
        seen.append(options)
        return 0

    monkeypatch.setattr("shipdeck.cli.app.open_console", open_console)
    result = shipdeck(capsys, "--read-only")
    assert result.code == 0, result.err
    (options,) = seen
    assert options.profile.name == "main" and options.profile.read_only and options.profile.tasks is None
    assert options.profile.token.reveal() == "msk_main"
    assert options.theme == "shipdeck-light" and options.keymap == {"rollback": "ctrl+b", "promote": "ctrl+b"}
    assert options.audit_path == Path("~/shipdeck-audit.jsonl").expanduser()
    problems = " | ".join(options.config_problems)
    assert "profiles.main.colour: unknown key" in problems
    assert "key 'ctrl+b' is bound to both rollback and promote" in problems
    assert "Tasks screen unavailable: profile agents: no token" in problems
    assert len(options.theme_problems) == 1 and "bad.toml" in options.theme_problems[0]


def test_config_and_cli_do_not_import_textual() -> None:
    code = (
        "import sys, shipdeck.config.loader, shipdeck.config.themes, shipdeck.config.console_options, "
        "shipdeck.cli.app; sys.exit('textual' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_a_base_url_with_a_password_is_refused_and_never_printed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # config show (and --json) printed the password; with it httpx sent Basic auth instead of the token.
    text = '[profiles.p]\nprovider = "miosa"\ntoken_env = "P_TOKEN"\n'
    text += 'base_url = "http://user:s3cretpw@127.0.0.1:9/api/v1"\n'
    monkeypatch.setenv("SHIPDECK_CONFIG", str(write_config(tmp_path / "config.toml", text)))
    monkeypatch.setenv("P_TOKEN", "msk_x")
    for argv in (["config", "show"], ["config", "show", "--json"], ["config", "check", "--online"], ["ls"]):
        result = shipdeck(capsys, *argv)
        assert result.code == 2, argv
        assert "profiles.p.base_url: must not contain a user name or password" in result.err
        assert "s3cretpw" not in result.out + result.err

from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path

import pytest

from shipdeck.config.errors import TokenError
from shipdeck.config.tokens import token_from_command, token_from_env


def python_command(code: str) -> str:
    return shlex.join([sys.executable, "-c", code])


def test_env_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TOKEN", "  msk_from_env\n")
    assert token_from_env("MY_TOKEN", profile="p").reveal() == "msk_from_env"


def test_unset_env_token_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TOKEN", "")
    with pytest.raises(TokenError, match="profile p: .*MY_TOKEN is not set") as info:
        token_from_env("MY_TOKEN", profile="p")
    assert info.value.exit_code == 3


def test_command_token_is_its_first_stdout_line() -> None:
    secret = token_from_command(python_command("print('msk_cmd_secret'); print('login: me')"), profile="p")
    assert secret.reveal() == "msk_cmd_secret"
    assert "msk_cmd_secret" not in repr(secret) and "msk_cmd_secret" not in str(secret)


def test_failing_command_reports_exit_code_and_stderr() -> None:
    code = "import sys; sys.stderr.write('gpg: decryption failed\\n'); sys.exit(2)"
    with pytest.raises(TokenError) as info:
        token_from_command(python_command(code), profile="p")
    assert "failed with exit code 2: gpg: decryption failed" in info.value.message


def test_command_that_prints_nothing() -> None:
    with pytest.raises(TokenError, match="printed no token"):
        token_from_command(python_command("pass"), profile="p")


def test_missing_program() -> None:
    with pytest.raises(TokenError, match="could not start"):
        token_from_command("/nonexistent/password-manager show x", profile="p")


def test_unparseable_command() -> None:
    with pytest.raises(TokenError, match="cannot be parsed"):
        token_from_command("pass show 'unterminated", profile="p")


def test_hanging_command_is_killed_at_the_timeout(tmp_path: Path) -> None:
    # The command forks a helper that also holds stdout: the whole process group must go.
    pid_file = tmp_path / "helper.pid"
    script = tmp_path / "hang.py"
    script.write_text(
        "import subprocess, sys, time\n"
        "helper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(helper.pid))\n"
        "time.sleep(60)\n"
    )
    # The message says it was stopped at its timeout (not after the command's 60 s).
    with pytest.raises(TokenError, match=r"did not finish within 1s"):
        token_from_command(shlex.join([sys.executable, str(script)]), profile="p", timeout=1)
    helper = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(helper) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(helper)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (killed, not yet reaped by init) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True

from __future__ import annotations

import os
import shlex
import signal
import sys
import time
from pathlib import Path

import pytest

from shipdeck.config.errors import TokenError
from shipdeck.config.tokens import MAX_TOKEN_OUTPUT, token_from_command, token_from_env


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


def test_failing_command_reports_exit_code_but_never_its_stderr() -> None:
    # A helper that writes the secret to stderr had it printed in the error.
    code = "import sys; sys.stderr.write('msk_u_demo_admin\\n'); sys.exit(2)"
    with pytest.raises(TokenError) as info:
        token_from_command(python_command(code), profile="p")
    assert "failed with exit code 2 (its error output is not shown" in info.value.message
    assert "msk_u_demo_admin" not in info.value.message


def test_endless_output_is_stopped_at_a_few_kilobytes(tmp_path: Path) -> None:
    # `yes` ran until its timeout and grew to gigabytes. This one writes 4 MB (so the old code only ends at
    # the timeout, with all of it read), then waits: it must be stopped once past the cap.
    pid_file = tmp_path / "flood.pid"
    code = (
        f"import os, sys, time; open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "sys.stdout.write('y' * 4_000_000); sys.stdout.flush(); time.sleep(120)"
    )
    with pytest.raises(TokenError, match=rf"printed more than {MAX_TOKEN_OUTPUT} bytes; stopped"):
        token_from_command(python_command(code), profile="p", timeout=60)
    assert not _alive(int(pid_file.read_text()))


def test_the_token_is_taken_when_the_command_exits_though_a_helper_keeps_stdout_open(tmp_path: Path) -> None:
    # `sh -c 'sleep 100 & echo TOKEN'` timed out: reading until end of file waited for the helper too.
    pid_file = tmp_path / "helper.pid"
    script = tmp_path / "helper.py"
    script.write_text(
        "import subprocess, sys\n"
        "helper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(helper.pid))\n"
        "print('msk_from_helper')\n"
    )
    try:
        secret = token_from_command(shlex.join([sys.executable, str(script)]), profile="p", timeout=30)
        assert secret.reveal() == "msk_from_helper"
    finally:
        os.kill(int(pid_file.read_text()), signal.SIGKILL)


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

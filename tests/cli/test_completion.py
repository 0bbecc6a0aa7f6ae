"""`shipdeck completion SHELL` (argcomplete): the scripts, and the candidates the hook prints."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.helpers import shipdeck


def complete(line: str, tmp_path: Path) -> list[str]:
    """What the shell hook would offer for ``line`` (the cursor at its end), from a real process."""
    out = tmp_path / "candidates.txt"
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_SHELL": "bash",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
        "_ARGCOMPLETE_IFS": "\n",
    }
    done = subprocess.run(
        [sys.executable, "-m", "shipdeck"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return [c.strip() for c in out.read_text().split("\n") if c.strip()]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_each_shell_gets_a_script_that_hooks_shipdeck(capsys: pytest.CaptureFixture[str], shell: str) -> None:
    result = shipdeck(capsys, "completion", shell)
    assert result.code == 0
    assert "_ARGCOMPLETE" in result.out and "shipdeck" in result.out


def test_an_unknown_shell_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    result = shipdeck(capsys, "completion", "powershell")
    assert result.code == 2 and "invalid choice" in result.err


def test_the_hook_completes_commands_and_options(tmp_path: Path) -> None:
    assert complete("shipdeck st", tmp_path) == ["status", "stop"]
    assert "--sort" in complete("shipdeck ls --s", tmp_path)
    assert complete("shipdeck completion f", tmp_path) == ["fish"]
    assert "--online" in complete("shipdeck config check --", tmp_path)


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_registers_the_completion(tmp_path: Path) -> None:
    script = tmp_path / "shipdeck.bash"
    script.write_text(subprocess.run(
        [sys.executable, "-m", "shipdeck", "completion", "bash"], capture_output=True, text=True, check=True
    ).stdout)  # fmt: skip
    done = subprocess.run(
        ["bash", "--norc", "-c", f"source {script} && complete -p shipdeck"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "shipdeck" in done.stdout

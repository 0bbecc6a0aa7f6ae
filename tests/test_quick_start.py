"""README's Quick start is two commands that bring their own virtual environment, and CI runs the second
one verbatim (so the line a new user copies is the line that is tested)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = "python3 -m venv .venv && "


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "the Quick start has no sh code block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_is_two_commands_that_install_into_their_own_venv() -> None:
    demo, tests = quick_start_commands()
    for command in (demo, tests):
        # A distribution's externally managed Python (PEP 668) refuses `pip install` outside a venv: every
        # step after making `.venv` must run from it, none from the PATH's python, pip or shipdeck.
        assert command.startswith(VENV), command
        steps = command.removeprefix(VENV).split(" && ")
        assert all(step.startswith(".venv/bin/") for step in steps), command
    assert demo.endswith(".venv/bin/shipdeck demo")
    assert tests.endswith(".venv/bin/python -m pytest")


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    test_command = quick_start_commands()[1]
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci_lines

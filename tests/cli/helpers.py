"""Run the command line in-process and capture what it printed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from shipdeck.cli.app import run


@dataclass
class Result:
    code: int
    out: str
    err: str


def shipdeck(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    capsys.readouterr()
    code = run(list(argv))
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def write_config(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path

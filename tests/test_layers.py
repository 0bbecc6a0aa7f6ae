"""The layer contracts of DESIGN.md, checked by import-linter against the source tree ([tool.importlinter] in
pyproject.toml): cli > tui > live > api > model > config, the sandbox apart, no textual below tui, no
provider adapter module imported by tui, no api module but its errors imported by a screen or widget,
config importing neither api nor live. And the provider specs agree with the config rows they build on."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from shipdeck.api.providers import SPECS, check_specs
from shipdeck.config.providers import PROVIDERS

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept() -> None:
    linter = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    done = subprocess.run(
        [linter, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 kept, 0 broken" in done.stdout, done.stdout


def test_provider_specs_agree_with_the_config_rows() -> None:
    assert check_specs() == []
    assert tuple(SPECS) == PROVIDERS

"""Layering: nothing below the TUI imports Textual, and the simulator shares no code with the client."""

from __future__ import annotations

import json
import subprocess
import sys

IMPORT_ALL = """
import importlib, json, pkgutil, sys
names = []
for package in ("shipdeck.api", "shipdeck.model", "shipdeck.config", "shipdeck.live", "shipdeck.sim"):
    module = importlib.import_module(package)
    names.append(package)
    for info in pkgutil.walk_packages(getattr(module, "__path__", []), package + "."):
        importlib.import_module(info.name)
        names.append(info.name)
textual = sorted(m for m in sys.modules if m.split(".")[0] == "textual")
print(json.dumps({"imported": names, "textual": textual}))
"""

SIM_ONLY = """
import importlib, json, pkgutil, sys
import shipdeck.sim
for info in pkgutil.walk_packages(shipdeck.sim.__path__, "shipdeck.sim."):
    importlib.import_module(info.name)
leaked = sorted(
    m for m in sys.modules
    if m.split(".")[:2] in (["shipdeck", p] for p in ("model", "api", "config", "live", "tui"))
)
print(json.dumps(leaked))
"""


def _run(code: str) -> object:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_client_layers_and_sim_never_import_textual() -> None:
    result = _run(IMPORT_ALL)
    assert isinstance(result, dict)
    assert "shipdeck.api.transport" in result["imported"] and "shipdeck.api.miteos" in result["imported"]
    assert result["textual"] == []


def test_sim_imports_nothing_of_the_client() -> None:
    assert _run(SIM_ONLY) == []

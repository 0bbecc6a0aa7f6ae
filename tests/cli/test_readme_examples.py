"""Every shipdeck command of the README's shell blocks, run against a sandbox; and names as `ls` prints them.

The README's examples use the demo data's names, so they run as written. A command that cannot run here is
skipped with the reason (the test lists them), never silently.
"""

from __future__ import annotations

import io
import re
import shlex
from pathlib import Path

import httpx
import pytest

from tests.cli.helpers import shipdeck, write_config
from tests.cli.test_scriptable import sim_config, use_sim
from tests.conftest import ADMIN
from tests.simproc import SimServer

README = Path(__file__).resolve().parents[2] / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
# The README's ad hoc example names a sandbox on this port; the test's own sandbox stands in for it.
README_SANDBOX = "http://127.0.0.1:8765/api/v1"

# Why a command is not run here (checked in order; the first that applies).
SKIPS: list[tuple[str, str]] = [
    (
        r"^shipdeck$|^shipdeck demo\b|^shipdeck (--profile \S+ )?$",
        "opens the full-screen console: the TUI tests drive it",
    ),
    (r"^shipdeck serve\b", "a long-running web server: tests/cli/test_serve.py starts and probes it"),
    (r"^shipdeck sim\b", "starts another sandbox: tests/sim covers it"),
    (r"\.\.\.", "a placeholder (dep_..., rel_...) stands for an id the reader has"),
]


def readme_commands() -> list[str]:
    """The shipdeck command lines of the README's sh blocks, comments dropped, in order."""
    lines: list[str] = []
    for kind, body in FENCE.findall(README.read_text()):
        if kind not in ("sh", "bash", "shell"):
            continue
        for raw in body.splitlines():
            words = shlex.split(raw, comments=True)
            while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
                words = words[1:]  # VAR=value before the command
            for i, word in enumerate(words):
                if word in (">", ">>", "|", "&&"):
                    words = words[:i]  # a redirection or a pipe: the command's output is checked here
                    break
            if words and words[0] == "shipdeck":
                lines.append(shlex.join(words))
    return lines


def profile_for(words: list[str]) -> str:
    """Which of the test's profiles a README command is for (the demo data's names tell the provider)."""
    if "deploy" in words:
        return "miteos"
    if any(w.lower().startswith("storefront") for w in words):
        return "mixpeek"
    return "sim"


class Terminal(io.StringIO):
    """stdin as a terminal that answers yes: the README's commands without --yes ask, as on a terminal."""

    def isatty(self) -> bool:
        return True


def test_the_readme_has_commands_to_run() -> None:
    commands = readme_commands()
    assert len(commands) >= 25
    assert "shipdeck ls" in commands and any(c.startswith("shipdeck rollback") for c in commands)


def test_every_readme_command_runs_against_the_sandbox(
    capsys: pytest.CaptureFixture[str],
    fresh_sim: SimServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_sim(fresh_sim, tmp_path, monkeypatch)
    monkeypatch.setenv("MIOSA_API_KEY", ADMIN)
    # The scriptable tests' profiles, less the one with a bad token (`config check --online` would say so).
    good = re.sub(r"\[profiles\.sim-bad-key\]\n(?:.+\n)+", "", sim_config(fresh_sim))
    monkeypatch.setenv("SHIPDECK_CONFIG", str(write_config(tmp_path / "readme.toml", good)))
    skipped: list[str] = []
    ran = 0
    for line in readme_commands():
        reason = next((why for pattern, why in SKIPS if re.search(pattern, line)), None)
        if reason is not None:
            skipped.append(f"{line}: {reason}")
            continue
        words = shlex.split(line.replace(README_SANDBOX, fresh_sim.miosa))[1:]
        if (
            "--provider" not in words
            and "--all-profiles" not in words
            and words[:1] not in (["config"], ["audit"], ["themes"], ["completion"])
        ):
            words = ["--profile", profile_for(words), *words]
        monkeypatch.setattr("sys.stdin", Terminal("y\n" * 4))
        result = shipdeck(capsys, *words)
        assert result.code == 0, f"README: `{line}` exited {result.code}: {result.err.strip()}"
        assert "Traceback" not in result.err
        ran += 1
    print("\n".join(["skipped README commands:", *skipped]))
    assert ran >= 25
    assert all(":" in s for s in skipped)


def test_names_as_ls_prints_them_resolve_back_and_ambiguous_ones_are_refused(
    capsys: pytest.CaptureFixture[str], sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_sim(sim, tmp_path, monkeypatch)
    listed = shipdeck(capsys, "--profile", "mixpeek", "ls")
    assert listed.code == 0
    names = [re.split(r"\s{2,}", row)[0] for row in listed.out.splitlines()[1:]]
    assert names == sorted(names, key=str.casefold) and "Storefront (staging)" in names
    for name in names:
        result = shipdeck(capsys, "--profile", "mixpeek", "status", name, "--json")
        assert result.code == 0, f"{name}: {result.err}"
    # Miosa answers active_version_number: null; ls looks the number up instead of printing '-'.
    miosa = shipdeck(capsys, "--profile", "sim", "ls")
    versions = [re.split(r"\s{2,}", row)[2] for row in miosa.out.splitlines()[1:]]
    assert versions and all(re.fullmatch(r"v\d+", v) for v in versions), miosa.out
    # Miteos lists one row per deploy: two rows share a name.
    miteos = shipdeck(capsys, "--profile", "miteos", "ls")
    rows = [re.split(r"\s{2,}", row) for row in miteos.out.splitlines()[1:]]
    twice = next(r[0] for r in rows if sum(o[0] == r[0] for o in rows) > 1)
    ids = [r[-1] for r in rows if r[0] == twice]
    refused = shipdeck(capsys, "--profile", "miteos", "status", twice)
    assert refused.code == 2
    assert f"{twice!r} names {len(ids)} deployments" in refused.err
    assert all(i in refused.err for i in ids)
    assert shipdeck(capsys, "--profile", "miteos", "status", ids[0]).code == 0


def test_status_names_the_runs_version_and_the_failed_builds_error(
    capsys: pytest.CaptureFixture[str], sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_sim(sim, tmp_path, monkeypatch)
    result = shipdeck(capsys, "--profile", "sim", "status", "billing-api")
    assert result.code == 0
    fields = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in result.out.splitlines())
    assert re.match(r"v\d+ \(ver_\w+\) ✖ failed", fields["latest run"]), fields
    # The stage the build never reached is said so: "ready pending" read as about to run.
    assert fields["stages"].endswith("> ready not reached"), fields["stages"]
    # The independent check: the sandbox's own build list says the same.
    dep_id = fields["id"]
    builds = httpx.get(
        f"{sim.miosa}/deployments/{dep_id}/builds", headers={"Authorization": f"Bearer {ADMIN}"}
    ).json()["data"]
    failed = [b["error_message"] for b in builds if b["state"] == "failed" and b["error_message"]]
    assert fields["error"] in failed


def test_sim_is_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    result = shipdeck(capsys, "--help")
    assert re.search(r"^\s+sim\s+run the sandbox control plane", result.out, re.MULTILINE)


def test_the_readme_and_the_help_put_a_change_that_cannot_ask_under_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A change with no terminal and no --yes exits 2 (tests/cli/test_scriptable.py); the README's table
    grouped it with "declined" under 1. Declined is a human's answer at the question; a run that cannot ask
    is its command line's fault."""
    table = " ".join(README.read_text().split("Exit codes:", 1)[1].split("\n\n", 1)[0].split())
    one, two = table.split("`1`", 1)[1].split("`2`", 1)
    two = two.split("`3`", 1)[0]
    assert "declined at the question" in one and "terminal" not in one, one
    assert "without a terminal to ask on and without `--yes`" in two, two
    helped = " ".join(shipdeck(capsys, "--help").out.split())
    assert "1 refused by the API (or declined at the question)" in helped
    assert "a change with no terminal to ask on needs --yes" in helped

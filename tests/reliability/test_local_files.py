"""shipdeck's own files survive crashes, full disks and corruption, and only their owner can read them.

- the audit log is appended one fsynced line at a time: a write cut short (full disk, crash) leaves
  every earlier record intact, the torn line is skipped and reported by `shipdeck audit` and
  ``read_audit``, and the next record starts a line of its own;
- a change whose audit record cannot be written is not sent (the simulator's request log proves it);
- the state file the console writes (remembered publish forms) is replaced atomically: a failing
  ``os.replace`` leaves the old file as it was and no temporary file behind;
- the state dir is created 0700 (an existing looser one is tightened), files 0600.

shipdeck never writes the config file: it is the user's (its literal token is refused unless 0600, see
tests/config).
"""

from __future__ import annotations

import errno
import json
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipdeck.cli.demo import DemoSandbox
from shipdeck.config.audit import AuditLog, AuditReadProblem, read_audit
from shipdeck.config.paths import audit_log_file, state_dir
from shipdeck.live.publish_memory import PublishMemory
from shipdeck.model import PublishRequest
from shipdeck.tui.screens.dialogs import ConfirmDialog
from tests.cli.helpers import shipdeck, write_config
from tests.cli.test_scriptable import use_sim
from tests.conftest import ADMIN
from tests.simproc import SimServer, running_sim
from tests.tui.console_host import (
    SimHttp,
    console_app,
    console_options,
    console_sim,
    main_screen,
    notifications,
    settle_actions,
    wait_for,
    wait_loaded,
)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes and os.pread")
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def records(path: Path) -> list[dict[str, Any]]:
    return [item for item in read_audit(path) if not isinstance(item, AuditReadProblem)]


def problems(path: Path) -> list[AuditReadProblem]:
    return [item for item in read_audit(path) if isinstance(item, AuditReadProblem)]


class ShortWrites:
    """``os.write`` that writes only the first half of its bytes, then fails as a full disk does."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.real_write = os.write
        self.failures = 0
        monkeypatch.setattr(os, "write", self)

    def __call__(self, fd: int, data: bytes) -> int:
        self.failures += 1
        self.real_write(fd, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


# -- the audit log --------------------------------------------------------------------------------------


def test_a_torn_write_keeps_earlier_records_and_the_next_record_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = AuditLog(profile="prod", provider="miosa")
    first = log.intent("rollback", "web [dep_1]", idempotency_key="k1", reason="bad deploy")
    log.outcome(first, "ok", request_id="req_1")
    before = audit_log_file().read_bytes()

    with monkeypatch.context() as patch:
        short = ShortWrites(patch)  # type: ignore[arg-type]
        with pytest.raises(OSError):
            log.intent("promote", "web [dep_1]", idempotency_key="k2")
        assert short.failures == 1
    torn = audit_log_file().read_bytes()
    assert torn.startswith(before) and len(torn) > len(before)  # the old bytes are untouched

    after = log.intent("redeploy", "web [dep_1]", idempotency_key="k3")
    assert [r["action"] for r in records(audit_log_file())] == ["rollback", "rollback", "redeploy"]
    assert [p.line_number for p in problems(audit_log_file())] == [3]
    assert records(audit_log_file())[-1]["audit_id"] == after.id


def test_audit_command_skips_and_reports_corrupt_lines(capsys: pytest.CaptureFixture[str]) -> None:
    log = AuditLog(profile="prod", provider="miosa")
    intent = log.intent("rollback", "web [dep_1]", idempotency_key="k1")
    with audit_log_file().open("ab") as fh:
        fh.write(b'{"phase": "intent", "action": "promo\n')  # torn
        fh.write(b"\xff\xfe not utf-8\n")
        fh.write(b'"a string, not an object"\n')
        fh.write(b"\n")
    log.outcome(intent, "ok", request_id="req_2")
    plain = shipdeck(capsys, "audit")
    assert plain.code == 0, plain.err
    for line in (2, 3, 4):
        assert f"line {line}: skipped" in plain.err
    assert "3 corrupt line(s) skipped" in plain.err
    assert "req_2" in plain.out and "Traceback" not in plain.err
    as_json = shipdeck(capsys, "audit", "--json")
    assert as_json.code == 0
    assert [r["phase"] for r in json.loads(as_json.out)] == ["intent", "outcome"]


def test_an_unreadable_audit_log_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    audit_log_file().mkdir()  # something that is not a file where the log should be
    result = shipdeck(capsys, "audit")
    assert result.code != 0
    assert result.err.startswith("shipdeck: error: cannot read the audit log ")
    assert result.err.count("\n") == 1 and "Traceback" not in result.err


# -- a change is not sent without its audit record ------------------------------------------------------


@pytest.fixture(scope="module")
def files_sim() -> Iterator[SimServer]:
    with running_sim(speed=50.0) as server:
        yield server


@pytest.fixture
def profile(files_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    config = (
        f'[profiles.sim]\nprovider = "miosa"\nbase_url = "{files_sim.miosa}"\ntoken_env = "FILES_TOKEN"\n'
    )
    monkeypatch.setenv("SHIPDECK_CONFIG", str(write_config(tmp_path / "config.toml", config)))
    monkeypatch.setenv("FILES_TOKEN", ADMIN)
    return files_sim


def test_a_full_disk_stops_a_change_before_it_is_sent(
    capsys: pytest.CaptureFixture[str], profile: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = json.loads(shipdeck(capsys, "ls", "--json").out)[0]["id"]
    AuditLog(profile="sim", provider="miosa").intent("earlier", "x", idempotency_key="k0")
    before = audit_log_file().read_bytes()
    mark = httpx.get(profile.root + "/_sim/requests", timeout=10).json()["last_seq"]
    with monkeypatch.context() as patch:  # not monkeypatch.undo(): that would undo the isolated dirs too
        ShortWrites(patch)  # type: ignore[arg-type]
        result = shipdeck(capsys, "env", deployment, "set", "FULL_DISK=1", "--yes")
    assert result.code == 1, result.err
    assert "cannot write the audit log" in result.err and "was not sent" in result.err
    assert "No space left on device" in result.err and result.err.count("\n") == 1
    rows = httpx.get(profile.root + "/_sim/requests", params={"since": mark}, timeout=10).json()["requests"]
    assert [r for r in rows if r["method"] in MUTATING] == []
    assert audit_log_file().read_bytes().startswith(before)


# -- state files and permissions ------------------------------------------------------------------------


def test_publish_memory_is_replaced_atomically(monkeypatch: pytest.MonkeyPatch) -> None:
    memory = PublishMemory()
    memory.remember("dep_1", PublishRequest(source_sandbox_id="sbx_old", output_path="dist"))
    before = memory.path.read_bytes()

    def failing_replace(src: str, dst: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch, pytest.raises(OSError):
        patch.setattr(os, "replace", failing_replace)
        memory.remember("dep_1", PublishRequest(source_sandbox_id="sbx_new", output_path="build"))
    assert memory.path.read_bytes() == before
    assert memory.recall("dep_1").source_sandbox_id == "sbx_old"
    assert [p.name for p in memory.path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_a_corrupt_state_file_costs_only_the_remembered_values() -> None:
    memory = PublishMemory()
    memory.path.parent.mkdir(parents=True, exist_ok=True)
    memory.path.write_bytes(b"\x00{not json")
    assert memory.recall("dep_1") == PublishRequest()
    memory.remember("dep_1", PublishRequest(source_sandbox_id="sbx_1"))
    assert memory.recall("dep_1").source_sandbox_id == "sbx_1"


def test_bad_open_change_entries_are_skipped_and_the_good_ones_kept(
    fresh_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hand-edited entry of the open-changes file ("created": "zz", "identity": 5) made every rollback and
    promote end in 'unexpected TypeError' / 'unexpected AttributeError' until the file was deleted."""
    use_sim(fresh_sim, tmp_path, monkeypatch)
    entry = {
        "profile": "sim",
        "identity": "x",
        "idempotency_key": "k",
        "audit_id": "a",
        "action": "rollback",
        "target": "t",
        "summary": "s",
    }
    good = {**entry, "profile": "elsewhere", "identity": "kept", "created": time.time()}
    bad = [{**entry, "created": "zz"}, {**entry, "identity": 5}, {**entry, "created": float("nan")}, "x"]
    path = state_dir() / "open-changes.json"
    path.write_text(json.dumps([*bad, good]))
    result = shipdeck(capsys, "rollback", "checkout-api", "--yes")
    assert result.code == 0, result.err
    assert "unexpected" not in result.err and "Traceback" not in result.err
    warnings = [line for line in result.err.splitlines() if "open-changes.json" in line]
    assert len(warnings) == 1, result.err  # once, however often the file is read
    assert warnings[0].startswith("shipdeck: warning: open-changes.json: 4 of its 5 entries"), warnings
    # The change's own record rewrote the file without them: the next run has nothing to say.
    again = shipdeck(capsys, "rollback", "checkout-api", "--yes")
    assert again.code == 0 and "open-changes.json" not in again.err, again.err
    assert [c["identity"] for c in json.loads(path.read_text())] == ["kept"]


def test_a_hand_edited_audit_record_is_listed_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    log = AuditLog(profile="prod", provider="miosa")
    log.intent("rollback", "web [dep_1]", idempotency_key="k1")
    with audit_log_file().open("a") as fh:
        fh.write(json.dumps({"phase": "health", "after_s": "zz", "health_after": {"error_rate": "x"}}) + "\n")
    result = shipdeck(capsys, "audit")
    assert result.code == 0, result.err
    assert "health ? min after: no figures" in result.out


def test_state_dir_is_private_and_files_are_owner_only() -> None:
    old_umask = os.umask(0o022)
    try:
        AuditLog(profile="prod", provider="miosa").intent("rollback", "x", idempotency_key="k")
        PublishMemory().remember("dep_1", PublishRequest(source_sandbox_id="sbx_1"))
    finally:
        os.umask(old_umask)
    directory = state_dir(create=False)
    assert mode_of(directory) == 0o700
    for path in directory.iterdir():
        assert mode_of(path) == 0o600, path


def test_existing_loose_state_dir_and_audit_log_are_tightened() -> None:
    directory = state_dir(create=False)
    directory.mkdir(parents=True)
    directory.chmod(0o755)
    log_path = directory / "audit.jsonl"
    log_path.write_text("")
    log_path.chmod(0o644)
    AuditLog(profile="prod", provider="miosa").intent("rollback", "x", idempotency_key="k")
    assert mode_of(directory) == 0o700
    assert mode_of(log_path) == 0o600


async def test_the_console_sends_no_change_it_cannot_audit(tmp_path: Path) -> None:
    with console_sim(tmp_path) as sim:
        http = SimHttp(sim)
        target = http.deployment("smile-dental-landing")
        options = console_options(sim, tmp_path)
        unwritable = tmp_path / "audit-is-a-directory"
        unwritable.mkdir()
        app = console_app(replace(options, audit_path=unwritable))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_loaded(pilot, app)
            main_screen(app).go_to(target["id"])
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            await pilot.press("enter")
            await settle_actions(pilot, app)
            refusals = [m for m in notifications(app) if "cannot write the audit log" in m]
            assert refusals and "rollback was not sent" in refusals[0], notifications(app)
            assert app.is_running
        assert http.mutations() == []
        assert http.deployment("smile-dental-landing")["active_version_id"] == target["active_version_id"]


def test_the_demo_sandbox_database_is_owner_only() -> None:
    db_path = state_dir() / "demo.db"
    with DemoSandbox(db_path) as sandbox:
        assert sandbox.urls
        created = {p: mode_of(p) for p in db_path.parent.iterdir() if p.name.startswith("demo.db")}
    assert db_path in created
    assert created == dict.fromkeys(created, 0o600)

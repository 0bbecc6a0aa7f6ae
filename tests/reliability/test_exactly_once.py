"""A change made with shipdeck happens exactly once and is reported truthfully, through any outage.

Through a loopback proxy in front of a real `shipdeck sim` (with its own database, read back directly):
a rollback whose answer is lost and whose link stays down says it may have been applied, and running the
same command again leaves the deployment exactly one version back; a change that never reached the server
says it was not applied; a server that drops answers after committing most of the time still sees every
change applied once and none reported as failed. The audit log records each change once.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipdeck.api import transport
from shipdeck.config.audit import read_audit
from shipdeck.config.open_changes import OpenChanges
from shipdeck.live import session
from tests.cli.helpers import Result, shipdeck
from tests.conftest import ADMIN
from tests.reliability.hostile_kit import health_hangs, threaded
from tests.reliability.proxy import FaultProxy, RequestHead, fault_proxy
from tests.simproc import SimServer, running_sim

TARGET = "status-page"  # two ready versions behind its active one in the demo seed
HEADERS = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def own_sim(tmp_path: Path) -> Iterator[SimServer]:
    with running_sim(db_path=tmp_path / "sim.db", speed=50.0) as server:
        yield server


@pytest.fixture
def link(own_sim: SimServer) -> Iterator[FaultProxy]:
    with fault_proxy(own_sim.port) as proxy:
        yield proxy


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIOSA_API_KEY", ADMIN)


def is_rollback(head: RequestHead) -> bool:
    return head.method == "POST" and head.path.endswith("/rollback")


def deployment(sim: SimServer, name: str) -> dict[str, Any]:
    rows = httpx.get(sim.miosa + "/deployments?limit=200", headers=HEADERS, timeout=10).json()["data"]
    return next(d for d in rows if d["name"] == name)


def versions(sim: SimServer, dep_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{sim.miosa}/deployments/{dep_id}/versions?limit=200", headers=HEADERS, timeout=10)
    return list(answer.json()["data"])


def number_of(sim: SimServer, dep: dict[str, Any]) -> int:
    active = next(v for v in versions(sim, dep["id"]) if v["id"] == dep["active_version_id"])
    return int(active["version_number"])


def one_step_back(sim: SimServer, dep: dict[str, Any]) -> int:
    current = number_of(sim, dep)
    ready = [
        int(v["version_number"])
        for v in versions(sim, dep["id"])
        if v["state"] == "ready" and int(v["version_number"]) < current
    ]
    return max(ready)


def rolled_back_events(sim: SimServer) -> int:
    """How many rollbacks the server applied, from its own database."""
    assert sim.db_path is not None
    with sqlite3.connect(f"file:{sim.db_path}?mode=ro", uri=True) as db:
        row = db.execute("SELECT COUNT(*) FROM sim_events WHERE type = 'deployment.rolled_back'").fetchone()
    return int(row[0])


def rollback(capsys: pytest.CaptureFixture[str], url: str, *extra: str) -> Result:
    return shipdeck(capsys, "--provider", "miosa", "--url", url, "--timeout", "4", "rollback", TARGET, *extra)


def rollback_in_background(url: str, *extra: str) -> subprocess.Popen[str]:
    """`shipdeck rollback TARGET --yes` in a process of its own (another terminal), output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "shipdeck", "--provider", "miosa", "--url", url, "--timeout", "30"]
        + ["rollback", TARGET, "--yes", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def audit_records(action: str) -> list[dict[str, Any]]:
    return [r for r in read_audit() if isinstance(r, dict) and r.get("action") == action]


def test_a_lost_answer_is_unknown_and_the_rerun_does_not_roll_back_twice(
    capsys: pytest.CaptureFixture[str], own_sim: SimServer, link: FaultProxy
) -> None:
    url = link.url(own_sim.miosa)
    dep = deployment(own_sim, TARGET)
    expected = one_step_back(own_sim, dep)
    link.lose_answer_to(is_rollback, then_down=True)

    first = rollback(capsys, url, "--yes")

    assert first.code == 6, first.err
    assert "may have been applied" in first.err and "outcome unknown" in first.err, first.err
    assert f"check with `shipdeck --provider miosa --url {url} status {TARGET}`" in first.err, first.err
    assert rolled_back_events(own_sim) == 1  # it was applied: the answer alone was lost
    link.restore()

    second = rollback(capsys, url, "--yes")

    assert second.code == 0, second.err
    # Its target is active, as the earlier rollback intended (by it, or another change: it cannot tell).
    assert f"v{expected} is active now, as the earlier rollback" in second.out, second
    assert "Nothing more was sent" in second.out
    assert number_of(own_sim, deployment(own_sim, TARGET)) == expected, "not exactly one version back"
    assert rolled_back_events(own_sim) == 1
    # One change in the audit log: one intent, its one outcome (unknown), then how it was settled.
    records = audit_records("rollback")
    assert [r["phase"] for r in records] == ["intent", "outcome", "reconciled"], records
    assert records[1]["outcome"] == "unknown" and records[2]["outcome"] == "still unknown, closed"
    assert len({r["audit_id"] for r in records}) == 1
    assert records[0]["actor"]["user"] and records[0]["origin"].startswith("http://127.0.0.1:")
    assert OpenChanges().all() == []
    # A third run is a new rollback: one more step back, once.
    third = rollback(capsys, url, "--yes")
    assert third.code == 0, third.err
    assert rolled_back_events(own_sim) == 2


def test_a_lost_answer_while_the_server_can_be_read_is_settled_in_the_same_run(
    capsys: pytest.CaptureFixture[str], own_sim: SimServer, link: FaultProxy
) -> None:
    url = link.url(own_sim.miosa)
    dep = deployment(own_sim, TARGET)
    expected = one_step_back(own_sim, dep)
    link.lose_answer_to(is_rollback)  # the link stays up: the answer of that one request is lost

    result = rollback(capsys, url, "--yes", "--json")

    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["outcome"] == "ok" and data["to"] == f"v{expected}"
    assert number_of(own_sim, deployment(own_sim, TARGET)) == expected
    assert rolled_back_events(own_sim) == 1
    # The client resent it with the same key at once: the server replayed its answer, and said so.
    records = audit_records("rollback")
    assert [r["phase"] for r in records] == ["intent", "outcome"], records
    assert records[1]["outcome"] == "ok" and records[1]["details"] == {"replayed": True}


def test_a_request_cut_mid_way_is_unknown_not_failed_and_the_rerun_applies_it_once(
    capsys: pytest.CaptureFixture[str], own_sim: SimServer, link: FaultProxy
) -> None:
    """The proxy takes the rollback's request, then resets the connection: the client cannot know whether
    it reached the server, so it must not say "failed"; the re-run resends the same key and applies once."""
    url = link.url(own_sim.miosa)
    dep = deployment(own_sim, TARGET)
    expected = one_step_back(own_sim, dep)
    link.refuse(is_rollback)

    first = rollback(capsys, url, "--yes")

    assert first.code == 6 and "may have been applied" in first.err, first.err
    assert rolled_back_events(own_sim) == 0
    keys = {h.headers.get("idempotency-key") for h in link.requests_matching(is_rollback)}
    assert len(keys) == 1, "every resend of one change carries its one key"
    link.refuse(None)
    second = rollback(capsys, url, "--yes")
    assert second.code == 0, second.err
    assert number_of(own_sim, deployment(own_sim, TARGET)) == expected
    assert rolled_back_events(own_sim) == 1
    assert {h.headers.get("idempotency-key") for h in link.requests_matching(is_rollback)} == keys
    outcomes = [r.get("outcome") for r in audit_records("rollback") if r["phase"] != "attempt"]
    assert outcomes == [None, "unknown", "applied"], outcomes


async def test_a_change_refused_at_connect_is_failed_not_applied(tmp_path: Path) -> None:
    """Nothing listening: no request can have been delivered, so the session says failed, not unknown."""
    import socket

    from shipdeck.api.factory import make_adapter
    from shipdeck.config.audit import AuditLog
    from shipdeck.config.profile import Profile, Secret
    from shipdeck.live.plans import plan_domain_add
    from shipdeck.live.session import ChangeSession, OutcomeStatus
    from shipdeck.model import Deployment

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api/v1"
    profile = Profile("closed", "miosa", url, Secret(ADMIN), environment="sandbox")
    audit = AuditLog(tmp_path / "audit.jsonl", profile="closed", provider="miosa")
    adapter = make_adapter(profile, timeout=1.0, deadline=3.0)
    async with adapter:
        journal = OpenChanges(tmp_path / "o.json")
        session = ChangeSession(adapter, audit, read_only=False, profile_name="closed", open_changes=journal)
        dep = Deployment(id="dep_x", provider="miosa", name="x")
        outcome = await session.execute(plan_domain_add(dep, "www.example.com"))
    assert outcome.status is OutcomeStatus.FAILED
    assert "may have been applied" not in outcome.message() and "not applied" in outcome.message()
    assert [r.get("outcome") for r in read_audit(tmp_path / "audit.jsonl") if isinstance(r, dict)] == [
        None,
        "failed",
    ]
    assert OpenChanges(tmp_path / "o.json").all() == []


def test_answers_dropped_after_commit_twenty_rollbacks_each_applied_once_none_failed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Resends and read-backs on a fast clock: 49 backoffs and 8 reconcile waits slept 24 s of real time.
    # What is checked (one application each, nothing reported failed) does not depend on the waits' length.
    monkeypatch.setattr(transport, "DEFAULT_RETRY", transport.RetryOptions(backoff_multiplier=0.01))
    monkeypatch.setattr(session, "RECONCILE_DELAY_MIN", 0.05)
    faults = ["--faults", "drop_after_commit=0.7", "--rate-limit", "100000"]
    with running_sim(faults, db_path=tmp_path / "sim.db", speed=50.0) as sim:
        dep = deployment(sim, TARGET)
        current = number_of(sim, dep)
        ready = sorted(
            int(v["version_number"])
            for v in versions(sim, dep["id"])
            if v["state"] == "ready" and int(v["version_number"]) != current
        )
        targets = [ready[0], ready[1]] * 10  # fixed targets, each differing from the one before
        reported: list[int] = []
        for number in targets:
            result = shipdeck(
                capsys, "--provider", "miosa", "--url", sim.miosa, "--timeout", "20",
                "rollback", TARGET, "--to", f"v{number}", "--yes",
            )  # fmt: skip
            reported.append(result.code)
            assert "failed" not in result.err, result.err
        assert reported == [0] * 20, reported
        assert rolled_back_events(sim) == 20, "a rollback was applied twice, or not at all"
        assert number_of(sim, deployment(sim, TARGET)) == targets[-1]


def test_rollback_hold_turns_auto_deploy_off_first_and_the_preview_says_what_would_undo_it(
    capsys: pytest.CaptureFixture[str], own_sim: SimServer
) -> None:
    dep = deployment(own_sim, TARGET)
    assert dep["auto_deploy"], "the demo's status-page deploys on push"
    plain = shipdeck(capsys, "--provider", "miosa", "--url", own_sim.miosa, "rollback", TARGET)
    assert plain.code == 2 and "auto-deploy is on" in plain.err and "--hold" in plain.err  # no tty: refused
    held = shipdeck(
        capsys, "--provider", "miosa", "--url", own_sim.miosa, "rollback", TARGET, "--hold", "--yes"
    )
    assert held.code == 0, held.err
    after = deployment(own_sim, TARGET)
    assert after["auto_deploy"] is False and after["active_version_id"] != dep["active_version_id"]
    actions = [
        r["action"] for r in audit_records("update") + audit_records("rollback") if r["phase"] == "intent"
    ]
    assert sorted(actions) == ["rollback", "update"]


def test_auto_deploy_held_by_a_rollback_is_turned_back_on_once(
    capsys: pytest.CaptureFixture[str], own_sim: SimServer
) -> None:
    """The hold had no way back but the provider's dashboard. `auto-deploy DEP on` turns it on, once: the
    same command again sends nothing and says so; `auto-deploy DEP` says which it is."""
    url = ("--provider", "miosa", "--url", own_sim.miosa)
    held = shipdeck(capsys, *url, "rollback", TARGET, "--hold", "--yes")
    assert held.code == 0, held.err
    said = shipdeck(capsys, *url, "auto-deploy", TARGET)
    assert (said.code, said.out.strip()) == (0, f"{TARGET}: auto-deploy off")
    refused = shipdeck(capsys, *url, "auto-deploy", TARGET, "on")
    assert refused.code == 2 and "--yes" in refused.err  # no terminal: asked, not sent
    assert deployment(own_sim, TARGET)["auto_deploy"] is False
    on = shipdeck(capsys, *url, "auto-deploy", TARGET, "on", "--yes")
    assert on.code == 0, on.err
    assert "auto-deploy turned on" in on.out and "a push" in on.err  # the note: the next push goes live
    assert deployment(own_sim, TARGET)["auto_deploy"] is True
    again = shipdeck(capsys, *url, "auto-deploy", TARGET, "on", "--yes")
    assert again.code == 0 and "already on; nothing was sent" in again.err
    updates = [r for r in audit_records("update") if r["phase"] == "intent"]
    assert len(updates) == 2, updates  # the hold, and the one turn back on
    as_json = shipdeck(capsys, *url, "auto-deploy", TARGET, "--json")
    assert json.loads(as_json.out) == {"deployment": deployment(own_sim, TARGET)["id"], "auto_deploy": True}


def test_the_clis_rollback_passes_over_the_version_rolled_back_from_for_its_errors(
    capsys: pytest.CaptureFixture[str], own_sim: SimServer
) -> None:
    """checkout-api's v5 fails ~12% of requests: rolled back to v4, then redeployed (v6). A plain
    `rollback` went to v5, the version just rolled back from. It reads the hour's health first, as the
    console does, passes over v5 to v4, and says so in its preview."""
    url = ("--provider", "miosa", "--url", own_sim.miosa)
    first = shipdeck(capsys, *url, "rollback", "checkout-api", "--yes")
    assert first.code == 0 and "v5 -> v4" in first.out, (first.out, first.err)
    dep = deployment(own_sim, "checkout-api")
    headers = {"Authorization": f"Bearer {ADMIN}", "Idempotency-Key": "redeploy-after-rollback"}
    answer = httpx.post(f"{own_sim.miosa}/deployments/{dep['id']}/redeploy", json={}, headers=headers)
    assert answer.status_code == 202, answer.text
    deadline = time.monotonic() + 60
    while number_of(own_sim, deployment(own_sim, "checkout-api")) != 6:
        assert time.monotonic() < deadline, "the redeploy's v6 never went live"
        time.sleep(0.1)  # a poll's period
    second = shipdeck(capsys, *url, "rollback", "checkout-api", "--yes")
    assert second.code == 0, second.err
    assert "passed   v5 failed its users when it was last live" in second.err, second.err
    assert "v6 -> v4" in second.out, second.out
    assert number_of(own_sim, deployment(own_sim, "checkout-api")) == 4


def test_a_health_endpoint_that_never_answers_does_not_hold_the_rollback_back(
    capsys: pytest.CaptureFixture[str], own_sim: SimServer
) -> None:
    """The rule's health read is bounded: an observability endpoint that hangs costs a few seconds and a
    line saying so, not the incident's rollback."""

    with threaded(health_hangs(own_sim)) as server:
        url = ("--provider", "miosa", "--url", server.url + "/api/v1")
        result = shipdeck(capsys, *url, "rollback", "checkout-api", "--yes")
    assert result.code == 0, result.err
    assert "health not read within" in result.err and "the target ignores it" in result.err, result.err
    assert number_of(own_sim, deployment(own_sim, "checkout-api")) == 4


async def test_a_resend_answered_by_a_replay_reads_back_that_it_still_holds(
    own_sim: SimServer, link: FaultProxy, tmp_path: Path
) -> None:
    """The console's resend of a waiting rollback was answered by the server's replay (applied then) and
    reported "done", while a colleague had put the old version back meanwhile: the server ran the old one."""
    from shipdeck.api.factory import make_adapter
    from shipdeck.config.audit import AuditLog
    from shipdeck.config.profile import Profile, Secret
    from shipdeck.live.plans import plan_rollback
    from shipdeck.live.session import ChangeSession, OutcomeStatus

    url = link.url(own_sim.miosa)
    profile = Profile("link", "miosa", url, Secret(ADMIN), environment="sandbox")
    audit = AuditLog(tmp_path / "audit.jsonl", profile="link", provider="miosa")
    dep = deployment(own_sim, TARGET)
    was_active = dep["active_version_id"]
    adapter = make_adapter(profile, timeout=2.0, deadline=4.0)
    async with adapter:
        session = ChangeSession(adapter, audit, read_only=False, profile_name="link")
        session.resend_window = 0.0  # the change waits for the user
        live_dep = await adapter.get_deployment(dep["id"])
        listed = (await adapter.list_versions(dep["id"], limit=200)).items
        plan = plan_rollback(live_dep, listed)
        link.lose_answer_to(is_rollback, then_down=True)
        first = await session.execute(plan)
        assert first.status is OutcomeStatus.UNKNOWN
        assert rolled_back_events(own_sim) == 1, "applied: the answer alone was lost"
        link.restore()
        # A colleague puts the version it rolled back from live again.
        async with httpx.AsyncClient(headers=HEADERS, timeout=10) as colleague:
            back = await colleague.post(
                f"{own_sim.miosa}/deployments/{dep['id']}/versions/{was_active}/promote", json={}
            )
        assert back.status_code == 200, back.text
        resent = await session.resend(plan.identity)
    assert resent is not None
    assert resent.status is OutcomeStatus.SUPERSEDED, resent.message()
    assert deployment(own_sim, TARGET)["active_version_id"] == was_active
    assert rolled_back_events(own_sim) == 1, "the resend was a replay, not a second rollback"
    reconciled = [
        r for r in read_audit(tmp_path / "audit.jsonl") if isinstance(r, dict) and r["phase"] == "reconciled"
    ]
    assert len(reconciled) == 1 and "undone since" in str(reconciled[0].get("how")), reconciled


def test_a_second_run_does_not_close_a_rollback_the_first_is_still_sending(
    capsys: pytest.CaptureFixture[str], own_sim: SimServer, link: FaultProxy
) -> None:
    """Run A's rollback was applied and its answer slow; run B found A's open entry, took its target for
    settled, closed it ('still unknown') and said 'Nothing more was sent'; then A wrote 'ok'. An entry is
    written before the change is sent: only one whose sender is gone may be closed by another run."""
    url = link.url(own_sim.miosa)
    link.hold_answer_to(is_rollback)
    first = rollback_in_background(url, "--reason", "A")
    try:
        deadline = time.monotonic() + 30
        while rolled_back_events(own_sim) < 1 or not OpenChanges().all():
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "run A's rollback never reached the server"
            time.sleep(0.05)
        second = rollback(capsys, url, "--yes", "--reason", "B")
    finally:
        link.release()
        out, err = first.communicate(timeout=60)
    assert second.code == 1, second
    assert "is being sent now" in second.err and "nothing was sent" in second.err, second.err
    assert first.returncode == 0, err
    assert "rolled back" in out
    records = audit_records("rollback")
    assert [r["phase"] for r in records] == ["intent", "outcome"], records
    assert records[1]["outcome"] == "ok"
    assert rolled_back_events(own_sim) == 1
    assert OpenChanges().all() == []


async def test_a_waiting_change_closed_by_another_run_is_not_settled_twice(
    own_sim: SimServer, link: FaultProxy, tmp_path: Path
) -> None:
    """The console's periodic read-back wrote 'applied' for a change a CLI run had already closed ('still
    unknown, closed'): two contradicting reconciled lines for one change. The shared open-changes file
    says it was closed; the console then only stops tracking it."""
    from shipdeck.api.factory import make_adapter
    from shipdeck.config.audit import AuditLog
    from shipdeck.config.profile import Profile, Secret
    from shipdeck.live.plans import plan_rollback
    from shipdeck.live.session import ChangeSession, OutcomeStatus

    url = link.url(own_sim.miosa)
    profile = Profile("link", "miosa", url, Secret(ADMIN), environment="sandbox")
    audit = AuditLog(tmp_path / "audit.jsonl", profile="link", provider="miosa")
    journal = OpenChanges(tmp_path / "open.json")
    dep = deployment(own_sim, TARGET)
    adapter = make_adapter(profile, timeout=2.0, deadline=4.0)
    async with adapter:
        session = ChangeSession(adapter, audit, read_only=False, profile_name="link", open_changes=journal)
        session.resend_window = 0.0
        live_dep = await adapter.get_deployment(dep["id"])
        plan = plan_rollback(live_dep, (await adapter.list_versions(dep["id"], limit=200)).items)
        link.lose_answer_to(is_rollback, then_down=True)
        assert (await session.execute(plan)).status is OutcomeStatus.UNKNOWN
        link.restore()
        assert session.pending, "it waits"
        # Another shipdeck process closes it, as a CLI run asked the same does.
        other = ChangeSession(adapter, audit, read_only=False, profile_name="link", open_changes=journal)
        other.settle(plan.identity, applied=None, how="closed by the other run")
        settled = await session.check_waiting()
    assert settled == [] and not session.pending
    reconciled = [
        r for r in read_audit(tmp_path / "audit.jsonl") if isinstance(r, dict) and r["phase"] == "reconciled"
    ]
    assert len(reconciled) == 1 and reconciled[0]["how"] == "closed by the other run", reconciled


async def test_a_resend_of_a_change_another_run_settled_says_so_without_calling_it_unknown(
    own_sim: SimServer, link: FaultProxy, tmp_path: Path
) -> None:
    """Pressing enter on a waiting change another process had meanwhile read back as applied said "its
    outcome stays unknown": the other run knows the outcome, so the message must not deny it."""
    from shipdeck.api.factory import make_adapter
    from shipdeck.config.audit import AuditLog
    from shipdeck.config.profile import Profile, Secret
    from shipdeck.live.plans import plan_rollback
    from shipdeck.live.session import ChangeSession, OutcomeStatus

    url = link.url(own_sim.miosa)
    profile = Profile("link", "miosa", url, Secret(ADMIN), environment="sandbox")
    audit = AuditLog(tmp_path / "audit.jsonl", profile="link", provider="miosa")
    journal = OpenChanges(tmp_path / "open.json")
    dep = deployment(own_sim, TARGET)
    adapter = make_adapter(profile, timeout=2.0, deadline=4.0)
    async with adapter:
        session = ChangeSession(adapter, audit, read_only=False, profile_name="link", open_changes=journal)
        session.resend_window = 0.0
        live_dep = await adapter.get_deployment(dep["id"])
        plan = plan_rollback(live_dep, (await adapter.list_versions(dep["id"], limit=200)).items)
        link.lose_answer_to(is_rollback, then_down=True)
        assert (await session.execute(plan)).status is OutcomeStatus.UNKNOWN
        link.restore()
        other = ChangeSession(adapter, audit, read_only=False, profile_name="link", open_changes=journal)
        other.settle(plan.identity, applied=True, how="read back as applied by the other run")
        outcome = await session.resend(plan.identity)
    assert outcome is not None and outcome.status is OutcomeStatus.SUPERSEDED
    message = outcome.message()
    assert "another shipdeck process settled it" in message, message
    assert "unknown" not in message, message
    assert rolled_back_events(own_sim) == 1, "not sent again"


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGHUP"])
def test_a_rollback_stopped_by_sigterm_or_a_hangup_is_recorded_unknown_and_said(
    stop: str, own_sim: SimServer, link: FaultProxy
) -> None:
    """kill, or a closed SSH session, mid-change: the process died with nothing printed and a bare intent
    line in the audit log. It now stops as Ctrl-C does."""
    import signal

    url = link.url(own_sim.miosa)
    link.hold_answer_to(is_rollback)
    running = rollback_in_background(url)
    try:
        deadline = time.monotonic() + 30
        while rolled_back_events(own_sim) < 1:
            assert running.poll() is None, running.communicate()
            assert time.monotonic() < deadline, "the rollback never reached the server"
            time.sleep(0.05)
        running.send_signal(getattr(signal, stop))
        _out, err = running.communicate(timeout=30)
    finally:
        link.release()
        if running.poll() is None:
            running.kill()
    assert running.returncode == 128 + getattr(signal, stop), err
    assert "interrupted while sending" in err and "may have been applied" in err, err
    records = audit_records("rollback")
    assert [r["phase"] for r in records] == ["intent", "outcome"], records
    assert records[1]["outcome"] == "unknown"
    assert len(OpenChanges().all()) == 1, "kept: the same command again resends it with its key"

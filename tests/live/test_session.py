"""ChangeSession against a real `shipdeck sim` behind a loopback proxy: each change is audited once, sent
with one idempotency key, and its outcome is what happened: ok, refused, failed (nothing reached the
server) or unknown (it may have been applied), an unknown one reconciled by reading the server back."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipdeck.api.base import Adapter
from shipdeck.api.factory import make_adapter
from shipdeck.config.audit import AuditLog, read_audit
from shipdeck.config.open_changes import OpenChanges
from shipdeck.config.profile import Profile, Secret
from shipdeck.live.actions import ReadOnlyError
from shipdeck.live.plans import plan_domain_add, plan_promote, plan_rollback
from shipdeck.live.session import ChangeSession, OutcomeStatus, PendingChange
from shipdeck.model import Deployment
from tests.conftest import ADMIN
from tests.reliability.proxy import FaultProxy, RequestHead, fault_proxy
from tests.simproc import SimServer, running_sim

TARGET = "status-page"


@pytest.fixture
def own_sim(tmp_path: Path) -> Iterator[SimServer]:
    with running_sim(db_path=tmp_path / "sim.db", speed=50.0) as server:
        yield server


@pytest.fixture
def link(own_sim: SimServer) -> Iterator[FaultProxy]:
    with fault_proxy(own_sim.port) as proxy:
        yield proxy


def session_for(adapter: Adapter, tmp_path: Path, *, read_only: bool = False) -> ChangeSession:
    audit = AuditLog(tmp_path / "audit.jsonl", profile="t", provider="miosa", origin="http://x:1")
    return ChangeSession(
        adapter,
        audit,
        read_only=read_only,
        profile_name="t",
        open_changes=OpenChanges(tmp_path / "open.json"),
    )


def records(tmp_path: Path) -> list[dict[str, Any]]:
    return [r for r in read_audit(tmp_path / "audit.jsonl") if isinstance(r, dict)]


async def target_of(adapter: Adapter) -> Deployment:
    return await adapter.resolve_deployment(TARGET)


def is_rollback(head: RequestHead) -> bool:
    return head.method == "POST" and head.path.endswith("/rollback")


async def test_an_unknown_outcome_is_reconciled_by_reading_the_server_back(
    tmp_path: Path, own_sim: SimServer, link: FaultProxy
) -> None:
    profile = Profile("t", "miosa", link.url(own_sim.miosa), Secret(ADMIN), environment="sandbox")
    adapter = make_adapter(profile, timeout=2.0, deadline=3.0)
    async with adapter:
        session = session_for(adapter, tmp_path)
        dep = await target_of(adapter)
        plan = plan_rollback(dep, await adapter.all_versions(dep.id))
        told: list[PendingChange] = []

        def unknown(item: PendingChange) -> None:
            told.append(item)
            link.restore()  # the link comes back while the session is still finding out

        link.lose_answer_to(is_rollback, then_down=True)
        outcome = await session.execute(plan, settle_for=60.0, on_unknown=unknown)
        after = await adapter.get_deployment(dep.id)
    assert told and told[0].plan is plan
    assert outcome.status is OutcomeStatus.OK and outcome.reconciled, outcome
    assert "applied, once" in outcome.message()
    assert plan.to is not None and after.active_version_id == plan.to.id
    phases = [(r["phase"], r.get("outcome")) for r in records(tmp_path)]
    assert phases[0] == ("intent", None) and phases[1] == ("outcome", "unknown")
    assert phases[-1] == ("reconciled", "applied")
    assert session.pending == {} and session.open_changes is not None and session.open_changes.all() == []
    assert records(tmp_path)[0]["actor"]["host"] == socket.gethostname()


async def test_a_change_still_unknown_waits_and_can_be_dropped_then_a_rerun_reuses_its_key(
    tmp_path: Path, own_sim: SimServer, link: FaultProxy
) -> None:
    profile = Profile("t", "miosa", link.url(own_sim.miosa), Secret(ADMIN), environment="sandbox")
    adapter = make_adapter(profile, timeout=2.0, deadline=2.0)
    async with adapter:
        session = session_for(adapter, tmp_path)
        dep = await target_of(adapter)
        plan = plan_rollback(dep, await adapter.all_versions(dep.id))
        link.lose_answer_to(is_rollback, then_down=True)
        outcome = await session.execute(plan, settle_for=0.0)
        assert outcome.status is OutcomeStatus.UNKNOWN
        item = session.pending[plan.identity]
        assert item.state == "waiting"
        journal = session.open_changes
        assert journal is not None and journal.find("t", plan.identity) is not None
        # A second session (a re-run, another process) asks for the same change: same key.
        link.restore()
        rerun = session_for(adapter, tmp_path)
        again = await rerun.execute(plan, recheck=False)  # the same plan, resent as it was
        assert again.status is OutcomeStatus.OK and again.resumed and again.replayed
        assert again.idempotency_key == outcome.idempotency_key
        assert journal.find("t", plan.identity) is None
        assert session.drop(plan.identity) and session.pending == {}


async def test_a_refusal_is_refused_and_read_only_sends_nothing(tmp_path: Path, own_sim: SimServer) -> None:
    profile = Profile("t", "miosa", own_sim.miosa, Secret(ADMIN), environment="sandbox")
    adapter = make_adapter(profile)
    async with adapter:
        dep = await target_of(adapter)
        versions = await adapter.all_versions(dep.id)
        read_only = session_for(adapter, tmp_path, read_only=True)
        with pytest.raises(ReadOnlyError):
            await read_only.execute(plan_domain_add(dep, "ro.example.com"))
        assert records(tmp_path) == []
        session = session_for(adapter, tmp_path)
        # The server refuses a domain it already has: refused, not applied, nothing pending.
        existing = (await adapter.list_domains(dep.id)) or [await adapter.add_domain(dep.id, "x.example.com")]
        outcome = await session.execute(plan_domain_add(dep, existing[0].name))
        target = next(v for v in versions if v.state == "ready" and v.id != dep.active_version_id)
        promoted = await session.execute(plan_promote(dep, versions, target))
    assert outcome.status in (OutcomeStatus.REFUSED, OutcomeStatus.OK)
    if outcome.status is OutcomeStatus.REFUSED:
        assert "refused" in outcome.message()
    assert promoted.status is OutcomeStatus.OK and promoted.applied
    assert session.pending == {}
    outcomes = [r["outcome"] for r in records(tmp_path) if r["phase"] == "outcome"]
    assert len(outcomes) == 2 and outcomes[-1] == "ok"


async def test_quitting_mid_flight_records_unknown_and_keeps_the_key(tmp_path: Path) -> None:
    """Every answer takes 2 s: the change is cancelled (the console quit) after its request went out."""
    with (
        running_sim(["--faults", "latency=2000ms"], db_path=tmp_path / "sim.db", speed=50.0) as slow,
        fault_proxy(slow.port) as link,
    ):
        profile = Profile("t", "miosa", link.url(slow.miosa), Secret(ADMIN), environment="sandbox")
        adapter = make_adapter(profile, timeout=30.0, deadline=30.0)
        async with adapter:
            session = session_for(adapter, tmp_path)
            dep = await target_of(adapter)
            plan = plan_rollback(dep, await adapter.all_versions(dep.id))
            task = asyncio.create_task(session.execute(plan))
            while not link.requests_matching(is_rollback):
                await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    phases = [(r["phase"], r.get("outcome")) for r in records(tmp_path)]
    assert phases == [("intent", None), ("outcome", "unknown")]
    assert session.open_changes is not None and session.open_changes.find("t", plan.identity) is not None
    assert session.pending == {}


def test_health_after_says_when_another_version_was_live_by_then(tmp_path: Path) -> None:
    """Rolled back v5 -> v4, and a colleague promoted v5 again before the 5 minutes: the audit's "health 5
    min after: 12.0% errors" read as if the rollback had failed. It now says v5 was live by then."""
    from datetime import UTC, datetime, timedelta

    from shipdeck.config.audit import result_of
    from shipdeck.live.session import ChangeOutcome
    from shipdeck.model import Version
    from shipdeck.model.service_health import ServiceHealth, VersionChange

    audit = AuditLog(tmp_path / "audit.jsonl", profile="p", provider="miosa")
    session = ChangeSession(None, audit, read_only=False, profile_name="p")  # type: ignore[arg-type]
    intent = audit.intent("rollback", "checkout-api [dep_1]", idempotency_key="k")
    deployment = Deployment(id="dep_1", provider="miosa", name="checkout-api", active_version_id="ver_4")
    v4 = Version(id="ver_4", deployment_id="dep_1", number=4)
    plan = plan_rollback(
        deployment.model_copy(update={"active_version_id": "ver_5"}),
        [
            Version(id="ver_5", deployment_id="dep_1", number=5, state="ready"),
            v4.model_copy(update={"state": "ready"}),
        ],
    )
    outcome = ChangeOutcome(plan, OutcomeStatus.OK, intent=intent)
    again = deployment.model_copy(update={"active_version_id": "ver_5", "active_version_number": 5})

    def figures(rate: float, *switches: int) -> ServiceHealth:
        at = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
        changes = [
            VersionChange(at=at + timedelta(minutes=n), version_number=v) for n, v in enumerate(switches)
        ]
        return ServiceHealth(
            deployment_id="dep_1", provider="miosa", error_rate=rate, version_changes=changes
        )

    session.record_health_after(outcome, figures(0.12), after_s=300, active=again)
    session.record_health_after(outcome, figures(0.003, 5, 4), after_s=300, active=deployment)
    # A redeploy since made v6 and put it live before its row was re-read: the row still says v4, the
    # figures (their newest switch) say v6; 14.7% is v6's, not the rollback's.
    session.record_health_after(outcome, figures(0.147, 5, 4, 6), after_s=120, active=deployment)
    rows = [r for r in read_audit(tmp_path / "audit.jsonl") if isinstance(r, dict) and r["phase"] == "health"]
    assert result_of(rows[0]) == "health 5 min after: 12.0% errors (v5 live by then: changed since)"
    assert result_of(rows[1]) == "health 5 min after: 0.3% errors"
    assert result_of(rows[2]) == "health 2 min after: 14.7% errors (v6 live by then: changed since)"

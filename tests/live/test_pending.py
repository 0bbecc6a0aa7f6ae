"""PendingActions against a real `shipdeck sim` that goes away mid-action and comes back: the action is
pending, then resent with the SAME idempotency key, and the server acts exactly once."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from shipdeck.api.errors import ApiError
from shipdeck.api.factory import make_adapter
from shipdeck.config.audit import AuditLog
from shipdeck.config.profile import Profile, Secret
from shipdeck.live.actions import ActionRunner
from shipdeck.live.pending import PendingAction, PendingActions
from shipdeck.model import Deployment
from tests.simproc import running_sim

ADMIN = "msk_u_demo_admin"


def deployment_named(url: str, name: str) -> dict[str, object]:
    body = httpx.get(url + "/deployments?limit=200", headers={"Authorization": f"Bearer {ADMIN}"}).json()
    return next(d for d in body["data"] if d["name"] == name)


async def test_an_action_sent_while_the_server_is_down_is_pending_then_resolved_once(tmp_path: Path) -> None:
    db = tmp_path / "sim.db"
    audit_path = tmp_path / "audit.jsonl"
    runner = ActionRunner(
        AuditLog(audit_path, profile="t", provider="miosa"), read_only=False, profile_name="t"
    )
    changes: list[int] = []
    with running_sim(db_path=db, speed=50.0) as first:
        port, url = first.port, first.miosa
        before = deployment_named(url, "smile-dental-landing")
        adapter = make_adapter(Profile("t", "miosa", url, Secret(ADMIN)), deadline=1.0, timeout=1.0)
        first.stop()
    pending = PendingActions(runner, on_change=lambda: changes.append(len(pending.pending)))
    seen_pending: list[PendingAction[Deployment]] = []
    dep_id = str(before["id"])
    action = asyncio.create_task(
        pending.run(
            "rollback",
            "smile-dental-landing",
            lambda key: adapter.rollback(dep_id, idempotency_key=key),
            on_pending=seen_pending.append,
        )
    )
    try:
        async with asyncio.timeout(30):
            while not seen_pending:  # until the action has been told pending
                await asyncio.sleep(0.05)
        assert seen_pending and not action.done()
        assert len(pending.pending) == 1
        with running_sim(["--port", str(port)], db_path=db, speed=50.0):
            result = await asyncio.wait_for(action, 30)
            after = deployment_named(url, "smile-dental-landing")
    finally:
        action.cancel()
        await adapter.aclose()
    assert result.active_version_id == after["active_version_id"] != before["active_version_id"]
    assert pending.pending == {} and changes == [1, 0]
    records = [json.loads(line) for line in audit_path.read_text().splitlines()]
    # Every attempt used the one key; the last outcome is ok.
    assert {r["idempotency_key"] for r in records} == {seen_pending[0].idempotency_key}
    assert records[-1]["outcome"] == "ok"


async def test_a_refusal_is_raised_at_once_and_never_left_pending(tmp_path: Path) -> None:
    runner = ActionRunner(
        AuditLog(tmp_path / "audit.jsonl", profile="t", provider="miosa"), read_only=False, profile_name="t"
    )
    pending = PendingActions(runner)
    with running_sim(db_path=tmp_path / "sim.db", speed=50.0) as sim:
        adapter = make_adapter(Profile("t", "miosa", sim.miosa, Secret(ADMIN)))
        try:
            dep = await asyncio.to_thread(deployment_named, sim.miosa, "smile-dental-landing")
            async with httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN}"}) as client:
                answer = await client.get(f"{sim.miosa}/deployments/{dep['id']}/versions")
            versions = answer.json()["data"]
            not_ready = [v for v in versions if v["state"] != "ready"]
            target = not_ready[0]["id"] if not_ready else "ver_does_not_exist"
            try:
                await pending.run(
                    "promote", "x", lambda key: adapter.promote(str(dep["id"]), target, idempotency_key=key)
                )
            except ApiError as exc:  # 409 VERSION_NOT_READY (or 404 for the made-up id)
                assert exc.status in (404, 409) and exc.message
            else:
                raise AssertionError("the server accepted a promote it must refuse")
        finally:
            await adapter.aclose()
    assert pending.pending == {}

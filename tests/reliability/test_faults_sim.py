"""The console against `shipdeck sim --faults`: slow answers, 5xx and 429 bursts, answers dropped after the
change was committed, an event stream dropped every few events. The console lists everything, stays live,
and a rollback whose answer is dropped moves the deployment back exactly one version."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from shipdeck.tui.screens.dialogs import ConfirmDialog
from tests.conftest import ADMIN
from tests.reliability.conftest import (
    console_through,
    every_notification,
    header_current,
    loaded,
)
from tests.simproc import SimServer, running_sim
from tests.tui.console_host import main_screen, settle_actions, wait_for

FAULTS = "latency=10ms,error5xx=0.1,rate429=0.05,drop_after_commit_once,sse_drop_every=20"
TARGET = "status-page"  # has two ready versions behind its active one in the demo seed
RETRY_STATUSES = (429, 502, 503, 504)


def patient_get(sim: SimServer, path: str) -> Any:
    """A read of the simulator's own state, retried through its injected faults."""
    for _ in range(100):
        answer = httpx.get(sim.miosa + path, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
        if answer.status_code not in RETRY_STATUSES:
            answer.raise_for_status()
            return answer.json()
        time.sleep(0.05)
    raise AssertionError(f"the simulator kept failing GET {path}")


def all_deployments(sim: SimServer) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = patient_get(sim, "/deployments?limit=200" + (f"&cursor={cursor}" if cursor else ""))
        rows += page["data"]
        cursor = page.get("next_cursor") or ""
        if not cursor:
            return rows


def one_step_back(sim: SimServer, deployment: dict[str, Any]) -> dict[str, Any]:
    versions = patient_get(sim, f"/deployments/{deployment['id']}/versions?limit=200")["data"]
    active = next(v for v in versions if v["id"] == deployment["active_version_id"])
    older = [v for v in versions if v["state"] == "ready" and v["version_number"] < active["version_number"]]
    assert len(older) >= 2, "the target needs two ready versions behind its active one"
    return max(older, key=lambda v: int(v["version_number"]))


async def test_the_console_rides_out_a_faulty_server(tmp_path: Path) -> None:
    args = ["--epoch", "2026-01-01T00:00:00Z", "--heartbeat", "0.3", "--faults", FAULTS]
    with running_sim(args, speed=50.0) as sim:
        listed = all_deployments(sim)
        target = next(d for d in listed if d["name"] == TARGET)
        expected = one_step_back(sim, target)
        app, adapter = console_through(sim.miosa, "miosa", tmp_path, deadline=20.0)
        told = every_notification(app)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await loaded(pilot, app)
            await wait_for(pilot, lambda: not app.live.pages_loading)
            assert set(app.live.deployments) == {d["id"] for d in listed}
            assert main_screen(app).table.move_to(target["id"])
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            await pilot.press("enter")
            await settle_actions(pilot, app)
            assert any("rolled back" in m for m in told), told
            await wait_for(pilot, lambda: header_current(app), timeout=30)
        await adapter.aclose()
        after = (await asyncio.to_thread(patient_get, sim, f"/deployments/{target['id']}"))["data"]
        rollbacks = await asyncio.to_thread(rollback_statuses, sim)
    assert after["active_version_id"] == expected["id"], "not exactly one step back"
    # Committed but unanswered (logged as 0), then resent with the same key and answered from the record.
    assert rollbacks[0] == 0 and rollbacks[-1] == 200, rollbacks


def rollback_statuses(sim: SimServer) -> list[int]:
    log = httpx.get(sim.root + "/_sim/requests", timeout=10).json()["requests"]
    return [r["status"] for r in log if r["method"] == "POST" and r["path"].endswith("/rollback")]

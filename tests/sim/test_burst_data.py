"""/_sim/burst may give its events extra fields (the live-tail benchmark makes them about one deployment)."""

from __future__ import annotations

import httpx

from tests.simproc import SimServer


def test_burst_events_carry_the_extra_data_and_refuse_a_non_object(sim: SimServer) -> None:
    body = {"provider": "miosa", "count": 3, "type": "sim.data", "data": {"deployment_id": "dep_x"}}
    answer = httpx.post(f"{sim.root}/_sim/burst", json=body)
    assert answer.status_code == 200, answer.text
    first_seq = answer.json()["first_seq"]
    with httpx.stream(
        "GET",
        f"{sim.miosa}/events/stream",
        headers={"Authorization": "Bearer msk_u_demo_admin", "Last-Event-ID": str(first_seq - 1)},
        params={"types": "sim.data"},
        timeout=10,
    ) as response:
        first = next(line for line in response.iter_lines() if line.startswith("data: "))
    assert '"deployment_id": "dep_x"' in first and '"burst_index": 0' in first
    refused = httpx.post(f"{sim.root}/_sim/burst", json={**body, "data": ["not", "an", "object"]})
    assert refused.status_code == 422
    assert "data must be a JSON object" in refused.text

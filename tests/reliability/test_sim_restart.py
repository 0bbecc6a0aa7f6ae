"""The sandbox across restarts and interrupts: a restart with the same --db continues its id sequences (a
publish after it failed with 500 'UNIQUE constraint failed: miosa_versions.id'), and Ctrl-C with streams open
stops it cleanly, without a traceback."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from tests.conftest import ADMIN
from tests.sim.helpers import data, idem
from tests.simproc import SimServer, running_sim


def http_for(server: SimServer) -> httpx.Client:
    return httpx.Client(base_url=server.miosa, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)


def publish_each(http: httpx.Client) -> list[str]:
    """Publish once to every deployment (and create one): the ids of what was made."""
    made = [data(http.post("/deployments", json={"name": "made-after-a-start"}, headers=idem()), 201)]
    for dep in data(http.get("/deployments", params={"limit": 200})):
        answer = http.post(
            f"/deployments/{dep['id']}/publish", json={"source_sandbox_id": "s"}, headers=idem()
        )
        assert answer.status_code < 500, answer.text
        made.append(answer.json()["data"]["version"])
    return [item["id"] for item in made]


def test_a_restart_with_the_same_db_continues_the_id_sequences(tmp_path: Path) -> None:
    db = tmp_path / "sim.db"
    with running_sim(db_path=db, seed="demo", rng_seed=7) as server, http_for(server) as http:
        first = publish_each(http)
    for _ in range(2):
        with running_sim(db_path=db, seed="demo", rng_seed=7) as server, http_for(server) as http:
            again = publish_each(http)
            assert not set(again) & set(first)
            first += again
        assert not [line for line in server.output if "Traceback" in line or "IntegrityError" in line]


def test_ctrl_c_with_streams_open_stops_cleanly(tmp_path: Path) -> None:
    with running_sim(seed="demo") as server:
        headers = {"Authorization": f"Bearer {ADMIN}", "Accept": "text/event-stream"}
        with (
            httpx.Client(timeout=10) as client,
            client.stream("GET", server.miosa + "/events/stream", headers=headers) as events,
        ):
            assert events.status_code == 200
            deps = data(client.get(server.miosa + "/deployments", headers=headers))
            with client.stream(
                "GET", f"{server.miosa}/deployments/{deps[0]['id']}/logs", headers=headers
            ) as logs:
                assert logs.status_code == 200
                code = server.stop(signal.SIGINT)
    assert code == 0, "\n".join(server.output)
    assert not [line for line in server.output if "Traceback" in line], "\n".join(server.output)

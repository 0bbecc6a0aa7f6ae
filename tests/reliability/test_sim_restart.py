"""The sandbox across restarts and interrupts: a restart with the same --db continues its id sequences (a
publish after it failed with 500 'UNIQUE constraint failed: miosa_versions.id'), and Ctrl-C with streams open
stops it cleanly, without a traceback."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import httpx
from websockets.sync.client import connect

from tests.conftest import ADMIN, MITEOS_TOKEN
from tests.sim.helpers import data, idem
from tests.simproc import READY_MARKER, SimServer, running_sim

_READY_OR_PROVIDER = re.compile(
    rf"^((miosa|miteos|mixpeek)\s+http://\S+\s+tokens:.*|{re.escape(READY_MARKER)}.*)$"
)


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
        headers = {"Authorization": f"Bearer {ADMIN}", "Accept": "text/event-stream, application/json;q=0.9"}
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
                ws_url = server.miteos.replace("http://", "ws://") + f"/ws?token={MITEOS_TOKEN}"
                with connect(ws_url) as socket:  # the Miteos event WebSocket, open too
                    socket.send(json.dumps({"type": "subscribe"}))
                    assert json.loads(socket.recv(timeout=10))["type"] == "subscribed"
                    code = server.stop(signal.SIGINT)
    assert code == 0, "\n".join(server.output)
    # Nothing said but the ready lines: the streams were ended by the sandbox, not cut by uvicorn after its
    # graceful timeout ("Cancel 1 running task(s), timeout graceful shutdown exceeded", "ASGI callable
    # returned without completing response", each an ERROR line, and a 2 s wait at every Ctrl-C).
    said = [line for line in server.output if not _READY_OR_PROVIDER.match(line)]
    assert said == [], "\n".join(server.output)

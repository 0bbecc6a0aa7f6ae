"""SSE over real HTTP: the tenant event stream (resume with Last-Event-ID, filters, heartbeats, resync) and
the build log streams."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN
from tests.sim.helpers import client, data, idem, new_deployment, publish_and_wait
from tests.simproc import SimServer, running_sim

# What shipdeck and the official SDK send: SSE first, JSON for the server's guard.
SSE = {"Accept": "text/event-stream, application/json;q=0.9"}


@dataclass
class Frame:
    event: str | None = None
    id: str | None = None
    data: list[str] = field(default_factory=list)
    comment: str | None = None

    @property
    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads("\n".join(self.data))
        return value


def frames(response: httpx.Response) -> Iterator[Frame]:
    frame = Frame()
    for line in response.iter_lines():
        if line == "":
            if frame.data or frame.event:
                yield frame
            frame = Frame()
        elif line.startswith(":"):
            yield Frame(comment=line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                frame.data.append(value)
            elif name in ("event", "id"):
                setattr(frame, name, value)


def read_events(
    http: httpx.Client, count: int, headers: dict[str, str], params: dict[str, Any] | None = None
) -> list[Frame]:
    got: list[Frame] = []
    with http.stream("GET", "/events/stream", headers={**SSE, **headers}, params=params) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for frame in frames(response):
            if frame.comment is None:
                got.append(frame)
                if len(got) == count:
                    break
    return got


def test_an_accept_header_without_json_is_refused_before_anything_runs(sim: SimServer) -> None:
    """As the real server's JSON guard does (the official SDK's note): ``text/event-stream`` alone gets a
    406, so a client that sends only it would never see an event from the real API."""
    bare = httpx.get(
        sim.miosa + "/deployments",
        headers={"Authorization": f"Bearer {ADMIN}", "Accept": "text/event-stream"},
        timeout=10,
    )
    assert bare.status_code == 406 and bare.json()["error"]["code"] == "NOT_ACCEPTABLE"
    for accept in ("", "*/*", "application/json", SSE["Accept"]):
        ok = httpx.get(
            sim.miosa + "/deployments",
            headers={"Authorization": f"Bearer {ADMIN}", "Accept": accept},
            timeout=10,
        )
        assert ok.status_code == 200, (accept, ok.text)


def burst(sim: SimServer, count: int, type_: str = "sim.burst") -> dict[str, Any]:
    answer = httpx.post(f"{sim.root}/_sim/burst", json={"provider": "miosa", "count": count, "type": type_})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_resume_with_last_event_id_loses_and_repeats_nothing(sim: SimServer) -> None:
    first = burst(sim, 300)
    start = first["first_seq"] - 1
    with client(sim) as http:
        head = read_events(http, 120, {"Last-Event-ID": str(start)})
        resumed = read_events(http, 180, {"Last-Event-ID": head[-1].id or ""}, {"types": "sim.*"})
    seqs = [int(f.id or 0) for f in head + resumed]
    assert seqs == list(range(start + 1, start + 301))
    payload = head[0].json
    assert {"id", "type", "created_at", "data"} <= payload.keys() and head[0].event == "sim.burst"


def test_five_thousand_events_arrive_in_order(sim: SimServer) -> None:
    answer = burst(sim, 5000, "sim.load")
    with client(sim) as http:
        got = read_events(http, 5000, {"Last-Event-ID": str(answer["first_seq"] - 1)}, {"types": "sim.load"})
    assert [int(f.id or 0) for f in got] == list(range(answer["first_seq"], answer["last_seq"] + 1))


def test_type_filters_and_live_mutation_events(sim: SimServer) -> None:
    with client(sim) as http:
        latest = httpx.get(f"{sim.root}/_sim/health").json()["latest_seq"]["miosa"]
        deployment = new_deployment(http)
        data(http.post(f"/deployments/{deployment['id']}/env", json={"env": {"A": "b"}}))
        got = read_events(http, 2, {"Last-Event-ID": str(latest)}, {"types": "deployment.*,env.changed"})
    assert [f.event for f in got] == ["deployment.updated", "env.changed"]
    assert got[0].json["data"]["deployment_id"] == deployment["id"]
    assert got[1].json["data"]["names"] == ["A"]


def test_a_publish_emits_its_lifecycle(sim: SimServer) -> None:
    with client(sim) as http:
        deployment = new_deployment(http)
        latest = httpx.get(f"{sim.root}/_sim/health").json()["latest_seq"]["miosa"]
        version = publish_and_wait(http, deployment["id"])
        expected = ["version.created", "version.state_changed", "version.state_changed"]
        if version["state"] == "ready":
            expected.append("version.promoted")
        got = read_events(http, len(expected), {"Last-Event-ID": str(latest)}, {"types": "version.*"})
    assert [f.event for f in got] == expected
    assert [f.json["data"].get("to") for f in got[1:3]] == ["building", version["state"]]


def test_build_log_stream_replays_follows_and_ends_with_done(sim: SimServer) -> None:
    with client(sim) as http:
        deployment = new_deployment(http)
        result = data(http.post(f"/deployments/{deployment['id']}/publish", json={"source_sandbox_id": "s"}))
        build_id = result["version"]["build_id"]
        path = f"/deployments/{deployment['id']}/builds/{build_id}/logs"
        lines, done = [], None
        with http.stream("GET", path, headers=SSE) as response:
            for frame in frames(response):
                if frame.event == "log_line":
                    lines.append((int(frame.id or 0), frame.json["line"]))
                elif frame.event == "done":
                    done = frame.json
        assert (
            done is not None and done["type"] == "done" and done["result"]["state"] in ("succeeded", "failed")
        )
        assert [seq for seq, _ in lines] == list(range(1, len(lines) + 1)) and len(lines) >= 9
        assert "Cloning sandbox snapshot s" in lines[0][1]
        with http.stream("GET", path, headers={**SSE, "Last-Event-ID": "5"}) as response:
            replay = [int(f.id or 0) for f in frames(response) if f.event == "log_line"]
        assert replay == list(range(6, len(lines) + 1))
        with http.stream("GET", f"/deployments/{deployment['id']}/logs", headers=SSE) as response:
            deployment_lines = [f.json["line"] for f in frames(response) if f.event == "log_line"]
        assert deployment_lines == [line for _, line in lines]


def test_bad_last_event_id_is_422(sim: SimServer) -> None:
    with client(sim) as http:
        response = http.get("/events/stream", headers={**SSE, "Last-Event-ID": "yesterday"})
        assert response.status_code == 422


def test_heartbeats_and_resync_when_the_history_is_gone(tmp_path: Path) -> None:
    with running_sim(["--heartbeat", "0.2"], seed="empty") as server:
        with httpx.Client(base_url=server.miosa, headers={"Authorization": f"Bearer {ADMIN}"}) as http:
            with http.stream("GET", "/events/stream", headers=SSE) as response:
                comments = []
                for frame in frames(response):
                    if frame.comment == "heartbeat":
                        comments.append(frame)
                    if len(comments) == 2:
                        break
            for _ in range(3):  # 3 x 10,000 events: the oldest are trimmed
                assert httpx.post(
                    f"{server.root}/_sim/burst", json={"provider": "miosa", "count": 10_000}
                ).is_success
            got = read_events(http, 1, {"Last-Event-ID": "1"})
        assert got[0].event == "resync_required"


@pytest.mark.parametrize("every", [7])
def test_sse_drop_every_closes_the_stream_after_n_events(every: int) -> None:
    with running_sim(["--faults", f"sse_drop_every={every}"], seed="empty") as server:
        httpx.post(f"{server.root}/_sim/burst", json={"provider": "miosa", "count": 20})
        with httpx.Client(base_url=server.miosa, headers={"Authorization": f"Bearer {ADMIN}"}) as http:
            got: list[int] = []
            stream = http.stream("GET", "/events/stream", headers={**SSE, "Last-Event-ID": "0"})
            with pytest.raises(httpx.RemoteProtocolError), stream as response:
                got.extend(int(f.id or 0) for f in frames(response) if f.comment is None)
            seen = []
            with http.stream("GET", "/events/stream", headers={**SSE, "Last-Event-ID": "0"}) as response:
                for frame in frames(response):
                    if frame.comment is None:
                        seen.append(int(frame.id or 0))
                    if len(seen) == every:
                        break
        assert got == list(range(1, every + 1))  # exactly N events, then the connection drops
        assert seen == list(range(1, every + 1))


def test_idempotent_replay_and_payload_mismatch(sim: SimServer) -> None:
    with client(sim) as http:
        key = idem()
        first = http.post("/deployments", json={"name": "idem-app"}, headers=key)
        again = http.post("/deployments", json={"name": "idem-app"}, headers=key)
        assert first.status_code == again.status_code == 201
        assert again.headers["idempotency-replayed"] == "true" and "idempotency-replayed" not in first.headers
        assert again.json() == first.json()
        mismatch = http.post("/deployments", json={"name": "other"}, headers=key)
        assert mismatch.status_code == 409
        assert mismatch.json()["error"]["code"] == "IDEMPOTENCY_PAYLOAD_MISMATCH"
        names = [d["name"] for d in data(http.get("/deployments", params={"limit": 200}))]
        assert names.count("idem-app") == 1 and "other" not in names
        # The key is scoped to the path: the same key elsewhere is a new request.
        dep_id = first.json()["data"]["id"]
        published = http.post(f"/deployments/{dep_id}/publish", json={"source_sandbox_id": "s"}, headers=key)
        assert published.status_code == 200 and "idempotency-replayed" not in published.headers


def test_resuming_beyond_the_newest_event_asks_for_a_resync(sim: SimServer) -> None:
    latest = httpx.get(f"{sim.root}/_sim/health").json()["latest_seq"]["miosa"]
    with client(sim) as http:
        got = read_events(http, 1, {"Last-Event-ID": str(latest + 1000)})
    assert got[0].event == "resync_required"

"""State on disk: restart with the same --db, kill -9 after an acknowledged change, drop_after_commit, resumed
pipelines, deterministic and scale seeds."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN
from tests.sim.helpers import data, idem, wait_for
from tests.simproc import SimServer, running_sim

EPOCH = "2026-01-15T09:00:00Z"


def http_for(server: SimServer) -> httpx.Client:
    return httpx.Client(base_url=server.miosa, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)


def names(http: httpx.Client) -> list[str]:
    return [d["name"] for d in data(http.get("/deployments", params={"limit": 200}))]


def test_restart_with_the_same_db_keeps_state_and_does_not_reseed(tmp_path: Path) -> None:
    db = tmp_path / "sim.db"
    with running_sim(db_path=db) as server, http_for(server) as http:
        before = names(http)
        data(http.post("/deployments", json={"name": "survivor"}, headers=idem()), 201)
        dep = next(
            d for d in data(http.get("/deployments", params={"limit": 200})) if d["name"] == "survivor"
        )
        data(http.post(f"/deployments/{dep['id']}/env", json={"env": {"KEEP": "me-please"}}))
    with running_sim(db_path=db, rng_seed=99) as server, http_for(server) as http:
        after = names(http)
        assert after == ["survivor", *before]
        assert [v["name"] for v in data(http.get(f"/deployments/{dep['id']}/env"))] == ["KEEP"]


def test_kill_9_loses_nothing_that_was_acknowledged(tmp_path: Path) -> None:
    db = tmp_path / "sim.db"
    created = []
    key = idem()
    with running_sim(db_path=db, seed="empty") as server, http_for(server) as http:
        for n in range(15):
            created.append(
                data(http.post("/deployments", json={"name": f"acked-{n}"}, headers=idem()), 201)["id"]
            )
        last = data(http.post("/deployments", json={"name": "last"}, headers=key), 201)
        server.stop(signal.SIGKILL)
    with running_sim(db_path=db, seed="empty") as server, http_for(server) as http:
        ids = [d["id"] for d in data(http.get("/deployments", params={"limit": 200}))]
        assert sorted(ids) == sorted([*created, last["id"]])
        # The idempotency record was committed with the change: a retry after the crash replays it.
        retry = http.post("/deployments", json={"name": "last"}, headers=key)
        assert retry.headers["idempotency-replayed"] == "true" and retry.json()["data"] == last


def test_a_pipeline_interrupted_by_kill_9_resumes_after_restart(tmp_path: Path) -> None:
    db = tmp_path / "sim.db"
    with running_sim(db_path=db, seed="empty", speed=4.0) as server, http_for(server) as http:
        dep = data(http.post("/deployments", json={"name": "resumable"}), 201)
        version = data(http.post(f"/deployments/{dep['id']}/publish", json={"source_sandbox_id": "s"}))[
            "version"
        ]
        wait_for(
            lambda: (
                data(http.get(f"/deployments/{dep['id']}/versions/{version['id']}"))["state"] == "building"
            )
        )
        server.stop(signal.SIGKILL)
    with running_sim(db_path=db, seed="empty", speed=50.0) as server, http_for(server) as http:
        path = f"/deployments/{dep['id']}/versions/{version['id']}"
        final = wait_for(lambda: (v := data(http.get(path)))["state"] in ("ready", "failed") and v)
        logs = data(
            http.get(f"/deployments/{dep['id']}/builds/{final['build_id']}/logs", params={"lines": 100})
        )
        lines = logs["logs"].splitlines()
        assert lines[0].startswith("Cloning sandbox snapshot") and len(lines) == len(set(lines))
        assert lines[-1].startswith("Build complete" if final["state"] == "ready" else "error:")


def test_drop_after_commit_closes_the_connection_and_a_retry_replays(tmp_path: Path) -> None:
    with (
        running_sim(["--faults", "drop_after_commit_once"], seed="empty") as server,
        http_for(server) as http,
    ):
        key = idem()
        with pytest.raises(httpx.TransportError):
            http.post("/deployments", json={"name": "dropped"}, headers=key)
        assert names(http) == ["dropped"]  # committed although the answer never came
        retry = http.post("/deployments", json={"name": "dropped"}, headers=key)
        assert retry.status_code == 201 and retry.headers["idempotency-replayed"] == "true"
        assert names(http) == ["dropped"]
        log = httpx.get(f"{server.root}/_sim/requests").json()["requests"]
        assert [(r["method"], r["status"]) for r in log if r["method"] == "POST"] == [
            ("POST", 0),
            ("POST", 201),
        ]


def test_drop_after_commit_1_drops_every_mutation_but_no_read() -> None:
    with running_sim(["--faults", "drop_after_commit=1"], seed="empty") as server, http_for(server) as http:
        for n in range(3):
            with pytest.raises(httpx.TransportError):
                http.post("/deployments", json={"name": f"d{n}"})
        assert sorted(names(http)) == ["d0", "d1", "d2"]


def test_demo_seed_is_identical_for_a_fixed_epoch_and_rng_seed() -> None:
    snapshots = []
    for _ in range(2):
        with running_sim(["--epoch", EPOCH], rng_seed=3) as server, http_for(server) as http:
            deployments = data(http.get("/deployments", params={"limit": 200}))
            versions = data(http.get(f"/deployments/{deployments[0]['id']}/versions", params={"limit": 200}))
            snapshots.append((deployments, versions))
    assert snapshots[0] == snapshots[1]
    deployments, versions = snapshots[0]
    assert all(d["created_at"] < "2026-01-15T09:00:00" for d in deployments)
    assert max(v["created_at"] for v in versions) < "2026-01-15T09:00:00"


def test_scale_seed(tmp_path: Path) -> None:
    with running_sim(seed="scale:400", db_path=tmp_path / "scale.db") as server, http_for(server) as http:
        seen, cursor = 0, None
        while True:
            body = http.get(
                "/deployments", params={"limit": 200, **({"cursor": cursor} if cursor else {})}
            ).json()
            seen += len(body["data"])
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == 400
        first = body["data"][-1]
        versions = data(http.get(f"/deployments/{first['id']}/versions"))
        assert [v["version_number"] for v in versions] == [5, 4, 3, 2, 1]
        assert first["active_version_id"] == versions[0]["id"] and versions[0]["state"] == "ready"

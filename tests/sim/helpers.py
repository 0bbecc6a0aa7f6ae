"""Small HTTP helpers for the simulator's contract tests (real HTTP, no mocks)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from tests.conftest import ADMIN, READONLY
from tests.simproc import SimServer


def client(sim: SimServer, token: str | None = ADMIN, **kwargs: Any) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=sim.miosa, headers=headers, timeout=10.0, **kwargs)


def readonly_client(sim: SimServer) -> httpx.Client:
    return client(sim, READONLY)


def idem() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["x-request-id"].startswith("req_")
    return response.json()["data"]


def error_code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["error"]["message"] and body["message"] == body["error"]["message"]
    assert response.headers["x-request-id"].startswith("req_")
    return str(body["error"]["code"])


def new_deployment(http: httpx.Client, name: str | None = None) -> dict[str, Any]:
    body = {"name": name or f"test-{uuid.uuid4().hex[:8]}", "branch": "main"}
    return dict(data(http.post("/deployments", json=body, headers=idem()), 201))


def wait_for(predicate: Any, timeout: float = 20.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def publish_and_wait(http: httpx.Client, deployment_id: str, **body: Any) -> dict[str, Any]:
    """Publish and wait for the version to finish building; returns the finished version."""
    result = data(
        http.post(
            f"/deployments/{deployment_id}/publish",
            json={"source_sandbox_id": "sbx_t", **body},
            headers=idem(),
        )
    )
    return finished_version(http, deployment_id, result["version"]["id"])


def finished_version(http: httpx.Client, deployment_id: str, version_id: str) -> dict[str, Any]:
    """Wait for a version to finish building (ready or failed) and return it."""

    def finished() -> dict[str, Any] | None:
        version = data(http.get(f"/deployments/{deployment_id}/versions/{version_id}"))
        return dict(version) if version["state"] in ("ready", "failed") else None

    return dict(wait_for(finished))


def ready_version(http: httpx.Client, deployment_id: str, **body: Any) -> dict[str, Any]:
    """Publish until a version is ready (some builds fail, deterministically); bounded attempts."""
    for _ in range(8):
        version = publish_and_wait(http, deployment_id, **body)
        if version["state"] == "ready":
            return version
    raise AssertionError("no ready version in 8 publishes")

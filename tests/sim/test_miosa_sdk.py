"""The official Miosa Python SDK drives every deployment call against the simulator."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from miosa import Miosa
from miosa.errors import MiosaError, NotFoundError
from miosa.errors import PermissionError as MiosaPermissionError

from tests.conftest import ADMIN, READONLY
from tests.simproc import SimServer


@pytest.fixture
def sdk(sim: SimServer) -> Iterator[Miosa]:
    client = Miosa(api_key=ADMIN, base_url=sim.miosa, max_retries=0, timeout=10)
    yield client
    client.close()


def wait_ready(sdk: Miosa, deployment_id: str, version_id: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = sdk.deployments.versions(deployment_id).get(version_id).state.value
        if state in ("ready", "failed"):
            return str(state)
        time.sleep(0.05)
    raise AssertionError("version never finished")


def publish_ready(sdk: Miosa, deployment_id: str) -> str:
    for _ in range(8):
        result = sdk.deployments.publish(deployment_id, source_sandbox_id="sbx_sdk")
        assert result.version.deployment_id == deployment_id
        if wait_ready(sdk, deployment_id, result.version.id) == "ready":
            return result.version.id
    raise AssertionError("no ready version in 8 publishes")


def test_the_official_sdk_drives_every_deployment_call(sdk: Miosa) -> None:
    listed = sdk.deployments.list(limit=200)
    assert "smile-dental-landing" in {d.name for d in listed}
    assert sdk.deployments.get(listed[0].id).id == listed[0].id

    created = sdk.deployments.create(
        name="sdk-app", repo_url="https://github.com/acme/sdk-app", branch="main"
    )
    assert created.state.value == "pending" and created.slug.startswith("sdk-app")
    updated = sdk.deployments.update(created.id, branch="release", auto_deploy=False)
    assert updated.branch == "release" and updated.auto_deploy is False

    first = publish_ready(sdk, created.id)
    second = publish_ready(sdk, created.id)
    versions = sdk.deployments.versions(created.id).list()
    assert {first, second} <= {v.id for v in versions}
    assert sdk.deployments.get(created.id).active_version_id == second

    promoted = sdk.deployments.versions(created.id).promote(first)
    assert promoted.active_version_id == first
    rolled = sdk.deployments.rollback(created.id, version_id=second)
    assert rolled.active_version_id == second
    previous = sdk.deployments.rollback(created.id)
    assert previous.active_version_id == first

    releases = sdk.deployments.releases(created.id).list()
    release = next(r for r in releases if r.deployment_version_id == second)
    assert sdk.deployments.releases(created.id).get(release.id).id == release.id
    assert sdk.deployments.releases(created.id).promote(release.id).active_version_id == second

    builds = sdk.deployments.list_builds(created.id)
    assert builds and sdk.deployments.get_build(created.id, builds[0].id).id == builds[0].id

    env = sdk.deployments.set_env(created.id, {"API_KEY": "very-secret-value"})
    assert env[0]["preview"] != "very-secret-value"
    assert [v["name"] for v in sdk.deployments.list_env(created.id)] == ["API_KEY"]

    domains = sdk.deployments.domains(created.id)
    added = domains.add("sdk.example.test")
    assert added["status"] == "pending"
    assert domains.verify(added["id"])["status"] == "verified"
    assert [d["domain"] for d in domains.list()] == ["sdk.example.test"]
    domains.delete(added["id"])
    assert domains.list() == []

    assert sdk.deployments.runtime_instances(created.id).list()
    sdk.deployments.delete(created.id)
    with pytest.raises(NotFoundError):
        sdk.deployments.get(created.id)


def test_the_sdk_sees_403_for_a_readonly_token(sim: SimServer) -> None:
    client = Miosa(api_key=READONLY, base_url=sim.miosa, max_retries=0, timeout=10)
    try:
        assert client.deployments.list(limit=1)
        with pytest.raises(MiosaPermissionError):
            client.deployments.create(name="nope")
    finally:
        client.close()


def test_the_sdk_stops_a_deployment_and_a_release_promote_puts_it_back(sdk: Miosa) -> None:
    created = sdk.deployments.create(name="sdk-stop", repo_url="https://github.com/acme/stop", branch="main")
    with pytest.raises(MiosaError) as never:
        sdk.deployments.stop(created.id)  # never published: nothing to take off the air
    assert never.value.status_code == 409 and "NOT_PUBLISHED" in str(never.value.code)
    version_id = publish_ready(sdk, created.id)
    instances = sdk.deployments.runtime_instances(created.id)
    running = instances.list()
    assert running and all(i.deployment_id == created.id for i in running)
    assert instances.get(running[0].id).id == running[0].id
    logs = instances.logs(running[0].id, lines=5)
    assert logs["runtime_instance_id"] == running[0].id and len(logs["logs"].splitlines()) == 5

    stopped = sdk.deployments.stop(created.id)
    assert stopped.state.value == "stopped" and stopped.public_url is None
    assert sdk.deployments.get(created.id).state.value == "stopped"
    assert sdk.deployments.stop(created.id).state.value == "stopped"  # stopping again changes nothing
    assert {i.state.value for i in instances.list()} == {"stopped"}

    release = next(
        r for r in sdk.deployments.releases(created.id).list() if r.deployment_version_id == version_id
    )
    back = sdk.deployments.releases(created.id).promote(release.id)
    assert back.state.value == "running" and back.active_version_id == version_id and back.public_url
    sdk.deployments.delete(created.id)

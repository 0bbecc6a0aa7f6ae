"""``--miosa-env sdk``: the Miosa env endpoints answer as the official SDK knows them (rows name no
environment; a list or a delete ignores ``?environment=``), so a client is tried against that shape."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from miosa import Miosa

from tests.conftest import ADMIN
from tests.sim.helpers import client, data, new_deployment
from tests.simproc import SimServer


@pytest.fixture
def http(sdk_env_sim: SimServer) -> Iterator[httpx.Client]:
    with client(sdk_env_sim) as c:
        yield c


def test_rows_name_no_environment_and_the_query_is_ignored(http: httpx.Client) -> None:
    path = f"/deployments/{new_deployment(http)['id']}/env"
    data(http.post(path, json={"env": {"SHARED": "production-value"}}))
    written = data(
        http.post(path, json={"env": {"ONLY_PREVIEW": "p", "SHARED": "preview"}, "environment": "preview"})
    )
    assert {row["name"] for row in written} == {"ONLY_PREVIEW", "SHARED"}
    assert all(set(row) == {"name", "preview", "created_at", "updated_at"} for row in written)
    # Asked for preview's, the list is production's (its SHARED, not preview's ONLY_PREVIEW).
    listed = data(http.get(path, params={"environment": "preview"}))
    assert [row["name"] for row in listed] == ["SHARED"] and listed[0]["preview"] == "pro...lue"
    assert all("environment" not in row for row in listed)
    # A delete "in preview" removes production's SHARED: the danger a client must not walk into.
    assert http.delete(f"{path}/SHARED", params={"environment": "preview"}).json()["deleted"] is True
    assert data(http.get(path)) == []


def test_the_official_sdk_reads_what_it_set(sdk_env_sim: SimServer) -> None:
    sdk = Miosa(api_key=ADMIN, base_url=sdk_env_sim.miosa, max_retries=0, timeout=10)
    try:
        created = sdk.deployments.create(
            name="sdk-env", repo_url="https://github.com/acme/sdk-env", branch="main"
        )
        sdk.deployments.set_env(created.id, {"API_KEY": "very-secret-value"})
        assert [row["name"] for row in sdk.deployments.list_env(created.id)] == ["API_KEY"]
        assert "environment" not in sdk.deployments.list_env(created.id)[0]
    finally:
        sdk.close()

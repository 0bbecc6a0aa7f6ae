"""The Mixpeek adapter against a real ``shipdeck sim``: one row per app per environment, versions, restore as
rollback and promote, publish through the presigned upload, build logs that survive reconnects.

Every mutation is checked against the server's own answer (which version each environment points at), read
with a plain HTTP client rather than through the adapter under test.
"""

from __future__ import annotations

import inspect
import io
import re
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mixpeek import AppsApi

from shipdeck.api.errors import AuthError, NotFound, UnsupportedAction, ValidationFailed
from shipdeck.api.mixpeek import MixpeekAdapter
from shipdeck.live.plans import NothingToDo, plan_rollback
from shipdeck.model import Capability, LogLine, PublishRequest
from tests.api.helpers import adapter_for, eventually
from tests.conftest import MIXPEEK_TOKEN
from tests.simproc import SimServer, running_sim


def mixpeek_adapter(server: SimServer, *, token: str = MIXPEEK_TOKEN) -> MixpeekAdapter:
    adapter = adapter_for(server, "mixpeek", token=token)
    assert isinstance(adapter, MixpeekAdapter)
    return adapter


@pytest.fixture
async def shared(sim: SimServer) -> AsyncIterator[MixpeekAdapter]:
    adapter = mixpeek_adapter(sim)
    yield adapter
    await adapter.aclose()


@pytest.fixture
async def fresh(fresh_sim: SimServer) -> AsyncIterator[MixpeekAdapter]:
    adapter = mixpeek_adapter(fresh_sim)
    yield adapter
    await adapter.aclose()


def server_app(server_url: str, slug: str) -> dict[str, Any]:
    """The App as the server says, read without the adapter."""
    headers = {"Authorization": f"Bearer {MIXPEEK_TOKEN}"}
    apps = httpx.get(server_url, headers=headers).json()["results"]
    return next(app for app in apps if app["slug"] == slug)


def pointers(server_url: str, slug: str) -> dict[str, int | None]:
    envs = server_app(server_url, slug)["environments"]
    return {name: envs[name]["version"] for name in ("production", "staging")}


def bundle_files(server_url: str, app_id: str, number: int) -> list[str]:
    headers = {"Authorization": f"Bearer {MIXPEEK_TOKEN}"}
    link = httpx.get(f"{server_url}/{app_id}/versions/{number}/download", headers=headers).json()
    with zipfile.ZipFile(io.BytesIO(httpx.get(link["download_url"]).content)) as bundle:
        return bundle.namelist()


def url_of(adapter: MixpeekAdapter) -> str:
    return adapter.transport.base_url


async def test_one_row_per_app_per_environment(shared: MixpeekAdapter, sim: SimServer) -> None:
    rows = (await shared.list_deployments()).items
    assert rows and all(row.provider == "mixpeek" for row in rows)
    storefront = {row.environment: row for row in rows if row.slug == "storefront"}
    assert set(storefront) == {"production", "staging"}
    app = server_app(sim.mixpeek, "storefront")
    for environment, row in storefront.items():
        assert row.id == f"{app['app_id']}@{environment}" and row.name == "Storefront"
        assert row.active_version_number == app["environments"][environment]["version"]
        assert row.state == "running" and row.url == app["environments"][environment]["url"]
        assert row.current_build_id == app["environments"][environment]["deploy_id"]
    paged = [row.id async for page in shared.iter_deployment_pages(limit=1) for row in page]
    assert paged == [row.id for row in rows]
    legacy_staging = next(r for r in rows if r.slug == "legacy-portal" and r.environment == "staging")
    assert legacy_staging.active_version_id is None and legacy_staging.state == "stopped"


async def test_resolve_by_slug_name_and_environment(shared: MixpeekAdapter) -> None:
    production = await shared.resolve_deployment("storefront")
    staging = await shared.resolve_deployment("Storefront@staging")
    assert production.environment == "production" and staging.environment == "staging"
    assert (await shared.get_deployment(staging.id)).id == staging.id
    assert (await shared.resolve_deployment(production.id)).id == production.id
    with pytest.raises(NotFound):
        await shared.resolve_deployment("no-such-app")
    with pytest.raises(NotFound):
        await shared.get_deployment(production.id.replace("@production", "@preview"))


async def test_versions_are_the_apps_and_ready(shared: MixpeekAdapter) -> None:
    staging = await shared.resolve_deployment("storefront@staging")
    versions = await shared.all_versions(staging.id)
    numbers = [v.number for v in versions if v.number is not None]
    assert len(numbers) == len(versions)  # every Mixpeek version is numbered
    assert numbers == sorted(numbers, reverse=True) and len(numbers) >= 3
    assert all(v.state == "ready" and v.deployment_id == staging.id and v.message for v in versions)
    # The vendor's deployed_by and deployed_at: every version shows who and when.
    assert all(v.author and v.created_at is not None for v in versions)
    assert any(v.id == staging.active_version_id for v in versions)
    second = await shared.get_version(staging.id, "v2")
    assert second.number == 2 and second.id == versions[-2].id
    again = await shared.get_version(staging.id, second.id)
    assert (again.author, again.created_at, again.message) == (
        second.author,
        second.created_at,
        second.message,
    )
    page = await shared.list_versions(staging.id, limit=2)
    assert len(page.items) == 2 and page.next_cursor is not None


async def test_rollback_restores_the_previous_version_into_that_environment_only(
    fresh: MixpeekAdapter,
) -> None:
    before = pointers(url_of(fresh), "storefront")
    staging = await fresh.resolve_deployment("storefront@staging")
    # The target is always named (the planner decides it, once): a bare rollback sends nothing.
    with pytest.raises(ValidationFailed):
        await fresh.rollback(staging.id, reason="bad build", idempotency_key="rb-0")
    assert pointers(url_of(fresh), "storefront") == before
    staging_before = before["staging"]
    assert staging_before is not None
    result = await fresh.rollback(
        staging.id, to_version_id=f"v{staging_before - 1}", reason="bad build", idempotency_key="rb-1"
    )
    after = pointers(url_of(fresh), "storefront")
    assert after == {"production": before["production"], "staging": staging_before - 1}
    assert result.id == staging.id and result.active_version_number == staging_before - 1
    # An explicit target, and the same key again: replayed, not applied twice.
    target = await fresh.rollback(staging.id, to_version_id="v2", idempotency_key="rb-2")
    await fresh.rollback(staging.id, to_version_id="v2", idempotency_key="rb-2")
    assert target.active_version_number == 2
    assert pointers(url_of(fresh), "storefront") == {"production": before["production"], "staging": 2}


async def test_rollback_to_an_explicit_version_in_an_explicit_environment(fresh: MixpeekAdapter) -> None:
    """What a planner that always names the target sends: version and environment, from either row."""
    before = pointers(url_of(fresh), "storefront")
    production = await fresh.resolve_deployment("storefront")
    staged = await fresh.rollback(production.id, to_version_id="v1", environment="staging", reason="r")
    assert staged.environment == "staging" and staged.active_version_number == 1
    assert pointers(url_of(fresh), "storefront") == {"production": before["production"], "staging": 1}
    rolled = await fresh.rollback(production.id, to_version_id=f"{production.id.split('@')[0]}:v3")
    assert rolled.environment == "production" and rolled.active_version_number == 3
    assert pointers(url_of(fresh), "storefront") == {"production": 3, "staging": 1}
    with pytest.raises(NotFound):
        await fresh.rollback(production.id, to_version_id="v99", environment="production")
    assert pointers(url_of(fresh), "storefront") == {"production": 3, "staging": 1}


async def test_rollback_with_nothing_earlier_is_refused_before_sending(fresh: MixpeekAdapter) -> None:
    legacy = await fresh.resolve_deployment("legacy-portal")
    await fresh.rollback(legacy.id, to_version_id="v1")
    legacy = await fresh.resolve_deployment("legacy-portal")
    # The planner decides the target, from the vendor's own versions: nothing earlier, nothing sent.
    with pytest.raises(NothingToDo, match="no ready version before v1"):
        plan_rollback(legacy, await fresh.all_versions(legacy.id))
    legacy_staging = await fresh.resolve_deployment("legacy-portal@staging")
    with pytest.raises(NothingToDo, match="nothing is active"):
        plan_rollback(legacy_staging, await fresh.all_versions(legacy_staging.id))


async def test_promote_from_staging_defaults_to_production(fresh: MixpeekAdapter) -> None:
    before = pointers(url_of(fresh), "status-page")
    staging = await fresh.resolve_deployment("status-page@staging")
    candidate = staging.active_version_id
    assert candidate is not None and before["staging"] != before["production"]
    result = await fresh.promote(staging.id, candidate, idempotency_key="promote-1")
    assert result.environment == "production" and result.active_version_id == candidate
    assert pointers(url_of(fresh), "status-page") == {
        "production": before["staging"],
        "staging": before["staging"],
    }
    into_staging = await fresh.promote(staging.id, "v1", environment="staging")
    assert into_staging.environment == "staging" and into_staging.active_version_number == 1
    assert pointers(url_of(fresh), "status-page") == {"production": before["staging"], "staging": 1}
    with pytest.raises(ValidationFailed, match="staging and production"):
        await fresh.promote(staging.id, "v1", environment="preview")


async def test_publish_needs_a_message_and_sends_nothing_without_one(fresh: MixpeekAdapter) -> None:
    dep = await fresh.resolve_deployment("docs-portal@staging")
    runs_before = await fresh.list_pipeline_runs(dep.id)
    with pytest.raises(ValidationFailed, match="deploy message"):
        await fresh.publish(dep.id, PublishRequest(environment="staging", message="  "))
    assert [run.id for run in await fresh.list_pipeline_runs(dep.id)] == [run.id for run in runs_before]


async def test_publish_uploads_a_bundle_deploys_and_streams_the_build(fresh: MixpeekAdapter) -> None:
    dep = await fresh.resolve_deployment("docs-portal@staging")
    before = pointers(url_of(fresh), "docs-portal")
    newest = (await fresh.list_versions(dep.id, limit=1)).items[0]
    request = PublishRequest(environment="staging", message="docs: shipdeck publish")
    result = await fresh.publish(dep.id, request, idempotency_key="publish-1")
    assert result.run is not None and result.run.status == "queued" and result.promoted
    assert result.run.environment == "staging" and result.run.message == "docs: shipdeck publish"
    replay = await fresh.publish(dep.id, request, idempotency_key="publish-1")
    assert replay.run is not None and replay.run.id == result.run.id
    lines: list[LogLine] = [line async for line in fresh.build_logs(dep.id, result.run.id)]
    assert lines[-1].done_state == "complete" and lines[-2].line == "Deploy complete!"
    assert lines[0].line == "Downloading bundle from S3..." and lines[0].ts is not None
    runs = await fresh.list_pipeline_runs(dep.id)
    assert runs[0].id == result.run.id and runs[0].status == "complete"
    assert [stage.state for stage in runs[0].stages] == ["complete", "complete", "complete"]
    assert newest.number is not None and runs[0].version_id == f"{dep.id.split('@')[0]}:v{newest.number + 1}"
    after = pointers(url_of(fresh), "docs-portal")
    assert after == {"production": before["production"], "staging": newest.number + 1}
    published = await fresh.get_version(dep.id, f"v{newest.number + 1}")
    assert published.message == "docs: shipdeck publish"
    assert [r for r in runs if r.id == result.run.id] == [runs[0]]  # the replayed key deployed once
    # The uploaded bundle is a real site: index.html at its root.
    assert "index.html" in bundle_files(url_of(fresh), dep.id.split("@")[0], newest.number + 1)


async def test_deployment_logs_are_the_runtime_log_tailed(shared: MixpeekAdapter) -> None:
    dep = await shared.resolve_deployment("storefront")
    direct = await shared.runtime_log_entries(dep.id)
    assert direct and all(line.ts is not None and line.line.startswith("[") for line in direct)
    stamps = [line.ts for line in direct]
    assert stamps == sorted(stamps, key=lambda ts: ts.timestamp() if ts else 0.0)
    errors = await shared.runtime_log_entries(dep.id, hours=24, level="error")
    assert errors and all(line.line.startswith("[error] ") and line.stream == "stderr" for line in errors)
    tail = shared.deployment_logs(dep.id)
    first = [await anext(tail) for _ in range(min(3, len(direct)))]
    # The sandbox's clock runs on while we read: the hour's window may have moved between the two reads
    # (an entry dropped off its start), so the tail starts with entries of either read, oldest first.
    after = await shared.runtime_log_entries(dep.id)
    known = {(line.ts, line.line) for line in [*direct, *after]}
    assert all((line.ts, line.line) in known for line in first), first
    assert [line.ts for line in first] == sorted(line.ts for line in first if line.ts is not None)
    assert all(line.done_state is None for line in first)


async def test_deployment_logs_of_a_row_with_a_build(shared: MixpeekAdapter) -> None:
    """The build log of the environment's latest deploy is one switch away (its current_build_id)."""
    dep = await shared.resolve_deployment("storefront@staging")
    assert dep.current_build_id is not None
    lines = [line async for line in shared.build_logs(dep.id, dep.current_build_id)]
    assert lines[-1].done_state in ("complete", "failed")
    assert all(line.line for line in lines[:-1])


async def test_build_log_reconnects_and_delivers_each_line_once(tmp_path: Path) -> None:
    args = ["--faults", "sse_drop_every=2"]
    with running_sim(args, db_path=tmp_path / "drops.db", speed=50.0) as server:
        adapter = mixpeek_adapter(server)
        async with adapter:
            dep = await adapter.resolve_deployment("storefront@staging")
            run = (await adapter.publish(dep.id, PublishRequest(environment="staging", message="x"))).run
            assert run is not None
            await eventually(lambda: _finished(adapter, dep.id, run.id))
            lines = [line.line async for line in adapter.build_logs(dep.id, run.id)]
        connections = stream_requests(server, run.id)
    assert connections >= 3  # the server cut the stream after lines 2 and 4: the adapter reconnected
    assert lines[:-1] == [
        "Downloading bundle from S3...",
        "Extracting bundle...",
        "Validating bundle (index.html, size)...",
        "Uploading 2 assets to S3...",
        "Running smoke test against https://staging-storefront.mxp.co...",
        "Deploy complete!",
    ]


def stream_requests(server: SimServer, deploy_id: str) -> int:
    log = httpx.get(f"{server.root}/_sim/requests").json()["requests"]
    return sum(1 for row in log if row["path"].endswith(f"/deploys/{deploy_id}/logs/stream"))


async def _finished(adapter: MixpeekAdapter, deployment_id: str, deploy_id: str) -> bool:
    return (await adapter.get_deploy(deployment_id, deploy_id)).status in ("complete", "failed")


async def test_capabilities_and_refusals(shared: MixpeekAdapter, sim: SimServer) -> None:
    caps = shared.capabilities
    assert caps.environments == ("staging", "production")
    assert caps.supports(Capability.DOMAINS) and not caps.supports(Capability.ENV)
    assert not caps.supports(Capability.TASKS) and not caps.supports(Capability.EVENT_STREAM)
    dep = await shared.resolve_deployment("storefront")
    with pytest.raises(UnsupportedAction, match="build_config"):
        await shared.list_env(dep.id)
    with pytest.raises(UnsupportedAction, match="staging"):
        await shared.publish(dep.id, PublishRequest(message="m", promote=False))
    bad = mixpeek_adapter(sim, token="sk_wrong")
    async with bad:
        with pytest.raises(AuthError):
            await bad.list_deployments()


def apps_calls(server: SimServer) -> set[str]:
    log = httpx.get(f"{server.root}/_sim/requests").json()["requests"]
    return {f"{row['method']} {row['path']}" for row in log if row["path"].startswith("/v1/apps")}


def sdk_paths() -> list[re.Pattern[str]]:
    """Every (method, path) the official SDK's AppsApi publishes, read from the SDK itself."""
    source = inspect.getsource(AppsApi)
    pairs = re.findall(r"method='(\w+)',\s*resource_path='([^']+)'", source)
    assert len(pairs) >= 30
    return [re.compile(method + " " + re.sub(r"\{[a-z_]+\}", "[^/]+", path) + "$") for method, path in pairs]


async def test_no_request_goes_to_a_path_the_sdk_does_not_publish(fresh_sim: SimServer) -> None:
    adapter = mixpeek_adapter(fresh_sim)
    async with adapter:
        rows = (await adapter.list_deployments()).items
        staging = await adapter.resolve_deployment("status-page@staging")
        await adapter.all_versions(staging.id)
        await adapter.get_version(staging.id, "v1")
        await adapter.list_pipeline_runs(staging.id)
        assert staging.active_version_id is not None
        await adapter.promote(staging.id, staging.active_version_id)
        await adapter.rollback(staging.id, to_version_id="v1", environment="production")
        with pytest.raises(ValidationFailed):  # the target is always named: nothing is sent
            await adapter.rollback(staging.id)
        published = await adapter.publish(staging.id, PublishRequest(environment="staging", message="m"))
        assert published.run is not None
        await eventually(lambda: _finished(adapter, staging.id, published.run.id))  # type: ignore[union-attr]
        [line async for line in adapter.build_logs(staging.id, published.run.id)]
        await adapter.add_domain(staging.id, "www.status.example.com")
        await adapter.verify_domain(staging.id, "www.status.example.com")
        await adapter.list_domains(staging.id)
        await adapter.remove_domain(staging.id, "www.status.example.com")
        await adapter.runtime_log_entries(rows[0].id, level="error")
    published_paths = sdk_paths()
    called = apps_calls(fresh_sim)
    assert len(called) >= 15
    strays = sorted(call for call in called if not any(p.match(call) for p in published_paths))
    assert strays == []

"""The Miosa adapter against a real ``shipdeck sim``: every call the console needs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from shipdeck.api.base import Adapter
from shipdeck.api.context import LAST_REQUEST_ID, background_reads, captured_bodies
from shipdeck.api.errors import (
    AuthError,
    BudgetReserved,
    Conflict,
    NotFound,
    PermissionDenied,
    StreamResyncRequired,
)
from shipdeck.api.miosa import MiosaAdapter
from shipdeck.model import Deployment, Event, PublishRequest, Version
from tests.api.helpers import adapter_for, eventually, latest_seq
from tests.conftest import READONLY
from tests.simproc import SimServer, running_sim


@pytest.fixture
async def miosa(sim: SimServer) -> AsyncIterator[MiosaAdapter]:
    adapter = adapter_for(sim, "miosa")
    assert isinstance(adapter, MiosaAdapter)
    yield adapter
    await adapter.aclose()


@pytest.fixture
async def fresh(fresh_sim: SimServer) -> AsyncIterator[MiosaAdapter]:
    adapter = adapter_for(fresh_sim, "miosa")
    assert isinstance(adapter, MiosaAdapter)
    yield adapter
    await adapter.aclose()


async def all_deployments(adapter: Adapter) -> list[Deployment]:
    return [dep async for page in adapter.iter_deployment_pages() for dep in page]


async def with_ready_versions(adapter: Adapter, count: int) -> tuple[Deployment, list[Version]]:
    for dep in await all_deployments(adapter):
        ready = [v for v in await adapter.all_versions(dep.id) if v.state == "ready"]
        if len(ready) >= count and dep.active_version_id:
            return dep, ready
    raise AssertionError(f"the demo seed has no deployment with {count} ready versions")


async def publish_ready(adapter: Adapter, dep: Deployment, *, promote: bool) -> Version:
    """Publish a sandbox and wait until the version is ready (the sim fails some builds on purpose)."""
    for _attempt in range(4):
        result = await adapter.publish(
            dep.id, PublishRequest(source_sandbox_id="sbx_api_test", promote=promote)
        )
        assert result.version is not None and result.version.deployment_id == dep.id
        version_id = result.version.id

        async def settled(version_id: str = version_id) -> Version | None:
            version = await adapter.get_version(dep.id, version_id)
            return version if version.state in ("ready", "failed") else None

        version = await eventually(settled)
        if version.state == "ready":
            return version
    raise AssertionError("four publishes in a row failed to build")


async def test_cursor_paging_reads_every_deployment_once(miosa: MiosaAdapter) -> None:
    whole = await miosa.list_deployments(limit=200)
    pages: list[list[Deployment]] = []
    cursor: str | None = None
    while True:
        page = await miosa.list_deployments(cursor=cursor, limit=2)
        pages.append(page.items)
        assert len(page.items) <= 2
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    paged = [dep.id for page in pages for dep in page]
    assert len(pages) > 1 and len(paged) == len(set(paged))
    assert sorted(paged) == sorted(dep.id for dep in whole.items)
    assert all(dep.provider == "miosa" and dep.name for dep in whole.items)
    assert miosa.rate_limit_limit is not None and miosa.rate_limit_remaining is not None
    assert LAST_REQUEST_ID.get()


async def test_the_live_lists_pages_are_the_deployments_without_extras(miosa: MiosaAdapter) -> None:
    whole = await miosa.list_deployments(limit=200)
    rows = await miosa.list_deployment_rows(limit=200)
    assert rows.next_cursor == whole.next_cursor and rows.items and all(not r.model_extra for r in rows.items)
    assert any(dep.model_extra for dep in whole.items)  # what the rows leave out
    assert [r.model_dump() for r in rows.items] == [
        dep.model_dump(exclude=set(dep.model_extra or {})) for dep in whole.items
    ]
    paged = [dep.id async for page in miosa.iter_deployment_pages(limit=2, extras=False) for dep in page]
    assert paged == [dep.id for dep in whole.items]
    with captured_bodies() as bodies:  # the raw view still gets the decoded body
        assert (await miosa.list_deployment_rows(limit=200)).items == rows.items
    listed = [body for _, path, body in bodies if path == "/deployments"]
    assert isinstance(listed[0], dict) and listed[0]["data"][0]["id"] == rows.items[0].id


def list_pages_served(sim: SimServer, since: int) -> int:
    return sum(1 for r in sim.requests(since) if r["method"] == "GET" and r["path"] == "/api/v1/deployments")


async def test_a_prefetching_page_loop_reads_the_next_page_while_the_reader_holds_this_one(
    miosa: MiosaAdapter, sim: SimServer
) -> None:
    mark = sim.last_request_seq()
    plain = [page async for page in miosa.iter_deployment_pages(limit=2, extras=False)]
    served_plain = list_pages_served(sim, mark)
    assert len(plain) >= 3
    mark = sim.last_request_seq()
    held: list[list[Deployment]] = []
    pages = miosa.iter_deployment_pages(limit=2, extras=False, prefetch=True)
    async with contextlib.aclosing(pages):
        async for page in pages:
            held.append(page)
            if len(held) < len(plain):
                # This page is still the reader's, and the next one is asked for already.
                async def next_one_asked(count: int = len(held)) -> bool:
                    return list_pages_served(sim, mark) > count

                await eventually(next_one_asked)
    assert held == plain
    assert list_pages_served(sim, mark) == served_plain  # not one page more than without it


async def test_a_reader_that_stops_early_cancels_the_page_read_ahead(miosa: MiosaAdapter) -> None:
    before = asyncio.all_tasks()
    pages = miosa.iter_deployment_pages(limit=2, extras=False, prefetch=True)
    async with contextlib.aclosing(pages):
        first = await anext(pages)
        assert len(first) == 2
        ahead = asyncio.all_tasks() - before - {asyncio.current_task()}
        assert ahead  # the second page's read, in flight
    await asyncio.gather(*ahead, return_exceptions=True)
    assert all(task.cancelled() for task in ahead)


async def test_detail_reads(miosa: MiosaAdapter) -> None:
    dep, ready = await with_ready_versions(miosa, 2)
    assert (await miosa.get_deployment(dep.id)).id == dep.id
    assert (await miosa.resolve_deployment(dep.name)).id == dep.id
    first = await miosa.list_versions(dep.id, limit=1)
    assert len(first.items) == 1 and first.next_cursor
    version = await miosa.get_version(dep.id, ready[0].id)
    assert version.id == ready[0].id and version.number is not None
    releases = await miosa.list_releases(dep.id)
    assert all(r.version_id for r in releases)
    runs = await miosa.list_pipeline_runs(dep.id)
    assert runs and all(run.stages for run in runs)
    stamps = [run.created_at for run in runs if run.created_at]
    assert stamps == sorted(stamps, reverse=True)
    for candidate in await all_deployments(miosa):
        builds = await miosa.list_builds(candidate.id)
        if builds:
            assert (await miosa.get_build(candidate.id, builds[0].id)).id == builds[0].id
            break
    else:
        raise AssertionError("the demo seed has no builds")


async def test_errors_are_typed_and_readable(sim: SimServer, miosa: MiosaAdapter) -> None:
    with pytest.raises(NotFound) as missing:
        await miosa.get_deployment("dep_does_not_exist")
    assert "(404)" in str(missing.value) and missing.value.request_id
    bad = adapter_for(sim, "miosa", token="msk_u_wrong")
    with pytest.raises(AuthError, match=r"^token rejected \(401\) for profile test-miosa"):
        await bad.list_deployments()
    await bad.aclose()
    reader = adapter_for(sim, "miosa", token=READONLY)
    dep = (await reader.list_deployments(limit=1)).items[0]
    with pytest.raises(PermissionDenied, match=r"\(403\)"):
        await reader.rollback(dep.id)
    await reader.aclose()


async def test_publish_promote_and_rollback_with_and_without_target(fresh: MiosaAdapter) -> None:
    dep, _ = await with_ready_versions(fresh, 2)
    before = dep.active_version_id
    version = await publish_ready(fresh, dep, promote=False)
    assert (await fresh.get_deployment(dep.id)).active_version_id == before
    promoted = await fresh.promote(dep.id, version.id)
    assert promoted.active_version_id == version.id
    rolled = await fresh.rollback(dep.id)
    assert rolled.active_version_id == before
    again = await fresh.rollback(dep.id, to_version_id=version.id, reason="test")
    assert again.active_version_id == version.id


async def test_a_repeated_key_acts_once(fresh: MiosaAdapter) -> None:
    dep, ready = await with_ready_versions(fresh, 3)
    first = await fresh.rollback(dep.id, idempotency_key="rollback-once")
    second = await fresh.rollback(dep.id, idempotency_key="rollback-once")
    assert first.active_version_id == second.active_version_id != dep.active_version_id
    assert (await fresh.get_deployment(dep.id)).active_version_id == first.active_version_id


async def test_promoting_a_version_that_is_not_ready_is_a_conflict() -> None:
    with running_sim(speed=1.0) as slow:
        adapter = adapter_for(slow, "miosa")
        dep, _ = await with_ready_versions(adapter, 1)
        result = await adapter.publish(dep.id, PublishRequest(source_sandbox_id="sbx_slow", promote=False))
        assert result.version is not None and result.version.state in ("created", "building")
        assert result.run is not None and [s.name for s in result.run.stages] == [
            "created",
            "building",
            "ready",
        ]
        with pytest.raises(Conflict) as caught:
            await adapter.promote(dep.id, result.version.id)
        await adapter.aclose()
    assert caught.value.code == "VERSION_NOT_READY" and "ready" in str(caught.value)
    assert str(caught.value).endswith(f"(409) [request {caught.value.request_id}]")


async def test_sandbox_bridge_redeploy_update_delete(fresh: MiosaAdapter) -> None:
    dep, _ = await with_ready_versions(fresh, 1)
    bridged = await fresh.publish_from_sandbox("sbx_bridge", deployment_id=dep.id)
    assert bridged.deployment is not None and bridged.deployment.id == dep.id
    created = await fresh.publish_from_sandbox("sbx_new", name="api-test-new-app")
    assert created.deployment is not None and created.deployment.name == "api-test-new-app"
    before = {build.id for build in await fresh.list_builds(dep.id)}
    run = await fresh.redeploy(dep.id)
    # The sim answers the Deployment, as the official SDK reads it: the run is its NEW build.
    assert run is not None and run.deployment_id == dep.id and run.stages and run.id not in before
    assert run.id in {build.id for build in await fresh.list_builds(dep.id)}
    renamed = await fresh.update_deployment(created.deployment.id, {"name": "api-test-renamed"})
    assert renamed.name == "api-test-renamed"
    await fresh.delete_deployment(created.deployment.id)
    with pytest.raises(NotFound):
        await fresh.get_deployment(created.deployment.id)


async def test_domains_add_verify_fail_remove(fresh: MiosaAdapter) -> None:
    dep, _ = await with_ready_versions(fresh, 1)
    good = await fresh.add_domain(dep.id, "shop-api-test.example.com")
    assert good.status == "pending" and good.records and good.name == "shop-api-test.example.com"
    bad = await fresh.add_domain(dep.id, "fail-api-test.example.com")

    async def settled(domain_id: str) -> str | None:
        domain = await fresh.verify_domain(dep.id, domain_id)
        return domain.status if domain.status in ("verified", "active", "failed") else None

    assert await eventually(lambda: settled(good.id)) in ("verified", "active")
    assert await eventually(lambda: settled(bad.id)) == "failed"
    failed = [d for d in await fresh.list_domains(dep.id) if d.id == bad.id][0]
    assert failed.error
    await fresh.remove_domain(dep.id, good.id)
    assert good.id not in {d.id for d in await fresh.list_domains(dep.id) if d.status != "removed"}


async def test_env_per_environment_never_shows_values(fresh: MiosaAdapter) -> None:
    dep, _ = await with_ready_versions(fresh, 1)
    secret = "s3cr3t-value-that-must-not-show"
    written = await fresh.set_env(dep.id, {"API_TEST_KEY": secret}, environment="preview")
    assert [v.name for v in written] == ["API_TEST_KEY"] and secret not in written[0].preview
    preview = {v.name: v for v in await fresh.list_env(dep.id, environment="preview")}
    production = {v.name for v in await fresh.list_env(dep.id)}
    assert "API_TEST_KEY" in preview and preview["API_TEST_KEY"].environment == "preview"
    assert "API_TEST_KEY" not in production
    await fresh.unset_env(dep.id, "API_TEST_KEY", environment="preview")
    assert "API_TEST_KEY" not in {v.name for v in await fresh.list_env(dep.id, environment="preview")}


async def test_event_stream_and_build_logs(fresh: MiosaAdapter, fresh_sim: SimServer) -> None:
    dep, _ = await with_ready_versions(fresh, 1)
    events: list[Event] = []
    after = await latest_seq(fresh_sim, "miosa")

    async def collect() -> None:
        async for event in fresh.events(after=after):
            events.append(event)
            if event.type == "env.changed":
                return

    collector = asyncio.create_task(collect())
    version = await publish_ready(fresh, dep, promote=True)
    await fresh.set_env(dep.id, {"STREAM_TEST": "1"})
    await asyncio.wait_for(collector, 30)
    seqs = [e.seq for e in events if e.seq is not None]
    assert len(seqs) == len(events)  # every Miosa event is numbered
    assert seqs == sorted(set(seqs)) and all(s is not None for s in seqs)
    assert {"version.created", "env.changed"} <= {e.type for e in events}
    # Resume from the middle: exactly the later events again.
    later = []
    async with asyncio.timeout(10):
        async for event in fresh.events(after=seqs[-2]):
            later.append(event.seq)
            break
    assert later == [seqs[-1]]
    assert version.build_id
    lines = [line async for line in fresh.build_logs(dep.id, version.build_id)]
    assert len(lines) > 1 and lines[-1].done_state == "succeeded"


async def test_deployment_log_tail_ends_with_the_build_result(miosa: MiosaAdapter) -> None:
    for dep in await all_deployments(miosa):
        if dep.current_build_id and dep.state == "running":
            break
    else:
        raise AssertionError("the demo seed has no running deployment with a build")
    async with asyncio.timeout(15):
        lines = [line async for line in miosa.deployment_logs(dep.id)]
    assert len(lines) > 1 and all(line.line for line in lines[:-1])
    assert lines[-1].done_state == "succeeded"


async def test_resume_from_beyond_the_log_asks_for_a_resync(miosa: MiosaAdapter) -> None:
    with pytest.raises(StreamResyncRequired, match="re-read"):
        async with asyncio.timeout(10):
            async for _ in miosa.events(after=10**9):
                pass


async def test_background_reads_leave_the_budget_to_the_user() -> None:
    with running_sim(args=["--rate-limit", "12"]) as limited:
        adapter = adapter_for(limited, "miosa")
        sent = 0
        with background_reads(), pytest.raises(BudgetReserved, match="kept for your own actions"):
            while True:
                await adapter.list_deployments(limit=1)
                sent += 1
        assert adapter.rate_limit_limit == 12 and adapter.rate_limit_remaining is not None
        assert adapter.rate_limit_remaining >= 1 and sent < 12
        await adapter.get_deployment((await adapter.list_deployments(limit=1)).items[0].id)  # the user's own
        await adapter.aclose()

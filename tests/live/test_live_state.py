"""LiveState against a real `shipdeck sim`: the snapshot, events applied, coalescing, resync, staleness."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from shipdeck.api.base import Adapter
from shipdeck.api.factory import make_adapter
from shipdeck.api.miosa import MiosaAdapter
from shipdeck.api.streams import StreamOptions
from shipdeck.config.profile import Profile, Secret
from shipdeck.live.state import ChangeBatch, ConnectionState, LiveState, deployment_id_of
from shipdeck.live.timing import DEFAULT_TIMING, Timing
from shipdeck.model import Deployment, PipelineRun
from tests.api.hostile import SeenRequest, Writer, hostile_server
from tests.api.test_stream_recovery import SSE_HEAD
from tests.reliability.hostile_kit import relay_except
from tests.simproc import SimServer, running_sim

ADMIN = "msk_u_demo_admin"


def miosa_profile(sim: SimServer) -> Profile:
    return Profile("test", "miosa", sim.miosa, Secret(ADMIN), environment="sandbox")


@contextlib.asynccontextmanager
async def running_live(
    sim: SimServer,
    *,
    adapter: Adapter | None = None,
    timing: Timing = DEFAULT_TIMING,
    page_size: int = 200,
    max_events: int = 2_000,
    resume_after: int | None = None,
    read_health: bool = False,
) -> AsyncIterator[tuple[LiveState, list[ChangeBatch]]]:
    adapter = adapter or make_adapter(miosa_profile(sim))
    live = LiveState(
        adapter,
        timing=timing,
        page_size=page_size,
        max_events=max_events,
        resume_after=resume_after,
        read_health=read_health,
    )
    batches: list[ChangeBatch] = []
    live.subscribe(batches.append)
    task = asyncio.create_task(live.run())
    try:
        yield live, batches
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await adapter.aclose()


async def eventually(check: Callable[[], object], *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def server_deployments(sim: SimServer) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    cursor = None
    with httpx.Client(headers={"Authorization": f"Bearer {ADMIN}"}) as client:
        while True:
            params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            body = client.get(sim.miosa + "/deployments", params=params).json()
            out.update({d["id"]: d for d in body["data"]})
            cursor = body.get("next_cursor")
            if not cursor:
                return out


async def test_snapshot_pages_every_deployment_and_publishes_the_first_page_first(
    fresh_sim: SimServer,
) -> None:
    # Its own sandbox: it compares the whole list, which tests sharing the worker's sandbox may change.
    expected = await asyncio.to_thread(server_deployments, fresh_sim)
    async with running_live(fresh_sim, page_size=3) as (live, batches):
        await eventually(lambda: not live.pages_loading and live.connection is ConnectionState.LIVE)
        assert set(live.deployments) == set(expected)
        assert {d.name for d in live.deployments.values()} >= {"smile-dental-landing"}
        # The first page was published on its own, before the others arrived (the publisher sends what
        # came within one coalescing interval: wait for it rather than for the load's end).
        await eventually(lambda: any(b.reset for b in batches))
        first = next(b for b in batches if b.reset)
        assert len(first.changed) <= 3 or first is batches[0]
        assert live.data_age() is not None


async def test_an_event_updates_the_deployment_it_names(fresh_sim: SimServer) -> None:
    async with running_live(fresh_sim) as (live, batches):
        await eventually(lambda: not live.pages_loading and live.connection is ConnectionState.LIVE)
        target = next(d for d in live.deployments.values() if d.name == "smile-dental-landing")
        # Someone else rolls it back (directly over HTTP, not through this LiveState).
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN}"}) as client:
            answer = await client.post(f"{fresh_sim.miosa}/deployments/{target.id}/rollback", json={})
            assert answer.status_code == 200, answer.text
            new_active = answer.json()["data"]["active_version_id"]
        assert new_active != target.active_version_id
        await eventually(lambda: live.deployments[target.id].active_version_id == new_active)
        assert any(target.id in b.changed for b in batches)
        assert any(e.type.startswith("deployment.") for e in live.events)


async def test_a_rollback_made_elsewhere_shows_its_version_number_on_a_row_not_watched(
    fresh_sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rolled back from another shell, a row not under the cursor said '-' for its version for over 50 s:
    the re-read names the new active version by id only, and with health read (the console) nothing looked
    its number up until a health read or the cursor taught it."""
    from shipdeck.cli.app import run

    async with running_live(fresh_sim, read_health=True) as (live, batches):
        await eventually(lambda: not live.pages_loading and live.connection is ConnectionState.LIVE)
        target = next(d for d in live.deployments.values() if d.name == "checkout-api")
        monkeypatch.setenv("MIOSA_API_KEY", ADMIN)
        argv = ["--provider", "miosa", "--url", fresh_sim.miosa, "rollback", target.id, "--yes"]
        assert await asyncio.to_thread(run, argv) == 0  # the other client: the CLI, as from another shell
        server = (await asyncio.to_thread(server_deployments, fresh_sim))[target.id]
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN}"}) as client:
            answer = await client.get(f"{fresh_sim.miosa}/deployments/{target.id}/versions")
        versions = answer.json()["data"]
        number = next(v["version_number"] for v in versions if v["id"] == server["active_version_id"])
        await eventually(lambda: live.deployments[target.id].active_version_id == server["active_version_id"])
        # Never a '-' first: the row is stored with its number, or not yet with the new version.
        assert live.deployments[target.id].active_version_number == number
        assert live.watched is None  # not the row under the cursor, whose versions are read anyway


async def test_an_event_stream_that_keeps_failing_on_its_content_is_polled_not_live(
    fresh_sim: SimServer,
) -> None:
    """`data: {not json` on every connection: the stream counted as up each time it connected, so the
    header said '● live' while it reconnected again and again, and polling never took over (a rollback made
    elsewhere took ~45 s to show). Now only an event that reads counts it up again after such a failure."""
    streams: list[str] = []

    def is_stream(request: SeenRequest) -> bool:
        return request.path.split("?")[0].endswith("/events/stream")

    async def not_json(request: SeenRequest, writer: Writer) -> None:
        streams.append(request.path)
        writer.write(SSE_HEAD + b"data: {not json\n\n")
        await writer.drain()
        writer.close()

    # Everything else: the real sandbox's answer.
    async with hostile_server(relay_except(fresh_sim, is_stream, not_json)) as server:
        fast = StreamOptions(backoff_initial=0.01, backoff_max=0.05)  # it reconnects at once, each time
        profile = Profile("test", "miosa", server.url + "/api/v1", Secret(ADMIN), environment="sandbox")
        adapter = make_adapter(profile, stream_options=fast)
        timing = Timing(stale_after=1.0, poll_interval_min=0.2, poll_interval_max=0.5)
        async with running_live(fresh_sim, adapter=adapter, timing=timing) as (live, _batches):
            await eventually(lambda: not live.pages_loading and len(streams) >= 3)
            await eventually(lambda: live.polling)
            assert "not valid JSON" in live.connection_note, live.connection_note
            target = next(d for d in live.deployments.values() if d.name == "smile-dental-landing")
            async with httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN}"}) as client:
                answer = await client.post(f"{fresh_sim.miosa}/deployments/{target.id}/rollback", json={})
                assert answer.status_code == 200, answer.text
            new_active = answer.json()["data"]["active_version_id"]
            await eventually(lambda: live.deployments[target.id].active_version_id == new_active)
            assert live.polling  # still: it reconnected meanwhile, and failed again each time


POISON_SEQ = 999_999_999_999


async def test_a_far_ahead_event_id_makes_the_state_re_read_and_not_drop_every_later_event(
    fresh_sim: SimServer,
) -> None:
    """A proxy put one event with a far-ahead id (for no deployment) first on the stream, then passed the
    real one: every real event was below it and dropped as a duplicate, and a rollback made elsewhere never
    showed (80 s and more, saying '● live'). Now the sequence going backwards re-reads the list."""
    streams: list[str | None] = []
    poison = json.dumps({"type": "deployment.updated", "data": {"deployment_id": "dep_nonexistent"}})

    def is_stream(request: SeenRequest) -> bool:
        return request.path.split("?")[0].endswith("/events/stream")

    async def poisoned(request: SeenRequest, writer: Writer) -> None:
        streams.append(request.headers.get("last-event-id"))
        writer.write(SSE_HEAD + f"id: {POISON_SEQ}\nevent: deployment.updated\ndata: {poison}\n\n".encode())
        await writer.drain()
        headers = {
            k: v for k, v in request.headers.items() if k in ("authorization", "accept", "last-event-id")
        }
        async with (
            httpx.AsyncClient(timeout=None) as client,
            client.stream("GET", fresh_sim.root + request.path, headers=headers) as real,
        ):
            async for chunk in real.aiter_raw():
                writer.write(chunk)
                await writer.drain()

    async with hostile_server(relay_except(fresh_sim, is_stream, poisoned)) as server:
        profile = Profile("test", "miosa", server.url + "/api/v1", Secret(ADMIN), environment="sandbox")
        adapter = make_adapter(profile, stream_options=StreamOptions(backoff_initial=0.01, backoff_max=0.05))
        async with running_live(fresh_sim, adapter=adapter) as (live, _batches):
            await eventually(lambda: not live.pages_loading and live.connection is ConnectionState.LIVE)
            await eventually(lambda: any(e.seq == POISON_SEQ for e in live.events))
            target = next(d for d in live.deployments.values() if d.name == "smile-dental-landing")
            async with httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN}"}) as client:
                answer = await client.post(f"{fresh_sim.miosa}/deployments/{target.id}/rollback", json={})
                assert answer.status_code == 200, answer.text
            new_active = answer.json()["data"]["active_version_id"]
            await eventually(lambda: live.deployments[target.id].active_version_id == new_active, timeout=20)
            # Re-read, then connected again with nothing to resume after.
            await eventually(lambda: len(streams) >= 2)
            assert streams[1] is None


async def test_a_burst_of_events_is_coalesced_into_few_batches_and_the_event_ring_is_bounded(
    fresh_sim: SimServer,
) -> None:
    async with running_live(fresh_sim, max_events=300) as (live, batches):
        await eventually(lambda: not live.pages_loading and live.connection is ConnectionState.LIVE)
        # The snapshot's last batch is out (what the burst brings is counted from here).
        await eventually(lambda: any(b.reset for b in batches))
        batches.clear()
        started = time.monotonic()
        async with httpx.AsyncClient() as client:
            answer = await client.post(
                fresh_sim.root + "/_sim/burst", json={"provider": "miosa", "count": 2000}
            )
            assert answer.status_code == 200, answer.text
        await eventually(lambda: sum(len(b.events) for b in batches) >= 2000)
        elapsed = time.monotonic() - started
        assert len(live.events) == 300  # bounded: the newest 300 kept
        # At most one batch per coalescing interval (~10 a second), whatever the server's rate. (A bound on
        # a count, not on time: a slower machine only takes longer and is allowed more batches.)
        per_second = 1 / DEFAULT_TIMING.coalesce_interval
        assert len(batches) <= elapsed * per_second + 3, (len(batches), elapsed)


async def test_a_stream_that_cannot_resume_makes_the_state_re_read_everything(fresh_sim: SimServer) -> None:
    # More events than the server keeps for replay (it keeps 20,000 and promises 10,000), then a LiveState
    # asking to resume from the start.
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(
            fresh_sim.root + "/_sim/burst", json={"provider": "miosa", "count": 25_000}
        )
        assert answer.status_code == 200, answer.text

    def snapshot_reads() -> int:
        rows = httpx.get(fresh_sim.root + "/_sim/requests").json()["requests"]
        return sum(1 for r in rows if r["method"] == "GET" and r["path"] == "/api/v1/deployments")

    before = await asyncio.to_thread(snapshot_reads)
    async with running_live(fresh_sim, resume_after=1) as (live, batches):
        deadline = time.monotonic() + 60
        # The list is read twice: the first snapshot, then again when the stream says it cannot resume.
        while await asyncio.to_thread(snapshot_reads) < before + 2:
            assert time.monotonic() < deadline, "the state never re-read the list"
            await asyncio.sleep(0.1)  # a poll's period, not a wait before asserting
        await eventually(lambda: live.connection is ConnectionState.LIVE and not live.pages_loading)
        assert any(b.reset for b in batches)
        # None of the 25,000 old events was replayed to the state.
        assert not any(e.type == "sim.burst" for e in live.events)
        assert "smile-dental-landing" in {d.name for d in live.deployments.values()}


async def test_a_dead_server_makes_the_state_stale_and_a_restarted_one_live_again(tmp_path: Path) -> None:
    db = tmp_path / "sim.db"
    with running_sim(db_path=db, speed=50.0) as first:
        port = first.port
        adapter = make_adapter(miosa_profile(first), deadline=1.0, timeout=1.0)
        fast = Timing(stale_after=1.0)
        async with running_live(first, adapter=adapter, timing=fast) as (live, batches):
            await eventually(lambda: not live.pages_loading and live.connection is ConnectionState.LIVE)
            await asyncio.to_thread(first.stop)
            await eventually(lambda: live.connection is ConnectionState.STALE, timeout=20)
            assert live.data_age() is not None
            with running_sim(["--port", str(port)], db_path=db, speed=50.0):
                # (running_sim passes --port 0 first; the later --port wins in argparse)
                await eventually(lambda: live.connection is ConnectionState.LIVE, timeout=30)


async def test_pipeline_stages_get_the_times_we_observe_when_the_provider_gives_none(tmp_path: Path) -> None:
    # Stages are timed as observed: read the running pipeline often (the default, 2 s while the stream
    # is live, keeps a publish's budget; a stage of this 5x-speed build lasts well under a second).
    often = Timing(pipeline_poll_interval_streaming=0.2, detail_min_gap=0.2)
    with running_sim(db_path=tmp_path / "sim.db", speed=5.0) as sim:
        async with running_live(sim, timing=often) as (live, _):
            await eventually(lambda: not live.pages_loading)
            target = next(d for d in live.deployments.values() if d.name == "smile-dental-landing")
            live.watch(target.id)
            await eventually(lambda: live.detail is not None and live.detail.deployment_id == target.id)
            async with httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN}"}) as client:
                answer = await client.post(
                    f"{sim.miosa}/deployments/{target.id}/publish", json={"source_sandbox_id": "sbx_timed"}
                )
                assert answer.status_code in (200, 201, 202), answer.text
                new_version = answer.json()["data"]["version"]["id"]

            def new_run() -> PipelineRun | None:
                runs = live.detail.runs if live.detail else None
                return next((run for run in runs or [] if new_version in run.id), None)

            def first_stage_started_with_the_run() -> bool:
                run = new_run()
                return run is not None and run.stages[0].started_at == run.created_at is not None

            def a_later_stage_timed_to_its_end() -> bool:
                run = new_run()
                return run is not None and any(
                    stage.started_at is not None
                    and stage.finished_at is not None
                    and stage.finished_at >= stage.started_at
                    for stage in run.stages[1:]
                )

            await eventually(first_stage_started_with_the_run, timeout=20)
            await eventually(a_later_stage_timed_to_its_end, timeout=40)


EDGE = "9999-12-31T23:59:59-05:00"


async def test_the_cached_list_keeps_every_readable_row_and_leaves_out_an_unreadable_one(
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime

    from shipdeck.config.cache import read_cache, write_cache

    good: list[dict[str, object]] = [
        {"id": f"dep_{n}", "provider": "miosa", "name": f"app-{n}", "created_at": "2026-01-02T03:04:05+02:00"}
        for n in range(3)
    ]
    bad: dict[str, object] = {"id": "dep_bad", "provider": "miosa", "name": 7}
    # Out of range once in UTC: an OverflowError out of load_cache, not a row left out.
    edge: dict[str, object] = {"id": "dep_edge", "provider": "miosa", "name": "e", "created_at": EDGE}
    path = tmp_path / "cache.json"
    adapter = make_adapter(
        Profile("test", "miosa", "http://127.0.0.1:9", Secret(ADMIN), environment="sandbox")
    )
    for rows, kept in ((good, good), ([good[0], bad, edge, *good[1:]], good)):
        write_cache(path, rows, datetime.now(UTC))
        live = LiveState(adapter, cache_path=path)
        assert live.load_cache()
        assert sorted(live.deployments) == [row["id"] for row in kept]
        first = live.deployments["dep_0"]
        assert first.created_at is not None and first.created_at.tzinfo is UTC and first.created_at.hour == 1
    write_cache(path, [bad], datetime.now(UTC))
    assert not LiveState(adapter, cache_path=path).load_cache()
    # A saved_at that cannot be told in UTC is no cache, as a row that cannot is no row.
    path.write_text(json.dumps({"format": 1, "saved_at": EDGE, "rows": good}))
    assert read_cache(path) is None
    await adapter.aclose()


def reads_of_deployment(sim: SimServer, deployment_id: str) -> int:
    """How many times the sandbox's request log says the deployment itself was read (GET)."""
    path = f"/api/v1/deployments/{deployment_id}"
    rows = httpx.get(sim.root + "/_sim/requests").json()["requests"]
    return sum(1 for r in rows if r["method"] == "GET" and r["path"] == path)


async def test_events_about_one_deployment_re_read_it_at_most_once_per_gap_and_the_last_one_is_read(
    fresh_sim: SimServer,
) -> None:
    gap = 5.0
    async with running_live(fresh_sim, timing=Timing(reread_min_gap=gap)) as (live, _):
        await eventually(lambda: not live.pages_loading and live.connection is ConnectionState.LIVE)
        target = next(d for d in live.deployments.values() if d.name == "smile-dental-landing")

        def re_reads() -> int:
            return reads_of_deployment(fresh_sim, target.id)

        before = await asyncio.to_thread(re_reads)
        started = time.monotonic()
        body = {"provider": "miosa", "count": 20, "type": "test.touch", "data": {"deployment_id": target.id}}
        seen = 0

        def touches() -> int:
            return sum(e.type == "test.touch" for e in live.events)

        async with httpx.AsyncClient() as client:
            for _ in range(5):  # five bursts, each its own batch (the next is sent once this one arrived)
                answer = await client.post(fresh_sim.root + "/_sim/burst", json=body)
                assert answer.status_code == 200, answer.text
                seen += 20
                want = seen
                await eventually(lambda: touches() >= want)  # noqa: B023 - awaited before the loop moves on
        during = await asyncio.to_thread(re_reads) - before
        elapsed = time.monotonic() - started
        # Without a gap each burst re-read the deployment (five); with one, once per gap.
        assert 1 <= during <= 1 + elapsed / gap + 1, (during, elapsed)
        # The events that came within the gap are not forgotten: the deployment is read once more.
        deadline = time.monotonic() + 60
        while await asyncio.to_thread(re_reads) - before < 2:
            assert time.monotonic() < deadline, "the deployment was not re-read after the gap"
            await asyncio.sleep(0.1)  # a poll's period, not a wait before asserting


async def test_events_naming_deployments_the_list_lacks_cost_a_bounded_number_of_reads(
    fresh_sim: SimServer,
) -> None:
    """A stream naming a new made-up deployment in each event re-read each one (100 a second drained the
    rate budget to its reserve in 25 s): past a small allowance, the list is read again once for all of
    them, so a deployment created elsewhere still appears."""
    unknown, gap = 30, 1.0
    timing = Timing(unknown_reads_burst=3.0, unknown_reads_per_minute=0.0, unknown_list_gap=gap)
    async with running_live(fresh_sim, timing=timing) as (live, _):
        await eventually(lambda: not live.pages_loading and live.connection is ConnectionState.LIVE)
        started = time.monotonic()
        async with httpx.AsyncClient() as client:
            for n in range(unknown):
                body = {
                    "provider": "miosa",
                    "count": 1,
                    "type": "test.touch",
                    "data": {"deployment_id": f"dep_made_up_{n}"},
                }
                answer = await client.post(fresh_sim.root + "/_sim/burst", json=body)
                assert answer.status_code == 200, answer.text
        await eventually(lambda: sum(e.type == "test.touch" for e in live.events) >= unknown)
        # A deployment created elsewhere, its event after the allowance was spent: it still appears.
        other = make_adapter(miosa_profile(fresh_sim))
        assert isinstance(other, MiosaAdapter)
        created = await other.publish_from_sandbox("sbx_elsewhere", name="created-elsewhere")
        await other.aclose()
        assert created.deployment is not None
        new_id = created.deployment.id
        await eventually(lambda: new_id in live.deployments)
        elapsed = time.monotonic() - started

        def reads() -> tuple[int, int]:
            rows = httpx.get(fresh_sim.root + "/_sim/requests").json()["requests"]
            gets = [r["path"] for r in rows if r["method"] == "GET"]
            made_up = sum(p.startswith("/api/v1/deployments/dep_made_up_") for p in gets)
            return made_up, sum(p == "/api/v1/deployments" for p in gets)

        made_up, lists = await asyncio.to_thread(reads)
    assert made_up <= 3, made_up  # the allowance, never one per id
    # The start's read, then at most one per gap (and one more begun as the deployment appeared).
    assert lists <= 1 + elapsed / gap + 2, (lists, elapsed)


async def test_a_re_read_that_finds_nothing_changed_publishes_no_change(fresh_sim: SimServer) -> None:
    adapter = make_adapter(miosa_profile(fresh_sim))
    re_read: list[str] = []
    get_deployment = adapter.get_deployment

    async def counted(deployment_id: str) -> Deployment:
        found = await get_deployment(deployment_id)
        re_read.append(deployment_id)
        return found

    adapter.get_deployment = counted  # type: ignore[method-assign]
    async with running_live(fresh_sim, adapter=adapter) as (live, batches):
        await eventually(lambda: not live.pages_loading and live.connection is ConnectionState.LIVE)
        names = {d.name: d for d in live.deployments.values()}
        target, other = (
            names["smile-dental-landing"],
            next(d for n, d in names.items() if n != "smile-dental-landing"),
        )
        async with httpx.AsyncClient() as client:

            async def touch(deployment_id: str) -> None:
                body = {
                    "provider": "miosa",
                    "count": 3,
                    "type": "test.touch",
                    "data": {"deployment_id": deployment_id},
                }
                answer = await client.post(fresh_sim.root + "/_sim/burst", json=body)
                assert answer.status_code == 200, answer.text

            await touch(target.id)
            await eventually(lambda: target.id in re_read)  # re-read, and equal to what is kept
            batches.clear()
            await touch(other.id)
            # The batch with the other deployment's events comes after the target's re-read was handled.
            await eventually(lambda: any(deployment_id_of(e) == other.id for b in batches for e in b.events))
        assert not any(target.id in b.changed for b in batches)
        assert live.deployments[target.id] == target


async def test_the_users_own_change_starts_no_gap_for_the_events_that_answer_it(fresh_sim: SimServer) -> None:
    """After a rollback (mark_dirty) the server's event about it is read at once, not after the gap: the
    gap had made bench/actions.py's event -> screen 690 ms where it was 106."""
    async with running_live(fresh_sim, timing=Timing(reread_min_gap=600.0)) as (live, _):
        await eventually(lambda: not live.pages_loading and live.connection is ConnectionState.LIVE)
        target = next(d for d in live.deployments.values() if d.name == "smile-dental-landing")

        def re_reads() -> int:
            return reads_of_deployment(fresh_sim, target.id)

        before = await asyncio.to_thread(re_reads)
        live.mark_dirty(target.id, detail=False)
        deadline = time.monotonic() + 30
        while await asyncio.to_thread(re_reads) - before < 1:
            assert time.monotonic() < deadline, "the user's change was not re-read"
            await asyncio.sleep(0.1)  # a poll's period, not a wait before asserting
        body = {"provider": "miosa", "count": 1, "type": "test.touch", "data": {"deployment_id": target.id}}
        async with httpx.AsyncClient() as client:
            answer = await client.post(fresh_sim.root + "/_sim/burst", json=body)
            assert answer.status_code == 200, answer.text
        # Within the 600 s gap: the event's re-read came at once.
        while await asyncio.to_thread(re_reads) - before < 2:
            assert time.monotonic() < deadline, "the event after the user's change waited for the gap"
            await asyncio.sleep(0.1)


async def test_a_polled_account_rereads_only_a_few_rows_in_progress_at_once() -> None:
    """While polled (Mixpeek: no push stream), a row in progress is re-read on its own until it ends, so
    that it never says 'building' for a minute after its deploy went live; a few at a time, or an account
    of many building rows spent its rate budget there."""
    from shipdeck.live.state import PROGRESS_REREADS_MAX

    with running_sim(speed=50.0) as sim:
        profile = Profile("mixpeek", "mixpeek", sim.mixpeek, Secret("sk_demo"), environment="sandbox")
        fast = replace(DEFAULT_TIMING, pipeline_poll_interval=0.2)
        async with running_live(sim, adapter=make_adapter(profile), timing=fast) as (live, _):
            await eventually(lambda: live.polling and live.deployments)
            mark = sim.last_request_seq()
            building = [
                Deployment(
                    id=f"app_fake{n:02d}@production", provider="mixpeek", name=f"fake-{n}", state="building"
                )
                for n in range(3 * PROGRESS_REREADS_MAX)
            ]
            for dep in building:
                live._store(dep)

            def fakes_read() -> set[str]:
                paths = [r["path"] for r in sim.requests(mark) if r["method"] == "GET"]
                return {path.split("/apps/")[1].split("/")[0] for path in paths if "/apps/app_fake" in path}

            await eventually(lambda: len(fakes_read()) >= PROGRESS_REREADS_MAX)
            # The rest were never queued: another round reads none of them.
            seen = sim.last_request_seq()
            await eventually(lambda: sim.last_request_seq() > seen + 5)
            assert len(fakes_read()) == PROGRESS_REREADS_MAX, fakes_read()

"""Unit tests of the simulator core: option parsing, database transactions, the event log, the clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from shipdeck.sim.cli import parse_options
from shipdeck.sim.core import (
    EVENT_RETENTION,
    FaultSpec,
    OptionError,
    SimContext,
    SimOptions,
    parse_seed,
    provider_for_path,
)


def test_fault_spec_parses_every_fault() -> None:
    spec = FaultSpec.parse("latency=50ms,error5xx=0.05,rate429=0.02,drop_after_commit=1,sse_drop_every=200")
    assert spec.latency_seconds == pytest.approx(0.05)
    assert (spec.error5xx, spec.rate429, spec.drop_after_commit) == (0.05, 0.02, 1.0)
    assert spec.sse_drop_every == 200
    assert FaultSpec.parse("drop_after_commit_once,ws_drop_every=3,latency=0.2s").drop_after_commit_once
    assert FaultSpec.parse("latency=0.2s").latency_seconds == pytest.approx(0.2)


@pytest.mark.parametrize("spec", ["nonsense=1", "error5xx=2", "latency=fast", "ws_drop_every=x"])
def test_bad_fault_spec_names_the_fault(spec: str) -> None:
    with pytest.raises(OptionError, match=spec.split("=")[0]):
        FaultSpec.parse(spec)


def test_seed_kinds() -> None:
    assert parse_seed("scale:12") == ("scale", 12)
    assert parse_seed("empty") == ("empty", 0)
    for bad in ("scale:0", "scale:", "lots"):
        with pytest.raises(OptionError):
            parse_seed(bad)


def test_options_refuse_a_remote_host_without_allow_remote() -> None:
    with pytest.raises(OptionError, match="--allow-remote"):
        parse_options(["--host", "0.0.0.0"])
    assert parse_options(["--host", "0.0.0.0", "--allow-remote"]).allow_remote
    epoch = parse_options(["--epoch", "2026-01-15T09:00:00Z"]).epoch
    assert epoch == datetime(2026, 1, 15, 9, tzinfo=UTC)
    with pytest.raises(OptionError, match="--epoch"):
        parse_options(["--epoch", "yesterday"])


def test_paths_map_to_providers_longest_prefix_first() -> None:
    assert provider_for_path("/api/v1/deployments") == "miosa"
    assert provider_for_path("/v1/apps/app_1/deploy") == "mixpeek"
    assert provider_for_path("/v1/tasks") == "miteos"
    assert provider_for_path("/v1") == "miteos"
    assert provider_for_path("/_sim/health") is None


def test_event_log_seq_is_per_provider_and_survives_a_rolled_back_transaction() -> None:
    ctx = SimContext(SimOptions())
    first = ctx.events.append("miosa", "deployment.updated", {"id": "dep_1"})
    ctx.events.append("miteos", "task.created", {"id": "t1"})
    with pytest.raises(RuntimeError), ctx.db.transaction():
        ctx.events.append("miosa", "deployment.updated", {"id": "never"})
        raise RuntimeError("roll back")
    second = ctx.events.append("miosa", "deployment.updated", {"id": "dep_2"})
    assert (first.seq, second.seq) == (1, 2)
    assert [e.data["id"] for e in ctx.events.since("miosa", 0)] == ["dep_1", "dep_2"]
    assert ctx.events.oldest_seq("miosa") == 1 and ctx.events.latest_seq("miteos") == 1


def test_event_log_keeps_at_least_the_retention_window() -> None:
    ctx = SimContext(SimOptions())
    ctx.events.append_many("miosa", [("sim.burst", {"i": i}) for i in range(EVENT_RETENTION + 1500)])
    ctx.events.append("miosa", "sim.burst", {"i": "last"})  # triggers a trim
    latest = ctx.events.latest_seq("miosa")
    assert latest - ctx.events.oldest_seq("miosa") + 1 >= 10_000
    assert ctx.events.oldest_seq("miosa") > 1


async def test_wait_for_new_wakes_on_append_and_times_out() -> None:
    ctx = SimContext(SimOptions(speed=100.0))
    assert not await ctx.events.wait_for_new("miosa", 0, timeout=0.05)
    waiter = asyncio.create_task(ctx.events.wait_for_new("miosa", 0, timeout=30))
    await asyncio.sleep(0)  # the waiter starts waiting
    ctx.events.append("miosa", "x", {})
    assert await waiter


async def test_clock_runs_at_speed_and_can_be_advanced() -> None:
    epoch = datetime(2026, 1, 15, 9, tzinfo=UTC)
    ctx = SimContext(SimOptions(speed=100.0, epoch=epoch))
    await ctx.clock.sleep(5)
    elapsed = (ctx.clock.now() - epoch).total_seconds()
    assert elapsed >= 5  # it slept the simulated 5 s (at speed 100 that is 0.05 real seconds)
    ctx.clock.advance(3600)
    assert (ctx.clock.now() - epoch).total_seconds() >= 3605
    assert ctx.clock.iso(epoch) == "2026-01-15T09:00:00.000Z"

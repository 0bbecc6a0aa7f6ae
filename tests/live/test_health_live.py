"""Service health through the adapters and the live state, against a real `shipdeck sim`.

Tests that read checkout-api's incident or an hour's window run on a sandbox of their own (``fresh_sim``):
sandbox time runs 50 times faster, and a rollback by another test on a shared sandbox would end the
incident."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shipdeck.api import health as api_health
from shipdeck.api.errors import UnsupportedAction
from shipdeck.live import health as live_health
from shipdeck.live.timing import Timing
from shipdeck.model import Capability
from shipdeck.model.service_health import (
    HealthPoint,
    ServiceHealth,
    VersionChange,
    change_health_line,
    format_rate,
    movement_text,
    trend_text,
    version_figures,
)
from tests.api.helpers import adapter_for
from tests.conftest import MIXPEEK_TOKEN
from tests.live.test_live_state import eventually, running_live
from tests.simproc import SimServer

# Health on a fast clock with a large budget (the default budget is measured in bench/).
FAST_HEALTH = Timing(
    health_per_minute=6000,
    health_burst=200,
    health_batch_interval=0.5,
    health_watched_interval=0.5,
    health_detail_interval=0.5,
    health_settle_interval=0.2,
    health_settle=1.0,
    health_screen_wait=0.2,
)


async def by_name(adapter: object, name: str) -> str:
    dep = await adapter.resolve_deployment(name)  # type: ignore[attr-defined]
    return str(dep.id)


async def test_miosa_adapter_reads_health_and_its_detail(fresh_sim: SimServer) -> None:
    async with adapter_for(fresh_sim, "miosa") as adapter:
        checkout = await by_name(adapter, "checkout-api")
        health = await adapter.get_health(checkout)
        assert health is not None and health.provider == "miosa"
        assert health.error_rate is not None and health.error_rate >= 0.05
        assert health.p50_ms and health.p95_ms and health.p99_ms and health.p50_ms < health.p95_ms
        assert health.window_s == 30 and health.rpm and health.as_of is not None
        assert set(health.as_json()) == {
            "error_rate",
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "rpm",
            "window_s",
            "as_of",
        }
        detail = await adapter.get_health_detail(checkout)
        assert detail is not None
        assert detail.routes[0].route in ("/api/checkout", "/api/payments/confirm")
        assert detail.failing and all(r.failed for r in detail.failing)
        assert len(detail.health.series) == 60
        assert [c.version_number for c in detail.health.version_changes] == [4, 5]  # v4 in effect first
        healthy = await adapter.get_health(await by_name(adapter, "clinic-intake"))
        assert healthy is not None and healthy.error_rate is not None and healthy.error_rate < 0.01


def mixpeek_request_log(sim: SimServer, app_id: str) -> list[dict[str, object]]:
    """The app's request log as the sandbox serves it (the raw entries)."""
    answer = httpx.get(
        f"{sim.mixpeek}/{app_id}/logs",
        params={"log_type": "requests", "limit": 1000},
        headers={"Authorization": f"Bearer {MIXPEEK_TOKEN}"},
        timeout=10,
    )
    entries: list[dict[str, object]] = answer.json()["results"]
    return entries


async def test_mixpeek_health_comes_from_its_request_log_and_staging_has_none(sim: SimServer) -> None:
    async with adapter_for(sim, "mixpeek", token=MIXPEEK_TOKEN) as adapter:
        listed = (await adapter.list_deployments()).items
        production = next(
            d for d in listed if d.id.endswith("@production") and d.name.startswith("Storefront")
        )
        health = await adapter.get_health(production.id)
        assert health is not None and health.requests and health.requests > 0
        assert health.error_rate is not None and 0 <= health.error_rate < 1
        assert health.p95_ms is not None and health.window_s == 30
        # Only the newest 30 s of the hour's log are built into records; the figures are those of all.
        app_id = production.id.rpartition("@")[0]
        raws = mixpeek_request_log(sim, app_id)
        assert len(raws) > 2 * health.requests  # the window is a part of the log, or this proves nothing
        every = [api_health.request_record(raw) for raw in raws]
        assert api_health.mixpeek_health_from_raw(raws, production.id) == api_health.mixpeek_health_from_logs(
            every, production.id
        )
        detail = await adapter.get_health_detail(production.id)
        assert detail is not None and detail.routes and detail.health.series
        staging = next(d for d in listed if d.id.endswith("@staging"))
        assert await adapter.get_health(staging.id) is None


async def test_miteos_has_no_metrics_and_the_live_state_says_so_once(sim: SimServer) -> None:
    adapter = adapter_for(sim, "miteos")
    assert not adapter.capabilities.supports(Capability.HEALTH)
    with pytest.raises(UnsupportedAction, match="no request metrics"):
        await adapter.get_health("dep_x")
    async with running_live(sim, adapter=adapter, read_health=True, timing=FAST_HEALTH) as (live, _batches):
        assert live.health is not None
        await eventually(lambda: live.health is not None and live.health.unavailable is not None)
        assert live.health.reads == 0 and "no request metrics" in (live.health.unavailable or "")


async def test_live_state_reads_every_listed_deployment_and_the_watched_one_in_detail(
    fresh_sim: SimServer,
) -> None:
    async with running_live(fresh_sim, read_health=True, timing=FAST_HEALTH) as (live, batches):
        monitor = live.health
        assert monitor is not None
        await eventually(lambda: not live.pages_loading and len(monitor.latest) >= len(live.deployments))
        by_name = {d.name: d.id for d in live.deployments.values()}
        checkout = by_name["checkout-api"]
        assert (monitor.error_rate(checkout) or 0) >= 0.05
        healthy = monitor.error_rate(by_name["clinic-intake"])
        assert healthy is not None and healthy < 0.01
        assert any(checkout in b.changed for b in batches)
        live.watch(checkout)
        # The watched row's figures carry the hour's series and version changes (the chart, the dialogs) ...
        await eventually(lambda: (h := monitor.watched_health(checkout)) is not None and len(h.series) == 60)
        # ... its routes and failing requests are read only while the Health tab is open.
        assert monitor.detail is None
        monitor.want_detail(True)
        await eventually(
            lambda: monitor.detail is not None and monitor.detail.health.deployment_id == checkout
        )
        assert monitor.detail is not None and monitor.detail.routes and monitor.detail.failing


def test_the_budget_is_a_bucket_the_watched_row_and_the_shown_rows_share() -> None:
    class Adapter:
        rate_limit_remaining: int | None = 1000
        rate_limit_limit: int | None = 600

    class State:
        adapter = Adapter()
        deployments = {f"d{n:03d}": None for n in range(300)}
        watched: str | None = None
        polling = False
        timing = Timing()  # the default budget: a screenful (16) at start, then 3 a minute, at most 3 at once

    clock = [0.0]
    monitor = live_health.HealthMonitor(State(), now=lambda: clock[0])  # type: ignore[arg-type]
    monitor.show(["d250", "d251"])
    first = monitor.next_batch()
    start = int(Timing().health_start)
    assert first[:2] == ["d250", "d251"] and len(first) == start  # the bucket starts with a screenful
    assert monitor._tokens().take(start) and monitor.next_batch() == []  # spent: nothing until it refills
    clock[0] += 20.0  # 20 s at 3 a minute: one request
    second = monitor.next_batch()
    assert len(second) == 1 and second[0] in ("d250", "d251")
    clock[0] += 600.0  # a long quiet spell still holds at most the burst
    assert len(monitor.next_batch()) == 3
    State.polling = True  # the push stream is down: polling spends the budget, health a third of it
    assert monitor.per_minute() == 1.0 and len(monitor.next_batch()) == 1
    State.polling = False
    State.adapter.rate_limit_remaining = 3
    assert monitor.next_batch() == []  # the window is nearly spent: kept for the user's own actions


def test_the_dialog_line_compares_the_serving_version_with_the_target() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    went_live = now - timedelta(minutes=14)
    series = [
        HealthPoint(
            at=now - timedelta(minutes=59 - n),
            error_rate=0.003 if now - timedelta(minutes=59 - n) <= went_live else 0.124,
            p95_ms=120 if now - timedelta(minutes=59 - n) <= went_live else 840,
        )
        for n in range(60)
    ]
    health = ServiceHealth(
        deployment_id="d",
        provider="miosa",
        error_rate=0.124,
        p95_ms=840,
        series=series,
        version_changes=[VersionChange(at=went_live, version_number=5)],
    )
    current = version_figures(health, 5, serving=True)
    # v4's span began before the series; it ended when v5 went live.
    health.version_changes.insert(0, VersionChange(at=now - timedelta(hours=26), version_number=4))
    target = version_figures(health, 4, serving=False)
    line = change_health_line(current, target, now)
    assert line == "v5 (live 14 min): 12.4% errors, p95 840 ms -> v4 (last live 14 min ago): 0.3%, 120 ms"
    assert change_health_line(current, None, now).endswith("-> target: no figures in the last hour")
    assert version_figures(health, 3, serving=False) is None


def test_the_dialog_line_does_not_give_the_version_before_a_switch_as_the_serving_ones() -> None:
    """Right after a rollback the last read may still measure the old version, and a window that began
    before the switch mixes both: the serving version's figures are then its own points, or none yet."""
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    went_live = now - timedelta(seconds=40)
    before_switch = ServiceHealth(
        deployment_id="d",
        provider="miosa",
        error_rate=0.124,
        p95_ms=840,
        as_of=now - timedelta(seconds=50),
        window_s=300,
        version_changes=[VersionChange(at=now - timedelta(hours=2), version_number=9)],
    )
    old_read = version_figures(before_switch, 8, serving=True)
    assert old_read is not None and old_read.error_rate is None
    assert change_health_line(old_read, None, now).startswith(
        "v8: no figures yet (the last read measured v9, not v8) ->"
    )
    mixed = ServiceHealth(
        deployment_id="d",
        provider="miosa",
        error_rate=0.124,  # mostly v9's five minutes
        p95_ms=840,
        as_of=now,
        window_s=300,
        version_changes=[
            VersionChange(at=now - timedelta(hours=2), version_number=9),
            VersionChange(at=went_live, version_number=8),
        ],
        series=[HealthPoint(at=now - timedelta(minutes=n), error_rate=0.124, p95_ms=840) for n in (3, 2, 1)],
    )
    fresh = version_figures(mixed, 8, serving=True)
    assert fresh is not None and fresh.error_rate is None
    assert change_health_line(fresh, None, now).startswith(
        "v8 (live 40 s): no figures yet (too new to measure)"
    )
    # The list beside the dialog reads the deployment's 13.2%: the dialog says it too, as a mix.
    assert change_health_line(fresh, None, now, overall=0.132).startswith(
        "v8 (live 40 s): no figures yet (too new to measure); "
        "the deployment's errors 13.2%, versions mixed ->"
    )
    # 90 s on, one point: it covers the minute right after the switch, both versions mixed. Not v8's own.
    mixed.series.append(HealthPoint(at=went_live + timedelta(seconds=30), error_rate=0.123, p95_ms=800))
    mixed.as_of = went_live + timedelta(seconds=90)
    lone = version_figures(mixed, 8, serving=True)
    assert lone is not None and lone.error_rate is None and lone.not_yet == "too new to measure"
    mixed.series.pop()
    # Three minutes on, the series has v8's own points: those, not the window's mix.
    mixed.series += [
        HealthPoint(at=went_live + timedelta(seconds=30), error_rate=0.05, p95_ms=300),
        HealthPoint(at=went_live + timedelta(minutes=2), error_rate=0.004, p95_ms=110),
        HealthPoint(at=went_live + timedelta(minutes=3), error_rate=0.002, p95_ms=130),
    ]
    later = now + timedelta(minutes=3)
    mixed.as_of = later
    settled = version_figures(mixed, 8, serving=True)
    assert settled is not None and settled.error_rate == pytest.approx(0.003)
    assert change_health_line(settled, None, later).startswith("v8 (live 4 min): 0.3% errors, p95 120 ms ->")


def test_words_and_trend_are_readable_without_colour() -> None:
    assert format_rate(0.124) == "12.4%" and format_rate(0.0031) == "0.3%" and format_rate(None) == "-"
    assert trend_text([0.003, 0.12, None], 4) == " ▂█·"
    assert movement_text(0.124, 0.031, "falling") == "12.4% -> 3.1%, falling"


async def test_an_action_is_followed_by_how_the_error_rate_moves(fresh_sim: SimServer) -> None:
    timing = replace(FAST_HEALTH, health_settle=600.0)
    async with running_live(fresh_sim, read_health=True, timing=timing) as (live, _batches):
        monitor = live.health
        assert monitor is not None
        await eventually(lambda: any(d.name == "checkout-api" for d in live.deployments.values()))
        checkout = next(d.id for d in live.deployments.values() if d.name == "checkout-api")
        live.watch(checkout)
        await eventually(lambda: (monitor.error_rate(checkout) or 0) >= 0.05)
        before = monitor.expect_change(checkout)
        assert before is not None and (before.error_rate or 0) >= 0.05
        await live.adapter.rollback(checkout)
        await eventually(lambda: (r := monitor.error_rate(checkout)) is not None and r < 0.01, timeout=30)
        moving = monitor.movement(checkout)
        assert moving is not None and moving.direction() == "falling"
        assert movement_text(moving.before, moving.latest, moving.direction()).endswith(", falling")


async def test_after_the_settle_time_the_figures_are_handed_over_once(fresh_sim: SimServer) -> None:
    settled: list[float | None] = []
    async with running_live(fresh_sim, read_health=True, timing=FAST_HEALTH) as (live, _batches):
        monitor = live.health
        assert monitor is not None
        await eventually(lambda: any(d.name == "checkout-api" for d in live.deployments.values()))
        checkout = next(d.id for d in live.deployments.values() if d.name == "checkout-api")
        await eventually(lambda: monitor.error_rate(checkout) is not None)
        after: list[float] = []

        def on_settled(health: ServiceHealth | None, after_s: float) -> None:
            settled.append(health.error_rate if health else None)
            after.append(after_s)

        monitor.expect_change(checkout, on_settled)
        await eventually(lambda: settled)
        assert monitor.movement(checkout) is None
        assert len(settled) == 1 and (settled[0] or 0) >= 0.05
        assert after[0] >= FAST_HEALTH.health_settle


class OneRow:
    """The live state a monitor of one deployment "d" needs, without a server (its reads are fed in)."""

    adapter = None
    deployments: dict[str, None] = {"d": None}
    watched: str | None = None
    polling = False
    timing = Timing()

    @staticmethod
    def touch(dep_id: str, detail: bool = False) -> None:
        return None


def test_a_second_change_within_the_window_settles_the_first_with_the_figures_it_had() -> None:
    """Rollback, then a promote two minutes later: the rollback's "health after" was never recorded
    (the audit kept only the promote's). Now it is handed over at the second change, with its time."""

    clock = [0.0]
    monitor = live_health.HealthMonitor(OneRow(), now=lambda: clock[0])  # type: ignore[arg-type]
    monitor.latest["d"] = ServiceHealth(deployment_id="d", provider="miosa", error_rate=0.12)
    handed: list[tuple[str, float | None, float]] = []
    monitor.expect_change("d", lambda h, s: handed.append(("rollback", h.error_rate if h else None, s)))
    clock[0] = 120.0
    monitor.latest["d"] = ServiceHealth(deployment_id="d", provider="miosa", error_rate=0.004)
    monitor.expect_change("d", lambda h, s: handed.append(("promote", h.error_rate if h else None, s)))
    assert handed == [("rollback", 0.004, 120.0)]


async def test_a_row_on_screen_never_read_does_not_wait_a_batch_interval(fresh_sim: SimServer) -> None:
    """The first batch holds two rows (a small bucket) and the next is an hour away: a row the screen
    shows that was not among them is read as soon as the bucket refills, not an hour later, though the
    monitor, with nothing due, was asleep until then."""
    timing = Timing(
        health_per_minute=600,  # a token every 0.1 s
        health_burst=2,
        health_start=2,
        health_batch_interval=3600.0,
        health_watched_interval=3600.0,
        health_settle_interval=0.2,
    )
    async with running_live(fresh_sim, read_health=True, timing=timing) as (live, _batches):
        monitor = live.health
        assert monitor is not None
        await eventually(lambda: len(monitor.latest) >= 2)
        unread = [d for d in sorted(live.deployments) if d not in monitor.latest]
        assert unread, "the first batch read every row: the bucket is larger than this test means"
        # Nothing is due for an hour: the monitor sleeps until then (it woke every second) ...
        await eventually(lambda: monitor.pause > 600)
        # ... and the screen's new rows wake it.
        monitor.show(unread[:3])
        await eventually(lambda: all(d in monitor.latest for d in unread[:3]), timeout=30)


async def test_the_start_allowance_reads_the_rows_on_screen_first_and_all_of_them(
    fresh_sim: SimServer,
) -> None:
    """The first batch ran as soon as the list arrived, before the screen said which rows it shows: the
    start allowance went to the rotation's first rows (by id), and a big account's rows on screen waited for
    refills (bench/health.py: after two minutes, 19 rows on screen still lacked some). Now the first read
    waits for the screen, and the allowance is a screenful even when that is more than health_start."""
    timing = Timing(
        health_per_minute=0.001,  # no refills while the test runs: only the start allowance is spent
        health_burst=1,
        health_start=2,
        health_batch_interval=3600.0,
        health_watched_interval=3600.0,
        health_settle_interval=0.2,
        health_screen_wait=60.0,
    )
    async with running_live(fresh_sim, read_health=True, timing=timing) as (live, _batches):
        monitor = live.health
        assert monitor is not None
        await eventually(lambda: not live.pages_loading and len(live.deployments) >= 6)
        on_screen = sorted(live.deployments)[-5:]  # the rotation's last rows, not its first
        assert monitor.reads == 0, "health was read before the screen said what it shows"
        monitor.show(on_screen)
        await eventually(lambda: all(d in monitor.latest for d in on_screen))
        assert set(monitor.latest) == set(on_screen)


@pytest.mark.parametrize(("rate", "word"), [(0.124, "⚠ high"), (0.031, "⚠ warn")])
def test_the_list_the_health_tab_and_the_cli_use_one_word_for_a_level(rate: float, word: str) -> None:
    """The list said "warn", the Health tab "raised" and `shipdeck health` "degraded" for one 3.1%."""
    from shipdeck.cli.health import health_cell
    from shipdeck.tui.widgets.deployments_table import errors_cell
    from shipdeck.tui.widgets.health_view import summary_text

    health = ServiceHealth(deployment_id="d", provider="miosa", error_rate=rate, p95_ms=100)
    shown = [errors_cell(rate, [rate], 20), str(summary_text(health)), health_cell(health)]
    assert all(word in text for text in shown), shown


def test_after_a_rollback_the_movement_waits_for_the_new_versions_own_figures() -> None:
    """Right after a good rollback v5 -> v4 the window still held v5's requests: "11.1% -> 11.7%, steady"
    read as if it had not helped. Now it says "measuring" until the figures are v4's own."""

    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    switched = now - timedelta(seconds=20)
    changes = [
        VersionChange(at=now - timedelta(hours=1), version_number=5),
        VersionChange(at=switched, version_number=4),
    ]
    monitor = live_health.HealthMonitor(OneRow(), now=lambda: 0.0)  # type: ignore[arg-type]
    monitor.latest["d"] = ServiceHealth(deployment_id="d", provider="miosa", error_rate=0.111)
    monitor.expect_change("d", target_number=4)
    mixed = ServiceHealth(
        deployment_id="d",
        provider="miosa",
        error_rate=0.117,
        as_of=now,
        window_s=300,
        version_changes=changes,
        series=[HealthPoint(at=now - timedelta(minutes=2), error_rate=0.12)],
    )
    monitor._record("d", mixed)
    moving = monitor.movement("d")
    assert moving is not None and moving.direction() == "measuring"
    later = now + timedelta(minutes=3)
    own = mixed.model_copy(
        update={
            "as_of": later,
            "series": [HealthPoint(at=switched + timedelta(minutes=m), error_rate=0.004) for m in (2, 3)],
        }
    )
    monitor._record("d", own)
    assert moving.direction() == "falling" and moving.latest == pytest.approx(0.004)


def test_without_version_changes_the_movement_waits_for_a_window_that_began_after_the_change() -> None:
    """A Mixpeek rollback said "errors 0.7% -> 0.5%, falling" a second after it, though v3 had no figures:
    its request log does not say when versions switched, and the 30 s window read then was mostly the
    version before. Now only a read a whole window after the change, of requests the figures before it did
    not count, says how it moved; until then "measuring"."""
    before_at = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    clock = [0.0]
    monitor = live_health.HealthMonitor(OneRow(), now=lambda: clock[0])  # type: ignore[arg-type]

    def figures(rate: float, as_of: datetime) -> ServiceHealth:
        return ServiceHealth(
            deployment_id="d", provider="mixpeek", error_rate=rate, as_of=as_of, window_s=30, version_id="v7"
        )

    monitor.latest["d"] = figures(0.007, before_at)
    monitor.expect_change("d", target_number=3)
    moving = monitor.movement("d")
    assert moving is not None
    clock[0] = 1.0
    monitor._record("d", figures(0.005, before_at + timedelta(seconds=1)))
    assert moving.direction() == "measuring" and moving.latest is None
    clock[0] = 31.0  # a window later, but the newest request is old: the window holds the one before
    monitor._record("d", figures(0.005, before_at + timedelta(seconds=20)))
    assert moving.direction() == "measuring"
    clock[0] = 40.0
    monitor._record("d", figures(0.002, before_at + timedelta(seconds=40)))
    assert moving.direction() == "falling" and moving.latest == pytest.approx(0.002)


async def test_the_reads_after_a_change_keep_the_health_tabs_headline_current() -> None:
    """After a rollback the row said 0.3% while the Health tab's headline kept 13.1% for 100 s: the reads
    that follow a change updated the row's figures only."""
    from shipdeck.model.service_health import HealthDetail

    class Adapter:
        async def get_health(self, deployment_id: str) -> ServiceHealth:
            return ServiceHealth(deployment_id=deployment_id, provider="miosa", error_rate=0.003)

    class Watched(OneRow):
        adapter = Adapter()  # type: ignore[assignment]
        watched = "d"

    clock = [0.0]
    monitor = live_health.HealthMonitor(Watched(), now=lambda: clock[0])  # type: ignore[arg-type]
    before = ServiceHealth(deployment_id="d", provider="miosa", error_rate=0.131)
    monitor.latest["d"] = before
    monitor.detail = HealthDetail(health=before)
    monitor.expect_change("d")
    clock[0] = Timing().health_settle_interval + 1.0
    await monitor._follow_changes()
    assert monitor.detail is not None and monitor.detail.health.error_rate == 0.003


async def test_the_health_tabs_first_read_comes_before_rows_the_screen_shows_unread(
    fresh_sim: SimServer,
) -> None:
    """The Health tab opened on a row with a screenful of rows never read: those took each token as it
    came (one at a time), and the tab's three requests waited until every one was read, "reading…" for
    minutes at 3 a minute. The tab's first read now comes first, and says it waits meanwhile."""
    timing = Timing(
        health_per_minute=60,  # a token a second
        health_burst=3,
        health_start=2,
        health_batch_interval=3600.0,
        health_watched_interval=3600.0,
        health_detail_interval=3600.0,
        health_settle_interval=0.2,
        health_screen_wait=0.2,
    )
    async with running_live(fresh_sim, read_health=True, timing=timing) as (live, _batches):
        monitor = live.health
        assert monitor is not None
        await eventually(lambda: not live.pages_loading and len(live.deployments) >= 8)
        by_name = {d.name: d.id for d in live.deployments.values()}
        checkout = by_name["checkout-api"]
        first = [d for d in sorted(live.deployments) if d != checkout][:2]
        monitor.show(first)
        await eventually(lambda: all(d in monitor.latest for d in first))
        rest = [d for d in sorted(live.deployments) if d not in monitor.latest and d != checkout]
        assert len(rest) >= 4, rest
        waited: list[bool] = []
        monitor.show([*rest, checkout])
        live.watch(checkout)
        monitor.want_detail(True)

        def detail_read() -> bool:
            waited.append(monitor.detail_waiting)
            return monitor.detail is not None and monitor.detail.health.deployment_id == checkout

        await eventually(detail_read, timeout=60)
        still_unread = [d for d in rest if d not in monitor.latest]
        assert still_unread, "the rows on screen were all read before the Health tab's first read"
        assert any(waited) and not monitor.detail_waiting


async def test_the_health_tab_of_a_polled_profile_is_read_though_its_bucket_holds_less_than_the_detail(
    sim: SimServer,
) -> None:
    """Polled (Mixpeek has no push stream), health gets a third of the bucket: at most 1 token, while the
    Health tab's detail needs 3. The tab waited for them for good, and every other health read of the
    profile with it (a rolled-back row said '⚠ high' for 20 minutes). The detail is taken once the bucket
    is full, the rest as a debt."""
    small = replace(FAST_HEALTH, health_per_minute=60, health_burst=3, health_start=0)
    async with running_live(
        sim, adapter=adapter_for(sim, "mixpeek", token=MIXPEEK_TOKEN), read_health=True, timing=small
    ) as (
        live,
        _batches,
    ):
        monitor = live.health
        assert monitor is not None
        await eventually(lambda: not live.pages_loading and live.polling)
        production = next(d for d in live.deployments.values() if d.id.endswith("@production"))
        live.watch(production.id)
        monitor.want_detail(True)
        await eventually(
            lambda: monitor.detail is not None and monitor.detail.health.deployment_id == production.id
        )
        assert not monitor.detail_waiting

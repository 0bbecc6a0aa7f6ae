"""The fleet table's order, kept row by row: after any mix of pages, state changes, health reads and
removals it is the order defined from scratch (failed first, then the rows over the error threshold by rate,
then the state order; with `s`, by error rate alone), and a health read of rows that do not move changes no
order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from textual.app import App, ComposeResult

from shipdeck.model import Deployment, Health
from shipdeck.model.service_health import RowFigures, health_level
from shipdeck.tui.widgets.fleet_table import FleetTable, row_key, split_key

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PROFILES = {"prod": "miosa", "stage": "miteos", "apps": "mixpeek"}


def deployment(index: int, state: str, colour: str = "green") -> Deployment:
    return Deployment(
        id=f"dep_{index:04d}",
        provider="miosa",
        name=f"app-{index % 37:02d}",  # names repeat: the state order's tie-break is the key
        state=state,
        url=f"https://{colour}-{index}.example.test",  # a URL change moves a row in or out of a filter only
        created_at=NOW - timedelta(minutes=index),
    )


class FleetApp(App[None]):
    def compose(self) -> ComposeResult:
        yield FleetTable(PROFILES, clock=lambda: NOW, id="fleet")


def from_scratch(table: FleetTable, rates: dict[str, float], *, by_rate: bool = False) -> list[str]:
    """The fleet's order as defined, computed over every row."""
    rows = {key: table.row(key) for name in PROFILES for key in table.keys_of(name)}

    def state_order(key: str) -> tuple[str, str, str]:
        dep = rows[key]
        assert dep is not None
        rank = {Health.FAILED: "0", Health.PROGRESS: "1", Health.UNKNOWN: "2", Health.OK: "3"}
        return (f"{rank.get(dep.health, '4')}{dep.name.lower()}", split_key(key)[0], key)

    def urgency(key: str) -> tuple[int, float]:
        dep = rows[key]
        assert dep is not None
        if by_rate:  # `s`: failed first, then by error rate, highest first; rows without a figure after
            if dep.health is Health.FAILED:
                return (0, 0.0)
            return (1, -rates[key]) if key in rates else (2, 0.0)
        if dep.health is Health.FAILED:
            return (0, 0.0)
        rate = rates.get(key)
        if health_level(rate) in ("critical", "warning"):
            return (1, -(rate or 0.0))
        return (2, 0.0)

    return sorted(rows, key=lambda key: (urgency(key), state_order(key)))


async def test_the_order_kept_row_by_row_is_the_order_defined_from_scratch() -> None:
    rng = random.Random(7)
    rates: dict[str, float] = {}
    app = FleetApp()
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(FleetTable)
        table.health_source = lambda key: RowFigures(rates[key], ()) if key in rates else None
        states = ["running", "failed", "building", "stopped", "ready"]
        colours: dict[int, str] = {}

        def colour(index: int) -> str:
            colours[index] = rng.choice(["blue", "green"])
            return colours[index]

        live: dict[str, dict[int, str]] = {name: {} for name in PROFILES}
        for name in PROFILES:  # a first page each
            live[name] = {i: rng.choice(states) for i in range(60)}
            table.replace_profile(name, [deployment(i, s, colour(i)) for i, s in live[name].items()])
        for step in range(400):
            name = rng.choice(list(PROFILES))
            action = rng.random()
            if action < 0.35:  # some deployments change state or URL (or arrive)
                changed = {rng.randrange(90): rng.choice(states) for _ in range(rng.randint(1, 5))}
                live[name].update(changed)
                table.upsert_in(name, [deployment(i, s, colour(i)) for i, s in changed.items()])
            elif action < 0.75:  # a health batch: some rows' rates move, across the threshold or not
                keys = [row_key(name, f"dep_{i:04d}") for i in rng.sample(sorted(live[name]), 4)]
                for key in keys:
                    rates[key] = rng.choice([0.001, 0.004, 0.03, 0.08, 0.12, rng.random() * 0.2])
                table.health_changed(keys)
            elif action < 0.85 and live[name]:  # some go away
                gone = rng.sample(sorted(live[name]), min(3, len(live[name])))
                for i in gone:
                    del live[name][i]
                table.remove_in(name, [f"dep_{i:04d}" for i in gone])
            else:  # the profile's list read again
                table.replace_profile(name, [deployment(i, s, colour(i)) for i, s in live[name].items()])
            if step == 200:  # the second half with a filter typed: rows enter and leave it as they change
                table.set_filter("blue")
            if step % 40 == 0:
                await pilot.pause()
            if step == 300:  # the last quarter sorted by error rate alone (s)
                table.set_unhealthy_first(True)
            expected = from_scratch(table, rates, by_rate=step >= 300)
            if step >= 200:
                expected = [k for k in expected if "blue" in ((row := table.row(k)) and row.url or "")]
            assert table.visible_ids == expected, f"step {step}"


async def test_a_health_read_that_moves_no_row_keeps_the_order() -> None:
    rates: dict[str, float] = {}
    app = FleetApp()
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(FleetTable)
        table.health_source = lambda key: RowFigures(rates[key], ()) if key in rates else None
        table.replace_profile("prod", [deployment(i, "running") for i in range(200)])
        await pilot.pause()
        order = table.visible_ids
        keys = [row_key("prod", f"dep_{i:04d}") for i in range(0, 200, 3)]
        rates.update(dict.fromkeys(keys, 0.002))  # healthy: nobody moves ahead
        table.health_changed(keys)
        assert table.visible_ids == order
        hurting = keys[-1]
        rates[hurting] = 0.12
        table.health_changed([hurting])
        assert table.visible_ids[0] == hurting and table.visible_ids[1:] == [k for k in order if k != hurting]


async def test_the_fleets_ages_tick_as_the_lists_do() -> None:
    """The fleet drew its AGE once: 37 s stayed 37 s for a minute, while the list's ages ticked."""
    clock = [NOW]

    class TickingApp(App[None]):
        def compose(self) -> ComposeResult:
            yield FleetTable(PROFILES, clock=lambda: clock[0], id="fleet")

    app = TickingApp()
    async with app.run_test(size=(120, 20)) as pilot:
        table = app.query_one(FleetTable)
        table.replace_profile("prod", [deployment(i, "running") for i in range(5)])
        await pilot.pause()
        assert table.tick() == 0  # nothing changed yet
        clock[0] = NOW + timedelta(hours=2)
        assert table.tick() == 5, "the ages on screen were not repainted"


def test_the_profile_column_fits_the_longest_profile_name_where_there_is_room() -> None:
    """At 120 columns the PROFILE column's share cut the demo's own "miosa-production" to 15 cells."""
    from shipdeck.tui.widgets.fleet_table import fleet_widths

    for total in (80, 120, 200):
        widths = fleet_widths(total, len("miosa-production"))
        assert sum(widths) + len(widths) - 1 == total
    assert fleet_widths(120, 16)[0] == 16 and fleet_widths(200, 16)[0] == 16
    assert fleet_widths(120, 7)[0] == 10  # never under its minimum, and the rest goes to NAME
    assert fleet_widths(120, 60)[0] == 24  # a very long name is cut, not the list
    assert fleet_widths(80, 16)[3] >= 14  # at 80 columns NAME keeps its minimum


async def test_the_fleets_filter_finds_a_name_as_its_column_writes_it() -> None:
    """'storefront (prod', typed from the fleet's NAME column, matched nothing: the fleet kept its own copy
    of the filter text, without the name as shown."""
    app = FleetApp()
    async with app.run_test(size=(120, 12)) as pilot:
        table = app.query_one(FleetTable)
        rows = [
            deployment(n, "running").model_copy(update={"name": "Storefront", "environment": env})
            for n, env in ((1, "production"), (2, "staging"))
        ]
        table.replace_profile("apps", rows)
        for typed, environment in (("storefront (prod", "production"), ("storefront (stg)", "staging")):
            table.set_filter(typed)
            await pilot.pause()
            assert [d.environment for d in table.visible_rows] == [environment], typed

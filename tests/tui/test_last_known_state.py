"""The console starts from the profile's last known list (config/cache.py): shown with its age while it
connects, and with "API unreachable" when the server is down at start; --no-cache and `cache = false` turn
it off. Through a real sim: start, quit, stop the sim, start again."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path

from textual.widgets import Static

from shipdeck.cli.app import console_options as cli_console_options
from shipdeck.config.cache import cache_file, read_cache
from shipdeck.config.loader import load_config
from shipdeck.live.state import ConnectionState
from shipdeck.tui.app import make_app
from shipdeck.tui.widgets.status_header import connection_text
from tests.tui.console_host import ADMIN, APP_NOW, console_options, console_sim, wait_for, wait_loaded


def header_connection(app: object) -> str:
    screen = app.main_screen  # type: ignore[attr-defined]
    return str(screen.query_one("#header-connection", Static).content)


async def test_the_last_known_list_is_shown_with_its_age_when_the_api_is_down_at_start(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache" / "deployments-demo.json"
    with console_sim(tmp_path) as sim:
        options = console_options(sim, tmp_path)
        options = type(options)(**{**options.__dict__, "cache_path": cache})
        app = make_app(options, clock=lambda: APP_NOW)
        async with app.run_test(size=(120, 40)) as pilot:
            table = await wait_loaded(pilot, app)
            names = sorted(dep.name for dep in table.visible_rows)
            assert names
        # Written on exit: owner-only, the rows' declared fields, no token.
        assert stat.S_IMODE(cache.stat().st_mode) == 0o600
        text = cache.read_text()
        assert ADMIN not in text
        saved = read_cache(cache)
        assert saved is not None and sorted(row["name"] for row in saved.rows) == names
        assert all(set(row) <= {*type(table.visible_rows[0]).model_fields} for row in saved.rows)
    # The sim is stopped: its port answers nothing now.
    later = APP_NOW + timedelta(minutes=3)
    app = make_app(options, clock=lambda: later)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.main_screen is not None and app.main_screen.is_mounted)
        table = app.main_screen.table  # type: ignore[union-attr]
        await wait_for(pilot, lambda: table.row_count == len(names), what="the cached rows")
        assert sorted(dep.name for dep in table.visible_rows) == names
        await wait_for(
            pilot, lambda: "API unreachable" in header_connection(app), what="the header saying so"
        )
        assert "as of 3 min ago" in header_connection(app)
    # What was never heard from the server is not saved over the last known list.
    assert json.loads(cache.read_text())["rows"] == json.loads(text)["rows"]


async def test_the_cached_list_gives_way_to_the_servers(tmp_path: Path) -> None:
    cache = tmp_path / "cache.json"
    with console_sim(tmp_path) as sim:
        options = console_options(sim, tmp_path)
        options = type(options)(**{**options.__dict__, "cache_path": cache})
        app = make_app(options, clock=lambda: APP_NOW)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_loaded(pilot, app)
        # A deployment deleted since: in the last known list, not on the server.
        body = json.loads(cache.read_text())
        body["rows"].append({**body["rows"][0], "id": "dep_ghost", "name": "deleted-since"})
        cache.write_text(json.dumps(body))
        again = make_app(options, clock=lambda: APP_NOW + timedelta(minutes=3))
        async with again.run_test(size=(120, 40)) as pilot:
            table = await wait_loaded(pilot, again)
            await wait_for(pilot, lambda: again.live.cached_at is None, what="the server's list")
            await wait_for(pilot, lambda: table.row("dep_ghost") is None, what="the deleted row gone")
            await wait_for(pilot, lambda: "as of" not in header_connection(again), what="the live header")


def test_the_header_says_how_old_the_last_known_list_is() -> None:
    assert connection_text(ConnectionState.CONNECTING, None, cached=185) == "◌ as of 3 min ago, connecting"
    assert connection_text(ConnectionState.OFFLINE, None, cached=7300) == "✖ as of 2 h ago, API unreachable"
    assert connection_text(ConnectionState.LIVE, 1, cached=40) == "● as of 40 s ago, loading"
    assert connection_text(ConnectionState.LIVE, 1) == "● live"


def test_no_cache_flag_and_config_key_turn_the_cache_off(tmp_path: Path, monkeypatch: object) -> None:
    config_path = tmp_path / "config.toml"
    config_path.write_text("cache = false\n")
    config = load_config(config_path)
    assert config.cache is False
    from shipdeck.config.profile import Profile, Secret

    profile = Profile("prod", "miosa", "https://api.example.test", Secret("msk_x"), environment="sandbox")
    assert cli_console_options(config, profile, []).cache_path is None
    on = load_config(tmp_path / "absent.toml")
    assert cli_console_options(on, profile, []).cache_path == cache_file("prod", "miosa", profile.base_url)
    assert cli_console_options(on, profile, [], cache=False).cache_path is None
    config_path.write_text('cache = "no"\n')
    try:
        load_config(config_path)
    except Exception as exc:  # a clear message, naming the key
        assert "cache" in str(exc) and "true or false" in str(exc)
    else:
        raise AssertionError("a non-boolean cache key was accepted")


def test_the_cache_key_ignores_a_loopback_port_but_not_the_server() -> None:
    a = cache_file("demo", "miosa", "http://127.0.0.1:4100/api/v1", Path("/c"))
    assert a == cache_file("demo", "miosa", "http://127.0.0.1:5200/api/v1", Path("/c"))
    assert a != cache_file("demo", "miosa", "https://api.example.test/api/v1", Path("/c"))
    assert a != cache_file("demo", "mixpeek", "http://127.0.0.1:4100/api/v1", Path("/c"))
    assert cache_file("../../etc", "miosa", "https://x.test", Path("/c")).parent == Path("/c")


async def test_the_list_is_saved_while_running_and_only_when_it_changed(tmp_path: Path) -> None:
    from shipdeck.live.timing import Timing

    cache = tmp_path / "cache.json"
    with console_sim(tmp_path) as sim:
        options = console_options(sim, tmp_path)
        options = type(options)(**{**options.__dict__, "cache_path": cache})
        app = make_app(options, clock=lambda: APP_NOW, timing=Timing(cache_interval=0.05))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_loaded(pilot, app)
            await wait_for(pilot, cache.exists, what="the periodic save")
            # What the save covered is read in the same step that saw it current: the sandbox's
            # deployments go on changing, so reading it a moment later could see a newer change.
            current: list[int] = []

            def save_is_current() -> bool:
                if app.live.stores != app.live.saved_stores:
                    return False
                current.append(app.live.stores)
                return True

            await wait_for(pilot, save_is_current, what="a current save")
            assert cache.stat().st_size > 0
            cache.unlink()
        # Unless a deployment changed meanwhile, exiting wrote nothing: the saved list was current.
        assert not cache.exists() or app.live.stores != current[-1], "saved again though nothing changed"


async def test_down_at_start_the_screenful_waits_for_the_server_and_keeps_its_version_numbers(
    tmp_path: Path,
) -> None:
    """Started while the API is down: no health is read into the outage (the start's screenful went on
    reads that failed, then the rows got 3 a minute, and their version numbers with them), so when the
    server is back every row on screen is read at once; and the version numbers of the last known list stay
    on the server's rows (its list names the active version by id only: they showed '-')."""
    from shipdeck.live.timing import Timing

    cache = tmp_path / "cache.json"
    fast = Timing(snapshot_retry_initial=0.05, poll_interval_max=0.5, health_screen_wait=0.1)
    with console_sim(tmp_path) as sim:
        options = console_options(sim, tmp_path)
        options = type(options)(**{**options.__dict__, "cache_path": cache})
        port = sim.port
        app = make_app(options, clock=lambda: APP_NOW)
        async with app.run_test(size=(120, 40)) as pilot:
            table = await wait_loaded(pilot, app)
            await wait_for(
                pilot,
                lambda: all(
                    d.active_version_number is not None for d in table.visible_rows if d.active_version_id
                ),
                what="every row's version number",
            )
            numbers = {d.id: (d.active_version_id, d.active_version_number) for d in table.visible_rows}
    # The sim is stopped: the console starts from the last known list and says the API is unreachable.
    app = make_app(options, clock=lambda: APP_NOW, timing=fast)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(
            pilot, lambda: "API unreachable" in header_connection(app), what="the header saying so"
        )
        monitor = app.live.health
        assert monitor is not None
        await wait_for(pilot, lambda: bool(monitor._shown), what="the screen telling health its rows")
        shown = set(monitor._shown)
        assert monitor.reads == 0, "health was read while the server could not answer"
        with console_sim(tmp_path, "--port", str(port)):
            await wait_for(pilot, lambda: app.live.cached_at is None, what="the server's list")
            table = app.main_screen.table  # type: ignore[union-attr]
            # (The sandbox's deployments go on changing: a row whose active version changed since is not
            # the last known list's any more.)
            same = [
                d for d in table.visible_rows if numbers.get(d.id, (None, None))[0] == d.active_version_id
            ]
            assert same and all(numbers[d.id][1] == d.active_version_number for d in same), numbers
            # The whole screenful at once, not 3 rows a minute (this waited minutes before).
            await wait_for(
                pilot, lambda: shown <= set(monitor._read_at), what="health of every row on screen"
            )

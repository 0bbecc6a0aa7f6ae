"""Hostile lists and fields: timestamps without a timezone, page cursors that never end, lists too long to
keep. The console keeps answering keys and says what is wrong; the CLI ends with one clear line."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from textual.widgets import Static

from shipdeck.api.base import MAX_PAGES
from shipdeck.live.state import MAX_LIST_KEPT, MAX_VERSIONS_KEPT
from shipdeck.tui.app import ShipdeckApp
from shipdeck.tui.screens.domains import DomainsScreen
from shipdeck.tui.screens.help import HelpScreen
from shipdeck.tui.widgets.versions_table import VersionsTable
from shipdeck.tui.widgets.virtual_table import VirtualTable
from tests.api.hostile import Handler, HostileServer, SeenRequest, Writer, response
from tests.cli.helpers import shipdeck
from tests.reliability.conftest import console_through
from tests.reliability.hostile_kit import answer, listing, routed, threaded
from tests.tui.console_host import composed, main_screen, notifications, wait_for
from tests.tui.screen_host import screen_text

TOKEN = "msk_u_hostile_test_secret"
SIZE = (120, 40)
NAIVE = "2026-01-01T00:00:00"
NAIVE_DEPLOYMENT = {
    "id": "dep_naive",
    "name": "naive-clock",
    "status": "running",
    "url": "https://naive.example",
    "active_version_id": "ver_naive",
    "created_at": NAIVE,
    "updated_at": NAIVE,
}
NAIVE_VERSION = {
    "id": "ver_naive",
    "deployment_id": "dep_naive",
    "number": 1,
    "status": "ready",
    "created_at": NAIVE,
    "promoted_at": "2026-01-01T01:00:00+01:00",
}


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIOSA_API_KEY", TOKEN)


def naive_server() -> Handler:
    return routed(
        {
            r"/versions$": listing(NAIVE_VERSION),
            r"/deployments$": listing(NAIVE_DEPLOYMENT),
            r"/deployments/dep_naive$": answer(json.dumps({"data": NAIVE_DEPLOYMENT}).encode()),
        }
    )


async def test_timestamps_without_a_timezone_are_read_as_utc_in_the_console(tmp_path: Path) -> None:
    with threaded(naive_server()) as server:
        app, adapter = console_through(server.url + "/api/v1", "miosa", tmp_path, token=TOKEN)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await composed(pilot, app)
            await wait_for(pilot, lambda: "dep_naive" in app.live.deployments)
            await wait_for(pilot, lambda: app.live.detail is not None and bool(app.live.detail.versions))
            created = app.live.deployments["dep_naive"].created_at
            assert created is not None and created.utcoffset() is not None
            # The versions tab and the table painted their ages, and the console still answers keys.
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
            await pilot.press("escape")
            assert main_screen(app).table.highlighted is not None
            assert not [m for m in notifications(app) if "unexpected" in m.lower()]
        await adapter.aclose()
    assert app.return_code in (None, 0)


def test_timestamps_without_a_timezone_are_read_as_utc_in_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    with threaded(naive_server()) as server:
        url = server.url + "/api/v1"
        listed = shipdeck(capsys, "--provider", "miosa", "--url", url, "--timeout", "5", "ls", "--json")
        versions = shipdeck(
            capsys, "--provider", "miosa", "--url", url, "--timeout", "5", "versions", "dep_naive", "--json"
        )
    assert listed.code == 0, listed
    assert '"created_at": "2026-01-01T00:00:00Z"' in listed.out, listed.out
    assert versions.code == 0, versions
    # An aware timestamp is kept as the same instant, told in UTC.
    assert '"promoted_at": "2026-01-01T00:00:00Z"' in versions.out, versions.out


def same_cursor() -> Handler:
    """Every page of deployments says the next one is at cursor 'again'."""
    page = {"data": [NAIVE_DEPLOYMENT], "next_cursor": "again"}
    return routed({r"/deployments$": answer(json.dumps(page).encode())})


def pages_forever(pause: float = 0.0) -> Handler:
    """Every page of deployments has a cursor no page had before (answered after ``pause`` seconds)."""
    served = [0]

    async def handler(request: SeenRequest, writer: Writer) -> None:
        served[0] += 1
        if pause:
            await asyncio.sleep(pause)
        row = {**NAIVE_DEPLOYMENT, "id": f"dep_{served[0]}", "name": f"page-{served[0]}"}
        writer.write(response(200, json.dumps({"data": [row], "next_cursor": f"c{served[0]}"}).encode()))

    return routed({r"/deployments$": handler})


def deployment_lists(server: HostileServer) -> int:
    return sum(1 for r in server.seen if r.path.split("?")[0].endswith("/deployments"))


def test_ls_stops_on_a_repeated_cursor(capsys: pytest.CaptureFixture[str]) -> None:
    with threaded(same_cursor()) as server:
        result = shipdeck(capsys, "--provider", "miosa", "--url", server.url + "/api/v1", "ls")
    assert result.code == 5, result
    assert result.err.strip() == (
        "shipdeck: error: Miosa deployments: the server gave the same page cursor twice (after 2 pages), "
        "so the list would never end; stopped paging"
    )
    assert deployment_lists(server) == 2


def test_ls_stops_past_the_page_cap(capsys: pytest.CaptureFixture[str]) -> None:
    with threaded(pages_forever()) as server:
        result = shipdeck(capsys, "--provider", "miosa", "--url", server.url + "/api/v1", "ls")
    assert result.code == 5, result
    assert f"more than {MAX_PAGES} pages" in result.err and "Traceback" not in result.err
    assert deployment_lists(server) == MAX_PAGES


def same_rows_new_cursor() -> Handler:
    """Every page of deployments holds the same ten rows, under a cursor no page had before."""
    served = [0]
    rows = [{**NAIVE_DEPLOYMENT, "id": f"dep_{n}", "name": f"same-{n}"} for n in range(10)]

    async def handler(request: SeenRequest, writer: Writer) -> None:
        served[0] += 1
        writer.write(response(200, json.dumps({"data": rows, "next_cursor": f"c{served[0]}"}).encode()))

    return routed({r"/deployments$": handler})


def test_ls_stops_on_a_page_of_rows_it_already_gave(capsys: pytest.CaptureFixture[str]) -> None:
    """New cursors, the same rows: ls sent 1000 requests before it stopped at the page cap."""
    with threaded(same_rows_new_cursor()) as server:
        result = shipdeck(capsys, "--provider", "miosa", "--url", server.url + "/api/v1", "ls")
    assert result.code == 5, result
    assert result.err.strip() == (
        "shipdeck: error: Miosa deployments: page 2 holds only rows earlier pages gave (under a new cursor), "
        "so the list would never end; stopped paging"
    )
    assert deployment_lists(server) == 2


async def test_the_live_list_stops_on_a_page_of_rows_it_already_gave() -> None:
    """The console's list pages through the same loop (follow_pages) and stops at the same page."""
    from shipdeck.api.errors import ProtocolError
    from shipdeck.api.factory import make_adapter
    from shipdeck.config.profile import Profile, Secret
    from shipdeck.live.state import LiveState

    with threaded(same_rows_new_cursor()) as server:
        adapter = make_adapter(
            Profile("hostile", "miosa", server.url + "/api/v1", Secret(TOKEN)), timeout=5.0
        )
        live = LiveState(adapter)
        with pytest.raises(ProtocolError, match="page 2 holds only rows earlier pages gave"):
            await live.load_all()
        await adapter.aclose()
    assert sorted(live.deployments) == [f"dep_{n}" for n in range(10)]
    assert deployment_lists(server) == 2


def test_the_timeout_bounds_the_whole_command_paging_included(capsys: pytest.CaptureFixture[str]) -> None:
    """Each page comes well within the per-request timeout, but the pages never end."""
    with threaded(pages_forever(pause=0.2)) as server:
        result = shipdeck(
            capsys, "--provider", "miosa", "--url", server.url + "/api/v1", "--timeout", "2", "ls"
        )
    assert result.code == 5, result
    assert result.err.strip() == "shipdeck: error: ls did not finish within --timeout 2 s (paging included)"
    assert 1 < deployment_lists(server) < MAX_PAGES


async def test_the_console_says_a_repeated_cursor_once_and_stops_asking(tmp_path: Path) -> None:
    with threaded(same_cursor()) as server:
        app, adapter = console_through(server.url + "/api/v1", "miosa", tmp_path, token=TOKEN)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await composed(pilot, app)
            await wait_for(pilot, lambda: any("same page cursor" in m for m in notifications(app)))
            # The first page is shown; the console keeps answering keys.
            await wait_for(pilot, lambda: "dep_naive" in app.live.deployments)
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
            await pilot.press("escape")
            asked = deployment_lists(server)
        await adapter.aclose()
    # Not thousands of requests: each listing stops at the repeat.
    assert asked < 20, asked


def many_versions(count: int) -> Handler:
    """One deployment with ``count`` versions, all in one page."""
    rows = [
        {"id": f"ver_{n}", "deployment_id": "dep_naive", "number": n, "status": "ready", "created_at": NAIVE}
        for n in range(1, count + 1)
    ]
    body = json.dumps({"data": rows, "next_cursor": None}).encode()
    return routed({r"/versions$": answer(body), r"/deployments$": listing(NAIVE_DEPLOYMENT)})


async def test_a_deployment_with_20000_versions_keeps_only_the_newest(tmp_path: Path) -> None:
    with threaded(many_versions(20_000)) as server:
        app, adapter = console_through(server.url + "/api/v1", "miosa", tmp_path, token=TOKEN)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await composed(pilot, app)
            await wait_for(pilot, lambda: (d := app.live.detail) is not None and d.versions is not None)
            detail = app.live.detail
            assert detail is not None and detail.versions is not None
            assert len(detail.versions) == MAX_VERSIONS_KEPT and detail.versions_total == 20_000
            assert {v.number for v in detail.versions} == set(range(20_001 - MAX_VERSIONS_KEPT, 20_001))
            pane = main_screen(app).detail
            table = pane.query_one(VersionsTable)
            await wait_for(pilot, lambda: table.row_count == MAX_VERSIONS_KEPT)
            cap = str(pane.query_one("#versions-cap", Static).render())
            assert cap == f"showing newest {MAX_VERSIONS_KEPT} of 20,000 versions"
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
            await pilot.press("escape")
        await adapter.aclose()


async def test_one_page_of_100000_versions_leaves_the_console_answering_keys(tmp_path: Path) -> None:
    """Parsed in a worker thread, kept to the newest few hundred, drawn virtually: help opens and q quits
    while (and after) the page is read."""
    with threaded(many_versions(100_000)) as server:
        app, adapter = console_through(server.url + "/api/v1", "miosa", tmp_path, token=TOKEN)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await composed(pilot, app)
            await wait_for(pilot, lambda: any("/versions" in r.path for r in server.seen))
            # While the page is being read and parsed, the console answers.
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen))
            loaded = lambda: (d := app.live.detail) is not None and d.versions is not None  # noqa: E731
            await wait_for(pilot, loaded, timeout=30)
            detail = app.live.detail
            assert detail is not None and detail.versions is not None
            assert len(detail.versions) == MAX_VERSIONS_KEPT and detail.versions_total == 100_000
            pane = main_screen(app).detail
            table = pane.query_one(VersionsTable)
            await wait_for(pilot, lambda: table.row_count == MAX_VERSIONS_KEPT)
            assert table.rows[0].number == 100_000
            cap = str(pane.query_one("#versions-cap", Static).render())
            assert cap == f"showing newest {MAX_VERSIONS_KEPT} of 100,000 versions"
            # The Versions tab draws the newest rows (only those on screen are rendered).
            assert "v100000" in table.render_line(1).text and "v99999" in table.render_line(2).text
            await pilot.press("q")
            await wait_for(pilot, lambda: not app.is_running)
        await adapter.aclose()


def miteos_more_forever() -> Handler:
    """Every page of Miteos deployments holds one row of another workspace and says there are more."""
    served = [0]

    async def handler(request: SeenRequest, writer: Writer) -> None:
        served[0] += 1
        row = {"id": f"d{served[0]}", "workspace_id": "other", "target": "vercel", "config_id": "c"}
        writer.write(response(200, json.dumps({"deployments": [row], "has_more": True}).encode()))

    return routed({r"/deployments": handler})


async def test_redeploy_config_lookup_stops_past_the_page_cap() -> None:
    """``deploy`` without --config pages the workspace's deployments for the last config: the one paging
    loop of the client bounds it like every other list (it used to page for as long as the server said so)."""
    from shipdeck.api.errors import ProtocolError
    from shipdeck.api.factory import make_adapter
    from shipdeck.api.miteos import MiteosAdapter
    from shipdeck.config.profile import Profile, Secret

    with threaded(miteos_more_forever()) as server:
        profile = Profile("hostile", "miteos", server.url + "/v1", Secret("mt_live_hostile"))
        adapter = make_adapter(profile, timeout=5.0)
        assert isinstance(adapter, MiteosAdapter)
        with pytest.raises(ProtocolError, match=f"more than {MAX_PAGES} pages"):
            await adapter.last_config("ws_1", "vercel")
        await adapter.aclose()
    assert deployment_lists(server) == MAX_PAGES


def many_domains_and_env(count: int) -> Handler:
    """One deployment with ``count`` domains and ``count`` env vars, each list in one answer."""
    domains = [{"id": f"dom_{n}", "domain": f"d{n}.example.com", "status": "active"} for n in range(count)]
    env = [{"key": f"VAR_{n}", "value": "***"} for n in range(count)]
    return routed(
        {
            r"/domains$": answer(json.dumps({"data": domains}).encode()),
            r"/env(\?|$)": answer(json.dumps({"data": env}).encode()),
            r"/versions$": listing(NAIVE_VERSION),
            r"/deployments$": listing(NAIVE_DEPLOYMENT),
            r"/deployments/dep_naive$": answer(json.dumps({"data": NAIVE_DEPLOYMENT}).encode()),
        }
    )


async def test_100000_domains_and_env_vars_leave_the_console_answering_keys(tmp_path: Path) -> None:
    """Parsed in a worker thread, the first MAX_LIST_KEPT kept and told as such, in the detail's tabs and
    on the domains screen: help opens while (and after) the lists are read, and q quits."""
    from shipdeck.tui.widgets.detail_pane import DomainsList, EnvList

    with threaded(many_domains_and_env(100_000)) as server:
        app, adapter = console_through(server.url + "/api/v1", "miosa", tmp_path, token=TOKEN)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await composed(pilot, app)
            await wait_for(pilot, lambda: any("/domains" in r.path for r in server.seen))
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen))

            def loaded() -> bool:
                detail = app.live.detail
                return detail is not None and detail.domains is not None and detail.env is not None

            await wait_for(pilot, loaded, timeout=30)
            detail = app.live.detail
            assert detail is not None and detail.domains is not None and detail.env is not None
            assert len(detail.domains) == MAX_LIST_KEPT and detail.domains_total == 100_000
            assert len(detail.env) == MAX_LIST_KEPT and detail.env_total == 100_000
            pane = main_screen(app).detail
            domains_list, env_list = pane.query_one(DomainsList), pane.query_one(EnvList)  # virtual tables
            await wait_for(pilot, lambda: domains_list.row_count == env_list.row_count == MAX_LIST_KEPT)
            domains_cap = str(pane.query_one("#domains-cap", Static).render())
            env_cap = str(pane.query_one("#env-cap", Static).render())
            assert domains_cap == f"showing the first {MAX_LIST_KEPT} of 100,000 domains"
            assert env_cap == f"showing the first {MAX_LIST_KEPT} of 100,000 environment variables"
            # The domains screen reads the list itself: the same cap, and the console still answers.
            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, DomainsScreen))
            screen = app.screen
            assert isinstance(screen, DomainsScreen)
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
            await pilot.press("escape")
            await wait_for(pilot, lambda: len(screen.domains) == MAX_LIST_KEPT, timeout=30)
            assert screen.domains_total == 100_000
            cap = str(screen.query_one("#domains-cap", Static).render())
            assert cap == f"showing the first {MAX_LIST_KEPT} of 100,000 domains"
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, DomainsScreen))
            await pilot.press("q")
            await wait_for(pilot, lambda: not app.is_running)
        await adapter.aclose()


async def test_the_last_kept_domain_and_variable_can_be_selected_and_acted_on(tmp_path: Path) -> None:
    """The Domains and Env tabs and the domains screen are lists with a cursor: End puts it on the last row
    kept (the 500th of 2,000), which is then on screen, and y copies that row's name; on the domains screen
    the detail follows the cursor and v verifies the domain under it. Keys in, screen and clipboard out."""
    with threaded(many_domains_and_env(2_000)) as server:
        app, adapter = console_through(server.url + "/api/v1", "miosa", tmp_path, token=TOKEN)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await composed(pilot, app)
            pane = main_screen(app).detail
            last = MAX_LIST_KEPT - 1
            await wait_for(pilot, lambda: lists_loaded(app), what="domains and env read")
            for tab, name in (("tab-domains", f"d{last}.example.com"), ("tab-env", f"VAR_{last}")):
                pane.show_tab(tab)
                await wait_for(pilot, lambda t=tab: pane.active_tab == t)  # type: ignore[misc]
                # What the tab holds takes the focus, as a click or tab would give it, once it shows every
                # row kept: End pressed before the rows were shown went to the end of a shorter list.
                target = next(w for w in pane.query_one(f"#{tab}").query("*") if w.focusable)
                assert isinstance(target, VirtualTable)
                await wait_for(
                    pilot,
                    lambda t=target: t.row_count == MAX_LIST_KEPT,  # type: ignore[misc]
                    what=f"the {tab} list's rows",
                )
                target.focus()
                await pilot.press("end")
                await wait_for(pilot, lambda n=name: n in screen_text(app), what=f"{name} on screen")  # type: ignore[misc]
                await pilot.press("y")
                await wait_for(pilot, lambda n=name: app.clipboard == n, what=f"{name} copied")  # type: ignore[misc]
            main_screen(app).table.focus()
            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, DomainsScreen))
            screen = app.screen
            assert isinstance(screen, DomainsScreen)
            await wait_for(pilot, lambda: len(screen.domains) == MAX_LIST_KEPT)
            await pilot.press("end")
            detail = f"d{last}.example.com: active"
            await wait_for(pilot, lambda: detail in screen_text(app), what="the detail of the last row")
            await pilot.press("y")
            await wait_for(pilot, lambda: app.clipboard == f"d{last}.example.com")
            await pilot.press("v")
            verify = f"/domains/dom_{last}/verify"
            await wait_for(pilot, lambda: any(r.path.split("?")[0].endswith(verify) for r in server.seen))
            await pilot.press("escape")
        await adapter.aclose()


def lists_loaded(app: ShipdeckApp) -> bool:
    detail = app.live.detail
    return detail is not None and detail.domains is not None and detail.env is not None

"""The Domains screen on a Mixpeek app (the same screen as Miosa's), against a real `shipdeck sim`: add shows
Mixpeek's TXT record (``_mixpeek-verify.<domain>``) and CNAME, verify moves it through ``verifying`` to
``active``; a snapshot pins what the person reads (80x24 and 120x40, fixed seed and epoch)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.pilot import Pilot

from shipdeck.model import Deployment
from shipdeck.tui.screens.domains import DomainsScreen
from tests.simproc import SimServer
from tests.tui.screen_host import ScreenHost, eventually, frozen_sim, get_json, profile_for, screen_text
from tests.tui.test_domains import add_domain, domains_screen, selected_name


@pytest.fixture(scope="module")
def mixpeek_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    with frozen_sim(tmp_path_factory.mktemp("mixpeek-domains"), speed=50.0) as server:
        yield server


@pytest.fixture(scope="module")
def still_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    with frozen_sim(tmp_path_factory.mktemp("mixpeek-domains-snap"), speed=0.0001) as server:
        yield server


def app_row(sim: SimServer, slug: str) -> Deployment:
    headers = {"Authorization": "Bearer sk_demo"}
    app = httpx.get(sim.mixpeek, params={"slug": slug}, headers=headers, timeout=10).json()["results"][0]
    return Deployment(id=f"{app['app_id']}@production", provider="mixpeek", name=app["meta"]["title"])


def host(sim: SimServer, tmp_path: Path, dep: Deployment) -> ScreenHost:
    return ScreenHost(
        profile_for(sim, "mixpeek"), tmp_path / "audit.jsonl", lambda a, r: DomainsScreen(a, r, dep)
    )


async def server_status(sim: SimServer, dep: Deployment, name: str) -> str | None:
    answer = await get_json(sim, "mixpeek", f"/{dep.id.split('@')[0]}/domains")
    return next((d["status"] for d in answer["domains"] if d["domain"] == name), None)


async def test_add_shows_the_txt_record_then_verify_goes_active(
    mixpeek_sim: SimServer, tmp_path: Path
) -> None:
    dep = app_row(mixpeek_sim, "docs-portal")
    name = "docs.example.com"
    app = host(mixpeek_sim, tmp_path, dep)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await domains_screen(pilot)
        await add_domain(pilot, name)
        await eventually(lambda: selected_name(screen) == name, what="new domain selected")
        assert await server_status(mixpeek_sim, dep, name) == "pending"
        lines = screen.detail_lines()
        assert any(f"_mixpeek-verify.{name} TXT mixpeek-site-verification=" in line for line in lines)
        assert any(f"{name} CNAME apps.mxp.co" in line for line in lines)
        await pilot.press("y")
        assert app.clipboard and app.clipboard.splitlines()[0].startswith(f"_mixpeek-verify.{name} TXT")
        await pilot.press("v")
        await eventually(lambda: "Verifying: " in screen_text(app), what="verifying shown")

        async def active() -> bool:
            return await server_status(mixpeek_sim, dep, name) == "active"

        await eventually(active, what="domain active on the server")
        await pilot.press("v")
        await eventually(lambda: "Active: traffic" in screen_text(app), what="active shown")


def stage_domain(name: str) -> Callable[[Pilot[Any]], Any]:
    async def staged(pilot: Pilot[Any]) -> None:
        screen = await domains_screen(pilot)
        await add_domain(pilot, name)
        await eventually(lambda: selected_name(screen) == name, what="domain added")
        # The change's outcome toast is told (tested elsewhere); the snapshot is of the screen under it.
        await eventually(lambda: any("added" in m for m in pilot.app.messages), what="the outcome toast")  # type: ignore[attr-defined]
        pilot.app.clear_notifications()
        await pilot.pause()

    return staged


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_mixpeek_domains_screen(
    snap_compare: Callable[..., bool], still_sim: SimServer, tmp_path: Path, size: tuple[int, int]
) -> None:
    # Each size adds its own name to its own app (a name belongs to one app), so both show one pending domain.
    slug, name = (
        ("storefront", "shop.example.com") if size[0] == 80 else ("status-page", "status.example.com")
    )
    dep = app_row(still_sim, slug)
    assert snap_compare(host(still_sim, tmp_path, dep), terminal_size=size, run_before=stage_domain(name))

"""The Miteos deploy form: ``p`` on a Miteos row opens it prefilled from the row; ctrl+s triggers the
deployment through the ActionRunner (audited), the new deployment is selected and its pipeline shown as it
moves; bad input is refused in the form; a read-only profile sends nothing. Snapshots at 80x24 and 120x40."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from shipdeck.config.console_options import ConsoleOptions
from shipdeck.config.profile import Profile, Secret
from shipdeck.config.themes import load_themes
from shipdeck.live.state import ConnectionState
from shipdeck.tui.app import ShipdeckApp
from shipdeck.tui.screens.deploy_form import DeployForm
from tests.conftest import MITEOS_TOKEN
from tests.simproc import SimServer
from tests.tui.console_host import (
    console_app,
    console_sim,
    main_screen,
    notifications,
    steady_cursors,
    titled_notifications,
    wait_for,
    wait_for_screen,
    wait_loaded,
)


def miteos_options(sim: SimServer, tmp_path: Path, *, read_only: bool = False) -> ConsoleOptions:
    profile = Profile(
        "mt", "miteos", sim.miteos, Secret(MITEOS_TOKEN), environment="production", read_only=read_only
    )
    catalog = load_themes()
    return ConsoleOptions(
        profile=profile,
        theme_specs=catalog.themes,
        theme_problems=catalog.problems,
        audit_path=tmp_path / "a.jsonl",
    )


def server_deployments(sim: SimServer) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {MITEOS_TOKEN}"}
    body = httpx.get(f"{sim.miteos}/deployments", params={"limit": 100}, headers=headers, timeout=10).json()
    return list(body["deployments"])


def docs_row(sim: SimServer) -> dict[str, Any]:
    """The live docs deployment (a pending one is re-read while it moves: its requests would change the
    header's budget between runs)."""
    return next(
        d for d in server_deployments(sim) if d["workspace_id"] == "ws_docs_portal" and d["status"] == "live"
    )


async def open_form(pilot: Pilot[Any], app: ShipdeckApp, row_id: str) -> DeployForm:
    await wait_loaded(pilot, app)
    assert main_screen(app).table.move_to(row_id)
    await wait_for(
        pilot, lambda: (current := main_screen(app).current()) is not None and current.id == row_id
    )
    await pilot.press("p")
    form = await wait_for_screen(pilot, app, DeployForm)
    await wait_for(pilot, lambda: form.query_one("#df-workspace", Input).value != "")
    return form


@pytest.fixture(scope="module")
def deploy_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    with console_sim(tmp_path_factory.mktemp("deploy-form")) as server:
        yield server


async def test_p_on_a_miteos_row_deploys_it_again_and_follows_the_new_deployment(
    deploy_sim: SimServer, tmp_path: Path
) -> None:
    row = docs_row(deploy_sim)
    before = {d["id"] for d in server_deployments(deploy_sim)}
    app = console_app(miteos_options(deploy_sim, tmp_path))
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        form = await open_form(pilot, app, row["id"])
        assert form.query_one("#df-workspace", Input).value == "ws_docs_portal"
        assert form.query_one("#df-config", Input).value == row["config_id"]
        assert form.sandbox and "Sandbox mode" in str(form.query_one("#deploy-mode").render())
        # The profile's environment, with the test key's sandbox mode beside it (the badge said SANDBOX
        # alone, where the Tasks header named the profile's environment).
        badge = str(form.query_one("#deploy-badge").render())
        assert badge.startswith("PRODUCTION · sandbox mode · deploy to "), badge
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, DeployForm))

        def new_one() -> list[dict[str, Any]]:
            return [d for d in server_deployments(deploy_sim) if d["id"] not in before]

        await wait_for(pilot, new_one)
        created = new_one()[0]
        assert (created["workspace_id"], created["target"], created["config_id"]) == (
            "ws_docs_portal",
            "netlify",
            row["config_id"],
        )

        # The new deployment is the selected row, and its stages move to the end.
        def selected() -> bool:
            current = main_screen(app).current()
            return current is not None and current.id == created["id"]

        await wait_for(pilot, selected)
        await wait_for(pilot, lambda: any(created["id"] in m and "sandbox" in m for m in notifications(app)))
        # Taken, the deploy has started (its first toast said "deploy: done" and read as the end).
        assert ("deploy: started", next(m for m in notifications(app) if created["id"] in m)) in (
            titled_notifications(app)
        )

        def finished() -> bool:
            detail = app.live.detail
            runs = detail.runs if detail is not None and detail.deployment_id == created["id"] else None
            return bool(runs) and runs[0].status in ("live", "failed")  # type: ignore[index]

        await wait_for(pilot, finished, timeout=30)
        # And it says how the deploy ended, whichever way (the toast said "deploy: done" when the request
        # was taken, and nothing of a build that failed after).
        ended = server_deployments(deploy_sim)
        status = next(d["status"] for d in ended if d["id"] == created["id"])
        await wait_for(
            pilot,
            lambda: any(
                title == f"deploy: {'live' if status == 'live' else 'failed'}" and status in message
                for title, message in titled_notifications(app)
            ),
            what=f"the deploy's end ({status}) told",
        )
    audit = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in audit if r["action"] == "deploy"] == ["intent", "outcome"]


async def test_bad_input_is_refused_in_the_form_and_read_only_sends_nothing(
    deploy_sim: SimServer, tmp_path: Path
) -> None:
    row = docs_row(deploy_sim)
    before = len(server_deployments(deploy_sim))
    app = console_app(miteos_options(deploy_sim, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot, app, row["id"])
        form.query_one("#df-config", Input).value = "cfg with spaces"
        await pilot.press("ctrl+s")
        await wait_for(
            pilot,
            lambda: "Configuration: an id without spaces" in str(form.query_one("#deploy-error").render()),
        )
        assert isinstance(app.screen, DeployForm)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, DeployForm))
    read_only = console_app(miteos_options(deploy_sim, tmp_path, read_only=True))
    async with read_only.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_loaded(pilot, read_only)
        await pilot.press("p")
        await wait_for(pilot, lambda: any("read-only" in m for m in notifications(read_only)))
        assert not isinstance(read_only.screen, DeployForm)
    assert len(server_deployments(deploy_sim)) == before


@pytest.fixture
def still_sim(tmp_path: Path) -> Iterator[SimServer]:
    # One per snapshot: the header's budget counts this run's requests only.
    with console_sim(tmp_path, "--rate-limit", "1000000", speed=0.0001) as server:
        yield server


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_miteos_deploy_form(
    snap_compare: Callable[..., bool], still_sim: SimServer, tmp_path: Path, size: tuple[int, int]
) -> None:
    row_id = docs_row(still_sim)["id"]

    async def opened(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, ShipdeckApp)
        await open_form(pilot, app, row_id)
        await wait_for(pilot, lambda: app.live.connection is ConnectionState.LIVE)
        app.clear_notifications()
        steady_cursors(app)
        await wait_for(pilot, lambda: not notifications(app))

    assert snap_compare(
        console_app(miteos_options(still_sim, tmp_path)), terminal_size=size, run_before=opened
    )

"""Server text that holds escape sequences or markup is shown as literal text, never interpreted.

A deployment name with an OSC 52 sequence must not write the clipboard, a log line with CSI must not
recolour or clear the screen, ``[bold]`` must print as typed and ``[@click=app.quit]`` must not become a
button. Checked in what the console really renders (every screen that shows server text) and in what
the scriptable commands print (plain and --json). The hostile text is written into a real
``shipdeck sim`` through its own API (names, sandbox ids that end up in build logs, env values, deploy
messages, task prompts); error messages come from a small hostile server.
"""

from __future__ import annotations

import asyncio
import io
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from textual.app import App, ComposeResult
from textual.command import CommandInput, CommandPalette

from shipdeck.cli.app import run
from shipdeck.cli.output import print_json, terminal_safe
from shipdeck.config.console_options import ConsoleOptions
from shipdeck.config.profile import Profile, Secret
from shipdeck.live.state import DeploymentDetail
from shipdeck.model import Deployment, Domain
from shipdeck.tui.app import ShipdeckApp
from shipdeck.tui.screens.dialogs import ConfirmDialog, PublishForm
from shipdeck.tui.screens.domains import DomainsScreen
from shipdeck.tui.screens.env_editor import EnvDiffScreen, EnvEditorScreen
from shipdeck.tui.screens.logs import LogsScreen
from shipdeck.tui.screens.main import MainScreen
from shipdeck.tui.screens.tasks import TasksScreen
from shipdeck.tui.text import INVISIBLE_CHARS, literal
from shipdeck.tui.widgets.detail_pane import TAB_IDS, DetailPane
from shipdeck.tui.widgets.event_log import EventLog
from tests.cli.helpers import Result, shipdeck, write_config
from tests.conftest import ADMIN, MITEOS_TOKEN, MIXPEEK_TOKEN
from tests.reliability.safety_kit import (
    HOSTILE,
    MARKUP,
    EchoServer,
    assert_terminal_safe,
    echo_server,
    flat,
    miosa_post,
    screen_output,
    unsafe_characters,
)
from tests.simproc import SimServer, running_sim
from tests.tui.console_host import (
    APP_NOW,
    SimHttp,
    console_app,
    console_options,
    console_sim,
    main_screen,
    notifications,
    settled,
    wait_for,
    wait_for_screen,
    wait_loaded,
)

HOSTILE_ENV_VALUE = "\x1b]52;c;aGk=\x07-middle-\x1b[2J\x07"


@pytest.fixture(scope="module")
def hostile_sim() -> Iterator[SimServer]:
    """A simulator of this module's own with hostile text in it (the shared one stays clean)."""
    with running_sim(speed=50.0) as server:
        yield server


@pytest.fixture(scope="module")
def hostile_deployment(hostile_sim: SimServer) -> dict[str, Any]:
    created: dict[str, Any] = miosa_post(hostile_sim.miosa, "/deployments", {"name": HOSTILE})["data"]
    miosa_post(
        hostile_sim.miosa,
        f"/deployments/{created['id']}/env",
        {"env": {"HOSTILE_VALUE": HOSTILE_ENV_VALUE}},
    )
    return created


@pytest.fixture
def cli_profiles(hostile_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    config = f"""\
default_profile = "sim"

[profiles.sim]
provider = "miosa"
base_url = "{hostile_sim.miosa}"
token_env = "SIM_TOKEN"

[profiles.mixpeek]
provider = "mixpeek"
base_url = "{hostile_sim.mixpeek}"
token_env = "SIM_MIXPEEK_TOKEN"
"""
    monkeypatch.setenv("SHIPDECK_CONFIG", str(write_config(tmp_path / "config.toml", config)))
    monkeypatch.setenv("SIM_TOKEN", ADMIN)
    monkeypatch.setenv("SIM_MIXPEEK_TOKEN", MIXPEEK_TOKEN)
    return hostile_sim


def assert_output_safe(result: Result, what: str) -> None:
    assert_terminal_safe(result.out, f"{what}: stdout")
    assert_terminal_safe(result.err, f"{what}: stderr")


# -- scriptable commands -------------------------------------------------------------------------------


def test_names_print_literally_in_plain_and_json_output(
    capsys: pytest.CaptureFixture[str], cli_profiles: SimServer, hostile_deployment: dict[str, Any]
) -> None:
    listing = shipdeck(capsys, "ls")
    assert listing.code == 0, listing.err
    assert_output_safe(listing, "ls")
    assert MARKUP in listing.out

    status = shipdeck(capsys, "status", hostile_deployment["id"])
    assert status.code == 0, status.err
    assert_output_safe(status, "status")
    assert MARKUP in status.out

    as_json = shipdeck(capsys, "ls", "--json")
    assert as_json.code == 0, as_json.err
    assert_output_safe(as_json, "ls --json")
    # JSON keeps the exact text, escaped: a program reading it loses nothing.
    names = [row["name"] for row in json.loads(as_json.out)]
    assert HOSTILE in names

    # The watch's JSON lines too (they wrote a server's C1 controls raw): its first line, then ^C.
    watch = subprocess.Popen(
        [sys.executable, "-m", "shipdeck", "status", hostile_deployment["id"], "--watch", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert watch.stdout is not None
        first = watch.stdout.readline().decode()  # the watch prints its first line at once
    finally:
        watch.send_signal(signal.SIGINT)
        watch.communicate(timeout=60)
    assert_terminal_safe(first, "status --watch --json")
    assert json.loads(first)["deployment"]["name"] == HOSTILE


def test_env_previews_print_literally(
    capsys: pytest.CaptureFixture[str], cli_profiles: SimServer, hostile_deployment: dict[str, Any]
) -> None:
    plain = shipdeck(capsys, "env", hostile_deployment["id"])
    assert plain.code == 0, plain.err
    assert_output_safe(plain, "env")
    assert "HOSTILE_VALUE" in plain.out
    as_json = shipdeck(capsys, "env", hostile_deployment["id"], "--json")
    assert_output_safe(as_json, "env --json")
    previews = {row["name"]: row["preview"] for row in json.loads(as_json.out)}
    # The API masks the middle; the ends it shows are kept exactly in JSON.
    assert previews["HOSTILE_VALUE"].startswith(HOSTILE_ENV_VALUE[:3])


def test_deploy_messages_print_literally(capsys: pytest.CaptureFixture[str], cli_profiles: SimServer) -> None:
    published = shipdeck(
        capsys, "--profile", "mixpeek", "publish", "docs-portal@staging", "--message", HOSTILE, "--yes"
    )
    assert published.code == 0, published.err
    assert_output_safe(published, "publish")
    versions = _wait_for_version_with_message(capsys, HOSTILE)
    assert_output_safe(versions, "versions")
    # The table shortens long messages; what it shows is the text as sent, escapes made visible.
    assert "?[31mR?[0m" in versions.out
    as_json = shipdeck(capsys, "--profile", "mixpeek", "versions", "docs-portal@staging", "--json")
    assert_output_safe(as_json, "versions --json")
    assert HOSTILE in [row["message"] for row in json.loads(as_json.out)]


def _wait_for_version_with_message(capsys: pytest.CaptureFixture[str], message: str) -> Result:
    deadline = time.monotonic() + 30
    while True:
        as_json = shipdeck(capsys, "--profile", "mixpeek", "versions", "docs-portal@staging", "--json")
        if as_json.code == 0 and message in [row["message"] for row in json.loads(as_json.out)]:
            return shipdeck(capsys, "--profile", "mixpeek", "versions", "docs-portal@staging")
        assert time.monotonic() < deadline, "the hostile deploy never became a version"
        time.sleep(0.2)


@pytest.mark.parametrize("status", [403, 422, 404])
def test_server_error_messages_print_literally(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    monkeypatch.setenv("MIOSA_API_KEY", ADMIN)
    with echo_server(EchoServer(status=status, message=HOSTILE)) as server:
        result = shipdeck(capsys, "--provider", "miosa", "--url", server.root + "/api/v1", "ls")
        assert server.seen_authorization, "the command never reached the hostile server"
    assert result.code != 0
    assert_output_safe(result, f"error {status}")
    assert MARKUP in result.err
    assert len(result.err.strip().splitlines()) == 1, result.err


def test_a_typed_name_that_matches_nothing_is_echoed_literally(
    capsys: pytest.CaptureFixture[str], cli_profiles: SimServer
) -> None:
    result = shipdeck(capsys, "status", "no-such-name-" + MARKUP)
    assert result.code == 4, result.err
    assert_output_safe(result, "not found")
    assert MARKUP in result.err
    # A name with control characters is refused before anything is sent (usage), and said safely.
    result = shipdeck(capsys, "status", "no-such-" + HOSTILE)
    assert result.code == 2, result.err
    assert_output_safe(result, "refused name")


# -- the console -----------------------------------------------------------------------------------------

TASK_PROMPT = MARKUP + HOSTILE  # the Tasks table shows the first 40 characters of a prompt


class Walk:
    """Collects what each screen rendered, asserting on the way that no control character reached it."""

    def __init__(self, app: ShipdeckApp) -> None:
        self.app = app
        self.texts: dict[str, str] = {}

    def look(self, where: str) -> str:
        output = screen_output(self.app)
        output.assert_safe(where)
        self.texts[where] = output.text
        return output.text


def publish_hostile(sim: SimServer, deployment_id: str) -> None:
    miosa_post(sim.miosa, f"/deployments/{deployment_id}/publish", {"source_sandbox_id": HOSTILE})


def hostile_miosa_data(sim: SimServer) -> dict[str, Any]:
    created: dict[str, Any] = miosa_post(sim.miosa, "/deployments", {"name": HOSTILE})["data"]
    # The sandbox id is echoed by the build ("Cloning sandbox snapshot ..."): hostile build log lines.
    publish_hostile(sim, created["id"])
    miosa_post(sim.miosa, f"/deployments/{created['id']}/env", {"env": {"HOSTILE_VALUE": HOSTILE_ENV_VALUE}})
    response = httpx.post(
        sim.miteos + "/tasks",
        json={"prompt": TASK_PROMPT},
        headers={"Authorization": f"Bearer {MITEOS_TOKEN}"},
        timeout=10,
    )
    assert response.status_code < 300, response.text
    http = SimHttp(sim)
    deadline = time.monotonic() + 30
    while not any(v["state"] in ("ready", "failed") for v in http.versions(created["id"])):
        assert time.monotonic() < deadline, "the hostile publish never finished building"
        time.sleep(0.1)
    return created


async def test_every_screen_shows_hostile_server_text_literally(tmp_path: Path) -> None:
    with console_sim(tmp_path) as sim:
        hostile = hostile_miosa_data(sim)
        app = console_app(console_options(sim, tmp_path, with_tasks=True))
        # Wide enough for the whole hostile name (near the 100-character limit) beside the ERRORS column.
        async with app.run_test(size=(260, 50)) as pilot:
            walk = Walk(app)
            await wait_loaded(pilot, app)
            main = main_screen(app)
            main_screen(app).go_to(hostile["id"])
            await wait_for(
                pilot, lambda: app.live.detail is not None and app.live.detail.deployment_id == hostile["id"]
            )
            await wait_for(
                pilot, lambda: bool(app.live.detail and app.live.detail.versions and app.live.detail.env)
            )
            await settled(pilot, app)
            assert MARKUP in walk.look("deployments table")
            for tab in TAB_IDS:
                main.detail.show_tab(tab)
                await settled(pilot, app)
                walk.look(f"detail tab {tab}")
            assert "HOSTILE_VALUE" in walk.texts["detail tab tab-env"]
            main.table.focus()
            await pilot.press("r")  # one version only: refused with the name in the notification
            await wait_for(pilot, lambda: any(MARKUP in n for n in notifications(app)))
            await settled(pilot, app)
            walk.look("rollback refusal toast")

            # A second build while the console watches: its log lines arrive as events.
            await asyncio.to_thread(publish_hostile, sim, hostile["id"])
            main.detail.show_tab("tab-events")
            events = main.detail.query_one("#events-log", EventLog)
            await wait_for(pilot, lambda: any(MARKUP in line for line in events.lines))
            await settled(pilot, app)
            walk.look("events tab, live")

            await pilot.press("l")
            await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen))
            logs = app.screen
            assert isinstance(logs, LogsScreen)
            await wait_for(pilot, lambda: any(MARKUP in line for line in logs.log_view.lines))
            await settled(pilot, app)
            assert MARKUP in walk.look("logs screen")
            await pilot.press("escape")

            for key, screen_type, where in (
                ("p", PublishForm, "publish form"),
                ("d", DomainsScreen, "domains screen"),
                ("e", EnvEditorScreen, "env editor"),
            ):
                await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
                main.table.focus()
                await pilot.press(key)
                await wait_for(pilot, lambda t=screen_type: isinstance(app.screen, t))  # type: ignore[misc]
                await settled(pilot, app)
                walk.look(where)
                await pilot.press("escape")

            # The env diff names the deployment too: stage a delete of the hostile variable, review it.
            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
            main.table.focus()
            await pilot.press("e")
            await wait_for(pilot, lambda: isinstance(app.screen, EnvEditorScreen))
            editor = app.screen
            assert isinstance(editor, EnvEditorScreen)
            await wait_for(pilot, lambda: "HOSTILE_VALUE" in editor.current)
            editor.stage("HOSTILE_VALUE", None)
            await pilot.press("s")
            await wait_for(pilot, lambda: isinstance(app.screen, EnvDiffScreen))
            await settled(pilot, app)
            assert MARKUP in walk.look("env diff")
            await pilot.press("escape")
            editor.staged.clear()
            await pilot.press("escape")

            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
            await pilot.press("ctrl+p")
            palette = await wait_for_screen(pilot, app, CommandPalette)
            await wait_for(pilot, lambda: palette.query_one(CommandInput).has_focus)
            await pilot.press(*"bold")
            await settled(pilot, app)
            walk.look("command palette")
            await pilot.press("escape")

            # Confirmations name the deployment: redeploy, and rollback once the second build is ready.
            def two_ready_versions() -> bool:
                detail = app.live.detail
                versions = detail.versions if detail and detail.deployment_id == hostile["id"] else None
                return sum(v.state == "ready" for v in versions or []) >= 2

            await wait_for(pilot, two_ready_versions, timeout=30)
            for key in ("R", "r"):
                await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
                main.table.focus()
                await pilot.press(key)
                await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
                await settled(pilot, app)
                assert MARKUP in flat(walk.look(f"confirm dialog {key}"))
                await pilot.press("escape")

            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
            main.table.focus()
            await pilot.press("t")
            await wait_for(pilot, lambda: isinstance(app.screen, TasksScreen))
            tasks = app.screen
            assert isinstance(tasks, TasksScreen)
            await wait_for(pilot, lambda: any(t.prompt == TASK_PROMPT for t in tasks.tasks))
            await settled(pilot, app)
            assert MARKUP in walk.look("tasks screen")
            assert app.is_running  # [@click=app.quit] was never a button


async def test_domain_names_and_unavailable_reasons_in_the_detail_pane_are_literal(tmp_path: Path) -> None:
    """The simulator refuses such domain names, and its errors are polite; a hostile server is neither, so
    the pane is fed directly: a hostile domain, and the reasons shown when a part could not be read."""
    pane_host = DetailPaneHost()
    async with pane_host.run_test(size=(160, 20)) as pilot:
        pane = pane_host.query_one(DetailPane)
        deployment = Deployment(id="dep_1", provider="miosa", name=HOSTILE, state="running")
        domain = Domain(id="dom_1", name=HOSTILE, status="failed", error=HOSTILE)
        detail = DeploymentDetail(deployment_id="dep_1", domains=[domain], versions=[], env=[], runs=[])
        pane.show(deployment, detail)
        pane.show_tab("tab-domains")
        await pilot.pause()
        output = screen_output(pane_host)
        output.assert_safe("domains tab")
        assert MARKUP in output.text

        reasons = {
            part: f"could not read {part}: {HOSTILE}" for part in ("versions", "runs", "domains", "env")
        }
        pane.show(deployment, DeploymentDetail(deployment_id="dep_1", unavailable=reasons))
        for tab in TAB_IDS[:4]:
            pane.show_tab(tab)
            await pilot.pause()
            output = screen_output(pane_host)
            output.assert_safe(f"{tab}, part unavailable")
            assert MARKUP in output.text, tab


async def test_server_error_messages_are_literal_in_the_console(tmp_path: Path) -> None:
    with echo_server(EchoServer(status=403, message=HOSTILE)) as server:
        app = console_app(console_options_for(server.root + "/api/v1", tmp_path))
        async with app.run_test(size=(200, 30)) as pilot:
            await wait_for(pilot, lambda: "could not list deployments" in screen_output(app).text)
            await settled(pilot, app)
            output = screen_output(app)
            output.assert_safe("list refused")
            assert "[bold]B[/]" in output.text
            assert app.is_running


class DetailPaneHost(App[None]):
    def compose(self) -> ComposeResult:
        yield DetailPane(clock=lambda: APP_NOW)


def console_options_for(miosa_url: str, tmp_path: Path) -> ConsoleOptions:
    profile = Profile("hostile", "miosa", miosa_url, Secret(ADMIN), environment="sandbox")
    return ConsoleOptions(profile=profile, audit_path=tmp_path / "audit.jsonl")


# -- the sanitizers themselves, for any text ----------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_printed_by_a_command_is_terminal_safe_and_keeps_its_printable_characters(text: str) -> None:
    shown = terminal_safe(text)
    assert_terminal_safe(shown, "terminal_safe")
    # One '?' per control character, an escape ('\\u202e') per invisible one, everything else as it was.
    assert shown == "".join(
        "?" if unsafe_characters(ch) else f"\\u{ord(ch):04x}" if INVISIBLE_CHARS.fullmatch(ch) else ch
        for ch in text
    )


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.text() | st.integers() | st.none(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    )
)
def test_json_output_is_terminal_safe_and_loses_nothing(value: Any) -> None:
    out = io.StringIO()
    print_json(value, out)
    assert_terminal_safe(out.getvalue(), "print_json")
    assert json.loads(out.getvalue()) == value


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_console_literal_text_is_one_safe_line(text: str) -> None:
    shown = literal(text)
    assert_terminal_safe(shown, "literal")
    assert "\n" not in shown


def publish_hostile_deploy(sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A Mixpeek deploy of docs-portal to staging with the hostile message, through `shipdeck publish`;
    the app's id."""
    config = f'[profiles.mx]\nprovider = "mixpeek"\nbase_url = "{sim.mixpeek}"\ntoken_env = "MX_TOKEN"\n'
    monkeypatch.setenv("SHIPDECK_CONFIG", str(write_config(tmp_path / "config.toml", config)))
    monkeypatch.setenv("MX_TOKEN", MIXPEEK_TOKEN)
    argv = ["publish", "docs-portal@staging", "--message", HOSTILE, "--yes", "--wait", "--interval", "0.2"]
    assert run(argv) == 0
    apps = httpx.get(sim.mixpeek, headers={"Authorization": f"Bearer {MIXPEEK_TOKEN}"}, timeout=10)
    return str(next(a["app_id"] for a in apps.json()["results"] if a["slug"] == "docs-portal"))


async def test_deploy_messages_are_literal_in_the_mixpeek_console(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with console_sim(tmp_path) as sim:
        app_id = await asyncio.to_thread(publish_hostile_deploy, sim, tmp_path, monkeypatch)
        profile = Profile("mx", "mixpeek", sim.mixpeek, Secret(MIXPEEK_TOKEN), environment="staging")
        app = console_app(ConsoleOptions(profile=profile, audit_path=tmp_path / "audit.jsonl"))
        async with app.run_test(size=(220, 50)) as pilot:
            walk = Walk(app)
            await wait_loaded(pilot, app)
            row = f"{app_id}@staging"
            main_screen(app).go_to(row)

            def messages_loaded() -> bool:
                detail = app.live.detail
                versions = detail.versions if detail and detail.deployment_id == row else None
                return any(v.message == HOSTILE for v in versions or [])

            await wait_for(pilot, messages_loaded)
            main = main_screen(app)
            for tab in ("tab-versions", "tab-pipeline"):
                main.detail.show_tab(tab)
                await settled(pilot, app)
                # The tab paints what the detail brought on its next refresh: wait for it (every look is
                # also checked for raw escapes), then the escaped message is there.
                await wait_for(pilot, lambda tab=tab: "?[31mR?[0m" in walk.look(f"mixpeek {tab}"))  # type: ignore[misc]

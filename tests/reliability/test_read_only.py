"""A read-only profile sends no mutation by any path: every key binding of every screen, every command of
the palette, every scriptable command. The proof is the simulator's own request log (``/_sim/requests``):
after all of it, the server saw no POST, PUT, PATCH or DELETE.

The profile uses the ADMIN token with ``read_only = true``: the server would accept any change, so only
the client's guard stands between the keys and production. Bindings, palette commands, screens and
subcommands are enumerated from the code, so a new action is covered (or the test says it is unknown).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.binding import Binding
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, TextArea

import shipdeck.tui.screens as screens_package
from shipdeck.cli.app import console_options
from shipdeck.cli.parser import build_parser
from shipdeck.config.loader import build_profile, load_config
from shipdeck.tui.app import ShipdeckApp, make_app
from shipdeck.tui.commands import ACTION_COMMANDS
from shipdeck.tui.screens.command_output import CommandOutputScreen
from shipdeck.tui.screens.dialogs import ConfirmDialog, PublishForm
from shipdeck.tui.screens.domains import DomainsScreen
from shipdeck.tui.screens.env_editor import EnvDiffScreen, EnvEditorScreen
from shipdeck.tui.screens.fleet import FleetScreen
from shipdeck.tui.screens.logs import LogsScreen
from shipdeck.tui.screens.main import MainScreen
from shipdeck.tui.screens.pending import AuditScreen, PendingScreen
from shipdeck.tui.screens.raw_view import RawViewScreen
from shipdeck.tui.screens.screen_kit import TextPrompt
from shipdeck.tui.screens.tasks import TasksScreen
from shipdeck.tui.widgets.deployments_table import DeploymentsTable
from tests.cli.helpers import shipdeck, write_config
from tests.conftest import ADMIN, MITEOS_TOKEN, READONLY
from tests.simproc import SimServer
from tests.tui.console_host import (
    APP_NOW,
    every_notification,
    main_screen,
    notifications,
    settled,
    wait_for,
    wait_loaded,
)
from tests.tui.screen_host import frozen_sim

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
# How each full screen is opened from the main screen (the binding that opens it).
OPENERS: dict[type[Screen[Any]], str] = {
    DomainsScreen: "d",
    EnvEditorScreen: "e",
    LogsScreen: "l",
    TasksScreen: "t",
    PendingScreen: "exclamation_mark",
    AuditScreen: "A",
    RawViewScreen: "J",
}
# Bindings not pressed: quitting ends the test's app (it changes nothing on the server either).
NOT_PRESSED = {"quit"}
# The main screen's actions that change something (each must be refused, not silently skipped).
MAIN_CHANGES = {"rollback", "promote", "publish", "redeploy"}
# Scriptable commands that only read (everything else must be proven to refuse).
# completion prints a script; sim is the sandbox itself; serve opens consoles that get --read-only passed on.
READ_COMMANDS = {
    "demo",
    "config",
    "themes",
    "audit",
    "ls",
    "versions",
    "status",
    "logs",
    "health",
    "completion",
    "sim",
    "serve",
}


@pytest.fixture(scope="module")
def slow_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    # Slow simulated time: tasks keep their agents and approvals while every key is tried on them.
    with frozen_sim(tmp_path_factory.mktemp("read-only-sim"), speed=0.01) as server:
        yield server


def mutations(sim: SimServer, since: int) -> list[dict[str, Any]]:
    return [r for r in sim.requests(since) if r["method"] in MUTATING and not r["path"].startswith("/_sim")]


def read_only_config(sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A read-only Miosa profile with the ADMIN token, whose Tasks screen uses a (writable) Miteos one."""
    text = f"""\
default_profile = "prod-ro"

[profiles.prod-ro]
provider = "miosa"
base_url = "{sim.miosa}"
token_env = "RO_TEST_ADMIN"
read_only = true
tasks_profile = "agents"

[profiles.agents]
provider = "miteos"
base_url = "{sim.miteos}"
token_env = "RO_TEST_MITEOS"

[profiles.prod]
provider = "miosa"
base_url = "{sim.miosa}"
token_env = "RO_TEST_ADMIN"

[profiles.readonly-key]
provider = "miosa"
base_url = "{sim.miosa}"
token_env = "RO_TEST_READONLY_KEY"
read_only = true

[profiles.readonly-key-only]
provider = "miosa"
base_url = "{sim.miosa}"
token_env = "RO_TEST_READONLY_KEY"
"""
    path = write_config(tmp_path / "config.toml", text)
    monkeypatch.setenv("SHIPDECK_CONFIG", str(path))
    monkeypatch.setenv("RO_TEST_ADMIN", ADMIN)
    monkeypatch.setenv("RO_TEST_MITEOS", MITEOS_TOKEN)
    monkeypatch.setenv("RO_TEST_READONLY_KEY", READONLY)
    return path


# -- what the code defines ------------------------------------------------------------------------------


def full_screens() -> set[type[Screen[Any]]]:
    """Every non-modal screen class the console ships (a new one must get an opener above)."""
    found: set[type[Screen[Any]]] = set()
    for info in pkgutil.iter_modules(screens_package.__path__):
        module = importlib.import_module(f"shipdeck.tui.screens.{info.name}")
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, Screen)
                and not issubclass(value, ModalScreen)
                and value.__module__ == module.__name__
            ):
                found.add(value)
    return found


def bindings_of(cls: type[Any]) -> list[Binding]:
    return [
        b for b in cls.BINDINGS if isinstance(b, Binding) and b.action.removeprefix("app.") not in NOT_PRESSED
    ]


def first_key(binding: Binding) -> str:
    return binding.key.split(",")[0].strip()


def test_every_full_screen_has_an_opener() -> None:
    # The fleet is the main screen's subclass (same actions, each under its row's own profile). The
    # custom-command pane opens only on a configured [commands] key (tests/tui/test_custom_commands.py
    # covers it, the read-only refusal of a mutating command included).
    opened = full_screens() - {MainScreen, FleetScreen, CommandOutputScreen}
    assert opened == set(OPENERS), "a new screen: add how to open it to OPENERS"


# -- the console ----------------------------------------------------------------------------------------


def read_only_refusals(app: ShipdeckApp) -> int:
    # Every notice since the test started (a toast expires after a few seconds; the walk takes longer).
    told = getattr(app, "_told_in_test", None)
    messages = told if told is not None else notifications(app)
    return sum("is read-only" in message for message in messages)


async def answer_every_dialog(pilot: Pilot[Any], app: ShipdeckApp) -> None:
    """Say yes to whatever opened (a guard that forgot read-only must not be saved by a timid test)."""
    for _ in range(4):
        screen = app.screen
        if isinstance(screen, TextPrompt):
            await _submit_prompt(pilot, screen)
        elif isinstance(screen, PublishForm):
            screen.action_submit()
        elif isinstance(screen, ConfirmDialog | EnvDiffScreen):
            await pilot.press("enter")
        elif isinstance(screen, CommandPalette):
            await pilot.press("escape")
        else:
            return
        await settled(pilot, pilot.app)
        if app.screen is screen:
            await pilot.press("escape")
            await settled(pilot, pilot.app)


async def _submit_prompt(pilot: Pilot[Any], prompt: TextPrompt) -> None:
    # Plausible answers for the prompts there are: a domain, an env assignment, free text.
    for candidate in ("ro-check.example.com", "RO_CHECK=1", "ro check"):
        widget = prompt.query_one("#prompt-value")
        if isinstance(widget, TextArea):
            widget.load_text(candidate)
        elif isinstance(widget, Input):
            widget.value = candidate
        prompt.action_submit()
        await settled(pilot, pilot.app)
        if pilot.app.screen is not prompt:
            return


async def back_to_main(pilot: Pilot[Any], app: ShipdeckApp) -> MainScreen:
    for _ in range(6):
        if isinstance(app.screen, MainScreen):
            break
        app.pop_screen()
        await settled(pilot, pilot.app)
    main = main_screen(app)
    main.table.focus()
    await settled(pilot, pilot.app)
    return main


async def open_screen(pilot: Pilot[Any], app: ShipdeckApp, screen_type: type[Screen[Any]]) -> Screen[Any]:
    if not isinstance(app.screen, screen_type):
        await back_to_main(pilot, app)
        await pilot.press(OPENERS[screen_type])
        await wait_for(pilot, lambda: isinstance(app.screen, screen_type))
        await settled(pilot, pilot.app)
    if isinstance(app.screen, TasksScreen):
        tasks = app.screen
        await wait_for(pilot, lambda: bool(tasks.tasks))
    return app.screen


async def prepare(screen: Screen[Any]) -> None:
    """Put the cursor where the screen's actions have something to act on."""
    if isinstance(screen, TasksScreen):
        for task in screen.tasks:
            if task.agents:
                screen.select(task.id, task.agents[0].id)
                return


# Three walks, each its own console, so that parallel workers share them out (one walk of every key took
# half a minute and held up the end of a parallel run).
WALKS = ("main keys", "palette", "side screens")


@pytest.mark.parametrize("walk", WALKS)
async def test_no_key_and_no_palette_command_sends_a_mutation(
    slow_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, walk: str
) -> None:
    read_only_config(slow_sim, tmp_path, monkeypatch)
    # The walk presses every key and answers every prompt: the logs' save key writes its file into the
    # working directory, which must be the test's own, not the checkout.
    monkeypatch.chdir(tmp_path)
    config = load_config()
    profile = build_profile(config, "prod-ro")
    assert profile.read_only and profile.tasks is not None and profile.tasks.read_only
    options = console_options(config, profile, [])
    app = make_app(options, clock=lambda: APP_NOW)
    app._told_in_test = every_notification(app)  # type: ignore[attr-defined]
    mark = slow_sim.last_request_seq()
    pressed: list[str] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot, app)
        await settled(pilot, pilot.app)

        for owner in (MainScreen, DeploymentsTable, ShipdeckApp) if walk == "main keys" else ():
            for binding in bindings_of(owner):
                await back_to_main(pilot, app)
                refused_before = read_only_refusals(app)
                await pilot.press(first_key(binding))
                await settled(pilot, pilot.app)
                await answer_every_dialog(pilot, app)
                pressed.append(f"{owner.__name__}:{binding.id or binding.action}")
                if binding.action in MAIN_CHANGES:
                    await wait_for(pilot, lambda n=refused_before: read_only_refusals(app) > n)  # type: ignore[misc]

        for title, action, _help in ACTION_COMMANDS if walk == "palette" else []:
            refused_before = read_only_refusals(app)
            await back_to_main(pilot, app)
            await pilot.press("ctrl+p")
            await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
            palette = app.screen
            palette.query_one(Input).value = title

            def offered(title: str = title, palette: Screen[Any] = palette) -> bool:
                options = palette.query_one(CommandList).options
                return any(title in str(option.prompt) for option in options)

            await wait_for(pilot, offered, what=f"the palette offering {title!r}")
            await pilot.press("enter")
            await settled(pilot, pilot.app)
            await answer_every_dialog(pilot, app)
            pressed.append(f"palette:{title}")
            if action in MAIN_CHANGES:
                # The command ran, and its guard said no (a command that silently does nothing is a bug too).
                await wait_for(pilot, lambda n=refused_before: read_only_refusals(app) > n)  # type: ignore[misc]

        for screen_type in OPENERS if walk == "side screens" else []:
            for binding in bindings_of(screen_type):
                screen = await open_screen(pilot, app, screen_type)
                await prepare(screen)
                await pilot.press(first_key(binding))
                await settled(pilot, pilot.app)
                await answer_every_dialog(pilot, app)
                pressed.append(f"{screen_type.__name__}:{binding.id or binding.action}")

        await settled(pilot, pilot.app)
        # (No count of refusals on screen here: notifications expire, and a slow walk outlives them; each
        # change's refusal is waited for as it is made.)
        assert app.is_running
    sent = mutations(slow_sim, mark)
    assert sent == [], f"mutations sent by a read-only console after {len(pressed)} keys: {sent}"
    # The change keys of each walk were tried (a sanity check that the walk ran).
    tried = {
        "main keys": {"MainScreen:rollback", "MainScreen:publish"},
        "palette": {f"palette:{ACTION_COMMANDS[0][0]}"},
        "side screens": {"DomainsScreen:domain-add", "TasksScreen:agent-pause"},
    }
    assert tried[walk] <= set(pressed), pressed
    assert not (tmp_path / "audit.jsonl").exists()


# -- the scriptable commands ----------------------------------------------------------------------------


def subcommands() -> set[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(actions[0].choices)


def change_commands(
    dep: str, domain_id: str, promotable: str = "v1", release: str = "rel_ro_check"
) -> list[list[str]]:
    """One invocation of every way the command line can change something (with --yes: no question).

    ``promotable``: a ready version that is not active (the planner refuses any other before sending).
    """
    return [
        ["rollback", dep, "--yes", "--reason", "read-only check"],
        ["promote", dep, promotable, "--yes"],
        ["publish", dep, "--sandbox", "sbx_ro_check", "--yes"],
        ["env", dep, "set", "RO_CHECK=1", "--yes"],
        ["env", dep, "unset", "RO_CHECK", "--yes"],
        ["domains", dep, "add", "ro-check.example.com", "--yes"],
        ["domains", dep, "verify", domain_id, "--yes"],
        ["domains", dep, "rm", domain_id, "--yes"],
        ["stop", dep, "--yes"],
        ["auto-deploy", dep, "off", "--yes"],  # on in the demo seed ("on" would find nothing to send)
        ["releases", dep, "promote", release, "--yes"],
        ["deploy", "--workspace", "ws_ro_check", "--target", "netlify", "--config", "cfg_ro", "--yes"],
    ]


def a_release(sim: SimServer, dep_id: str) -> str:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    releases = httpx.get(f"{sim.miosa}/deployments/{dep_id}/releases", headers=headers, timeout=10).json()
    return str(releases["data"][0]["id"])


def a_promotable_version(sim: SimServer, dep_id: str) -> str:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    dep = httpx.get(f"{sim.miosa}/deployments/{dep_id}", headers=headers, timeout=10).json()["data"]
    versions = httpx.get(f"{sim.miosa}/deployments/{dep_id}/versions", headers=headers, timeout=10)
    for version in versions.json()["data"]:
        if version["state"] == "ready" and version["id"] != dep.get("active_version_id"):
            return str(version["id"])
    pytest.fail(f"{dep_id} has no ready version besides the active one")


def a_deployment_with_a_domain(sim: SimServer) -> tuple[str, str]:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    deployments = httpx.get(sim.miosa + "/deployments?limit=200", headers=headers, timeout=10).json()["data"]
    for dep in deployments:
        domains = httpx.get(f"{sim.miosa}/deployments/{dep['id']}/domains", headers=headers, timeout=10)
        if domains.json()["data"]:
            return dep["id"], domains.json()["data"][0]["id"]
    pytest.fail("the demo seed has no deployment with a custom domain")


@pytest.mark.parametrize(
    "profile_args",
    [["--profile", "prod-ro"], ["--profile", "prod", "--read-only"], ["--profile", "readonly-key"]],
    ids=["read_only-profile", "read-only-flag", "read-only-key-and-profile"],
)
def test_no_scriptable_command_sends_a_mutation(
    capsys: pytest.CaptureFixture[str],
    slow_sim: SimServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    profile_args: list[str],
) -> None:
    read_only_config(slow_sim, tmp_path, monkeypatch)
    dep, domain_id = a_deployment_with_a_domain(slow_sim)
    commands = change_commands(dep, domain_id)
    assert {argv[0] for argv in commands} == subcommands() - READ_COMMANDS, "a new command: add it here"
    mark = slow_sim.last_request_seq()
    for argv in commands:
        result = shipdeck(capsys, *profile_args, *argv)
        assert result.code == 1, (argv, result.out, result.err)
        assert "read-only" in result.err and "was not sent" in result.err, (argv, result.err)
    assert mutations(slow_sim, mark) == []


def test_a_read_only_key_on_a_writable_profile_is_refused_by_the_server(
    capsys: pytest.CaptureFixture[str], slow_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second layer: the client does not know the key is read-only, so it sends; the server says 403."""
    read_only_config(slow_sim, tmp_path, monkeypatch)
    dep, domain_id = a_deployment_with_a_domain(slow_sim)
    mark = slow_sim.last_request_seq()
    for argv in change_commands(
        dep, domain_id, a_promotable_version(slow_sim, dep), a_release(slow_sim, dep)
    ):
        if argv[0] == "deploy":
            continue  # Miteos only: this is a Miosa profile (the client refuses it before sending)
        result = shipdeck(capsys, "--profile", "readonly-key-only", *argv)
        assert result.code == 3, (argv, result.err)
        assert "403" in result.err or "not allowed" in result.err, (argv, result.err)
    sent = mutations(slow_sim, mark)
    assert sent and {r["status"] for r in sent} == {403}

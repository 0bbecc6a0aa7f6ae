"""Tokens and env values stay secret: never on a screen, in the audit log, in an error message, in
`config show`, in Python's logs, or anywhere under shipdeck's config, state, data and cache dirs.

Against a real ``shipdeck sim``; the 401 path uses a rejected token, and a hostile server answers every
request with an error that echoes the Authorization header it received.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from shipdeck.config.console_options import ConsoleOptions
from shipdeck.config.paths import audit_log_file
from shipdeck.config.profile import Profile, Secret
from shipdeck.tui.app import ShipdeckApp
from shipdeck.tui.screens.dialogs import ConfirmDialog, PublishForm
from shipdeck.tui.screens.domains import DomainsScreen
from shipdeck.tui.screens.env_editor import EnvDiffScreen, EnvEditorScreen
from shipdeck.tui.screens.help import HelpScreen
from shipdeck.tui.screens.logs import LogsScreen
from shipdeck.tui.screens.main import MainScreen
from shipdeck.tui.screens.screen_kit import TextPrompt
from shipdeck.tui.screens.tasks import TasksScreen
from shipdeck.tui.widgets.detail_pane import TAB_IDS
from tests.cli.helpers import Result, shipdeck, write_config
from tests.conftest import ADMIN, MITEOS_TOKEN
from tests.reliability.safety_kit import EchoServer, echo_server, screen_output
from tests.simproc import SimServer, running_sim
from tests.tui.console_host import (
    SimHttp,
    console_app,
    console_options,
    console_sim,
    main_screen,
    notifications,
    poll_server,
    screen_as,
    settle_actions,
    settled,
    wait_for,
    wait_loaded,
)

# A value the user types into the env editor or `env set`: shown masked, sent once, stored nowhere.
ENV_SECRET = "s3cr3t-db-password-\u00e9\u6f22-line1\nline2"
ENV_SECRET_MARKERS = ("s3cr3t-db-password", "line2")
TOKENS = (ADMIN, MITEOS_TOKEN)


def user_dirs() -> list[Path]:
    """shipdeck's config, state, data and cache dirs (the autouse fixture points them into tmp)."""
    return [Path(os.environ[name]) for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME")] + [
        Path(os.environ["XDG_CACHE_HOME"])
    ]


def files_holding(needles: tuple[str, ...], roots: list[Path]) -> list[str]:
    found = []
    for root in roots:
        for path in root.rglob("*") if root.exists() else []:
            if path.is_file():
                data = path.read_bytes()
                found += [f"{path}: {needle!r}" for needle in needles if needle.encode() in data]
    return found


def assert_no_secret(text: str, where: str, secrets: tuple[str, ...] = TOKENS) -> None:
    for secret in secrets:
        assert secret not in text, f"{where} shows a secret"


# -- the console ----------------------------------------------------------------------------------------


async def visit(pilot: Pilot[Any], app: ShipdeckApp, seen: dict[str, str], where: str) -> None:
    await settled(pilot, app)
    seen[where] = screen_output(app).text


async def back_to_main(pilot: Pilot[Any], app: ShipdeckApp) -> MainScreen:
    while not isinstance(app.screen, MainScreen):
        app.pop_screen()
        await settled(pilot, app)
    main = main_screen(app)
    main.table.focus()
    return main


async def test_no_screen_shows_a_token_and_a_typed_env_value_is_stored_nowhere(tmp_path: Path) -> None:
    with console_sim(tmp_path) as sim:
        http = SimHttp(sim)
        app = console_app(console_options(sim, tmp_path, with_tasks=True))
        seen: dict[str, str] = {}
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_loaded(pilot, app)
            main = main_screen(app)
            for tab in TAB_IDS:
                main.detail.show_tab(tab)
                await visit(pilot, app, seen, tab)
            for key, screen_type in (
                ("question_mark", HelpScreen),
                ("l", LogsScreen),
                ("d", DomainsScreen),
                ("t", TasksScreen),
                ("p", PublishForm),
                ("r", ConfirmDialog),
                ("ctrl+p", None),
            ):
                main = await back_to_main(pilot, app)
                await pilot.press(key)
                if screen_type is not None:
                    await wait_for(pilot, lambda t=screen_type: isinstance(app.screen, t))  # type: ignore[misc]
                await visit(pilot, app, seen, key)
                await pilot.press("escape")

            # Type a secret env value, stage it, review it, apply it.
            main = await back_to_main(pilot, app)
            deployment = main.table.highlighted
            assert deployment is not None
            await pilot.press("e")
            await wait_for(pilot, lambda: isinstance(app.screen, EnvEditorScreen))
            editor = screen_as(app, EnvEditorScreen)
            await pilot.press("a")
            await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt))
            await pilot.press(*"SECRET_TEST_VALUE", "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt) and app.screen.value == "")
            single = app.screen
            await pilot.press("ctrl+n")  # a multi-line value
            await wait_for(pilot, lambda: app.screen is not single and isinstance(app.screen, TextPrompt))
            value_prompt = app.screen
            assert isinstance(value_prompt, TextPrompt)
            value_prompt.query_one("#prompt-value").load_text(ENV_SECRET)  # type: ignore[attr-defined]
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: app.screen is editor and "SECRET_TEST_VALUE" in editor.staged)
            await visit(pilot, app, seen, "env editor, staged")
            await pilot.press("s")
            await wait_for(pilot, lambda: isinstance(app.screen, EnvDiffScreen))
            await visit(pilot, app, seen, "env diff")
            await pilot.press("y")
            await wait_for(pilot, lambda: app.screen is editor and not editor.staged)
            await settle_actions(pilot, app)
            await visit(pilot, app, seen, "env editor, applied")

            def stored() -> bool:
                env = http.get(f"/deployments/{deployment.id}/env")
                return any(row["name"] == "SECRET_TEST_VALUE" for row in env)

            await poll_server(stored)
            messages = "\n".join(notifications(app))
        for where, text in seen.items():
            assert_no_secret(text, where, TOKENS + ENV_SECRET_MARKERS)
        assert_no_secret(messages, "notifications", TOKENS + ENV_SECRET_MARKERS)
        assert {"tab-env", "question_mark", "l", "d", "t", "p", "r"} <= set(seen)
    # Nothing on disk: not the token, not the value (the audit log names the key only).
    audit = (tmp_path / "audit.jsonl").read_text()
    assert "SECRET_TEST_VALUE" in audit
    assert_no_secret(audit, "audit log", TOKENS + ENV_SECRET_MARKERS)
    assert files_holding(TOKENS + ENV_SECRET_MARKERS, user_dirs()) == []


async def test_a_server_echoing_the_token_is_masked_in_the_console(tmp_path: Path) -> None:
    with echo_server(EchoServer(status=403, message="forbidden", echo_authorization=True)) as server:
        profile = Profile("hostile", "miosa", server.root + "/api/v1", Secret(ADMIN), environment="sandbox")
        app = console_app(ConsoleOptions(profile=profile, audit_path=tmp_path / "audit.jsonl"))
        async with app.run_test(size=(200, 30)) as pilot:
            await wait_for(pilot, lambda: "could not list deployments" in screen_output(app).text)
            text = screen_output(app).text
            assert "you sent Authorization" in text and "****" in text
            assert_no_secret(text, "list error")
            assert_no_secret("\n".join(notifications(app)), "notifications")
        assert server.seen_authorization == [f"Bearer {ADMIN}"] * len(server.seen_authorization)


# -- the scriptable commands ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secrets_sim() -> Iterator[SimServer]:
    with running_sim(speed=50.0) as server:
        yield server


@pytest.fixture
def profiles(secrets_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = f"""\
default_profile = "sim"

[profiles.sim]
provider = "miosa"
base_url = "{secrets_sim.miosa}"
token_env = "SECRETS_TEST_TOKEN"

[profiles.literal]
provider = "miosa"
base_url = "{secrets_sim.miosa}"
token = "{ADMIN}"

[profiles.rejected]
provider = "miosa"
base_url = "{secrets_sim.miosa}"
token_env = "SECRETS_TEST_REJECTED"
"""
    path = write_config(tmp_path / "config.toml", config)
    monkeypatch.setenv("SHIPDECK_CONFIG", str(path))
    monkeypatch.setenv("SECRETS_TEST_TOKEN", ADMIN)
    monkeypatch.setenv("SECRETS_TEST_REJECTED", "msk_u_typo_of_a_real_key_1234")
    return path


def all_output(*results: Result) -> str:
    return "\n".join(r.out + r.err for r in results)


def test_config_show_and_check_never_print_a_token(
    capsys: pytest.CaptureFixture[str], profiles: Path
) -> None:
    shown = shipdeck(capsys, "config", "show")
    as_json = shipdeck(capsys, "config", "show", "--json")
    checked = shipdeck(capsys, "config", "check")
    assert shown.code == as_json.code == 0
    assert "literal token in the config file" in shown.out
    assert {p["name"] for p in json.loads(as_json.out)["profiles"]} == {"sim", "literal", "rejected"}
    assert_no_secret(all_output(shown, as_json, checked), "config show/check", (ADMIN, "msk_u_typo"))


def test_a_rejected_token_is_not_echoed(capsys: pytest.CaptureFixture[str], profiles: Path) -> None:
    result = shipdeck(capsys, "--profile", "rejected", "ls")
    assert result.code == 3, result.err
    assert "rejected" in result.err
    assert_no_secret(all_output(result), "401 message", ("msk_u_typo", "1234"))


@pytest.mark.parametrize("status", [500, 401, 400])
def test_a_server_echoing_the_authorization_header_is_masked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    monkeypatch.setenv("MIOSA_API_KEY", ADMIN)
    with echo_server(
        EchoServer(status=status, message="upstream said no", echo_authorization=True)
    ) as server:
        plain = shipdeck(
            capsys, "--timeout", "3", "--provider", "miosa", "--url", server.root + "/api/v1", "ls"
        )
        as_json = shipdeck(
            capsys, "--timeout", "3", "--provider", "miosa", "--url", server.root + "/api/v1", "ls", "--json"
        )
    assert server.seen_authorization and plain.code != 0 and as_json.code != 0
    assert "upstream said no" in plain.err
    assert_no_secret(all_output(plain, as_json), f"error {status}")


def test_changes_leave_no_token_and_no_value_in_the_audit_log_or_on_disk(
    capsys: pytest.CaptureFixture[str],
    profiles: Path,
    secrets_sim: SimServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx, httpcore and anything of ours, at the chattiest level
    deployments = json.loads(shipdeck(capsys, "ls", "--json").out)
    dep = deployments[0]["id"]
    results = [
        shipdeck(capsys, "env", dep, "set", f"SECRET_CLI={ENV_SECRET}", "--yes"),
        shipdeck(capsys, "env", dep, "--json"),
        shipdeck(capsys, "env", dep, "unset", "SECRET_CLI", "--yes"),
        shipdeck(capsys, "--profile", "literal", "rollback", dep, "--yes", "--reason", "secrets check"),
        shipdeck(capsys, "audit"),
        shipdeck(capsys, "audit", "--json"),
    ]
    assert [r.code for r in results[:3]] == [0, 0, 0], all_output(*results)
    audit = audit_log_file().read_text()
    assert "SECRET_CLI" in audit and "env.set" in audit
    assert_no_secret(audit, "audit log", TOKENS + ENV_SECRET_MARKERS)
    assert_no_secret(all_output(*results), "command output", TOKENS + ENV_SECRET_MARKERS)
    assert_no_secret(caplog.text, "python logs", TOKENS + ENV_SECRET_MARKERS)
    config_file = str(profiles)
    leaks = [
        leak for leak in files_holding(TOKENS + ENV_SECRET_MARKERS, user_dirs()) if config_file not in leak
    ]
    assert leaks == []

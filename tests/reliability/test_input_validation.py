"""What a user types is checked before it is sent, refused with the reason, and never lost.

- env keys: ``^[A-Za-z_][A-Za-z0-9_]*$`` in the console and the scriptable commands (nothing is sent);
- env values with newlines, tabs and any unicode arrive on the server byte for byte (read back from the
  simulator's own database, not through our client);
- domain names: IDNA-checked; an internationalised name is sent in its xn-- form;
- every dialog that takes text refuses bad input with the reason and keeps what was typed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from shipdeck.model.validation import ENV_KEY_PATTERN, domain_problem, env_key_problem
from shipdeck.tui.app import ShipdeckApp
from shipdeck.tui.screens.dialogs import PublishForm
from shipdeck.tui.screens.domains import DomainsScreen
from shipdeck.tui.screens.env_editor import EnvEditorScreen
from shipdeck.tui.screens.main import MainScreen
from shipdeck.tui.screens.screen_kit import TextPrompt
from shipdeck.tui.screens.tasks import TasksScreen
from tests.cli.helpers import shipdeck, write_config
from tests.conftest import ADMIN
from tests.reliability.safety_kit import screen_output
from tests.simproc import SimServer, running_sim
from tests.tui.console_host import (
    console_app,
    console_options,
    console_sim,
    main_screen,
    screen_as,
    settle_actions,
    settled,
    wait_for,
    wait_loaded,
)

# Newlines, a tab, accents, CJK, an emoji, a quote, a backslash, leading and trailing spaces.
ROUND_TRIP_VALUE = '  first line\nsecond\tline é漢字 🚀 "quoted" back\\slash  \n'
BAD_ENV_KEYS = ["1STARTS_WITH_DIGIT", "HAS-DASH", "HAS SPACE", "ÜMLAUT", "DOT.TED", "$DOLLAR"]
BAD_DOMAINS = [
    "bad..name",
    "has space.com",
    "https://example.com",
    "trail-.example.com",
    "localhost",
    "1.2.3.4",
]
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture(scope="module")
def db_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    """A simulator on a database file, so the tests read what the server stored, byte for byte."""
    with running_sim(db_path=tmp_path_factory.mktemp("input-sim") / "sim.db", speed=50.0) as server:
        yield server


@pytest.fixture
def cli(db_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    config = f'[profiles.sim]\nprovider = "miosa"\nbase_url = "{db_sim.miosa}"\ntoken_env = "INPUT_TOKEN"\n'
    monkeypatch.setenv("SHIPDECK_CONFIG", str(write_config(tmp_path / "config.toml", config)))
    monkeypatch.setenv("INPUT_TOKEN", ADMIN)
    return db_sim


def stored_env(sim: SimServer, deployment_id: str, name: str) -> str | None:
    assert sim.db_path is not None
    with sqlite3.connect(sim.db_path) as db:
        row = db.execute(
            "SELECT value FROM miosa_env WHERE deployment_id = ? AND name = ?", (deployment_id, name)
        ).fetchone()
    return None if row is None else str(row[0])


def mutations_since(sim: SimServer, since: int) -> list[dict[str, Any]]:
    return [r for r in sim.requests(since) if r["method"] in MUTATING and not r["path"].startswith("/_sim")]


def first_deployment(capsys: pytest.CaptureFixture[str]) -> str:
    return str(json.loads(shipdeck(capsys, "ls", "--json").out)[0]["id"])


# -- the rules themselves --------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_env_key_rule_is_exactly_the_pattern(key: str) -> None:
    matches = ENV_KEY_PATTERN.fullmatch(key) is not None
    assert (env_key_problem(key) is None) == matches


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_domain_rule_never_crashes_and_accepts_only_idna_encodable_names(name: str) -> None:
    if domain_problem(name) is None:
        encoded = name.strip().rstrip(".").lower().encode("idna")
        assert encoded.isascii() and b".." not in encoded and len(encoded) <= 253


# -- the scriptable commands -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", BAD_ENV_KEYS)
def test_env_set_refuses_a_bad_key_without_echoing_the_value_and_sends_nothing(
    capsys: pytest.CaptureFixture[str], cli: SimServer, key: str
) -> None:
    dep = first_deployment(capsys)
    mark = cli.last_request_seq()
    result = shipdeck(capsys, "env", dep, "set", f"{key}=hunter2-secret", "--yes")
    assert result.code == 2, result.err
    assert "not a valid name" in result.err and "hunter2" not in result.err
    unset = shipdeck(capsys, "env", dep, "unset", key, "--yes")
    assert unset.code == 2 and "not a valid name" in unset.err
    assert mutations_since(cli, mark) == []


def test_env_values_survive_the_round_trip_exactly(
    capsys: pytest.CaptureFixture[str], cli: SimServer
) -> None:
    dep = first_deployment(capsys)
    result = shipdeck(capsys, "env", dep, "set", f"ROUND_TRIP={ROUND_TRIP_VALUE}", "EMPTY=", "--yes")
    assert result.code == 0, result.err
    assert stored_env(cli, dep, "ROUND_TRIP") == ROUND_TRIP_VALUE
    assert stored_env(cli, dep, "EMPTY") == ""


@pytest.mark.parametrize("name", BAD_DOMAINS)
def test_domains_add_refuses_a_bad_name_with_the_reason_and_sends_nothing(
    capsys: pytest.CaptureFixture[str], cli: SimServer, name: str
) -> None:
    dep = first_deployment(capsys)
    mark = cli.last_request_seq()
    result = shipdeck(capsys, "domains", dep, "add", name, "--yes")
    assert result.code == 2, result.err
    assert result.err.startswith("shipdeck: error: domains add: ")
    assert mutations_since(cli, mark) == []


def test_domains_add_sends_an_internationalised_name_in_its_idna_form(
    capsys: pytest.CaptureFixture[str], cli: SimServer
) -> None:
    dep = first_deployment(capsys)
    result = shipdeck(capsys, "domains", dep, "add", "Bücher.Example.org.", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["name"] == "xn--bcher-kva.example.org"
    listed = json.loads(shipdeck(capsys, "domains", dep, "--json").out)
    assert "xn--bcher-kva.example.org" in [d["name"] for d in listed]


# -- the console's dialogs -------------------------------------------------------------------------------


def typed_value(prompt: TextPrompt) -> str:
    return prompt.value


async def type_into_prompt(pilot: Pilot[Any], text: str) -> TextPrompt:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, TextPrompt))
    prompt = pilot.app.screen
    assert isinstance(prompt, TextPrompt)
    widget = prompt.query_one("#prompt-value")
    if isinstance(widget, TextArea):
        widget.load_text(text)
    else:
        assert isinstance(widget, Input)
        widget.value = text
    return prompt


async def assert_refused_and_kept(pilot: Pilot[Any], prompt: TextPrompt, typed: str, reason: str) -> None:
    prompt.action_submit()
    await settled(pilot, pilot.app)
    await wait_for(pilot, lambda: reason in screen_output(pilot.app).text, what=f"the reason {reason!r}")
    assert pilot.app.screen is prompt, f"{typed!r} was accepted"
    assert typed_value(prompt) == typed, "what was typed was lost"
    assert reason in screen_output(pilot.app).text, f"the reason {reason!r} is not shown"


async def back_to_main(pilot: Pilot[Any], app: ShipdeckApp) -> MainScreen:
    while not isinstance(app.screen, MainScreen):
        app.pop_screen()
        await settled(pilot, app)
    main = main_screen(app)
    main.table.focus()
    return main


async def test_every_dialog_refuses_bad_input_with_the_reason_and_keeps_it(tmp_path: Path) -> None:
    with console_sim(tmp_path) as sim:
        app = console_app(console_options(sim, tmp_path, with_tasks=True))
        mark = sim.last_request_seq()
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_loaded(pilot, app)

            # Env editor: the name, then the value.
            await back_to_main(pilot, app)
            await pilot.press("e")
            await wait_for(pilot, lambda: isinstance(app.screen, EnvEditorScreen))
            await settled(pilot, app)
            for bad in BAD_ENV_KEYS:
                await pilot.press("a")
                prompt = await type_into_prompt(pilot, bad)
                await assert_refused_and_kept(pilot, prompt, bad, "not a valid name")
                await pilot.press("escape")
            await pilot.press("a")
            prompt = await type_into_prompt(pilot, "GOOD_NAME")
            prompt.action_submit()
            await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt) and app.screen is not prompt)
            value_prompt = await type_into_prompt(pilot, "before\x00after")
            await assert_refused_and_kept(pilot, value_prompt, "before\x00after", "NUL")
            await pilot.press("escape")

            # Domains: add, and the typed confirmation of a removal.
            await back_to_main(pilot, app)
            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, DomainsScreen))
            await settled(pilot, app)
            for bad in BAD_DOMAINS:
                await pilot.press("a")
                prompt = await type_into_prompt(pilot, bad)
                await assert_refused_and_kept(pilot, prompt, bad, "")
                await pilot.press("escape")
            domains = app.screen
            assert isinstance(domains, DomainsScreen)
            if domains.selected is not None:
                await pilot.press("D")
                prompt = await type_into_prompt(pilot, "not-" + domains.selected.name)
                await assert_refused_and_kept(pilot, prompt, "not-" + domains.selected.name, "exactly")
                await pilot.press("escape")

            # Publish form: an output path out of the sandbox, an entrypoint with a control character.
            await back_to_main(pilot, app)
            await pilot.press("p")
            await wait_for(pilot, lambda: isinstance(app.screen, PublishForm))
            form = screen_as(app, PublishForm)
            typed = {"#pf-source": "sbx_kept", "#pf-output": "../etc", "#pf-entry": "index\x1b.html"}
            for selector, text in typed.items():
                form.query_one(selector, Input).value = text
            form.action_submit()
            await wait_for(
                pilot, lambda: "Output path: must stay inside the sandbox" in screen_output(app).text
            )
            assert app.screen is form
            form.query_one("#pf-output", Input).value = "dist"
            form.action_submit()
            await wait_for(pilot, lambda: "Entrypoint: holds a control character" in screen_output(app).text)
            assert app.screen is form
            kept = {selector: form.query_one(selector, Input).value for selector in typed}
            assert kept == {**typed, "#pf-output": "dist"}
            await pilot.press("escape")

            # Guide an agent: blank instructions are refused, the blanks kept.
            await back_to_main(pilot, app)
            await pilot.press("t")
            await wait_for(pilot, lambda: isinstance(app.screen, TasksScreen) and bool(app.screen.tasks))
            tasks = app.screen
            assert isinstance(tasks, TasksScreen)
            task = next(t for t in tasks.tasks if t.agents)
            tasks.select(task.id, task.agents[0].id)
            await pilot.press("m")  # guide (g is "first row" in every table)
            prompt = await type_into_prompt(pilot, "   \n  ")
            await assert_refused_and_kept(pilot, prompt, "   \n  ", "A value is required")
            await pilot.press("escape")
            await settle_actions(pilot, app)
        assert mutations_since(sim, mark) == []


async def test_a_value_typed_in_the_env_editor_reaches_the_server_exactly(tmp_path: Path) -> None:
    with console_sim(tmp_path) as sim:
        app = console_app(console_options(sim, tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            table = await wait_loaded(pilot, app)
            deployment = table.highlighted
            assert deployment is not None
            await pilot.press("e")
            await wait_for(pilot, lambda: isinstance(app.screen, EnvEditorScreen))
            editor = screen_as(app, EnvEditorScreen)
            await settled(pilot, app)
            await pilot.press("a")
            name_prompt = await type_into_prompt(pilot, "TYPED_VALUE")
            name_prompt.action_submit()
            await wait_for(
                pilot, lambda: isinstance(app.screen, TextPrompt) and app.screen is not name_prompt
            )
            # One line by default: ctrl+n asks for a multi-line value (its own prompt).
            single = app.screen
            await pilot.press("ctrl+n")
            await wait_for(pilot, lambda: app.screen is not single and bool(app.screen.query(TextArea)))
            # Typed key by key: enter is a newline in the value, tab a tab character.
            await pilot.press(*"é漢", "enter", *"two", "tab", *"x ")
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: app.screen is editor and "TYPED_VALUE" in editor.staged)
            await pilot.press("s")
            await wait_for(pilot, lambda: app.screen is not editor)
            await pilot.press("y")
            await wait_for(pilot, lambda: app.screen is editor and not editor.staged)
            await settle_actions(pilot, app)
        assert stored_env(sim, deployment.id, "TYPED_VALUE") == "é漢\ntwo\tx "

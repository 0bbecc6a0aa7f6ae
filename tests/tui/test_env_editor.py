"""Env editor against a real `shipdeck sim`: staged changes, the diff, apply, read back over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from shipdeck.config.profile import EnvironmentLabel
from shipdeck.model import Deployment, EnvVar
from shipdeck.model.masking import HIDDEN, shown_preview
from shipdeck.model.validation import env_key_problem, env_value_problem
from shipdeck.tui.screens.dialogs import ConfirmDialog
from shipdeck.tui.screens.env_editor import (
    EnvDiffScreen,
    EnvEditorScreen,
    StagedChange,
    diff_lines,
)
from shipdeck.tui.screens.screen_kit import TextPrompt
from tests.conftest import ADMIN
from tests.simproc import SimServer
from tests.tui.screen_host import ScreenHost, eventually, frozen_sim, get_json, profile_for, screen_text

VALUE = "línea uno\nline two\twith tab ✓ 🚀"


@pytest.fixture(scope="module")
def env_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    with frozen_sim(tmp_path_factory.mktemp("env-sim"), speed=50.0) as server:
        yield server


async def first_deployment_with_env(sim: SimServer) -> Deployment:
    listing = await get_json(sim, "miosa", "/deployments")
    for raw in listing["data"]:
        env = await get_json(sim, "miosa", f"/deployments/{raw['id']}/env")
        if env["data"]:
            return Deployment(id=raw["id"], provider="miosa", name=raw.get("name") or raw["id"])
    raise AssertionError("the demo seed has no deployment with env vars")


async def server_env(sim: SimServer, dep: Deployment, environment: str = "production") -> dict[str, str]:
    answer = await get_json(sim, "miosa", f"/deployments/{dep.id}/env", environment=environment)
    return {item["name"]: item.get("preview", "") for item in answer["data"]}


def host(
    sim: SimServer,
    tmp_path: Path,
    dep: Deployment,
    *,
    read_only: bool = False,
    environment: EnvironmentLabel = "sandbox",
) -> ScreenHost:
    profile = replace(profile_for(sim, "miosa", read_only=read_only), environment=environment)
    return ScreenHost(profile, tmp_path / "audit.jsonl", lambda a, r: EnvEditorScreen(a, r, dep, profile))


async def editor(pilot: Pilot[Any]) -> EnvEditorScreen:
    async def loaded() -> EnvEditorScreen | None:
        await pilot.pause()
        screen = pilot.app.screen
        return screen if isinstance(screen, EnvEditorScreen) and screen.current else None

    result: EnvEditorScreen = await eventually(loaded, what="env list loaded")
    return result


async def type_text(pilot: Pilot[Any], text: str) -> None:
    for char in text:
        await pilot.press("enter" if char == "\n" else "tab" if char == "\t" else char)


async def test_add_change_delete_apply_reaches_server_and_never_logs_values(
    env_sim: SimServer, tmp_path: Path
) -> None:
    dep = await first_deployment_with_env(env_sim)
    before = await server_env(env_sim, dep)
    existing = sorted(before)
    to_change, to_delete = existing[0], existing[-1]
    assert to_change != to_delete, "the seed needs two env vars on one deployment"
    app = host(env_sim, tmp_path, dep)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await editor(pilot)
        # Add a new key with a multi-line unicode value: the value dialog is one line until ctrl+n.
        await pilot.press("a")
        await type_text(pilot, "SHIPDECK_NEW")
        await pilot.press("enter")
        assert isinstance(app.screen, TextPrompt)
        await type_text(pilot, "lí")
        assert isinstance(app.screen.query_one("#prompt-value"), Input)
        await pilot.press("ctrl+n")
        await eventually(lambda: isinstance(app.screen, TextPrompt) and bool(app.screen.query(TextArea)))
        assert isinstance(app.screen, TextPrompt)
        assert app.screen.query_one(TextArea).text == "lí"
        app.screen.query_one(TextArea).load_text("")
        # Typed keys (newline and tab included), then a paste with characters no key produces.
        await type_text(pilot, "línea uno\nline two\twith tab")
        app.post_message(events.Paste(" ✓ 🚀"))  # as the terminal delivers a paste
        await pilot.pause()
        assert app.screen.query_one(TextArea).text == VALUE
        await pilot.press("ctrl+s")
        # Change one (enter edits; one line, enter submits), delete another.
        screen.select_key(to_change)
        await pilot.press("enter")
        await eventually(lambda: isinstance(app.screen, TextPrompt))
        assert isinstance(app.screen.query_one("#prompt-value"), Input)
        await type_text(pilot, "zz-changed-value")
        await pilot.press("enter")
        await eventually(lambda: app.screen is screen)
        screen.select_key(to_delete)
        await pilot.press("d")
        await pilot.pause()
        assert set(screen.staged) == {"SHIPDECK_NEW", to_change, to_delete}
        # Nothing sent yet.
        assert await server_env(env_sim, dep) == before
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, EnvDiffScreen)
        diff = screen_text(app)
        assert "+ SHIPDECK_NEW = new value (hidden, 2 lines)" in diff
        assert f"- {to_delete}" in diff and f"~ {to_change}:" in diff
        assert VALUE.splitlines()[0] not in diff  # typed values are never shown back
        await pilot.press("y")

        async def applied() -> dict[str, str] | None:
            after = await server_env(env_sim, dep)
            return after if "SHIPDECK_NEW" in after and to_delete not in after else None

        after = await eventually(applied, what="env applied on the server")
        assert after["SHIPDECK_NEW"] and after["SHIPDECK_NEW"] != VALUE
        assert after[to_change] != before[to_change]
        await eventually(lambda: not screen.staged, what="staged changes cleared")
        # (Told after the list is read again, a moment after the staged changes are cleared.) One toast per
        # change (set, unset), none more: what to do next is in the status line.
        await eventually(lambda: "R redeploys now" in screen_text(app), what="the status line")
        assert len(app.messages) == 2, app.messages  # the set's and the unset's outcome
        assert "SHIPDECK_NEW" in app.messages[0] and to_delete in app.messages[1], app.messages
    audit = (tmp_path / "audit.jsonl").read_text()
    records = [json.loads(line) for line in audit.splitlines()]
    assert {r["action"] for r in records} >= {"env.set", "env.unset"}
    assert "SHIPDECK_NEW" in audit
    assert "zz-changed-value" not in audit and "línea" not in audit


async def test_bad_key_is_refused_with_the_reason_keeping_what_was_typed(
    env_sim: SimServer, tmp_path: Path
) -> None:
    dep = await first_deployment_with_env(env_sim)
    app = host(env_sim, tmp_path, dep)
    async with app.run_test(size=(80, 24)) as pilot:
        await editor(pilot)
        await pilot.press("a")
        await type_text(pilot, "9LIVES-x")
        await pilot.press("enter")
        await pilot.pause()
        prompt = app.screen
        assert isinstance(prompt, TextPrompt)
        assert prompt.query_one(Input).value == "9LIVES-x"
        assert "is not a valid name" in screen_text(app)


async def test_environment_selector_writes_to_that_environment(env_sim: SimServer, tmp_path: Path) -> None:
    dep = await first_deployment_with_env(env_sim)
    app = host(env_sim, tmp_path, dep)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await editor(pilot)
        assert screen.environment == "production"
        await pilot.press("v")
        assert screen.environment == "preview"
        assert "Env · " in screen_text(app) and "preview" in screen_text(app)
        await pilot.press("a")
        await type_text(pilot, "ONLY_IN_PREVIEW")
        await pilot.press("enter")
        await type_text(pilot, "p")
        await pilot.press("ctrl+s", "s", "y")

        async def in_preview() -> bool:
            return "ONLY_IN_PREVIEW" in await server_env(env_sim, dep, "preview")

        await eventually(in_preview, what="preview env var")
        assert "ONLY_IN_PREVIEW" not in await server_env(env_sim, dep, "production")
        assert "Changes apply on the next deploy" in screen_text(app)


async def test_read_only_profile_sends_nothing_and_says_why(env_sim: SimServer, tmp_path: Path) -> None:
    dep = await first_deployment_with_env(env_sim)
    before = await server_env(env_sim, dep)
    app = host(env_sim, tmp_path, dep, read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await editor(pilot)
        screen.stage("RO_KEY", "x")
        await pilot.press("s", "R")
        await pilot.pause()
        assert "READ-ONLY profile" in screen_text(app)
        assert any("is read-only" in m for m in app.messages)
    assert await server_env(env_sim, dep) == before


def test_validation_rules() -> None:
    assert env_key_problem("DATABASE_URL") is None and env_key_problem("_x9") is None
    for bad in ("", "9A", "A-B", "A B", "É", "A\n"):
        assert env_key_problem(bad), bad
    assert env_value_problem("multi\nline ✓") is None
    assert env_value_problem("nul\x00") is not None


def test_diff_lines_mark_add_change_delete() -> None:
    from shipdeck.model import EnvVar
    from shipdeck.tui.screens.env_editor import StagedChange

    current = {"A": EnvVar(name="A", preview="a****"), "B": EnvVar(name="B", preview="b****")}
    staged = {"A": StagedChange("A", "new"), "B": StagedChange("B", None), "C": StagedChange("C", "x\ny")}
    assert diff_lines(current, staged) == [
        ("~", "~ A: a**** -> new value (hidden)"),
        ("-", "- B (was b****)"),
        ("+", "+ C = new value (hidden, 2 lines)"),
    ]
    assert "new" not in repr(staged["A"])


async def test_redeploy_after_apply_starts_a_build(env_sim: SimServer, tmp_path: Path) -> None:
    dep = await first_deployment_with_env(env_sim)
    builds_before = {
        b["id"] for b in (await get_json(env_sim, "miosa", f"/deployments/{dep.id}/builds"))["data"]
    }
    app = host(env_sim, tmp_path, dep)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await editor(pilot)
        screen.stage("REDEPLOY_ME", "1")
        await pilot.press("s", "y")
        await eventually(lambda: not screen.staged, what="applied")
        await pilot.press("R")
        await eventually(lambda: isinstance(app.screen, ConfirmDialog), what="the redeploy dialog")
        await pilot.press("y")

        async def new_build() -> bool:
            answer = await get_json(env_sim, "miosa", f"/deployments/{dep.id}/builds")
            return bool({b["id"] for b in answer["data"]} - builds_before)

        await eventually(new_build, what="a new build on the server")
        # One toast for the change (its outcome), and the status line says it started: two toasts before.
        await eventually(lambda: "Redeploy started" in screen_text(app), what="the status line")
        assert not any(m.startswith("Redeploy started") for m in app.messages), app.messages
    assert '"redeploy"' in (tmp_path / "audit.jsonl").read_text()


async def test_redeploy_from_the_editor_asks_first_and_into_production_the_name_is_typed(
    env_sim: SimServer, tmp_path: Path
) -> None:
    """R in the editor sent the redeploy at once: one key put a new version live in production. It asks
    as the main screen's R does; on a production profile, the deployment's name is typed."""
    dep = await first_deployment_with_env(env_sim)

    async def builds() -> set[str]:
        answer = await get_json(env_sim, "miosa", f"/deployments/{dep.id}/builds")
        return {b["id"] for b in answer["data"]}

    before = await builds()
    app = host(env_sim, tmp_path, dep, environment="production")
    async with app.run_test(size=(80, 24)) as pilot:
        await editor(pilot)
        # Which environment a change here reaches, badged as on the main screen and in Logs.
        assert screen_text(app).splitlines()[0].lstrip().startswith("PRODUCTION"), screen_text(app)
        await pilot.press("R")
        dialog = await eventually(
            lambda: app.screen if isinstance(app.screen, ConfirmDialog) else None, what="the redeploy dialog"
        )
        assert dialog.request.require_typed == dep.name
        assert "redeploy" in dialog.request.confirm_label
        await pilot.press("y", "enter")
        assert isinstance(app.screen, ConfirmDialog), "a wrong name confirmed"
        await pilot.press("escape")
        await eventually(lambda: isinstance(app.screen, EnvEditorScreen), what="back in the editor")
    assert await builds() == before
    audit = tmp_path / "audit.jsonl"
    assert not audit.exists() or '"redeploy"' not in audit.read_text()


def test_masks_do_not_tell_the_length_of_a_value() -> None:
    # The server masks a short value as one star per character: shown, every such mask is the same.
    assert shown_preview("***") == shown_preview("******") == HIDDEN
    assert shown_preview("sk_...9f2") == "sk_...9f2"  # a partial preview does not tell the length
    current = {"A": EnvVar(name="A", preview="****"), "B": EnvVar(name="B", preview="**")}
    staged = {"A": StagedChange("A", None), "B": StagedChange("B", None)}
    assert diff_lines(current, staged) == [("-", f"- A (was {HIDDEN})"), ("-", f"- B (was {HIDDEN})")]


# -- a server that does not say which environment its env rows belong to (the official SDK's shape) ---------

UNSURE = "did not say which environment these variables belong to"


async def in_preview_of(pilot: Pilot[Any], screen: EnvEditorScreen) -> None:
    """Switch to preview (v) and wait for its list."""
    await pilot.press("v")
    assert screen.environment == "preview"
    await eventually(lambda: screen.current, what="preview listed")  # emptied by the switch, then read
    await pilot.pause()


async def test_rows_naming_no_environment_are_not_labelled_as_the_one_asked_for(
    sdk_env_sim: SimServer, tmp_path: Path
) -> None:
    """Against the SDK's shape, "preview" lists production's variables: the editor says the server did not
    say whose they are, rather than show them as preview's."""
    dep = await first_deployment_with_env(sdk_env_sim)
    app = host(sdk_env_sim, tmp_path, dep)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await editor(pilot)
        assert UNSURE not in screen_text(app)  # production: the default environment, nothing to say
        await in_preview_of(pilot, screen)
        shown = " ".join(screen_text(app).split())
        assert UNSURE in shown and "may be production's (the default environment), not preview's" in shown
        assert all(var.environment is None for var in screen.current.values())


async def test_a_delete_where_the_server_does_not_tell_environments_apart_is_refused_and_not_sent(
    sdk_env_sim: SimServer, tmp_path: Path
) -> None:
    dep = await first_deployment_with_env(sdk_env_sim)
    before = await server_env(sdk_env_sim, dep)
    app = host(sdk_env_sim, tmp_path, dep)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await editor(pilot)
        await in_preview_of(pilot, screen)
        key = sorted(screen.current)[0]
        screen.select_key(key)
        mark = sdk_env_sim.last_request_seq()
        await pilot.press("d")
        await pilot.pause()
        refusal = next(m for m in app.messages if f"removing {key} from preview" in m)
        assert f"could remove production's {key}" in refusal and "do it in production" in refusal
        assert screen.staged == {}
        # Staged anyway (as a key press cannot): applying still sends no delete.
        screen.staged[key] = StagedChange(key, None)
        await pilot.press("s")
        await eventually(lambda: isinstance(app.screen, EnvDiffScreen), what="diff shown")
        await pilot.press("y")
        await eventually(lambda: any("env.unset: not sent" in m or "Not sent" in m for m in app.messages))
        await pilot.pause()
        assert key in screen.staged
    assert [r for r in sdk_env_sim.requests(mark) if r["method"] == "DELETE"] == []
    assert await server_env(sdk_env_sim, dep) == before  # production's variable is still there


async def test_a_set_in_preview_is_still_sent_with_its_environment(
    sdk_env_sim: SimServer, tmp_path: Path
) -> None:
    dep = await first_deployment_with_env(sdk_env_sim)
    before = await server_env(sdk_env_sim, dep)
    app = host(sdk_env_sim, tmp_path, dep)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await editor(pilot)
        await in_preview_of(pilot, screen)
        mark = sdk_env_sim.last_request_seq()
        screen.stage("SET_IN_PREVIEW", "p")
        await pilot.press("s")
        await eventually(lambda: isinstance(app.screen, EnvDiffScreen), what="diff shown")
        assert UNSURE in " ".join(screen_text(app).split())  # the "was" previews may be production's
        await pilot.press("y")
        await eventually(lambda: not screen.staged, what="the set applied")
    posts = [r for r in sdk_env_sim.requests(mark) if r["method"] == "POST" and r["path"].endswith("/env")]
    assert len(posts) == 1
    assert await server_env(sdk_env_sim, dep) == before  # not production's: the set named preview


async def test_a_delete_in_preview_is_sent_when_the_server_names_each_rows_environment(
    env_sim: SimServer, tmp_path: Path
) -> None:
    """Rows that name preview show that the server keeps it apart: its delete is sent, production's stays."""
    dep = await first_deployment_with_env(env_sim)
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.post(
            f"{env_sim.miosa}/deployments/{dep.id}/env",
            json={"env": {"PREVIEW_ONLY_DEL": "x"}, "environment": "preview"},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        answer.raise_for_status()
    before = await server_env(env_sim, dep)
    app = host(env_sim, tmp_path, dep)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await editor(pilot)
        await in_preview_of(pilot, screen)
        assert UNSURE not in screen_text(app)
        screen.select_key("PREVIEW_ONLY_DEL")
        await pilot.press("d", "s")
        await eventually(lambda: isinstance(app.screen, EnvDiffScreen), what="diff shown")
        await pilot.press("y")

        async def gone() -> bool:
            return "PREVIEW_ONLY_DEL" not in await server_env(env_sim, dep, "preview")

        await eventually(gone, what="the preview variable removed")
    assert await server_env(env_sim, dep) == before

"""[commands.NAME] in the config file, and the environment a command gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipdeck.config.custom_commands import key_problem, textual_key
from shipdeck.config.errors import ConfigError
from shipdeck.config.loader import load_config
from shipdeck.config.profile import Profile, Secret
from shipdeck.live.custom_commands import command_environment
from shipdeck.model import Deployment, Version

RUNBOOK = """\
[commands.runbook]
key = "B"
title = "Open the runbook"
run = ["xdg-open", "https://runbooks.example.com/"]

[commands.smoke]
key = "ctrl+t"
title = "Smoke test"
run = ["./smoke.sh", "--quick"]
confirm = true
mutates = true
interactive = true
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_the_documented_commands_parse(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, RUNBOOK))
    runbook, smoke = config.commands.values()
    assert (runbook.name, runbook.key, runbook.title) == ("runbook", "B", "Open the runbook")
    assert runbook.run == ("xdg-open", "https://runbooks.example.com/")
    assert not (runbook.confirm or runbook.mutates or runbook.interactive)
    assert smoke.confirm and smoke.mutates and smoke.interactive
    assert smoke.binding_id == "command-smoke" and smoke.action == "custom_command('smoke')"
    assert config.warnings == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('key = "B"\nrun = []', "line 3: commands.x.run: required"),
        ('key = "B"\nrun = "xdg-open https://x"', "run without a shell"),
        ('key = "B"\nrun = [""]', "the program (the first argument) must not be empty"),
        ('key = "B"\nrun = ["a", 3]', "argument 2 is not a string"),
        ('run = ["a"]', "commands.x.key: required"),
        ('key = "ctlr+b"\nrun = ["a"]', "unknown modifier 'ctlr'"),
        ('key = "no such key"\nrun = ["a"]', "is not a key"),
        ('key = "escape"\nrun = ["a"]', "needed by every screen"),
        ('key = "B"\nrun = ["a"]\nconfirm = "yes"', "commands.x.confirm: must be true or false"),
    ],
)
def test_bad_commands_are_refused_with_the_line_and_the_reason(
    tmp_path: Path, body: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, f"[commands.x]\n{body}\n"))
    assert expected in caught.value.message


def test_two_commands_on_one_key_are_refused(tmp_path: Path) -> None:
    text = '[commands.a]\nkey = "!"\nrun = ["a"]\n[commands.b]\nkey = "exclamation_mark"\nrun = ["b"]\n'
    taken = r"commands\.b\.key: 'exclamation_mark' is already the key of \[commands\.a\]"
    with pytest.raises(ConfigError, match=taken):
        load_config(write(tmp_path, text))


def test_an_unknown_command_key_is_a_warning(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[commands.a]\nkey = "B"\nrun = ["a"]\ntitel = "x"\n'))
    assert any("commands.a.titel: unknown key" in w and "'title'" in w for w in config.warnings)


def test_keys_are_spelt_as_textual_names_them() -> None:
    assert [textual_key(k) for k in ("!", "/", "B", "ctrl+b", "+")] == [
        "exclamation_mark",
        "slash",
        "B",
        "ctrl+b",
        "plus",
    ]
    assert key_problem("f5") is None and key_problem("question_mark") is None
    assert key_problem("f99") is not None


def test_the_environment_names_the_selection_and_never_the_token() -> None:
    profile = Profile("prod", "miosa", "https://api.example.com/v1", Secret("msk_secret"), read_only=True)
    dep = Deployment(
        id="dep_1", provider="miosa", name="shop\x00; rm -rf ~", state="running", url="https://shop.example",
        active_version_id="ver_7", active_version_number=7,
    )  # fmt: skip
    env = command_environment(profile, dep, base={"PATH": "/bin", "SHIPDECK_URL": "stale"})
    assert env["PATH"] == "/bin"
    assert env["SHIPDECK_DEPLOYMENT_NAME"] == "shop; rm -rf ~"  # a value, never a command line
    assert (env["SHIPDECK_VERSION"], env["SHIPDECK_VERSION_ID"]) == ("v7", "ver_7")
    assert env["SHIPDECK_URL"] == "https://shop.example"
    assert (env["SHIPDECK_PROFILE"], env["SHIPDECK_PROVIDER"], env["SHIPDECK_READ_ONLY"]) == (
        "prod",
        "miosa",
        "1",
    )
    assert env["SHIPDECK_ENVIRONMENT"] == "production"
    assert "msk_secret" not in "".join(env.values())
    chosen = Version(id="ver_5", deployment_id="dep_1", number=5)
    assert command_environment(profile, dep, chosen, base={})["SHIPDECK_VERSION"] == "v5"
    # No row selected: only the profile's fields, and the parent's stale selection is gone.
    bare = command_environment(profile, None, base={"SHIPDECK_URL": "stale"})
    assert "SHIPDECK_URL" not in bare and "SHIPDECK_DEPLOYMENT_ID" not in bare

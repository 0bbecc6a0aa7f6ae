from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from shipdeck.config.errors import ConfigError, TokenError
from shipdeck.config.loader import (
    ad_hoc_profile,
    build_profile,
    choose_profile_name,
    keymap_conflicts,
    load_config,
)
from shipdeck.config.providers import DEFAULT_BASE_URL

EXAMPLE = """\
default_profile = "prod-eu"

[profiles.prod-eu]
provider = "miosa"                       # miosa | miteos | mixpeek
base_url = "https://api.miosa.ai/api/v1"
environment = "production"               # production | staging | sandbox
token_command = "pass show miosa/prod"
read_only = true
theme = "shipdeck-dark"
tasks_profile = "agents"

[profiles.agents]
provider = "miteos"
environment = "staging"

[keymap]
rollback = "ctrl+b"                      # binding id = new key(s)
"""


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_the_documented_example_parses(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, EXAMPLE))
    assert config.default_profile == "prod-eu"
    prod = config.profiles["prod-eu"]
    assert (prod.provider, prod.base_url, prod.environment) == (
        "miosa",
        "https://api.miosa.ai/api/v1",
        "production",
    )
    assert prod.read_only is True and prod.theme == "shipdeck-dark"
    assert prod.token_command == "pass show miosa/prod" and prod.tasks_profile == "agents"
    agents = config.profiles["agents"]
    assert agents.base_url == DEFAULT_BASE_URL["miteos"] and agents.read_only is False
    assert config.keymap == {"rollback": "ctrl+b"}
    assert config.warnings == []


def test_missing_file_is_an_empty_config(tmp_path: Path) -> None:
    config = load_config(tmp_path / "nope.toml")
    assert not config.exists and config.profiles == {}
    with pytest.raises(ConfigError, match="defines none"):
        choose_profile_name(config, None)


def test_shipdeck_config_env_var_moves_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, EXAMPLE)
    monkeypatch.setenv("SHIPDECK_CONFIG", str(path))
    assert load_config().path == path and load_config().exists


@pytest.mark.parametrize(
    ("text", "line", "key", "words"),
    [
        ('[profiles.a]\nprovider = "mioza"\n', 2, "profiles.a.provider", "unknown provider 'mioza'"),
        ('[profiles.a]\nbase_url = "x"\n', 1, "profiles.a.provider", "required"),
        ('[profiles.a]\nprovider = "miosa"\nbase_url = "ftp://x"\n', 3, "profiles.a.base_url", "http(s) URL"),
        ('[profiles.a]\nprovider = "miosa"\nenvironment = "prod"\n', 3, "profiles.a.environment", "one of"),
        (
            '[profiles.a]\nprovider = "miosa"\n\nread_only = "yes"\n',
            4,
            "profiles.a.read_only",
            "true or false",
        ),
        (
            '[profiles.a]\nprovider = "miosa"\ntoken_env = "X"\ntoken_command = "y"\n',
            4,
            "profiles.a.token_command",
            "choose one token source",
        ),
        ('[profiles.a]\nprovider = "miosa"\ntoken_env = "NOT A VAR"\n', 3, "profiles.a.token_env", "not an"),
        (
            'default_profile = "b"\n[profiles.a]\nprovider = "miosa"\n',
            1,
            "default_profile",
            "no profile named 'b'",
        ),
        (
            '[profiles.a]\nprovider = "miosa"\ntasks_profile = "zz"\n',
            3,
            "profiles.a.tasks_profile",
            "no profile",
        ),
        (
            '[profiles.a]\nprovider = "miosa"\ntasks_profile = "a"\n',
            3,
            "profiles.a.tasks_profile",
            "not miteos",
        ),
        ("[keymap]\nrollback = 5\n", 2, "keymap.rollback", "must be a key"),
        ('[profiles."eu west"]\nprovider = 1\n', 2, 'profiles."eu west".provider', "unknown provider"),
        ("profiles = 3\n", 1, "profiles", "must be a table"),
        ('[keymap]\nquit = "q"\nrollback = "ctrl b"\n', 3, "keymap.rollback", "'ctrl b' is not a key"),
        ('[keymap]\nrollback = ","\n', 2, "keymap.rollback", "is not a key"),
        # A key no terminal sends left the action with no key at all, and `config check` said ok.
        ('[keymap]\nfilter = "ctrl+shift+banana"\n', 2, "keymap.filter", "'ctrl+shift+banana' is not a key"),
        ('[keymap]\nfilter = "f5, hyperspace+x"\n', 2, "keymap.filter", "unknown modifier 'hyperspace'"),
    ],
)
def test_bad_values_name_file_line_and_key(
    tmp_path: Path, text: str, line: int, key: str, words: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.message.startswith(f"{path}, line {line}: {key}: "), info.value.message
    assert words in info.value.message


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[profiles.a]\nprovider = "miosa\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in info.value.message and "line 2" in info.value.message


def test_binary_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xff\xfe\x00junk")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


def test_unknown_keys_are_warnings_with_a_suggestion(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[profiles.a]\nprovider = "miosa"\nreadonly = true\n'))
    assert config.profiles["a"].read_only is False
    assert config.warnings == [
        f"{tmp_path / 'config.toml'}, line 3: profiles.a.readonly: unknown key, ignored "
        "(did you mean 'read_only'?)"
    ]


def test_plain_http_to_a_remote_host_warns(tmp_path: Path) -> None:
    text = '[profiles.a]\nprovider = "miosa"\nbase_url = "http://example.com/api/v1"\n'
    text += '[profiles.b]\nprovider = "miosa"\nbase_url = "http://127.0.0.1:9/api/v1"\n'
    warnings = load_config(write(tmp_path, text)).warnings
    assert len(warnings) == 1 and "profiles.a.base_url" in warnings[0] and "unencrypted" in warnings[0]


def test_keymap_conflicts_are_reported(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, '[keymap]\nrollback = "ctrl+b"\npromote = "x, ctrl+b"\nquit = "q"\n')
    )
    assert config.keymap == {"rollback": "ctrl+b", "promote": "x,ctrl+b", "quit": "q"}
    assert len(config.warnings) == 1
    assert "line 3: keymap.promote: key 'ctrl+b' is bound to both rollback and promote" in config.warnings[0]
    assert keymap_conflicts({"a": "x", "b": "y"}) == []


def test_an_empty_binding_id_and_a_key_written_twice_are_said_once_and_sensibly(tmp_path: Path) -> None:
    # Warned "bound to both  and rollback and rollback".
    config = load_config(write(tmp_path, '[keymap]\n"" = "ctrl+b"\nrollback = "ctrl+b, ctrl+b"\n'))
    assert config.keymap == {"rollback": "ctrl+b"}
    assert config.warnings == [f"{tmp_path / 'config.toml'}, line 2: keymap: an empty binding id; ignored"]


@pytest.mark.parametrize(("key", "twin"), [("ctrl+i", "tab"), ("ctrl+m", "enter"), ("ctrl+[", "escape")])
def test_a_key_terminals_send_as_another_is_warned(tmp_path: Path, key: str, twin: str) -> None:
    # help = "ctrl+i" passed config check, but a terminal sends ctrl+i as tab.
    config = load_config(write(tmp_path, f'[keymap]\nhelp = "{key}"\n'))
    assert len(config.warnings) == 1
    assert f"line 2: keymap.help: '{key}' reaches the console as {twin}" in config.warnings[0]


def test_profile_choice_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(write(tmp_path, EXAMPLE))
    assert choose_profile_name(config, None) == "prod-eu"
    monkeypatch.setenv("SHIPDECK_PROFILE", "agents")
    assert choose_profile_name(config, None) == "agents"
    assert choose_profile_name(config, "prod-eu") == "prod-eu"
    with pytest.raises(ConfigError, match="no profile named 'nope'.*agents, prod-eu"):
        choose_profile_name(config, "nope")


def test_several_profiles_without_default_ask_for_one(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, '[profiles.a]\nprovider = "miosa"\n[profiles.b]\nprovider = "miosa"\n')
    )
    with pytest.raises(ConfigError, match="several profiles and no default"):
        choose_profile_name(config, None)
    single = load_config(write(tmp_path, '[profiles.only]\nprovider = "mixpeek"\n'))
    assert choose_profile_name(single, None) == "only"


def test_build_profile_resolves_token_and_tasks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = EXAMPLE.replace('token_command = "pass show miosa/prod"', 'token_env = "PROD_TOKEN"')
    config = load_config(write(tmp_path, text))
    monkeypatch.setenv("PROD_TOKEN", "msk_prod_secret")
    monkeypatch.setenv("MITEOS_API_KEY", "mt_test_x")
    profile = build_profile(config, "prod-eu")
    assert profile.token.reveal() == "msk_prod_secret"
    assert profile.read_only and profile.environment == "production"
    assert profile.tasks is not None and profile.tasks.provider == "miteos"
    assert profile.tasks.token.reveal() == "mt_test_x" and profile.tasks.environment == "staging"
    assert "msk_prod_secret" not in repr(profile)


def test_read_only_flag_only_tightens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(write(tmp_path, '[profiles.a]\nprovider = "miosa"\n'))
    monkeypatch.setenv("MIOSA_API_KEY", "k")
    assert build_profile(config, "a").read_only is False
    assert build_profile(config, "a", read_only=True).read_only is True


def test_ad_hoc_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TokenError, match="MIOSA_API_KEY is not set"):
        ad_hoc_profile("miosa", "http://127.0.0.1:1/api/v1")
    monkeypatch.setenv("MIOSA_API_KEY", "msk_adhoc")
    profile = ad_hoc_profile("miosa", "http://127.0.0.1:1/api/v1/")
    assert profile.base_url == "http://127.0.0.1:1/api/v1" and profile.environment == "sandbox"
    assert ad_hoc_profile("miosa", "https://api.example.com/api/v1").environment == "production"
    # The name keys open changes and the audit: two servers on one host are two; the sandbox is one.
    assert ad_hoc_profile("miosa", "https://api.example.com/api/v1").name == "miosa@api.example.com"
    assert ad_hoc_profile("miosa", "https://api.example.com:8443/v").name == "miosa@api.example.com:8443"
    assert profile.name == "miosa@127.0.0.1"
    # A host without the API's version path gets it, as the official Miosa SDK does (the host alone 404s).
    assert ad_hoc_profile("miosa", "https://api.miosa.ai/").base_url == "https://api.miosa.ai/api/v1"
    assert ad_hoc_profile("miosa", "https://api.miosa.ai/api/v1").base_url == "https://api.miosa.ai/api/v1"
    monkeypatch.setenv("MIXPEEK_API_KEY", "sk_adhoc")
    assert ad_hoc_profile("mixpeek", "https://api.mixpeek.com/v1/apps").base_url.endswith("/v1/apps")
    with pytest.raises(ConfigError, match="port must be a number"):
        ad_hoc_profile("miosa", "https://api.example.com:http/v")
    with pytest.raises(ConfigError, match="unknown provider"):
        ad_hoc_profile("heroku", None)
    with pytest.raises(ConfigError, match="--url"):
        ad_hoc_profile("miosa", "api.example.com")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        # Passed the loader, then every command said "unexpected ExceptionGroup ... OverflowError".
        ("http://127.0.0.1:99999/api/v1", "the port must be a number from 1 to 65535"),
        ("http://127.0.0.1:0/api/v1", "the port must be a number from 1 to 65535"),
        ("http://[::1/api/v1", "is not a valid URL: Invalid IPv6 URL"),
        ("http://127.0.0.1:9/api\r\n/v1", "must not contain spaces or control characters"),
        ("http://127.0.0.1:9/api/v1 x", "must not contain spaces or control characters"),
        ("http://127.0.0.1:9/api/v1#frag", "must not have a query (?...) or a fragment (#...)"),
        ("http://127.0.0.1:9/api/v1?x=1", "must not have a query (?...) or a fragment (#...)"),
    ],
)
def test_a_base_url_that_cannot_be_called_is_refused_by_the_profile_and_by_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, words: str
) -> None:
    toml_url = json.dumps(url)  # a TOML basic string: \r and \n written as escapes
    text = f'[profiles.a]\nprovider = "miosa"\nbase_url = {toml_url}\n'
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert "line 3: profiles.a.base_url: " + words in info.value.message
    monkeypatch.setenv("MIOSA_API_KEY", "msk_adhoc")
    with pytest.raises(ConfigError) as info:
        ad_hoc_profile("miosa", url)
    assert info.value.message.startswith("--url: " + words)


def test_a_base_url_with_a_user_and_password_is_refused_without_repeating_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # httpx sent them as Basic auth instead of the token, and `config show` printed the password.
    url = "http://user:s3cretpw@127.0.0.1:9/api/v1"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, f'[profiles.a]\nprovider = "miosa"\nbase_url = "{url}"\n'))
    assert "profiles.a.base_url: must not contain a user name or password" in info.value.message
    assert "s3cretpw" not in info.value.message
    monkeypatch.setenv("MIOSA_API_KEY", "msk_adhoc")
    with pytest.raises(ConfigError) as info:
        ad_hoc_profile("miosa", url)
    assert "--url: must not contain a user name or password" in info.value.message
    assert "s3cretpw" not in info.value.message


class TestLiteralToken:
    TEXT = '[profiles.a]\nprovider = "miosa"\ntoken = "msk_literal_secret"\n'

    def test_accepted_in_a_private_file(self, tmp_path: Path) -> None:
        config = load_config(write(tmp_path, self.TEXT, 0o600))
        assert build_profile(config, "a").token.reveal() == "msk_literal_secret"

    @pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
    def test_refused_in_a_readable_file_with_the_fix(self, tmp_path: Path) -> None:
        path = write(tmp_path, self.TEXT, 0o644)
        with pytest.raises(TokenError) as info:
            load_config(path)
        message = info.value.message
        assert f"chmod 600 {path}" in message and "mode 644" in message and "line 3" in message
        assert "msk_literal_secret" not in message
        assert info.value.exit_code == 3

    def test_a_bad_literal_is_not_echoed(self, tmp_path: Path) -> None:
        path = write(tmp_path, '[profiles.a]\nprovider = "miosa"\ntoken = ""\n')
        with pytest.raises(ConfigError, match="non-empty string"):
            load_config(path)

"""Whatever is in the config or a theme file, the answer is a result or one clear error, never a crash."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipdeck.config.errors import ConfigError
from shipdeck.config.loader import load_config
from shipdeck.config.themes import ThemeFileError, parse_theme

KEYS = ["provider", "base_url", "environment", "read_only", "theme", "token_env", "token_command", "token"]
KEYS += ["tasks_profile", "token_command_timeout", "default_profile", "keymap", "profiles", "name", "primary"]
VALUES = st.one_of(
    st.sampled_from(
        ['"miosa"', '"miteos"', '"production"', "true", "3", '"https://x.example/api"', "[1, 2]"]
    ),
    st.sampled_from(['"ctrl+b"', "{ a = 1 }", '""', '"http://127.0.0.1:9"', "-1.5", '"ansi_red"']),
)
LINES = st.one_of(
    st.builds(lambda k, v: f"{k} = {v}", st.sampled_from(KEYS), VALUES),
    st.sampled_from(
        ["[profiles.a]", "[profiles.b]", "[keymap]", "[profiles]", '[profiles."x y"]', "[variables]"]
    ),
    st.text(max_size=20),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(LINES, max_size=12))
def test_config_loader_never_crashes(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    path.chmod(0o600)
    try:
        config = load_config(path)
    except ConfigError as exc:
        assert str(path) in exc.message and "\n" not in exc.message.strip()
        return
    assert all(isinstance(w, str) for w in config.warnings)


@settings(max_examples=300, deadline=None)
@given(
    data=st.dictionaries(
        st.sampled_from(KEYS + ["dark", "ansi", "error", "variables"]),
        st.one_of(
            st.text(max_size=12),
            st.booleans(),
            st.integers(),
            st.dictionaries(st.text(max_size=8), st.text(max_size=8)),
        ),
    )
)
def test_theme_parser_never_crashes(data: dict[str, object]) -> None:
    try:
        spec = parse_theme(data)
    except ThemeFileError as exc:
        assert str(exc)
        return
    assert spec.variables["production-badge-background"]

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual._color_constants import COLOR_NAME_TO_RGB
from textual.color import Color, ColorParseError

from shipdeck.config.paths import user_themes_dir
from shipdeck.config.themes import (
    ANSI_COLOR_NAMES,
    CSS_COLOR_NAMES,
    DEFAULT_DARK_THEME,
    DEFAULT_LIGHT_THEME,
    is_color,
    load_themes,
    shipped_themes_dir,
)

GOOD = """\
name = "night-shift"
dark = true
primary = "#224488"
error = "rgb(200, 0, 0)"
[variables]
production-badge-foreground = "white"
footer-key-foreground = "hsl(200, 50%, 40%)"
input-cursor-text-style = "none"
"""


def test_shipped_themes_load_and_cover_the_promised_kinds() -> None:
    directory = shipped_themes_dir()
    assert directory is not None and (directory / "shipdeck-dark.toml").is_file()
    catalog = load_themes([directory])
    assert catalog.problems == []
    names = set(catalog.names())
    assert {DEFAULT_DARK_THEME, DEFAULT_LIGHT_THEME, "shipdeck-high-contrast", "shipdeck-ansi"} <= names
    light = catalog.get(DEFAULT_LIGHT_THEME)
    assert light is not None and light.dark is False
    ansi = catalog.get("shipdeck-ansi")
    assert ansi is not None and ansi.ansi
    colours = [getattr(ansi, key) for key in ("primary", "error", "success", "warning")]
    assert all(c.startswith("ansi_") for c in colours + list(ansi.variables.values()))


def test_every_shipped_colour_is_accepted_by_textual_and_production_stands_out() -> None:
    for theme in load_themes().themes:
        values = [
            getattr(theme, k) for k in ("primary", "secondary", "background", "error") if getattr(theme, k)
        ]
        for value in values + list(theme.variables.values()):
            Color.parse(value)
        badge = theme.variables["production-badge-background"]
        assert badge != theme.variables["staging-badge-background"]
        assert badge != theme.variables["sandbox-badge-background"]
        assert badge != theme.variables["production-badge-foreground"]
        if not theme.ansi:
            red, green, blue = Color.parse(badge).rgb
            assert red > 150 and green < 60 and blue < 60, f"{theme.name}: PRODUCTION badge is not red"


def test_user_theme_is_loaded_and_gets_badge_defaults(tmp_path: Path) -> None:
    (tmp_path / "night.toml").write_text(GOOD)
    catalog = load_themes([tmp_path])
    assert catalog.problems == []
    theme = catalog.get("night-shift")
    assert theme is not None and theme.source == str(tmp_path / "night.toml")
    assert theme.variables["production-badge-background"] == "rgb(200, 0, 0)"  # the theme's error colour
    assert theme.variables["production-badge-foreground"] == "white"  # kept as written
    assert {"staging-badge-background", "sandbox-badge-foreground"} <= set(theme.variables)
    assert theme.variables["input-cursor-text-style"] == "none"


def test_user_themes_dir_is_searched_and_overrides_by_name() -> None:
    directory = user_themes_dir()
    directory.mkdir(parents=True)
    (directory / "mine.toml").write_text(GOOD.replace("night-shift", DEFAULT_DARK_THEME))
    theme = load_themes().get(DEFAULT_DARK_THEME)
    assert theme is not None and theme.primary == "#224488"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('name = "x"\nprimary = "#12345"\n', "primary: '#12345' is not a colour"),
        ('name = "x"\nprimary = "bleu"\n', "primary: 'bleu' is not a colour"),
        ('name = "x"\n', "primary: required"),
        ('primary = "red"\n', "name: required"),
        ('name = "x"\nprimary = "red"\nprimry = "red"\n', "unknown key 'primry'"),
        ('name = "x"\nprimary = "red"\ndark = "yes"\n', "dark: must be true or false"),
        (
            'name = "x"\nprimary = "red"\n[variables]\nproduction-badge-background = "nope"\n',
            "variables.production",
        ),
        ('name = "x"\nprimary = "red"\nvariables = 3\n', "variables: must be a table"),
        ('name = "x"\nprimary = "red\n', "not valid TOML"),
        # A value that would end its declaration and write CSS of its own; a newline; an empty value.
        (
            'name = "x"\nprimary = "red"\n[variables]\n'
            '"block-cursor-text-style" = "red; } Screen { display: none; } X {"\n',
            "variables.block-cursor-text-style: 'red; } Screen",
        ),
        (
            'name = "x"\nprimary = "red"\n[variables]\nlink-style = "bold\\nunderline"\n',
            "variables.link-style",
        ),
        ('name = "x"\nprimary = "red"\n[variables]\nlink-style = " "\n', "link-style: must not be empty"),
        ('name = "x"\nprimary = "red"\n[variables]\n"a b" = "bold"\n', "'a b' is not a variable name"),
    ],
)
def test_broken_theme_files_are_reported_and_skipped(tmp_path: Path, text: str, words: str) -> None:
    (tmp_path / "a-good.toml").write_text(GOOD)
    (tmp_path / "broken.toml").write_text(text)
    catalog = load_themes([tmp_path])
    assert catalog.names() == ["night-shift"]
    assert len(catalog.problems) == 1
    assert str(tmp_path / "broken.toml") in catalog.problems[0] and words in catalog.problems[0]


def test_colour_parser_agrees_with_textual() -> None:
    assert set(COLOR_NAME_TO_RGB) | {"ansi_default"} == CSS_COLOR_NAMES | ANSI_COLOR_NAMES
    samples = ["#abc", "#abcd", "#aabbcc", "#aabbccdd", "rgb(1,2,3)", "rgba(1, 2, 3, 0.5)", "hsl(10,20%,30%)"]
    samples += ["hsla(10, 20%, 30%, 0.4)", "ansi_bright_red", "ansi_default", "rebeccapurple"]
    bad = ["#ab", "#abcde", "rgb(1,2)", "hsl(1,2,3)", "ansi_pink", "reddish", "", "rgb(a,b,c)"]
    for sample in samples:
        assert is_color(sample), sample
        Color.parse(sample)
    for sample in bad:
        assert not is_color(sample), sample
        with pytest.raises(ColorParseError):
            Color.parse(sample)


def test_shipped_themes_are_found_in_a_wheel_and_in_a_checkout(tmp_path: Path) -> None:
    wheel_package = tmp_path / "site-packages" / "shipdeck"
    (wheel_package / "themes").mkdir(parents=True)
    assert shipped_themes_dir(wheel_package) == wheel_package / "themes"
    checkout_package = tmp_path / "repo" / "src" / "shipdeck"
    checkout_package.mkdir(parents=True)
    (tmp_path / "repo" / "themes").mkdir()
    assert shipped_themes_dir(checkout_package) == tmp_path / "repo" / "themes"
    assert shipped_themes_dir(tmp_path / "nowhere" / "a" / "shipdeck") is None


def test_colours_are_kept_stripped_so_the_console_takes_what_was_checked(tmp_path: Path) -> None:
    # `shipdeck themes` accepted " #3d8bfd " and the console then skipped it as "not a colour".
    text = 'name = "spaced"\nprimary = " #3d8bfd "\n[variables]\n'
    text += 'link-style = " bold "\nscrollbar-color = " red "\n'
    (tmp_path / "spaced.toml").write_text(text)
    theme = load_themes([tmp_path]).get("spaced")
    assert theme is not None
    assert (theme.primary, theme.variables["link-style"], theme.variables["scrollbar-color"]) == (
        "#3d8bfd",
        "bold",
        "red",
    )
    Color.parse(theme.primary)


def test_a_theme_file_that_is_not_a_regular_file_is_skipped_without_reading_it(tmp_path: Path) -> None:
    (tmp_path / "a-good.toml").write_text(GOOD)
    os.mkfifo(tmp_path / "pipe.toml")  # reading it would block forever
    (tmp_path / "zero.toml").symlink_to("/dev/zero")  # reading it would never end
    (tmp_path / "huge.toml").write_text("# " + "x" * (1024 * 1024) + "\n")
    catalog = load_themes([tmp_path])
    assert catalog.names() == ["night-shift"]
    problems = "\n".join(catalog.problems)
    assert f"{tmp_path / 'pipe.toml'} skipped: not a regular file (this is a named pipe)" in problems
    assert f"{tmp_path / 'zero.toml'} skipped: not a regular file (this is a device)" in problems
    assert f"{tmp_path / 'huge.toml'} skipped: larger than 1 MB" in problems

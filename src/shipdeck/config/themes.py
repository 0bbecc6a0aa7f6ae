"""Theme files: TOML, shipped in ``themes/`` and added by users in the config dir. Plain data, no Textual.

The console turns each :class:`ThemeSpec` into a Textual theme. Colours are checked here with a small
parser of the forms Textual accepts (hex, rgb/rgba, hsl/hsla, CSS names, ``ansi_*`` names), so a broken
file is reported and skipped before the console starts. Every other variable value is checked here only so
far as it cannot break out of its CSS declaration (no ``;``, ``{``, ``}``, no control characters); whether
Textual's CSS parser takes it is checked where themes become Textual themes (``shipdeck.tui.themes``), the
one place that may import Textual. Values are kept stripped: what is checked is what the console gets.

A theme file::

    name = "shipdeck-dark"
    dark = true
    primary = "#3d8bfd"
    error = "#ff5c5c"
    [variables]
    production-badge-background = "#d7263d"
    production-badge-foreground = "#ffffff"
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from shipdeck.config.files import FileRefused, read_bounded
from shipdeck.config.paths import user_themes_dir

DEFAULT_DARK_THEME = "shipdeck-dark"
DEFAULT_LIGHT_THEME = "shipdeck-light"
THEME_SUFFIX = ".toml"

BADGE_ENVIRONMENTS = ("production", "staging", "sandbox")


@dataclass(frozen=True)
class ThemeSpec:
    name: str
    dark: bool
    primary: str
    secondary: str | None = None
    accent: str | None = None
    foreground: str | None = None
    background: str | None = None
    surface: str | None = None
    panel: str | None = None
    success: str | None = None
    warning: str | None = None
    error: str | None = None
    # Textual CSS variables, including shipdeck's own: production-badge-background,
    # production-badge-foreground, staging-badge-*, sandbox-badge-* (always present after loading).
    variables: dict[str, str] = field(default_factory=dict)
    # True for a theme made of ANSI colour names (16-colour terminals): Textual's ``Theme(ansi=True)``.
    ansi: bool = False
    # The file it came from (shown by `shipdeck themes` and in problems).
    source: str = ""


COLOR_FIELDS = (
    *("primary", "secondary", "accent", "foreground", "background", "surface", "panel"),
    *("success", "warning", "error"),
)
_KNOWN_KEYS = {f.name for f in fields(ThemeSpec)} - {"source"}

_ANSI_NAMES = ["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"]
ANSI_COLOR_NAMES = frozenset(
    {"ansi_default"} | {f"ansi_{n}" for n in _ANSI_NAMES} | {f"ansi_bright_{n}" for n in _ANSI_NAMES}
)
CSS_COLOR_NAMES = frozenset(
    """transparent black silver gray grey white maroon red purple fuchsia green lime olive yellow navy blue
    teal aqua orange aliceblue antiquewhite aquamarine azure beige bisque blanchedalmond blueviolet brown
    burlywood cadetblue chartreuse chocolate coral cornflowerblue cornsilk crimson cyan darkblue darkcyan
    darkgoldenrod darkgray darkgreen darkgrey darkkhaki darkmagenta darkolivegreen darkorange darkorchid
    darkred darksalmon darkseagreen darkslateblue darkslategray darkslategrey darkturquoise darkviolet
    deeppink deepskyblue dimgray dimgrey dodgerblue firebrick floralwhite forestgreen gainsboro ghostwhite
    gold goldenrod greenyellow honeydew hotpink indianred indigo ivory khaki lavender lavenderblush
    lawngreen lemonchiffon lightblue lightcoral lightcyan lightgoldenrodyellow lightgray lightgreen
    lightgrey lightpink lightsalmon lightseagreen lightskyblue lightslategray lightslategrey
    lightsteelblue lightyellow limegreen linen magenta mediumaquamarine mediumblue mediumorchid
    mediumpurple mediumseagreen mediumslateblue mediumspringgreen mediumturquoise mediumvioletred
    midnightblue mintcream mistyrose moccasin navajowhite oldlace olivedrab orangered orchid
    palegoldenrod palegreen paleturquoise palevioletred papayawhip peachpuff peru pink plum powderblue
    rosybrown royalblue saddlebrown salmon sandybrown seagreen seashell sienna skyblue slateblue
    slategray slategrey snow springgreen steelblue tan thistle tomato turquoise violet wheat whitesmoke
    yellowgreen rebeccapurple""".split()  # noqa: SIM905 (a word list reads better than 150 quoted items)
)
_NUMBER = r"\s*-?\d+(?:\.\d+)?\s*"
_PERCENT = r"\s*-?\d+(?:\.\d+)?%\s*"
_COLOR_FUNCTION = re.compile(
    rf"^(?:rgb\(({_NUMBER},){{2}}{_NUMBER}\)|rgba\(({_NUMBER},){{3}}{_NUMBER}\)"
    rf"|hsl\({_NUMBER},{_PERCENT},{_PERCENT}\)|hsla\({_NUMBER},{_PERCENT},{_PERCENT},{_NUMBER}\))$"
)
_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
# Variables whose value is a colour (others, like `input-cursor-text-style`, are checked by Textual's parser).
_COLOR_VARIABLE = re.compile(r"(?:^|-)(?:background|foreground|color)$")
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# What would end the declaration a variable is substituted into (or the rule around it), or the line.
_BREAKS_OUT = re.compile(r"[;{}\x00-\x1f\x7f]")


def is_color(text: str) -> bool:
    """Whether Textual's ``Color.parse`` accepts ``text`` (checked without importing Textual)."""
    return bool(
        _HEX.match(text) or text in ANSI_COLOR_NAMES or text in CSS_COLOR_NAMES or _COLOR_FUNCTION.match(text)
    )


class ThemeFileError(Exception):
    pass


def parse_theme(data: dict[str, Any], *, source: str = "") -> ThemeSpec:
    """A theme from a parsed TOML table; ThemeFileError names the key at fault."""
    unknown = sorted(set(data) - _KNOWN_KEYS)
    if unknown:
        raise ThemeFileError(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(_KNOWN_KEYS))})")
    name = data.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ThemeFileError("name: required, letters, digits, '-', '_' or '.'")
    for flag in ("dark", "ansi"):
        if flag in data and not isinstance(data[flag], bool):
            raise ThemeFileError(f"{flag}: must be true or false")
    if "primary" not in data:
        raise ThemeFileError("primary: required")
    colors: dict[str, str | None] = {}
    for key in COLOR_FIELDS:
        value = data.get(key)
        colors[key] = None if value is None else _checked_color(key, value)
    raw_variables = data.get("variables", {})
    if not isinstance(raw_variables, dict):
        raise ThemeFileError("variables: must be a table")
    variables: dict[str, str] = {}
    for key, value in raw_variables.items():
        if not _VARIABLE_NAME.fullmatch(key):
            raise ThemeFileError(f"variables: {key!r} is not a variable name (letters, digits, '-', '_')")
        if not isinstance(value, str):
            raise ThemeFileError(f"variables.{key}: must be a string")
        if _COLOR_VARIABLE.search(key):
            variables[key] = _checked_color(f"variables.{key}", value)
        else:
            variables[key] = _checked_value(f"variables.{key}", value)
    spec = ThemeSpec(
        name=name,
        dark=data.get("dark", True),
        ansi=data.get("ansi", False),
        variables=variables,
        source=source,
        **colors,  # type: ignore[arg-type]
    )
    return _with_badge_defaults(spec)


def _checked_color(key: str, value: object) -> str:
    """The colour, stripped (the console gets the stripped value, so it accepts what was checked)."""
    if not isinstance(value, str) or not is_color(value.strip()):
        raise ThemeFileError(
            f"{key}: {value!r} is not a colour "
            "(use #rrggbb, rgb(r,g,b), hsl(h,s%,l%), a CSS colour name, or an ANSI name like ansi_red)"
        )
    return value.strip()


def _checked_value(key: str, value: str) -> str:
    """A variable that is not a colour: one CSS value, stripped, that cannot end its declaration."""
    text = value.strip()
    if not text:
        raise ThemeFileError(f"{key}: must not be empty")
    if _BREAKS_OUT.search(text):
        raise ThemeFileError(
            f"{key}: {value!r} is not a CSS value (';', '{{', '}}' and control characters are not allowed)"
        )
    return text


def _with_badge_defaults(spec: ThemeSpec) -> ThemeSpec:
    """Every theme gets the environment badge colours; PRODUCTION falls back to the error colour."""
    fallback_light, fallback_dark = (
        ("ansi_bright_white", "ansi_black") if spec.ansi else ("#ffffff", "#000000")
    )
    defaults = {
        "production-badge-background": spec.error or ("ansi_red" if spec.ansi else "#c62828"),
        "production-badge-foreground": fallback_light,
        "staging-badge-background": spec.warning or ("ansi_yellow" if spec.ansi else "#f9a825"),
        "staging-badge-foreground": fallback_dark,
        "sandbox-badge-background": spec.panel or spec.surface or ("ansi_blue" if spec.ansi else "#455a64"),
        "sandbox-badge-foreground": spec.foreground or (fallback_light if spec.dark else fallback_dark),
    }
    missing = {k: v for k, v in defaults.items() if k not in spec.variables}
    if not missing:
        return spec
    return ThemeSpec(**{**_as_dict(spec), "variables": {**spec.variables, **missing}})


def _as_dict(spec: ThemeSpec) -> dict[str, Any]:
    return {f.name: getattr(spec, f.name) for f in fields(ThemeSpec)}


# A theme file is a few hundred bytes; the config file's bound is plenty.
MAX_THEME_BYTES = 1024 * 1024


def load_theme_file(path: Path) -> ThemeSpec:
    """One theme file, read as the config file is (config/files.py): a named pipe, a link to /dev/zero or
    a huge file hung `shipdeck themes` and the console."""
    try:
        text = read_bounded(path, MAX_THEME_BYTES).decode("utf-8")
    except FileRefused as exc:
        if exc.too_large:
            raise ThemeFileError(f"larger than {MAX_THEME_BYTES // 1024 // 1024} MB") from None
        raise ThemeFileError(f"not a regular file (this is {exc.kind})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ThemeFileError(f"cannot read it ({exc.__class__.__name__})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ThemeFileError(f"not valid TOML: {exc}") from None
    return parse_theme(data, source=str(path))


def shipped_themes_dir(package_dir: Path | None = None) -> Path | None:
    """``shipdeck/themes`` in an installed wheel, else ``themes/`` at the root of a source checkout."""
    package_dir = package_dir or Path(__file__).resolve().parent.parent
    for candidate in (package_dir / "themes", package_dir.parent.parent / "themes"):
        if candidate.is_dir():
            return candidate
    return None


@dataclass
class ThemeCatalog:
    themes: list[ThemeSpec] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def names(self) -> list[str]:
        return [t.name for t in self.themes]

    def get(self, name: str) -> ThemeSpec | None:
        return next((t for t in self.themes if t.name == name), None)


def load_themes(
    directories: list[Path] | None = None, *, check: Callable[[ThemeSpec], str | None] | None = None
) -> ThemeCatalog:
    """Shipped themes, then the user's (a user theme replaces a shipped one of the same name).

    A file that cannot be used is reported in ``problems`` (one line naming the file) and skipped; so is
    one ``check`` has a problem with (the console's check with Textual's own CSS parser).
    """
    if directories is None:
        shipped = shipped_themes_dir()
        directories = [*([shipped] if shipped else []), user_themes_dir()]
    catalog = ThemeCatalog()
    by_name: dict[str, ThemeSpec] = {}
    for directory in directories:
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob(f"*{THEME_SUFFIX}")):
            try:
                spec = load_theme_file(path)
            except ThemeFileError as exc:
                catalog.problems.append(f"theme file {path} skipped: {exc}")
                continue
            problem = check(spec) if check is not None else None
            if problem is not None:
                catalog.problems.append(f"theme file {path} skipped: {problem}")
                continue
            by_name[spec.name] = spec
    catalog.themes = list(by_name.values())
    return catalog

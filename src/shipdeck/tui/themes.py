"""Theme files (plain ThemeSpec data from the config) turned into Textual themes, and shipdeck's defaults."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache

from textual.color import Color, ColorParseError
from textual.css.stylesheet import Stylesheet
from textual.css.tokenize import tokenize_values
from textual.theme import BUILTIN_THEMES, Theme

from shipdeck.config.themes import COLOR_FIELDS, ThemeCatalog, ThemeSpec, load_themes

FALLBACK_THEME = "textual-dark"

# shipdeck's own CSS variables, so any theme (a built-in Textual one too) renders the badges.
THEME_VARIABLE_DEFAULTS: dict[str, str] = {
    "production-badge-background": "#c62828",
    "production-badge-foreground": "#ffffff",
    "staging-badge-background": "#f9a825",
    "staging-badge-foreground": "#000000",
    "sandbox-badge-background": "#455a64",
    "sandbox-badge-foreground": "#ffffff",
    "readonly-badge-background": "#1565c0",
    "readonly-badge-foreground": "#ffffff",
}


def to_textual_theme(spec: ThemeSpec) -> Theme:
    """A Textual Theme; ValueError names the colour or variable Textual's CSS parser refused."""
    colors = {key: getattr(spec, key) for key in COLOR_FIELDS if key != "primary"}
    for key, value in [("primary", spec.primary), *colors.items()]:
        if value is not None:
            try:
                Color.parse(value)
            except ColorParseError:
                raise ValueError(f"theme {spec.name}: {key} {value!r} is not a colour") from None
    # An ANSI theme needs the variables Textual's own ANSI themes define (ansi-background, cursors, ...).
    ansi_base = BUILTIN_THEMES["ansi-dark" if spec.dark else "ansi-light"].variables if spec.ansi else {}
    theme = Theme(
        name=spec.name,
        primary=spec.primary,
        dark=spec.dark,
        variables={**ansi_base, **THEME_VARIABLE_DEFAULTS, **spec.variables},
        ansi=spec.ansi,
        **colors,
    )
    _check_variables(theme, spec)
    return theme


# A CSS property each kind of variable value is used in: the first of these its Textual default parses in.
_PROPERTIES = ("color", "text-style", "background")


def _check_variables(theme: Theme, spec: ThemeSpec) -> None:
    """Each of the theme file's variables through Textual's own CSS parser, as the app will substitute it:
    a value Textual refuses (``scrollbar = "notacolor"``) made the console exit, or die when the theme was
    picked from the palette. This needs Textual's parser, so it lives here and not in config/themes.py
    (which only refuses what could break out of a declaration). A variable Textual does not use is only
    tokenized: every variable is, whenever any CSS is parsed."""
    variables = {**THEME_VARIABLE_DEFAULTS, **theme.to_color_system().generate(), **theme.variables}
    # Each parse tokenizes every variable, so a good theme (the usual case, and every start) is checked in
    # one parse; only a refused one is gone through variable by variable, to name the culprit.
    properties = {name: _property_of(name) for name in spec.variables}
    declarations = [f"{prop}: ${name};" for name, prop in properties.items() if prop is not None]
    try:
        tokenize_values({name: variables[name] for name in spec.variables})
    except Exception:  # noqa: BLE001 (as below: any of them means "refused")
        pass
    else:
        if _parses(" ".join(declarations), variables):
            return
    for name in spec.variables:
        value = variables[name]
        problem = f"theme {spec.name}: variables.{name} {value!r} is not a value Textual's CSS accepts"
        try:
            tokenize_values({name: value})
        except Exception:  # noqa: BLE001 (the tokenizer raises several kinds; any of them means "refused")
            raise ValueError(problem) from None
        prop = _property_of(name)
        if prop is not None and not _parses(f"{prop}: ${name};", variables):
            raise ValueError(f"{problem} (as {prop})")


def _parses(declaration: str, variables: dict[str, str]) -> bool:
    stylesheet = Stylesheet(variables=variables)
    stylesheet.add_source(f"Screen {{ {declaration} }}")
    try:
        stylesheet.parse()
    except Exception:  # noqa: BLE001 (StylesheetParseError, or a TokenError from the substitution)
        return False
    return True


@cache
def _property_of(name: str) -> str | None:
    """The property a variable's value must suit: the first in _PROPERTIES its Textual (or shipdeck)
    default parses in. None for a variable Textual does not define."""
    defaults = {**THEME_VARIABLE_DEFAULTS, **BUILTIN_THEMES["textual-dark"].to_color_system().generate()}
    if name not in defaults:
        return None
    # Only this variable: a parse tokenizes every variable it is given, and a default is a plain value.
    return next((p for p in _PROPERTIES if _parses(f"{p}: ${name};", {name: defaults[name]})), None)


# Every start checks each theme file (load_usable_themes) and then converts the same specs (convert_themes):
# the second time is answered from here. Keyed by the spec's repr, which holds every field.
_CONVERTED: dict[str, Theme | str] = {}


def _converted(spec: ThemeSpec) -> Theme | str:
    """The Textual Theme, or why Textual would refuse ``spec``."""
    key = repr(spec)
    if key not in _CONVERTED:
        try:
            _CONVERTED[key] = to_textual_theme(spec)
        except ValueError as exc:
            _CONVERTED[key] = str(exc)
    return _CONVERTED[key]


def textual_problem(spec: ThemeSpec) -> str | None:
    """Why Textual would refuse ``spec`` (None: it would not)."""
    converted = _converted(spec)
    return converted if isinstance(converted, str) else None


def load_usable_themes() -> ThemeCatalog:
    """The theme files, each also checked by Textual's parser: the one list `shipdeck themes`,
    `config check` and the console use, so a theme listed as fine is one the console can show."""
    return load_themes(check=textual_problem)


def convert_themes(specs: Iterable[ThemeSpec]) -> tuple[list[Theme], list[str]]:
    """The themes that convert, and one readable line for each that does not."""
    themes: list[Theme] = []
    problems: list[str] = []
    for spec in specs:
        converted = _converted(spec)
        if isinstance(converted, str):
            problems.append(f"{converted} (skipped)")
        else:
            themes.append(converted)
    return themes, problems


# The theme for terminals that report fewer than 256 colours (TERM=xterm, no COLORTERM).
SIXTEEN_COLOUR_THEME = "shipdeck-ansi"


def has_fewer_than_256_colours(environ: Mapping[str, str]) -> bool:
    """What the terminal says of itself: COLORTERM (truecolor, 24bit) or a TERM naming 256 colours or
    direct colour means more; any other TERM (xterm, screen, linux, vt100...) means 16. No TERM, or 'dumb',
    says nothing (a pipe, a test): the default theme stays."""
    if environ.get("COLORTERM", "").strip():
        return False
    term = environ.get("TERM", "").strip().lower()
    if not term or term == "dumb":
        return False
    return not any(word in term for word in ("256", "truecolor", "24bit", "direct"))


def default_theme_for(environ: Mapping[str, str] | None, default: str) -> str:
    """The theme to use when the config names none: the 16-colour one on a 16-colour terminal."""
    if environ is not None and has_fewer_than_256_colours(environ):
        return SIXTEEN_COLOUR_THEME
    return default


def pick_theme(
    asked: str | None, available: Iterable[str], environ: Mapping[str, str] | None, default: str
) -> tuple[str, str | None]:
    """The theme to start with and, when the one the config asks for cannot be had, the problem to tell:
    the config's ``asked``, else the terminal's default; a missing one falls back to ``default`` (or
    Textual's dark theme when even that is missing)."""
    names = set(available)
    wanted = asked or default_theme_for(environ, default)
    if wanted in names:
        return wanted, None
    fallback = default if default in names else FALLBACK_THEME
    problem = f"theme {wanted!r} is unknown or broken: using {fallback}" if asked else None
    return fallback, problem

"""Theme files (plain ThemeSpec data from the config) turned into Textual themes, and shipdeck's defaults."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from textual.color import Color, ColorParseError
from textual.theme import BUILTIN_THEMES, Theme

from shipdeck.config.themes import COLOR_FIELDS, ThemeSpec

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
    """A Textual Theme; ValueError names the colour Textual refused."""
    colors = {key: getattr(spec, key) for key in COLOR_FIELDS if key != "primary"}
    for key, value in [("primary", spec.primary), *colors.items()]:
        if value is not None:
            try:
                Color.parse(value)
            except ColorParseError:
                raise ValueError(f"theme {spec.name}: {key} {value!r} is not a colour") from None
    # An ANSI theme needs the variables Textual's own ANSI themes define (ansi-background, cursors, ...).
    ansi_base = BUILTIN_THEMES["ansi-dark" if spec.dark else "ansi-light"].variables if spec.ansi else {}
    return Theme(
        name=spec.name,
        primary=spec.primary,
        dark=spec.dark,
        variables={**ansi_base, **THEME_VARIABLE_DEFAULTS, **spec.variables},
        ansi=spec.ansi,
        **colors,
    )


def convert_themes(specs: Iterable[ThemeSpec]) -> tuple[list[Theme], list[str]]:
    """The themes that convert, and one readable line for each that does not."""
    themes: list[Theme] = []
    problems: list[str] = []
    for spec in specs:
        try:
            themes.append(to_textual_theme(spec))
        except ValueError as exc:
            problems.append(f"{exc} (skipped)")
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

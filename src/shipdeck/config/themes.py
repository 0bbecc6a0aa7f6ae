"""Theme files: TOML, shipped in ``themes/`` and added by users in the config dir. Plain data, no Textual.

The console turns each :class:`ThemeSpec` into a Textual theme.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
    # production-badge-foreground, staging-badge-*, sandbox-badge-*.
    variables: dict[str, str] = field(default_factory=dict)
    # Where it came from (shown in `shipdeck themes` and in problems).
    source: str = ""

"""Everything the console needs to start, resolved by the command line. Plain data, no Textual."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from shipdeck.config.custom_commands import CustomCommand
from shipdeck.config.profile import Profile
from shipdeck.config.themes import ThemeSpec


@dataclass(frozen=True)
class ConsoleOptions:
    profile: Profile
    # Binding id -> key(s), from the config's [keymap] table, as written. The console applies it and
    # reports ids it does not know (only it has the binding list).
    keymap: dict[str, str] = field(default_factory=dict)
    # Theme name to start with (profile's theme, else the console's default).
    theme: str | None = None
    # Every theme found: the shipped ones, then the user's (a user theme overrides a shipped one by name).
    theme_specs: list[ThemeSpec] = field(default_factory=list)
    # Theme files that were skipped, one readable line each (shown as a warning at start).
    theme_problems: list[str] = field(default_factory=list)
    # Other warnings found statically in the config (keymap conflicts, ...), shown at start.
    config_problems: list[str] = field(default_factory=list)
    # Where the audit log goes (None: the default under the state dir).
    audit_path: Path | None = None
    # When a watched build or rollback finishes: "off", "bell", or "desktop" (bell + OSC 9/777 notification
    # where the terminal has one). The config's `alert` (default "bell"); the demo leaves it off.
    alert: str = "off"
    # The start profile's last known list (config/cache.py), shown until the server answers; None: no cache.
    cache_path: Path | None = None
    # Where the other profiles' last known lists live (the fleet, a switch); None: they have none.
    cache_dir: Path | None = None
    # Every profile the console may switch to (the config's, in its order); empty: only ``profile``.
    profiles: tuple[Profile, ...] = ()
    # Profiles of the config that could not be opened, with a few words on why ("no token"): the fleet's
    # header names them, so that a profile missing from the overview is not taken for one with no rows.
    left_out: tuple[tuple[str, str], ...] = ()
    # Open on the fleet overview (every profile at once) instead of ``profile``'s main screen.
    start_fleet: bool = False
    # [commands.NAME] of the config: the user's own commands (keys on the main screen, palette entries).
    commands: tuple[CustomCommand, ...] = ()
    # The command line's --timeout: how long one request of the console may take, retries included.
    request_deadline: float = 60.0

    @property
    def all_profiles(self) -> tuple[Profile, ...]:
        """``profiles``, always including ``profile`` (first when it is not among them)."""
        if any(p.name == self.profile.name for p in self.profiles):
            return self.profiles
        return (self.profile, *self.profiles)

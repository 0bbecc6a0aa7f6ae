"""The profile switcher (`c`, or "Switch profile" in the palette): every profile the console knows, with
its provider, environment badge, read-only mark and connection, and the fleet overview; enter switches."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option, OptionDoesNotExist

from shipdeck.config.profile import Profile
from shipdeck.tui.text import literal
from shipdeck.tui.widgets.nav_table import NavOptionList

if TYPE_CHECKING:
    from shipdeck.tui.context import ProfileContexts

FLEET_OPTION = "fleet"


def profile_line(profile: Profile) -> str:
    """``miosa · PRODUCTION · read-only`` (what the switcher and the palette say about a profile)."""
    parts = [profile.provider, profile.environment.upper()]
    if profile.read_only:
        parts.append("read-only")
    return " · ".join(parts)


class ProfileSwitcher(ModalScreen[str | None]):
    """Returns the chosen profile's name, ``"fleet"``, or None (escape)."""

    DEFAULT_CSS = """
    ProfileSwitcher { align: center middle; }
    ProfileSwitcher > Vertical {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    ProfileSwitcher #profiles-title { text-style: bold; }
    ProfileSwitcher OptionList { height: auto; max-height: 20; border: none; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close", id="profiles-close"),
    ]

    def __init__(self, rows: list[tuple[Profile, str | None]], current: str | None) -> None:
        """``rows``: every profile with its connection word (None: not connected yet)."""
        super().__init__()
        self.rows = rows
        self.current = current

    @classmethod
    def of(cls, contexts: ProfileContexts, current: str | None) -> ProfileSwitcher:
        """The switcher over every configured profile, each with its open context's connection word."""
        words = {context.name: context.connection_word() for context in contexts}
        return cls([(profile, words.get(profile.name)) for profile in contexts.profiles.values()], current)

    def compose(self) -> ComposeResult:
        options: list[Option] = []
        if len(self.rows) > 1:
            options.append(Option(f"fleet  every profile at once ({len(self.rows)})", id=FLEET_OPTION))
        width = max((len(profile.name) for profile, _ in self.rows), default=0)
        for profile, connection in self.rows:
            mark = "▸" if profile.name == self.current else " "
            state = connection or "not connected"
            line = f"{mark} {literal(profile.name).ljust(width)}  {profile_line(profile)}  ({state})"
            options.append(Option(line, id=profile.name))
        with Vertical():
            yield Static("Switch profile (enter: switch, esc: stay)", id="profiles-title", markup=False)
            yield NavOptionList(*options, id="profiles")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.focus()
        if self.current is not None:
            try:
                options.highlighted = options.get_option_index(self.current)
            except OptionDoesNotExist:
                pass  # the first row stays highlighted

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_close(self) -> None:
        self.dismiss(None)

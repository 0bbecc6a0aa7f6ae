"""A resolved profile: which control plane, how it is labelled, and the token to use (kept secret)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from shipdeck.config.providers import DEFAULT_TOKEN_ENV, ProviderName

EnvironmentLabel = Literal["production", "staging", "sandbox"]
ENVIRONMENT_LABELS: tuple[EnvironmentLabel, ...] = ("production", "staging", "sandbox")

__all__ = ["DEFAULT_TOKEN_ENV", "ENVIRONMENT_LABELS", "EnvironmentLabel", "Profile", "ProviderName", "Secret"]


class Secret:
    """A token. Its repr and str never show it; only ``reveal()`` does, at the moment it is sent."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('****')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


ConfirmStyle = Literal["key", "type"]
CONFIRM_STYLES: tuple[ConfirmStyle, ...] = ("key", "type")


@dataclass(frozen=True)
class Profile:
    name: str
    provider: ProviderName
    base_url: str
    token: Secret = field(repr=False, compare=False)
    environment: EnvironmentLabel = "production"
    read_only: bool = False
    theme: str | None = None
    # How the console confirms a change: None (default: rollback takes one key, publish and promote into
    # production ask for the deployment's name to be typed), "key" (one key for all), "type" (type for all).
    confirm: ConfirmStyle | None = None
    # The demo pairs the Miosa console with a Miteos connection for the Tasks screen.
    tasks: Profile | None = None

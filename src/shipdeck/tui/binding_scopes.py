"""Which keys are taken where, once the config's [keymap] and [commands] are applied.

A key clashes when two bindings that are active at the same time (one *scope*: the app's bindings plus one
screen's, plus the focused table on the main screen) end up on it. Textual then runs one of them and the
other loses its key without a word, so both the console (at start) and `shipdeck config check` use this one
rule to say so.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from textual.binding import Binding
from textual.dom import DOMNode
from textual.keys import _character_to_key
from textual.screen import Screen

from shipdeck.config.custom_commands import CustomCommand

# The side screens' modules (their Screen classes are found by looking, so a new screen is covered).
SCREEN_MODULES = (
    "tasks",
    "env_editor",
    "domains",
    "logs",
    "screen_kit",
    "pending",
    "help",
    "dialogs",
    "deploy_form",
    "command_output",
)
MAIN_SCOPE = "main screen"


@dataclass(frozen=True)
class Held:
    """A binding on a key: its id (or action), its description, and whether the config put it there."""

    name: str
    description: str
    from_config: bool


@dataclass(frozen=True)
class Clash:
    scope: str
    key: str
    holders: tuple[Held, ...]

    def message(self) -> str:
        names = " and ".join(f"{h.name} ({h.description})" for h in self.holders)
        lost = [h for h in self.holders if not h.from_config]
        then = f"; {lost[0].name} would lose its key" if lost else "; only one of them would work"
        return f"{self.scope}: key {self.key!r} is bound to both {names}{then}"


def normal_key(key: str) -> str:
    key = key.strip()
    return _character_to_key(key) if len(key) == 1 else key


def _bindings_of(cls: type[DOMNode]) -> list[Binding]:
    merged = cls._merge_bindings()
    return [b for bindings in merged.key_to_bindings.values() for b in bindings]


def scopes() -> dict[str, list[type[DOMNode]]]:
    """Scope name -> the classes whose bindings are active together."""
    from shipdeck.tui.app import ShipdeckApp
    from shipdeck.tui.screens.main import MainScreen
    from shipdeck.tui.widgets.deployments_table import DeploymentsTable

    found: dict[str, list[type[DOMNode]]] = {MAIN_SCOPE: [ShipdeckApp, MainScreen, DeploymentsTable]}
    for module_name in SCREEN_MODULES:
        try:
            module = importlib.import_module(f"shipdeck.tui.screens.{module_name}")
        except ImportError:
            continue
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, Screen)
                and value.__module__ == module.__name__
                and value is not MainScreen
            ):
                found[value.__name__] = [ShipdeckApp, value]
    return found


def held_keys(
    classes: Iterable[type[DOMNode]], keymap: Mapping[str, str], commands: Sequence[CustomCommand] = ()
) -> dict[str, list[Held]]:
    """Key -> the bindings on it in one scope, with ``keymap`` applied (a remapped binding leaves its
    default keys) and ``commands`` added."""
    keys: dict[str, list[Held]] = {}

    def hold(key: str, held: Held) -> None:
        holders = keys.setdefault(normal_key(key), [])
        if all(h.name != held.name for h in holders):
            holders.append(held)

    for cls in classes:
        for binding in _bindings_of(cls):
            name = binding.id or binding.action
            held = Held(
                name, binding.description or binding.action, bool(binding.id and binding.id in keymap)
            )
            if binding.id and binding.id in keymap:
                for key in keymap[binding.id].split(","):
                    hold(key, held)
            else:
                hold(binding.key, held)
    for command in commands:
        hold(command.key, Held(command.binding_id, command.title, True))
    return keys


def clashes(keymap: Mapping[str, str], commands: Sequence[CustomCommand] = ()) -> list[Clash]:
    """Every key that the config makes two bindings of one scope share (clashes Textual's own defaults
    have among themselves are not the config's doing and are left out)."""
    found: list[Clash] = []
    for scope, classes in scopes().items():
        scope_commands = commands if scope == MAIN_SCOPE else ()
        for key, holders in held_keys(classes, keymap, scope_commands).items():
            if len(holders) > 1 and any(h.from_config for h in holders):
                found.append(Clash(scope, key, tuple(holders)))
    return found


def command_clashes(keymap: Mapping[str, str], commands: Sequence[CustomCommand]) -> dict[str, Clash]:
    """Command name -> the clash that keeps it off its key on the main screen."""
    classes = scopes()[MAIN_SCOPE]
    taken = held_keys(classes, keymap)
    result: dict[str, Clash] = {}
    for command in commands:
        key = normal_key(command.key)
        holders = taken.get(key, [])
        if holders:
            result[command.name] = Clash(
                MAIN_SCOPE, key, (*holders, Held(command.binding_id, command.title, True))
            )
    return result


def known_binding_ids() -> set[str]:
    """Every binding id of every scope (what the config's [keymap] may name)."""
    return {b.id for classes in scopes().values() for cls in classes for b in _bindings_of(cls) if b.id}

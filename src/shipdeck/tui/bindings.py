"""Every key binding id the console knows (what the config's [keymap] may name), and the keymap checked
against them (an unknown id is reported, not applied)."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any

from textual.binding import Binding

# The modules whose screens and widgets define bindings of their own.
_MODULES = (
    "shipdeck.tui.screens.main",
    "shipdeck.tui.screens.fleet",
    "shipdeck.tui.screens.profiles",
    "shipdeck.tui.screens.dialogs",
    "shipdeck.tui.screens.help",
    "shipdeck.tui.screens.tasks",
    "shipdeck.tui.screens.env_editor",
    "shipdeck.tui.screens.domains",
    "shipdeck.tui.screens.logs",
    "shipdeck.tui.screens.screen_kit",
    "shipdeck.tui.widgets.deployments_table",
)


def all_binding_ids(app_class: type[Any]) -> set[str]:
    """The ids of the App's bindings and of every screen's and widget's in the modules above."""
    classes: list[type[Any]] = [app_class]
    for module_name in _MODULES:
        module = importlib.import_module(module_name)
        classes += [value for value in vars(module).values() if isinstance(value, type)]
    return {binding.id for cls in classes for binding in _bindings(cls) if binding.id}


def _bindings(cls: type[Any]) -> Iterable[Binding]:
    return [b for b in getattr(cls, "BINDINGS", None) or [] if isinstance(b, Binding)]


def checked_keymap(keymap: Mapping[str, str], known: set[str]) -> tuple[dict[str, str], list[str]]:
    """The keymap without the ids no binding has, and one line for each id left out."""
    unknown = sorted(set(keymap) - known)
    problems = [f"keymap: no key binding has the id {i!r} (see ? for every id); ignored" for i in unknown]
    return {k: v for k, v in keymap.items() if k not in unknown}, problems

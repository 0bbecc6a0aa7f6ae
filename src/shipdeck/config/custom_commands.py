"""``[commands.NAME]`` in the config: the user's own commands (k9s plugins, lazygit custom commands).

::

    [commands.runbook]
    key = "B"
    title = "Open the runbook"
    run = ["xdg-open", "https://runbooks.example.com/"]
    confirm = false       # ask before running
    interactive = false   # true: the console steps aside and the command gets the terminal
    mutates = false       # true: refused in read-only profiles

``run`` is an argv list, run without a shell; the selected row's fields reach it as environment variables
(see :mod:`shipdeck.live.custom_commands`). Only what the file alone can tell is checked here (the key's
spelling, two commands on one key, an empty argv); a clash with a console binding is checked where the
bindings are known (the console at start, `shipdeck config check`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shipdeck.config.errors import ConfigError

COMMAND_KEYS = ("key", "title", "run", "confirm", "interactive", "mutates", "description")
# A command name becomes part of a binding id (``command-NAME``) and of the palette's text.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
MAX_ARGV = 256
MAX_ARG_LENGTH = 4096
_MODIFIERS = ("ctrl", "shift", "alt", "meta", "super", "hyper")
# Textual's names for keys that are not characters.
_NAMED_KEYS = frozenset(
    {
        "enter",
        "escape",
        "tab",
        "space",
        "backspace",
        "delete",
        "insert",
        "home",
        "end",
        "pageup",
        "pagedown",
        "up",
        "down",
        "left",
        "right",
        *(f"f{n}" for n in range(1, 25)),
    }
)
# Keys a command may not take: what every screen needs to stay usable.
RESERVED_KEYS = frozenset({"escape", "enter", "tab", "up", "down", "ctrl+c", "ctrl+q"})


@dataclass(frozen=True)
class CustomCommand:
    name: str
    key: str
    title: str
    run: tuple[str, ...]
    confirm: bool = False
    interactive: bool = False
    mutates: bool = False
    description: str | None = None

    @property
    def binding_id(self) -> str:
        return f"command-{self.name}"

    @property
    def action(self) -> str:
        return f"custom_command({self.name!r})"


# Textual's short names for some characters (its KEY_NAME_REPLACEMENTS), so "slash" is a key as in [keymap].
_CHARACTER_ALIASES = {
    "solidus": "slash",
    "reverse_solidus": "backslash",
    "commercial_at": "at",
    "hyphen_minus": "minus",
    "plus_sign": "plus",
    "low_line": "underscore",
}


def _split_key(key: str) -> tuple[list[str], str]:
    """("ctrl+shift+x") -> (["ctrl", "shift"], "x"); a '+' as the key itself is kept ("ctrl++")."""
    if key.endswith("++"):
        return key[:-2].split("+"), "+"
    if key == "+":
        return [], "+"
    *modifiers, base = key.split("+")
    return modifiers, base


def key_problem(key: str) -> str | None:
    """Why ``key`` is not a key Textual can bind (None: it is one). Keys are written as in [keymap]:
    one character ("B", "!"), a key name ("f5", "home"), a character's name ("exclamation_mark"), or any of
    these after modifiers ("ctrl+b", "alt+shift+x")."""
    hint = 'write keys like "B", "ctrl+b", "f5", "exclamation_mark"'
    if not key or re.search(r"\s", key):
        return f"{key!r} is not a key; {hint}"
    modifiers, base = _split_key(key)
    for modifier in modifiers:
        if modifier not in _MODIFIERS:
            return f"{key!r}: unknown modifier {modifier!r} (one of {', '.join(_MODIFIERS)})"
    if (len(base) == 1 and base.isprintable()) or base in _NAMED_KEYS or base in _CHARACTER_ALIASES.values():
        return None
    try:
        character = unicodedata.lookup(base.replace("_", " "))
    except KeyError:
        return f"{key!r} is not a key; {hint}"
    if not character.isascii():
        # "banana" names U+1F34C, which no keyboard sends as a key: Textual bound it, the action was lost.
        # (A non-ASCII key a layout has, such as "é", is written as the character itself.)
        return f"{key!r} is not a key; {hint}"
    return None


# Keys a terminal sends as the same code as another key: a binding on one is run by the other.
_TERMINAL_TWINS = {"ctrl+i": "tab", "ctrl+m": "enter", "ctrl+left_square_bracket": "escape"}


def terminal_twin(key: str) -> str | None:
    """The key a terminal cannot tell ``key`` from (ctrl+i is tab, ctrl+m enter, ctrl+[ escape), or None."""
    return _TERMINAL_TWINS.get(textual_key(key).lower())


def textual_key(key: str) -> str:
    """``key`` as Textual names it: a punctuation character becomes its name ("!" -> "exclamation_mark",
    "/" -> "slash"), so that two spellings of one key compare equal."""
    modifiers, base = _split_key(key)
    if len(base) == 1 and not base.isalnum():
        name = unicodedata.name(base, base).lower().replace(" ", "_").replace("-", "_")
        base = _CHARACTER_ALIASES.get(name, name)
    return "+".join([*modifiers, base])


def parse_commands(
    data: Any, *, fail: Callable[[tuple[str, ...], str | None, str], ConfigError]
) -> dict[str, CustomCommand]:
    """The ``[commands]`` table, checked. ``fail(table, key, problem)`` makes the error naming the line."""
    if not isinstance(data, dict):
        raise fail((), "commands", "must be a table of commands, like [commands.runbook]")
    commands: dict[str, CustomCommand] = {}
    keys: dict[str, str] = {}
    for name, table in data.items():
        where = ("commands", name)
        if not isinstance(table, dict):
            raise fail(("commands",), name, "must be a table, like [commands.NAME]")
        if not _NAME.fullmatch(name):
            raise fail(("commands",), name, "a command name is letters, digits, '-' and '_' (at most 40)")
        command = _parse_one(name, table, where, fail)
        key = textual_key(command.key)
        if key in RESERVED_KEYS:
            raise fail(where, "key", f"{command.key!r} is needed by every screen; choose another key")
        if key in keys:
            raise fail(where, "key", f"{command.key!r} is already the key of [commands.{keys[key]}]")
        keys[key] = name
        commands[name] = command
    return commands


def _parse_one(
    name: str,
    table: dict[str, Any],
    where: tuple[str, ...],
    fail: Callable[[tuple[str, ...], str | None, str], ConfigError],
) -> CustomCommand:
    key = table.get("key")
    if not isinstance(key, str) or not key.strip():
        raise fail(where, "key", 'required: the key that runs it, like key = "B"')
    key = key.strip()
    if problem := key_problem(key):
        raise fail(where, "key", problem)
    title = table.get("title", name)
    if not isinstance(title, str) or not title.strip() or not title.isprintable():
        raise fail(where, "title", "must be a non-empty line of text")
    run = table.get("run")
    if isinstance(run, str):
        raise fail(where, "run", 'must be a list of arguments, run without a shell: run = ["prog", "arg"]')
    if not isinstance(run, list) or not run:
        raise fail(where, "run", 'required: the program and its arguments, like run = ["prog", "arg"]')
    if len(run) > MAX_ARGV:
        raise fail(where, "run", f"at most {MAX_ARGV} arguments")
    for position, arg in enumerate(run):
        if not isinstance(arg, str):
            raise fail(where, "run", f"argument {position + 1} is not a string ({type(arg).__name__})")
        if "\x00" in arg or len(arg) > MAX_ARG_LENGTH:
            raise fail(where, "run", f"argument {position + 1} holds a NUL or is too long")
    if not run[0].strip():
        raise fail(where, "run", "the program (the first argument) must not be empty")
    flags: dict[str, bool] = {}
    for flag in ("confirm", "interactive", "mutates"):
        value = table.get(flag, False)
        if not isinstance(value, bool):
            raise fail(where, flag, f"must be true or false (got {value!r})")
        flags[flag] = value
    description = table.get("description")
    if description is not None and (not isinstance(description, str) or not description.isprintable()):
        raise fail(where, "description", "must be a line of text")
    return CustomCommand(
        name=name,
        key=key,
        title=title.strip(),
        run=tuple(run),
        description=description,
        **flags,
    )

"""The alert when a watched build or rollback finishes: the terminal bell and, where the terminal has one, a
desktop notification by escape sequence (so it works over SSH, like OSC 52 for the clipboard).

OSC 9 (``ESC ] 9 ; text BEL``) is understood by iTerm2, WezTerm, Windows Terminal, ghostty and kitty;
OSC 777 (``ESC ] 777 ; notify ; title ; body BEL``) by rxvt-unicode, foot and VTE terminals (GNOME Terminal,
Tilix). Other terminals would print them, so nothing is sent unless the terminal is one of those (by
TERM_PROGRAM, TERM, VTE_VERSION, WT_SESSION). The text is the console's own words (a deployment's name in
it is server text): control characters are dropped and ';' (OSC 777's separator) becomes ','.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

OSC9_PROGRAMS = ("iterm.app", "wezterm", "ghostty")
OSC9_TERMS = ("xterm-kitty", "xterm-ghostty", "wezterm")
OSC777_TERMS = ("rxvt", "foot")
MAX_TEXT = 200


def _clean(text: str) -> str:
    flat = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(flat.split()).replace(";", ",")[:MAX_TEXT]


def notification_kind(environ: Mapping[str, str]) -> str | None:
    """'osc9', 'osc777' or None (the terminal has no known desktop notification)."""
    program = environ.get("TERM_PROGRAM", "").lower()
    term = environ.get("TERM", "").lower()
    if program in OSC9_PROGRAMS or term in OSC9_TERMS or environ.get("WT_SESSION"):
        return "osc9"
    if environ.get("VTE_VERSION") or any(term.startswith(name) for name in OSC777_TERMS):
        return "osc777"
    return None


def desktop_sequence(title: str, body: str, environ: Mapping[str, str]) -> str | None:
    """The escape sequence that asks this terminal for a desktop notification, or None."""
    kind = notification_kind(environ)
    if kind == "osc9":
        return f"\x1b]9;{_clean(f'{title}: {body}')}\x07"
    if kind == "osc777":
        return f"\x1b]777;notify;{_clean(title)};{_clean(body)}\x07"
    return None


class Alerter:
    """The console's alert: nothing (``mode`` "off"), the bell ("bell"), or the bell and a desktop
    notification ("desktop") when the terminal has one. ``sent`` lists what went out, most recent last."""

    def __init__(
        self, mode: str, environ: Mapping[str, str], bell: Callable[[], None], write: Callable[[str], None]
    ) -> None:
        self._mode = mode
        self._environ = environ
        self._bell = bell
        self._write = write
        self.sent: list[str] = []

    def __call__(self, title: str, body: str) -> None:
        if self._mode == "off":
            return
        self._bell()
        if self._mode != "desktop":
            self.sent.append("bell")
            return
        sequence = desktop_sequence(title, body, self._environ)
        if sequence is not None:
            self._write(sequence)
        self.sent.append(sequence or "bell")

"""Copy text to the user's clipboard over the terminal (OSC 52), also through SSH and tmux.

OSC 52 asks the *terminal* to set its clipboard, so it works on a remote host without X11 or a
clipboard daemon. tmux swallows unknown escape sequences unless ``set-clipboard`` is on; for a tmux
with only ``allow-passthrough on`` the sequence is sent a second time wrapped in a DCS passthrough.
"""

from __future__ import annotations

import base64
import os
from typing import Any

from textual.app import App

from shipdeck.tui.text import INVISIBLE_CHARS

# Many terminals ignore OSC 52 payloads beyond ~100 kB of base64; refuse clearly rather than fail silently.
MAX_CLIPBOARD_BYTES = 74_000
_PREVIEW_CHARS = 48


def _tmux_passthrough(text: str) -> str:
    payload = base64.b64encode(text.encode("utf-8")).decode("ascii")
    # Inside a DCS passthrough every ESC of the wrapped sequence is doubled.
    return f"\x1bPtmux;\x1b\x1b]52;c;{payload}\x07\x1b\\"


def clipboard_preview(text: str) -> str:
    """A one-line, printable preview of what was copied, for the notification."""
    flat = " ".join(text.split())
    flat = "".join(ch if ch.isprintable() else "?" for ch in flat)
    return flat if len(flat) <= _PREVIEW_CHARS else flat[: _PREVIEW_CHARS - 1] + "…"


def clipboard_refusal(text: str) -> str | None:
    """Why ``text`` must not be copied (None: it may). What is copied must be exactly what is shown: a value
    padded with spaces hides what follows it on screen, a line break in it runs the rest when pasted into a
    shell (`https://x.example   \ncurl ... | sh`), and control and invisible characters are not what the
    console shows (it shows them as '?' or `\\u202e`)."""
    for char in text:
        if char in "\n\r":
            return "holds a line break, which would run what follows it if pasted into a shell"
        if not char.isprintable() and char != " " or INVISIBLE_CHARS.fullmatch(char):
            return f"holds the control or invisible character U+{ord(char):04X}, which is not what is shown"
    if text != text.strip():
        return "has spaces or padding around it, which would hide what follows it"
    return None


def copy_to_clipboard(app: App[Any], text: str, *, what: str = "text", multiline: bool = False) -> bool:
    """Copy ``text`` (OSC 52) and tell the user what was copied; False (with a warning) if it was refused.

    ``what`` names the thing for the notification ("DNS record value", "deployment URL", ...);
    ``multiline``: ``text`` is lines the console put together (DNS records), each checked on its own.
    """
    size = len(text.encode("utf-8"))
    if not text:
        app.notify(f"Nothing to copy: the {what} is empty.", severity="warning", markup=False)
        return False
    refused = next(filter(None, map(clipboard_refusal, text.split("\n") if multiline else [text])), None)
    if refused:
        app.notify(f"Not copied: the {what} {refused}.", severity="warning", markup=False)
        return False
    if size > MAX_CLIPBOARD_BYTES:
        app.notify(
            f"Not copied: the {what} is {size:,} bytes; terminals accept at most {MAX_CLIPBOARD_BYTES:,}.",
            severity="warning",
            markup=False,
        )
        return False
    app.copy_to_clipboard(text)
    in_tmux = bool(os.environ.get("TMUX"))
    driver = app._driver
    if in_tmux and driver is not None:
        driver.write(_tmux_passthrough(text))
    note = " (inside tmux: needs `set -g set-clipboard on` or `allow-passthrough on`)" if in_tmux else ""
    app.notify(f"Copied {what}: {clipboard_preview(text)}{note}", title="Clipboard", markup=False)
    return True

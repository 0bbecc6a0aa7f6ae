"""Setting a Static's text only when it changes.

``Static.update`` lays the whole screen out again, even for the text it already shows, and each layout
repaints every scroll bar on the terminal. The detail pane is shown again on every batch of events about
its deployment (ten a second in a busy tail) and the headers on every tick: what they set is mostly what
is already there.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


def set_text(widget: Static, content: str | Text, *, layout: bool = True) -> bool:
    """Show ``content`` in ``widget`` unless it already does; True when it was updated. ``layout=False``
    for a widget whose size its text never changes (a one-line header of fixed height)."""
    if _same(widget.content, content):
        return False
    widget.update(content, layout=layout)
    return True


def _same(shown: object, content: str | Text) -> bool:
    if isinstance(shown, Text) and isinstance(content, Text):
        # Rich's Text equality reads the characters and spans only: a base style of its own counts too.
        return shown == content and shown.style == content.style
    return type(shown) is type(content) and shown == content

"""Keys typed in one burst (laggy SSH, a paste, a fast typist) reach the widget that had the focus when each
arrived, which is not always the one they were meant for once the key before them has run: the command line
that just closed, a palette whose input is not focused yet, the list below a dialog. Each of those places
sends such a key round again with :func:`send_again`."""

from __future__ import annotations

from textual import events
from textual.message_pump import MessagePump


def send_again(event: events.Key, to: MessagePump) -> events.Key:
    """Stop ``event`` where it is and post a fresh copy of it to ``to`` (the app, to go to what has the
    focus now, or a widget); the copy, for a caller that sends a key round once only."""
    event.stop()
    event.prevent_default()
    again = events.Key(event.key, event.character)
    to.post_message(again)
    return again

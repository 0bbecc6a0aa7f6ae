"""copy_to_clipboard: OSC 52, size cap, tmux passthrough, a notification naming what was copied."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Static

from shipdeck.tui.clipboard import (
    MAX_CLIPBOARD_BYTES,
    _tmux_passthrough,
    clipboard_preview,
    copy_to_clipboard,
)


class _Host(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("host")


def _messages(app: App[None]) -> list[str]:
    return [n.message for n in app._notifications]


async def test_copies_and_says_what() -> None:
    app = _Host()
    async with app.run_test() as pilot:
        assert copy_to_clipboard(app, "_acme.example.com TXT", what="DNS record")
        await pilot.pause()
        assert app.clipboard == "_acme.example.com TXT"
        assert any(m.startswith("Copied DNS record: _acme.example.com TXT") for m in _messages(app))


async def test_refuses_oversized_and_empty_text_with_reason() -> None:
    app = _Host()
    async with app.run_test() as pilot:
        assert not copy_to_clipboard(app, "x" * (MAX_CLIPBOARD_BYTES + 1), what="log")
        assert not copy_to_clipboard(app, "", what="URL")
        await pilot.pause()
        assert app.clipboard == ""
        text = " ".join(_messages(app))
        assert "Not copied" in text and "Nothing to copy" in text


async def test_inside_tmux_mentions_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMUX", "/tmp/tmux-1000/default,1,0")
    app = _Host()
    async with app.run_test() as pilot:
        assert copy_to_clipboard(app, "abc", what="id")
        await pilot.pause()
        assert "tmux" in _messages(app)[-1]


def test_tmux_wrapping_and_preview_are_printable() -> None:
    wrapped = _tmux_passthrough("hi")
    assert wrapped.startswith("\x1bPtmux;\x1b\x1b]52;c;aGk=") and wrapped.endswith("\x1b\\")
    assert clipboard_preview("a\x1b[31mb\nc") == "a?[31mb c"
    assert len(clipboard_preview("y" * 500)) == 48

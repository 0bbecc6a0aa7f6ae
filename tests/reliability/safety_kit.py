"""Shared pieces of the terminal-safety, secrets, input and read-only tests.

- ``HOSTILE``: server text that tries every trick on a terminal (CSI, OSC 52 clipboard write, OSC 8 link,
  BEL, 8-bit C1 controls) and on Rich/Textual (markup, an ``@click`` action).
- ``unsafe_characters`` / ``assert_terminal_safe``: what must never reach a terminal.
- ``screen_output``: what the console's current screen really sends to the terminal, rendered the way
  Textual's driver renders it, so a test reads the bytes, not a widget's idea of itself.
- ``EchoServer``: a small hostile HTTP server on a free loopback port that answers every request with a
  scripted status and error message, optionally echoing the request's Authorization header back.
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from rich.console import Console
from textual.app import App

from tests.conftest import ADMIN

MARKUP = "[bold]B[/][@click=app.quit]Q[/]"
# Under 100 characters: the longest name the Miosa API accepts.
HOSTILE = (
    "\x1b[31mR\x1b[0m"  # CSI: colour
    "\x1b]52;c;aGk=\x07"  # OSC 52: write "hi" to the clipboard, BEL-terminated
    "\x1b]8;;http://e.example/\x1b\\L\x1b]8;;\x1b\\"  # OSC 8: a hidden link
    "\x07\x9b2J\x85\r" + MARKUP  # BEL, 8-bit CSI (clear screen), NEL, carriage return
)

# What may never reach a terminal from server text: C0 controls but tab and newline, DEL, C1 controls.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# What the renderer itself writes: colours (SGR) and cursor moves. Anything else with ESC is not ours.
_RENDERER_SEQUENCES = re.compile(r"\x1b\[[0-9;]*[mHJKlh]|\x1b\[\?[0-9;]*[lh]")


def unsafe_characters(text: str) -> list[str]:
    return sorted({repr(ch) for ch in _UNSAFE.findall(text)})


def assert_terminal_safe(text: str, where: str) -> None:
    found = unsafe_characters(text)
    assert not found, f"{where}: control characters reached the output: {found}"


@dataclass
class ScreenOutput:
    raw: str  # the terminal stream, with the renderer's own colour and cursor sequences
    text: str  # the characters shown

    def assert_safe(self, where: str) -> None:
        assert_terminal_safe(_RENDERER_SEQUENCES.sub("", self.raw), f"{where} (terminal stream)")
        assert_terminal_safe(self.text, f"{where} (text)")


def screen_output(app: App[Any]) -> ScreenOutput:
    """The full frame of the current screen as the driver would write it (toasts and dialogs included)."""
    width, height = app.size
    console = Console(
        file=io.StringIO(),
        width=width,
        height=height,
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
    )
    update = app.screen._compositor.render_update(full=True)
    console.print(update, end="")
    raw = console.file.getvalue()  # type: ignore[attr-defined]
    text = "".join(segment.text for segment in console._record_buffer if not segment.control)
    return ScreenOutput(raw=raw, text=text)


def flat(text: str) -> str:
    """Screen text without the line breaks of the layout (a long name may wrap)."""
    return re.sub(r"\s+", "", text)


# -- a hostile HTTP server ----------------------------------------------------------------------------------


@dataclass
class EchoServer:
    """Answers every request with ``status`` and a Miosa-shaped error naming ``message``.

    With ``echo_authorization`` the message also carries the Authorization header the client sent (a
    broken proxy or debugging endpoint does that); the client must never print it.
    """

    status: int = 500
    message: str = "boom"
    echo_authorization: bool = False
    seen_authorization: list[str] = field(default_factory=list)
    port: int = 0

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def body_for(self, authorization: str) -> bytes:
        message = self.message + (
            f" (you sent Authorization: {authorization})" if self.echo_authorization else ""
        )
        error = {"code": "HOSTILE", "message": message, "authorization": authorization}
        return json.dumps({"error": error, "message": message}).encode()


@contextmanager
def echo_server(server: EchoServer) -> Iterator[EchoServer]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            authorization = self.headers.get("Authorization", "")
            server.seen_authorization.append(authorization)
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            body = server.body_for(authorization)
            self.send_response(server.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


# -- writing hostile data into a simulator over its own API ----------------------------------------------


def miosa_post(base: str, path: str, body: dict[str, Any], token: str = ADMIN) -> dict[str, Any]:
    response = httpx.post(base + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code < 300, response.text
    data: dict[str, Any] = response.json()
    return data

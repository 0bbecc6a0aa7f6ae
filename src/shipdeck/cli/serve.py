"""`shipdeck serve`: the console in a browser, through textual-serve, on loopback, behind a token.

Every browser connection starts its own console process (textual-serve runs one per websocket) with the
same profile options as this command. The page, its static files and the websocket all need the token:
the URL printed at start carries it once (``/?token=...``); the answer sets it as an HttpOnly,
SameSite=Strict cookie, so the page's own requests carry it and another site's cannot. A websocket from
another origin is refused too. Without ``--allow-remote`` only a loopback address is accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import os
import secrets
import shlex
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from shipdeck.cli.parser import UsageError
from shipdeck.config.loader import is_loopback

COOKIE = "shipdeck_serve_token"
# A token from the environment (a fixed bookmark, a test) must be at least this long to be accepted.
MIN_TOKEN_LENGTH = 16
TOKEN_ENV = "SHIPDECK_SERVE_TOKEN"


def console_command(args: argparse.Namespace) -> str:
    """The shell command textual-serve runs per connection: this Python, the same profile options."""
    argv = [sys.executable, "-m", "shipdeck"]
    if args.profile:
        argv += ["--profile", args.profile]
    if args.provider:
        argv += ["--provider", args.provider]
    if args.url:
        argv += ["--url", args.url]
    if args.read_only:
        argv.append("--read-only")
    return shlex.join(argv)


def serve_token() -> str:
    token = os.environ.get(TOKEN_ENV)
    if token is None:
        return secrets.token_urlsafe(24)
    if len(token) < MIN_TOKEN_LENGTH or not token.isascii() or not token.isprintable() or " " in token:
        raise UsageError(f"{TOKEN_ENV}: must be at least {MIN_TOKEN_LENGTH} printable ASCII characters")
    return token


def cmd_serve(args: argparse.Namespace) -> int:
    host: str = args.host
    if not args.allow_remote and not is_loopback(host):
        raise UsageError(
            f"serve: {host} is not a loopback address; the console would be reachable from the network "
            "(pass --allow-remote to mean it, and put TLS in front)"
        )
    token = serve_token()
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), args.port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"serve: cannot listen on {host}:{args.port}: {exc.strerror or exc}") from None
    port = sock.getsockname()[1]
    shown_host = f"[{host.strip('[]')}]" if ":" in host else host
    public_url = (args.public_url or f"http://{shown_host}:{port}").rstrip("/")
    server = _TokenServer(console_command(args), token=token, public_url=public_url, title="shipdeck")
    print(f"shipdeck: serving the console on {public_url}/?token={token}", file=sys.stderr, flush=True)
    print("shipdeck: open that URL in a browser; Ctrl-C stops", file=sys.stderr, flush=True)
    server.run(sock)
    return 0


def _token_server_base() -> type[Any]:
    from textual_serve.server import Server

    return Server


class _TokenServer(_token_server_base()):  # type: ignore[misc]
    """textual-serve's Server with a token check in front of every route, serving a bound socket."""

    def __init__(self, command: str, *, token: str, public_url: str, title: str) -> None:
        super().__init__(command, title=title, public_url=public_url)
        self.token = token
        # The websocket handlers running now, one per browser tab: cancelled on shutdown (see on_shutdown).
        self._sessions: set[asyncio.Task[Any]] = set()

    def _allowed(self, request: Any) -> bool:
        offered = request.query.get("token") or request.cookies.get(COOKIE) or ""
        return hmac.compare_digest(offered.encode(), self.token.encode())

    async def _make_app(self) -> Any:
        from aiohttp import web

        app = await super()._make_app()

        @web.middleware
        async def require_token(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            if not self._allowed(request):
                return web.Response(status=403, text="shipdeck serve: the token is missing or wrong\n")
            origin = request.headers.get("Origin")
            if request.path == "/ws" and origin is not None and not _same_origin(origin, self.public_url):
                return web.Response(status=403, text="shipdeck serve: websocket from another origin\n")
            response = await handler(request)
            if "token" in request.query:
                response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict", path="/")
            return response

        app.middlewares.append(require_token)
        return app

    async def handle_websocket(self, request: Any) -> Any:
        task = asyncio.current_task()
        if task is not None:
            self._sessions.add(task)
        try:
            return await super().handle_websocket(request)
        finally:
            if task is not None:
                self._sessions.discard(task)

    async def on_shutdown(self, app: Any) -> None:
        """Ctrl-C or SIGTERM with a browser tab open: end its session now (textual-serve then tells that
        console to quit and waits for it). Otherwise aiohttp waits for the open websocket up to its
        shutdown timeout: `serve` took 22 s to exit with one tab open."""
        await super().on_shutdown(app)
        for task in list(self._sessions):
            task.cancel()

    def run(self, sock: socket.socket) -> None:
        from aiohttp import web

        self.initialize_logging()
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        web.run_app(self._make_app(), sock=sock, loop=loop, print=lambda *_: None)


def _same_origin(origin: str, public_url: str) -> bool:
    a, b = urlsplit(origin), urlsplit(public_url)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)

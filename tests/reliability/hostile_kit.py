"""Broken and hostile answers for the console and CLI tests, served by tests/api/hostile.py's server.

Each :class:`Case` is one way a control plane can misbehave, with the words the user must see about it.
:func:`threaded` runs a hostile server on its own event loop in a thread, so blocking code (the CLI, which
runs its own ``asyncio.run``) can talk to it too.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.api.hostile import Handler, HostileServer, SeenRequest, Writer, hostile_server, response
from tests.simproc import SimServer

MB = 1024 * 1024
T = TypeVar("T")


@dataclass(frozen=True)
class Case:
    name: str
    handler: Handler
    # Words the one-line message must contain (lower case).
    says: str


def answer(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Handler:
    async def handler(request: SeenRequest, writer: Writer) -> None:
        writer.write(response(status, body, headers))

    return handler


def deployments(*rows: object) -> Handler:
    return answer(json.dumps({"data": list(rows), "next_cursor": None}).encode())


async def fifty_megabytes(request: SeenRequest, writer: Writer) -> None:
    writer.write(response(200, b" " * (50 * MB)))


async def never_ending(request: SeenRequest, writer: Writer) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"[" * 65536
    for _ in range(1024):  # 64 MiB at most, far past the client's cap; the client hangs up long before
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()


async def one_byte_a_second(request: SeenRequest, writer: Writer) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 600\r\n\r\n")
    for _ in range(600):
        writer.write(b" ")
        await writer.drain()
        await asyncio.sleep(1)


BROKEN_ANSWERS = [
    Case("invalid JSON", answer(b'{"data": [{"id": "dep_1",'), "not valid json"),
    Case("wrong types", deployments({"id": 5, "name": ["shop"], "created_at": 7}), "invalid"),
    Case("wrong shape", answer(b'{"data": "nope"}'), "expected a list"),
    Case("missing fields", deployments({}), "field 'id'"),
    Case("50 MB body", fifty_megabytes, "larger than 16 mib"),
    Case("body that never ends", never_ending, "larger than 16 mib"),
    Case("one byte a second", one_byte_a_second, "no complete answer"),
    Case("invalid UTF-8", answer(b'{"data": [{"id": "dep_1", "name": "\xff\xfe"}]}'), "not valid utf-8"),
    # Out of range once told in UTC: an OverflowError was "unexpected OverflowError (please report this)".
    Case(
        "time at the year limit",
        deployments({"id": "dep_1", "name": "shop", "updated_at": "9999-12-31T23:59:59-05:00"}),
        "field 'updated_at' is invalid",
    ),
    Case("HTML error page", answer(b"<html>bad gateway</html>", 200, {"Content-Type": "text/html"}), "json"),
]

# A deployment in a state no contract names: shown as it came, never an error.
UNKNOWN_STATE = {"id": "dep_odd", "name": "odd-one", "state": "exploding", "status": "exploding"}


def redirect_to(url: str) -> Handler:
    return answer(b"", 302, {"Location": url})


def is_rollback(request: SeenRequest) -> bool:
    return request.method == "POST" and request.path.endswith("/rollback")


def relay_except(sim: SimServer, is_bad: Callable[[SeenRequest], bool], bad: Handler) -> Handler:
    """The real simulator's answers, except for the requests ``is_bad`` picks, which get ``bad`` (and never
    reach the simulator). Push streams are not relayed: they get a 503."""

    async def handler(request: SeenRequest, writer: Writer) -> None:
        if is_bad(request):
            await bad(request, writer)
            return
        if request.path.split("?")[0].endswith("/stream"):
            writer.write(response(503, b'{"error": {"message": "no streams here"}}', {"Retry-After": "1"}))
            return
        real = await _forward(sim, request)
        writer.write(response(real.status_code, real.content))

    return handler


def health_hangs(sim: SimServer) -> Handler:
    """The real simulator, except that its observability endpoint never answers (for two minutes)."""

    def is_health(request: SeenRequest) -> bool:
        return "/observability" in request.path

    async def hang(request: SeenRequest, writer: Writer) -> None:
        await asyncio.sleep(120)

    return relay_except(sim, is_health, hang)


async def _forward(sim: SimServer, request: SeenRequest) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.request(
            request.method,
            sim.root + request.path,
            headers={"Authorization": request.headers["authorization"]},
            content=request.body,
        )


def rewritten(sim: SimServer, edit: Callable[[Any], str]) -> Handler:
    """The simulator's answer with its JSON body rewritten: ``edit`` takes the decoded body and returns the
    new body's text (text, so that it can hold what no JSON encoder writes: NaN, Infinity, 1e999)."""

    async def handler(request: SeenRequest, writer: Writer) -> None:
        real = await _forward(sim, request)
        writer.write(response(real.status_code, edit(real.json()).encode()))

    return handler


def is_health_figures(request: SeenRequest) -> bool:
    path = request.path.split("?")[0]
    return path.endswith(("/observability", "/routes"))


def unreadable_figures(body: Any) -> str:
    """A Miosa observability or routes answer whose figures are no numbers anyone can show: NaN and the
    infinities (JSON literals and strings), a float past float's range, negative and absurd counts (the
    figures of the whole window; a route's counts are kept, so that it is still listed as failing). Every
    third series point's p95 is Infinity and the last one's "nan" (one was enough to end the console); the
    others keep theirs."""
    data = body["data"]
    for route in data.get("routes", []):
        route.update(p50_ms="NAN_", p95_ms="1e999")
    if "series" in data:
        data.update(
            latency_ms={"p50": "NAN_", "p95": "inf", "p99": "-INF_"},
            rpm="1E999_",
            window_s=-30,
            requests=-5,
            errors=10**30,
        )
        for point in data["series"][::3]:
            point["p95_ms"] = "INF_"
        data["series"][-1]["p95_ms"] = "nan"
    text = json.dumps(body)
    for marker, literal in (
        ("NAN_", "NaN"),
        ("-INF_", "-Infinity"),
        ("INF_", "Infinity"),
        ("1E999_", "1e999"),
    ):
        text = text.replace(f'"{marker}"', literal)
    return text


@contextmanager
def background_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running in a daemon thread, for servers that blocking callers talk to."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="hostile-server", daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        _on(loop, _cancel_the_rest())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


async def _cancel_the_rest() -> None:
    """End the handlers still running (a slow drip) before the loop stops under them."""
    rest = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)


def _on(loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result(10)


@contextmanager
def threaded(handler: Handler) -> Iterator[HostileServer]:
    """A hostile server on its own loop in a daemon thread, for blocking callers (the CLI)."""
    with background_loop() as loop:
        serving = hostile_server(handler)
        server = _on(loop, serving.__aenter__())
        try:
            yield server
        finally:
            _on(loop, serving.__aexit__(None, None, None))


@contextmanager
def self_signed_listener(tmp_path: Path) -> Iterator[int]:
    """A TLS server with a fresh self-signed certificate on a free loopback port (skips without openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(response(200, b'{"data": []}'))
        writer.close()

    with background_loop() as loop:
        server = _on(loop, asyncio.start_server(greet, "127.0.0.1", 0, ssl=context))
        try:
            yield server.sockets[0].getsockname()[1]
        finally:
            loop.call_soon_threadsafe(server.close)


def routed(routes: dict[str, Handler], default: Handler | None = None) -> Handler:
    """A Miosa-shaped server: the handler of the first route whose pattern matches the request's path
    (``re.search`` on the path without its query); ``default`` (an empty list) for the rest."""
    import re

    fallback = default or answer(json.dumps({"data": [], "next_cursor": None}).encode())
    compiled = [(re.compile(pattern), handler) for pattern, handler in routes.items()]

    async def handler(request: SeenRequest, writer: Writer) -> None:
        path = request.path.split("?")[0]
        for pattern, chosen in compiled:
            if pattern.search(path):
                await chosen(request, writer)
                return
        await fallback(request, writer)

    return handler


def listing(*rows: object) -> Handler:
    """One page holding ``rows``, for any list endpoint."""
    return answer(json.dumps({"data": list(rows), "next_cursor": None}).encode())

#!/usr/bin/env python
"""A loopback TCP proxy in front of ``shipdeck sim`` that timestamps what crosses the wire.

Run as its own process (so its clock readings do not wait on the console's event loop), it prints::

    listening PORT
    req <monotonic> <METHOD> <path>        a request line from the client, as it arrives
    evt <monotonic> <event type>           an SSE event frame from the server, as it passes

``--refuse TEXT`` answers any request whose path contains TEXT with 503 and closes the connection
(push streams down, for the API budget benchmark). Stdlib only; loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

_REQUEST_LINE = re.compile(rb"(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (\S+) HTTP/1\.[01]\r\n")
REFUSAL = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def _client_to_server(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    client: asyncio.StreamWriter,
    refuse: str | None,
) -> None:
    while data := await reader.read(65536):
        now = time.monotonic()
        for match in _REQUEST_LINE.finditer(data):
            path = match.group(2).decode("latin-1")
            _say(f"req {now} {match.group(1).decode()} {path}")
            if refuse and refuse in path:
                client.write(REFUSAL)
                await client.drain()
                return
        writer.write(data)
        await writer.drain()


async def _server_to_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    pending = b""
    while data := await reader.read(65536):
        now = time.monotonic()
        writer.write(data)
        # Timestamp SSE frames by their 'event:' line (a line split across reads is joined first).
        pending += data
        *lines, pending = pending.split(b"\n")
        pending = pending[-4096:]
        for line in lines:
            if line.startswith(b"event: "):
                _say(f"evt {now} {line[7:].strip().decode('utf-8', 'replace')}")
        await writer.drain()


async def _serve(upstream_port: int, refuse: str | None) -> None:
    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        except OSError:
            client_writer.close()
            return
        tasks = [
            asyncio.create_task(_client_to_server(client_reader, server_writer, client_writer, refuse)),
            asyncio.create_task(_server_to_client(server_reader, client_writer)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for writer in (client_writer, server_writer):
                writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    _say(f"listening {server.sockets[0].getsockname()[1]}")
    async with server:
        await server.serve_forever()


# ----------------------------------------------------------------------------------------------- for benches


@dataclass
class Wiretap:
    process: subprocess.Popen[str]
    port: int
    requests: list[tuple[float, str, str]] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)

    def url(self, upstream_url: str) -> str:
        """``upstream_url`` (the simulator's) rewritten to go through the tap."""
        scheme, _, rest = upstream_url.partition("://")
        path = rest[rest.index("/") :] if "/" in rest else ""
        return f"{scheme}://127.0.0.1:{self.port}{path}"


@contextmanager
def wiretap(upstream_port: int, *, refuse: str | None = None) -> Iterator[Wiretap]:
    """Start the tap in front of ``upstream_port``; its readings collect in the Wiretap's lists."""
    command = [sys.executable, __file__, str(upstream_port), *(["--refuse", refuse] if refuse else [])]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, bufsize=1)
    assert process.stdout is not None
    first = process.stdout.readline().split()
    if first[:1] != ["listening"]:
        process.kill()
        raise RuntimeError("the wiretap did not start")
    tap = Wiretap(process, int(first[1]))

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            kind, at, *rest = line.rstrip("\n").split(" ", 3)
            if kind == "req":
                tap.requests.append((float(at), rest[0], rest[1]))
            elif kind == "evt":
                tap.events.append((float(at), rest[0]))

    threading.Thread(target=pump, daemon=True).start()
    try:
        yield tap
    finally:
        process.terminate()
        process.wait(5)


def main() -> int:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("upstream_port", type=int)
    parser.add_argument("--refuse", help="answer requests whose path contains this with 503")
    args = parser.parse_args()
    try:
        asyncio.run(_serve(args.upstream_port, args.refuse))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

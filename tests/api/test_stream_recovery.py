"""The reconnect loop on real sockets: a silent connection is found dead, resumes drop duplicates, and a long
outage ends in StreamResyncRequired. (Volume and server-side drops are tested against the sim.)"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import re
from typing import Any

import pytest

from shipdeck.api.errors import AuthError, StreamResyncRequired
from shipdeck.api.miosa import MiosaAdapter
from shipdeck.api.miteos import MiteosAdapter
from shipdeck.api.streams import StreamOptions
from shipdeck.api.transport import Transport
from shipdeck.config.profile import Secret
from tests.api.hostile import SeenRequest, Writer, hostile_server, response

SSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"


def frame(seq: int) -> bytes:
    payload = {"id": f"evt_{seq}", "type": "deployment.updated", "created_at": None, "data": {"n": seq}}
    return f"id: {seq}\nevent: deployment.updated\ndata: {json.dumps(payload)}\n\n".encode()


def adapter(url: str, **options: float) -> MiosaAdapter:
    transport = Transport(url, Secret("msk_x"), provider="miosa", profile_name="t", timeout=2.0, deadline=5.0)
    return MiosaAdapter(transport, stream_options=StreamOptions(**options))


async def test_dead_connection_is_detected_and_the_resume_drops_duplicates() -> None:
    connections: list[str | None] = []

    async def handler(req: SeenRequest, writer: Writer) -> None:
        connections.append(req.headers.get("last-event-id"))
        writer.write(SSE_HEAD)
        if len(connections) == 1:
            writer.write(b":heartbeat\n\n" + frame(1) + frame(2))
            await writer.drain()
            await asyncio.sleep(5)  # then silence: no heartbeat, the client must give up on us
        else:
            writer.write(frame(2) + frame(3) + frame(4))  # a resume that repeats the last one
            await writer.drain()
            await asyncio.sleep(5)
        writer.close()

    async with hostile_server(handler) as server:
        client = adapter(server.url, heartbeat_timeout=0.4, max_outage=30.0)
        seen: list[int | None] = []
        async with asyncio.timeout(10):
            async for event in client.events():
                seen.append(event.seq)
                if len(seen) == 4:
                    break
        await client.aclose()
    assert seen == [1, 2, 3, 4]
    assert connections == [None, "2"]


async def test_heartbeats_keep_a_stream_alive_and_a_slow_consumer_is_not_taken_for_silence() -> None:
    """The liveness deadline moves with every chunk, and it runs only while the client waits for bytes: a
    consumer that spends longer than the timeout on one event does not see its stream cut."""
    connections = 0

    async def handler(req: SeenRequest, writer: Writer) -> None:
        nonlocal connections
        connections += 1
        writer.write(SSE_HEAD + frame(1))
        await writer.drain()
        for _ in range(12):  # 1.2 s of heartbeats, each well inside the 0.4 s timeout
            await asyncio.sleep(0.1)
            writer.write(b":heartbeat\n\n")
            await writer.drain()
        writer.write(frame(2) + frame(3))
        await writer.drain()
        await asyncio.sleep(5)
        writer.close()

    async with hostile_server(handler) as server:
        client = adapter(server.url, heartbeat_timeout=0.4, max_outage=30.0)
        seen: list[int | None] = []
        async with asyncio.timeout(10):
            async for event in client.events():
                seen.append(event.seq)
                if event.seq == 2:
                    await asyncio.sleep(0.8)  # a consumer busy for twice the timeout
                if len(seen) == 3:
                    break
        await client.aclose()
    assert seen == [1, 2, 3]
    assert connections == 1


async def test_long_outage_ends_in_resync_and_auth_failure_is_raised_at_once() -> None:
    async def handler(req: SeenRequest, writer: Writer) -> None:
        writer.write(response(503, b'{"error": {"message": "down"}}'))

    async with hostile_server(handler) as server:
        client = adapter(server.url, max_outage=0.5, backoff_initial=0.05, backoff_max=0.1)
        with pytest.raises(StreamResyncRequired, match="down for more than"):
            async with asyncio.timeout(10):
                async for _ in client.events(after=5):
                    pass
        await client.aclose()
    assert len(server.seen) >= 2 and server.seen[0].headers["last-event-id"] == "5"

    async def refuse(req: SeenRequest, writer: Writer) -> None:
        writer.write(response(401, b'{"error": {"message": "no"}}'))

    async with hostile_server(refuse) as server:
        client = adapter(server.url)
        with pytest.raises(AuthError, match="token rejected"):
            async for _ in client.events():
                pass
        await client.aclose()
    assert len(server.seen) == 1


@pytest.mark.parametrize(
    ("first", "then", "delivered", "says"),
    [
        # A far-ahead id first on the connection (not the server's), then the real stream.
        ([999_999_999_999, 5, 6], [7], [999_999_999_999], "went backwards (5 after 999999999999)"),
        # The server restarted and numbers from 1 again; the new connection starts below where we were.
        ([100, 101], [1, 2, 3], [100, 101], "restarted below where it stopped (1 after 101)"),
    ],
)
async def test_a_sequence_that_goes_backwards_ends_in_resync_not_in_dropping_every_later_event(
    first: list[int], then: list[int], delivered: list[int], says: str
) -> None:
    """Every event below the highest sequence seen was dropped as a duplicate: one poisoned id (or a
    server that restarted its numbering) and the stream delivered nothing more, forever, saying '● live'."""
    connections: list[str | None] = []

    async def handler(req: SeenRequest, writer: Writer) -> None:
        connections.append(req.headers.get("last-event-id"))
        writer.write(SSE_HEAD + b"".join(frame(seq) for seq in (first if len(connections) == 1 else then)))
        await writer.drain()
        writer.close()

    async with hostile_server(handler) as server:
        client = adapter(server.url, max_outage=30.0, backoff_initial=0.01, backoff_max=0.02)
        seen: list[int | None] = []
        with pytest.raises(StreamResyncRequired, match=re.escape(says)):
            async with asyncio.timeout(10):
                async for event in client.events():
                    seen.append(event.seq)
        await client.aclose()
    assert seen == delivered


def miteos_client(port: int) -> MiteosAdapter:
    """A Miteos client of a socket server on ``port`` that reconnects at once (within 20 ms)."""
    transport = Transport(
        f"http://127.0.0.1:{port}/v1", Secret("mt_test_x"), provider="miteos", profile_name="t", timeout=2.0
    )
    return MiteosAdapter(
        transport, stream_options=StreamOptions(max_outage=30.0, backoff_initial=0.01, backoff_max=0.02)
    )


async def test_a_websocket_whose_sequence_goes_backwards_ends_in_resync() -> None:
    """The Miteos socket shares the rule: a resume that restarts below the last sequence (a server whose
    event log was reset) is a resync, not a silent drop of everything it sends from then on."""
    from websockets.asyncio.server import ServerConnection, serve

    resumes: list[object] = []

    async def handler(socket: ServerConnection) -> None:
        subscribe = json.loads(await socket.recv())
        assert subscribe["type"] == "subscribe"
        resumed = len(resumes) > 0
        if resumed:
            resumes.append(json.loads(await socket.recv()).get("after_seq"))
        else:
            resumes.append(None)
        for seq in [1, 2] if resumed else [40, 41]:
            await socket.send(
                json.dumps({"id": f"evt_{seq}", "seq": seq, "type": "task.updated", "data": {}})
            )
        await socket.close()

    async with serve(handler, "127.0.0.1", 0) as ws_server:
        client = miteos_client(ws_server.sockets[0].getsockname()[1])
        seen: list[int | None] = []
        with pytest.raises(
            StreamResyncRequired, match=re.escape("restarted below where it stopped (1 after 41)")
        ):
            async with asyncio.timeout(10):
                async for event in client.events():
                    seen.append(event.seq)
        await client.aclose()
    assert seen == [40, 41]
    assert resumes == [None, 41]


async def test_an_event_past_the_size_cap_is_refused_and_the_stream_reconnects() -> None:
    """One event of 6 MB of short ``data`` lines (each under the line cap): it is not delivered, the
    stream says why and reconnects, and the next connection's event is the first one the consumer gets."""
    pad = b'data: "' + b"A" * 1000 + b'",\n'
    huge = b'id: 1\nevent: deployment.updated\ndata: {"type": "deployment.updated", "data": {"pad": [\n'
    huge += pad * 6000 + b"data: 0]}}\n\n"
    connections = 0

    async def handler(req: SeenRequest, writer: Writer) -> None:
        nonlocal connections
        connections += 1
        writer.write(SSE_HEAD + (huge if connections == 1 else frame(2)))
        await writer.drain()
        writer.close()

    async with hostile_server(handler) as server:
        client = adapter(server.url, max_outage=30.0, backoff_initial=0.01, backoff_max=0.02)
        assert client.stream_health is not None
        seen: list[int | None] = []
        async with asyncio.timeout(20):
            async for event in client.events():
                seen.append(event.seq)
                break
        await client.aclose()
    assert seen == [2]
    assert connections == 2
    assert "event larger than" in client.stream_health.reason


async def test_a_server_that_replays_an_old_event_and_closes_gets_backoff_and_then_a_resync() -> None:
    """Each connection sent the event already delivered and closed: the replay counted as progress, so the
    stream reconnected at the first backoff step for ever (156 a minute against a Free tier's 60), and
    the 'down too long, re-read everything' path never came. Only a new event counts as progress now."""
    delays: list[float] = []

    async def handler(req: SeenRequest, writer: Writer) -> None:
        writer.write(SSE_HEAD + frame(1))
        await writer.drain()
        writer.close()

    async with hostile_server(handler) as server:
        transport = Transport(server.url, Secret("msk_x"), provider="miosa", profile_name="t", timeout=2.0)
        transport.on_notice = lambda text: delays.append(float(text.rsplit(" in ", 1)[1].split()[0]))
        options = StreamOptions(max_outage=0.6, backoff_initial=0.02, backoff_max=0.16)
        client = MiosaAdapter(transport, stream_options=options)
        with pytest.raises(StreamResyncRequired, match="down for more than"):
            async with asyncio.timeout(10):
                async for _ in client.events(after=1):
                    pass
        await client.aclose()
    assert all(req.headers["last-event-id"] == "1" for req in server.seen)
    # The delays grew to the ceiling, each at least half of its step (the jitter), not the first step again.
    assert len(delays) >= 3
    assert delays[-1] >= 0.08 and delays[-1] > delays[0], delays


WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


async def test_a_silent_websocket_is_found_dead_by_its_unanswered_pings() -> None:
    """The server completes the upgrade, then never answers a ping nor sends a frame."""
    upgrades: list[SeenRequest] = []
    finished = asyncio.Event()

    async def handler(req: SeenRequest, writer: Writer) -> None:
        upgrades.append(req)
        digest = hashlib.sha1((req.headers["sec-websocket-key"] + WS_GUID).encode()).digest()
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + base64.b64encode(digest) + b"\r\n\r\n"
        )
        await writer.drain()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(finished.wait(), 10)
        writer.close()

    async with hostile_server(handler) as server:
        transport = Transport(
            server.url + "/v1", Secret("mt_test_x"), provider="miteos", profile_name="t", timeout=2.0
        )
        client = MiteosAdapter(
            transport,
            stream_options=StreamOptions(heartbeat_timeout=0.4, max_outage=1.0, backoff_initial=0.05),
        )
        with pytest.raises(StreamResyncRequired, match="down for more than 1 s"):
            async with asyncio.timeout(10):
                async for _ in client.events():
                    pass
        finished.set()
        await client.aclose()
    assert len(upgrades) >= 2 and upgrades[0].path == "/v1/ws"
    assert upgrades[0].headers["authorization"] == "Bearer mt_test_x"
    # (Given up by itself: asyncio.timeout(10) would have raised TimeoutError instead.)


@pytest.mark.parametrize(
    ("content_type", "body", "named"),
    [
        ("text/html; charset=utf-8", b"<html><body>Sign in to the proxy</body></html>", "text/html"),
        ("application/json", b'{"data": {"logs": "a line"}}', "application/json"),
    ],
)
async def test_an_answer_that_is_not_an_event_stream_keeps_the_stream_down_and_says_what_came(
    content_type: str, body: bytes, named: str
) -> None:
    """A proxy's sign-in page (or JSON) answered with 200 on the event stream: no event is read out of it,
    the stream's health says down with what the server sent, and the client keeps trying."""

    async def handler(req: SeenRequest, writer: Writer) -> None:
        writer.write(response(200, body, {"Content-Type": content_type}))

    async with hostile_server(handler) as server:
        client = adapter(server.url, max_outage=30.0, backoff_initial=0.01, backoff_max=0.02)
        assert client.stream_health is not None
        client.stream_health.down_since = None
        events = client.events().__aiter__()
        reading = asyncio.ensure_future(events.__anext__())
        async with asyncio.timeout(10):
            while len(server.seen) < 3:
                await asyncio.sleep(0.01)  # a poll's period: the client reconnects on its own
        assert not reading.done(), "an event was read out of a page that is not an event stream"
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
        await client.aclose()
    assert client.stream_health.down_since is not None
    assert f"answered {named}, not an event stream" in client.stream_health.reason


async def test_a_websocket_closed_4001_is_a_rejected_token_and_4029_says_the_connection_limit() -> None:
    """The contract's close codes: a key refused after the upgrade (4001) reconnected for ever and said only
    'connection lost'; over the connection limit (4029) said nothing of the limit."""
    from websockets.asyncio.server import ServerConnection, serve

    from shipdeck.api.base import StreamHealth
    from shipdeck.api.miteos import WS_CLOSE_KEY_REFUSED, WS_CLOSE_TOO_MANY

    codes = [WS_CLOSE_TOO_MANY, WS_CLOSE_KEY_REFUSED]
    connections: list[int] = []

    async def handler(socket: ServerConnection) -> None:
        await socket.recv()  # subscribe
        code = codes[min(len(connections), len(codes) - 1)]
        connections.append(code)
        await socket.close(code=code, reason="key revoked" if code == WS_CLOSE_KEY_REFUSED else "limit")

    async with serve(handler, "127.0.0.1", 0) as ws_server:
        client = miteos_client(ws_server.sockets[0].getsockname()[1])
        client.stream_health = health = StreamHealth()
        reasons: list[str] = []
        health_failed = health.failed

        def failed(reason: str, **kwargs: Any) -> None:
            reasons.append(reason)
            health_failed(reason, **kwargs)

        health.failed = failed  # type: ignore[method-assign]
        with pytest.raises(AuthError, match=r"token rejected \(close 4001: key revoked\)"):
            async with asyncio.timeout(10):
                async for _event in client.events():
                    pass
        await client.aclose()
    # 4029 was retried, and said why; 4001 was not.
    assert connections == [WS_CLOSE_TOO_MANY, WS_CLOSE_KEY_REFUSED]
    assert len(reasons) == 1 and "over the server's connection limit (close 4029: limit)" in reasons[0], (
        reasons
    )

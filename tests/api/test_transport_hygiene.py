"""The transport against a hostile server: redirects, huge or broken bodies, slow drips, echoed tokens."""

from __future__ import annotations

import asyncio
import json

import pytest

from shipdeck import __version__
from shipdeck.api.context import LAST_REQUEST_ID, background_reads
from shipdeck.api.errors import (
    AuthError,
    BudgetReserved,
    InvalidToken,
    NetworkError,
    ProtocolError,
    ServerError,
)
from shipdeck.api.transport import Transport
from shipdeck.config.profile import Secret
from tests.api.hostile import SeenRequest, Writer, hostile_server, response

TOKEN = "msk_u_super_secret_token"


def make_transport(url: str, **kwargs: object) -> Transport:
    notices: list[str] = []
    options: dict[str, object] = {"timeout": 2.0, "deadline": 5.0, **kwargs}
    transport = Transport(
        url,
        Secret(TOKEN),
        provider="miosa",
        profile_name="prod-eu",
        on_notice=notices.append,
        **options,  # type: ignore[arg-type]
    )
    transport.notices = notices  # type: ignore[attr-defined]
    return transport


def ok(body: object, **headers: str) -> bytes:
    return response(200, json.dumps(body).encode(), {"X-Request-ID": "req_ok", **headers})


async def test_headers_request_id_and_json() -> None:
    async def handler(req: SeenRequest, writer: Writer) -> None:
        writer.write(ok({"data": {"id": "dep_1"}}))

    async with hostile_server(handler) as server:
        transport = make_transport(server.url + "/api/v1")
        assert await transport.get("/deployments/dep_1") == {"data": {"id": "dep_1"}}
        await transport.aclose()
    (seen,) = server.seen
    assert seen.path == "/api/v1/deployments/dep_1"
    assert seen.headers["user-agent"] == f"shipdeck/{__version__}"
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert LAST_REQUEST_ID.get() == "req_ok"
    assert TOKEN not in repr(transport)


async def test_redirect_is_refused_and_the_token_goes_nowhere() -> None:
    async def elsewhere(req: SeenRequest, writer: Writer) -> None:
        writer.write(ok({}))

    async with hostile_server(elsewhere) as other:

        async def handler(req: SeenRequest, writer: Writer) -> None:
            writer.write(response(302, b"", {"Location": other.url + "/steal"}))

        async with hostile_server(handler) as server:
            transport = make_transport(server.url)
            with pytest.raises(ProtocolError) as caught:
                await transport.get("/deployments")
            await transport.aclose()
    assert "redirecting to" in str(caught.value) and "/steal" in str(caught.value)
    assert "does not follow redirects" in str(caught.value)
    assert other.seen == []


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (response(200, b"{not json"), "not valid JSON"),
        (response(200, b'{"a": "\xff\xfe"}'), "not valid UTF-8"),
        (response(200, b"", {"Content-Length": str(64 * 1024 * 1024)}), "larger than"),
    ],
)
async def test_broken_bodies_are_protocol_errors(answer: bytes, message: str) -> None:
    async def handler(req: SeenRequest, writer: Writer) -> None:
        writer.write(answer)
        writer.close()

    async with hostile_server(handler) as server:
        transport = make_transport(server.url)
        with pytest.raises(ProtocolError, match=message):
            await transport.get("/x")
        await transport.aclose()


async def test_streamed_body_over_the_cap_is_cut() -> None:
    async def handler(req: SeenRequest, writer: Writer) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(64):
            writer.write(b"400\r\n" + b"x" * 1024 + b"\r\n")
        writer.write(b"0\r\n\r\n")

    async with hostile_server(handler) as server:
        transport = make_transport(server.url, max_body_bytes=16 * 1024)
        with pytest.raises(ProtocolError, match="larger than"):
            await transport.get("/x")
        await transport.aclose()


async def test_slow_drip_is_bounded_by_the_deadline() -> None:
    async def handler(req: SeenRequest, writer: Writer) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(100):
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.1)

    async with hostile_server(handler) as server:
        transport = make_transport(server.url, timeout=1.0, deadline=1.0)
        # The message names the deadline: it cut the 10 s drip.
        with pytest.raises(NetworkError, match="within 1 s"):
            await transport.get("/x")
        await transport.aclose()


async def test_rejected_token_message_names_the_profile_and_hides_an_echoed_token() -> None:
    async def handler(req: SeenRequest, writer: Writer) -> None:
        body = {"error": {"code": "UNAUTHORIZED", "message": f"bad key {TOKEN}"}}
        writer.write(response(401, json.dumps(body).encode(), {"X-Request-ID": "req_401"}))

    async with hostile_server(handler) as server:
        transport = make_transport(server.url)
        with pytest.raises(AuthError) as caught:
            await transport.get("/x")
        await transport.aclose()
    text = str(caught.value)
    assert text.startswith("token rejected (401) for profile prod-eu")
    assert TOKEN not in text and TOKEN not in repr(caught.value) and "[request req_401]" in text


async def test_503_is_retried_with_the_same_key_and_500_is_not() -> None:
    answers = [response(503, b'{"error": {"message": "busy"}}', {"Retry-After": "0"}), ok({"data": {}})]

    async def handler(req: SeenRequest, writer: Writer) -> None:
        writer.write(answers.pop(0) if answers else response(500, b"{}"))

    async with hostile_server(handler) as server:
        transport = make_transport(server.url)
        await transport.mutate("POST", "/deployments/d/rollback", json={}, idempotency_key="key-1")
        with pytest.raises(ServerError, match=r"server error \(500\)"):
            await transport.mutate("POST", "/deployments/d/rollback", json={}, idempotency_key="key-2")
        await transport.aclose()
    keys = [req.headers.get("idempotency-key") for req in server.seen]
    assert keys == ["key-1", "key-1", "key-2"]
    assert any("retrying in" in notice for notice in transport.notices)  # type: ignore[attr-defined]


async def test_background_reads_keep_a_reserve_for_the_user() -> None:
    async def handler(req: SeenRequest, writer: Writer) -> None:
        writer.write(ok({}, **{"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "3"}))

    async with hostile_server(handler) as server:
        transport = make_transport(server.url)
        await transport.get("/x")
        assert (transport.budget.limit, transport.budget.remaining) == (100, 3)
        with background_reads(), pytest.raises(BudgetReserved, match="3 requests left"):
            await transport.get("/x")
        await transport.get("/x")  # the user's own read still goes out
        await transport.aclose()
    assert len(server.seen) == 2


@pytest.mark.parametrize("token", ["", "msk_with space", "msk_tökén", "msk_line\nbreak"])
async def test_a_token_that_cannot_be_sent_is_refused_before_sending(token: str) -> None:
    async def handler(req: SeenRequest, writer: Writer) -> None:
        writer.write(ok({}))

    async with hostile_server(handler) as server:
        transport = Transport(server.url, Secret(token), provider="miosa", profile_name="prod-eu")
        with pytest.raises(InvalidToken, match="token of profile prod-eu") as caught:
            await transport.get("/x")
        await transport.aclose()
    assert server.seen == []
    assert not token or token not in str(caught.value)


async def test_an_unusable_base_url_is_a_clear_error_not_a_retry_loop() -> None:
    from shipdeck.api.miteos import MiteosAdapter

    transport = Transport("localhost:8080/v1", Secret(TOKEN), provider="miteos", profile_name="p")
    adapter = MiteosAdapter(transport)
    with pytest.raises(NetworkError, match="cannot call miteos") as caught:
        await adapter.list_tasks()
    assert not caught.value.retryable
    with pytest.raises(NetworkError, match="not a usable address"):
        async with asyncio.timeout(5):
            async for _ in adapter.events():
                pass
    await adapter.aclose()


async def test_a_change_cut_by_the_deadline_while_connecting_was_not_applied() -> None:
    """A listener whose accept queue is full drops new connections' SYNs: connecting hangs until the
    deadline cuts it. No byte of the request was written, so the change is reported not applied (on a busy
    machine a deadline that passed while connecting was once reported 'may have been applied')."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers: list[socket.socket] = []
    try:
        for _ in range(4):  # fill the accept queue (and the kernel's slack beyond a backlog of 0)
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))  # non-blocking: in progress or queued
            fillers.append(filler)
        transport = make_transport(f"http://127.0.0.1:{port}", timeout=5.0, deadline=1.0)
        with pytest.raises(NetworkError) as raised:
            await transport.mutate("POST", "/deployments/dep_1/rollback", json={})
        await transport.aclose()
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
    assert raised.value.maybe_applied is False, raised.value.message
    assert "may have been applied" not in raised.value.message


async def test_a_request_to_the_base_url_itself_names_its_path() -> None:
    """Mixpeek lists its apps at the base URL (path ""): its errors read "GET /", not "GET :"."""

    async def failing(request: SeenRequest, writer: Writer) -> None:
        writer.write(response(500, b"{}"))

    async with hostile_server(failing) as server:
        transport = make_transport(server.url + "/v1/apps")
        with pytest.raises(ServerError) as caught:
            await transport.get("")
        await transport.aclose()
    assert "on GET /" in str(caught.value), caught.value


async def test_an_env_list_of_every_environment_shows_only_the_one_asked_for() -> None:
    """The official SDK lists env with no environment: a server that ignores ?environment= and answers
    every environment's variables had production's shown as preview's (each row stamped with the one asked
    for). Rows that state another environment are left out; rows that state none stay, stating none."""
    from shipdeck.api.miosa import MiosaAdapter

    rows = [
        {"key": "DATABASE_URL", "value": "****", "environment": "production"},
        {"key": "DATABASE_URL", "value": "****", "environment": "preview"},
        {"key": "FEATURE_X", "value": "****"},
    ]

    async def handler(req: SeenRequest, writer: Writer) -> None:
        writer.write(ok({"data": rows}))

    async with hostile_server(handler) as server:
        adapter = MiosaAdapter(make_transport(server.url + "/api/v1"))
        try:
            preview = await adapter.list_env("dep_1", environment="preview")
        finally:
            await adapter.aclose()
    # A row naming no environment is not labelled with the one asked for: the server did not say.
    assert [(v.name, v.environment) for v in preview] == [("DATABASE_URL", "preview"), ("FEATURE_X", None)]

"""The model parsers and stream-frame parsers: lenient about what they may be, typed errors otherwise."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from httpx_sse import ServerSentEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipdeck.api.errors import ProtocolError, ShipdeckError, StreamResyncRequired
from shipdeck.api.health import (
    miosa_health,
    miosa_route,
    mixpeek_get_detail,
    mixpeek_health_from_raw,
    request_record,
)
from shipdeck.api.miosa import (
    miosa_build,
    miosa_deployment,
    miosa_deployment_page,
    miosa_deployment_rows,
    miosa_domain,
    miosa_env_var,
    miosa_release,
    miosa_version,
    parse_miosa_event,
    parse_miosa_log_frame,
    parse_runtime_line,
)
from shipdeck.api.miteos import (
    WsControl,
    deployment_run,
    miteos_agent,
    miteos_deliverable,
    miteos_deployment,
    miteos_task,
    parse_miteos_frame,
)
from shipdeck.api.parsing import decode_json, optional_float, parse_error_body, unwrap_list, unwrap_object
from shipdeck.api.pipeline import stages_for
from shipdeck.api.sse import SseParser, iter_sse
from shipdeck.model import Event, LogLine

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "id",
        "name",
        "slug",
        "state",
        "status",
        "type",
        "seq",
        "data",
        "created_at",
        "version_number",
        "deployment_id",
        "domain",
        "dns_records",
        "agents",
        "subtasks",
        "url",
        "public_url",
        "preview",
        "line",
    ]
)
# Objects that look like the real thing often enough to reach deep into each mapper.
PLAUSIBLE = st.dictionaries(KEYS, JSON | st.text(max_size=10), max_size=10)
ANY_JSON = JSON | PLAUSIBLE

MAPPERS: list[Callable[[Any], object]] = [
    miosa_deployment,
    miosa_version,
    miosa_release,
    miosa_build,
    miosa_domain,
    miosa_env_var,
    miteos_deployment,
    deployment_run,
    miteos_task,
    miteos_agent,
    miteos_deliverable,
]

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(raw=ANY_JSON, index=st.integers(min_value=0, max_value=len(MAPPERS) - 1))
def test_mappers_raise_only_typed_errors(raw: Any, index: int) -> None:
    try:
        MAPPERS[index](raw)
    except ShipdeckError:
        pass


@FUZZ
@given(body=ANY_JSON)
def test_envelopes_and_error_bodies_never_crash(body: Any) -> None:
    parse_error_body(body)  # never raises
    for unwrap in (unwrap_object, unwrap_list):
        try:
            unwrap(body, what="x")
        except ProtocolError:
            pass


@FUZZ
@given(
    payload=ANY_JSON,
    event=st.sampled_from(["", "message", "log_line", "resync_required"]),
    frame_id=st.sampled_from(["", "7", "x", "-3"]),
)
def test_sse_frame_parsers_raise_only_typed_errors(payload: Any, event: str, frame_id: str) -> None:
    frame = ServerSentEvent(event=event, data=json.dumps(payload), id=frame_id)
    for parse in (parse_miosa_event, parse_miosa_log_frame):
        try:
            parse(frame)
        except ShipdeckError:
            pass


@FUZZ
@given(payload=ANY_JSON)
def test_ws_frame_parser_raises_only_typed_errors(payload: Any) -> None:
    try:
        parse_miteos_frame(json.dumps(payload))
    except ShipdeckError:
        pass


@FUZZ
@given(raw=st.binary(max_size=200))
def test_raw_bytes_raise_only_typed_errors(raw: bytes) -> None:
    for parse in (
        lambda: decode_json(raw, what="x"),
        lambda: parse_miteos_frame(raw),
        lambda: SseParser().feed(raw),
    ):
        try:
            parse()
        except ProtocolError:
            pass


@FUZZ
@given(text=st.text(alphabet="ab:\r\n di", max_size=120), cut=st.integers(min_value=0, max_value=120))
def test_sse_parser_is_independent_of_chunking(text: str, cut: int) -> None:
    raw = text.encode()
    whole = SseParser()
    split = SseParser()
    one = whole.feed(raw) + whole.flush()
    two = split.feed(raw[:cut]) + split.feed(raw[cut:]) + split.flush()
    assert [(e.event, e.data, e.id) for e in one] == [(e.event, e.data, e.id) for e in two]


def test_sse_parser_reads_the_grammar_the_contract_names() -> None:
    parser = SseParser()
    events = parser.feed(b':heartbeat\r\nid: 4\nevent: log_line\ndata: {"a":\ndata: 1}\r\n\r')
    events += parser.feed(b"\ndata: tail")
    events += parser.flush()
    assert [(e.id, e.event, e.data) for e in events] == [
        ("4", "log_line", '{"a":\n1}'),
        ("4", "message", "tail"),
    ]


def test_sse_parser_caps_line_length() -> None:
    parser = SseParser(max_line_bytes=64)
    with pytest.raises(ProtocolError, match="longer than 64 bytes"):
        parser.feed(b"data: " + b"x" * 100)


def test_sse_parser_caps_one_events_size() -> None:
    """Short ``data`` lines without the blank line that ends an event: each under the line cap, and the
    decoder joined them without end (a build log's tail grew by 3.7 GB in 30 s). Events of their own, as
    many as they come, are never refused: the cap is one event's."""
    parser = SseParser()
    whole_events = (b"data: " + b"A" * 1000 + b"\n") * 2 + b"\n"
    for _ in range(20 * 1024 // 2):  # 20 MiB of events of 2 KB each: none refused
        parser.feed(whole_events)
    chunk = (b"data: " + b"A" * 1000 + b"\n") * 64
    fed = 0
    with pytest.raises(ProtocolError, match="event larger than"):
        while fed <= 16 * 1024 * 1024:  # refused within 16 MiB of one event's lines
            parser.feed(chunk)
            fed += len(chunk)


def test_known_shapes_map_to_the_model() -> None:
    dep = miosa_deployment(
        {
            "id": "dep_1",
            "tenant_id": "t",
            "name": "Shop",
            "slug": "shop",
            "state": "hibernating",
            "public_url": None,
            "auto_subdomain": "https://shop.example.test",
            "docker_deploy_app": {"x": 1},
        }
    )
    assert dep.state == "hibernating" and dep.url == "https://shop.example.test"
    assert dep.model_extra and dep.model_extra["docker_deploy_app"] == {"x": 1}
    domain = miosa_domain(
        {
            "id": "dom_1",
            "fqdn": "a.example.test",
            "verification_status": "pending",
            "dns_records": [{"type": "CNAME", "name": "a", "value": "b"}],
        },
        "dep_1",
    )
    assert (
        domain.name == "a.example.test" and domain.records[0].type == "CNAME" and domain.status == "pending"
    )
    task = miteos_task({"id": "task_1", "status": "completed", "agents": [{"id": "agnt_1", "status": "new"}]})
    assert task.status == "complete" and task.agents[0].status == "new"
    run = deployment_run({"id": "d1", "status": "deploying", "target": "vercel"})
    assert [(s.name, s.state) for s in run.stages] == [
        ("pending", "complete"),
        ("building", "complete"),
        ("deploying", "running"),
        ("live", "pending"),
    ]


def test_invalid_field_types_name_the_field() -> None:
    with pytest.raises(ProtocolError, match="'name'"):
        miosa_deployment({"id": "dep_1", "name": ["not", "a", "string"]})


# At the edges of datetime's range: told in UTC (or in local time), each overflowed.
YEAR_LIMITS = ("9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59Z")


@pytest.mark.parametrize("stamp", YEAR_LIMITS)
def test_a_timestamp_at_the_year_limits_is_an_invalid_field_or_no_time(stamp: str) -> None:
    """An OverflowError from the UTC conversion was 'unexpected OverflowError (please report this)' in
    `shipdeck ls`, stopped the console's live loop (one event) and broke `shipdeck logs` (one line)."""
    with pytest.raises(ProtocolError, match="field 'updated_at' is invalid"):
        miosa_deployment({"id": "dep_1", "name": "Shop", "updated_at": stamp})
    assert miosa_deployment_rows([{"id": "dep_1", "name": "Shop", "updated_at": stamp}]) is None
    frame = json.dumps({"id": "evt_1", "type": "deployment.updated", "created_at": stamp})
    with pytest.raises(ProtocolError, match="field 'created_at' is invalid"):
        parse_miosa_event(ServerSentEvent(id="3", data=frame))
    # A runtime log line is kept whole, without a time; a health reading keeps its figures, without one.
    line = parse_runtime_line(f"{stamp} inst_1 GET / 200")
    assert line.ts is None and line.line == f"{stamp} inst_1 GET / 200"
    health = miosa_health(
        {"error_rate": 0.5, "as_of": stamp, "series": [{"t": stamp, "error_rate": 0.1}]}, "dep_1"
    )
    assert health.error_rate == 0.5 and health.as_of is None and health.series == []
    assert request_record({"timestamp": stamp, "status": 500}).at is None


# Figures no one can show: NaN and the infinities as JSON reads them (literals, strings, a float past its
# range), and negative or absurd ones.
UNREADABLE_FIGURES = """{"error_rate": NaN, "latency_ms": {"p50": NaN, "p95": "1e999", "p99": -Infinity},
    "rpm": 1e999, "window_s": -30, "requests": -5, "errors": 1000000000000000000000000000000,
    "as_of": "2026-01-01T00:00:00Z", "series": [
        {"t": "2026-01-01T00:00:00Z", "error_rate": "nan", "p95_ms": "nan", "requests": -1},
        {"t": "2026-01-01T00:01:00Z", "error_rate": 0.01, "p95_ms": Infinity, "requests": 12},
        {"t": "2026-01-01T00:02:00Z", "error_rate": "inf", "p95_ms": "-5", "requests": "7"},
        {"t": "2026-01-01T00:03:00Z", "error_rate": 0.02, "p95_ms": "1e999", "requests": 3}]}"""


def test_figures_that_are_no_numbers_are_missing_never_a_number() -> None:
    """One series point's p95 of "nan" (or "1e999", or a literal NaN) reached Textual's Sparkline, which
    raised ValueError and ended the console; `status --json` printed NaN and Infinity, `health` printed
    'p50 nan ms' and a 309-digit rpm. Every figure is finite and in its range, or None."""
    health = miosa_health(decode_json(UNREADABLE_FIGURES.encode(), what="observability"), "dep_1")
    figures = (health.error_rate, health.p50_ms, health.p95_ms, health.p99_ms, health.rpm, health.window_s)
    assert figures == (None,) * 6
    assert (health.requests, health.errors) == (None, None)
    assert [(p.error_rate, p.p95_ms, p.requests) for p in health.series] == [
        (None, None, None),
        (0.01, None, 12),
        (None, None, 7),
        (0.02, None, 3),
    ]
    # The figures a server can mean still read, strings of numbers too; an error rate is clamped to 0..1.
    sane = miosa_health({"error_rate": "1.5", "p95_ms": "840.5", "rpm": 0, "window_s": "30"}, "dep_1")
    assert (sane.error_rate, sane.p95_ms, sane.rpm, sane.window_s) == (1.0, 840.5, 0.0, 30.0)
    route = miosa_route({"route": "/a", "requests": -1, "errors": 10**30, "p50_ms": "nan", "p95_ms": -2.0})
    assert (route.requests, route.errors, route.p50_ms, route.p95_ms) == (0, 0, None, None)
    assert request_record({"status": 200, "duration_ms": "inf"}).duration_ms is None
    for text in ("nan", "-inf", "Infinity", "1e999", " NaN "):
        assert optional_float(text) is None, text
    assert optional_float(10**400) is None  # past float's range: OverflowError before


async def test_mixpeek_figures_ignore_durations_and_counts_that_are_no_numbers() -> None:
    """Mixpeek's figures are computed from its request log and analytics: a duration of NaN or -5 is not
    one, and an absurd page-view count (an int past float's range) raised OverflowError."""
    stamp = "2026-01-01T00:00:{:02d}Z"
    log = [
        {"timestamp": stamp.format(second), "status": 200, "duration_ms": duration, "path": "/a"}
        for second, duration in enumerate([10, "nan", -5, "1e999", 30])
    ]
    health = mixpeek_health_from_raw(log, "dep_1")
    assert (health.p50_ms, health.p99_ms, health.requests) == (10.0, 30.0, 5)

    class Answers:
        async def get(self, path: str, *, params: Any = None) -> Any:
            if path.endswith("/logs"):
                return {"results": log}
            buckets = [{"timestamp": stamp.format(s), "count": c} for s, c in ((0, -3), (1, 10**30))]
            return {"total_pageviews": 10**400, "errors_over_time": buckets}

    detail = await mixpeek_get_detail(Answers(), "app_1", "dep_1")
    assert [(p.error_rate, p.requests) for p in detail.health.series] == [(None, 0), (None, 0)]
    assert [(r.p50_ms, r.p95_ms) for r in detail.routes] == [(10.0, 30.0)]


def test_a_flat_miosa_event_keeps_its_fields_and_one_without_an_id_gets_one() -> None:
    """The official SDK yields the whole decoded payload as the event and names no "data" key: a flat
    payload's fields were dropped (every event's data came out {}), and one with no id was a protocol
    error that cut the stream."""
    flat = '{"type": "deployment.updated", "deployment_id": "dep_1", "state": "failed"}'
    parsed = parse_miosa_event(ServerSentEvent(event="deployment.updated", data=flat))
    assert parsed is not None
    seq, event = parsed
    assert seq is None and event.data == {"deployment_id": "dep_1", "state": "failed"}
    again = parse_miosa_event(ServerSentEvent(event="deployment.updated", data=flat))
    assert again is not None and again[1].id == event.id and event.id.startswith("sha-")
    nested = '{"id": "evt_2", "type": "env.changed", "data": {"deployment_id": "dep_1"}}'
    parsed = parse_miosa_event(ServerSentEvent(id="7", data=nested))
    assert parsed is not None and parsed[1].data == {"deployment_id": "dep_1"} and parsed[1].id == "evt_2"
    untyped = parse_miosa_event(ServerSentEvent(data='{"deployment_id": "dep_1"}'))
    assert untyped is not None and untyped[1].type == "message"


def test_stream_frames() -> None:
    seq, event = parse_miosa_event(
        ServerSentEvent(event="version.promoted", id="12", data='{"id": "evt_1", "type": "version.promoted"}')
    ) or (None, None)
    assert seq == 12 and isinstance(event, Event) and event.type == "version.promoted"
    assert parse_miosa_event(ServerSentEvent(event="", data="")) is None
    with pytest.raises(StreamResyncRequired):
        parse_miosa_event(ServerSentEvent(event="resync_required", data="{}"))
    done = parse_miosa_log_frame(ServerSentEvent(data='{"type": "done", "result": {"state": "failed"}}'))
    assert isinstance(done, LogLine) and done.done_state == "failed"
    assert isinstance(parse_miteos_frame('{"type": "subscribed"}'), WsControl)
    with pytest.raises(StreamResyncRequired):
        parse_miteos_frame('{"type": "resync_required"}')
    frame = parse_miteos_frame('{"id": "evt_9", "seq": 9, "type": "agent.paused", "data": {"agent_id": "a"}}')
    assert isinstance(frame, Event) and frame.seq == 9 and frame.provider == "miteos"


def test_error_bodies_of_every_dialect() -> None:
    assert parse_error_body(
        {"error": {"code": "VERSION_NOT_READY", "message": "version v is not ready"}}
    ).code == ("VERSION_NOT_READY")
    assert parse_error_body({"detail": "Missing scope"}).message == "Missing scope"
    assert (
        parse_error_body({"detail": [{"loc": ["body", "target"], "msg": "bad"}]}).message
        == "body.target: bad"
    )
    mixpeek = parse_error_body({"success": False, "error": {"message": "nope", "type": "NotFound"}})
    assert (mixpeek.message, mixpeek.code) == ("nope", "NotFound")
    assert parse_error_body({"error": "NOT_FOUND"}).code == "NOT_FOUND"
    # The official Miosa SDK's retry hint, in milliseconds, nested or at the top; seconds win when given.
    assert parse_error_body({"error": {"code": "RATE_LIMITED", "retry_after_ms": 1500}}).retry_after == 1.5
    assert parse_error_body({"error": "RATE_LIMITED", "retry_after_ms": 250}).retry_after == 0.25
    assert parse_error_body({"retry_after": 2, "retry_after_ms": 9000}).retry_after == 2.0
    assert parse_error_body({"error": {"retry_after_ms": "soon"}}).retry_after is None
    assert parse_error_body("<html>").message is None


def test_stages_for_failures_and_unknowns() -> None:
    failed = stages_for(("queued", "building", "succeeded"), "failed")
    assert [s.state for s in failed] == ["complete", "failed", "pending"]
    assert [s.state for s in stages_for(("a", "b"), "mystery")] == ["pending", "pending"]
    assert [s.state for s in stages_for(("a", "b"), "b")] == ["complete", "complete"]


def test_a_page_of_rows_is_the_mapped_deployments_without_extras() -> None:
    items = [
        {
            "id": "dep_1",
            "name": "Shop",
            "state": "running",
            "public_url": None,
            "url": None,
            "auto_subdomain": "https://shop.example.test",
            "created_at": "2026-01-02T03:04:05+02:00",
            "provider": "not-miosa",
            "docker_deploy_app": {"x": 1},
        },
        {"id": "dep_2", "name": "Blog", "url": "https://blog.example.test", "public_url": "https://b.test"},
    ]
    rows = miosa_deployment_rows(items)
    page = miosa_deployment_page(json.dumps({"data": items, "next_cursor": "c2", "total": "7"}).encode())
    assert rows is not None and page is not None
    assert page.items == rows and page.next_cursor == "c2" and page.total == 7
    for row, item in zip(rows, items, strict=True):
        mapped = miosa_deployment(item)
        assert row.model_dump() == mapped.model_dump(exclude=set(mapped.model_extra or {}))
        assert not row.model_extra and row.provider == "miosa"
        assert row.model_fields_set <= mapped.model_fields_set
    assert rows[0].url == "https://shop.example.test" and rows[1].url == "https://b.test"
    assert rows[0].created_at is not None and rows[0].created_at.utcoffset() == timedelta(0)
    assert rows[0] == rows[0].model_copy()


def test_a_page_with_a_bad_row_is_left_to_the_item_by_item_mapping() -> None:
    # None: the adapter maps the page one item at a time, whose error names the item and the field.
    assert miosa_deployment_rows([{"id": "dep_1", "name": "Shop"}, {"id": "dep_2", "name": 7}]) is None
    assert miosa_deployment_rows([{"id": "dep_1", "name": "Shop"}, "dep_2"]) is None
    with pytest.raises(ProtocolError, match="field 'name' is invalid"):
        miosa_deployment({"id": "dep_2", "name": 7})
    good = {"id": "dep_1", "name": "Shop"}
    for body in (
        {"data": [good, {"id": "dep_2", "name": 7}]},
        {"data": [good], "next_cursor": 5},
        {"items": [good]},
        [good],
    ):
        assert miosa_deployment_page(json.dumps(body).encode()) is None
    for raw in (b"", b"\xff{", b'{"data": [', b"[" * 10_000 + b"]" * 10_000):
        assert miosa_deployment_page(raw) is None


async def test_iter_sse_reads_a_plain_stream_and_a_compressed_one_alike() -> None:
    body = b'id: 7\nevent: deployment.updated\ndata: {"a": 1}\n\n: heartbeat\n\nid: 8\ndata: x\n\n'
    for coding, content in (({}, body), ({"content-encoding": "gzip"}, gzip.compress(body))):
        headers = {"content-type": "text/event-stream", **coding}

        def answer(
            request: httpx.Request, headers: dict[str, str] = headers, content: bytes = content
        ) -> Any:
            async def chunks() -> AsyncIterator[bytes]:  # streamed in pieces, as a server sends them
                for start in range(0, len(content), 5):
                    yield content[start : start + 5]

            return httpx.Response(200, headers=headers, content=chunks())

        transport = httpx.MockTransport(answer)
        client = httpx.AsyncClient(transport=transport)
        async with client, client.stream("GET", "http://sse.test/events") as response:
            got = [(e.id, e.event, e.data) async for e in iter_sse(response, idle_timeout=5, what="test")]
        reference = SseParser()
        whole = [*reference.feed(body), *reference.flush()]
        assert got == [(e.id, e.event, e.data) for e in whole], coding
        assert ("8", "message", "x") in got

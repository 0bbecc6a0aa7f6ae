"""The Mixpeek mappers read whatever a server sends: the documented shapes map, and anything else is a
ProtocolError with a message, never a traceback of another kind."""

from __future__ import annotations

import json
from typing import Any

from httpx_sse import ServerSentEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from shipdeck.api.errors import NotFound, ProtocolError
from shipdeck.api.mixpeek import (
    mixpeek_deployments,
    mixpeek_run,
    mixpeek_version,
    parse_mixpeek_log_frame,
    split_deployment_id,
    version_number,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
app_like = st.fixed_dictionaries(
    {"app_id": st.one_of(st.text(max_size=12), st.none(), st.integers())},
    optional={
        "slug": json_values,
        "name": json_values,
        "environments": st.one_of(
            json_values,
            st.fixed_dictionaries(
                {},
                optional={
                    "production": st.dictionaries(
                        st.sampled_from(["version", "url", "latest_deploy", "updated_at"]), json_values
                    ),
                    "staging": json_values,
                },
            ),
        ),
        "created_at": json_values,
    },
)


def _lenient(call: Any) -> None:
    try:
        call()
    except ProtocolError as exc:
        assert str(exc)


@settings(max_examples=300, deadline=None)
@given(raw=st.one_of(json_values, app_like))
def test_apps_map_or_refuse_clearly(raw: Any) -> None:
    _lenient(lambda: mixpeek_deployments(raw))


@settings(max_examples=300, deadline=None)
@given(raw=json_values, number=st.one_of(st.integers(), st.text(max_size=4), st.none()))
def test_versions_and_deploys_map_or_refuse_clearly(raw: Any, number: Any) -> None:
    if isinstance(raw, dict):
        raw = {**raw, "version": number, "deploy_id": raw.get("deploy_id", "dep_1")}
    _lenient(lambda: mixpeek_version(raw, "app_1", "app_1@production"))
    _lenient(lambda: mixpeek_run(raw, "app_1"))


@settings(max_examples=300, deadline=None)
@given(
    data=st.one_of(st.text(max_size=40), json_values.map(json.dumps)),
    event=st.sampled_from(["", "done", "x"]),
)
def test_log_frames_parse_or_refuse_clearly(data: str, event: str) -> None:
    _lenient(lambda: parse_mixpeek_log_frame(ServerSentEvent(event=event or "message", data=data)))


def test_documented_shapes_map() -> None:
    app = {
        "app_id": "app_1",
        "slug": "shop",
        "name": "Shop",
        "environments": {
            "production": {"version": 3, "latest_deploy": {"deploy_id": "d9", "status": "building"}},
            "staging": {"version": None},
        },
    }
    production, staging = mixpeek_deployments(app)
    assert (production.id, production.state, production.active_version_id) == (
        "app_1@production",
        "building",
        "app_1:v3",
    )
    assert production.url == "https://shop.mxp.co" and production.current_build_id == "d9"
    assert (staging.state, staging.url) == ("stopped", "https://staging-shop.mxp.co")
    run = mixpeek_run(
        {"deploy_id": "d9", "status": "failed", "environment": "staging", "error": "boom"}, "app_1"
    )
    assert run.deployment_id == "app_1@staging" and [s.state for s in run.stages] == [
        "complete",
        "failed",
        "pending",
    ]
    line = parse_mixpeek_log_frame(
        ServerSentEvent(data='{"ts": 1711741200.5, "line": "Deploy failed: boom"}')
    )
    assert line is not None and line.stream == "stderr" and line.ts is not None
    done = parse_mixpeek_log_frame(ServerSentEvent(event="done", data="{}"))
    assert done is not None and done.done_state == "done"


def test_ids_are_read_strictly() -> None:
    assert split_deployment_id("app_1") == ("app_1", "production")
    assert split_deployment_id("app_1@staging") == ("app_1", "staging")
    assert version_number("app_1:v12") == version_number("v12") == version_number("12") == 12
    for bad in ("app_1@preview", "@staging"):
        try:
            split_deployment_id(bad)
        except NotFound as exc:
            assert "expected <app>@production" in str(exc)
        else:
            raise AssertionError(f"{bad!r} was accepted")
    try:
        version_number("latest")
    except NotFound as exc:
        assert "v<number>" in str(exc)
    else:
        raise AssertionError("'latest' was accepted as a version")

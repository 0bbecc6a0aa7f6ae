"""The Mixpeek mappers read whatever a server sends: the documented shapes map, and anything else is a
ProtocolError with a message, never a traceback of another kind."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from httpx_sse import ServerSentEvent
from hypothesis import given, settings
from hypothesis import strategies as st
from mixpeek import (
    AppListItem,
    AppLogsResponse,
    AppResponse,
    CustomDomainConfig,
    DeployStatusResponse,
    DomainResponse,
    ListAppsResponse,
    ListDomainsResponse,
    PageMeta,
    SmokeTestResult,
    ThemeConfig,
    VersionDetailResponse,
    VersionListResponse,
    VersionRecord,
)

from shipdeck.api.errors import NotFound, ProtocolError
from shipdeck.api.mixpeek import (
    mixpeek_deployments,
    mixpeek_domain,
    mixpeek_run,
    mixpeek_runtime_line,
    mixpeek_version,
    parse_mixpeek_log_frame,
    split_deployment_id,
    version_number,
    version_run,
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
        "meta": json_values,
        "is_active": json_values,
        "environments": st.one_of(
            json_values,
            st.fixed_dictionaries(
                {},
                optional={
                    "production": st.dictionaries(
                        st.sampled_from(["version", "url", "deploy_id", "asset_prefix", "updated_at"]),
                        json_values,
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


def wire(model: Any) -> Any:
    """What a server built from the SDK's model sends: its ``to_dict()``, as JSON."""
    return json.loads(json.dumps(model.to_dict(), default=lambda value: value.isoformat()))


WHEN = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
ENVIRONMENTS = {
    "production": {"version": 3, "deploy_id": "dep_p3", "asset_prefix": "apps/app_1/v3/"},
    "staging": {"version": None, "deploy_id": None, "asset_prefix": None},
}


def sdk_app() -> AppResponse:
    return AppResponse(
        app_id="app_1",
        slug="shop",
        url="https://shop.mxp.co",
        meta=PageMeta(title="Shop"),
        is_active=True,
        version=3,
        custom_domains=[CustomDomainConfig(domain="shop.acme.com", status="verifying")],
        auth_config=None,
        build_config=None,
        environments=ENVIRONMENTS,
        created_at=WHEN,
        updated_at=WHEN,
        template="ecommerce",
        sections=[],
        custom_html=None,
        hero=None,
        theme=ThemeConfig(),
        seo=None,
        stats=[],
        featured_gallery=None,
        tabs=[],
        password_protected=False,
    )


def test_apps_built_from_the_sdks_models_map() -> None:
    for raw in (
        wire(sdk_app()),
        wire(
            ListAppsResponse(
                results=[
                    AppListItem(
                        app_id="app_1",
                        slug="shop",
                        url="https://shop.mxp.co",
                        meta=PageMeta(title="Shop"),
                        is_active=True,
                        version=3,
                        template="ecommerce",
                        custom_domains=[],
                        environments=ENVIRONMENTS,
                    )
                ],
                total_count=1,
                limit=100,
                offset=0,
            )
        )["results"][0],
    ):
        production, staging = mixpeek_deployments(raw)
        assert (production.id, production.name, production.state) == ("app_1@production", "Shop", "running")
        assert production.active_version_id == "app_1:v3" and production.current_build_id == "dep_p3"
        assert production.url == "https://shop.mxp.co"
        assert (staging.state, staging.url, staging.active_version_id) == (
            "stopped",
            "https://staging-shop.mxp.co",
            None,
        )
    switched_off = wire(sdk_app()) | {"is_active": False}
    assert mixpeek_deployments(switched_off)[0].state == "stopped"


def test_versions_built_from_the_sdks_models_show_author_time_and_duration() -> None:
    record = VersionRecord(
        version=4,
        deployed_by="alice@example.com",
        deployed_at=WHEN,
        environment="staging",
        build_duration_ms=4200,
        message="feat: new search UI",
        source_files={"src/App.jsx": "x"},
    )
    listed = wire(VersionListResponse(versions=[record.to_dict()], total=1))
    version = mixpeek_version(listed["versions"][0], "app_1", "app_1@staging")
    assert (version.id, version.number, version.state) == ("app_1:v4", 4, "ready")
    assert version.author == "alice@example.com" and version.created_at == WHEN
    assert version.message == "feat: new search UI" and version.environment == "staging"
    run = version_run(version, "app_1@staging")
    assert run.status == "complete" and run.completed_at == WHEN and run.version_id == "app_1:v4"
    assert run.created_at is not None and (WHEN - run.created_at).total_seconds() == 4.2
    detail = wire(
        VersionDetailResponse(
            version=4,
            deployed_by="git:bob",
            deployed_at=WHEN.isoformat(),
            is_active={"production": False, "staging": True},
        )
    )
    read = mixpeek_version(detail, "app_1", "app_1@staging")
    assert read.author == "git:bob" and read.created_at == WHEN


def test_deploys_domains_and_runtime_logs_built_from_the_sdks_models_map() -> None:
    status = wire(
        DeployStatusResponse(
            deploy_id="dep_9",
            status="complete",
            environment="staging",
            message="feat: x",
            queued_at=WHEN.isoformat(),
            queued_by="api-key:admin",
            smoke_test=SmokeTestResult(
                passed=True, url="https://staging-shop.mxp.co", tested_at=WHEN.isoformat()
            ),
        )
    )
    run = mixpeek_run(status, "app_1", version_number=5)
    assert (run.id, run.deployment_id, run.status, run.version_id) == (
        "dep_9",
        "app_1@staging",
        "complete",
        "app_1:v5",
    )
    assert run.url == "https://staging-shop.mxp.co" and run.created_at == WHEN and run.completed_at == WHEN
    failed = mixpeek_run(
        wire(DeployStatusResponse(deploy_id="dep_8", status="failed", error="boom")), "app_1"
    )
    assert failed.error == "boom" and failed.deployment_id == "app_1@production"
    listed = wire(
        ListDomainsResponse(
            domains=[
                DomainResponse(
                    domain="search.acme.com",
                    status="pending",
                    verification_token="tok123",
                    cname_target="apps.mxp.co",
                    is_primary=True,
                )
            ],
            total=1,
        )
    )
    domain = mixpeek_domain(listed["domains"][0], "app_1@production")
    assert (domain.id, domain.name, domain.status) == ("search.acme.com", "search.acme.com", "pending")
    assert [(r.type, r.name, r.value) for r in domain.records] == [
        ("TXT", "_mixpeek-verify.search.acme.com", "mixpeek-site-verification=tok123"),
        ("CNAME", "search.acme.com", "apps.mxp.co"),
    ]
    logs = wire(
        AppLogsResponse(
            app_id="app_1",
            log_type="runtime",
            results=[{"timestamp": WHEN.isoformat(), "level": "error", "message": "TypeError: x"}],
        )
    )
    line = mixpeek_runtime_line(logs["results"][0])
    assert line is not None and line.line == "[error] TypeError: x" and line.ts == WHEN
    assert line.stream == "stderr"


def test_log_frames_map() -> None:
    line = parse_mixpeek_log_frame(
        ServerSentEvent(data='{"ts": 1711741200.5, "line": "Deploy failed: boom"}')
    )
    assert line is not None and line.stream == "stderr" and line.ts is not None
    done = parse_mixpeek_log_frame(ServerSentEvent(event="done", data="{}"))
    assert done is not None and done.done_state == "done"


@settings(max_examples=200, deadline=None)
@given(raw=json_values)
def test_domains_and_runtime_lines_map_or_refuse_clearly(raw: Any) -> None:
    _lenient(lambda: mixpeek_domain(raw, "app_1@production"))
    _lenient(lambda: mixpeek_runtime_line(raw))


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

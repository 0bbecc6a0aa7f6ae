"""Incident signals in the sandbox, driven by the official SDKs: Miosa observability, routes and request logs;
Mixpeek error-rate, analytics and request logs. Traffic follows the active version."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import mixpeek
import pytest
from miosa import Miosa
from miosa.errors import MiosaError

from shipdeck.sim import metrics
from tests.conftest import ADMIN, MIXPEEK_TOKEN
from tests.sim.helpers import wait_for
from tests.simproc import SimServer


def miosa_sdk(server: SimServer) -> Miosa:
    return Miosa(api_key=ADMIN, base_url=server.miosa, max_retries=0, timeout=10)


@pytest.fixture
def sdk(fresh_sim: SimServer) -> Iterator[Miosa]:
    """A sandbox of the test's own: its hour windows depend on how long the sandbox has run (sandbox time
    runs 50 times faster) and on every rollback made on it, which a shared sandbox cannot promise."""
    client = miosa_sdk(fresh_sim)
    yield client
    client.close()


def by_name(sdk: Miosa) -> dict[str, Any]:
    return {d.name: d for d in sdk.deployments.list(limit=200)}


def mixpeek_api(server: SimServer) -> mixpeek.AppsApi:
    config = mixpeek.Configuration(host=server.mixpeek.removesuffix("/v1/apps"), access_token=MIXPEEK_TOKEN)
    return mixpeek.AppsApi(mixpeek.ApiClient(config))


def mixpeek_apps(server: SimServer) -> dict[str, str]:
    answer = httpx.get(server.mixpeek, headers={"Authorization": f"Bearer {MIXPEEK_TOKEN}"}, timeout=10)
    return {app["slug"]: app["app_id"] for app in answer.json()["results"]}


def test_checkout_api_is_failing_its_users_and_the_version_before_was_not(sdk: Miosa) -> None:
    deployments = by_name(sdk)
    checkout = deployments["checkout-api"]
    observed = sdk.deployments.observability(checkout.id)
    assert 0.05 <= observed["error_rate"] <= 0.2
    assert observed["window_s"] == metrics.DEFAULT_WINDOW_S and observed["requests"] > 100
    assert observed["errors"] == round(observed["error_rate"] * observed["requests"])
    latency = observed["latency_ms"]
    assert latency["p50"] < latency["p95"] < latency["p99"]
    assert [v["version_number"] for v in observed["by_version"]] == [5]
    # The chart's hour: one point a minute, and v5 going live marked 14 minutes back.
    assert len(observed["series"]) == 60
    # The version in effect when the hour began (v4), then v5 going live inside it.
    assert [change["version_number"] for change in observed["version_changes"]] == [4, 5]
    healthy = sdk.deployments.observability(deployments["clinic-intake"].id)
    assert healthy["error_rate"] is not None and healthy["error_rate"] < 0.01
    assert healthy["latency_ms"]["p95"] * 3 < latency["p95"]
    stopped = sdk.deployments.observability(deployments["docs-hub"].id)
    assert stopped["requests"] == 0 and stopped["error_rate"] is None


def test_routes_and_request_logs_name_what_fails(sdk: Miosa) -> None:
    checkout = by_name(sdk)["checkout-api"]
    routes = sdk.deployments.routes(checkout.id, window=600)["routes"]
    assert {routes[0]["route"], routes[1]["route"]} == {"/api/checkout", "/api/payments/confirm"}
    assert routes[0]["errors"] >= routes[-1]["errors"]
    assert all(r["requests"] >= r["errors"] >= 0 for r in routes)
    failing = sdk.deployments.request_logs(checkout.id, status="5xx", limit=20)["items"]
    assert len(failing) == 20
    assert all(item["status"] >= 500 and item["error"] for item in failing)
    assert [item["timestamp"] for item in failing] == sorted((i["timestamp"] for i in failing), reverse=True)
    assert {"method", "path", "duration_ms", "version_number"} <= set(failing[0])
    everything = sdk.deployments.request_logs(checkout.id, limit=200)["items"]
    assert any(item["status"] < 400 for item in everything)
    # `since` (what the console's request log tail polls with): only requests at or after that time.
    middle = everything[len(everything) // 2]["timestamp"]
    newer = sdk.deployments.request_logs(checkout.id, since=middle, limit=200)["items"]
    assert newer and all(item["timestamp"] >= middle for item in newer)
    with pytest.raises(MiosaError):
        sdk.deployments.request_logs(checkout.id, since="yesterday")
    with pytest.raises(MiosaError):
        sdk.deployments.request_logs(checkout.id, status="teapot")
    with pytest.raises(MiosaError):
        sdk.deployments.observability(checkout.id, range="1y")


def test_after_a_rollback_the_error_rate_moves_to_the_healthy_version(fresh_sim: SimServer) -> None:
    with miosa_sdk(fresh_sim) as sdk:
        checkout = by_name(sdk)["checkout-api"]
        assert sdk.deployments.observability(checkout.id)["error_rate"] >= 0.05
        sdk.deployments.rollback(checkout.id)
        moving = sdk.deployments.observability(checkout.id)
        assert {v["version_number"] for v in moving["by_version"]} >= {4}

        def recovered() -> dict[str, Any] | None:
            observed = sdk.deployments.observability(checkout.id)
            return observed if observed["error_rate"] is not None and observed["error_rate"] < 0.01 else None

        observed = wait_for(recovered, timeout=30)
        assert [c["version_number"] for c in observed["version_changes"]][-1] == 4
        logs = sdk.deployments.request_logs(checkout.id, limit=5)["items"]
        assert {item["version_number"] for item in logs} == {4}


def test_mixpeek_signals_in_the_sdk_models(sim: SimServer) -> None:
    api = mixpeek_api(sim)
    app_id = mixpeek_apps(sim)["storefront"]
    rate = api.get_error_rate_apps(app_id, minutes=60)
    assert rate.app_id == app_id and rate.period_minutes == 60 and rate.error_count >= 0
    analytics = api.get_app_analytics(app_id, hours=2)
    assert analytics.period_hours == 2 and analytics.total_pageviews > 0
    assert sum(bucket.count for bucket in analytics.errors_over_time) == analytics.total_errors
    assert {vital.metric_name for vital in analytics.vitals} >= {"TTFB"}
    logs = api.get_app_logs(app_id, log_type="requests", limit=50)
    assert logs.log_type == "requests" and len(logs.results or []) == 50
    assert logs.results == logs.entries
    entry = (logs.results or [])[0]
    assert {"timestamp", "method", "path", "status", "duration_ms", "version"} <= set(entry)
    with pytest.raises(mixpeek.ApiException) as refused:
        api.get_app_logs(app_id, log_type="request")
    assert refused.value.status == 422


def test_mixpeek_traffic_follows_a_restore(fresh_sim: SimServer) -> None:
    api = mixpeek_api(fresh_sim)
    app_id = mixpeek_apps(fresh_sim)["storefront"]
    latest = api.get_app_logs(app_id, log_type="requests", limit=5).results or []
    serving = {entry["version"] for entry in latest}
    target = 2 if serving != {2} else 3
    api.restore_version_apps(app_id, target, mixpeek.RestoreVersionRequest(environment="production"))

    def moved() -> bool:
        entries = api.get_app_logs(app_id, log_type="requests", limit=20).results or []
        return {entry["version"] for entry in entries} == {target}

    assert wait_for(moved, timeout=30)


def test_profiles_are_decided_by_the_rng_seed_and_traffic_drains_to_the_new_version() -> None:
    assert metrics.healthy_profile(7, "miosa:dep_a:ver_1") == metrics.healthy_profile(7, "miosa:dep_a:ver_1")
    assert metrics.healthy_profile(7, "miosa:dep_a:ver_1") != metrics.healthy_profile(8, "miosa:dep_a:ver_1")
    bad = metrics.bad_profile(7, "k", (("GET", "/a"),))
    assert bad.bad and bad.failing_routes == ("/a",)
    fresh = [metrics.drawn_profile(3, f"k:{n}", fresh=True, routes=(("GET", "/"),)).bad for n in range(400)]
    assert 0 < sum(fresh) < 200  # now and then, not never and not mostly
    assert not any(metrics.drawn_profile(3, f"k:{n}", fresh=False, routes=()).bad for n in range(400))
    traffic = metrics.Traffic(
        key="miosa:dep_a",
        rng_seed=7,
        rpm=1000,
        routes=(("GET", "/"), ("GET", "/a")),
        switches=[(0.0, "old"), (10_000.0, "new")],
        profiles={"old": bad, "new": metrics.healthy_profile(7, "new")},
    )
    assert traffic.mix(9_999.0) == {"old": 1.0}
    assert traffic.mix(10_005.0)["old"] > 0.3
    assert traffic.window(10_000.0, 30)["error_rate"] >= 0.05
    assert traffic.window(10_060.0, 30)["error_rate"] < 0.01
    assert traffic.window(10_060.0, 30) == traffic.window(10_060.0, 30)


def test_a_rolled_back_versions_errors_stay_on_its_failing_route() -> None:
    """v5 failed /api/checkout for 40 minutes and was rolled back 20 minutes ago: the hour's top failing
    routes put its errors on every route alike (the version mix at the window's end has no bad version)."""
    routes = (("GET", "/"), ("POST", "/api/checkout"), ("GET", "/api/products"))
    bad = metrics.bad_profile(7, "v5", routes)
    bad = metrics.Profile(bad.error_rate, bad.p50_ms, bad.p95_ms, bad.p99_ms, ("/api/checkout",))
    end = 100_000.0
    traffic = metrics.Traffic(
        key="miosa:dep_checkout",
        rng_seed=7,
        rpm=1000,
        routes=routes,
        switches=[(end - 7200, "v4"), (end - 3600, "v5"), (end - 1200, "v4")],
        profiles={"v4": metrics.healthy_profile(7, "v4"), "v5": bad},
    )
    stats = {row["route"]: row for row in traffic.route_stats(end, 3600)}
    checkout = stats["/api/checkout"]["error_rate"]
    others = [stats[path]["error_rate"] for path in ("/", "/api/products")]
    assert checkout is not None and all(rate is not None and checkout > 3 * rate for rate in others), stats

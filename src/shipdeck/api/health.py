"""Reading service health from the providers that publish it (Miosa, Mixpeek) into the neutral model.

* Miosa: ``GET /deployments/{id}/observability`` (figures, a series for the chart, version changes),
  ``/routes`` (per-route breakdown) and ``/request-logs?status=5xx`` (latest failing requests). The official
  SDK types none of these (it returns dicts), so the readers are lenient: flat ``p95_ms`` or nested
  ``latency_ms.p95``, ``items`` or a bare list.
* Mixpeek: ``/logs?log_type=requests`` carries status and latency per request, so the current figures are
  computed from the newest window of it; ``/analytics?hours=N`` gives the error trend (counts per bucket)
  and the recent errors. Only production serves users: a staging row has no health.

Each function takes the adapter's transport; the adapters expose them as ``get_health`` and
``get_health_detail``. The same request logs, tailed (polled: neither vendor pushes them), are the logs
screen's "requests" source (``request_logs``): one line per request, time, status, method and route,
latency; a 4xx or 5xx answer is an error line.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

from shipdeck.api.parsing import (
    JsonObject,
    build_model,
    expect_object,
    optional_count,
    optional_figure,
    optional_float,
    optional_int,
)
from shipdeck.model import LogLine, parse_timestamp
from shipdeck.model.service_health import (
    HealthDetail,
    HealthPoint,
    RequestRecord,
    RouteHealth,
    ServiceHealth,
    VersionChange,
)

MIXPEEK_WINDOW_S = 30.0
MIXPEEK_LOG_LIMIT = 1000
FAILING_SHOWN = 10
ROUTES_SHOWN = 8
# Miosa's routes are read over the last hour (the chart's span), said beside them.
ROUTES_WINDOW_S = 3600
ROUTES_OVER_MIOSA = "last hour"
# The request log tail: how many of the newest requests one poll reads (Miosa's cap is 200), and how often.
REQUEST_LOG_LIMIT = 200
REQUEST_LOG_POLL_SECONDS = 3.0
# The most a figure a server sends can sanely be; past it (or negative, or NaN) the figure is missing.
LATENCY_MS_MOST = 86_400_000.0  # a day
RPM_MOST = 1e9
WINDOW_S_MOST = 31 * 86_400.0  # a month
COUNT_MOST = 10**12


class _Getter(Protocol):
    async def get(self, path: str, *, params: Mapping[str, Any] | None = None) -> Any: ...


def _seg(value: str) -> str:
    return quote(str(value), safe="")


def _time(value: Any) -> datetime | None:
    return parse_timestamp(value) if isinstance(value, str) else None


def _data(body: Any, what: str) -> JsonObject:
    obj = expect_object(body, what=what)
    inner = obj.get("data")
    return inner if isinstance(inner, dict) else obj


def _items(obj: Any, *keys: str) -> list[JsonObject]:
    if isinstance(obj, list):
        return [item for item in obj if isinstance(item, dict)]
    if isinstance(obj, dict):
        for key in keys:
            if isinstance(obj.get(key), list):
                return [item for item in obj[key] if isinstance(item, dict)]
    return []


def _rate(value: Any) -> float | None:
    rate = optional_float(value)  # finite or None
    return None if rate is None else min(1.0, max(0.0, rate))


def _ms(value: Any) -> float | None:
    return optional_figure(value, most=LATENCY_MS_MOST)


def _count(value: Any) -> int | None:
    return optional_count(value, most=COUNT_MOST)


def _latency(obj: JsonObject, name: str) -> float | None:
    nested = obj.get("latency_ms")
    if isinstance(nested, dict) and name in nested:
        return _ms(nested.get(name))
    return _ms(obj.get(f"{name}_ms"))


# -- Miosa ----------------------------------------------------------------------------------------------
def miosa_health(raw: JsonObject, deployment_id: str) -> ServiceHealth:
    series = [
        HealthPoint(
            at=at,
            error_rate=_rate(point.get("error_rate")),
            p95_ms=_latency(point, "p95"),
            requests=_count(point.get("requests")),
        )
        for point in _items(raw, "series")
        if (at := _time(point.get("t") or point.get("at") or point.get("timestamp"))) is not None
    ]
    changes = [
        VersionChange(
            at=at,
            version_id=change.get("version_id"),
            version_number=optional_int(change.get("version_number")),
        )
        for change in _items(raw, "version_changes")
        if (at := _time(change.get("at"))) is not None
    ]
    return build_model(
        ServiceHealth,
        {
            "deployment_id": deployment_id,
            "provider": "miosa",
            "error_rate": _rate(raw.get("error_rate")),
            "p50_ms": _latency(raw, "p50"),
            "p95_ms": _latency(raw, "p95"),
            "p99_ms": _latency(raw, "p99"),
            "rpm": optional_figure(raw.get("rpm"), most=RPM_MOST),
            "requests": _count(raw.get("requests")),
            "errors": _count(raw.get("errors")),
            "window_s": optional_figure(raw.get("window_s"), most=WINDOW_S_MOST),
            "as_of": _time(raw.get("as_of")),
            "version_id": raw.get("active_version_id"),
            "series": series,
            "version_changes": changes,
        },
        what="Miosa observability",
    )


def miosa_route(raw: JsonObject) -> RouteHealth:
    return build_model(
        RouteHealth,
        {
            "method": raw.get("method"),
            "route": str(raw.get("route") or raw.get("path") or "?"),
            "requests": _count(raw.get("requests")) or 0,
            "errors": _count(raw.get("errors")) or 0,
            "error_rate": _rate(raw.get("error_rate")),
            "p50_ms": _ms(raw.get("p50_ms")),
            "p95_ms": _ms(raw.get("p95_ms")),
        },
        what="Miosa route",
    )


def request_record(raw: JsonObject) -> RequestRecord:
    return build_model(
        RequestRecord,
        {
            "at": _time(raw.get("timestamp") or raw.get("at")),
            "method": raw.get("method"),
            "path": raw.get("path") or raw.get("route") or raw.get("url"),
            "status": optional_int(raw.get("status")),
            "duration_ms": _ms(raw.get("duration_ms") or raw.get("latency_ms")),
            "version_number": optional_int(raw.get("version_number") or raw.get("version")),
            "error": raw.get("error") or raw.get("error_message"),
        },
        what="request log entry",
    )


def request_log_line(record: RequestRecord) -> LogLine:
    """``404 GET /api/items 35 ms · error`` at the request's time; 4xx and 5xx answers are error lines."""
    status = "---" if record.status is None else str(record.status)
    route = " ".join(part for part in (record.method, record.path) if part) or "?"
    latency = "" if record.duration_ms is None else f" {record.duration_ms:.0f} ms"
    error = f" · {record.error}" if record.error else ""
    failed = record.status is not None and record.status >= 400
    return LogLine(
        line=f"{status} {route}{latency}{error}",
        ts=record.at,
        stream="stderr" if failed else "stdout",
        level="error" if failed else "info",
    )


RequestFetch = Callable[[datetime | None], Awaitable[list[RequestRecord]]]


async def tail_request_log(
    fetch: RequestFetch, *, poll_seconds: float = REQUEST_LOG_POLL_SECONDS
) -> AsyncIterator[LogLine]:
    """Each request once, oldest first: ``fetch(newest)`` reads the newest requests (since ``newest`` when
    the server can filter), and a request already shown (same time, route, status, latency) is skipped."""
    newest: datetime | None = None
    seen: set[tuple[object, ...]] = set()
    while True:
        records = await fetch(newest)
        stamped = sorted((r for r in records if r.at is not None), key=lambda r: r.at or datetime.min)
        for record in stamped:
            at = record.at
            assert at is not None
            key = (at, record.method, record.path, record.status, record.duration_ms)
            if (newest is not None and at < newest) or key in seen:
                continue
            if newest is None or at > newest:
                # Only what can still repeat is remembered: the requests at the newest time.
                newest, seen = at, set()
            seen.add(key)
            yield request_log_line(record)
        await asyncio.sleep(poll_seconds)


def miosa_request_log(transport: _Getter, deployment_id: str) -> AsyncIterator[LogLine]:
    """``GET /deployments/{id}/request-logs?limit=&since=`` (the SDK's ``request_logs(**filters)``)."""

    async def fetch(since: datetime | None) -> list[RequestRecord]:
        params: dict[str, Any] = {"limit": REQUEST_LOG_LIMIT}
        if since is not None:
            params["since"] = since.isoformat()
        body = await transport.get(f"/deployments/{_seg(deployment_id)}/request-logs", params=params)
        return [request_record(r) for r in _items(_data(body, "Miosa request logs"), "items", "logs")]

    return tail_request_log(fetch)


def mixpeek_request_log(transport: _Getter, app_id: str) -> AsyncIterator[LogLine]:
    """``GET /v1/apps/{id}/logs?log_type=requests`` (the SDK's ``get_app_logs``): the last hour, polled."""

    async def fetch(_since: datetime | None) -> list[RequestRecord]:
        return await _mixpeek_logs(transport, app_id)

    return tail_request_log(fetch)


async def miosa_get_health(transport: _Getter, deployment_id: str, *, span: str = "1h") -> ServiceHealth:
    body = await transport.get(f"/deployments/{_seg(deployment_id)}/observability", params={"range": span})
    return miosa_health(_data(body, "Miosa observability"), deployment_id)


async def miosa_get_detail(transport: _Getter, deployment_id: str, *, span: str = "1h") -> HealthDetail:
    health = await miosa_get_health(transport, deployment_id, span=span)
    routes_body = await transport.get(
        f"/deployments/{_seg(deployment_id)}/routes",
        params={"window": ROUTES_WINDOW_S, "limit": ROUTES_SHOWN},
    )
    logs_body = await transport.get(
        f"/deployments/{_seg(deployment_id)}/request-logs", params={"status": "5xx", "limit": FAILING_SHOWN}
    )
    routes = [miosa_route(r) for r in _items(_data(routes_body, "Miosa routes"), "routes", "items")]
    failing = [request_record(r) for r in _items(_data(logs_body, "Miosa request logs"), "items", "logs")]
    return HealthDetail(health=health, routes=routes, failing=failing, routes_over=ROUTES_OVER_MIOSA)


# -- Mixpeek --------------------------------------------------------------------------------------------
def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(fraction * (len(ordered) - 1)))))
    return round(ordered[index], 1)


def mixpeek_health_from_logs(
    entries: list[RequestRecord], deployment_id: str, *, window_s: float = MIXPEEK_WINDOW_S
) -> ServiceHealth:
    """Figures over the newest ``window_s`` of the request log (anchored on its newest entry)."""
    stamped = sorted((e for e in entries if e.at is not None), key=lambda e: e.at or datetime.min)
    if not stamped or stamped[-1].at is None:
        return ServiceHealth(deployment_id=deployment_id, provider="mixpeek", window_s=window_s)
    as_of = stamped[-1].at
    start = as_of - timedelta(seconds=window_s)
    recent = [e for e in stamped if e.at is not None and e.at > start]
    durations = [e.duration_ms for e in recent if e.duration_ms is not None]
    failed = sum(1 for e in recent if e.failed)
    newest_version = stamped[-1].version_number
    return ServiceHealth(
        deployment_id=deployment_id,
        provider="mixpeek",
        error_rate=round(failed / len(recent), 5) if recent else None,
        p50_ms=_percentile(durations, 0.50),
        p95_ms=_percentile(durations, 0.95),
        p99_ms=_percentile(durations, 0.99),
        rpm=round(len(recent) * 60.0 / window_s, 1),
        requests=len(recent),
        errors=failed,
        window_s=window_s,
        as_of=as_of,
        version_id=None if newest_version is None else f"v{newest_version}",
    )


def mixpeek_routes(entries: list[RequestRecord]) -> list[RouteHealth]:
    grouped: dict[tuple[str | None, str], list[RequestRecord]] = {}
    for entry in entries:
        grouped.setdefault((entry.method, entry.path or "?"), []).append(entry)
    out = []
    for (method, path), rows in grouped.items():
        durations = [r.duration_ms for r in rows if r.duration_ms is not None]
        errors = sum(1 for r in rows if r.failed)
        out.append(
            RouteHealth(
                method=method,
                route=path,
                requests=len(rows),
                errors=errors,
                error_rate=round(errors / len(rows), 5),
                p50_ms=_percentile(durations, 0.5),
                p95_ms=_percentile(durations, 0.95),
            )
        )
    out.sort(key=lambda r: (-r.errors, -r.requests))
    return out[:ROUTES_SHOWN]


async def _mixpeek_log_entries(transport: _Getter, app_id: str) -> list[JsonObject]:
    body = await transport.get(
        f"/{_seg(app_id)}/logs", params={"log_type": "requests", "hours": 1, "limit": MIXPEEK_LOG_LIMIT}
    )
    return _items(expect_object(body, what="Mixpeek request logs"), "results", "entries")


async def _mixpeek_logs(transport: _Getter, app_id: str) -> list[RequestRecord]:
    return [request_record(raw) for raw in await _mixpeek_log_entries(transport, app_id)]


def _raw_time(raw: JsonObject) -> datetime | None:
    return _time(raw.get("timestamp") or raw.get("at"))  # as request_record reads it


def mixpeek_health_from_raw(
    raws: list[JsonObject], deployment_id: str, *, window_s: float = MIXPEEK_WINDOW_S
) -> ServiceHealth:
    """:func:`mixpeek_health_from_logs` of the log's raw entries, building only the newest window's: the
    log holds an hour (up to MIXPEEK_LOG_LIMIT entries), the figures count 30 s of it, and building every
    entry was the idle console's largest cost of its own."""
    stamped = [(at, raw) for raw in raws if (at := _raw_time(raw)) is not None]
    if not stamped:
        return mixpeek_health_from_logs([], deployment_id, window_s=window_s)
    start = max(at for at, _ in stamped) - timedelta(seconds=window_s)
    recent = [request_record(raw) for at, raw in stamped if at > start]
    return mixpeek_health_from_logs(recent, deployment_id, window_s=window_s)


async def mixpeek_get_health(transport: _Getter, app_id: str, deployment_id: str) -> ServiceHealth:
    return mixpeek_health_from_raw(await _mixpeek_log_entries(transport, app_id), deployment_id)


async def mixpeek_get_detail(
    transport: _Getter, app_id: str, deployment_id: str, *, span: str = "1h"
) -> HealthDetail:
    entries = await _mixpeek_logs(transport, app_id)
    health = mixpeek_health_from_logs(entries, deployment_id)
    hours = 24 if span == "24h" else 1
    body = expect_object(
        await transport.get(f"/{_seg(app_id)}/analytics", params={"hours": hours}), what="Mixpeek analytics"
    )
    buckets = _items(body, "errors_over_time")
    pageviews = _count(body.get("total_pageviews")) or 0
    per_bucket = pageviews / len(buckets) if buckets else 0.0
    # Mixpeek counts errors per bucket; the rate assumes the window's traffic spread evenly over its buckets.
    health.series = [
        HealthPoint(
            at=at,
            error_rate=_rate((_count(b.get("count")) or 0) / per_bucket) if per_bucket else None,
            requests=int(per_bucket),
        )
        for b in buckets
        if (at := _time(b.get("timestamp"))) is not None
    ]
    failing = [e for e in entries if e.failed][:FAILING_SHOWN]
    if not failing:
        failing = [
            RequestRecord(at=_time(raw.get("timestamp")), path=raw.get("url"), error=raw.get("error_message"))
            for raw in _items(body, "recent_errors")[:FAILING_SHOWN]
        ]
    over = f"last {len(entries)} requests" if entries else None
    return HealthDetail(health=health, routes=mixpeek_routes(entries), failing=failing, routes_over=over)


__all__ = [
    "miosa_get_detail",
    "miosa_get_health",
    "miosa_health",
    "mixpeek_get_detail",
    "mixpeek_get_health",
    "mixpeek_health_from_logs",
    "mixpeek_health_from_raw",
]

"""Mixpeek's app signals: ``GET /v1/apps/{app_id}/error-rate``, ``/analytics?hours=N`` and
``/logs?log_type=requests``, in the shapes of the official SDK's models (``ErrorRateResponse``,
``AppAnalyticsResponse`` with ``ErrorBucket``, ``VitalsSummary``, ``RecentError``, and ``AppLogsResponse``).

Traffic follows the version production serves; its story is the app's completed production deploys
(deploys and restores), so nothing extra is stored.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from shipdeck.sim import metrics
from shipdeck.sim.core import SimClock, SimContext
from shipdeck.sim.mixpeek_store import MixpeekStore, invalid

Handler = Callable[[Request], Awaitable[Response]]


def _now(ctx: SimContext) -> float:
    """Now, to the whole second: answers within one simulated second agree (and snapshots hold)."""
    return float(math.floor(ctx.clock.now().timestamp()))


def _int(request: Request, name: str, *, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"{name} must be a whole number, got {raw[:40]!r}", field=name) from None
    if not low <= value <= high:
        raise invalid(f"{name} must be between {low} and {high}, got {value}", field=name)
    return value


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).timestamp()


def traffic_of(ctx: SimContext, store: MixpeekStore, app_id: str) -> metrics.Traffic:
    store.app_row(app_id)  # 404 for an unknown app
    epoch = ctx.clock.iso(ctx.clock.epoch)
    rows = ctx.db.query("SELECT version, created_at FROM mixpeek_versions WHERE app_id = ?", (app_id,))
    versions = {str(row["version"]): (str(row["created_at"]) > epoch, f"v{row['version']}") for row in rows}
    history: list[tuple[float, str]] = []
    for row in ctx.db.query(
        "SELECT version, completed_at, queued_at FROM mixpeek_deploys WHERE app_id = ? "
        "AND environment = 'production' AND status = 'complete' AND version IS NOT NULL ORDER BY seq",
        (app_id,),
    ):
        at = _stamp(str(row["completed_at"] or row["queued_at"]))
        if not history or history[-1][1] != str(row["version"]):
            history.append((max(at, history[-1][0]) if history else at, str(row["version"])))
    return metrics.deployment_traffic(
        ctx.db,
        ctx.options.rng_seed,
        f"mixpeek:{app_id}",
        switches_=history,
        versions=versions,
        serving=bool(history),
    )


def _at(seconds: float) -> str:
    return SimClock.iso(datetime.fromtimestamp(seconds, UTC))


def error_rate(ctx: SimContext, store: MixpeekStore) -> Handler:
    async def handler(request: Request) -> Response:
        app_id = request.path_params["app_id"]
        minutes = _int(request, "minutes", default=60, low=1, high=1440)
        traffic = traffic_of(ctx, store, app_id)
        figures = traffic.window(_now(ctx), minutes * 60.0)
        return JSONResponse(
            {
                "app_id": app_id,
                "error_count": figures["errors"],
                "period_minutes": minutes,
                "rate_per_minute": round(figures["errors"] / minutes, 3),
            }
        )

    return handler


def analytics(ctx: SimContext, store: MixpeekStore) -> Handler:
    async def handler(request: Request) -> Response:
        app_id = request.path_params["app_id"]
        hours = _int(request, "hours", default=24, low=1, high=720)
        traffic = traffic_of(ctx, store, app_id)
        now = _now(ctx)
        span = hours * 3600.0
        buckets = traffic.series(now, span, min(hours * 12, 96) if hours <= 24 else min(hours, 120))
        total_requests = sum(b["requests"] for b in buckets)
        total_errors = sum(b["errors"] for b in buckets)
        latest = traffic.window(now, float(metrics.DEFAULT_WINDOW_S))
        ttfb = [(b["p50_ms"], b["p95_ms"], b["requests"]) for b in buckets if b["requests"]]
        vitals = []
        if ttfb:
            weight = sum(n for _, _, n in ttfb)
            p50 = sum(a * n for a, _, n in ttfb) / weight
            p95 = sum(b * n for _, b, n in ttfb) / weight
            vitals.append(
                {
                    "metric_name": "TTFB",
                    "p50": round(p50, 1),
                    "p75": round(p50 + (p95 - p50) * 0.35, 1),
                    "p95": round(p95, 1),
                    "sample_count": total_requests,
                }
            )
            vitals.append(
                {
                    "metric_name": "LCP",
                    "p50": round(p50 + 900, 1),
                    "p75": round(p50 + 1300, 1),
                    "p95": round(p95 + 2100, 1),
                    "sample_count": total_requests // 4,
                }
            )
        recent = traffic.requests(now, limit=20, only_errors=True, since=now - span)
        return JSONResponse(
            {
                "app_id": app_id,
                "period_hours": hours,
                "total_errors": total_errors,
                "error_rate_per_minute": round(total_errors / (hours * 60.0), 3),
                "errors_over_time": [{"timestamp": _at(b["t"]), "count": b["errors"]} for b in buckets],
                "vitals": vitals,
                "recent_errors": [
                    {
                        "timestamp": _at(entry["at"]),
                        "error_type": f"HTTP {entry['status']}",
                        "error_message": entry["error"] or "",
                        "url": entry["route"],
                    }
                    for entry in recent
                ],
                "total_events": total_requests + total_errors,
                "total_pageviews": total_requests,
                # Beyond the SDK's model (which ignores extra keys): the current error rate, as a ratio.
                "current": {"window_s": metrics.DEFAULT_WINDOW_S, **latest},
            }
        )

    return handler


def request_logs(
    ctx: SimContext, store: MixpeekStore, app_id: str, *, hours: int, limit: int
) -> list[dict[str, Any]]:
    """``/logs?log_type=requests``: the latest requests (status, route, latency, time), newest first."""
    traffic = traffic_of(ctx, store, app_id)
    now = _now(ctx)
    return [
        {
            "timestamp": _at(entry["at"]),
            "request_id": entry["id"],
            "method": entry["method"],
            "path": entry["route"],
            "status": entry["status"],
            "duration_ms": entry["latency_ms"],
            "version": int(entry["version"]),
        }
        for entry in traffic.requests(now, limit=limit, since=now - hours * 3600.0)
    ]


def routes(ctx: SimContext, store: MixpeekStore) -> list[tuple[str, Handler, str]]:
    return [
        ("/{app_id}/error-rate", error_rate(ctx, store), "GET"),
        ("/{app_id}/analytics", analytics(ctx, store), "GET"),
    ]

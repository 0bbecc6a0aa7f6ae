"""Miosa's invocation metrics: ``GET /deployments/{id}/observability``, ``/routes`` and ``/request-logs``.

The official SDK (``deployments.observability``, ``.routes``, ``.request_logs``) passes its keyword filters as
query parameters and unwraps ``{"data": ...}`` into a dict; these are the shapes the sandbox answers.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shipdeck.sim import metrics
from shipdeck.sim.core import BadBody, SimClock, SimContext
from shipdeck.sim.miosa_store import PROVIDER, MiosaStore

Handler = Callable[[Request], Awaitable[Response]]
RANGES = {"1h": (3600.0, 60), "24h": (86_400.0, 96)}
SERVING_STATES = frozenset({"running", "building"})


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _now(ctx: SimContext) -> float:
    """Now, to the whole second: answers within one simulated second agree (and snapshots hold)."""
    return float(math.floor(ctx.clock.now().timestamp()))


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadBody(f"{name} must be a whole number from {low} to {high}.", {"field": name})
    return int(text)


def traffic_of(ctx: SimContext, store: MiosaStore, deployment: dict[str, Any]) -> metrics.Traffic:
    versions = store.children("version", deployment["id"])
    epoch = ctx.clock.iso(ctx.clock.epoch)
    labels = {
        v["id"]: (str(v["created_at"]) > epoch, f"v{v['version_number']}")
        for v in versions
        if v["state"] in ("ready", "archived")
    }
    history = metrics.switches(ctx.db, PROVIDER, deployment["id"])
    active = deployment.get("active_version_id")
    if active and (not history or history[-1][1] != active):
        # Made active before the sandbox kept a traffic story (a seed without one): live since promoted.
        version = next((v for v in versions if v["id"] == active), None)
        stamp = (version or {}).get("promoted_at") or deployment["created_at"]
        # (when it was promoted, not the Unix epoch: clients show "live N min" from this switch)
        at = _parse_iso(str(stamp)).timestamp()
        history.append((max(at, history[-1][0]) if history else at, active))
    return metrics.deployment_traffic(
        ctx.db,
        ctx.options.rng_seed,
        f"{PROVIDER}:{deployment['id']}",
        switches_=history,
        versions=labels,
        serving=bool(active) and deployment["state"] in SERVING_STATES,
    )


def routes(ctx: SimContext, store: MiosaStore, route: Callable[[str, Handler, str], Route]) -> list[Route]:
    iso = SimClock.iso

    def at(seconds: float) -> str:
        return iso(datetime.fromtimestamp(seconds, UTC))

    def numbers(traffic: metrics.Traffic) -> dict[str, int]:
        return {version: int(label.lstrip("v")) for version, label in traffic.labels.items()}

    async def observability(request: Request) -> Response:
        deployment = store.get("deployment", request.path_params["deployment_id"])
        window = _int(request, "window", metrics.DEFAULT_WINDOW_S, 10, 3600)
        span = request.query_params.get("range", "1h")
        if span not in RANGES:
            raise BadBody("range must be 1h or 24h.", {"field": "range"})
        seconds, points = RANGES[span]
        traffic = traffic_of(ctx, store, deployment)
        now = _now(ctx)
        current = traffic.window(now, window)
        labels = numbers(traffic)
        payload = {
            "deployment_id": deployment["id"],
            "as_of": at(now),
            "window_s": window,
            "requests": current["requests"],
            "errors": current["errors"],
            "error_rate": current["error_rate"],
            "rpm": current["rpm"],
            "latency_ms": {key: current[f"{key}_ms"] for key in ("p50", "p95", "p99")},
            "active_version_id": deployment.get("active_version_id"),
            "by_version": [
                {"version_id": version, "version_number": labels.get(version), "share": round(share, 4)}
                for version, share in traffic.mix(now).items()
            ],
            "range": span,
            "series": [{**point, "t": at(point["t"])} for point in traffic.series(now, seconds, points)],
            "version_changes": [
                {"at": at(moment), "version_id": version, "version_number": labels.get(version)}
                for moment, version in traffic.versions_live(now - seconds, now)
            ],
        }
        return JSONResponse({"data": payload})

    async def route_breakdown(request: Request) -> Response:
        deployment = store.get("deployment", request.path_params["deployment_id"])
        window = _int(request, "window", 300, 10, 86_400)
        limit = _int(request, "limit", 20, 1, 200)
        traffic = traffic_of(ctx, store, deployment)
        now = _now(ctx)
        rows = traffic.route_stats(now, window)[:limit]
        return JSONResponse(
            {
                "data": {
                    "deployment_id": deployment["id"],
                    "as_of": at(now),
                    "window_s": window,
                    "routes": rows,
                }
            }
        )

    async def request_logs(request: Request) -> Response:
        deployment = store.get("deployment", request.path_params["deployment_id"])
        limit = _int(request, "limit", 50, 1, 200)
        status = request.query_params.get("status", "all")
        if status not in ("all", "5xx", "error"):
            raise BadBody("status must be all, 5xx or error.", {"field": "status"})
        since_text = request.query_params.get("since")
        try:
            since = _parse_iso(since_text).timestamp() if since_text else None
        except ValueError:
            raise BadBody("since must be an ISO 8601 time.", {"field": "since"}) from None
        traffic = traffic_of(ctx, store, deployment)
        now = _now(ctx)
        entries = traffic.requests(now, limit=limit, only_errors=status != "all", since=since)
        labels = numbers(traffic)
        items = [
            {
                "id": entry["id"],
                "timestamp": at(entry["at"]),
                "method": entry["method"],
                "path": entry["route"],
                "status": entry["status"],
                "duration_ms": entry["latency_ms"],
                "version_id": entry["version"],
                "version_number": labels.get(entry["version"]),
                "error": entry["error"],
            }
            for entry in entries
        ]
        return JSONResponse(
            {"data": {"deployment_id": deployment["id"], "items": items, "next_cursor": None}}
        )

    dep = "/deployments/{deployment_id}"
    return [
        route(dep + "/observability", observability, "GET"),
        route(dep + "/routes", route_breakdown, "GET"),
        route(dep + "/request-logs", request_logs, "GET"),
    ]

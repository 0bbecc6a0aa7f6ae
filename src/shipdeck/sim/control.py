"""Our own sandbox control endpoints under ``/_sim/`` (loopback only, no auth, never faulted)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from shipdeck.sim.core import PROVIDER_BASE_PATHS, BadBody, SimContext, json_body

MAX_BURST = 100_000


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=422)


def routes(ctx: SimContext, mounted: list[str]) -> list[BaseRoute]:
    async def health(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "status": "ok",
                "providers": mounted,
                "now": ctx.clock.now_iso(),
                "speed": ctx.clock.speed,
                "latest_seq": {name: ctx.events.latest_seq(name) for name in mounted},
            }
        )

    async def burst(request: Request) -> JSONResponse:
        try:
            body = await json_body(request, allow_empty=False)
        except BadBody as exc:
            return _bad(exc.message)
        provider = body.get("provider")
        count = body.get("count")
        type_ = body.get("type", "sim.burst")
        # Extra fields every event carries, e.g. {"deployment_id": ...} so a console shows them as its own.
        extra = body.get("data", {})
        if provider not in PROVIDER_BASE_PATHS or provider not in mounted:
            return _bad(f"provider must be one of {mounted}")
        if not isinstance(count, int) or isinstance(count, bool) or not 0 < count <= MAX_BURST:
            return _bad(f"count must be a whole number from 1 to {MAX_BURST}")
        if not isinstance(type_, str) or not type_:
            return _bad("type must be a non-empty string")
        if not isinstance(extra, dict):
            return _bad("data must be a JSON object")
        events = ctx.events.append_many(
            provider, [(type_, {**extra, "burst_index": i, "count": count}) for i in range(count)]
        )
        return JSONResponse(
            {"provider": provider, "count": count, "first_seq": events[0].seq, "last_seq": events[-1].seq}
        )

    async def requests(request: Request) -> JSONResponse:
        since_text = request.query_params.get("since", "0")
        if not since_text.isdigit():
            return _bad("since must be a whole number")
        since = int(since_text)
        rows = [row for row in ctx.request_log if row["seq"] > since]
        return JSONResponse({"requests": rows, "last_seq": rows[-1]["seq"] if rows else since})

    async def clock(request: Request) -> JSONResponse:
        try:
            body = await json_body(request)
        except BadBody as exc:
            return _bad(exc.message)
        advance = body.get("advance", 0)
        if not isinstance(advance, int | float) or isinstance(advance, bool) or advance < 0:
            return _bad("advance must be a non-negative number of seconds")
        ctx.clock.advance(float(advance))
        return JSONResponse({"now": ctx.clock.now_iso()})

    return [
        Route("/_sim/health", health, methods=["GET"]),
        Route("/_sim/burst", burst, methods=["POST"]),
        Route("/_sim/requests", requests, methods=["GET"]),
        Route("/_sim/clock", clock, methods=["POST"]),
    ]

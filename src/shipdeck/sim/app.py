"""Assemble the Starlette application from the provider modules."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse

from shipdeck.sim import control
from shipdeck.sim.core import PROVIDER_BASE_PATHS, SimContext, parse_seed, provider_error, provider_for_path
from shipdeck.sim.gateway import GatewayMiddleware
from shipdeck.sim.registry import SURFACES


def _optional(name: str) -> ModuleType | None:
    """Provider modules written later are mounted only once they exist (and import cleanly: a broken one is
    reported on stderr and left out, so the other providers still serve; its ready line is then missing)."""
    full_name = f"shipdeck.sim.{name}"
    if importlib.util.find_spec(full_name) is None:
        return None
    try:
        return importlib.import_module(full_name)
    except ImportError as exc:
        print(f"shipdeck sim: the {name} surface is not mounted: {exc}", file=sys.stderr)
        return None


PROVIDERS: list[ModuleType] = [module for row in SURFACES if (module := _optional(row.name)) is not None]


def mounted_providers() -> list[str]:
    return [str(module.PROVIDER) for module in PROVIDERS]


def prepare(ctx: SimContext) -> None:
    """Create every schema, and seed the database if (and only if) it was never seeded."""
    parse_seed(ctx.options.seed)
    for module in PROVIDERS:
        module.create_schema(ctx.db)
    for module in PROVIDERS:
        marker = f"seeded:{module.PROVIDER}"
        if ctx.db.meta_get(marker) is None:
            with ctx.db.transaction():
                module.seed(ctx, ctx.options.seed)
                ctx.db.meta_set(marker, ctx.options.seed)


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    provider = provider_for_path(request.url.path)
    if provider is None:
        return JSONResponse({"error": "not found"}, status_code=404)
    return provider_error(provider, 404, "NOT_FOUND", f"No route for {request.method} {request.url.path}.")


async def _method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    provider = provider_for_path(request.url.path) or "miosa"
    return provider_error(provider, 405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed here.")


def build_app(ctx: SimContext) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for module in PROVIDERS:
            module.resume(ctx)
        yield
        await ctx.shutdown()

    routes = control.routes(ctx, mounted_providers())
    for module in PROVIDERS:
        routes.extend(module.routes(ctx))
    assert all(name in PROVIDER_BASE_PATHS for name in mounted_providers())
    return Starlette(
        routes=routes,
        middleware=[Middleware(GatewayMiddleware, ctx=ctx)],
        exception_handlers={404: _not_found, 405: _method_not_allowed},
        lifespan=lifespan,
    )

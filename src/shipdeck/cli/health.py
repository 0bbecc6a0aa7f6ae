"""``shipdeck health DEP [--watch] [--json]``, and the health that ``status`` and ``ls --sort health`` show.

Health is read, never required: a provider without metrics (Miteos) or a row without traffic has ``null``
health in ``--json`` and ``-`` in text, and the command still succeeds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shipdeck.api.base import Adapter
from shipdeck.api.errors import NotFound, UnsupportedAction
from shipdeck.cli.output import json_text, print_json, print_table
from shipdeck.model import Capability, Deployment
from shipdeck.model.service_health import (
    LEVEL_FLAGS,
    HealthDetail,
    ServiceHealth,
    format_ms,
    format_rate,
    health_level,
    no_rate_words,
    trend_text,
    window_words,
)

if TYPE_CHECKING:
    from shipdeck.cli.commands import CommandContext

LS_HEALTH_CONCURRENCY = 8
LEVEL_WORDS = {**LEVEL_FLAGS, "ok": "ok", "unknown": "-"}


async def read_health(adapter: Adapter, deployment_id: str) -> ServiceHealth | None:
    """The deployment's health, or None where the provider has none."""
    if not adapter.capabilities.supports(Capability.HEALTH):
        return None
    try:
        return await adapter.get_health(deployment_id)
    except (UnsupportedAction, NotFound):
        return None


async def read_many(adapter: Adapter, deployments: Iterable[Deployment]) -> dict[str, ServiceHealth | None]:
    limit = asyncio.Semaphore(LS_HEALTH_CONCURRENCY)

    async def one(dep: Deployment) -> tuple[str, ServiceHealth | None]:
        async with limit:
            return dep.id, await read_health(adapter, dep.id)

    return dict(await asyncio.gather(*(one(dep) for dep in deployments)))


def health_cell(health: ServiceHealth | None) -> str:
    """``12.4% ⚠ high`` / ``0.3% ok`` / ``-``: the word says it, not a colour."""
    if health is None or health.error_rate is None:
        return "-"
    return f"{format_rate(health.error_rate)} {LEVEL_WORDS[health.level]}"


def sort_by_health(
    deployments: list[Deployment], healths: dict[str, ServiceHealth | None]
) -> list[Deployment]:
    """Highest error rate first; rows without a figure last, by name."""

    def key(dep: Deployment) -> tuple[int, float, str]:
        health = healths.get(dep.id)
        rate = health.error_rate if health is not None else None
        return (1 if rate is None else 0, -(rate or 0.0), dep.name.lower())

    return sorted(deployments, key=key)


def _summary(health: ServiceHealth | None) -> str:
    if health is None:
        return "no health figures"
    if health.error_rate is None:
        return no_rate_words(health)
    window = window_words(health, datetime.now(UTC))
    rpm = f", {health.rpm:.0f} rpm" if health.rpm is not None else ""
    level = LEVEL_WORDS[health.level]
    return (
        f"{format_rate(health.error_rate)} errors ({level}), p50 {format_ms(health.p50_ms)},"
        f" p95 {format_ms(health.p95_ms)}, p99 {format_ms(health.p99_ms)}{rpm} ({window})"
    )


def detail_json(dep: Deployment, detail: HealthDetail | None) -> dict[str, Any]:
    if detail is None:
        return {"deployment": {"id": dep.id, "name": dep.name}, "health": None}
    health = detail.health
    return {
        "deployment": {"id": dep.id, "name": dep.name},
        "health": health.as_json(),
        "level": health.level,
        "routes": detail.routes,
        "failing": detail.failing,
        "trend": [{"at": p.at, "error_rate": p.error_rate, "p95_ms": p.p95_ms} for p in health.series],
        "version_changes": health.version_changes,
    }


def print_detail(dep: Deployment, detail: HealthDetail | None, out: Any) -> None:
    print(f"{dep.name}: {_summary(detail.health if detail else None)}", file=out)
    if detail is None:
        return
    health = detail.health
    rates = [p.error_rate for p in health.series]
    if rates:
        width = min(60, len(rates))
        print(
            f"errors, last hour  {trend_text(rates, width)}  now {format_rate(health.error_rate)}", file=out
        )
        marks = [" "] * width
        start = len(rates) - width
        marked = []
        for change in health.version_changes:
            if change.at < health.series[start].at:
                continue  # in effect before the trend begins: nothing to mark
            index = next((i for i, p in enumerate(health.series) if p.at >= change.at), None)
            if index is not None and index >= start:
                marks[index - start] = "^"
                marked.append(change)
        if marked:
            labels = ", ".join(
                f"v{c.version_number} at {c.at.astimezone(UTC).strftime('%H:%M')}" for c in marked
            )
            print(f"{'':18} {''.join(marks)}  {labels} went live", file=out)
    if detail.routes:
        print(f"\nroutes{f' ({detail.routes_over})' if detail.routes_over else ''}", file=out)
        rows = [
            [
                f"{r.method or ''} {r.route}".strip(),
                str(r.requests),
                str(r.errors),
                format_rate(r.error_rate),
                format_ms(r.p95_ms),
            ]
            for r in detail.routes
        ]
        print_table(["ROUTE", "REQUESTS", "ERRORS", "RATE", "P95"], rows, out, empty="no routes")
    if detail.failing:
        print("\nlatest failing requests", file=out)
        for r in detail.failing:
            at = r.at.astimezone(UTC).strftime("%H:%M:%S") if r.at else "-"
            version = f" v{r.version_number}" if r.version_number is not None else ""
            print(
                f"  {at} {r.status or '-'} {r.method or ''} {r.path or '-'} {format_ms(r.duration_ms)}"
                f"{version}  {r.error or ''}".rstrip(),
                file=out,
            )


async def cmd_health(ctx: CommandContext) -> int:
    dep = await ctx.deployment()
    if not ctx.adapter.capabilities.supports(Capability.HEALTH):
        if ctx.json:
            print_json(detail_json(dep, None), ctx.out)
        else:
            print(f"{dep.name}: {ctx.adapter.capabilities.why_not(Capability.HEALTH)}", file=ctx.out)
        return 0
    if not ctx.args.watch:
        detail = await ctx.adapter.get_health_detail(dep.id, span=ctx.args.span)
        if ctx.json:
            print_json(detail_json(dep, detail), ctx.out)
        else:
            print_detail(dep, detail, ctx.out)
        return 0
    # Watch: one line (or one JSON object per line) per read, with the run of error rates so far.
    rates: list[float | None] = []
    while True:
        health = await read_health(ctx.adapter, dep.id)
        rates.append(health.error_rate if health else None)
        if ctx.json:
            line = {"deployment": dep.id, "health": health.as_json() if health else None}
            print(json_text(line, indent=None), file=ctx.out, flush=True)
        else:
            stamp = datetime.now().strftime("%H:%M:%S")
            print(
                f"{stamp}  {trend_text(rates, 12)}  {dep.name}: {_summary(health)}", file=ctx.out, flush=True
            )
        await asyncio.sleep(ctx.args.interval)


__all__ = ["cmd_health", "health_cell", "health_level", "read_health", "read_many", "sort_by_health"]

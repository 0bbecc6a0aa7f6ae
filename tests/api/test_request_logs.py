"""Request logs through the adapters, against a real `shipdeck sim`: Miosa's /request-logs and Mixpeek's
/logs?log_type=requests, tailed as log lines (time, status, method and route, latency; 4xx/5xx are errors)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from shipdeck.api.errors import UnsupportedAction
from shipdeck.api.health import tail_request_log
from shipdeck.model import Capability, LogLine
from shipdeck.model.service_health import RequestRecord
from tests.api.helpers import adapter_for
from tests.conftest import MIXPEEK_TOKEN
from tests.simproc import SimServer

REQUEST_LINE = re.compile(r"^\d{3} (GET|POST|PUT|PATCH|DELETE) /\S* \d+ ms")


async def first_lines(tail: AsyncIterator[LogLine], count: int) -> list[LogLine]:
    return [await anext(tail) for _ in range(count)]


async def test_miosa_request_log_is_tailed_oldest_first_with_failures_as_errors(sim: SimServer) -> None:
    adapter = adapter_for(sim, "miosa")
    async with adapter:
        assert adapter.capabilities.supports(Capability.REQUEST_LOGS)
        rows = (await adapter.list_deployments()).items
        checkout = next(row for row in rows if row.name == "checkout-api")
        lines = await first_lines(adapter.request_logs(checkout.id), 40)
    assert all(REQUEST_LINE.match(line.line) for line in lines), lines[:3]
    stamps = [line.ts for line in lines]
    assert None not in stamps and stamps == sorted(stamps, key=lambda ts: ts.timestamp() if ts else 0)
    for line in lines:
        failed = int(line.line[:3]) >= 400
        assert (line.level, line.stream) == (("error", "stderr") if failed else ("info", "stdout"))


async def test_mixpeek_request_log_is_the_production_rows(sim: SimServer) -> None:
    adapter = adapter_for(sim, "mixpeek", token=MIXPEEK_TOKEN)
    async with adapter:
        assert adapter.capabilities.supports(Capability.REQUEST_LOGS)
        production = await adapter.resolve_deployment("storefront")
        assert production.environment == "production"
        lines = await first_lines(adapter.request_logs(production.id), 5)
        assert all(REQUEST_LINE.match(line.line) and line.ts is not None for line in lines), lines
        with pytest.raises(UnsupportedAction, match="production"):
            adapter.request_logs(production.id.replace("@production", "") + "@staging")


async def test_miteos_has_no_request_log(sim: SimServer) -> None:
    adapter = adapter_for(sim, "miteos")
    async with adapter:
        assert not adapter.capabilities.supports(Capability.REQUEST_LOGS)
        with pytest.raises(UnsupportedAction):
            adapter.request_logs("dep_1")


async def test_the_tail_shows_each_request_once_across_polls() -> None:
    """A poll that answers what the last one did, plus newer requests, adds only the newer ones."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    old = [
        RequestRecord(at=base + timedelta(seconds=s), method="GET", path="/a", status=200) for s in (1, 2, 2)
    ]
    old[2] = old[2].model_copy(update={"path": "/b"})
    new = [*old, RequestRecord(at=base + timedelta(seconds=3), method="POST", path="/c", status=503)]
    answers = [old, new, new]
    asked: list[datetime | None] = []

    async def fetch(since: datetime | None) -> list[RequestRecord]:
        asked.append(since)
        return answers[len(asked) - 1]

    lines = await first_lines(tail_request_log(fetch, poll_seconds=0), 4)
    assert [line.line for line in lines] == ["200 GET /a", "200 GET /a", "200 GET /b", "503 POST /c"]
    assert asked == [None, base + timedelta(seconds=2)]
    assert lines[-1].level == "error"

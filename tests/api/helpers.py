"""Adapters wired to a running ``shipdeck sim`` and a poll helper for simulated pipelines."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

from shipdeck.api.base import Adapter
from shipdeck.api.factory import make_adapter
from shipdeck.api.streams import StreamOptions
from shipdeck.config.profile import Profile, Secret
from shipdeck.model import ProviderName
from tests.conftest import ADMIN, MITEOS_TOKEN
from tests.simproc import SimServer

T = TypeVar("T")

DEFAULT_TOKENS: dict[str, str] = {"miosa": ADMIN, "miteos": MITEOS_TOKEN}


async def latest_seq(sim: SimServer, provider: ProviderName) -> int:
    """The sequence number of the provider's newest event on the simulator: a stream that resumes after it
    gets every later event however long it takes to connect (no sleeping until it has subscribed)."""
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(sim.root + "/_sim/health")
    return int(answer.json()["latest_seq"][provider])


def adapter_for(
    sim: SimServer,
    provider: ProviderName,
    *,
    token: str | None = None,
    notices: list[str] | None = None,
    deadline: float = 30.0,
    stream_options: StreamOptions | None = None,
) -> Adapter:
    profile = Profile(
        name=f"test-{provider}",
        provider=provider,
        base_url=sim.urls[provider],
        token=Secret(token or DEFAULT_TOKENS[provider]),
    )
    return make_adapter(
        profile,
        on_notice=notices.append if notices is not None else None,
        timeout=10.0,
        deadline=deadline,
        stream_options=stream_options,
    )


async def eventually(check: Callable[[], Awaitable[T | None]], *, timeout: float = 20.0) -> T:
    """Poll ``check`` until it returns something truthy (simulated pipelines take a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.1)

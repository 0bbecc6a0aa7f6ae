"""A minimal App that shows one of the side screens against a real `shipdeck sim`, plus helpers to read
the simulator's state back over HTTP (the tests' independent check)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from textual.app import App
from textual.screen import Screen
from textual.widgets import Static

from shipdeck.api.base import Adapter
from shipdeck.api.factory import make_adapter
from shipdeck.config.audit import AuditLog
from shipdeck.config.open_changes import OpenChanges
from shipdeck.config.profile import Profile, Secret
from shipdeck.live.reads import Reads
from shipdeck.live.session import ChangeSession
from shipdeck.model import ProviderName
from tests.simproc import SimServer, running_sim

# Fixed simulated clock and nearly frozen simulated time: what the screens show does not move.
EPOCH = "2026-01-01T00:00:00Z"
TOKENS: dict[ProviderName, str] = {
    "miosa": "msk_u_demo_admin",
    "miteos": "mt_test_demo",
    "mixpeek": "sk_demo",
}

# A screen gets the profile's reads and its write path, as the console gives them.
ScreenFactory = Callable[[Reads, ChangeSession], Screen[Any]]


@contextmanager
def frozen_sim(tmp_path: Path, *, speed: float = 0.001) -> Iterator[SimServer]:
    with running_sim(["--epoch", EPOCH], db_path=tmp_path / "sim.db", speed=speed) as server:
        yield server


def profile_for(sim: SimServer, provider: ProviderName, *, read_only: bool = False) -> Profile:
    url = sim.urls[provider]
    token = Secret(TOKENS[provider])
    return Profile("test", provider, url, token, environment="sandbox", read_only=read_only)


def make_session(adapter: Adapter, audit_path: Path, profile: Profile) -> ChangeSession:
    audit = AuditLog(audit_path, profile=profile.name, provider=profile.provider)
    journal = OpenChanges(audit_path.with_name("open-changes.json"))
    return ChangeSession(
        adapter, audit, read_only=profile.read_only, profile_name=profile.name, open_changes=journal
    )


class ScreenHost(App[None]):
    """Builds the adapter on its own event loop, pushes the screen under test, closes the adapter."""

    def __init__(self, profile: Profile, audit_path: Path, make_screen: ScreenFactory) -> None:
        super().__init__()
        self.profile = profile
        self.audit_path = audit_path
        self.make_screen = make_screen
        self.adapter: Adapter | None = None
        self.reads: Reads | None = None
        self.session: ChangeSession | None = None

    def compose(self) -> Any:
        yield Static("host")

    def get_theme_variable_defaults(self) -> dict[str, str]:
        # shipdeck's own CSS variables (the environment badges), as the console's App defines them.
        from shipdeck.tui.themes import THEME_VARIABLE_DEFAULTS

        return dict(THEME_VARIABLE_DEFAULTS)

    def on_mount(self) -> None:
        self.adapter = make_adapter(self.profile)
        self.session = make_session(self.adapter, self.audit_path, self.profile)
        self.reads = Reads(self.adapter)
        self.push_screen(self.make_screen(self.reads, self.session))

    async def on_unmount(self) -> None:
        if self.adapter is not None:
            await self.adapter.aclose()

    @property
    def messages(self) -> list[str]:
        return [notification.message for notification in self._notifications]


async def eventually(
    check: Callable[[], Awaitable[Any] | Any], *, timeout: float = 30.0, what: str = ""
) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy, and return that; fail after
    ``timeout`` seconds (generous: it only bounds a hang, a busy machine may take a while)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or check}: last={last!r}")


async def get_json(sim: SimServer, provider: ProviderName, path: str, **params: Any) -> Any:
    """GET the simulator's own answer (not through shipdeck's client)."""
    base = sim.urls[provider]
    headers = {"Authorization": f"Bearer {TOKENS[provider]}"}
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(base + path, headers=headers, params=params)
    response.raise_for_status()
    return response.json()


def screen_text(app: App[Any]) -> str:
    """What the terminal shows, as plain text (for asserting on what the user reads)."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)

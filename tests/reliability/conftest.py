"""Shared pieces of the reliability suite: one sim per module with fast heartbeats, a fault proxy per test,
and a console wired to talk through that proxy with short timeouts (so an outage shows in seconds)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Static

from shipdeck.api.base import Adapter
from shipdeck.api.common import HttpAdapter
from shipdeck.api.factory import make_adapter
from shipdeck.api.streams import StreamOptions
from shipdeck.config.console_options import ConsoleOptions
from shipdeck.config.profile import Profile, Secret
from shipdeck.live.timing import Timing
from shipdeck.model import ProviderName
from shipdeck.tui.app import ShipdeckApp
from tests.conftest import ADMIN, MITEOS_TOKEN, MIXPEEK_TOKEN
from tests.reliability.proxy import FaultProxy, fault_proxy
from tests.simproc import SimServer, running_sim
from tests.tui.console_host import every_notification, main_screen, wait_loaded

__all__ = ["every_notification"]

TOKENS: dict[ProviderName, str] = {"miosa": ADMIN, "miteos": MITEOS_TOKEN, "mixpeek": MIXPEEK_TOKEN}
# A dead stream is found in about a second and retried at once; a long outage still ends in a re-read.
FAST_STREAM = StreamOptions(heartbeat_timeout=1.5, max_outage=30.0, backoff_initial=0.05, backoff_max=0.5)
# The console's data is called stale after this many seconds without a word from the server.
STALE_AFTER = 1.5
FAST_TIMING = Timing(stale_after=STALE_AFTER, snapshot_retry_initial=0.1, stream=FAST_STREAM)


@pytest.fixture(scope="module")
def link_sim() -> Iterator[SimServer]:
    """One simulator per test module, heartbeating every 0.3 s so a silent link is told from a quiet one."""
    args = ["--epoch", "2026-01-01T00:00:00Z", "--heartbeat", "0.3", "--ws-ping", "0.3"]
    with running_sim([*args, "--rate-limit", "100000"], speed=50.0) as server:
        yield server
    crashes = [line for line in server.output if "Traceback" in line]
    assert not crashes, "the simulator failed:\n" + "\n".join(server.output)


@pytest.fixture
def link(link_sim: SimServer) -> Iterator[FaultProxy]:
    """A fault proxy in front of this module's simulator, passing bytes through until told otherwise."""
    with fault_proxy(link_sim.port) as proxy:
        yield proxy


def base_url(sim: SimServer, provider: ProviderName) -> str:
    return {"miosa": sim.miosa, "miteos": sim.miteos, "mixpeek": sim.mixpeek}[provider]


def console_through(
    url: str,
    provider: ProviderName,
    tmp_path: Path,
    *,
    token: str | None = None,
    deadline: float = 2.0,
    timing: Timing = FAST_TIMING,
) -> tuple[ShipdeckApp, Adapter]:
    """A console for ``provider`` at ``url`` with short timeouts, the real clock (ages move) and a fast
    ``timing`` (stale after 1.5 s, stream retried within half a second).

    The caller closes the adapter after the app has stopped."""
    profile = Profile("flaky", provider, url, Secret(token or TOKENS[provider]), environment="sandbox")
    adapter = make_adapter(profile, timeout=1.0, deadline=deadline, stream_options=timing.stream)
    options = ConsoleOptions(profile=profile, audit_path=tmp_path / "audit.jsonl")
    app = ShipdeckApp(options, adapter=adapter, timing=timing)
    # As the console's own adapter factory does: the client's progress notices become notifications.
    assert isinstance(adapter, HttpAdapter)
    adapter.transport.on_notice = lambda text: app.contexts.get(profile.name).notice(text)
    return app, adapter


def header_connection(app: ShipdeckApp) -> str:
    """The header's connection part: '● live', '● polled 4s', '◐ reconnecting 3s', '◑ stale 12s', ..."""
    return str(main_screen(app).query_one("#header-connection", Static).render())


def header_current(app: ShipdeckApp) -> bool:
    """The header says the data is current: pushed ('● live'), or polled ('● polled 2s') while the event
    stream has not delivered since an outage (a stream that reconnects counts as back at its first event)."""
    return header_connection(app).startswith(("● live", "● polled"))


# The main screen composed; its deployments listed and the highlighted one's detail loaded.
loaded = wait_loaded

"""`shipdeck serve`: the console over textual-serve, on loopback, behind a token.

Here the browser's part is played by an HTTP client and a websocket client speaking textual-serve's
protocol: the page and the websocket answer with the token and refuse without it, and the console's first
screen (the demo deployments) arrives over the websocket. test_serve_browser.py loads the page in a real
headless Chromium where one is installed.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from tests.cli.helpers import shipdeck
from tests.conftest import ADMIN
from tests.simproc import SimServer

TOKEN = "test-token-0123456789abcdef"
DEADLINE = 60.0


@pytest.fixture
def served(sim: SimServer, tmp_path: Path) -> Iterator[str]:
    """A running `shipdeck serve` on the shared sim; its base URL."""
    env = {**os.environ, "MIOSA_API_KEY": ADMIN, "SHIPDECK_SERVE_TOKEN": TOKEN}
    env.pop("SHIPDECK_CONFIG", None)
    log = (tmp_path / "serve.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "shipdeck", "--provider", "miosa", "--url", sim.miosa, "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = None
        deadline = time.monotonic() + DEADLINE
        while url is None:
            assert process.poll() is None, Path(log.name).read_text()
            assert time.monotonic() < deadline, "serve printed no URL"
            found = re.search(r"serving the console on (http://\S+)/\?token=", Path(log.name).read_text())
            url = found.group(1) if found else None
            time.sleep(0.05)
        while True:  # the socket is bound when the URL is printed; wait until it answers
            try:
                httpx.get(url, timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve did not answer"
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_the_page_needs_the_token_and_the_server_is_on_loopback(served: str) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", served)
    assert httpx.get(served).status_code == 403
    assert httpx.get(served, params={"token": "wrong-token-0123456789"}).status_code == 403
    page = httpx.get(served, params={"token": TOKEN})
    assert page.status_code == 200 and "data-session-websocket-url" in page.text
    cookie = page.cookies.get("shipdeck_serve_token")
    assert cookie == TOKEN
    assert (
        "httponly" in page.headers["set-cookie"].lower()
        and "samesite=strict" in page.headers["set-cookie"].lower()
    )
    # The page's own requests carry the cookie; without it the static files are refused too.
    assert httpx.get(f"{served}/static/css/xterm.css").status_code == 403
    assert (
        httpx.get(f"{served}/static/css/xterm.css", cookies={"shipdeck_serve_token": TOKEN}).status_code
        == 200
    )


async def test_the_console_runs_over_the_websocket_with_the_token_only(served: str) -> None:
    ws_url = served.replace("http://", "ws://") + "/ws?width=80&height=24"
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(ws_url):
            pass
    with pytest.raises(websockets.InvalidStatus):  # another site's page, even with the cookie
        async with websockets.connect(
            ws_url,
            additional_headers={"Cookie": f"shipdeck_serve_token={TOKEN}"},
            origin="http://evil.example",  # type: ignore[arg-type]
        ):
            pass
    async with websockets.connect(
        ws_url, additional_headers={"Cookie": f"shipdeck_serve_token={TOKEN}"}
    ) as ws:
        screen = b""
        async with asyncio.timeout(DEADLINE):
            while b"billing-api" not in screen:  # (a short name: at 80 columns long ones are cut)
                message = await ws.recv()
                screen += message if isinstance(message, bytes) else message.encode()


def test_a_non_loopback_host_needs_allow_remote(
    capsys: pytest.CaptureFixture[str], sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIOSA_API_KEY", ADMIN)
    result = shipdeck(capsys, "--provider", "miosa", "--url", sim.miosa, "serve", "--host", "0.0.0.0")
    assert result.code == 2
    assert "not a loopback address" in result.err and "--allow-remote" in result.err


def test_a_short_token_from_the_environment_is_refused(
    capsys: pytest.CaptureFixture[str], sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIOSA_API_KEY", ADMIN)
    monkeypatch.setenv("SHIPDECK_SERVE_TOKEN", "short")
    result = shipdeck(capsys, "--provider", "miosa", "--url", sim.miosa, "serve")
    assert result.code == 2 and "SHIPDECK_SERVE_TOKEN" in result.err

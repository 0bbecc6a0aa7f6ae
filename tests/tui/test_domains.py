"""Domains screen against a real `shipdeck sim`: add (records shown and copied), verify, remove."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from shipdeck.config.audit import read_audit
from shipdeck.model import Deployment
from shipdeck.model.validation import domain_problem
from shipdeck.tui.screens.domains import DomainsScreen
from shipdeck.tui.screens.screen_kit import TextPrompt
from tests.simproc import SimServer
from tests.tui.console_host import settled
from tests.tui.screen_host import ScreenHost, eventually, frozen_sim, get_json, profile_for, screen_text


@pytest.fixture(scope="module")
def domains_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    with frozen_sim(tmp_path_factory.mktemp("domains-sim"), speed=50.0) as server:
        yield server


async def a_deployment(sim: SimServer) -> Deployment:
    raw = (await get_json(sim, "miosa", "/deployments"))["data"][0]
    return Deployment(id=raw["id"], provider="miosa", name=raw.get("name") or raw["id"])


async def server_domains(sim: SimServer, dep: Deployment) -> dict[str, dict[str, Any]]:
    answer = await get_json(sim, "miosa", f"/deployments/{dep.id}/domains")
    return {item.get("domain") or item.get("fqdn") or item["name"]: item for item in answer["data"]}


def host(sim: SimServer, tmp_path: Path, dep: Deployment, *, read_only: bool = False) -> ScreenHost:
    profile = profile_for(sim, "miosa", read_only=read_only)
    return ScreenHost(profile, tmp_path / "audit.jsonl", lambda a, r: DomainsScreen(a, r, dep))


async def domains_screen(pilot: Pilot[Any]) -> DomainsScreen:
    def ready() -> DomainsScreen | None:
        screen = pilot.app.screen
        return screen if isinstance(screen, DomainsScreen) and screen.query_one("#domains-table") else None

    found: DomainsScreen = await eventually(ready, what="domains screen")
    await settled(pilot, pilot.app)  # its domains are read and shown
    return found


def selected_name(screen: DomainsScreen) -> str | None:
    return screen.selected.name if screen.selected else None


async def add_domain(pilot: Pilot[Any], name: str) -> None:
    await pilot.press("a")
    for char in name:
        await pilot.press(char)
    await pilot.press("enter")


async def test_add_shows_records_copies_them_then_verify_and_remove(
    domains_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shipdeck.tui.screens.domains.DOMAIN_REREAD_SECONDS", 0.3)
    dep = await a_deployment(domains_sim)
    name = "shop.example.com"
    app = host(domains_sim, tmp_path, dep)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await domains_screen(pilot)
        await add_domain(pilot, name)

        async def added() -> dict[str, Any] | None:
            return (await server_domains(domains_sim, dep)).get(name)

        record = await eventually(added, what="domain on the server")
        assert record["status"] == "pending"
        await eventually(lambda: selected_name(screen) == name, what="new domain selected")
        shown = screen_text(app)
        assert "Create these DNS records" in shown
        lines = screen.detail_lines()
        assert any(name.split(".")[0] in line or name in line for line in lines[2:])
        await pilot.press("y")
        assert app.clipboard and app.clipboard.splitlines()[0].split()[1] in ("CNAME", "TXT", "A", "ALIAS")
        assert any(m.startswith(f"Copied DNS records for {name}") for m in app.messages)

        await pilot.press("v")

        async def verified() -> bool:
            status = (await server_domains(domains_sim, dep))[name]["status"]
            return status in ("verified", "active")

        await eventually(verified, what="domain verified on the server")
        # Verified, then active once its certificate is issued: the open screen follows it (it said
        # "verified" until ctrl+r), and says "Active" only then.
        await eventually(
            lambda: any(line.startswith("Active: traffic") for line in screen.detail_lines()),
            what="the screen following the domain to active",
        )

        # Remove: a wrong name is refused (the text stays), the right one removes it.
        await pilot.press("D")
        for char in "shop.example.org":
            await pilot.press(char)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TextPrompt)
        assert "exactly to remove it" in screen_text(app)
        app.screen.query_one(Input).value = name
        await pilot.press("enter")

        async def removed() -> bool:
            current = (await server_domains(domains_sim, dep)).get(name)
            return current is None or current.get("status") == "removed"

        await eventually(removed, what="domain removed on the server")


async def test_failing_verification_says_what_is_wrong(domains_sim: SimServer, tmp_path: Path) -> None:
    dep = await a_deployment(domains_sim)
    name = "will-fail.example.net"
    app = host(domains_sim, tmp_path, dep)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await domains_screen(pilot)
        await add_domain(pilot, name)
        await eventually(lambda: selected_name(screen) == name, what="new domain selected")
        await pilot.press("v")

        async def failed() -> bool:
            return bool((await server_domains(domains_sim, dep))[name]["status"] == "failed")

        await eventually(failed, what="verification failed on the server")
        await eventually(lambda: "Verification failed" in screen_text(app), what="failure shown")
        assert any("did not verify" in m for m in app.messages)
        assert "Check that these records exist" in screen_text(app)
        # One toast, and not "done": the request went through, the domain did not verify (it said
        # "domain.verify: done" over a second toast, and the audit said ok and nothing else).
        verifies = [n for n in app._notifications if n.title.startswith("domain.verify")]
        assert [(n.title, n.severity) for n in verifies] == [
            ("domain.verify: sent, not in effect", "warning")
        ]
    outcomes = [
        r for r in read_audit(tmp_path / "audit.jsonl") if isinstance(r, dict) and r.get("phase") == "outcome"
    ]
    verified = [r for r in outcomes if r["action"] == "domain.verify"]
    assert "did not verify" in verified[-1]["details"]["not_in_effect"], verified


async def test_invalid_name_is_refused_and_read_only_sends_nothing(
    domains_sim: SimServer, tmp_path: Path
) -> None:
    dep = await a_deployment(domains_sim)
    before = await server_domains(domains_sim, dep)
    app = host(domains_sim, tmp_path, dep)
    async with app.run_test(size=(80, 24)) as pilot:
        await domains_screen(pilot)
        await add_domain(pilot, "bad..name")
        await pilot.pause()
        assert isinstance(app.screen, TextPrompt)
        assert app.screen.query_one(Input).value == "bad..name"
        assert "Empty label" in screen_text(app) or "not a valid" in screen_text(app)
    read_only = host(domains_sim, tmp_path, dep, read_only=True)
    async with read_only.run_test(size=(80, 24)) as pilot:
        await domains_screen(pilot)
        await pilot.press("a", "v", "D")
        await pilot.pause()
        assert not isinstance(read_only.screen, TextPrompt)
        assert any("is read-only" in m for m in read_only.messages)
    assert await server_domains(domains_sim, dep) == before


async def test_internationalised_name_is_sent_in_its_idna_form(
    domains_sim: SimServer, tmp_path: Path
) -> None:
    dep = await a_deployment(domains_sim)
    app = host(domains_sim, tmp_path, dep)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await domains_screen(pilot)
        await add_domain(pilot, "Bücher.example.org")

        async def added() -> bool:
            return "xn--bcher-kva.example.org" in await server_domains(domains_sim, dep)

        await eventually(added, what="the IDNA name on the server")
        await eventually(lambda: selected_name(screen) == "xn--bcher-kva.example.org", what="selected")
        # Typing the unicode form confirms the removal of its xn-- name.
        await pilot.press("D")
        app.screen.query_one(Input).value = "bücher.example.org"
        await pilot.press("enter")

        async def removed() -> bool:
            current = (await server_domains(domains_sim, dep)).get("xn--bcher-kva.example.org")
            return current is None or current.get("status") == "removed"

        await eventually(removed, what="removed")


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("app.example.com", True),
        ("App.Example.COM.", True),
        ("bücher.example", True),
        ("a" * 63 + ".example.com", True),
        ("a" * 64 + ".example.com", False),
        (".".join(["abcdefghi"] * 26) + ".com", False),  # > 253 characters
        ("localhost", False),
        ("-bad.example.com", False),
        ("bad-.example.com", False),
        ("under_score.example.com", False),
        ("https://app.example.com", False),
        ("app example.com", False),
        ("10.0.0.1", False),
        ("", False),
    ],
)
def test_domain_validation(name: str, ok: bool) -> None:
    assert (domain_problem(name) is None) is ok, domain_problem(name)

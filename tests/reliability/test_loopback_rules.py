"""What counts as loopback (a parsed address in 127.0.0.0/8 or ::1, or `localhost`; never a name that starts
with '127.'), the plain-http warning for everything else, and a Miteos event stream following no redirect."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipdeck.api.errors import NetworkError
from shipdeck.api.factory import make_adapter
from shipdeck.config.loader import ad_hoc_profile
from shipdeck.config.profile import Profile, Secret
from tests.cli.helpers import shipdeck, write_config
from tests.conftest import MITEOS_TOKEN
from tests.reliability.hostile_kit import redirect_to, routed, threaded

NOT_LOOPBACK = ["127.evil.example", "127.0.0.1.evil.example", "localhost.evil.example", "0x7f.evil.example"]
LOOPBACK = ["127.0.0.1", "127.1.2.3", "[::1]", "localhost"]


@pytest.fixture(autouse=True)
def _unsendable_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """A token no header can carry: the command is refused before anything is sent (no name is looked
    up, nothing leaves this machine), after the warnings have been printed."""
    monkeypatch.setenv("MIOSA_API_KEY", "not a sendable token")


@pytest.mark.parametrize("host", NOT_LOOPBACK)
def test_plain_http_to_a_name_that_only_looks_like_loopback_warns(
    capsys: pytest.CaptureFixture[str], host: str
) -> None:
    result = shipdeck(capsys, "--provider", "miosa", "--url", f"http://{host}:8/api/v1", "ls")
    assert result.code == 3, result
    assert f"shipdeck: warning: --url: plain http to {host}: the token would travel unencrypted" in result.err
    assert ad_hoc_profile("miosa", f"http://{host}:8/api/v1").environment == "production"


@pytest.mark.parametrize("host", LOOPBACK)
def test_plain_http_to_loopback_does_not_warn(capsys: pytest.CaptureFixture[str], host: str) -> None:
    result = shipdeck(capsys, "--provider", "miosa", "--url", f"http://{host}:8/api/v1", "ls")
    assert result.code == 3, result
    assert "warning" not in result.err, result.err
    assert ad_hoc_profile("miosa", f"http://{host}:8/api/v1").environment == "sandbox"


def test_a_profile_with_plain_http_to_a_lookalike_host_warns(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "config.toml",
        'default_profile = "near"\n'
        '[profiles.near]\nprovider = "miosa"\nbase_url = "http://127.0.0.9:8/api/v1"\n'
        '[profiles.far]\nprovider = "miosa"\nbase_url = "http://127.evil.example/api/v1"\n',
    )
    monkeypatch.setenv("SHIPDECK_CONFIG", str(config))
    result = shipdeck(capsys, "config", "show")
    warnings = [line for line in result.err.splitlines() if "plain http" in line]
    assert len(warnings) == 1 and "127.evil.example" in warnings[0], result.err


async def test_the_miteos_event_stream_follows_no_redirect() -> None:
    with (
        threaded(routed({})) as elsewhere,
        threaded(routed({r"/ws$": redirect_to(f"ws://127.0.0.1:{elsewhere.port}/v1/ws")})) as server,
    ):
        profile = Profile("ws", "miteos", server.url + "/v1", Secret(MITEOS_TOKEN), environment="sandbox")
        adapter = make_adapter(profile, timeout=2.0, deadline=5.0)
        try:
            with pytest.raises(NetworkError, match="does not follow redirects"):
                async for _event in adapter.events():
                    break
        finally:
            await adapter.aclose()
    assert [r.path for r in server.seen] == ["/v1/ws"]
    assert elsewhere.seen == [], "the stream followed the redirect (with the token)"

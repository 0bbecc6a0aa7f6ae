"""The CLI's promote and `rollback --to` say what the console's dialog says of the target's health, from one
bounded read: its figures beside the serving version's, and a warning when it failed its users when it was
last live (checkout-api's v5 fails ~12% of requests in the demo seed)."""

from __future__ import annotations

import io
import json

import pytest

from tests.cli.helpers import shipdeck
from tests.conftest import ADMIN
from tests.reliability.hostile_kit import health_hangs, threaded
from tests.simproc import SimServer

FAILED_V5 = "  warning  ⚠ v5 failed its users when it was last live ("


class FakeTerminal(io.StringIO):
    """Stdin that says it is a terminal, with the user's answer typed in."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIOSA_API_KEY", ADMIN)


def live_number(capsys: pytest.CaptureFixture[str], url: tuple[str, ...]) -> int:
    status = shipdeck(capsys, *url, "status", "checkout-api", "--json")
    assert status.code == 0, status.err
    return int(json.loads(status.out)["active_version"]["number"])


def test_promote_and_rollback_to_a_version_that_failed_its_users_warn_before_asking(
    capsys: pytest.CaptureFixture[str], fresh_sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = ("--provider", "miosa", "--url", fresh_sim.miosa)
    back = shipdeck(capsys, *url, "rollback", "checkout-api", "--yes")
    assert back.code == 0 and "v5 -> v4" in back.out, (back.out, back.err)

    monkeypatch.setattr("sys.stdin", FakeTerminal("n\n"))
    declined = shipdeck(capsys, *url, "promote", "checkout-api", "v5")
    assert declined.code == 1 and "nothing was sent" in declined.err, declined.err
    assert FAILED_V5 in declined.err and "% errors" in declined.err, declined.err
    assert declined.err.index(FAILED_V5) < declined.err.index("[y/N]")  # said before the question
    assert "  health   v4 (live " in declined.err and " -> v5 (last live " in declined.err, declined.err
    assert live_number(capsys, url) == 4

    # --yes: said on stderr before sending; --json's stdout is the answer alone.
    sent = shipdeck(capsys, *url, "rollback", "checkout-api", "--to", "v5", "--yes", "--json")
    assert sent.code == 0, sent.err
    assert FAILED_V5 in sent.err, sent.err
    assert json.loads(sent.out)["deployment"]["name"] == "checkout-api"
    assert live_number(capsys, url) == 5

    # A target that served well gets its figures and no warning.
    healthy = shipdeck(capsys, *url, "promote", "checkout-api", "v4", "--yes")
    assert healthy.code == 0, healthy.err
    assert "  health   v5 (live " in healthy.err and "failed its users" not in healthy.err, healthy.err
    assert live_number(capsys, url) == 4


def test_a_health_endpoint_that_never_answers_does_not_hold_a_promote_back(
    capsys: pytest.CaptureFixture[str], fresh_sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The preview's health read is bounded, as the plain rollback's: a hanging observability endpoint
    costs the wait and a line saying what the preview could not say, not the change."""
    monkeypatch.setattr("shipdeck.cli.commands.CHANGE_HEALTH_WAIT_S", 0.5, raising=False)

    with threaded(health_hangs(fresh_sim)) as server:
        url = ("--provider", "miosa", "--url", server.url + "/api/v1")
        promoted = shipdeck(capsys, *url, "promote", "checkout-api", "v4", "--yes")
        rolled = shipdeck(capsys, *url, "rollback", "checkout-api", "--to", "v5", "--yes", "--json")
    for result in (promoted, rolled):
        assert result.code == 0, result.err
        assert "health not read within" in result.err, result.err
        assert "cannot say whether the target failed its users" in result.err, result.err
    assert json.loads(rolled.out)["deployment"]["name"] == "checkout-api"
    assert live_number(capsys, ("--provider", "miosa", "--url", fresh_sim.miosa)) == 5

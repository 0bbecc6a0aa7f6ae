"""Scriptable commands against broken and hostile servers: each ends with a non-zero exit code and one
clear line on stderr, never a traceback, never the token, and within the --timeout it was given."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.hostile import Handler
from tests.cli.helpers import Result, shipdeck
from tests.conftest import ADMIN
from tests.reliability.hostile_kit import (
    BROKEN_ANSWERS,
    UNKNOWN_STATE,
    Case,
    deployments,
    is_rollback,
    one_byte_a_second,
    redirect_to,
    relay_except,
    self_signed_listener,
    threaded,
)
from tests.simproc import SimServer

TOKEN = "msk_u_hostile_test_secret"
TIMEOUT = 3.0
TARGET = "smile-dental-landing"


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIOSA_API_KEY", TOKEN)


def against(capsys: pytest.CaptureFixture[str], url: str, *command: str) -> Result:
    return shipdeck(capsys, "--provider", "miosa", "--url", url, "--timeout", str(TIMEOUT), *command)


def assert_one_clear_line(result: Result, says: str, *, token: str = TOKEN) -> None:
    """A failure exit code and one error line, the last on stderr (a rollback's preview may come before)."""
    assert result.code not in (0, 2), result
    lines = result.err.strip().splitlines()
    errors = [line for line in lines if line.startswith("shipdeck: error: ")]
    assert len(errors) == 1 and errors[0] == lines[-1], result.err
    assert says in errors[0].lower(), errors[0]
    assert "Traceback" not in result.err + result.out
    assert token not in result.err + result.out


@pytest.mark.parametrize("case", BROKEN_ANSWERS, ids=lambda case: case.name)
def test_ls_against_a_broken_answer(capsys: pytest.CaptureFixture[str], case: Case) -> None:
    with threaded(case.handler) as server:
        result = against(capsys, server.url + "/api/v1", "ls")
    # The slow answers would take 600 s or never end: their messages ("no complete answer", "larger than")
    # say the deadline or the size cap cut them; a hang would be stopped by the suite's timeout and fail.
    assert_one_clear_line(result, case.says)


def test_an_unknown_state_is_listed_as_it_came(capsys: pytest.CaptureFixture[str]) -> None:
    with threaded(deployments(UNKNOWN_STATE)) as server:
        result = against(capsys, server.url + "/api/v1", "ls")
    assert result.code == 0, result.err
    assert "odd-one" in result.out and "exploding" in result.out


def test_a_redirect_to_another_host_is_not_followed(capsys: pytest.CaptureFixture[str]) -> None:
    with threaded(deployments()) as elsewhere, threaded(redirect_to(elsewhere.url + "/steal")) as server:
        result = against(capsys, server.url + "/api/v1", "ls")
    assert_one_clear_line(result, "does not follow redirects")
    assert elsewhere.seen == [], "the other host was called (and would have had the token)"


def test_https_at_a_plain_http_port_says_tls(capsys: pytest.CaptureFixture[str], sim: SimServer) -> None:
    result = against(capsys, sim.miosa.replace("http://", "https://"), "ls")
    assert_one_clear_line(result, "tls")
    # Every retry is announced on stderr ('connection to miosa lost, retrying in ...'): none was made.
    assert "retrying" not in result.err, "a TLS failure is not worth retrying"


def test_a_self_signed_certificate_says_tls(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with self_signed_listener(tmp_path) as port:
        result = against(capsys, f"https://127.0.0.1:{port}/api/v1", "ls")
    assert_one_clear_line(result, "self-signed certificate")


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (BROKEN_ANSWERS[0].handler, "may have been applied"),
        (one_byte_a_second, "may have been applied"),
        (redirect_to("http://127.0.0.1:9/elsewhere"), "does not follow redirects"),
    ],
    ids=["invalid JSON", "one byte a second", "redirect"],
)
def test_rollback_whose_answer_is_broken(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    sim: SimServer,
    bad: Handler,
    says: str,
) -> None:
    """Only the mutation's answer is broken (reads are the real simulator's, which refuses nothing: the bad
    answer never forwards the rollback): the command fails clearly."""
    monkeypatch.setenv("MIOSA_API_KEY", ADMIN)
    with threaded(relay_except(sim, is_rollback, bad)) as server:
        result = against(capsys, server.url + "/api/v1", "rollback", TARGET, "--yes")
    assert_one_clear_line(result, says, token=ADMIN)
    assert [r.method for r in server.seen if is_rollback(r)] != [], "the rollback was never sent"

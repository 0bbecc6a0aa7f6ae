"""Scriptable commands against broken and hostile servers: each ends with a non-zero exit code and one
clear line on stderr, never a traceback, never the token, and within the --timeout it was given."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NoReturn

import pytest

from shipdeck.cli.output import print_json
from tests.api.hostile import Handler
from tests.cli.helpers import Result, shipdeck
from tests.conftest import ADMIN
from tests.reliability.hostile_kit import (
    BROKEN_ANSWERS,
    UNKNOWN_STATE,
    Case,
    deployments,
    is_health_figures,
    is_rollback,
    one_byte_a_second,
    redirect_to,
    relay_except,
    rewritten,
    self_signed_listener,
    threaded,
    unreadable_figures,
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


# How Python writes a float that is no number: nan, inf, -inf (in a figure: 'p95 inf s').
NO_NUMBER = re.compile(r"\b(nan|inf)\b", re.IGNORECASE)


def strict_json(text: str) -> Any:
    """``text`` as a strict parser reads it: NaN, Infinity and -Infinity are no JSON."""

    def refuse(constant: str) -> NoReturn:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_health_figures_that_are_no_numbers_are_never_printed_as_numbers(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, sim: SimServer
) -> None:
    """`status --json` printed "p50_ms": NaN and "p95_ms": Infinity (no JSON to a strict parser) and
    `health` printed 'p50 nan ms, p95 inf s, p99 -inf ms' and a 309-digit rpm over 'last -30 s'."""
    monkeypatch.setenv("MIOSA_API_KEY", ADMIN)
    with threaded(relay_except(sim, is_health_figures, rewritten(sim, unreadable_figures))) as server:
        status = against(capsys, server.url + "/api/v1", "status", "checkout-api", "--json")
        detail = against(capsys, server.url + "/api/v1", "health", "checkout-api", "--json")
        text = against(capsys, server.url + "/api/v1", "health", "checkout-api")
    assert status.code == detail.code == text.code == 0, (status.err, detail.err, text.err)
    health = strict_json(status.out)["health"]
    assert [health[name] for name in ("p50_ms", "p95_ms", "p99_ms", "rpm", "window_s")] == [None] * 5
    assert health["error_rate"] is not None  # the figure that is one is kept
    trend = strict_json(detail.out)["trend"]
    assert trend[-1]["p95_ms"] is None and any(point["p95_ms"] for point in trend)
    first = text.out.splitlines()[0]
    assert "p50 -, p95 -, p99 -" in first and "rpm" not in first and "-30" not in first, first
    assert not NO_NUMBER.search(text.out), text.out


def test_json_output_writes_null_for_a_float_that_is_no_number(capsys: pytest.CaptureFixture[str]) -> None:
    """A model keeps a provider's extra fields as they came, and Python reads a literal NaN: `--json`
    writes null for it, never NaN or Infinity."""
    print_json({"cpu": float("nan"), "rows": [{"load": float("-inf")}], "ok": 1.5})
    assert strict_json(capsys.readouterr().out) == {"cpu": None, "rows": [{"load": None}], "ok": 1.5}

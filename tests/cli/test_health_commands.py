"""`shipdeck status --json` health, `shipdeck health`, `ls --sort health`, against a real `shipdeck sim`.

The issue's done-when: on the demo sandbox at --speed 20, checkout-api's error rate is at least 5%, and
after `shipdeck rollback checkout-api --yes` it falls below 1% within a minute of simulated time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import shipdeck
from tests.cli.test_scriptable import use_sim
from tests.simproc import SimServer, running_sim


@pytest.fixture
def sim20(tmp_path: Path) -> Iterator[SimServer]:
    with running_sim(db_path=tmp_path / "sim.db", speed=20.0) as server:
        yield server


def status_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    result = shipdeck(capsys, *args, "status", "checkout-api", "--json")
    assert result.code == 0, result.err
    return dict(json.loads(result.out))


def test_status_health_falls_after_a_rollback(
    sim20: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_sim(sim20, tmp_path, monkeypatch)
    before = status_json(capsys)["health"]
    assert set(before) == {"error_rate", "p50_ms", "p95_ms", "p99_ms", "rpm", "window_s", "as_of"}
    assert before["error_rate"] >= 0.05 and before["p95_ms"] > 500
    rolled = shipdeck(capsys, "rollback", "checkout-api", "--yes")
    assert rolled.code == 0, rolled.err
    # A condition wait: read until the figure is below 1% (it takes ~40 s of simulated time, ~2 s here).
    deadline = time.monotonic() + 30
    health = before
    while health["error_rate"] is None or health["error_rate"] >= 0.01:
        assert time.monotonic() < deadline, f"error rate still {health['error_rate']}"
        health = status_json(capsys)["health"]
    assert health["p95_ms"] < before["p95_ms"] / 3
    text = shipdeck(capsys, "health", "checkout-api")
    assert text.code == 0 and "ok" in text.out.splitlines()[0]
    assert "v4" in text.out and "went live" in text.out


def test_health_command_shows_trend_routes_and_failing_requests(
    fresh_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_sim(fresh_sim, tmp_path, monkeypatch)
    result = shipdeck(capsys, "health", "checkout-api")
    assert result.code == 0, result.err
    first = result.out.splitlines()[0]
    assert first.startswith("checkout-api: ") and "⚠ high" in first and "p95" in first
    assert "errors, last hour" in result.out and "v5 at" in result.out
    assert "/api/checkout" in result.out and "latest failing requests" in result.out
    assert "routes (last hour)" in result.out
    data = json.loads(shipdeck(capsys, "health", "checkout-api", "--json").out)
    assert data["health"]["error_rate"] >= 0.05 and data["level"] == "critical"
    assert data["routes"][0]["route"] in ("/api/checkout", "/api/payments/confirm")
    assert len(data["trend"]) == 60 and all(r["status"] >= 500 for r in data["failing"])
    healthy = json.loads(shipdeck(capsys, "status", "clinic-intake", "--json").out)["health"]
    assert healthy["error_rate"] < 0.01
    status_text = shipdeck(capsys, "status", "checkout-api").out
    assert "errors" in status_text and "⚠ high" in status_text


def test_ls_sorts_unhealthy_first(
    fresh_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_sim(fresh_sim, tmp_path, monkeypatch)
    result = shipdeck(capsys, "ls", "--sort", "health")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert "ERRORS" in lines[0] and lines[1].startswith("checkout-api")
    rows = json.loads(shipdeck(capsys, "ls", "--sort", "health", "--json").out)
    rates = [r["health"]["error_rate"] for r in rows if r["health"] and r["health"]["error_rate"] is not None]
    assert rates == sorted(rates, reverse=True) and rates[0] >= 0.05
    assert rows[-1]["health"] is None or rows[-1]["health"]["error_rate"] is None  # stopped: no traffic
    assert "ERRORS" not in shipdeck(capsys, "ls").out.splitlines()[0]


def test_providers_without_metrics_say_so_and_health_is_null(
    sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_sim(sim, tmp_path, monkeypatch)
    listed = json.loads(shipdeck(capsys, "--profile", "miteos", "ls", "--json").out)
    name = listed[0]["name"]
    status = json.loads(shipdeck(capsys, "--profile", "miteos", "status", listed[0]["id"], "--json").out)
    assert status["health"] is None
    said = shipdeck(capsys, "--profile", "miteos", "health", listed[0]["id"])
    assert said.code == 0 and "no request metrics" in said.out and name in said.out
    staging = json.loads(shipdeck(capsys, "--profile", "mixpeek", "ls", "--json").out)
    row = next(r for r in staging if r["id"].endswith("@staging"))
    assert (
        json.loads(shipdeck(capsys, "--profile", "mixpeek", "status", row["id"], "--json").out)["health"]
        is None
    )


@pytest.mark.parametrize(
    ("epoch", "says"), [("1970-01-01T00:00:00Z", "ago, stale"), ("2200-01-01T00:00:00Z", "age unknown")]
)
def test_a_reading_far_from_this_clock_is_not_the_last_30_s(
    epoch: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An observability as_of of 1970 was shown as "(last 30 s)": figures of a window that ended decades
    ago (or one ahead of this clock) read as current."""
    with running_sim(["--epoch", epoch], db_path=tmp_path / "sim.db", speed=1.0) as server:
        use_sim(server, tmp_path, monkeypatch)
        result = shipdeck(capsys, "health", "checkout-api")
    assert result.code == 0, result.err
    first = result.out.splitlines()[0]
    assert says in first and "last 30 s" not in first, first


def test_a_current_reading_is_the_last_30_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # At speed 1 the sandbox's clock is this one (a faster sandbox's runs ahead of it).
    with running_sim(db_path=tmp_path / "sim.db", speed=1.0) as server:
        use_sim(server, tmp_path, monkeypatch)
        first = shipdeck(capsys, "health", "checkout-api").out.splitlines()[0]
    assert "(last 30 s)" in first, first


def test_figures_without_an_error_rate_but_with_traffic_do_not_read_as_no_traffic() -> None:
    """A NaN error rate (missing once parsed) beside 1,168 rpm read "no requests in the window": a
    deployment failing 12% of its requests looked idle, in the console's Health tab and the CLI alike."""
    from shipdeck.cli.health import _summary
    from shipdeck.model.service_health import ServiceHealth
    from shipdeck.tui.widgets.health_view import summary_text

    busy = ServiceHealth(deployment_id="d", provider="miosa", error_rate=None, rpm=1167.8, p95_ms=840.0)
    idle = ServiceHealth(deployment_id="d", provider="miosa", error_rate=None, rpm=0.0)
    for said in (_summary(busy), summary_text(busy).plain):
        assert "error rate unknown" in said and "1168 rpm" in said and "no requests" not in said, said
    for said in (_summary(idle), summary_text(idle).plain):
        assert "no requests in the last window" in said, said

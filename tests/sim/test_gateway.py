"""What every request goes through: request ids, rate limits, faults, the /_sim endpoints, the CLI."""

from __future__ import annotations

import signal
import subprocess
import time

import httpx
import pytest

from tests.conftest import ADMIN, READONLY
from tests.sim.helpers import client, data, error_code
from tests.simproc import SimServer, running_sim, sim_command


def test_every_answer_has_a_request_id_and_rate_limit_headers(sim: SimServer) -> None:
    with client(sim) as http:
        first, second = http.get("/deployments?limit=1"), http.get("/deployments/dep_missing")
    ids = {first.headers["x-request-id"], second.headers["x-request-id"]}
    assert len(ids) == 2 and all(i.startswith("req_") for i in ids)
    for response in (first, second):
        assert int(response.headers["x-ratelimit-limit"]) == 600
        assert 0 <= int(response.headers["x-ratelimit-remaining"]) < 600
        assert int(response.headers["x-ratelimit-reset"]) >= 1
    assert second.json()["request_id"] == second.headers["x-request-id"]


def test_rate_limit_answers_429_with_retry_after() -> None:
    with running_sim(["--rate-limit", "5"], seed="empty") as server, client(server) as http:
        answers = [http.get("/deployments") for _ in range(6)]
        assert [a.status_code for a in answers] == [200] * 5 + [429]
        assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["4", "3", "2", "1", "0", "0"]
        limited = answers[-1]
        assert error_code(limited, 429) == "RATE_LIMITED"
        assert int(limited.headers["retry-after"]) >= 1 and limited.json()["retry_after"] >= 1
        with client(server, READONLY) as other:  # per token
            assert other.get("/deployments").status_code == 200
        assert httpx.get(f"{server.root}/_sim/health").status_code == 200  # never limited


def test_injected_5xx_and_429_in_the_provider_shape_never_on_sim_endpoints() -> None:
    with running_sim(["--faults", "error5xx=1"], seed="empty") as server, client(server) as http:
        response = http.get("/deployments")
        assert error_code(response, 503) == "SERVICE_UNAVAILABLE" and response.headers["retry-after"] == "1"
        assert httpx.get(f"{server.root}/_sim/health").status_code == 200
    with running_sim(["--faults", "rate429=1"], seed="empty") as server, client(server) as http:
        response = http.get("/deployments")
        assert error_code(response, 429) == "RATE_LIMITED" and response.headers["retry-after"] == "1"


def test_fault_rates_are_deterministic_for_an_rng_seed() -> None:
    runs = []
    for _ in range(2):
        with (
            running_sim(["--faults", "error5xx=0.3"], seed="empty", rng_seed=11) as server,
            client(server) as http,
        ):
            runs.append([http.get("/deployments").status_code for _ in range(30)])
    assert runs[0] == runs[1] and 503 in runs[0] and 200 in runs[0]


def test_latency_fault_slows_answers() -> None:
    with running_sim(["--faults", "latency=150ms"], seed="empty") as server, client(server) as http:
        started = time.monotonic()
        http.get("/deployments")
        assert time.monotonic() - started >= 0.15


def test_request_log_names_the_token_kind_never_the_token(sim: SimServer) -> None:
    since = httpx.get(f"{sim.root}/_sim/requests", params={"since": 0}).json()["last_seq"]
    with client(sim, READONLY) as ro:
        ro.get("/deployments?limit=1")
        ro.post("/deployments", json={"name": "no"})
    with client(sim, "msk_u_stolen") as bad:
        bad.get("/deployments")
    answer = httpx.get(f"{sim.root}/_sim/requests", params={"since": since})
    assert ADMIN not in answer.text and READONLY not in answer.text and "msk_u_stolen" not in answer.text
    mine = [(r["method"], r["path"], r["token_kind"], r["status"]) for r in answer.json()["requests"]]
    assert ("GET", "/api/v1/deployments", "readonly", 200) in mine
    assert ("POST", "/api/v1/deployments", "readonly", 403) in mine
    assert ("GET", "/api/v1/deployments", "invalid", 401) in mine
    assert httpx.get(f"{sim.root}/_sim/requests", params={"since": "x"}).status_code == 422


def test_sim_burst_and_clock_validate_their_input(sim: SimServer) -> None:
    for body in (
        {},
        {"provider": "nope", "count": 1},
        {"provider": "miosa", "count": 0},
        {"provider": "miosa"},
    ):
        assert httpx.post(f"{sim.root}/_sim/burst", json=body).status_code == 422
    before = httpx.get(f"{sim.root}/_sim/health").json()["now"]
    after = httpx.post(f"{sim.root}/_sim/clock", json={"advance": 3600}).json()["now"]
    assert after > before
    assert httpx.post(f"{sim.root}/_sim/clock", json={"advance": -1}).status_code == 422


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(sim_command(*args), capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "--allow-remote"),
        (["--faults", "explode=1"], "unknown fault 'explode'"),
        (["--seed", "lots"], "--seed"),
        (["--speed", "0"], "--speed"),
        (["--epoch", "soon"], "--epoch"),
    ],
)
def test_cli_refuses_bad_options_with_one_clear_line(args: list[str], message: str) -> None:
    result = _run_cli(*args, "--port", "0", "--memory")
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr + result.stdout


def test_ready_lines_and_a_clean_ctrl_c() -> None:
    with running_sim(seed="empty") as server:
        assert server.tokens["miosa"] == [ADMIN, READONLY]
        assert server.output[-1] == "shipdeck sim ready (Ctrl-C to stop)"
        assert httpx.get(f"{server.root}/_sim/health").json()["status"] == "ok"
        assert server.stop(signal.SIGINT) == 0
        assert not any("Traceback" in line for line in server.output)


def test_a_pipeline_in_flight_does_not_block_shutdown() -> None:
    with running_sim(seed="empty", speed=1.0) as server, client(server) as http:
        dep = data(http.post("/deployments", json={"name": "slow"}), 201)
        data(http.post(f"/deployments/{dep['id']}/publish", json={"source_sandbox_id": "s"}))
        # Exit status 0: it stopped by itself (stop() kills it after 10 s, and a killed process is not 0).
        assert server.stop(signal.SIGINT) == 0


def test_wrong_method_is_405_in_the_provider_shape(sim: SimServer) -> None:
    with client(sim) as http:
        assert error_code(http.put("/deployments", json={}), 405) == "METHOD_NOT_ALLOWED"
    assert httpx.get(f"{sim.root}/_sim/health").headers["x-request-id"].startswith("req_")

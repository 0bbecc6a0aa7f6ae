"""Every scriptable command against a real `shipdeck sim`, in both output forms, with its exit codes."""

from __future__ import annotations

import io
import json
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipdeck.config.paths import audit_log_file
from shipdeck.model.masking import HIDDEN
from tests.cli.helpers import Result, shipdeck, write_config
from tests.conftest import ADMIN, MITEOS_TOKEN, MIXPEEK_TOKEN, READONLY
from tests.simproc import SimServer


def sim_config(server: SimServer) -> str:
    return f"""\
default_profile = "sim"

[profiles.sim]
provider = "miosa"
base_url = "{server.miosa}"
environment = "sandbox"
token_env = "SIM_TOKEN"

[profiles.sim-readonly-key]
provider = "miosa"
base_url = "{server.miosa}"
token_env = "SIM_READONLY_TOKEN"

[profiles.sim-bad-key]
provider = "miosa"
base_url = "{server.miosa}"
token_env = "SIM_BAD_TOKEN"

[profiles.miteos]
provider = "miteos"
base_url = "{server.miteos}"
token_env = "SIM_MITEOS_TOKEN"

[profiles.mixpeek]
provider = "mixpeek"
base_url = "{server.mixpeek}"
token_env = "SIM_MIXPEEK_TOKEN"
"""


def use_sim(server: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path / "config.toml", sim_config(server))
    monkeypatch.setenv("SHIPDECK_CONFIG", str(path))
    monkeypatch.setenv("SIM_TOKEN", ADMIN)
    monkeypatch.setenv("SIM_READONLY_TOKEN", READONLY)
    monkeypatch.setenv("SIM_BAD_TOKEN", "msk_u_not_a_real_key")
    monkeypatch.setenv("SIM_MITEOS_TOKEN", MITEOS_TOKEN)
    monkeypatch.setenv("SIM_MIXPEEK_TOKEN", MIXPEEK_TOKEN)


@pytest.fixture
def shared(sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    use_sim(sim, tmp_path, monkeypatch)
    return sim


@pytest.fixture
def own(fresh_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    use_sim(fresh_sim, tmp_path, monkeypatch)
    return fresh_sim


class FakeTerminal(io.StringIO):
    """Stdin that says it is a terminal, with the user's answer typed in."""

    def isatty(self) -> bool:
        return True


def no_secrets(*results: Result) -> None:
    for result in results:
        for token in (ADMIN, READONLY, MITEOS_TOKEN, MIXPEEK_TOKEN):
            assert token not in result.out and token not in result.err


def as_json(result: Result) -> Any:
    assert result.code == 0, result.err
    return json.loads(result.out)


def deployments(capsys: pytest.CaptureFixture[str], *profile: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = as_json(shipdeck(capsys, *profile, "ls", "--json"))
    return data


def versions_of(capsys: pytest.CaptureFixture[str], dep: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = as_json(shipdeck(capsys, "versions", dep, "--json"))
    return data


def rollbackable(capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A deployment with an active version and a ready one older than it."""
    for dep in deployments(capsys):
        versions = versions_of(capsys, dep["id"])
        active = next((v for v in versions if v["id"] == dep["active_version_id"]), None)
        if active is None:
            continue
        if any(v["state"] == "ready" and v["number"] < active["number"] for v in versions):
            return dep, versions
    pytest.fail("the demo seed has no deployment that can be rolled back")


def audit_records() -> list[dict[str, Any]]:
    path = audit_log_file()
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# -- reads ---------------------------------------------------------------------------------------------


def test_ls_both_forms(capsys: pytest.CaptureFixture[str], shared: SimServer) -> None:
    data = deployments(capsys)
    assert data and {"id", "name", "state", "provider"} <= set(data[0])
    human = shipdeck(capsys, "ls")
    assert human.code == 0
    header, *rows = human.out.strip().splitlines()
    assert header.split() == ["NAME", "STATE", "VERSION", "URL", "UPDATED", "ID"]
    assert len(rows) == len(data)
    assert all(d["name"] in human.out and d["id"] in human.out for d in data)
    no_secrets(human)


@pytest.mark.parametrize("profile", ["miteos", "mixpeek"])
def test_ls_on_the_other_providers(
    capsys: pytest.CaptureFixture[str], shared: SimServer, profile: str
) -> None:
    data = deployments(capsys, "--profile", profile)
    assert all(d["provider"] == profile for d in data)
    assert shipdeck(capsys, "--profile", profile, "ls").code == 0


def test_versions_by_name_and_id(capsys: pytest.CaptureFixture[str], shared: SimServer) -> None:
    dep = deployments(capsys)[0]
    by_id = versions_of(capsys, dep["id"])
    by_name = versions_of(capsys, dep["name"])
    assert [v["id"] for v in by_id] == [v["id"] for v in by_name]
    numbers = [v["number"] for v in by_id]
    assert numbers == sorted(numbers, reverse=True)
    human = shipdeck(capsys, "versions", dep["name"])
    assert human.code == 0
    if dep["active_version_number"] is not None:
        assert f"* v{dep['active_version_number']}" in human.out


def test_status_both_forms(capsys: pytest.CaptureFixture[str], shared: SimServer) -> None:
    dep = deployments(capsys)[0]
    status = shipdeck(capsys, "status", dep["name"], "--json")
    data = json.loads(status.out)
    assert data["deployment"]["id"] == dep["id"] and "latest_run" in data and "active_version" in data
    human = shipdeck(capsys, "status", dep["id"])
    assert f"name            {dep['name']}" in human.out or dep["name"] in human.out
    assert "state" in human.out and human.code == 0


def test_status_watch_until_settled(capsys: pytest.CaptureFixture[str], shared: SimServer) -> None:
    dep = deployments(capsys)[0]
    result = shipdeck(
        capsys, "status", dep["id"], "--watch", "--until-settled", "--interval", "0.2", "--json"
    )
    lines = [json.loads(line) for line in result.out.strip().splitlines()]
    assert lines and lines[-1]["deployment"]["id"] == dep["id"]
    assert result.code == (1 if lines[-1]["deployment"]["state"] == "failed" else 0)


@pytest.mark.parametrize(
    "argv",
    [
        ["versions", "no-such-deployment"],
        ["status", "no-such-deployment", "--json"],
        ["rollback", "no-such-deployment", "--yes"],
    ],
)
def test_unknown_deployment_exits_4(
    capsys: pytest.CaptureFixture[str], shared: SimServer, argv: list[str]
) -> None:
    result = shipdeck(capsys, *argv)
    assert result.code == 4, result.err
    assert "no-such-deployment" in result.err and result.err.count("\n") == 1


def test_unknown_version_exits_4(capsys: pytest.CaptureFixture[str], shared: SimServer) -> None:
    dep = deployments(capsys)[0]
    result = shipdeck(capsys, "promote", dep["name"], "v9999", "--yes")
    assert result.code == 4 and "v9999" in result.err


def test_rejected_token_exits_3(capsys: pytest.CaptureFixture[str], shared: SimServer) -> None:
    result = shipdeck(capsys, "--profile", "sim-bad-key", "ls")
    assert result.code == 3, result.err
    assert "msk_u_not_a_real_key" not in result.err


def test_closed_port_exits_5(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and that nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MIOSA_API_KEY", ADMIN)
    url = f"http://127.0.0.1:{port}/api/v1"
    result = shipdeck(capsys, "--timeout", "3", "--provider", "miosa", "--url", url, "ls", "--json")
    assert result.code == 5, result.err
    assert result.out == ""
    lines = result.err.splitlines()
    assert lines[-1].startswith("shipdeck: error: ") and "could not connect" in lines[-1]
    assert len(lines) == len(set(lines)), "a repeated notice is shown once"
    no_secrets(result)


# -- mutations -----------------------------------------------------------------------------------------


def test_rollback_previews_asks_and_is_audited(
    capsys: pytest.CaptureFixture[str], own: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    dep, versions = rollbackable(capsys)
    active = next(v for v in versions if v["id"] == dep["active_version_id"])
    target = max(
        (v for v in versions if v["state"] == "ready" and v["number"] < active["number"]),
        key=lambda v: v["number"],
    )

    # No terminal and no --yes: refused, nothing sent, nothing audited.
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    refused = shipdeck(capsys, "rollback", dep["name"])
    assert refused.code == 2 and "pass --yes" in refused.err
    assert f"current  v{active['number']}" in refused.err and f"target   v{target['number']}" in refused.err

    # A terminal, and the user says no (the default).
    monkeypatch.setattr("sys.stdin", FakeTerminal("\n"))
    declined = shipdeck(capsys, "rollback", dep["name"], "--reason", "bad deploy")
    assert declined.code == 1 and "[y/N]" in declined.err and "nothing was sent" in declined.err
    assert "reason   bad deploy" in declined.err
    assert audit_records() == []
    assert (
        as_json(shipdeck(capsys, "status", dep["id"], "--json"))["deployment"]["active_version_id"]
        == active["id"]
    )

    # The user says yes.
    monkeypatch.setattr("sys.stdin", FakeTerminal("y\n"))
    done = shipdeck(capsys, "rollback", dep["name"], "--reason", "bad deploy")
    assert done.code == 0, done.err
    assert f"rolled back {dep['name']}: v{active['number']} -> v{target['number']}" in done.out
    status = as_json(shipdeck(capsys, "status", dep["id"], "--json"))
    assert status["deployment"]["active_version_id"] == target["id"]

    intent, outcome = audit_records()
    assert (intent["phase"], intent["action"], intent["reason"]) == ("intent", "rollback", "bad deploy")
    assert intent["idempotency_key"] and outcome["idempotency_key"] == intent["idempotency_key"]
    assert (
        outcome["outcome"] == "ok" and outcome["details"] == {} and intent["details"]["to_id"] == target["id"]
    )
    assert ADMIN not in audit_log_file().read_text()
    no_secrets(refused, declined, done)


def test_rollback_to_a_version_with_yes_and_json(capsys: pytest.CaptureFixture[str], own: SimServer) -> None:
    dep, versions = rollbackable(capsys)
    target = min((v for v in versions if v["state"] == "ready"), key=lambda v: v["number"])
    result = shipdeck(capsys, "rollback", dep["id"], "--to", str(target["number"]), "--yes", "--json")
    data = as_json(result)
    assert data["to_id"] == target["id"] and data["deployment"]["id"] == dep["id"]
    again = shipdeck(capsys, "rollback", dep["id"], "--to", f"v{target['number']}", "--yes")
    assert again.code == 1 and "already active" in again.err


def test_a_version_number_is_ascii_digits_only(capsys: pytest.CaptureFixture[str], own: SimServer) -> None:
    """`--to v٣` (Arabic-Indic three) rolled back to v3: str.isdigit and int() take any Unicode digit."""
    dep, versions = rollbackable(capsys)
    target = min((v for v in versions if v["state"] == "ready"), key=lambda v: v["number"])
    lookalike = "".join(chr(0x0660 + int(d)) for d in str(target["number"]))
    for ref in (f"v{lookalike}", lookalike, "v\uff13"):  # and a fullwidth three
        result = shipdeck(capsys, "rollback", dep["id"], "--to", ref, "--yes")
        assert result.code == 4 and "has no version" in result.err, result  # not found
    assert audit_records() == []
    assert (
        as_json(shipdeck(capsys, "status", dep["id"], "--json"))["deployment"]["active_version_id"]
        == (dep["active_version_id"])
    )


def test_read_only_refuses_before_asking(
    capsys: pytest.CaptureFixture[str], shared: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    dep = deployments(capsys)[0]
    monkeypatch.setattr("sys.stdin", FakeTerminal("y\n"))
    result = shipdeck(capsys, "--read-only", "env", dep["name"], "unset", "SOMETHING")
    assert result.code == 1 and "read-only" in result.err and "[y/N]" not in result.err
    result = shipdeck(capsys, "--read-only", "env", dep["name"], "set", "A=1")
    assert result.code == 1 and "read-only" in result.err
    assert audit_records() == []


def test_a_read_only_key_is_refused_by_the_api(capsys: pytest.CaptureFixture[str], shared: SimServer) -> None:
    dep = deployments(capsys)[0]
    result = shipdeck(capsys, "--profile", "sim-readonly-key", "env", dep["id"], "set", "SHIPDECK_TEST=1")
    assert result.code == 3, result.err
    records = audit_records()
    assert [r["phase"] for r in records] == ["intent", "outcome"] and records[1]["outcome"] == "refused"


def test_promote(capsys: pytest.CaptureFixture[str], own: SimServer) -> None:
    dep, versions = rollbackable(capsys)
    not_active_ready = [v for v in versions if v["state"] == "ready" and v["id"] != dep["active_version_id"]]
    target = not_active_ready[0]
    result = shipdeck(capsys, "promote", dep["name"], target["id"], "--reason", "hotfix back", "--yes")
    assert result.code == 0, result.err
    assert f"promoted {dep['name']}" in result.out and f"-> v{target['number']}" in result.out
    intent = next(r for r in audit_records() if r["phase"] == "intent" and r["action"] == "promote")
    assert intent["reason"] == "hotfix back"  # as a rollback's: why, in the audit log
    status = as_json(shipdeck(capsys, "status", dep["id"], "--json"))
    assert status["deployment"]["active_version_id"] == target["id"]
    not_ready = [v for v in versions if v["state"] != "ready"]
    if not_ready:
        refused = shipdeck(capsys, "promote", dep["name"], not_ready[0]["id"], "--yes", "--json")
        # Refused by the planner before anything is sent: the server is not asked.
        assert refused.code == 1 and refused.out == "" and "nothing was sent" in refused.err


def assert_sent_with_audited_keys(server: SimServer) -> None:
    """Every change reached the server with the idempotency key its audit record names (a resumed
    action can only be recognised by the key that was really sent)."""
    seen = httpx.get(f"{server.root}/_sim/requests", timeout=10).json()["requests"]
    sent = [r["idempotency_key"] for r in seen if r["method"] in ("POST", "PUT", "PATCH", "DELETE")]
    audited = [r["idempotency_key"] for r in audit_records() if r["phase"] == "intent"]
    assert sent and None not in sent
    assert sent == audited


def test_env_get_set_unset(capsys: pytest.CaptureFixture[str], own: SimServer) -> None:
    dep = deployments(capsys)[0]["name"]
    secret_value = "hunter2-do-not-show"
    set_result = shipdeck(capsys, "env", dep, "set", f"SHIPDECK_CLI_TEST={secret_value}", "OTHER=1", "--json")
    changed = as_json(set_result)
    assert {"SHIPDECK_CLI_TEST", "OTHER"} <= {e["name"] for e in changed}
    listing = shipdeck(capsys, "env", dep)
    assert listing.code == 0 and "SHIPDECK_CLI_TEST" in listing.out
    one = as_json(shipdeck(capsys, "env", dep, "get", "OTHER", "--json"))
    assert [e["name"] for e in one] == ["OTHER"]
    missing = shipdeck(capsys, "env", dep, "get", "NOPE_NOT_SET")
    assert missing.code == 4
    removed = shipdeck(capsys, "env", dep, "unset", "SHIPDECK_CLI_TEST", "--yes")
    assert removed.code == 0 and "removed SHIPDECK_CLI_TEST" in removed.out
    assert "SHIPDECK_CLI_TEST" not in shipdeck(capsys, "env", dep).out
    # Several names, the second not there: the first is gone, and the error no longer hides it.
    partly = shipdeck(capsys, "env", dep, "unset", "OTHER", "NOPE_NOT_SET", "--yes")
    assert partly.code != 0 and f"removed OTHER from {dep}" in partly.err, partly
    for output in (set_result, listing, removed):
        assert secret_value not in output.out + output.err
    assert secret_value not in audit_log_file().read_text()


def test_env_shows_a_fixed_mask_whatever_the_value_length(
    capsys: pytest.CaptureFixture[str], own: SimServer
) -> None:
    # The server's preview of a short value is one star per character: '*' told a 1-character value.
    dep = deployments(capsys)[0]["name"]
    assert shipdeck(capsys, "env", dep, "set", "SHORT_ONE=x", "SHORT_TWO=ab").code == 0
    listed = as_json(shipdeck(capsys, "env", dep, "--json"))
    previews = {e["name"]: e["preview"] for e in listed}
    assert previews["SHORT_ONE"] == previews["SHORT_TWO"] == HIDDEN
    table = shipdeck(capsys, "env", dep).out
    rows = [line.split() for line in table.splitlines() if line.startswith("SHORT_")]
    assert [row[:2] for row in rows] == [["SHORT_ONE", HIDDEN], ["SHORT_TWO", HIDDEN]]
    bad = shipdeck(capsys, "env", dep, "set", "not a pair")
    assert bad.code == 2
    assert_sent_with_audited_keys(own)


def test_domains_add_verify_remove(capsys: pytest.CaptureFixture[str], own: SimServer) -> None:
    dep = deployments(capsys)[0]["name"]
    added = shipdeck(capsys, "domains", dep, "add", "cli-test.example.com")
    assert added.code == 0, added.err
    assert "cli-test.example.com" in added.out
    listed = as_json(shipdeck(capsys, "domains", dep, "--json"))
    assert "cli-test.example.com" in [d["name"] for d in listed]
    verified = as_json(shipdeck(capsys, "domains", dep, "verify", "cli-test.example.com", "--json"))
    assert verified["name"] == "cli-test.example.com" and verified["status"] in ("verified", "active")
    assert shipdeck(capsys, "domains", dep, "add", "will-fail.example.com", "--json").code == 0
    failed = shipdeck(capsys, "domains", dep, "verify", "will-fail.example.com")
    assert failed.code == 1 and "failed" in failed.out and "No CNAME record" in failed.out
    removed = shipdeck(capsys, "domains", dep, "rm", "cli-test.example.com", "--yes")
    assert removed.code == 0 and "removed domain cli-test.example.com" in removed.out
    gone = shipdeck(capsys, "domains", dep, "rm", "cli-test.example.com", "--yes")
    assert gone.code == 4
    actions = [r["action"] for r in audit_records() if r["phase"] == "intent"]
    assert actions == ["domain.add", "domain.verify", "domain.add", "domain.verify", "domain.remove"]
    assert_sent_with_audited_keys(own)


def test_publish(capsys: pytest.CaptureFixture[str], own: SimServer, monkeypatch: pytest.MonkeyPatch) -> None:
    dep = deployments(capsys)[0]
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    refused = shipdeck(capsys, "publish", dep["name"], "--sandbox", "sbx_cli")
    assert refused.code == 2 and "pass --yes" in refused.err

    # Miosa's publish has no message: refused by name rather than silently dropped.
    dropped = shipdeck(capsys, "publish", dep["name"], "--sandbox", "sbx_cli", "--message", "cli", "--yes")
    assert dropped.code == 2 and "miosa does not take --message; nothing was sent" in dropped.err
    # Nor an environment its publish has no field for (it went to production, whatever was asked).
    elsewhere = shipdeck(
        capsys, "publish", dep["name"], "--sandbox", "sbx_cli", "--environment", "preview", "--yes"
    )
    assert elsewhere.code == 2 and "publishes into production only" in elsewhere.err, elsewhere.err
    outside = shipdeck(
        capsys, "publish", dep["name"], "--sandbox", "sbx_cli", "--output-path", "../x", "--yes"
    )
    assert outside.code == 2 and "--output-path must stay inside the sandbox" in outside.err

    # What the official SDK sends: the sandbox, its output path and entrypoint.
    staged = as_json(
        shipdeck(
            capsys,
            "publish",
            dep["name"],
            "--sandbox",
            "sbx_cli",
            "--output-path",
            "dist",
            "--entrypoint",
            "index.html",
            "--no-promote",
            "--json",
        )
    )
    assert staged["version"]["state"] in ("created", "building") and staged["promoted"] is False
    assert staged["version"]["metadata"] == {"output_path": "dist", "entrypoint": "index.html"}

    live = shipdeck(
        capsys, "publish", dep["id"], "--sandbox", "sbx_cli", "--yes", "--wait", "--interval", "0.2"
    )
    version_label = live.out.split(" to ")[0].removeprefix("published ")
    final_state = live.out.strip().rsplit(": ", 1)[1]
    assert final_state in ("ready", "failed"), live.out
    assert live.code == (0 if final_state == "ready" else 1)
    intents = [r for r in audit_records() if r["phase"] == "intent"]
    assert [r["action"] for r in intents] == ["publish", "publish"]
    assert (
        intents[0]["details"]["promote"] is False and intents[0]["details"]["source_sandbox_id"] == "sbx_cli"
    )
    if final_state == "ready":
        status = shipdeck(capsys, "status", dep["id"], "--watch", "--until-settled", "--interval", "0.2")
        assert status.code == 0
        assert f"active {version_label}" in status.out.strip().splitlines()[-1]


def test_rollback_to_a_number_two_versions_have_is_refused_naming_both(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server numbering two versions 4: `versions` shows both, and `rollback --to v4` said 'v4 is
    already active; nothing was sent' (it took the active one) instead of asking which is meant."""
    from tests.reliability.hostile_kit import answer, listing, routed, threaded

    monkeypatch.setenv("MIOSA_API_KEY", "msk_u_hostile_test_secret")
    dep = {"id": "dep_dup", "name": "dup-numbers", "status": "running", "active_version_id": "ver_a"}
    versions = [
        {"id": f"ver_{tag}", "deployment_id": "dep_dup", "version_number": n, "status": "ready"}
        for tag, n in (("a", 4), ("b", 4), ("c", 3))
    ]
    server_routes = routed(
        {
            r"/versions$": listing(*versions),
            r"/deployments$": listing(dep),
            r"/deployments/dep_dup$": answer(json.dumps({"data": dep}).encode()),
        }
    )
    with threaded(server_routes) as server:
        url = server.url + "/api/v1"
        result = shipdeck(
            capsys, "--provider", "miosa", "--url", url, "rollback", "dep_dup", "--to", "v4", "--yes"
        )
        sent = [r for r in server.seen if r.method != "GET"]
    assert result.code == 2, result
    assert result.err.strip() == (
        "shipdeck: error: dup-numbers has 2 versions numbered v4 (ver_a, ver_b): name one by its id; "
        "nothing was sent"
    ), result.err
    assert sent == []

"""`shipdeck deploy` on a Miteos profile against a real `shipdeck sim`: the deployment is triggered through
the audit log, --wait follows its stages to live or failed (exit 0 or 1), a test key's sandbox mode is said,
and bad input or a provider without deploys is a one-line error."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.cli.helpers import shipdeck, write_config
from tests.conftest import MITEOS_TOKEN, MIXPEEK_TOKEN
from tests.simproc import SimServer


@pytest.fixture
def miteos(fresh_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    config = f"""\
default_profile = "mt"

[profiles.mt]
provider = "miteos"
base_url = "{fresh_sim.miteos}"
token_env = "SIM_MITEOS_TOKEN"

[profiles.mx]
provider = "mixpeek"
base_url = "{fresh_sim.mixpeek}"
token_env = "SIM_MIXPEEK_TOKEN"
"""
    monkeypatch.setenv("SHIPDECK_CONFIG", str(write_config(tmp_path / "config.toml", config)))
    monkeypatch.setenv("SIM_MITEOS_TOKEN", MITEOS_TOKEN)
    monkeypatch.setenv("SIM_MIXPEEK_TOKEN", MIXPEEK_TOKEN)
    return fresh_sim


def server_deployment(sim: SimServer, deployment_id: str) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {MITEOS_TOKEN}"}
    return dict(httpx.get(f"{sim.miteos}/deployments/{deployment_id}", headers=headers, timeout=10).json())


def test_deploy_wait_follows_the_stages_to_the_end(
    capsys: pytest.CaptureFixture[str], miteos: SimServer
) -> None:
    result = shipdeck(
        capsys, "deploy", "--workspace", "ws_docs_portal", "--target", "netlify", "--wait", "--yes", "--json"
    )
    body = json.loads(result.out)
    dep = body["deployment"]
    server = server_deployment(miteos, dep["id"])
    assert server["status"] == dep["state"] and server["workspace_id"] == "ws_docs_portal"
    assert server["config_id"] == "cfg_netlify_docs"  # taken from the workspace's latest netlify deploy
    assert [stage["status"] for stage in body["stages"]][-1] == dep["state"]
    assert body["stages"][0]["status"] in ("pending", "building")
    assert all(stage["seconds"] is not None for stage in body["stages"][:-1])
    assert body["sandbox"] is True and body["total_seconds"] is not None
    if dep["state"] == "live":
        assert result.code == 0 and "preview" in dep["url"]
    else:
        assert result.code == 1 and dep["state"] == "failed" and dep["error"]


def test_a_failing_configuration_exits_1_with_the_reason(
    capsys: pytest.CaptureFixture[str], miteos: SimServer
) -> None:
    result = shipdeck(
        capsys,
        "deploy",
        "--workspace",
        "ws_edge_api",
        "--target",
        "cloudflare",
        "--config",
        "cfg_fail",
        "--wait",
        "--yes",
    )
    assert result.code == 1, result.err
    lines = result.out.strip().splitlines()
    assert lines[0].startswith("deploying ws_edge_api to cloudflare: dep_") and "sandbox mode" in lines[0]
    assert "pending" in lines[1]
    assert lines[-1].startswith("failed at ") and "s]" in lines[-1]


def test_deploy_without_wait_is_accepted_and_audited(
    capsys: pytest.CaptureFixture[str], miteos: SimServer
) -> None:
    result = shipdeck(
        capsys,
        "deploy",
        "--workspace",
        "ws_marketing_site",
        "--target",
        "vercel",
        "--config",
        "cfg_vercel_prod",
        "--yes",
    )
    assert result.code == 0, result.err
    audit = shipdeck(capsys, "audit", "--json")
    records = json.loads(audit.out)
    assert any(
        r.get("action") == "deploy" and r.get("target") == "ws_marketing_site -> vercel" for r in records
    )


def test_bad_input_and_other_providers_are_one_line_errors(
    capsys: pytest.CaptureFixture[str], miteos: SimServer
) -> None:
    no_target = shipdeck(capsys, "deploy", "--workspace", "ws_docs_portal", "--target", "heroku", "--yes")
    assert no_target.code == 2 and "invalid choice" in no_target.err
    unknown = shipdeck(capsys, "deploy", "--workspace", "ws_nobody", "--target", "expo", "--yes")
    assert unknown.code == 2 and "no --config given" in unknown.err
    refused = shipdeck(capsys, "deploy", "--workspace", "ws_docs_portal", "--target", "netlify")
    assert refused.code == 2 and "pass --yes" in refused.err
    mixpeek = shipdeck(capsys, "--profile", "mx", "deploy", "--workspace", "w", "--target", "expo", "--yes")
    assert mixpeek.code == 2 and "is for Miteos" in mixpeek.err
    for result in (no_target, unknown, refused, mixpeek):
        assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1

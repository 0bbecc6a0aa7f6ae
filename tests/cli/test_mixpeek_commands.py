"""The scriptable commands on a Mixpeek profile against a real `shipdeck sim`: rows per environment,
rollback and promote across environments (previews name the environment), deploy with a required message.
Outcomes are read back from the simulator over HTTP."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipdeck.config.audit import read_audit
from tests.cli.helpers import shipdeck, write_config
from tests.conftest import MIXPEEK_TOKEN
from tests.simproc import SimServer


@pytest.fixture
def mixpeek(fresh_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    config = f"""\
default_profile = "mx"

[profiles.mx]
provider = "mixpeek"
base_url = "{fresh_sim.mixpeek}"
token_env = "SIM_MIXPEEK_TOKEN"
"""
    monkeypatch.setenv("SHIPDECK_CONFIG", str(write_config(tmp_path / "config.toml", config)))
    monkeypatch.setenv("SIM_MIXPEEK_TOKEN", MIXPEEK_TOKEN)
    return fresh_sim


def pointers(sim: SimServer, slug: str) -> dict[str, int | None]:
    apps = httpx.get(sim.mixpeek, headers={"Authorization": f"Bearer {MIXPEEK_TOKEN}"}).json()["results"]
    app: dict[str, Any] = next(a for a in apps if a["slug"] == slug)
    return {name: app["environments"][name]["version"] for name in ("production", "staging")}


def test_ls_lists_each_app_once_per_environment(
    capsys: pytest.CaptureFixture[str], mixpeek: SimServer
) -> None:
    result = shipdeck(capsys, "ls", "--json")
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    storefront = {row["environment"]: row for row in rows if row["slug"] == "storefront"}
    assert set(storefront) == {"production", "staging"}
    expected = pointers(mixpeek, "storefront")
    assert {env: row["active_version_number"] for env, row in storefront.items()} == expected
    human = shipdeck(capsys, "ls")
    assert "Storefront (staging)" in human.out and "Storefront (production)" in human.out
    # The app's build config carries its env values: the JSON masks them, the names stay.
    real = httpx.get(mixpeek.mixpeek, headers={"Authorization": f"Bearer {MIXPEEK_TOKEN}"}).json()["results"]
    values = [v for a in real for v in (a.get("build_config") or {}).get("env_vars", {}).values() if v]
    assert values, "the demo's apps carry env values in their build config"
    assert not [v for v in values if v in result.out], "an env value in ls --json"
    assert '"PUBLIC_API_BASE": "****"' in result.out


def test_rollback_of_a_staging_row_moves_only_staging(
    capsys: pytest.CaptureFixture[str], mixpeek: SimServer
) -> None:
    before = pointers(mixpeek, "storefront")
    assert before["staging"] is not None
    result = shipdeck(capsys, "rollback", "storefront@staging", "--yes")
    assert result.code == 0, result.err
    assert "Roll back Storefront (staging)" in result.err
    assert pointers(mixpeek, "storefront") == {
        "production": before["production"],
        "staging": before["staging"] - 1,
    }


def test_a_staging_rollback_to_a_production_deploy_says_staging_may_never_have_served_it(
    capsys: pytest.CaptureFixture[str], mixpeek: SimServer
) -> None:
    """Versions are numbered per app, so staging's previous number can be a deploy to production. The
    rule stays the vendor's (by number); the preview says what it cannot know."""
    waited = ("--yes", "--wait", "--interval", "0.1")
    into_production = shipdeck(capsys, "publish", "storefront", "--message", "fix: prod only", *waited)
    assert into_production.code == 0, into_production.err
    made_in_production = pointers(mixpeek, "storefront")["production"]
    into_staging = shipdeck(capsys, "publish", "storefront@staging", "--message", "feat: staged", *waited)
    assert into_staging.code == 0, into_staging.err
    assert made_in_production is not None
    assert pointers(mixpeek, "storefront")["staging"] == made_in_production + 1
    back = shipdeck(capsys, "rollback", "storefront@staging", "--yes")
    assert back.code == 0, back.err
    assert f"target   v{made_in_production} " in back.err
    warning = f"⚠ v{made_in_production} was deployed to production, not to staging"
    assert warning in back.err, back.err
    assert pointers(mixpeek, "storefront")["staging"] == made_in_production
    # Production's own rollback: every version may have served production (staging's by promotion).
    production = shipdeck(capsys, "rollback", "storefront", "--yes")
    assert production.code == 0, production.err
    assert "was deployed to" not in production.err, production.err


def test_rollback_by_name_with_environment_staging_previews_moves_and_audits_staging(
    capsys: pytest.CaptureFixture[str], mixpeek: SimServer
) -> None:
    """`rollback Storefront --environment staging`: the name resolves to the production row first; the
    plan must still be staging's (its numbers in the preview, the message and the audit)."""
    before = pointers(mixpeek, "storefront")
    staging = before["staging"]
    assert staging is not None and staging != before["production"]
    result = shipdeck(capsys, "rollback", "Storefront", "--environment", "staging", "--yes")
    assert result.code == 0, result.err
    assert "Roll back Storefront (staging)" in result.err
    assert f"current  v{staging} " in result.err and f"target   v{staging - 1} " in result.err
    assert f"rolled back Storefront (staging): v{staging} -> v{staging - 1}" in result.out
    assert pointers(mixpeek, "storefront") == {"production": before["production"], "staging": staging - 1}
    intent = next(r for r in read_audit() if isinstance(r, dict) and r["phase"] == "intent")
    assert intent["details"]["environment"] == "staging"
    assert (intent["details"]["from"], intent["details"]["to"]) == (f"v{staging}", f"v{staging - 1}")
    assert "@staging" in intent["target"] or "staging" in intent["target"]


def test_promote_from_staging_goes_to_production_unless_told(
    capsys: pytest.CaptureFixture[str], mixpeek: SimServer
) -> None:
    before = pointers(mixpeek, "status-page")
    result = shipdeck(capsys, "promote", "status-page@staging", f"v{before['staging']}", "--yes")
    assert result.code == 0, result.err
    assert "Promote v3 of Status Page (production)" in result.err
    assert f"current  v{before['production']}" in result.err
    assert pointers(mixpeek, "status-page") == {"production": before["staging"], "staging": before["staging"]}
    into_staging = shipdeck(capsys, "promote", "status-page", "v1", "--environment", "staging", "--yes")
    assert into_staging.code == 0, into_staging.err
    assert pointers(mixpeek, "status-page") == {"production": before["staging"], "staging": 1}


def test_publish_needs_a_message_then_deploys_a_bundle(
    capsys: pytest.CaptureFixture[str], mixpeek: SimServer
) -> None:
    before = pointers(mixpeek, "docs-portal")
    refused = shipdeck(capsys, "publish", "docs-portal@staging", "--yes")
    assert refused.code != 0 and "deploy message" in refused.err
    result = shipdeck(capsys, "publish", "docs-portal@staging", "--message", "docs: from the cli", "--yes")
    assert result.code == 0, result.err
    deadline = time.monotonic() + 60
    while pointers(mixpeek, "docs-portal")["staging"] == before["staging"]:
        assert time.monotonic() < deadline, "the deploy never went live in staging"
        time.sleep(0.1)
    assert pointers(mixpeek, "docs-portal")["production"] == before["production"]


def test_publish_wait_follows_the_deploy_to_its_end(
    capsys: pytest.CaptureFixture[str], mixpeek: SimServer
) -> None:
    args = ("--message", "feat: waited for", "--yes", "--wait", "--interval", "0.1")
    result = shipdeck(capsys, "publish", "storefront@staging", *args)
    assert result.code == 0, result.err
    staging = pointers(mixpeek, "storefront")["staging"]
    assert result.out.strip().endswith(f":v{staging} to Storefront: complete")
    # The flaky app fails some builds: --wait says so with exit 1 and the server's reason.
    outcomes = [shipdeck(capsys, "publish", "legacy-portal", *args) for _ in range(4)]
    failed = [r for r in outcomes if r.code == 1]
    assert failed and all("failed (asset upload timed out" in r.out for r in failed)


def sim_calls(sim: SimServer) -> list[str]:
    log = httpx.get(f"{sim.root}/_sim/requests").json()["requests"]
    return [f"{row['method']} {row['path']}" for row in log if row["path"].startswith("/v1/apps")]


def test_versions_show_author_and_time_and_status_works(
    capsys: pytest.CaptureFixture[str], mixpeek: SimServer
) -> None:
    rows = json.loads(shipdeck(capsys, "versions", "storefront", "--json").out)
    assert rows and all(row["author"] and row["created_at"] for row in rows)
    assert all(row["build_duration_ms"] is not None for row in rows)
    human = shipdeck(capsys, "versions", "storefront")
    assert human.code == 0 and rows[0]["author"] in human.out
    status = shipdeck(capsys, "status", "storefront@staging", "--json")
    assert status.code == 0, status.err
    snapshot = json.loads(status.out)
    assert snapshot["latest_run"]["status"] == "complete" and snapshot["active_version"]["author"]
    assert not [call for call in sim_calls(mixpeek) if call.endswith("/deploys")]


def test_promote_of_what_staging_serves_is_the_vendors_promote(
    capsys: pytest.CaptureFixture[str], mixpeek: SimServer
) -> None:
    before = pointers(mixpeek, "storefront")
    result = shipdeck(capsys, "promote", "storefront@staging", f"v{before['staging']}", "--yes")
    assert result.code == 0, result.err
    assert pointers(mixpeek, "storefront") == {"production": before["staging"], "staging": before["staging"]}
    assert [call for call in sim_calls(mixpeek) if call.startswith("POST")] == [
        next(call for call in sim_calls(mixpeek) if call.endswith("/promote"))
    ]


def test_domains_add_verify_list_and_remove_with_the_txt_record(
    capsys: pytest.CaptureFixture[str], mixpeek: SimServer
) -> None:
    added = shipdeck(capsys, "domains", "storefront", "add", "shop.example.com")
    assert added.code == 0, added.err
    assert "_mixpeek-verify.shop.example.com" in added.out and "mixpeek-site-verification=" in added.out
    assert "TXT" in added.out and "CNAME" in added.out
    verified = shipdeck(capsys, "domains", "storefront", "verify", "shop.example.com", "--json")
    assert verified.code == 0 and json.loads(verified.out)["status"] == "verifying"
    deadline = time.monotonic() + 60
    while True:
        listed = json.loads(shipdeck(capsys, "domains", "storefront", "--json").out)
        if listed[0]["status"] == "active":
            break
        assert time.monotonic() < deadline, listed
        time.sleep(0.1)
    assert listed[0]["name"] == "shop.example.com" and listed[0]["verified_at"]
    # The records to create are what --json is asked for: never masked like an env value ("****").
    records = {record["type"]: record["value"] for record in listed[0]["records"]}
    assert records["TXT"].startswith("mixpeek-site-verification="), records
    assert records["CNAME"] and "*" not in records["CNAME"], records
    removed = shipdeck(capsys, "domains", "storefront", "rm", "shop.example.com", "--yes")
    assert removed.code == 0, removed.err
    assert json.loads(shipdeck(capsys, "domains", "storefront", "--json").out) == []


def test_logs_are_the_runtime_log_with_level_and_hours_or_a_deploys_build_log(
    capsys: pytest.CaptureFixture[str], mixpeek: SimServer
) -> None:
    lines = json.loads(
        shipdeck(capsys, "logs", "storefront", "--hours", "24", "--level", "error", "--json").out
    )
    assert lines and all(line["line"].startswith("[error] ") for line in lines)
    human = shipdeck(capsys, "logs", "storefront", "--limit", "5")
    assert human.code == 0 and 0 < len(human.out.splitlines()) <= 5
    apps = httpx.get(mixpeek.mixpeek, headers={"Authorization": f"Bearer {MIXPEEK_TOKEN}"}).json()["results"]
    deploy_id = next(a for a in apps if a["slug"] == "storefront")["environments"]["staging"]["deploy_id"]
    build = shipdeck(capsys, "logs", "storefront@staging", "--build", deploy_id)
    assert (
        build.code == 0
        and "Deploy complete!" in build.out
        and build.out.strip().endswith("-- finished: complete --")
    )
    too_far = shipdeck(capsys, "logs", "storefront", "--hours", "500")
    assert too_far.code == 1 and "hours" in too_far.err and "Traceback" not in too_far.err


def server_versions(sim: SimServer, slug: str) -> tuple[str, dict[int, dict[str, Any]]]:
    headers = {"Authorization": f"Bearer {MIXPEEK_TOKEN}"}
    apps = httpx.get(sim.mixpeek, headers=headers).json()["results"]
    app_id = next(a["app_id"] for a in apps if a["slug"] == slug)
    listed = httpx.get(f"{sim.mixpeek}/{app_id}/versions", headers=headers).json()["versions"]
    return app_id, {int(v["version"]): v for v in listed}


def test_promote_preview_shows_what_changes(capsys: pytest.CaptureFixture[str], mixpeek: SimServer) -> None:
    """The preview (printed before asking, also with --yes) lists version, message, author and the source
    files that differ; the changed files are those the vendor's own diff endpoint names."""
    before = pointers(mixpeek, "status-page")
    staging, production = before["staging"], before["production"]
    assert staging is not None and production is not None and staging != production
    app_id, versions = server_versions(mixpeek, "status-page")
    old, new = versions[production], versions[staging]
    assert old["source_files"] and new["source_files"], "the seed's versions carry source files"
    result = shipdeck(capsys, "promote", "status-page@staging", f"v{staging}", "--yes")
    assert result.code == 0, result.err
    preview = result.err
    assert "  changes:\n" in preview
    assert f"version  v{production} -> v{staging}" in preview
    assert f"message  {old['message']} -> {new['message']}" in preview
    if old["deployed_by"] == new["deployed_by"]:
        assert f"author   {new['deployed_by']} (unchanged)" in preview
    else:
        assert f"author   {old['deployed_by']} -> {new['deployed_by']}" in preview
    headers = {"Authorization": f"Bearer {MIXPEEK_TOKEN}"}
    vendor = httpx.get(f"{mixpeek.mixpeek}/{app_id}/versions/{production}/diff/{staging}", headers=headers)
    changed = sorted(vendor.json()["source_diff"])
    assert changed, "the two versions' sources differ"
    for path in changed:
        assert f"~ {path} (+" in preview or f"+ {path}" in preview or f"- {path}" in preview
    assert f"files    0 added, {len(changed)} modified, 0 removed" in preview
    # The preview comes before the change: the server moved only after it was printed.
    assert pointers(mixpeek, "status-page")["production"] == staging

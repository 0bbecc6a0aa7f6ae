"""Contract tests of the simulator's Mixpeek Apps surface (``/v1/apps``), over real HTTP.

(``test_mixpeek_sdk.py`` drives the same surface with the official SDK.) What they pin down: the SDK's shapes
and error envelope, 401 / 404 / 422, the upload -> verify -> deploy
workflow, deploy outcomes (a bundle without index.html fails with ``error`` set), restore semantics (an
environment points at an existing version; nothing else moves), the legacy rollback, idempotent replays,
and build logs over SSE that replay every line on reconnect.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import MIXPEEK_TOKEN
from tests.simproc import SimServer, running_sim

SITE = {"index.html": "<h1>hello</h1>", "assets/app.js": "console.log('hi')"}


def make_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return buffer.getvalue()


@pytest.fixture
def api(fresh_sim: SimServer) -> Iterator[httpx.Client]:
    with client_for(fresh_sim) as client:
        yield client


def client_for(server: SimServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.mixpeek, headers={"Authorization": f"Bearer {MIXPEEK_TOKEN}"}, timeout=10.0
    )


def root_of(client: httpx.Client) -> str:
    """``/v1/apps`` itself (httpx would add a trailing slash to an empty relative path)."""
    return str(client.base_url).rstrip("/")


def apps_by_slug(client: httpx.Client) -> dict[str, dict[str, Any]]:
    response = client.get(root_of(client))
    assert response.status_code == 200, response.text
    return {app["slug"]: app for app in response.json()["results"]}


def upload(client: httpx.Client, app_id: str, bundle: bytes) -> str:
    answer = client.post(f"/{app_id}/deploy/upload-url", json={"filename": "site.zip"})
    assert answer.status_code == 200, answer.text
    ticket = answer.json()
    assert ticket["expires_in"] > 0 and ticket["bundle_s3_key"].startswith(f"app-builds/{app_id}/")
    put = httpx.put(ticket["upload_url"], content=bundle, headers={"Content-Type": "application/zip"})
    assert put.status_code == 200, put.text
    assert put.headers["etag"] == f'"{hashlib.md5(bundle).hexdigest()}"'
    return str(ticket["bundle_s3_key"])


def deploy(
    client: httpx.Client, app_id: str, bundle: bytes, environment: str, message: str
) -> dict[str, Any]:
    key = upload(client, app_id, bundle)
    answer = client.post(
        f"/{app_id}/deploy", json={"message": message, "environment": environment, "bundle_s3_key": key}
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def wait_terminal(client: httpx.Client, app_id: str, deploy_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/{app_id}/deploys/{deploy_id}").json()
        if status["status"] in ("complete", "failed"):
            return dict(status)
        time.sleep(0.05)
    raise AssertionError(f"deploy {deploy_id} did not finish in {timeout}s")


def read_log_stream(
    client: httpx.Client, app_id: str, deploy_id: str, *, max_lines: int | None = None
) -> list[Any]:
    """The frames of one connection: dicts for lines, the string "done" for the end frame."""
    frames: list[Any] = []
    event = None
    with client.stream("GET", f"/{app_id}/deploys/{deploy_id}/logs/stream") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for raw in response.iter_lines():
            if raw.startswith("event:"):
                event = raw.split(":", 1)[1].strip()
            elif raw.startswith("data:"):
                payload = json.loads(raw.split(":", 1)[1])
                frames.append("done" if event == "done" else payload)
                if event == "done" or (max_lines is not None and len(frames) >= max_lines):
                    return frames
                event = None
    return frames


def env_version(client: httpx.Client, app_id: str, environment: str) -> int | None:
    app = client.get(f"/{app_id}").json()
    version = app["environments"][environment]["version"]
    return None if version is None else int(version)


# --------------------------------------------------------------------------------------------------- reads


def deploy_status(client: httpx.Client, app_id: str, deploy_id: str) -> dict[str, Any]:
    answer = client.get(f"/{app_id}/deploys/{deploy_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def live_in(client: httpx.Client, app_id: str, number: int) -> list[str]:
    active = client.get(f"/{app_id}/versions/{number}").json()["is_active"]
    return sorted(env for env, on in active.items() if on)


def test_demo_seed_has_apps_with_staging_and_production_histories(sim: SimServer) -> None:
    with client_for(sim) as client:
        body = client.get(root_of(client)).json()
        assert body["max_apps"] is None and body["total_count"] >= 3
        with_both = [
            app
            for app in body["results"]
            if all(app["environments"][env]["version"] is not None for env in ("production", "staging"))
        ]
        assert len(with_both) >= 3
        for app in with_both:
            versions = client.get(f"/{app['app_id']}/versions").json()["versions"]
            numbers = [v["version"] for v in versions]
            assert numbers == sorted(numbers, reverse=True) and len(numbers) >= 3
            for environment, pointer in app["environments"].items():
                assert environment in live_in(client, app["app_id"], pointer["version"])
                served = deploy_status(client, app["app_id"], pointer["deploy_id"])
                assert served["status"] == "complete" and served["environment"] == environment
            assert app["environments"]["staging"]["url"] == f"https://staging-{app['slug']}.mxp.co"


def test_list_pages_with_limit_and_offset(sim: SimServer) -> None:
    with client_for(sim) as client:
        everything = [app["app_id"] for app in client.get(root_of(client)).json()["results"]]
        first = client.get(root_of(client), params={"limit": 2}).json()
        rest = client.get(root_of(client), params={"limit": 1000, "offset": 2}).json()
        assert [a["app_id"] for a in first["results"] + rest["results"]] == everything
        assert first["total_count"] == len(everything)


def test_missing_or_foreign_token_is_401_in_the_mixpeek_envelope(sim: SimServer) -> None:
    for headers in ({}, {"Authorization": "Bearer sk_wrong"}, {"Authorization": "Bearer msk_u_demo_admin"}):
        answer = httpx.get(sim.mixpeek, headers=headers)
        assert answer.status_code == 401
        body = answer.json()
        assert body["success"] is False and body["status"] == 401 and body["error"]["message"]
        assert body["error"]["type"] == "UnauthorizedError"


def test_unknown_resources_are_404(sim: SimServer) -> None:
    with client_for(sim) as client:
        app_id = apps_by_slug(client)["storefront"]["app_id"]
        for path in (
            "/app_nope",
            f"/{app_id}/deploys/dep_nope",
            f"/{app_id}/versions/999",
            "/app_nope/versions",
        ):
            answer = client.get(path)
            assert answer.status_code == 404, path
            error = answer.json()["error"]
            assert error["type"] == "NotFoundError" and error["details"]["resource"] in (
                "app",
                "deploy",
                "version",
            )
        restore = client.post(f"/{app_id}/versions/999/restore", json={"environment": "staging"})
        assert restore.status_code == 404


def test_validation_errors_are_422(sim: SimServer) -> None:
    with client_for(sim) as client:
        app_id = apps_by_slug(client)["storefront"]["app_id"]
        key = upload(client, app_id, make_zip(SITE))
        cases: list[tuple[str, dict[str, Any], str]] = [
            (f"/{app_id}/deploy", {"message": "  ", "bundle_s3_key": key}, "message"),
            (f"/{app_id}/deploy", {"message": "x", "bundle_s3_key": key, "environment": "qa"}, "environment"),
            (f"/{app_id}/deploy", {"message": "x", "environment": "staging"}, "bundle_s3_key"),
            (f"/{app_id}/versions/1/restore", {"environment": "preview"}, "environment"),
            (f"/{app_id}/versions/one/restore", {"environment": "staging"}, "version"),
        ]
        for path, body, field in cases:
            answer = client.post(path, json=body)
            assert answer.status_code == 422, (path, body, answer.text)
            error = answer.json()
            assert error["success"] is False and error["status"] == 422
            assert error["error"]["type"] == "ValidationError" and error["error"]["details"]["field"] == field
        assert client.get(root_of(client), params={"limit": 0}).status_code == 422
        not_json = client.post(
            f"/{app_id}/deploy", content=b"{", headers={"Content-Type": "application/json"}
        )
        assert not_json.status_code == 400


# --------------------------------------------------------------------------------------------------- deploys


def test_deploy_to_staging_creates_the_next_version_and_moves_only_staging(api: httpx.Client) -> None:
    app = apps_by_slug(api)["storefront"]
    app_id = app["app_id"]
    before_versions = api.get(f"/{app_id}/versions").json()["versions"]
    production_before = env_version(api, app_id, "production")
    bundle = make_zip(SITE)
    key = upload(api, app_id, bundle)
    verified = api.post(f"/{app_id}/deploy/verify-upload", json={"bundle_s3_key": key}).json()
    assert verified["exists"] is True and verified["size_bytes"] == len(bundle)
    assert verified["etag"] == f'"{hashlib.md5(bundle).hexdigest()}"'
    accepted = api.post(
        f"/{app_id}/deploy",
        json={"message": "feat: staging candidate", "environment": "staging", "bundle_s3_key": key},
    ).json()
    assert accepted["status"] == "queued" and accepted["environment"] == "staging"
    assert accepted["message"] == "feat: staging candidate"
    final = wait_terminal(api, app_id, accepted["deploy_id"])
    assert final["status"] == "complete" and final["error"] is None, final
    assert final["smoke_test"]["passed"] is True and final["bundle_s3_key"] == key
    expected = before_versions[0]["version"] + 1
    assert env_version(api, app_id, "staging") == expected
    assert env_version(api, app_id, "production") == production_before
    newest = api.get(f"/{app_id}/versions/{expected}").json()
    assert newest["message"] == "feat: staging candidate" and live_in(api, app_id, expected) == ["staging"]
    assert newest["deployed_by"].startswith("api-key:") and newest["build_duration_ms"] > 0
    assert api.get(f"/{app_id}").json()["environments"]["staging"]["deploy_id"] == accepted["deploy_id"]
    frames = read_log_stream(api, app_id, accepted["deploy_id"])
    lines = [frame["line"] for frame in frames[:-1]]
    assert frames[-1] == "done"
    assert lines[:3] == [
        "Downloading bundle from S3...",
        "Extracting bundle...",
        "Validating bundle (index.html, size)...",
    ]
    assert lines[-1] == "Deploy complete!"
    assert all(isinstance(frame["ts"], float) for frame in frames[:-1])


def test_bundle_in_a_single_top_level_folder_is_found(api: httpx.Client) -> None:
    app_id = apps_by_slug(api)["docs-portal"]["app_id"]
    nested = make_zip({f"dist/{path}": text for path, text in SITE.items()})
    accepted = deploy(api, app_id, nested, "production", "build: nested dist folder")
    assert wait_terminal(api, app_id, accepted["deploy_id"])["status"] == "complete"


def test_bundle_without_index_html_fails_with_error_and_moves_nothing(api: httpx.Client) -> None:
    app_id = apps_by_slug(api)["status-page"]["app_id"]
    versions_before = api.get(f"/{app_id}/versions").json()["total"]
    staging_before = env_version(api, app_id, "staging")
    accepted = deploy(api, app_id, make_zip({"main.js": "1"}), "staging", "oops: forgot the entry point")
    final = wait_terminal(api, app_id, accepted["deploy_id"])
    assert final["status"] == "failed" and "index.html" in final["error"]
    assert api.get(f"/{app_id}/versions").json()["total"] == versions_before
    assert env_version(api, app_id, "staging") == staging_before
    frames = read_log_stream(api, app_id, accepted["deploy_id"])
    assert frames[-1] == "done" and frames[-2]["line"].startswith("Deploy failed: ")


def test_deploy_of_a_bundle_never_uploaded_is_404(api: httpx.Client) -> None:
    app_id = apps_by_slug(api)["storefront"]["app_id"]
    answer = api.post(
        f"/{app_id}/deploy",
        json={"message": "x", "environment": "staging", "bundle_s3_key": "app-builds/x/y.zip"},
    )
    assert answer.status_code == 404 and answer.json()["error"]["details"]["resource"] == "bundle"


def test_upload_url_is_signed(api: httpx.Client) -> None:
    app_id = apps_by_slug(api)["storefront"]["app_id"]
    ticket = api.post(f"/{app_id}/deploy/upload-url", json={"filename": "site.zip"}).json()
    forged = ticket["upload_url"].replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert httpx.put(forged, content=b"zip").status_code == 403
    other_key = ticket["upload_url"].replace("site.zip", "other.zip")
    assert httpx.put(other_key, content=b"zip").status_code == 403
    too_big = httpx.put(ticket["upload_url"], content=b"0" * (20 * 1024 * 1024 + 1))
    assert too_big.status_code == 400 and b"EntityTooLarge" in too_big.content
    missing = api.post(f"/{app_id}/deploy/verify-upload", json={"bundle_s3_key": ticket["bundle_s3_key"]})
    assert missing.json()["exists"] is False


def test_flaky_app_fails_some_builds_deterministically_from_the_rng(tmp_path: Path) -> None:
    outcomes: list[list[str]] = []
    for run in range(2):
        with (
            running_sim(db_path=tmp_path / f"run{run}.db", speed=200.0) as server,
            client_for(server) as client,
        ):
            app_id = apps_by_slug(client)["legacy-portal"]["app_id"]
            ids = [
                deploy(client, app_id, make_zip(SITE), "production", f"try {n}")["deploy_id"]
                for n in range(6)
            ]
            outcomes.append([wait_terminal(client, app_id, deploy_id)["status"] for deploy_id in ids])
    assert outcomes[0] == outcomes[1]
    assert {"complete", "failed"} <= set(outcomes[0])


# --------------------------------------------------------------------------------------------------- restore


def test_restore_points_one_environment_at_an_existing_version(api: httpx.Client) -> None:
    app_id = apps_by_slug(api)["storefront"]["app_id"]
    versions_before = api.get(f"/{app_id}/versions").json()["total"]
    staging_before = env_version(api, app_id, "staging")
    answer = api.post(f"/{app_id}/versions/2/restore", json={"environment": "production"})
    assert answer.status_code == 200, answer.text
    restored = answer.json()
    assert {k: restored[k] for k in ("app_id", "version", "environment")} == {
        "app_id": app_id,
        "version": 2,
        "environment": "production",
    }
    assert restored["asset_prefix"] == api.get(f"/{app_id}/versions/2").json()["asset_prefix"]
    assert env_version(api, app_id, "production") == 2
    assert env_version(api, app_id, "staging") == staging_before
    assert api.get(f"/{app_id}/versions").json()["total"] == versions_before
    record = deploy_status(api, app_id, restored["deploy_id"])
    assert record["status"] == "complete" and record["source"] == "restore"
    assert "production" in live_in(api, app_id, 2)
    assert api.get(f"/{app_id}").json()["environments"]["production"]["deploy_id"] == restored["deploy_id"]
    # Restore with no body defaults to production (documented default).
    assert api.post(f"/{app_id}/versions/3/restore").json()["environment"] == "production"
    assert env_version(api, app_id, "production") == 3


def test_restore_with_the_same_idempotency_key_is_replayed_not_repeated(api: httpx.Client) -> None:
    app_id = apps_by_slug(api)["docs-portal"]["app_id"]
    headers = {"Idempotency-Key": "restore-once"}
    first = api.post(f"/{app_id}/versions/1/restore", json={"environment": "staging"}, headers=headers)
    again = api.post(f"/{app_id}/versions/1/restore", json={"environment": "staging"}, headers=headers)
    assert again.headers.get("idempotency-replayed") == "true"
    assert again.json() == first.json()
    assert api.get(f"/{app_id}").json()["environments"]["staging"]["deploy_id"] == first.json()["deploy_id"]
    production_before = env_version(api, app_id, "production")
    mismatch = api.post(f"/{app_id}/versions/1/restore", json={"environment": "production"}, headers=headers)
    assert mismatch.status_code == 409 and mismatch.json()["error"]["type"] == "ConflictError"
    assert env_version(api, app_id, "staging") == 1
    assert env_version(api, app_id, "production") == production_before


def test_legacy_rollback_moves_production_back_one_version_and_answers_the_app(api: httpx.Client) -> None:
    app = apps_by_slug(api)["storefront"]
    app_id = app["app_id"]
    production = env_version(api, app_id, "production")
    staging = env_version(api, app_id, "staging")
    assert production is not None and production > 1
    answer = api.post(f"/{app_id}/rollback")
    assert answer.status_code == 200
    body = answer.json()
    assert body["app_id"] == app_id and body["environments"]["production"]["version"] == production - 1
    assert env_version(api, app_id, "staging") == staging


def test_diff_between_versions_lists_changed_files(sim: SimServer) -> None:
    with client_for(sim) as client:
        app_id = apps_by_slug(client)["storefront"]["app_id"]
        diff = client.get(f"/{app_id}/versions/1/diff/2").json()
        assert diff["from_version"] == 1 and diff["to_version"] == 2
        by_path = {f["path"]: f for f in diff["files"]}
        assert by_path["assets/app.js"]["status"] == "modified"
        assert by_path["assets/chunk-2.js"]["status"] == "added"
        assert diff["summary"]["added"] == sum(f["status"] == "added" for f in diff["files"])
        assert diff["summary"]["unchanged"] >= 1
        assert "src/App.jsx" in diff["source_diff"]
        download = client.get(f"/{app_id}/versions/2/download").json()
        bundle = httpx.get(download["download_url"]).content
        with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
            assert "assets/chunk-2.js" in archive.namelist()


# --------------------------------------------------------------------------------------------------- SSE


def test_build_log_stream_replays_every_line_on_reconnect(tmp_path: Path) -> None:
    # Slow simulated time, so the deploy is still building while the first connection reads.
    with running_sim(db_path=tmp_path / "slow.db", speed=4.0) as server, client_for(server) as client:
        app_id = apps_by_slug(client)["storefront"]["app_id"]
        accepted = deploy(client, app_id, make_zip(SITE), "staging", "feat: watched build")
        first = read_log_stream(client, app_id, accepted["deploy_id"], max_lines=2)
        assert client.get(f"/{app_id}/deploys/{accepted['deploy_id']}").json()["status"] in (
            "queued",
            "building",
        )
        second = read_log_stream(client, app_id, accepted["deploy_id"])
        assert second[: len(first)] == first
        assert second[-1] == "done" and second[-2]["line"] == "Deploy complete!"
        third = read_log_stream(client, app_id, accepted["deploy_id"])
        assert third == second


def test_a_deploy_in_progress_finishes_after_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "restart.db"
    with running_sim(db_path=db, speed=2.0) as server, client_for(server) as client:
        app_id = apps_by_slug(client)["status-page"]["app_id"]
        accepted = deploy(client, app_id, make_zip(SITE), "staging", "feat: survives a restart")
        read_log_stream(client, app_id, accepted["deploy_id"], max_lines=1)
    with running_sim(db_path=db, speed=50.0) as server, client_for(server) as client:
        final = wait_terminal(client, app_id, accepted["deploy_id"])
        assert final["status"] == "complete"
        lines = [frame["line"] for frame in read_log_stream(client, app_id, accepted["deploy_id"])[:-1]]
        assert lines.count("Downloading bundle from S3...") == 1 and lines[-1] == "Deploy complete!"
        served = client.get(f"/{app_id}").json()["environments"]["staging"]
        assert served["deploy_id"] == accepted["deploy_id"] and served["version"] is not None

"""The official Mixpeek Python SDK (``mixpeek==1.3.783``, its ``AppsApi``) drives every Apps call the console
and the CLI use against the simulator: each answer must parse into the SDK's own model classes and behave as
the SDK documents (promote copies staging to production, a domain is verified through its TXT record, ...).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mixpeek import (
    AddDomainRequest,
    ApiClient,
    ApiException,
    AppsApi,
    Configuration,
    DeployRequest,
    PublishAppRequest,
    RestoreVersionRequest,
    UploadUrlRequest,
    VerifyUploadRequest,
    VersionRecord,
)

from tests.conftest import MIXPEEK_TOKEN
from tests.sim.helpers import wait_for
from tests.simproc import SimServer


def sdk_for(server: SimServer) -> Iterator[AppsApi]:
    config = Configuration(host=server.root, access_token=MIXPEEK_TOKEN)
    with ApiClient(config) as client:
        yield AppsApi(client)


@pytest.fixture
def sdk(sim: SimServer) -> Iterator[AppsApi]:
    yield from sdk_for(sim)


@pytest.fixture
def fresh_sdk(fresh_sim: SimServer) -> Iterator[AppsApi]:
    yield from sdk_for(fresh_sim)


def site_zip(title: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.html", f"<h1>{title}</h1>")
        archive.writestr("assets/app.js", "console.log(1)")
    return buffer.getvalue()


def app_id_of(sdk: AppsApi, slug: str) -> str:
    listed = sdk.list_apps(slug=slug)
    assert listed.total_count == 1, listed
    return str(listed.results[0].app_id)


def serving(sdk: AppsApi, app_id: str, environment: str) -> int | None:
    pointer = sdk.get_app(app_id).environments[environment]
    return None if pointer["version"] is None else int(pointer["version"])


def deploy_and_wait(sdk: AppsApi, app_id: str, environment: str, message: str) -> Any:
    ticket = sdk.get_upload_url_apps_id_deploy(app_id, UploadUrlRequest(filename="site.zip"))
    put = httpx.put(ticket.upload_url, content=site_zip(message), headers={"Content-Type": "application/zip"})
    assert put.status_code == 200
    verified = sdk.verify_upload_apps_id_deploy(
        app_id, VerifyUploadRequest(bundle_s3_key=ticket.bundle_s3_key)
    )
    assert verified.exists is True and verified.size_bytes
    accepted = sdk.deploy_app(
        app_id,
        DeployRequest(environment=environment, message=message, bundle_s3_key=ticket.bundle_s3_key),
    )
    assert accepted.status == "queued" and accepted.environment == environment
    return wait_for(
        lambda: (
            status
            if (status := sdk.get_deploy_status_apps(app_id, accepted.deploy_id)).status
            in ("complete", "failed")
            else None
        )
    )


# --------------------------------------------------------------------------------------------------- reads


def test_list_and_get_apps_parse_as_the_sdk_defines_them(sdk: AppsApi) -> None:
    listed = sdk.list_apps(limit=1000)
    assert listed.total_count == len(listed.results) >= 4 and listed.max_apps is None
    slugs = {app.slug for app in listed.results}
    assert {"storefront", "docs-portal", "status-page", "legacy-portal"} <= slugs
    first = sdk.list_apps(limit=2)
    rest = sdk.list_apps(limit=1000, offset=2)
    assert [a.app_id for a in first.results + rest.results] == [a.app_id for a in listed.results]
    assert [a.slug for a in sdk.list_apps(search="PORTAL").results] == ["docs-portal", "legacy-portal"]
    app = sdk.get_app(app_id_of(sdk, "storefront"))
    assert app.meta.title == "Storefront" and app.is_active and app.url == "https://storefront.mxp.co"
    assert app.version == len(app.versions or []) and app.custom_domains == []
    for environment in ("production", "staging"):
        pointer = app.environments[environment]
        assert pointer["deploy_id"] and pointer["asset_prefix"] and pointer["version"]


def test_versions_carry_who_when_and_how_long(sdk: AppsApi) -> None:
    app_id = app_id_of(sdk, "storefront")
    history = sdk.list_versions_apps(app_id)
    records = [VersionRecord.from_dict(raw) for raw in history.versions]
    assert history.total == len(records) >= 6
    numbers = [r.version for r in records if r is not None and r.version is not None]
    assert numbers == sorted(numbers, reverse=True)
    for record in records:
        assert record is not None and record.deployed_by and record.deployed_at is not None
        assert record.build_duration_ms is not None and record.build_duration_ms > 0
        assert record.message and record.environment in ("production", "staging")
        assert record.source_files and record.asset_manifest
    production = serving(sdk, app_id, "production")
    assert production is not None
    detail = sdk.get_version_apps(app_id, production)
    assert detail.version == production and detail.is_active is not None
    assert detail.is_active["production"] is True
    assert detail.asset_manifest is not None and "index.html" in detail.asset_manifest


def test_deploy_status_by_id_and_its_log_stream(sdk: AppsApi) -> None:
    app_id = app_id_of(sdk, "storefront")
    deploy_id = sdk.get_app(app_id).environments["staging"]["deploy_id"]
    status = sdk.get_deploy_status_apps(app_id, deploy_id)
    assert status.deploy_id == deploy_id and status.status == "complete"
    assert status.environment == "staging" and status.queued_at and status.queued_by
    stream = sdk.stream_deploy_logs_apps(app_id, deploy_id)
    assert isinstance(stream, str) and "Deploy complete!" in stream and "event: done" in stream
    with pytest.raises(ApiException) as missing:
        sdk.get_deploy_status_apps(app_id, "dep_nope")
    assert missing.value.status == 404


def test_runtime_logs_filter_by_level_and_refuse_an_unknown_log_type(sdk: AppsApi) -> None:
    app_id = app_id_of(sdk, "storefront")
    runtime = sdk.get_app_logs(app_id, log_type="runtime", hours=24, limit=50)
    assert runtime.app_id == app_id and runtime.log_type == "runtime"
    assert runtime.results and runtime.results == runtime.entries and len(runtime.results) <= 50
    stamps = [entry["timestamp"] for entry in runtime.results]
    assert stamps == sorted(stamps, reverse=True)
    errors = sdk.get_app_logs(app_id, log_type="runtime", hours=24, level="error").results
    assert errors and {entry["level"] for entry in errors} == {"error"}
    with pytest.raises(ApiException) as singular:
        sdk.get_app_logs(app_id, log_type="request")
    assert singular.value.status == 422 and "runtime, requests" in str(singular.value.body)


# --------------------------------------------------------------------------------------------------- changes


def test_deploy_restore_promote_rollback_and_publish(fresh_sdk: AppsApi) -> None:
    sdk = fresh_sdk
    app_id = app_id_of(sdk, "status-page")
    before = sdk.list_versions_apps(app_id).total
    production_before = serving(sdk, app_id, "production")
    final = deploy_and_wait(sdk, app_id, "staging", "feat: from the official SDK")
    assert final.status == "complete" and final.error is None and final.smoke_test.passed
    assert serving(sdk, app_id, "staging") == before + 1
    assert serving(sdk, app_id, "production") == production_before
    newest = VersionRecord.from_dict(sdk.list_versions_apps(app_id).versions[0])
    assert (
        newest is not None
        and newest.version == before + 1
        and newest.message == "feat: from the official SDK"
    )

    restored = sdk.restore_version_apps(app_id, 1, RestoreVersionRequest(environment="production"))
    assert (restored.version, restored.environment) == (1, "production")
    assert serving(sdk, app_id, "production") == 1

    promoted = sdk.promote_app(app_id)
    staging = sdk.get_app(app_id).environments["staging"]
    assert promoted.environment == "production" and promoted.version == before + 1
    assert promoted.asset_prefix == staging["asset_prefix"]
    assert serving(sdk, app_id, "production") == before + 1

    rolled = sdk.rollback_app(app_id)
    assert rolled.environments["production"]["version"] == before
    assert serving(sdk, app_id, "staging") == before + 1

    published = sdk.publish_app(app_id, PublishAppRequest(message="config: new theme"))
    assert published.version == before + 2
    assert published.environments["production"]["version"] == before + 2
    snapshot = sdk.get_version_apps(app_id, before + 2)
    assert snapshot.message == "config: new theme" and snapshot.is_active == {
        "production": True,
        "staging": False,
    }


def test_a_failed_deploy_says_why(fresh_sdk: AppsApi) -> None:
    app_id = app_id_of(fresh_sdk, "docs-portal")
    ticket = fresh_sdk.get_upload_url_apps_id_deploy(app_id, UploadUrlRequest(filename="broken.zip"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("main.js", "1")
    httpx.put(ticket.upload_url, content=buffer.getvalue())
    accepted = fresh_sdk.deploy_app(
        app_id, DeployRequest(environment="staging", bundle_s3_key=ticket.bundle_s3_key)
    )
    assert accepted.message == "Deploy via bundle upload"  # the SDK's default message
    final = wait_for(
        lambda: (
            s
            if (s := fresh_sdk.get_deploy_status_apps(app_id, accepted.deploy_id)).status == "failed"
            else None
        )
    )
    assert final.error and "index.html" in final.error


def test_custom_domains_are_verified_through_their_txt_record(fresh_sdk: AppsApi) -> None:
    sdk = fresh_sdk
    app_id = app_id_of(sdk, "storefront")
    added = sdk.add_domain_apps(app_id, AddDomainRequest(domain="search.acme.com", is_primary=True))
    assert added.status == "pending" and added.verification_token and added.cname_target
    assert added.is_primary and added.verified_at is None
    doomed = sdk.add_domain_apps(app_id, AddDomainRequest(domain="fail.acme.com"))
    listed = sdk.list_domains_apps(app_id)
    assert listed.total == 2 and [d.domain for d in listed.domains] == ["search.acme.com", "fail.acme.com"]
    with pytest.raises(ApiException) as twice:
        sdk.add_domain_apps(app_id, AddDomainRequest(domain="search.acme.com"))
    assert twice.value.status == 409

    assert sdk.verify_domain_apps(app_id, "search.acme.com").status == "verifying"
    assert sdk.verify_domain_apps(app_id, doomed.domain).status == "verifying"
    active = wait_for(
        lambda: d if (d := sdk.verify_domain_apps(app_id, "search.acme.com")).status == "active" else None
    )
    assert active.verified_at and active.verification_token == added.verification_token
    app = sdk.get_app(app_id)
    by_name = {d.domain: d for d in app.custom_domains}
    assert by_name["search.acme.com"].status == "active" and by_name["fail.acme.com"].status == "verifying"

    removed = sdk.delete_domain_apps(app_id, "fail.acme.com")
    assert removed.success is True
    assert [d.domain for d in sdk.list_domains_apps(app_id).domains] == ["search.acme.com"]
    with pytest.raises(ApiException) as gone:
        sdk.delete_domain_apps(app_id, "fail.acme.com")
    assert gone.value.status == 404


def test_keys_outside_a_request_model_are_refused_naming_the_accepted_keys(sim: SimServer) -> None:
    headers = {"Authorization": f"Bearer {MIXPEEK_TOKEN}"}
    with httpx.Client(base_url=sim.mixpeek, headers=headers) as http:
        app_id = http.get(sim.mixpeek, params={"slug": "storefront"}).json()["results"][0]["app_id"]
        cases: list[tuple[str, dict[str, Any], str]] = [
            (f"/{app_id}/versions/1/restore", {"environment": "staging", "force": True}, "environment"),
            (f"/{app_id}/deploy", {"message": "m", "bundle_s3_key": "k", "branch": "main"}, "bundle_s3_key"),
            (f"/{app_id}/domains", {"domain": "x.acme.com", "primary": True}, "is_primary"),
            (f"/{app_id}/publish", {"message": "m", "notes": "n"}, "message"),
            (f"/{app_id}/promote", {"environment": "production"}, "none"),
        ]
        for path, body, accepted in cases:
            answer = http.post(path, json=body)
            assert answer.status_code == 422, (path, answer.text)
            error = answer.json()["error"]
            assert error["code"] == "extra_forbidden" and accepted in error["message"], error
            assert set(error["details"]["extra"]) == set(body) - set(error["details"]["accepted"])

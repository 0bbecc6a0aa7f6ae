"""Mixpeek Apps (``/v1/apps``): apps with a staging and a production environment, deploys, versions, restore.

How Mixpeek maps onto the provider-neutral model (house decision):

* one :class:`Deployment` per app per environment, ``id = "<app_id>@<environment>"``, named after the app;
  its active version is the one that environment serves;
* a version is ``<app_id>:v<n>`` (versions belong to the app; both rows list the same ones), always ``ready``
  (Mixpeek records a version only when a deploy completes);
* a deploy is a :class:`PipelineRun` ``queued -> building -> complete | failed`` and its build log is an SSE
  stream that replays from the first line on every connection (the frame index dedupes a reconnect);
* rollback restores the version before the active one into THAT environment; promote restores a version into
  production by default (or the given environment): both are ``POST /versions/{n}/restore``;
* publish is a deploy: a small generated bundle is uploaded through the presigned URL, verified, then
  deployed with the required message.

No domains, env vars, tasks or tenant event stream through this surface (Capabilities says so): Mixpeek
keeps env vars in the app's ``build_config``, edited as a draft in its dashboard.
"""

from __future__ import annotations

import html
import io
import json
import zipfile
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
from httpx_sse import ServerSentEvent

from shipdeck.api.base import new_idempotency_key
from shipdeck.api.common import HttpAdapter
from shipdeck.api.errors import (
    ApiError,
    NetworkError,
    NotFound,
    ProtocolError,
    UnsupportedAction,
    ValidationFailed,
)
from shipdeck.api.health import mixpeek_get_detail, mixpeek_get_health
from shipdeck.api.parsing import (
    JsonObject,
    build_model,
    expect_object,
    first_present,
    optional_float,
    optional_int,
    unwrap_list,
)
from shipdeck.api.pipeline import stages_for
from shipdeck.api.sse import iter_sse
from shipdeck.api.streams import resilient_stream
from shipdeck.model import (
    Capabilities,
    Deployment,
    LogLine,
    Page,
    PipelineRun,
    PublishRequest,
    PublishResult,
    Version,
)
from shipdeck.model.service_health import HealthDetail, ServiceHealth

ENVIRONMENTS = ("production", "staging")
DEPLOY_STAGES = ("queued", "building", "complete")
SSE_HEADERS = {"Accept": "text/event-stream"}
BUNDLE_UPLOAD_TIMEOUT = 30.0

MIXPEEK_CAPABILITIES = Capabilities(
    provider="mixpeek",
    rollback=True,
    rollback_to_version=True,
    promote=True,
    publish=True,
    redeploy=False,
    update=False,
    delete=False,
    domains=False,
    env=False,
    releases=False,
    builds=False,
    deployment_logs=True,
    build_logs=True,
    tasks=False,
    event_stream=False,
    environments=("staging", "production"),
    env_environments=(),
    # A deploy is a generated bundle plus a message: no sandbox, commands, port or health check.
    publish_fields=("environment", "message"),
    publish_required=("message",),
    notes={
        "redeploy": "Mixpeek has no redeploy; restore a version (promote) or deploy a new bundle",
        "update": "Mixpeek apps are edited in the Mixpeek dashboard",
        "delete": "Mixpeek apps are deleted in the Mixpeek dashboard",
        "domains": "Mixpeek serves apps on <slug>.mxp.co; custom domains are not in its API",
        "env": "Mixpeek keeps env vars in the app's build_config (dashboard); shipdeck does not edit them",
        "releases": "Mixpeek has no releases; the Pipeline tab lists its deploys",
        "builds": "Mixpeek builds are its deploys: see the Pipeline tab",
        "tasks": "Mixpeek has no tasks or agents; connect a Miteos profile for the Tasks screen",
        "event_stream": "Mixpeek has no event stream; shipdeck polls",
    },
)


def _seg(value: str) -> str:
    return quote(value, safe="")


def split_deployment_id(deployment_id: str) -> tuple[str, str]:
    """``app@staging`` -> ("app", "staging"); a bare app id means its production row."""
    app_id, at, environment = deployment_id.rpartition("@")
    if not at:
        return deployment_id, "production"
    if environment not in ENVIRONMENTS or not app_id:
        raise NotFound(
            f"{deployment_id!r} is not a Mixpeek deployment: expected <app>@production or <app>@staging",
            status=404,
            provider="mixpeek",
        )
    return app_id, environment


def deployment_id_of(app_id: str, environment: str) -> str:
    return f"{app_id}@{environment}"


def version_id_of(app_id: str, number: int) -> str:
    return f"{app_id}:v{number}"


def version_number(version_id: str) -> int:
    """``app:v3``, ``v3`` or ``3`` -> 3."""
    tail = version_id.rpartition(":")[2].strip()
    digits = tail[1:] if tail[:1] in ("v", "V") else tail
    if not digits.isdigit():
        raise NotFound(
            f"{version_id!r} is not a Mixpeek version (expected v<number>)", status=404, provider="mixpeek"
        )
    return int(digits)


# --------------------------------------------------------------------------------------------------- mappers


def mixpeek_deployments(raw: Any) -> list[Deployment]:
    """One App -> its production and staging rows."""
    app = expect_object(raw, what="Mixpeek app")
    return [mixpeek_deployment(app, environment) for environment in ENVIRONMENTS]


def mixpeek_deployment(app: JsonObject, environment: str) -> Deployment:
    app_id = first_present(app, "app_id", "id")
    if not isinstance(app_id, str) or not app_id:
        raise ProtocolError("Mixpeek app: no app_id")
    slug = app.get("slug") if isinstance(app.get("slug"), str) else None
    pointer = _object(_object(app.get("environments")).get(environment))
    latest = _object(pointer.get("latest_deploy")) or None
    number = optional_int(pointer.get("version"))
    url = pointer.get("url") or (_env_url(slug, environment) if slug else None)
    extras = {k: v for k, v in app.items() if k not in ("environments", "url", "id")}
    return build_model(
        Deployment,
        {
            **extras,
            "id": deployment_id_of(app_id, environment),
            "provider": "mixpeek",
            "name": first_present(app, "name", "slug", "app_id"),
            "slug": slug,
            "state": _row_state(number, latest),
            "active_version_id": version_id_of(app_id, number) if number is not None else None,
            "active_version_number": number,
            "url": url,
            "environment": environment,
            "current_build_id": latest.get("deploy_id") if latest else None,
            "app_id": app_id,
            "created_at": app.get("created_at"),
            "updated_at": pointer.get("updated_at") or app.get("updated_at"),
        },
        what="Mixpeek app",
    )


def _object(value: Any) -> JsonObject:
    """``value`` if it is a JSON object, else an empty one (a lenient read of optional nested fields)."""
    return value if isinstance(value, dict) else {}


def _row_state(number: int | None, latest: JsonObject | None) -> str:
    """A deploy in progress shows; otherwise an environment serving a version is running."""
    status = latest.get("status") if latest else None
    if status in ("queued", "building"):
        return "building"
    if number is not None:
        return "running"
    if status == "failed":
        return "failed"
    return "stopped"  # nothing ever deployed to this environment


def _env_url(slug: str, environment: str) -> str:
    return f"https://{slug}.mxp.co" if environment == "production" else f"https://staging-{slug}.mxp.co"


def mixpeek_version(raw: Any, app_id: str, deployment_id: str) -> Version:
    obj = expect_object(raw, what="Mixpeek version")
    number = optional_int(first_present(obj, "version", "version_number"))
    if number is None:
        raise ProtocolError("Mixpeek version: no version number")
    return build_model(
        Version,
        {
            **obj,
            "id": version_id_of(app_id, number),
            "deployment_id": deployment_id,
            "number": number,
            "state": obj.get("state") or "ready",
            "kind": obj.get("source"),
            "author": first_present(obj, "created_by", "git_author", "published_by"),
            "message": obj.get("message"),
            "artifact_sha256": obj.get("content_hash"),
            "environment": obj.get("environment"),
            "created_at": obj.get("created_at"),
        },
        what="Mixpeek version",
    )


def mixpeek_run(raw: Any, app_id: str) -> PipelineRun:
    obj = expect_object(raw, what="Mixpeek deploy")
    deploy_id = obj.get("deploy_id")
    if not isinstance(deploy_id, str) or not deploy_id:
        raise ProtocolError("Mixpeek deploy: no deploy_id")
    status = str(obj.get("status") or "unknown")
    environment = str(obj["environment"]) if obj.get("environment") in ENVIRONMENTS else "production"
    number = optional_int(obj.get("version"))
    smoke = _object(obj.get("smoke_test"))
    return build_model(
        PipelineRun,
        {
            **obj,
            "id": deploy_id,
            "deployment_id": deployment_id_of(app_id, environment),
            "status": status,
            "stages": stages_for(DEPLOY_STAGES, status),
            "version_id": version_id_of(app_id, number) if number is not None else None,
            "environment": environment,
            "message": obj.get("message"),
            "error": obj.get("error"),
            "url": smoke.get("url"),
            "created_at": obj.get("queued_at"),
            "completed_at": obj.get("completed_at"),
        },
        what="Mixpeek deploy",
    )


def parse_mixpeek_log_frame(frame: ServerSentEvent) -> LogLine | None:
    """A build-log frame -> LogLine; None for keep-alives. ``event: done`` gives ``done_state="done"``."""
    if frame.event == "done":
        return LogLine(line="", done_state="done")
    if not frame.data:
        return None
    try:
        payload = json.loads(frame.data)
    except (json.JSONDecodeError, RecursionError):
        raise ProtocolError("Mixpeek build log: frame is not valid JSON") from None
    obj = expect_object(payload, what="Mixpeek build log")
    line = first_present(obj, "line", "message")
    if not isinstance(line, str):
        return None
    stream = "stderr" if line.startswith("Deploy failed") else "stdout"
    return build_model(
        LogLine,
        {"line": line, "stream": stream, "ts": optional_float(obj.get("ts"))},
        what="Mixpeek build log",
    )


def generated_bundle(app_name: str, message: str, idempotency_key: str) -> bytes:
    """The small static site a console publish deploys: same key, same bytes (a retry uploads the same)."""
    page = (
        "<!doctype html>\n<html><head><meta charset='utf-8'><title>"
        f"{html.escape(app_name)}</title></head>\n<body><h1>{html.escape(app_name)}</h1>\n"
        f"<p>{html.escape(message)}</p></body></html>\n"
    )
    meta = json.dumps({"published_by": "shipdeck", "message": message, "key": idempotency_key}, indent=2)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (("index.html", page), ("shipdeck.json", meta)):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            archive.writestr(info, text)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------------- adapter


class MixpeekAdapter(HttpAdapter):
    provider = "mixpeek"
    capabilities = MIXPEEK_CAPABILITIES

    # -- deployments -----------------------------------------------------------------------------------
    async def list_deployments(self, *, cursor: str | None = None, limit: int = 100) -> Page[Deployment]:
        offset = optional_int(cursor) or 0
        limit = max(1, min(limit, 1000))
        body = await self.transport.get("", params={"limit": limit, "offset": offset})
        apps = unwrap_list(body, what="Mixpeek apps", keys=("results", "apps"))
        rows = [row for app in apps for row in mixpeek_deployments(app)]
        total = optional_int(body.get("total")) if isinstance(body, dict) else None
        seen = offset + len(apps)
        more = seen < total if total is not None else len(apps) == limit
        return Page(items=rows, next_cursor=str(seen) if more and apps else None, total=total)

    async def get_deployment(self, deployment_id: str) -> Deployment:
        app_id, environment = split_deployment_id(deployment_id)
        return mixpeek_deployment(await self._app(app_id), environment)

    async def resolve_deployment(self, ref: str) -> Deployment:
        """An id (``app@env``), an app id, slug or name, optionally with ``@staging`` / ``@production``."""
        name, at, environment = ref.rpartition("@")
        if not at or environment not in ENVIRONMENTS:
            name, environment = ref, "production"
        try:
            return await self.get_deployment(deployment_id_of(name, environment))
        except NotFound:
            pass
        async for page in self.iter_deployment_pages():
            for dep in page:
                if dep.environment == environment and name in (dep.name, dep.slug):
                    return dep
        raise NotFound(f"no Mixpeek app named {name!r}", status=404, provider="mixpeek")

    async def _app(self, app_id: str) -> JsonObject:
        body = await self.transport.get(f"/{_seg(app_id)}")
        return expect_object(body, what="Mixpeek app")

    # -- versions and deploys --------------------------------------------------------------------------
    async def list_versions(
        self, deployment_id: str, *, cursor: str | None = None, limit: int = 100
    ) -> Page[Version]:
        app_id, _ = split_deployment_id(deployment_id)
        offset = optional_int(cursor) or 0
        body = await self.transport.get(
            f"/{_seg(app_id)}/versions", params={"limit": limit, "offset": offset}
        )
        raw = unwrap_list(body, what="Mixpeek versions", keys=("versions",))
        items = [mixpeek_version(item, app_id, deployment_id) for item in raw]
        total = optional_int(body.get("total")) if isinstance(body, dict) else None
        seen = offset + len(raw)
        more = seen < total if total is not None else len(raw) == limit
        return Page(items=items, next_cursor=str(seen) if more and raw else None, total=total)

    # Only production serves users; a staging row has no request metrics.
    async def get_health(self, deployment_id: str) -> ServiceHealth | None:
        app_id, environment = split_deployment_id(deployment_id)
        if environment != "production":
            return None
        return await mixpeek_get_health(self.transport, app_id, deployment_id)

    async def get_health_detail(self, deployment_id: str, *, span: str = "1h") -> HealthDetail | None:
        app_id, environment = split_deployment_id(deployment_id)
        if environment != "production":
            return None
        return await mixpeek_get_detail(self.transport, app_id, deployment_id, span=span)

    async def get_version(self, deployment_id: str, version_id: str) -> Version:
        app_id, _ = split_deployment_id(deployment_id)
        number = version_number(version_id)
        body = await self.transport.get(f"/{_seg(app_id)}/versions/{number}")
        return mixpeek_version(body, app_id, deployment_id)

    async def list_pipeline_runs(self, deployment_id: str) -> list[PipelineRun]:
        """This environment's deploys (and restores), newest first."""
        app_id, environment = split_deployment_id(deployment_id)
        body = await self.transport.get(
            f"/{_seg(app_id)}/deploys", params={"environment": environment, "limit": 50}
        )
        return [
            mixpeek_run(item, app_id) for item in unwrap_list(body, what="Mixpeek deploys", keys=("deploys",))
        ]

    async def get_deploy(self, deployment_id: str, deploy_id: str) -> PipelineRun:
        app_id, _ = split_deployment_id(deployment_id)
        body = await self.transport.get(f"/{_seg(app_id)}/deploys/{_seg(deploy_id)}")
        return mixpeek_run(body, app_id)

    # -- actions ----------------------------------------------------------------------------------------
    async def rollback(
        self,
        deployment_id: str,
        *,
        to_version_id: str | None = None,
        environment: str | None = None,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> Deployment:
        """Restore ``to_version_id`` (default: the one before the active one) into this row's environment."""
        app_id, row_environment = split_deployment_id(deployment_id)
        target_environment = self._environment(environment or row_environment)
        if to_version_id is not None:
            number = version_number(to_version_id)
        else:
            number = await self._version_before_active(app_id, target_environment)
        return await self._restore(app_id, number, target_environment, idempotency_key)

    async def promote(
        self,
        deployment_id: str,
        version_id: str,
        *,
        environment: str | None = None,
        idempotency_key: str | None = None,
    ) -> Deployment:
        """Restore ``version_id`` into ``environment`` (default production, also from a staging row)."""
        app_id, _ = split_deployment_id(deployment_id)
        target_environment = self._environment(environment or "production")
        return await self._restore(app_id, version_number(version_id), target_environment, idempotency_key)

    async def _restore(
        self, app_id: str, number: int, environment: str, idempotency_key: str | None
    ) -> Deployment:
        await self.transport.mutate(
            "POST",
            f"/{_seg(app_id)}/versions/{number}/restore",
            json={"environment": environment},
            idempotency_key=idempotency_key,
        )
        return await self.get_deployment(deployment_id_of(app_id, environment))

    async def _version_before_active(self, app_id: str, environment: str) -> int:
        row = mixpeek_deployment(await self._app(app_id), environment)
        current = row.active_version_number
        if current is None:
            raise ValidationFailed(
                f"{row.name} has nothing deployed to {environment}; there is nothing to roll back",
                status=409,
                provider="mixpeek",
            )
        versions = await self.all_versions(row.id)
        earlier = [
            v.number for v in versions if v.number is not None and v.number < current and v.state == "ready"
        ]
        if not earlier:
            raise ValidationFailed(
                f"{row.name} has no version before v{current} to roll {environment} back to",
                status=409,
                provider="mixpeek",
            )
        return max(earlier)

    async def publish(
        self, deployment_id: str, request: PublishRequest, *, idempotency_key: str | None = None
    ) -> PublishResult:
        """Deploy a generated bundle with ``request.message`` into ``request.environment`` (or the row's)."""
        app_id, row_environment = split_deployment_id(deployment_id)
        message = (request.message or "").strip()
        if not message:
            raise ValidationFailed(
                "Mixpeek needs a deploy message (what changed, like a commit message); nothing was sent",
                status=422,
                provider="mixpeek",
            )
        environment = self._environment(request.environment or row_environment)
        if not request.promote:
            raise UnsupportedAction(
                f"a Mixpeek deploy always goes live in its environment; deploy to staging to try it "
                f"without touching production (asked: {environment})"
            )
        key = idempotency_key or new_idempotency_key()
        app = mixpeek_deployment(await self._app(app_id), environment)
        bundle_key = await self._upload_bundle(app_id, generated_bundle(app.name, message, key), key)
        body = await self.transport.mutate(
            "POST",
            f"/{_seg(app_id)}/deploy",
            json={
                "message": message,
                "environment": environment,
                "source": "cli_upload",
                "bundle_s3_key": bundle_key,
            },
            idempotency_key=key,
        )
        accepted = expect_object(body, what="Mixpeek deploy")
        deploy_id = accepted.get("deploy_id")
        if not isinstance(deploy_id, str):
            raise ProtocolError("Mixpeek deploy: the answer has no deploy_id")
        run = mixpeek_run({"environment": environment, "message": message, **accepted}, app_id)
        return PublishResult(
            deployment=await self.get_deployment(deployment_id_of(app_id, environment)),
            version=None,
            run=run,
            promoted=True,
        )

    async def _upload_bundle(self, app_id: str, bundle: bytes, key: str) -> str:
        """upload-url -> PUT to the presigned URL -> verify-upload; the bundle's key."""
        ticket = expect_object(
            await self.transport.mutate(
                "POST",
                f"/{_seg(app_id)}/deploy/upload-url",
                json={"filename": "shipdeck-bundle.zip", "content_type": "application/zip"},
                idempotency_key=f"{key}:upload-url",
            ),
            what="Mixpeek upload-url",
        )
        upload_url, bundle_key = ticket.get("upload_url"), ticket.get("bundle_s3_key")
        if not isinstance(upload_url, str) or not isinstance(bundle_key, str):
            raise ProtocolError("Mixpeek upload-url: the answer lacks upload_url or bundle_s3_key")
        await self._put_presigned(upload_url, bundle)
        verified = expect_object(
            await self.transport.mutate(
                "POST",
                f"/{_seg(app_id)}/deploy/verify-upload",
                json={"bundle_s3_key": bundle_key},
                idempotency_key=f"{key}:verify-upload",
            ),
            what="Mixpeek verify-upload",
        )
        if verified.get("exists") is not True:
            raise ApiError(
                "the bundle upload did not land in Mixpeek's storage (verify-upload says it does not exist)",
                status=409,
                provider="mixpeek",
            )
        return bundle_key

    async def _put_presigned(self, url: str, bundle: bytes) -> None:
        """PUT to storage: a presigned URL carries its own signature, so no token goes with it."""
        target = httpx.URL(url)
        if target.scheme not in ("http", "https"):
            raise ProtocolError(f"Mixpeek upload-url: not an http(s) upload URL ({target.scheme!r})")
        async with httpx.AsyncClient(follow_redirects=False, timeout=BUNDLE_UPLOAD_TIMEOUT) as storage:
            try:
                response = await storage.put(url, content=bundle, headers={"Content-Type": "application/zip"})
            except httpx.HTTPError as exc:
                raise NetworkError(
                    f"uploading the bundle to {target.host} failed ({exc.__class__.__name__})"
                ) from None
        if response.status_code >= 300:
            raise ApiError(
                f"the bundle upload to {target.host} was refused ({response.status_code})",
                status=response.status_code,
                provider="mixpeek",
            )

    @staticmethod
    def _environment(environment: str) -> str:
        if environment not in ENVIRONMENTS:
            raise ValidationFailed(
                f"Mixpeek environments are staging and production, not {environment!r}; nothing was sent",
                status=422,
                provider="mixpeek",
            )
        return environment

    # -- streams ---------------------------------------------------------------------------------------------
    def deployment_logs(self, deployment_id: str) -> AsyncIterator[LogLine]:
        """The build log of this environment's latest deploy."""
        return self._latest_deploy_logs(deployment_id)

    async def _latest_deploy_logs(self, deployment_id: str) -> AsyncIterator[LogLine]:
        app_id, environment = split_deployment_id(deployment_id)
        row = mixpeek_deployment(await self._app(app_id), environment)
        deploy_id = row.current_build_id
        if deploy_id is None:
            runs = await self.list_pipeline_runs(deployment_id)
            deploy_id = runs[0].id if runs else None
        if deploy_id is None:
            raise NotFound(f"{row.name} has no deploys in {environment} yet", status=404, provider="mixpeek")
        async for line in self.build_logs(deployment_id, deploy_id):
            yield line

    def build_logs(self, deployment_id: str, build_id: str) -> AsyncIterator[LogLine]:
        """One deploy's build log; the last line has ``done_state`` = the deploy's final status."""
        app_id, _ = split_deployment_id(deployment_id)
        path = f"/{_seg(app_id)}/deploys/{_seg(build_id)}/logs/stream"

        async def connect(last: int | None) -> AsyncGenerator[tuple[int | None, LogLine], None]:
            # The server replays every line from the first: the frame index is the sequence.
            index = -1
            async with self.transport.open_stream(path, headers=SSE_HEADERS) as response:
                async for frame in iter_sse(
                    response, idle_timeout=self.stream_options.heartbeat_timeout, what="Mixpeek build log"
                ):
                    line = parse_mixpeek_log_frame(frame)
                    if line is None:
                        continue
                    if line.done_state is not None:
                        status = (await self.get_deploy(deployment_id, build_id)).status
                        yield None, line.model_copy(update={"done_state": status})
                        return
                    index += 1
                    yield index, line

        return resilient_stream(
            connect,
            after=None,
            options=self.stream_options,
            describe="Mixpeek build log",
            notice=self.transport.on_notice,
            is_final=lambda line: line.done_state is not None,
        )

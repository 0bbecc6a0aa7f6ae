"""Mixpeek Apps (``/v1/apps``): apps with a staging and a production environment, deploys, versions, restore,
promote, custom domains and runtime logs.

Only paths the official SDK (``mixpeek==1.3.783``, ``AppsApi``) publishes are called, and its field names are
read (``total_count``, ``meta.title``, ``deployed_by``, ``deployed_at``, ``build_duration_ms``, ...). How
Mixpeek maps onto the provider-neutral model (house decision):

* one :class:`Deployment` per app per environment, ``id = "<app_id>@<environment>"``, named after the app's
  ``meta.title``; its active version is the one ``environments.<env>`` serves and its ``current_build_id``
  that environment's deploy (``environments.<env>.deploy_id``);
* a version is ``<app_id>:v<n>`` (versions belong to the app; both rows list the same ones), always ``ready``
  (Mixpeek records a version only when a deploy completes); on the staging row one deployed to production
  is ``made_here=False`` (a rollback to it says staging may never have served it);
* the Pipeline is what the vendor offers: the deploys this adapter started and the environment's latest
  deploy, each read by id (``queued -> building -> complete | failed``), then the versions deployed into the
  environment (``deployed_at``, ``build_duration_ms``). There is no list of deploys. A build log is an SSE
  stream that replays from the first line on every connection (the frame index dedupes a reconnect);
* rollback restores a version into THAT environment (``POST /versions/{n}/restore``); promote of what staging
  serves into production is the vendor's ``POST /promote``, any other promote a restore;
* publish is a deploy: a small generated bundle is uploaded through the presigned URL, verified, then
  deployed with the required message;
* custom domains are verified through a TXT record ``_mixpeek-verify.<domain>`` whose value is
  ``mixpeek-site-verification=<verification_token>``, and served through a CNAME to ``cname_target``;
* the deployment log is the app's runtime log (``GET /logs?log_type=runtime``, polled: there is no push);
  the request log (``log_type=requests``) is the production row's: only production serves users.

No env vars, tasks or tenant event stream through this surface (Capabilities says so): Mixpeek keeps env vars
in the app's ``build_config``, edited as a draft in its dashboard.
"""

from __future__ import annotations

import asyncio
import html
import io
import json
import zipfile
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shipdeck.api.base import keep_newest, new_idempotency_key, next_offset, offset_of
from shipdeck.api.common import HttpAdapter, map_rows
from shipdeck.api.common import path_segment as _seg
from shipdeck.api.errors import (
    ApiError,
    NetworkError,
    NotFound,
    ProtocolError,
    UnsupportedAction,
    ValidationFailed,
)
from shipdeck.api.health import mixpeek_get_detail, mixpeek_get_health, mixpeek_request_log
from shipdeck.api.parsing import (
    JsonObject,
    build_model,
    decode_frame,
    expect_object,
    first_present,
    optional_float,
    optional_int,
    unwrap_list,
)
from shipdeck.api.pipeline import stages_for
from shipdeck.api.streams import resilient_stream
from shipdeck.model import (
    Capabilities,
    Capability,
    Deployment,
    DnsRecord,
    Domain,
    LogLine,
    Page,
    PipelineRun,
    PublishRequest,
    PublishResult,
    Version,
    parse_timestamp,
)
from shipdeck.model.service_health import HealthDetail, ServiceHealth

if TYPE_CHECKING:
    from httpx_sse import ServerSentEvent

ENVIRONMENTS = ("production", "staging")
DEPLOY_STAGES = ("queued", "building", "complete")
IN_PROGRESS = frozenset({"queued", "building"})
VERIFY_RECORD_PREFIX = "_mixpeek-verify."
VERIFY_VALUE_PREFIX = "mixpeek-site-verification="
# Runtime logs have no push: the tail polls the last hour this often (each poll is one request).
RUNTIME_LOG_POLL_SECONDS = 5.0
RUNTIME_LOG_LIMIT = 200
BUNDLE_UPLOAD_TIMEOUT = 30.0

MIXPEEK_CAPABILITIES = Capabilities(
    provider="mixpeek",
    granted=frozenset(
        {
            Capability.ROLLBACK,
            Capability.ROLLBACK_TO_VERSION,
            Capability.PROMOTE,
            Capability.PUBLISH,
            Capability.DOMAINS,
            Capability.VERSIONS,
            Capability.DEPLOYMENT_LOGS,
            Capability.BUILD_LOGS,
            Capability.HEALTH,
            Capability.REQUEST_LOGS,
        }
    ),
    environments=("staging", "production"),
    env_environments=(),
    # A deploy is a generated bundle plus a message: no sandbox, commands, port or health check.
    publish_fields=("environment", "message"),
    publish_required=("message",),
    notes={
        Capability.REDEPLOY: "Mixpeek has no redeploy; restore a version (promote) or deploy a new bundle",
        Capability.UPDATE: "Mixpeek apps are edited in the Mixpeek dashboard",
        Capability.DELETE: "Mixpeek apps are deleted in the Mixpeek dashboard",
        Capability.ENV: (
            "Mixpeek keeps env vars in the app's build_config (dashboard); shipdeck does not edit them"
        ),
        Capability.RELEASES: "Mixpeek has no releases; the Pipeline tab lists its deploys",
        Capability.BUILDS: "Mixpeek builds are its deploys: see the Pipeline tab",
        Capability.DEPLOYMENT_LOGS: "the runtime log of the app (production): polled, Mixpeek has no push",
        Capability.TASKS: "Mixpeek has no tasks or agents; connect a Miteos profile for the Tasks screen",
        Capability.EVENT_STREAM: "Mixpeek has no event stream; shipdeck polls",
    },
)


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
    number = optional_int(pointer.get("version"))
    url = pointer.get("url") or (_env_url(slug, environment) if slug else None)
    deploy_id = pointer.get("deploy_id") if isinstance(pointer.get("deploy_id"), str) else None
    title = _object(app.get("meta")).get("title")
    extras = {
        k: v for k, v in app.items() if k not in ("environments", "url", "id", "version", "versions", "meta")
    }
    return build_model(
        Deployment,
        {
            **extras,
            "id": deployment_id_of(app_id, environment),
            "provider": "mixpeek",
            "name": title if isinstance(title, str) and title else first_present(app, "slug", "app_id"),
            "slug": slug,
            "state": _row_state(number, app.get("is_active")),
            "active_version_id": version_id_of(app_id, number) if number is not None else None,
            "active_version_number": number,
            "url": url,
            "environment": environment,
            "current_build_id": deploy_id,
            "config_version": optional_int(app.get("version")),
            "app_id": app_id,
            "created_at": app.get("created_at"),
            "updated_at": pointer.get("updated_at") or app.get("updated_at"),
        },
        what="Mixpeek app",
    )


def _object(value: Any) -> JsonObject:
    """``value`` if it is a JSON object, else an empty one (a lenient read of optional nested fields)."""
    return value if isinstance(value, dict) else {}


def _row_state(number: int | None, is_active: Any) -> str:
    """An environment serving a version of an active app is running; otherwise stopped."""
    if number is not None and is_active is not False:
        return "running"
    return "stopped"  # nothing ever deployed to this environment, or the app is switched off


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
            "state": "ready",
            "author": first_present(obj, "deployed_by", "git_author"),
            "message": obj.get("message"),
            "environment": obj.get("environment"),
            "made_here": _made_in(obj.get("environment"), deployment_id),
            "created_at": obj.get("deployed_at"),
            "build_duration_ms": optional_int(obj.get("build_duration_ms")),
        },
        what="Mixpeek version",
    )


def _made_in(environment: Any, deployment_id: str) -> bool | None:
    """Whether a version deployed to ``environment`` was made for the row ``deployment_id``: staging serves
    only what was deployed (or restored) into it, so a production deploy on the staging row is not; on the
    production row a staging version may have been promoted there, so it is not known (None)."""
    row_environment = deployment_id.rpartition("@")[2]
    if environment not in ENVIRONMENTS:
        return None
    if environment == row_environment:
        return True
    return False if row_environment == "staging" else None


def version_run(version: Version, deployment_id: str) -> PipelineRun:
    """A version as the completed deploy that made it: done at ``deployed_at`` after ``build_duration_ms``."""
    duration = optional_int(getattr(version, "build_duration_ms", None))
    started = None
    if version.created_at is not None and duration is not None:
        try:  # a duration of ages, or one that reaches before the year 1, leaves the start unknown
            started = parse_timestamp(version.created_at - timedelta(milliseconds=duration))
        except OverflowError:
            started = None
    return build_model(
        PipelineRun,
        {
            "id": version.id,
            "deployment_id": deployment_id,
            "status": "complete",
            "stages": stages_for(DEPLOY_STAGES, "complete"),
            "version_id": version.id,
            "environment": version.environment,
            "message": version.message,
            "created_at": started or version.created_at,
            "completed_at": version.created_at,
            "author": version.author,
            "build_duration_ms": duration,
        },
        what="Mixpeek version",
    )


def mixpeek_run(raw: Any, app_id: str, *, version_number: int | None = None) -> PipelineRun:
    """A ``DeployStatusResponse`` (or ``DeployResponse``); ``version_number``: the version it serves, when
    the caller knows it (the SDK's deploy status does not say)."""
    obj = expect_object(raw, what="Mixpeek deploy")
    deploy_id = obj.get("deploy_id")
    if not isinstance(deploy_id, str) or not deploy_id:
        raise ProtocolError("Mixpeek deploy: no deploy_id")
    status = str(obj.get("status") or "unknown")
    environment = str(obj["environment"]) if obj.get("environment") in ENVIRONMENTS else "production"
    number = version_number
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
            "completed_at": smoke.get("tested_at") if status == "complete" else None,
        },
        what="Mixpeek deploy",
    )


def mixpeek_domain(raw: Any, deployment_id: str) -> Domain:
    """A ``DomainResponse``: the TXT record that proves ownership and the CNAME that serves it."""
    obj = expect_object(raw, what="Mixpeek domain")
    name = obj.get("domain")
    if not isinstance(name, str) or not name:
        raise ProtocolError("Mixpeek domain: no domain name")
    token, target = obj.get("verification_token"), obj.get("cname_target")
    records = []
    if isinstance(token, str) and token:
        records.append(
            DnsRecord(type="TXT", name=VERIFY_RECORD_PREFIX + name, value=VERIFY_VALUE_PREFIX + token)
        )
    if isinstance(target, str) and target:
        records.append(DnsRecord(type="CNAME", name=name, value=target))
    return build_model(
        Domain,
        {
            **obj,
            "id": name,
            "deployment_id": deployment_id,
            "name": name,
            "status": obj.get("status") or "unknown",
            "records": records,
            "verification_target": target,
            "instructions": (
                "Create the TXT record, then verify: Mixpeek checks DNS every 30 minutes for up to 72 hours"
                if obj.get("status") in ("pending", "verifying")
                else None
            ),
            "verified_at": obj.get("verified_at"),
        },
        what="Mixpeek domain",
    )


def mixpeek_runtime_line(raw: Any) -> LogLine | None:
    """One runtime log entry (the SDK leaves its shape open): timestamp, level, message."""
    if not isinstance(raw, dict):
        return None
    text = first_present(raw, "message", "line", "msg")
    if not isinstance(text, str):
        return None
    level = raw.get("level") if isinstance(raw.get("level"), str) else None
    return build_model(
        LogLine,
        {
            "line": f"[{level}] {text}" if level else text,
            "stream": "stderr" if level in ("error", "fatal", "warn", "warning") else "stdout",
            "ts": first_present(raw, "timestamp", "ts", "time"),
            "level": level,
        },
        what="Mixpeek runtime log",
    )


def parse_mixpeek_log_frame(frame: ServerSentEvent) -> LogLine | None:
    """A build-log frame -> LogLine; None for keep-alives. ``event: done`` gives ``done_state="done"``."""
    if frame.event == "done":
        return LogLine(line="", done_state="done")
    if not frame.data:
        return None
    obj = decode_frame(frame.data, what="Mixpeek build log")
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The deploys this adapter started, newest last, by row (the vendor lists none: each is read by id).
        self._started: dict[str, list[str]] = {}
        # Their last status read (a row shows "building" while one of them is in progress).
        self._status: dict[str, str] = {}
        self.runtime_poll_seconds = RUNTIME_LOG_POLL_SECONDS

    # -- deployments -----------------------------------------------------------------------------------
    async def list_deployments(self, *, cursor: str | None = None, limit: int = 100) -> Page[Deployment]:
        offset = offset_of(cursor, provider="mixpeek")
        limit = max(1, min(limit, 1000))
        body = await self.transport.get("", params={"limit": limit, "offset": offset})
        apps = unwrap_list(body, what="Mixpeek apps", keys=("results",))
        rows = [await self._with_progress(row) for app in apps for row in mixpeek_deployments(app)]
        total = optional_int(body.get("total_count")) if isinstance(body, dict) else None
        return Page(
            items=rows, next_cursor=next_offset(offset, len(apps), limit=limit, total=total), total=total
        )

    async def get_deployment(self, deployment_id: str) -> Deployment:
        app_id, environment = split_deployment_id(deployment_id)
        return await self._with_progress(mixpeek_deployment(await self._app(app_id), environment))

    async def _with_progress(self, row: Deployment) -> Deployment:
        """A row with a deploy started here still in progress says so (the App does not). One found to have
        ended since the App was read makes the App read again: that read may predate the deploy's version
        going live, and the row would say the old one until the next poll."""
        ended = False
        for deploy_id in reversed(self._started.get(row.id, [])):
            if self._status.get(deploy_id) not in IN_PROGRESS:
                continue
            try:
                run = await self.get_deploy(row.id, deploy_id)
            except NotFound:
                continue
            if run.status in IN_PROGRESS:
                return row.model_copy(update={"state": "building", "current_build_id": deploy_id})
            ended = True
        if ended:
            app_id, environment = split_deployment_id(row.id)
            return mixpeek_deployment(await self._app(app_id), environment)
        return row

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
        """The SDK's version list takes no paging: one read, paged here (the cursor is an offset)."""
        app_id, _ = split_deployment_id(deployment_id)
        offset = offset_of(cursor, provider="mixpeek")
        limit = max(1, limit)
        body = await self.transport.get(f"/{_seg(app_id)}/versions")
        raw = unwrap_list(body, what="Mixpeek versions", keys=("versions",))
        items = [mixpeek_version(item, app_id, deployment_id) for item in raw[offset : offset + limit]]
        cursor = next_offset(offset, len(items), limit=limit, total=len(raw))
        return Page(items=items, next_cursor=cursor, total=len(raw))

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

    async def newest_versions(self, deployment_id: str, *, keep: int) -> tuple[list[Version], int]:
        """One read (the SDK's list is not paged; paging it here would re-read it all once a page), parsed
        in a worker thread a chunk at a time, keeping only the newest ``keep``: 100,000 versions neither stop
        the console answering keys nor all become models at once."""
        app_id, _ = split_deployment_id(deployment_id)
        body = await self.transport.get(f"/{_seg(app_id)}/versions")
        raw = unwrap_list(body, what="Mixpeek versions", keys=("versions",))

        def newest() -> list[Version]:
            kept: list[Version] = []
            for start in range(0, len(raw), 1000):
                chunk = [mixpeek_version(item, app_id, deployment_id) for item in raw[start : start + 1000]]
                kept = keep_newest(kept, chunk, keep)
            return kept

        return await asyncio.to_thread(newest), len(raw)

    async def get_version(self, deployment_id: str, version_id: str) -> Version:
        app_id, _ = split_deployment_id(deployment_id)
        number = version_number(version_id)
        body = await self.transport.get(f"/{_seg(app_id)}/versions/{number}")
        return mixpeek_version(body, app_id, deployment_id)

    async def list_pipeline_runs(
        self, deployment_id: str, *, versions: Sequence[Version] | None = None
    ) -> list[PipelineRun]:
        """This environment's runs, newest first: the deploys started here and the environment's latest
        deploy (each read by id), then the versions deployed into it."""
        app_id, environment = split_deployment_id(deployment_id)
        row = mixpeek_deployment(await self._app(app_id), environment)
        served = row.current_build_id
        deploy_ids = list(reversed(self._started.get(deployment_id, [])))
        if served is not None and served not in deploy_ids:
            deploy_ids.append(served)
        runs: list[PipelineRun] = []
        for deploy_id in deploy_ids:
            number = row.active_version_number if deploy_id == served else None
            try:
                runs.append(await self.get_deploy(deployment_id, deploy_id, version_number=number))
            except NotFound:
                continue
        listed = {run.version_id for run in runs if run.version_id}
        if versions is None:
            versions = await self.all_versions(deployment_id)
        for version in versions:
            if version.environment in (None, environment) and version.id not in listed:
                runs.append(version_run(version, deployment_id))
        return runs

    async def get_deploy(
        self, deployment_id: str, deploy_id: str, *, version_number: int | None = None
    ) -> PipelineRun:
        app_id, environment = split_deployment_id(deployment_id)
        body = await self.transport.get(f"/{_seg(app_id)}/deploys/{_seg(deploy_id)}")
        obj = expect_object(body, what="Mixpeek deploy")
        run = mixpeek_run({"environment": environment, **obj}, app_id, version_number=version_number)
        if deploy_id in self._status:
            self._status[deploy_id] = run.status
        return run

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
        """Restore ``to_version_id`` into this row's environment.

        The target is always named: which version a rollback goes back to is decided once, by
        :func:`shipdeck.live.plans.rollback_choice`, and previewed before it is sent.
        """
        app_id, row_environment = split_deployment_id(deployment_id)
        target_environment = self._environment(environment or row_environment)
        if to_version_id is None:
            raise ValidationFailed(
                "a Mixpeek rollback names its target version (plan it with shipdeck.live.plans); "
                "nothing was sent",
                status=422,
                provider="mixpeek",
            )
        return await self._restore(app_id, version_number(to_version_id), target_environment, idempotency_key)

    async def promote(
        self,
        deployment_id: str,
        version_id: str,
        *,
        environment: str | None = None,
        idempotency_key: str | None = None,
    ) -> Deployment:
        """``version_id`` into ``environment`` (default production, also from a staging row): what staging
        serves goes to production by the vendor's ``POST /promote``, anything else by a restore."""
        app_id, _ = split_deployment_id(deployment_id)
        target_environment = self._environment(environment or "production")
        number = version_number(version_id)
        if target_environment == "production":
            staging = mixpeek_deployment(await self._app(app_id), "staging")
            if staging.active_version_number == number:
                await self.transport.mutate(
                    "POST", f"/{_seg(app_id)}/promote", idempotency_key=idempotency_key
                )
                return await self.get_deployment(deployment_id_of(app_id, "production"))
        return await self._restore(app_id, number, target_environment, idempotency_key)

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
        started = self._started.setdefault(deployment_id_of(app_id, environment), [])
        if deploy_id not in started:
            started.append(deploy_id)
        self._status[deploy_id] = run.status
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
        import httpx

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

    # -- domains ---------------------------------------------------------------------------------------
    async def list_domains(self, deployment_id: str) -> list[Domain]:
        app_id, _ = split_deployment_id(deployment_id)
        body = await self.transport.get(f"/{_seg(app_id)}/domains")
        raws = unwrap_list(body, what="Mixpeek domains", keys=("domains",))
        return await map_rows(raws, lambda raw: mixpeek_domain(raw, deployment_id))

    async def add_domain(
        self, deployment_id: str, domain: str, *, idempotency_key: str | None = None
    ) -> Domain:
        app_id, _ = split_deployment_id(deployment_id)
        body = await self.transport.mutate(
            "POST",
            f"/{_seg(app_id)}/domains",
            json={"domain": domain, "is_primary": False},
            idempotency_key=idempotency_key,
        )
        return mixpeek_domain(body, deployment_id)

    async def verify_domain(
        self, deployment_id: str, domain_id: str, *, idempotency_key: str | None = None
    ) -> Domain:
        app_id, _ = split_deployment_id(deployment_id)
        body = await self.transport.mutate(
            "POST", f"/{_seg(app_id)}/domains/{_seg(domain_id)}/verify", idempotency_key=idempotency_key
        )
        return mixpeek_domain(body, deployment_id)

    async def remove_domain(
        self, deployment_id: str, domain_id: str, *, idempotency_key: str | None = None
    ) -> None:
        app_id, _ = split_deployment_id(deployment_id)
        await self.transport.mutate(
            "DELETE", f"/{_seg(app_id)}/domains/{_seg(domain_id)}", idempotency_key=idempotency_key
        )

    # -- streams ---------------------------------------------------------------------------------------------
    async def runtime_log_entries(
        self, deployment_id: str, *, hours: int = 1, level: str | None = None, limit: int = RUNTIME_LOG_LIMIT
    ) -> list[LogLine]:
        """The app's runtime log of the last ``hours``, oldest first (``GET /logs?log_type=runtime``)."""
        app_id, _ = split_deployment_id(deployment_id)
        params: dict[str, Any] = {"log_type": "runtime", "hours": hours, "limit": limit}
        if level:
            params["level"] = level
        body = await self.transport.get(f"/{_seg(app_id)}/logs", params=params)
        entries = unwrap_list(body, what="Mixpeek logs", keys=("results", "entries"))
        lines = [line for line in (mixpeek_runtime_line(raw) for raw in entries) if line is not None]
        return sorted(lines, key=lambda line: line.ts.timestamp() if line.ts else 0.0)

    async def recent_runtime_logs(
        self, deployment_id: str, *, instance_id: str | None, hours: int, level: str | None, limit: int
    ) -> list[LogLine]:
        """The app's runtime log of the last ``hours`` (Mixpeek has no instances)."""
        return await self.runtime_log_entries(deployment_id, hours=hours, level=level, limit=limit)

    def deployment_logs(self, deployment_id: str) -> AsyncIterator[LogLine]:
        """The app's runtime log, tailed: the last hour, then what each poll adds (Mixpeek has no push)."""
        return self._tail_runtime(deployment_id)

    async def _tail_runtime(self, deployment_id: str) -> AsyncIterator[LogLine]:
        seen: set[tuple[float, str]] = set()
        newest = 0.0
        while True:
            for line in await self.runtime_log_entries(deployment_id):
                stamp = line.ts.timestamp() if line.ts else 0.0
                key = (stamp, line.line)
                if stamp < newest or key in seen:
                    continue
                seen.add(key)
                newest = max(newest, stamp)
                yield line
            # Only what can still repeat is remembered (entries at the newest second).
            seen = {key for key in seen if key[0] >= newest}
            await asyncio.sleep(self.runtime_poll_seconds)

    def request_logs(self, deployment_id: str) -> AsyncIterator[LogLine]:
        app_id, environment = split_deployment_id(deployment_id)
        if environment != "production":
            raise UnsupportedAction(
                "Mixpeek serves users from production only: open the production row's request log"
            )
        return mixpeek_request_log(self.transport, app_id)

    def build_logs(self, deployment_id: str, build_id: str) -> AsyncIterator[LogLine]:
        """One deploy's build log; the last line has ``done_state`` = the deploy's final status."""
        app_id, _ = split_deployment_id(deployment_id)
        path = f"/{_seg(app_id)}/deploys/{_seg(build_id)}/logs/stream"

        async def connect(last: int | None) -> AsyncGenerator[tuple[int | None, LogLine], None]:
            # The server replays every line from the first: the frame index is the sequence.
            index = -1
            async with self.open_sse(path, what="Mixpeek build log") as frames:
                async for frame in frames:
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
            replays_from_start=True,
        )

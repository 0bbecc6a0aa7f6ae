"""Miosa (``/api/v1``): deployments, versions, releases, builds, domains, env, publish/promote/rollback, SSE.

Envelope ``{"data": ...}``; lists page with ``limit`` and an opaque ``cursor`` (the answer's ``next_cursor``,
or ``next`` or ``cursor`` as the official SDK reads it, beside the items or at the top).
Every mapper below accepts the documented variants (``public_url`` / ``auto_subdomain``, ``domain`` /
``fqdn``, ``dns_records`` / ``records``, ...) and keeps the provider's other fields as extras.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from functools import cache, partial
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ConfigDict, TypeAdapter, ValidationError, create_model

from shipdeck.api.base import keep_newest
from shipdeck.api.common import HttpAdapter, map_rows
from shipdeck.api.common import path_segment as _seg
from shipdeck.api.errors import NotFound, ProtocolError, ShipdeckError, StreamResyncRequired
from shipdeck.api.health import miosa_get_detail, miosa_get_health, miosa_request_log
from shipdeck.api.parsing import (
    JsonObject,
    ListAnswer,
    build_model,
    decode_frame,
    expect_object,
    first_present,
    optional_int,
    read_list,
    unwrap_list,
    unwrap_object,
    validated_model,
)
from shipdeck.api.pipeline import stages_for
from shipdeck.api.streams import resilient_stream
from shipdeck.model import (
    Build,
    Capabilities,
    Capability,
    Deployment,
    Domain,
    EnvVar,
    Event,
    LogLine,
    Page,
    PipelineRun,
    PublishRequest,
    PublishResult,
    Release,
    RuntimeInstance,
    Version,
    parse_timestamp,
)
from shipdeck.model.service_health import HealthDetail, ServiceHealth

if TYPE_CHECKING:
    from httpx_sse import ServerSentEvent

T = TypeVar("T")

VERSION_STAGES = ("created", "building", "ready")
BUILD_STAGES = ("queued", "building", "succeeded")

MIOSA_CAPABILITIES = Capabilities(
    provider="miosa",
    granted=frozenset(
        {
            Capability.ROLLBACK,
            Capability.ROLLBACK_TO_VERSION,
            Capability.PROMOTE,
            Capability.PUBLISH,
            Capability.REDEPLOY,
            Capability.UPDATE,
            Capability.DELETE,
            Capability.DOMAINS,
            Capability.ENV,
            Capability.VERSIONS,
            Capability.RELEASES,
            Capability.BUILDS,
            Capability.DEPLOYMENT_LOGS,
            Capability.BUILD_LOGS,
            Capability.STOP,
            Capability.RUNTIME_LOGS,
            Capability.REQUEST_LOGS,
            Capability.RELEASE_PROMOTE,
            Capability.EVENT_STREAM,
            Capability.HEALTH,
        }
    ),
    # What the official SDK's publish sends (with promote); the rest of its signature it drops.
    publish_fields=("source_sandbox_id", "output_path", "entrypoint"),
    notes={Capability.TASKS: "Miosa has no tasks or agents; connect a Miteos profile for the Tasks screen"},
)


RUNTIME_LOG_POLL_SECONDS = 3.0


def parse_runtime_line(text: str) -> LogLine:
    """``<ISO time> <instance> <message>`` (what the runtime log holds); a line without a time stays whole."""
    stamp, _, rest = text.partition(" ")
    moment = parse_timestamp(stamp)
    if moment is None:  # no time, or one out of range: the line is kept as it came
        return LogLine(line=text)
    error = (
        any(f" {code} " in f" {rest} " for code in ("500", "502", "503", "504")) or "error" in rest.lower()
    )
    return LogLine(line=rest, ts=moment, stream="stderr" if error else "stdout")


# -- mappers (raw provider JSON -> model; ProtocolError on anything unreadable) --------------------------
def miosa_deployment(raw: Any) -> Deployment:
    obj = expect_object(raw, what="Miosa deployment")
    return build_model(
        Deployment,
        {
            **obj,
            "provider": "miosa",
            "url": first_present(obj, "public_url", "url", "auto_subdomain"),
            "active_version_number": obj.get("active_version_number"),
        },
        what="Miosa deployment",
    )


# The URL a Miosa deployment is reached at, in the order of preference (the first one present).
_URL_KEYS = ("public_url", "url", "auto_subdomain")
_URL_SPELLINGS = frozenset(_URL_KEYS) - {"url"}  # not fields of Deployment


@cache
def _row_page() -> TypeAdapter[Any]:
    """A Miosa page of deployments as rows: Deployment's own fields (the same types and validators) plus the
    URL spellings, the provider's other fields ignored, validated in one call for the whole page (from its
    bytes: no JSON values in between). Built on first use (the start's import does not pay for it)."""
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in Deployment.model_fields.items() if name != "provider"
    }
    ignore = ConfigDict(extra="ignore")
    row = create_model(
        "MiosaDeploymentRow",
        __config__=ignore,
        public_url=(str | None, None),
        auto_subdomain=(str | None, None),
        **fields,
    )
    page = create_model(
        "MiosaDeploymentRowPage",
        __config__=ignore,
        data=(list[row], ...),  # type: ignore[valid-type]
        next_cursor=(str | None, None),
        next=(Any, None),
        cursor=(Any, None),
        total=(Any, None),
    )
    return TypeAdapter(page)


def miosa_deployment_page(raw: bytes, *, sent: str | None = None) -> Page[Deployment] | None:
    """A ``{"data": [...]}`` page's bytes (asked for with cursor ``sent``) -> its deployments without the
    provider's extra fields (what the live list keeps), or None when it is not such a page of deployments:
    the caller then decodes it and maps item by item, which names the bad item and field."""
    try:
        page = _row_page().validate_json(raw)
    except (ValidationError, TypeError, ValueError, RecursionError):
        return None
    scope = {"next_cursor": page.next_cursor, "next": page.next, "cursor": page.cursor}
    next_cursor = miosa_next_cursor((scope,), sent=sent, what="Miosa deployments")
    return Page(items=_deployments_of(page.data), next_cursor=next_cursor, total=optional_int(page.total))


# The names a page's next cursor goes by, in the official SDK's order (miosa.pagination._next_cursor).
NEXT_CURSOR_KEYS = ("next_cursor", "next", "cursor")


def miosa_next_cursor(scopes: Sequence[Mapping[str, Any]], *, sent: str | None, what: str) -> str | None:
    """The next page's cursor of a page asked for with cursor ``sent``: the first non-empty string under
    one of :data:`NEXT_CURSOR_KEYS`, in the objects around the list innermost first; None on the last page.
    A ``cursor`` that is the one sent is that page's own, echoed back, not the next one (followed, it would
    ask for the same page again). ``next_cursor`` that is no string is a ProtocolError; the SDK passes over
    the other two names when they are none (a page number, a flag), and so does this."""
    for scope in scopes:
        for key in NEXT_CURSOR_KEYS:
            value = scope.get(key)
            if key == "next_cursor" and value is not None and not isinstance(value, str):
                raise ProtocolError(f"{what}: next_cursor is not a string")
            if isinstance(value, str) and value and not (key == "cursor" and value == sent):
                return value
    return None


def miosa_deployment_rows(items: list[Any]) -> list[Deployment] | None:
    """The deployments of a page's decoded items without the provider's extra fields, or None when any
    item is not one (as :func:`miosa_deployment_page`)."""
    try:
        page = _row_page().validate_python({"data": items})
    except (ValidationError, TypeError, ValueError, RecursionError):
        return None
    return _deployments_of(page.data)


def _deployments_of(rows: list[Any]) -> list[Deployment]:
    deployments = []
    for row in rows:
        values = row.__dict__
        url = first_present(values, *_URL_KEYS)
        given = row.__pydantic_fields_set__ - _URL_SPELLINGS
        given.update(("provider", "url"))
        del values["public_url"], values["auto_subdomain"]
        values["provider"] = "miosa"
        values["url"] = url
        deployments.append(validated_model(Deployment, values, given))
    return deployments


def miosa_version(raw: Any, deployment_id: str | None = None) -> Version:
    obj = expect_object(raw, what="Miosa version")
    metadata: JsonObject = obj["metadata"] if isinstance(obj.get("metadata"), dict) else {}
    return build_model(
        Version,
        {
            **obj,
            "deployment_id": first_present(obj, "deployment_id") or deployment_id,
            "number": first_present(obj, "version_number", "number"),
            "author": first_present(obj, "created_by", "author"),
            "message": first_present(obj, "message") or metadata.get("message"),
            "environment": first_present(obj, "environment") or metadata.get("environment"),
        },
        what="Miosa version",
    )


def miosa_release(raw: Any) -> Release:
    obj = expect_object(raw, what="Miosa release")
    return build_model(
        Release,
        {**obj, "version_id": first_present(obj, "deployment_version_id", "version_id")},
        what="Miosa release",
    )


def miosa_build(raw: Any, deployment_id: str | None = None) -> Build:
    obj = expect_object(raw, what="Miosa build")
    return build_model(
        Build,
        {**obj, "deployment_id": first_present(obj, "deployment_id") or deployment_id},
        what="Miosa build",
    )


def miosa_domain(raw: Any, deployment_id: str | None = None) -> Domain:
    obj = expect_object(raw, what="Miosa domain")
    records = first_present(obj, "dns_records", "records")
    if records is None and isinstance(obj.get("dns_instructions"), dict):
        records = [{"name": first_present(obj, "domain", "fqdn"), **obj["dns_instructions"]}]
    return build_model(
        Domain,
        {
            **obj,
            "deployment_id": first_present(obj, "deployment_id", "app_id") or deployment_id,
            "name": first_present(obj, "domain", "fqdn", "name"),
            "status": first_present(obj, "status", "verification_status") or "unknown",
            "records": records if records is not None else [],
            "error": first_present(obj, "error", "error_message", "failure_reason", "reason"),
        },
        what="Miosa domain",
    )


def miosa_env_var(raw: Any) -> EnvVar:
    """A row as the server sent it: the official SDK's rows name no environment, and one asked for is not
    one stated (a server that ignores ?environment= lists the default environment's), so none is made up."""
    obj = expect_object(raw, what="Miosa env var")
    return build_model(
        EnvVar,
        {
            **obj,
            "name": first_present(obj, "name", "key"),
            "environment": first_present(obj, "environment"),
        },
        what="Miosa env var",
    )


def version_run(version: Version) -> PipelineRun:
    """A version is one publish pipeline: created -> building -> ready (or failed)."""
    return build_model(
        PipelineRun,
        {
            "id": version.id,
            "deployment_id": version.deployment_id,
            "status": version.state,
            "stages": stages_for(VERSION_STAGES, version.state),
            "version_id": version.id,
            "environment": version.environment,
            "message": version.message or f"{version.label} ({version.kind or 'publish'})",
            "created_at": version.created_at,
            "completed_at": version.promoted_at,
        },
        what="Miosa version pipeline",
    )


def build_run(build: Build) -> PipelineRun:
    """A build is one repo pipeline: queued -> building -> succeeded (or failed / cancelled)."""
    return build_model(
        PipelineRun,
        {
            "id": build.id,
            "deployment_id": build.deployment_id,
            "status": build.state,
            "stages": stages_for(BUILD_STAGES, build.state),
            "message": build.commit_message or f"build ({build.triggered_by or 'manual'})",
            "error": build.error_message,
            "created_at": build.created_at or build.started_at,
            "completed_at": build.finished_at,
        },
        what="Miosa build pipeline",
    )


def parse_miosa_event(frame: ServerSentEvent) -> tuple[int | None, Event] | None:
    """One tenant-stream SSE frame -> (sequence, Event); None for keep-alives.

    Raises StreamResyncRequired for a ``resync_required`` frame, ProtocolError for anything unreadable.
    """
    if frame.event == "resync_required":
        raise StreamResyncRequired(
            "Miosa event stream cannot resume from where it stopped; state must be re-read"
        )
    if not frame.data or frame.data in ("[DONE]",) or frame.event in ("heartbeat", "ping"):
        return None
    payload = decode_frame(frame.data, what="Miosa event")
    kind = payload.get("type") or frame.event or None
    if kind in ("heartbeat", "ping"):
        return None
    if kind == "resync_required":
        raise StreamResyncRequired(
            "Miosa event stream cannot resume from where it stopped; state must be re-read"
        )
    seq = optional_int(frame.id) if frame.id else None
    if frame.id and seq is None:
        raise ProtocolError(f"Miosa event stream: event id {frame.id[:40]!r} is not a sequence number")
    nested = payload.get("data")
    # The sim nests the event's fields under "data"; the official SDK yields the whole decoded payload as
    # the event and names no such key, so a flat payload's own fields are its data (less the envelope).
    data = nested if isinstance(nested, dict) else {k: v for k, v in payload.items() if k not in _ENVELOPE}
    event = build_model(
        Event,
        {
            **payload,
            # Without an id from the server: one from the frame's bytes (a repeated frame is the same event).
            "id": payload.get("id")
            or (str(seq) if seq is not None else None)
            or "sha-" + hashlib.blake2b(frame.data.encode(), digest_size=8).hexdigest(),
            "seq": seq,
            "type": kind or "message",
            "provider": "miosa",
            "data": data,
        },
        what="Miosa event",
    )
    return seq, event


# A Miosa event's envelope (what it is), apart from what it says (its data).
_ENVELOPE = frozenset({"id", "type", "seq", "created_at", "data"})


def parse_miosa_log_frame(frame: ServerSentEvent) -> LogLine | None:
    """One log-stream SSE frame -> LogLine; None for keep-alives. ``done_state`` is set on the last one."""
    if frame.data == "[DONE]":
        return LogLine(line="", done_state="done")
    if not frame.data or frame.event in ("heartbeat", "ping"):
        return None
    payload = decode_frame(frame.data, what="Miosa log")
    kind = payload.get("type")
    if kind in ("heartbeat", "ping"):
        return None
    if kind == "done":
        result = payload.get("result")
        state = result.get("state") if isinstance(result, dict) else None
        return build_model(
            LogLine,
            {"line": "", "done_state": state if isinstance(state, str) else "done"},
            what="Miosa log end",
        )
    if kind == "error":
        return build_model(
            LogLine, {"line": payload.get("message") or "error", "stream": "stderr"}, what="Miosa log error"
        )
    line = first_present(payload, "line", "data", "output")
    stream = payload.get("stream") or (kind if kind in ("stdout", "stderr") else "stdout")
    if line is None:
        return None
    return build_model(
        LogLine, {**payload, "line": line, "stream": stream, "ts": payload.get("ts")}, what="Miosa log line"
    )


class MiosaAdapter(HttpAdapter):
    provider = "miosa"
    capabilities = MIOSA_CAPABILITIES

    # -- deployments -----------------------------------------------------------------------------------
    async def list_deployments(self, *, cursor: str | None = None, limit: int = 100) -> Page[Deployment]:
        body = await self.transport.get("/deployments", params={"limit": min(limit, 200), "cursor": cursor})
        return self._page(body, "deployments", miosa_deployment, sent=cursor)

    async def list_deployment_rows(self, *, cursor: str | None = None, limit: int = 100) -> Page[Deployment]:
        body = await self.transport.get(
            "/deployments",
            params={"limit": min(limit, 200), "cursor": cursor},
            parse=partial(miosa_deployment_page, sent=cursor),
        )
        if isinstance(body, Page):
            return body
        # Not a plain page of rows (a nested envelope, a bad row): its items, found as every list's are.
        listed = read_list(body, what="Miosa deployments", keys=("deployments",))
        rows = miosa_deployment_rows(listed.items)
        return self._page(listed, "deployments", miosa_deployment, sent=cursor, items=rows)

    async def get_deployment(self, deployment_id: str) -> Deployment:
        body = await self.transport.get(f"/deployments/{_seg(deployment_id)}")
        return miosa_deployment(unwrap_object(body, what="Miosa deployment"))

    async def update_deployment(
        self, deployment_id: str, fields: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Deployment:
        body = await self.transport.mutate(
            "PATCH", f"/deployments/{_seg(deployment_id)}", json=dict(fields), idempotency_key=idempotency_key
        )
        return miosa_deployment(unwrap_object(body, what="Miosa deployment"))

    async def delete_deployment(self, deployment_id: str, *, idempotency_key: str | None = None) -> None:
        await self.transport.mutate(
            "DELETE", f"/deployments/{_seg(deployment_id)}", idempotency_key=idempotency_key
        )

    # -- versions, releases, builds ----------------------------------------------------------------------
    async def list_versions(
        self, deployment_id: str, *, cursor: str | None = None, limit: int = 100
    ) -> Page[Version]:
        body = await self.transport.get(
            f"/deployments/{_seg(deployment_id)}/versions",
            params={"limit": min(limit, 200), "cursor": cursor},
        )
        # In a worker thread: one page of 100,000 versions must not stop the console answering keys.
        return await asyncio.to_thread(
            partial(self._page, sent=cursor),
            body,
            "versions",
            lambda raw: miosa_version(raw, deployment_id),
        )

    async def get_version(self, deployment_id: str, version_id: str) -> Version:
        body = await self.transport.get(f"/deployments/{_seg(deployment_id)}/versions/{_seg(version_id)}")
        return miosa_version(unwrap_object(body, what="Miosa version"), deployment_id)

    async def list_releases(self, deployment_id: str) -> list[Release]:
        body = await self.transport.get(f"/deployments/{_seg(deployment_id)}/releases")
        return [miosa_release(raw) for raw in unwrap_list(body, what="Miosa releases", keys=("releases",))]

    async def list_builds(self, deployment_id: str) -> list[Build]:
        body = await self.transport.get(f"/deployments/{_seg(deployment_id)}/builds")
        return [
            miosa_build(raw, deployment_id)
            for raw in unwrap_list(body, what="Miosa builds", keys=("builds",))
        ]

    async def get_build(self, deployment_id: str, build_id: str) -> Build:
        body = await self.transport.get(f"/deployments/{_seg(deployment_id)}/builds/{_seg(build_id)}")
        return miosa_build(unwrap_object(body, what="Miosa build"), deployment_id)

    async def get_health(self, deployment_id: str) -> ServiceHealth | None:
        return await miosa_get_health(self.transport, deployment_id)

    async def get_health_detail(self, deployment_id: str, *, span: str = "1h") -> HealthDetail | None:
        return await miosa_get_detail(self.transport, deployment_id, span=span)

    async def list_pipeline_runs(
        self, deployment_id: str, *, versions: Sequence[Version] | None = None
    ) -> list[PipelineRun]:
        """Publishes (versions, newest page) and repo builds as one list, newest first."""
        if versions is None:
            versions = (await self.list_versions(deployment_id, limit=50)).items
        builds = await self.list_builds(deployment_id)
        # The newest 50 even when a server ignores the limit (100,000 runs built on the event loop froze it).
        newest = keep_newest([], list(versions), 50)
        runs = [version_run(v) for v in newest] + [build_run(b) for b in builds[:50]]
        return sorted(
            runs, key=lambda run: run.created_at.timestamp() if run.created_at else 0.0, reverse=True
        )

    # -- stop, release promote, runtime --------------------------------------------------------------------
    async def stop(self, deployment_id: str, *, idempotency_key: str | None = None) -> Deployment:
        body = await self.transport.mutate(
            "POST", f"/deployments/{_seg(deployment_id)}/stop", idempotency_key=idempotency_key
        )
        return miosa_deployment(unwrap_object(body, what="Miosa deployment", keys=("deployment",)))

    async def promote_release(
        self, deployment_id: str, release_id: str, *, idempotency_key: str | None = None
    ) -> Deployment:
        body = await self.transport.mutate(
            "POST",
            f"/deployments/{_seg(deployment_id)}/releases/{_seg(release_id)}/promote",
            idempotency_key=idempotency_key,
        )
        return miosa_deployment(unwrap_object(body, what="Miosa deployment", keys=("deployment",)))

    async def list_runtime_instances(self, deployment_id: str) -> list[RuntimeInstance]:
        body = await self.transport.get(f"/deployments/{_seg(deployment_id)}/runtime-instances")
        raws = unwrap_list(body, what="Miosa runtime instances", keys=("items", "runtime_instances"))
        return [build_model(RuntimeInstance, raw, what="Miosa runtime instance") for raw in raws]

    async def runtime_log_lines(
        self, deployment_id: str, instance_id: str, *, lines: int = 200
    ) -> list[LogLine]:
        body = await self.transport.get(
            f"/deployments/{_seg(deployment_id)}/runtime-instances/{_seg(instance_id)}/logs",
            params={"lines": lines},
        )
        obj = unwrap_object(body, what="Miosa runtime log")
        text = obj.get("logs")
        if not isinstance(text, str):
            raise ProtocolError("Miosa runtime log: no 'logs' text")
        return [parse_runtime_line(line) for line in text.splitlines() if line.strip()]

    async def recent_runtime_logs(
        self, deployment_id: str, *, instance_id: str | None, hours: int, level: str | None, limit: int
    ) -> list[LogLine]:
        """One instance's last ``limit`` lines; ``level`` error or warn keeps stderr, any other stdout."""
        if instance_id is None:
            instances = await self.list_runtime_instances(deployment_id)
            if not instances:
                raise NotFound(f"{deployment_id} has no runtime instances", status=404, provider="miosa")
            instance_id = instances[0].id
        lines = await self.runtime_log_lines(deployment_id, instance_id, lines=limit)
        if level:
            wanted = "stderr" if level in ("error", "warn") else "stdout"
            lines = [line for line in lines if line.stream == wanted]
        return lines

    def request_logs(self, deployment_id: str) -> AsyncIterator[LogLine]:
        return miosa_request_log(self.transport, deployment_id)

    def runtime_logs(self, deployment_id: str, instance_id: str) -> AsyncIterator[LogLine]:
        return self._tail_runtime(deployment_id, instance_id)

    async def _tail_runtime(self, deployment_id: str, instance_id: str) -> AsyncIterator[LogLine]:
        """Polled (the endpoint answers the last N lines): each line once, by its time and text."""
        newest: tuple[float, str] | None = None
        while True:
            for line in await self.runtime_log_lines(deployment_id, instance_id):
                key = (line.ts.timestamp() if line.ts else 0.0, line.line)
                if newest is not None and key <= newest:
                    continue
                newest = key
                yield line
            await asyncio.sleep(RUNTIME_LOG_POLL_SECONDS)

    # -- actions ---------------------------------------------------------------------------------------------
    async def rollback(
        self,
        deployment_id: str,
        *,
        to_version_id: str | None = None,
        environment: str | None = None,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> Deployment:
        # The reason goes to the audit log; the API body takes only the target.
        payload: JsonObject = {"version_id": to_version_id} if to_version_id else {}
        body = await self.transport.mutate(
            "POST",
            f"/deployments/{_seg(deployment_id)}/rollback",
            json=payload,
            idempotency_key=idempotency_key,
        )
        return miosa_deployment(unwrap_object(body, what="Miosa rollback"))

    async def promote(
        self,
        deployment_id: str,
        version_id: str,
        *,
        environment: str | None = None,
        idempotency_key: str | None = None,
    ) -> Deployment:
        payload: JsonObject = {"environment": environment} if environment else {}
        body = await self.transport.mutate(
            "POST",
            f"/deployments/{_seg(deployment_id)}/versions/{_seg(version_id)}/promote",
            json=payload,
            idempotency_key=idempotency_key,
        )
        return miosa_deployment(unwrap_object(body, what="Miosa promote"))

    async def publish(
        self, deployment_id: str, request: PublishRequest, *, idempotency_key: str | None = None
    ) -> PublishResult:
        payload = request.model_dump(
            include={*MIOSA_CAPABILITIES.publish_fields, "promote"}, exclude_none=True
        )
        body = await self.transport.mutate(
            "POST",
            f"/deployments/{_seg(deployment_id)}/publish",
            json=payload,
            idempotency_key=idempotency_key,
        )
        return self._publish_result(unwrap_object(body, what="Miosa publish"), deployment_id)

    async def publish_from_sandbox(
        self,
        sandbox_id: str,
        *,
        deployment_id: str | None = None,
        name: str | None = None,
        build_command: str | None = None,
        run_command: str | None = None,
        port: int | None = None,
        health_check_path: str | None = None,
        output_path: str | None = None,
        idempotency_key: str | None = None,
    ) -> PublishResult:
        """The sandbox bridge: publish a sandbox into ``deployment_id``, or create deployment ``name``."""
        fields = {
            "deployment_id": deployment_id,
            "name": name,
            "build_command": build_command,
            "run_command": run_command,
            "port": port,
            "health_check_path": health_check_path,
            "output_path": output_path,
        }
        body = await self.transport.mutate(
            "POST",
            f"/sandboxes/{_seg(sandbox_id)}/deploy",
            json={k: v for k, v in fields.items() if v is not None},
            idempotency_key=idempotency_key,
        )
        raw = unwrap_object(body, what="Miosa sandbox deploy")
        result = self._publish_result(raw, deployment_id)
        if result.deployment is None:
            target = first_present(raw, "deployment_id") or deployment_id
            if isinstance(target, str):
                result.deployment = await self.get_deployment(target)
        return result

    async def redeploy(self, deployment_id: str, *, idempotency_key: str | None = None) -> PipelineRun | None:
        """Rebuild the active version: the run of the NEW build, or None when the answer does not tell
        which build that is (the redeploy was taken; its run is unknown).

        The official SDK answers a Deployment (``redeploy(...) -> Deployment``), the house contract and the
        TS CLI a DeploymentBuild; both are read. A Deployment's ``current_build_id`` may still be the build
        before this one (a server that queues the build later), so the new build is told by the builds
        known before the request was sent: the answer's current build when it is none of them, else the one
        build listed after the answer that is none of them."""
        known = await self._build_ids(deployment_id)
        body = await self.transport.mutate(
            "POST", f"/deployments/{_seg(deployment_id)}/redeploy", json={}, idempotency_key=idempotency_key
        )
        raw = unwrap_object(body, what="Miosa redeploy")
        if "state" in raw and "slug" not in raw:  # a DeploymentBuild (the contract's 202 answer)
            return build_run(miosa_build(raw, deployment_id))
        deployment = miosa_deployment(raw)
        if known is None:
            return None  # what was there before is unknown: any build now listed may be an old one
        return await self._new_build_run(deployment.id, deployment.current_build_id, known)

    async def _build_ids(self, deployment_id: str) -> set[str] | None:
        """The ids of the deployment's builds now (None when they cannot be read: the change still goes)."""
        try:
            return {build.id for build in await self.list_builds(deployment_id)}
        except ShipdeckError:
            return None

    async def _new_build_run(
        self, deployment_id: str, current: str | None, known: set[str]
    ) -> PipelineRun | None:
        """The run of the build a redeploy made: ``current`` (the answer's current build) when it is not one
        of the ``known`` builds, else the one build listed now that is not; None when neither tells. Reads
        that fail give None too: the redeploy was taken, and only its run is not known."""
        try:
            new = [build for build in await self.list_builds(deployment_id) if build.id not in known]
        except ShipdeckError:
            new = []
        chosen = next((build for build in new if build.id == current), None)
        if chosen is None and current is not None and current not in known:
            try:  # new, not listed yet
                chosen = await self.get_build(deployment_id, current)
            except ShipdeckError:
                return None
        if chosen is None and len(new) == 1 and (current is None or current in known):
            chosen = new[0]  # the answer still names the build before; one build is new since
        return build_run(chosen) if chosen is not None else None

    # -- domains ---------------------------------------------------------------------------------------------
    async def list_domains(self, deployment_id: str) -> list[Domain]:
        body = await self.transport.get(f"/deployments/{_seg(deployment_id)}/domains")
        raws = unwrap_list(body, what="Miosa domains", keys=("domains",))
        return await map_rows(raws, lambda raw: miosa_domain(raw, deployment_id))

    async def add_domain(
        self, deployment_id: str, domain: str, *, idempotency_key: str | None = None
    ) -> Domain:
        body = await self.transport.mutate(
            "POST",
            f"/deployments/{_seg(deployment_id)}/domains",
            json={"domain": domain},
            idempotency_key=idempotency_key,
        )
        return miosa_domain(unwrap_object(body, what="Miosa domain", keys=("domain",)), deployment_id)

    async def verify_domain(
        self, deployment_id: str, domain_id: str, *, idempotency_key: str | None = None
    ) -> Domain:
        body = await self.transport.mutate(
            "POST",
            f"/deployments/{_seg(deployment_id)}/domains/{_seg(domain_id)}/verify",
            idempotency_key=idempotency_key,
        )
        return miosa_domain(unwrap_object(body, what="Miosa domain", keys=("domain",)), deployment_id)

    async def remove_domain(
        self, deployment_id: str, domain_id: str, *, idempotency_key: str | None = None
    ) -> None:
        await self.transport.mutate(
            "DELETE",
            f"/deployments/{_seg(deployment_id)}/domains/{_seg(domain_id)}",
            idempotency_key=idempotency_key,
        )

    # -- env -------------------------------------------------------------------------------------------------
    async def list_env(self, deployment_id: str, *, environment: str = "production") -> list[EnvVar]:
        body = await self.transport.get(
            f"/deployments/{_seg(deployment_id)}/env", params={"environment": environment}
        )
        raws = unwrap_list(body, what="Miosa env", keys=("env",))
        rows = await map_rows(raws, miosa_env_var)
        # A server that ignores ?environment= and lists every environment's variables must not have
        # production's shown as preview's: a row stating another environment is not this one's. A row that
        # states none stays, unlabelled (the official SDK's rows state none; live.env says what that means).
        return [row for row in rows if row.environment in (None, environment)]

    async def set_env(
        self,
        deployment_id: str,
        values: Mapping[str, str],
        *,
        environment: str = "production",
        idempotency_key: str | None = None,
    ) -> list[EnvVar]:
        body = await self.transport.mutate(
            "POST",
            f"/deployments/{_seg(deployment_id)}/env",
            json={"env": dict(values), "environment": environment},
            idempotency_key=idempotency_key,
        )
        return [miosa_env_var(raw) for raw in unwrap_list(body, what="Miosa env", keys=("env",))]

    async def unset_env(
        self,
        deployment_id: str,
        key: str,
        *,
        environment: str = "production",
        idempotency_key: str | None = None,
    ) -> None:
        await self.transport.mutate(
            "DELETE",
            f"/deployments/{_seg(deployment_id)}/env/{_seg(key)}",
            params={"environment": environment},
            idempotency_key=idempotency_key,
        )

    # -- streams ---------------------------------------------------------------------------------------------
    def events(self, *, after: str | int | None = None) -> AsyncIterator[Event]:
        """Tenant events (SSE ``/events/stream``), resumed with ``Last-Event-ID``.

        Raises StreamResyncRequired (from the iterator) when the server cannot replay, or after a long outage.
        """
        start = optional_int(after) if after is not None else None

        async def connect(last: int | None) -> AsyncGenerator[tuple[int | None, Event], None]:
            stream = self.open_sse(
                "/events/stream", what="Miosa event stream", last_event_id=last, connected=True
            )
            async with stream as frames:
                async for frame in frames:
                    parsed = parse_miosa_event(frame)
                    if parsed is not None:
                        yield parsed

        return resilient_stream(
            connect,
            after=start,
            options=self.stream_options,
            describe="Miosa event stream",
            notice=self.transport.on_notice,
            health=self.stream_health,
        )

    def deployment_logs(self, deployment_id: str) -> AsyncIterator[LogLine]:
        return self._log_stream(f"/deployments/{_seg(deployment_id)}/logs", "deployment log")

    def build_logs(self, deployment_id: str, build_id: str) -> AsyncIterator[LogLine]:
        return self._log_stream(
            f"/deployments/{_seg(deployment_id)}/builds/{_seg(build_id)}/logs", "build log"
        )

    def _log_stream(self, path: str, describe: str) -> AsyncIterator[LogLine]:
        async def connect(last: int | None) -> AsyncGenerator[tuple[int | None, LogLine], None]:
            async with self.open_sse(path, what=f"Miosa {describe}", last_event_id=last) as frames:
                async for frame in frames:
                    line = parse_miosa_log_frame(frame)
                    if line is not None:
                        yield (optional_int(frame.id) if frame.id else None), line

        return resilient_stream(
            connect,
            after=None,
            options=self.stream_options,
            describe=f"Miosa {describe}",
            notice=self.transport.on_notice,
            is_final=lambda line: line.done_state is not None,
        )

    # -- helpers ---------------------------------------------------------------------------------------------
    @staticmethod
    def _page(
        body: Any,
        key: str,
        mapper: Callable[[JsonObject], T],
        *,
        sent: str | None,
        items: list[T] | None = None,
    ) -> Page[T]:
        """A page of ``key`` (``body``, or its :class:`ListAnswer`), asked for with cursor ``sent``: its
        items mapped one by one (or ``items``, read already) and its next cursor (:func:`miosa_next_cursor`),
        read beside the items first (``{"data": {"items": [...], "next_cursor": ...}}``), then at the top."""
        listed = body if isinstance(body, ListAnswer) else read_list(body, what=f"Miosa {key}", keys=(key,))
        if items is None:
            items = [mapper(raw) for raw in listed.items]
        totals = [optional_int(scope.get("total")) for scope in listed.scopes]
        total = next((count for count in totals if count is not None), None)
        next_cursor = miosa_next_cursor(listed.scopes, sent=sent, what=f"Miosa {key}")
        return Page(items=items, next_cursor=next_cursor, total=total)

    def _publish_result(self, raw: JsonObject, deployment_id: str | None) -> PublishResult:
        deployment = miosa_deployment(raw["deployment"]) if isinstance(raw.get("deployment"), dict) else None
        version_id = deployment.id if deployment else deployment_id
        version = miosa_version(raw["version"], version_id) if isinstance(raw.get("version"), dict) else None
        promoted = raw.get("promoted")
        return build_model(
            PublishResult,
            {
                **{k: v for k, v in raw.items() if k not in ("deployment", "version", "run", "promoted")},
                "deployment": deployment,
                "version": version,
                "run": version_run(version) if version else None,
                "promoted": promoted if isinstance(promoted, bool) else False,
            },
            what="Miosa publish result",
        )

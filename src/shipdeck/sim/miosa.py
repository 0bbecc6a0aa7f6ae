"""The Miosa surface under ``/api/v1``: rows 1-31 of ``contract/miosa.md`` section 4, the tenant event
stream and the SSE log streams, with the house decisions of ``contract/README.md``."""

from __future__ import annotations

import fnmatch
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from shipdeck.sim import metrics as traffic_metrics
from shipdeck.sim import miosa_health, miosa_seed
from shipdeck.sim.core import (
    SSE_HEADERS,
    BadBody,
    Database,
    SimContext,
    abort_current_connection,
    answering,
    json_body,
    miosa_error,
    sse_frame,
)
from shipdeck.sim.miosa_store import (
    ENVIRONMENTS,
    PROVIDER,
    SCHEMA,
    TERMINAL_BUILD_STATES,
    ApiError,
    MiosaStore,
    mask,
    new_id,
    not_found,
)

__all__ = ["PROVIDER", "create_schema", "resume", "routes", "seed"]

BASE = "/api/v1"
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_LOG_LINES = 5000
EVENT_BATCH = 500
# What a redeploy's new version takes from the active one: how it is built and run.
REDEPLOY_KEEPS = (
    "source_sandbox_id",
    "kind",
    "runtime_image",
    "runtime_command",
    "runtime_port",
    "health_check_path",
)

Handler = Callable[[Request], Awaitable[Response]]


def create_schema(db: Database) -> None:
    db.connection.executescript(SCHEMA)
    traffic_metrics.create_schema(db)


def seed(ctx: SimContext, kind: str) -> None:
    miosa_seed.seed(MiosaStore(ctx), kind)


def resume(ctx: SimContext) -> None:
    store = MiosaStore(ctx)
    for version_id in store.unfinished_versions():
        ctx.spawn(_pipeline(store, version_id))


async def _pipeline(store: MiosaStore, version_id: str) -> None:
    try:
        await store.run_pipeline(version_id)
    except ApiError:
        pass  # the deployment was deleted while it built


# ------------------------------------------------------------------------------------------- request helpers


def _bad_body(exc: BadBody) -> Response:
    return miosa_error(422, "VALIDATION_FAILED", exc.message, exc.details)


def _guard(handler: Handler) -> Handler:
    """Render refusals (ApiError) and BadBody in the Miosa error shape; refuse an Accept header the real
    server's JSON pipeline cannot serve, before anything else runs (as Phoenix's ``accepts ["json"]``)."""
    answered = answering(handler, _bad_body)

    async def guarded(request: Request) -> Response:
        if not _accepts_json(request.headers.get("accept", "")):
            return miosa_error(
                406, "NOT_ACCEPTABLE", "no acceptable format: the Accept header must allow application/json"
            )
        return await answered(request)

    return guarded


def _accepts_json(accept: str) -> bool:
    """No Accept header, or one naming JSON or a wildcard. The official SDK's note: ``text/event-stream``
    alone gets a 406 from every route behind the JSON guard, so it sends ``application/json;q=0.9`` too."""
    if not accept.strip():
        return True
    types = {part.split(";", 1)[0].strip().lower() for part in accept.split(",")}
    return bool(types & {"application/json", "*/*", "application/*"})


def _text(body: dict[str, Any], name: str, *, required: bool = False, max_length: int = 500) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise BadBody(f"{name} is required.", {"field": name})
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise BadBody(f"{name} must be a non-empty string.", {"field": name})
    if len(value) > max_length:
        raise BadBody(f"{name} is longer than {max_length} characters.", {"field": name})
    return value


def _flag(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise BadBody(f"{name} must be true or false.", {"field": name})
    return value


def _object(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = body.get(name)
    if value is not None and not isinstance(value, dict):
        raise BadBody(f"{name} must be an object.", {"field": name})
    return value


def _limit(request: Request) -> int:
    text = request.query_params.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise BadBody(f"limit must be a whole number from 1 to {MAX_LIMIT}.", {"field": "limit"})
    return int(text)


def _environment(value: Any) -> str:
    if value is None:
        return "production"
    if value not in ENVIRONMENTS:
        raise BadBody(f"environment must be one of {', '.join(ENVIRONMENTS)}.", {"field": "environment"})
    return str(value)


def _wants_sse(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


def _data(payload: Any, status: int = 200) -> JSONResponse:
    return JSONResponse({"data": payload}, status_code=status)


def _page(items: list[dict[str, Any]], next_cursor: str | None) -> JSONResponse:
    return JSONResponse({"data": items, "next_cursor": next_cursor})


def _sse(frames: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(frames, media_type="text/event-stream", headers=SSE_HEADERS)


# ------------------------------------------------------------------------------------------- routes


class MiosaService:
    """The Miosa routes over one store: one method per route, the route table in :meth:`routes`."""

    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.store = MiosaStore(ctx)
        self.db = ctx.db

    def deployment_of(self, request: Request) -> dict[str, Any]:
        return self.store.get("deployment", request.path_params["deployment_id"])

    # -- deployments ---------------------------------------------------------------------------------------
    async def list_deployments(self, request: Request) -> Response:
        clauses, params = [], []
        for name in (
            "state",
            "project_id",
            "external_workspace_id",
            "external_user_id",
            "external_project_id",
        ):
            value = request.query_params.get(name)
            if value is not None:
                clauses.append(f"json_extract(doc, '$.{name}') = ?")
                params.append(value)
        return _page(
            *self.store.page(
                "deployment",
                " AND ".join(clauses),
                tuple(params),
                _limit(request),
                request.query_params.get("cursor"),
            )
        )

    async def create_deployment(self, request: Request) -> Response:
        body = await json_body(request, allow_empty=False)
        fields: dict[str, Any] = {"name": _text(body, "name", required=True, max_length=100)}
        for name in (
            "repo_url",
            "branch",
            "build_command",
            "run_command",
            "project_id",
            "external_workspace_id",
            "external_user_id",
            "external_project_id",
        ):
            value = _text(body, name)
            if value is not None:
                fields[name] = value
        if _flag(body, "auto_deploy") is not None:
            fields["auto_deploy"] = body["auto_deploy"]
        if _object(body, "metadata") is not None:
            fields["metadata"] = body["metadata"]
        if fields.get("repo_url"):
            fields["source_type"] = "repo"
        with self.ctx.idempotent(request, body) as idem:
            if idem.replay:
                return idem.replay
            deployment = self.store.new_deployment(fields)
            self.store.emit(
                "deployment.updated", {"deployment_id": deployment["id"], "deployment": deployment}
            )
            return idem.respond(201, {"data": deployment, "webhook_secret": "whsec_" + secrets.token_hex(16)})

    async def get_deployment(self, request: Request) -> Response:
        return _data(self.deployment_of(request))

    async def update_deployment(self, request: Request) -> Response:
        body = await json_body(request)
        changes: dict[str, Any] = {}
        for name in ("name", "branch", "build_command", "run_command"):
            value = _text(body, name, required=name in body, max_length=100 if name == "name" else 500)
            if value is not None:
                changes[name] = value
        for name in ("external_workspace_id", "external_user_id", "external_project_id"):
            if _text(body, name) is not None:
                changes[name] = body[name]
        if _flag(body, "auto_deploy") is not None:
            changes["auto_deploy"] = body["auto_deploy"]
        if _object(body, "metadata") is not None:
            changes["metadata"] = body["metadata"]
        with self.ctx.idempotent(request, body) as idem:
            if idem.replay:
                return idem.replay
            deployment = self.deployment_of(request)
            deployment.update(changes)
            self.store.save("deployment", deployment)
            self.store.emit(
                "deployment.updated", {"deployment_id": deployment["id"], "deployment": deployment}
            )
            return idem.respond(200, {"data": deployment})

    async def delete_deployment(self, request: Request) -> Response:
        with self.ctx.idempotent(request, None) as idem:
            if idem.replay:
                return idem.replay
            deployment_id = request.path_params["deployment_id"]
            self.store.delete_deployment(deployment_id)
            return idem.respond(200, {"id": deployment_id, "deleted": True})

    # -- publish, redeploy, rollback, promote ---------------------------------------------------------------
    def publish_fields(self, body: dict[str, Any]) -> dict[str, Any]:
        kind = _text(body, "kind") or "auto"
        if kind not in ("auto", "static", "dynamic"):
            raise BadBody("kind must be auto, static or dynamic.", {"field": "kind"})
        _environment(body.get("environment"))
        fields: dict[str, Any] = {
            "kind": "dynamic" if kind == "dynamic" or body.get("run_command") else "static"
        }
        fields["source_sandbox_id"] = _text(body, "source_sandbox_id")
        fields["runtime_command"] = _text(body, "run_command")
        fields["health_check_path"] = _text(body, "health_check_path")
        port = body.get("port")
        if port is not None and (not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536):
            raise BadBody("port must be a TCP port number.", {"field": "port"})
        fields["runtime_port"] = port
        output_path = _text(body, "output_path")
        if output_path:
            fields["metadata"] = {"output_path": output_path}
        return fields

    @staticmethod
    def publish_route_fields(body: dict[str, Any]) -> dict[str, Any]:
        """``POST /deployments/:id/publish`` reads the sandbox, its output path and entrypoint: the official
        SDKs send only those (kind, environment, build and run commands, port and health check are
        "reserved; ignored by current static publish route"), and the version it makes is static."""
        metadata = {
            name: value
            for name in ("output_path", "entrypoint")
            if (value := _text(body, name, max_length=1024)) is not None
        }
        fields: dict[str, Any] = {"kind": "static", "source_sandbox_id": _text(body, "source_sandbox_id")}
        if metadata:
            fields["metadata"] = metadata
        return fields

    async def publish(self, request: Request) -> Response:
        body = await json_body(request, allow_empty=False)
        _text(body, "source_sandbox_id", required=True)
        fields = self.publish_route_fields(body)
        promote = _flag(body, "promote")
        with self.ctx.idempotent(request, body) as idem:
            if idem.replay:
                return idem.replay
            deployment = self.deployment_of(request)
            version, _ = self.store.start_publish(
                deployment, fields, promote=promote is not False, triggered_by="manual"
            )
            payload: dict[str, Any] = {
                "deployment": deployment,
                "version": version,
                "release": None,
                "services": [],
                "promoted": False,
            }
            response = idem.respond(200, {"data": payload})
        self.ctx.spawn(_pipeline(self.store, version["id"]))
        return response

    async def sandbox_deploy(self, request: Request) -> Response:
        body = await json_body(request)
        sandbox_id = request.path_params["sandbox_id"]
        fields = self.publish_fields({**body, "source_sandbox_id": sandbox_id})
        deployment_id = _text(body, "deployment_id")
        name = _text(body, "name", max_length=100) or sandbox_id
        product = _text(body, "deployment_type") or "miosa_deploy"
        if product not in ("miosa_deploy", "docker_deploy"):
            raise BadBody(
                "deployment_type must be miosa_deploy or docker_deploy.", {"field": "deployment_type"}
            )
        with self.ctx.idempotent(request, body) as idem:
            if idem.replay:
                return idem.replay
            if deployment_id:
                deployment = self.store.get("deployment", deployment_id)
            else:
                deployment = self.store.new_deployment(
                    {"name": name, "deployment_product": product, "metadata": {"deployment_product": product}}
                )
            version, _ = self.store.start_publish(deployment, fields, promote=True, triggered_by="manual")
            payload: dict[str, Any] = {
                "deployment_id": deployment["id"],
                "version_id": version["id"],
                "url": deployment["auto_subdomain"],
                "public_url": deployment["auto_subdomain"],
                "state": "building",
                "deployment_product": deployment["deployment_product"],
            }
            response = idem.respond(200, {"data": payload})
        self.ctx.spawn(_pipeline(self.store, version["id"]))
        return response

    async def redeploy(self, request: Request) -> Response:
        body = await json_body(request)
        with self.ctx.idempotent(request, body) as idem:
            if idem.replay:
                return idem.replay
            deployment = self.deployment_of(request)
            # "Re-runs the last build" (the SDK): the new version is made as the active one was, a
            # dynamic app stays dynamic (it came out static, with no run command).
            made_as: dict[str, Any] = {"source_sandbox_id": None}
            if deployment["active_version_id"]:
                active = self.store.get("version", deployment["active_version_id"])
                made_as = {key: active[key] for key in REDEPLOY_KEEPS if key in active}
                kept = {
                    k: v
                    for k, v in (active.get("metadata") or {}).items()
                    if k in ("output_path", "entrypoint")
                }
                made_as["metadata"] = kept
            version, _build = self.store.start_publish(
                deployment, made_as, promote=True, triggered_by="manual"
            )
            # The official SDK's answer: the Deployment (``redeploy(...) -> Deployment``), whose
            # current_build_id is now the new build (start_publish set it).
            response = idem.respond(202, {"data": deployment})
        self.ctx.spawn(_pipeline(self.store, version["id"]))
        return response

    async def stop(self, request: Request) -> Response:
        """``POST /deployments/{id}/stop``: take a published deployment off the air (``stopped``, no public
        URL). Its versions stay: promoting or rolling back to one puts it back on the air."""
        body = await json_body(request)
        with self.ctx.idempotent(request, body) as idem:
            if idem.replay:
                return idem.replay
            deployment = self.deployment_of(request)
            if not deployment["active_version_id"]:
                raise ApiError(
                    409, "NOT_PUBLISHED", "This deployment has never been published; nothing to stop."
                )
            if deployment["state"] != "stopped":
                deployment["public_url"] = None
                self.store.set_deployment_state(deployment, "stopped")
                self.store.emit(
                    "deployment.updated", {"deployment_id": deployment["id"], "deployment": deployment}
                )
            return idem.respond(200, {"data": deployment})

    async def rollback(self, request: Request) -> Response:
        body = await json_body(request)
        version_id = _text(body, "version_id")
        release_id = _text(body, "release_id")
        with self.ctx.idempotent(request, body) as idem:
            if idem.replay:
                return idem.replay
            deployment = self.deployment_of(request)
            if release_id:
                version_id = self.store.get("release", release_id, deployment["id"])["deployment_version_id"]
            if version_id:
                target = self.store.get("version", version_id, deployment["id"])
            else:
                if not deployment["active_version_id"]:
                    raise ApiError(
                        409, "NO_ACTIVE_VERSION", "This deployment has no active version to roll back from."
                    )
                active = self.store.get("version", deployment["active_version_id"])
                found = self.store.version_by_number_before(deployment["id"], active["version_number"])
                if found is None:
                    raise ApiError(409, "NO_PREVIOUS_VERSION", "No ready version older than the active one.")
                target = found
            self.store.activate(deployment, target, rolled_back=True)
            return idem.respond(200, {"data": deployment})

    async def promote_version(self, request: Request) -> Response:
        body = await json_body(request)
        _environment(body.get("environment"))
        with self.ctx.idempotent(request, body) as idem:
            if idem.replay:
                return idem.replay
            deployment = self.deployment_of(request)
            version = self.store.get("version", request.path_params["version_id"], deployment["id"])
            self.store.activate(deployment, version)
            return idem.respond(200, {"data": deployment})

    async def promote_release(self, request: Request) -> Response:
        body = await json_body(request)
        _environment(body.get("environment"))
        with self.ctx.idempotent(request, body) as idem:
            if idem.replay:
                return idem.replay
            deployment = self.deployment_of(request)
            release = self.store.get("release", request.path_params["release_id"], deployment["id"])
            self.store.activate(deployment, self.store.get("version", release["deployment_version_id"]))
            return idem.respond(200, {"data": deployment, "release_id": release["id"]})

    async def migration_backup(self, request: Request) -> Response:
        body = await json_body(request)
        with self.ctx.idempotent(request, body) as idem:
            if idem.replay:
                return idem.replay
            deployment = self.deployment_of(request)
            version = self.store.get("version", request.path_params["version_id"], deployment["id"])
            now = self.ctx.clock.now_iso()
            backup = {
                "id": new_id(self.ctx.rng, "bkp"),
                "database_id": deployment["linked_database_id"] or f"db_{deployment['slug']}",
                "state": "queued",
                "backup_type": "pre_migration",
                "size_bytes": None,
                "started_at": None,
                "completed_at": None,
                "created_at": now,
            }
            return idem.respond(200, {"data": {"backup": backup, "version": version}})

    # -- versions, releases, builds --------------------------------------------------------------------------
    async def list_versions(self, request: Request) -> Response:
        deployment = self.deployment_of(request)
        clauses, params = ["deployment_id = ?"], [deployment["id"]]
        state = request.query_params.get("state")
        if state is not None:
            clauses.append("json_extract(doc, '$.state') = ?")
            params.append(state)
        return _page(
            *self.store.page(
                "version",
                " AND ".join(clauses),
                tuple(params),
                _limit(request),
                request.query_params.get("cursor"),
            )
        )

    def child_list(self, kind: str) -> Handler:
        async def list_children(request: Request) -> Response:
            deployment = self.deployment_of(request)
            return _page(
                *self.store.page(
                    kind,
                    "deployment_id = ?",
                    (deployment["id"],),
                    _limit(request),
                    request.query_params.get("cursor"),
                )
            )

        return list_children

    def child_get(self, kind: str, param: str) -> Handler:
        async def get_child(request: Request) -> Response:
            deployment = self.deployment_of(request)
            return _data(self.store.get(kind, request.path_params[param], deployment["id"]))

        return get_child

    # -- logs ------------------------------------------------------------------------------------------------
    async def build_log_frames(self, build_id: str, after: int) -> AsyncIterator[str]:
        yield ": stream open\n\n"
        while True:
            mark = self.ctx.events.latest_seq(PROVIDER)
            rows = self.store.log_lines(build_id, after)
            for row in rows:
                after = row["seq"]
                frame = {"stream": row["stream"], "line": row["line"], "ts": row["ts"]}
                yield sse_frame(frame, event="log_line", event_id=row["seq"])
            if rows:
                continue
            try:
                state = self.store.get("build", build_id)["state"]
            except ApiError:
                state = "cancelled"  # deleted while we streamed
            if state in TERMINAL_BUILD_STATES and not self.store.log_lines(build_id, after, 1):
                yield sse_frame({"type": "done", "result": {"state": state}}, event="done")
                return
            if not await self.ctx.events.wait_for_new(PROVIDER, mark, self.ctx.heartbeat_seconds):
                yield ":heartbeat\n\n"

    def last_event_id(self, request: Request) -> int:
        text = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
        if not text.isdigit():
            raise BadBody("Last-Event-ID must be a sequence number.", {"field": "Last-Event-ID"})
        return int(text)

    async def build_logs(self, request: Request) -> Response:
        deployment = self.deployment_of(request)
        build = self.store.get("build", request.path_params["build_id"], deployment["id"])
        if not _wants_sse(request):
            return _data(
                {
                    "build_id": build["id"],
                    "deployment_id": deployment["id"],
                    "logs": _log_text(self.store, build["id"], _lines(request)),
                }
            )
        return _sse(self.build_log_frames(build["id"], self.last_event_id(request)))

    async def deployment_logs(self, request: Request) -> Response:
        deployment = self.deployment_of(request)
        build_id = deployment["current_build_id"]
        if not _wants_sse(request):
            logs = _log_text(self.store, build_id, _lines(request)) if build_id else ""
            return _data({"deployment_id": deployment["id"], "build_id": build_id, "logs": logs})
        after = self.last_event_id(request)
        if build_id is None:

            async def nothing() -> AsyncIterator[str]:
                yield sse_frame({"type": "done", "result": {"state": deployment["state"]}}, event="done")

            return _sse(nothing())
        return _sse(self.build_log_frames(build_id, after))

    # -- env -------------------------------------------------------------------------------------------------
    def env_rows(
        self, deployment_id: str, environment: str, names: list[str] | None = None
    ) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT name, value, created_at, updated_at FROM miosa_env "
            "WHERE deployment_id = ? AND environment = ? "
            "ORDER BY name",
            (deployment_id, environment),
        )
        if self.sdk_env_shape:
            # The official SDK's EnvVarPreview: no environment (nor key) in a row.
            return [
                {
                    "name": r["name"],
                    "preview": mask(r["value"]),
                    "created_at": r["created_at"],
                    "updated_at": r["updated_at"],
                }
                for r in rows
                if names is None or r["name"] in names
            ]
        return [
            {
                "name": r["name"],
                "key": r["name"],
                "preview": mask(r["value"]),
                "environment": environment,
                "created_at": r["created_at"],
                "updated_at": r["updated_at"],
            }
            for r in rows
            if names is None or r["name"] in names
        ]

    @property
    def sdk_env_shape(self) -> bool:
        """``--miosa-env sdk``: env rows as the official SDK knows them, and no ?environment= on a list or a
        delete (the SDK sends none): they reach the default environment's variables whatever it asks."""
        return self.ctx.options.miosa_env == "sdk"

    def env_query(self, request: Request) -> str:
        """The environment a list or a delete reaches."""
        if self.sdk_env_shape:
            return "production"
        return _environment(request.query_params.get("environment"))

    async def list_env(self, request: Request) -> Response:
        deployment = self.deployment_of(request)
        return _data(self.env_rows(deployment["id"], self.env_query(request)))

    async def set_env(self, request: Request) -> Response:
        body = await json_body(request, allow_empty=False)
        values = body.get("env")
        if not isinstance(values, dict) or not values:
            raise BadBody('env must be a non-empty object of {"NAME": "value"}.', {"field": "env"})
        for name, value in values.items():
            if not _is_env_name(name) or not isinstance(value, str):
                raise BadBody(f"env {name!r}: names are LIKE_THIS and values are strings.", {"field": "env"})
        environment = _environment(body.get("environment"))
        with self.ctx.idempotent(request, body) as idem:
            if idem.replay:
                return idem.replay
            deployment = self.deployment_of(request)
            now = self.ctx.clock.now_iso()
            self.db.executemany(
                "INSERT INTO miosa_env(deployment_id, environment, name, value, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(deployment_id, environment, name) "
                "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                [(deployment["id"], environment, name, value, now, now) for name, value in values.items()],
            )
            self.store.emit(
                "env.changed",
                {
                    "deployment_id": deployment["id"],
                    "environment": environment,
                    "action": "set",
                    "names": sorted(values),
                },
            )
            return idem.respond(200, {"data": self.env_rows(deployment["id"], environment, list(values))})

    async def delete_env(self, request: Request) -> Response:
        environment = self.env_query(request)
        name = request.path_params["key"]
        with self.ctx.idempotent(request, None) as idem:
            if idem.replay:
                return idem.replay
            deployment = self.deployment_of(request)
            cursor = self.db.execute(
                "DELETE FROM miosa_env WHERE deployment_id = ? AND environment = ? AND name = ?",
                (deployment["id"], environment, name),
            )
            if cursor.rowcount == 0:
                raise not_found("env var", name)
            self.store.emit(
                "env.changed",
                {
                    "deployment_id": deployment["id"],
                    "environment": environment,
                    "action": "deleted",
                    "names": [name],
                },
            )
            said = {"name": name} if self.sdk_env_shape else {"name": name, "environment": environment}
            return idem.respond(200, {"data": {**said, "deleted": True}, "deleted": True})

    # -- domains ---------------------------------------------------------------------------------------------
    async def add_domain(self, request: Request) -> Response:
        body = await json_body(request, allow_empty=False)
        name = (_text(body, "domain", required=True, max_length=253) or "").strip().lower().rstrip(".")
        if not _is_domain_name(name):
            raise BadBody(f"{name!r} is not a valid domain name.", {"field": "domain"})
        policy = body.get("redirect_policy", "none")
        if policy not in ("none", "www_to_apex", "apex_to_www"):
            raise BadBody(
                "redirect_policy must be none, www_to_apex or apex_to_www.", {"field": "redirect_policy"}
            )
        with self.ctx.idempotent(request, body) as idem:
            if idem.replay:
                return idem.replay
            deployment = self.deployment_of(request)
            if self.db.query_one("SELECT 1 FROM miosa_domains WHERE domain = ?", (name,)) is not None:
                raise ApiError(
                    409, "DOMAIN_EXISTS", f"{name} is already attached to a deployment.", {"domain": name}
                )
            domain = miosa_seed.new_domain(self.store, deployment, name, "pending", policy)
            self.store.insert("domain", domain, domain=name)
            self.store.emit(
                "domain.status_changed",
                {
                    "deployment_id": deployment["id"],
                    "domain_id": domain["id"],
                    "from": None,
                    "to": "pending",
                    "domain": domain,
                },
            )
            return idem.respond(201, {"data": domain})

    async def verify_domain(self, request: Request) -> Response:
        body = await json_body(request)
        with self.ctx.idempotent(request, body) as idem:
            if idem.replay:
                return idem.replay
            deployment = self.deployment_of(request)
            domain = self.store.get("domain", request.path_params["domain_id"], deployment["id"])
            if domain["status"] in ("pending", "failed"):
                fails = "fail" in domain["domain"]
                self.change_domain_status(
                    domain,
                    "failed" if fails else "verified",
                    failure_reason=f"No CNAME record for {domain['domain']} points at "
                    f"{domain['verification_target']}."
                    if fails
                    else None,
                )
                if not fails:
                    self.ctx.spawn(self.activate_domain(domain["id"]))
            return idem.respond(200, {"data": domain})

    def change_domain_status(self, domain: dict[str, Any], status: str, **changes: Any) -> None:
        previous = domain["status"]
        domain.update(changes, status=status)
        if status == "verified":
            domain["verified_at"] = self.ctx.clock.now_iso()
        self.store.save("domain", domain)
        self.store.emit(
            "domain.status_changed",
            {
                "deployment_id": domain["deployment_id"],
                "domain_id": domain["id"],
                "from": previous,
                "to": status,
                "domain": domain,
            },
        )

    async def activate_domain(self, domain_id: str) -> None:
        await self.ctx.clock.sleep(5)  # TLS issuance
        with self.db.transaction():
            try:
                domain = self.store.get("domain", domain_id)
            except ApiError:
                return
            if domain["status"] == "verified":
                self.change_domain_status(domain, "active")

    async def delete_domain(self, request: Request) -> Response:
        with self.ctx.idempotent(request, None) as idem:
            if idem.replay:
                return idem.replay
            deployment = self.deployment_of(request)
            domain = self.store.get("domain", request.path_params["domain_id"], deployment["id"])
            self.db.execute("DELETE FROM miosa_domains WHERE id = ?", (domain["id"],))
            self.store.emit(
                "domain.status_changed",
                {
                    "deployment_id": deployment["id"],
                    "domain_id": domain["id"],
                    "from": domain["status"],
                    "to": "removed",
                    "domain": {**domain, "status": "removed"},
                },
            )
            return idem.respond(
                200, {"data": {"id": domain["id"], "domain": domain["domain"], "deleted": True}}
            )

    # -- runtime instances and metrics (derived from the deployment's state) ---------------------------------
    async def list_instances(self, request: Request) -> Response:
        return _data(miosa_seed.runtime_instances(self.deployment_of(request)))

    async def get_instance(self, request: Request) -> Response:
        deployment = self.deployment_of(request)
        for instance in miosa_seed.runtime_instances(deployment):
            if instance["id"] == request.path_params["instance_id"]:
                return _data(instance)
        raise not_found("runtime instance", request.path_params["instance_id"])

    async def instance_logs(self, request: Request) -> Response:
        deployment = self.deployment_of(request)
        instance_id = request.path_params["instance_id"]
        if instance_id not in {i["id"] for i in miosa_seed.runtime_instances(deployment)}:
            raise not_found("runtime instance", instance_id)
        lines = miosa_seed.runtime_log_lines(deployment, instance_id, _lines(request), self.ctx.clock.now())
        return _data(
            {
                "runtime_instance_id": instance_id,
                "deployment_id": deployment["id"],
                "log_path": f"/var/log/miosa/{instance_id}.log",
                "logs": "\n".join(lines),
            }
        )

    async def metrics(self, request: Request) -> Response:
        window = request.query_params.get("window", "1h")
        if window not in ("1h", "24h", "7d"):
            raise BadBody("window must be 1h, 24h or 7d.", {"field": "window"})
        return _data(miosa_seed.metrics(self.deployment_of(request), window, self.ctx.clock.now_iso()))

    # -- tenant event stream ---------------------------------------------------------------------------------
    async def events_stream(self, request: Request) -> Response:
        patterns = [p.strip() for p in request.query_params.get("types", "").split(",") if p.strip()]
        resume_from = request.headers.get("last-event-id") or request.query_params.get("after")
        if resume_from is not None and not resume_from.strip().isdigit():
            raise BadBody("Last-Event-ID must be a sequence number.", {"field": "Last-Event-ID"})
        after = int(resume_from) if resume_from is not None else self.ctx.events.latest_seq(PROVIDER)
        drop_every = self.ctx.faults.spec.sse_drop_every

        def wanted(type_: str) -> bool:
            return not patterns or any(fnmatch.fnmatchcase(type_, p) for p in patterns)

        async def frames() -> AsyncIterator[str]:
            nonlocal after
            oldest = self.ctx.events.oldest_seq(PROVIDER)
            # Resuming from before what we keep, or from beyond what we ever had (another database): re-read.
            beyond = after > self.ctx.events.latest_seq(PROVIDER)
            if resume_from is not None and (oldest > after + 1 or beyond):
                yield sse_frame({"type": "resync_required", "oldest_seq": oldest}, event="resync_required")
                return
            yield ": stream open\n\n"
            sent = 0
            while True:
                batch = self.ctx.events.since(PROVIDER, after, EVENT_BATCH)
                for event in batch:
                    after = event.seq
                    if not wanted(event.type):
                        continue
                    yield sse_frame(event.as_json(), event=event.type, event_id=event.seq)
                    sent += 1
                    if drop_every and sent % drop_every == 0:
                        abort_current_connection()
                        return
                if not batch and not await self.ctx.events.wait_for_new(
                    PROVIDER, after, self.ctx.heartbeat_seconds
                ):
                    yield ":heartbeat\n\n"

        return _sse(frames())

    def routes(self) -> list[BaseRoute]:
        dep = "/deployments/{deployment_id}"
        return [
            _route("/deployments", self.list_deployments, "GET"),
            _route("/deployments", self.create_deployment, "POST"),
            _route(dep, self.get_deployment, "GET"),
            _route(dep, self.update_deployment, "PATCH"),
            _route(dep, self.delete_deployment, "DELETE"),
            _route(dep + "/publish", self.publish, "POST"),
            _route("/sandboxes/{sandbox_id}/deploy", self.sandbox_deploy, "POST"),
            _route(dep + "/rollback", self.rollback, "POST"),
            _route(dep + "/stop", self.stop, "POST"),
            _route(dep + "/redeploy", self.redeploy, "POST"),
            _route(dep + "/logs", self.deployment_logs, "GET"),
            _route(dep + "/builds", self.child_list("build"), "GET"),
            _route(dep + "/builds/{build_id}", self.child_get("build", "build_id"), "GET"),
            _route(dep + "/builds/{build_id}/logs", self.build_logs, "GET"),
            _route(dep + "/versions", self.list_versions, "GET"),
            _route(dep + "/versions/{version_id}", self.child_get("version", "version_id"), "GET"),
            _route(dep + "/versions/{version_id}/promote", self.promote_version, "POST"),
            _route(dep + "/versions/{version_id}/migration-backup", self.migration_backup, "POST"),
            _route(dep + "/releases", self.child_list("release"), "GET"),
            _route(dep + "/releases/{release_id}", self.child_get("release", "release_id"), "GET"),
            _route(dep + "/releases/{release_id}/promote", self.promote_release, "POST"),
            _route(dep + "/env", self.list_env, "GET"),
            _route(dep + "/env", self.set_env, "POST"),
            _route(dep + "/env/{key}", self.delete_env, "DELETE"),
            _route(dep + "/domains", self.add_domain, "POST"),
            _route(dep + "/domains", self.child_list("domain"), "GET"),
            _route(dep + "/domains/{domain_id}/verify", self.verify_domain, "POST"),
            _route(dep + "/domains/{domain_id}", self.delete_domain, "DELETE"),
            _route(dep + "/runtime-instances", self.list_instances, "GET"),
            _route(dep + "/runtime-instances/{instance_id}", self.get_instance, "GET"),
            _route(dep + "/runtime-instances/{instance_id}/logs", self.instance_logs, "GET"),
            _route(dep + "/metrics", self.metrics, "GET"),
            _route("/events/stream", self.events_stream, "GET"),
            *miosa_health.routes(self.ctx, self.store, _route),
        ]


def _route(path: str, handler: Handler, method: str) -> Route:
    return Route(BASE + path, _guard(handler), methods=[method])


def routes(ctx: SimContext) -> list[BaseRoute]:
    return MiosaService(ctx).routes()


def _lines(request: Request) -> int:
    text = request.query_params.get("lines", "100")
    if not text.isdigit() or not 1 <= int(text) <= MAX_LOG_LINES:
        raise BadBody(f"lines must be a whole number from 1 to {MAX_LOG_LINES}.", {"field": "lines"})
    return int(text)


def _log_text(store: MiosaStore, build_id: str, lines: int) -> str:
    rows = store.db.query(
        "SELECT line FROM (SELECT seq, line FROM miosa_build_logs WHERE build_id = ? "
        "ORDER BY seq DESC LIMIT ?) "
        "ORDER BY seq",
        (build_id, lines),
    )
    return "\n".join(row["line"] for row in rows)


def _is_env_name(name: Any) -> bool:
    return isinstance(name, str) and miosa_seed.ENV_NAME.fullmatch(name) is not None


def _is_domain_name(name: str) -> bool:
    return miosa_seed.DOMAIN_NAME.fullmatch(name) is not None

"""Mixpeek Apps (``/v1/apps``): apps, deploys through an uploaded bundle, two environments, versions, restore,
promote, publish, custom domains and runtime logs.

The surface is the official SDK's ``AppsApi`` (``mixpeek==1.3.783``): its paths, query parameters and the
shapes of its models, which win over part B of the contract where they disagree. There is no list of deploys
(the SDK publishes none): a deploy is read by id, and ``environments.<env>.deploy_id`` names what each
environment serves. ``POST /versions/{n}/restore`` points an environment at any version; ``POST /promote``
copies staging to production; the legacy ``POST /rollback`` moves production back one version and answers
the App. Keys outside a request model are refused with 422 ``extra_forbidden`` naming the accepted keys (the
SDK's rule from 2026-11-02). Errors are ``{"success": false, "status", "error": {"message", "type", "code"?,
"details"}}``.

The presigned upload URL points at this server (``PUT /_s3/<key>?X-Amz-Expires=..&X-Amz-Signature=..``)
and the bytes land in SQLite. It is signed, not bearer-authenticated, as S3 would be. Build logs are SSE
frames ``data: {"ts", "line"}`` closed by ``event: done``; every connection replays all lines from the
first, as the real service does, so a client that reconnects loses nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from shipdeck.sim import metrics, mixpeek_health, mixpeek_seed
from shipdeck.sim.core import (
    SSE_HEADERS,
    BadBody,
    Database,
    SimContext,
    answering,
    json_body,
    mixpeek_error,
    parse_seed,
    sse_frame,
    token_of,
)
from shipdeck.sim.mixpeek_store import (
    ENVIRONMENTS,
    LINE_SECONDS,
    MAX_BUNDLE_BYTES,
    QUEUE_SECONDS,
    SCHEMA,
    TERMINAL_STATUSES,
    MixpeekStore,
    invalid,
    not_found,
    only_keys,
)

PROVIDER = "mixpeek"
BASE = "/v1/apps"
S3_PREFIX = "/_s3/"
UPLOAD_EXPIRES_SECONDS = 3600
_FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}")
_GIT_FIELDS = ("git_commit_sha", "git_commit_message", "git_author")
# The keys of each request model (the SDK's UploadUrlRequest, VerifyUploadRequest, DeployRequest, ...).
UPLOAD_URL_KEYS = ("filename", "content_type")
VERIFY_UPLOAD_KEYS = ("bundle_s3_key",)
DEPLOY_KEYS = ("environment", "message", "source", "bundle_s3_key", "source_files", *_GIT_FIELDS)
RESTORE_KEYS = ("environment",)
PUBLISH_KEYS = ("message",)
ADD_DOMAIN_KEYS = ("domain", "is_primary")
DEFAULT_DEPLOY_MESSAGE = "Deploy via bundle upload"
LOG_TYPES = ("runtime", "requests")
_DOMAIN = re.compile(r"(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}[a-z0-9]")

Handler = Callable[[Request], Awaitable[Response]]


def create_schema(db: Database) -> None:
    db.connection.executescript(SCHEMA)
    metrics.create_schema(db)


def seed(ctx: SimContext, kind: str) -> None:
    name, _count = parse_seed(kind)
    if name in ("demo", "scale"):
        mixpeek_seed.seed_demo(MixpeekStore(ctx.db, ctx.clock, ctx.rng), ctx.clock.epoch)


def resume(ctx: SimContext) -> None:
    service = _service(ctx)
    for deploy_id in service.store.in_progress():
        ctx.spawn(service.run_pipeline(deploy_id))


def routes(ctx: SimContext) -> list[BaseRoute]:
    service = _service(ctx)
    table: list[tuple[str, Handler, str]] = [
        ("", service.list_apps, "GET"),
        ("/{app_id}", service.get_app, "GET"),
        ("/{app_id}/deploy/upload-url", service.upload_url, "POST"),
        ("/{app_id}/deploy/verify-upload", service.verify_upload, "POST"),
        ("/{app_id}/deploy", service.deploy, "POST"),
        ("/{app_id}/deploys/{deploy_id}", service.get_deploy, "GET"),
        ("/{app_id}/deploys/{deploy_id}/logs/stream", service.stream_logs, "GET"),
        ("/{app_id}/versions", service.list_versions, "GET"),
        ("/{app_id}/versions/{version}", service.get_version, "GET"),
        ("/{app_id}/versions/{version}/download", service.download_version, "GET"),
        ("/{app_id}/versions/{from_version}/diff/{to_version}", service.diff_versions, "GET"),
        ("/{app_id}/versions/{version}/restore", service.restore, "POST"),
        ("/{app_id}/rollback", service.legacy_rollback, "POST"),
        ("/{app_id}/promote", service.promote, "POST"),
        ("/{app_id}/publish", service.publish, "POST"),
        ("/{app_id}/domains", service.list_domains, "GET"),
        ("/{app_id}/domains", service.add_domain, "POST"),
        ("/{app_id}/domains/{domain}", service.delete_domain, "DELETE"),
        ("/{app_id}/domains/{domain}/verify", service.verify_domain, "POST"),
        ("/{app_id}/logs", service.app_logs, "GET"),
        *mixpeek_health.routes(ctx, service.store),
    ]
    by_path: dict[str, dict[str, Handler]] = {}
    for path, handler, method in table:
        by_path.setdefault(path, {})[method] = handler
    out: list[BaseRoute] = [
        Route(BASE + path, _guarded(_by_method(handlers)), methods=list(handlers))
        for path, handlers in by_path.items()
    ]
    out.append(Route(S3_PREFIX + "{key:path}", service.s3_object, methods=["PUT", "GET", "HEAD"]))
    return out


def _by_method(handlers: dict[str, Handler]) -> Handler:
    """One route per path (GET and POST of ``/domains`` share it): dispatch on the method."""

    async def dispatch(request: Request) -> Response:
        return await handlers[request.method](request)

    return dispatch


def _bad_body(exc: BadBody) -> Response:
    status = 400 if "JSON" in exc.message else 422
    kind = "BadRequestError" if status == 400 else "ValidationError"
    return mixpeek_error(status, kind, exc.message, {"errors": exc.details} if exc.details else None)


def _guarded(handler: Handler) -> Handler:
    """Refusals raised anywhere in a handler become the Mixpeek error envelope."""
    return answering(handler, _bad_body)


_SERVICES: weakref.WeakKeyDictionary[SimContext, MixpeekService] = weakref.WeakKeyDictionary()


def _service(ctx: SimContext) -> MixpeekService:
    """One service per context: routes and resume share the log signal of the running pipelines."""
    if ctx not in _SERVICES:
        _SERVICES[ctx] = MixpeekService(ctx)
    return _SERVICES[ctx]


class LogSignal:
    """Wakes every SSE tail when any deploy logs a line or changes status (a new Event per generation)."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def current(self) -> asyncio.Event:
        if self._event is None:
            self._event = asyncio.Event()
        return self._event

    def notify(self) -> None:
        if self._event is not None:
            self._event.set()
        self._event = None


class MixpeekService:
    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.store = MixpeekStore(ctx.db, ctx.clock, ctx.rng, build_seed=ctx.options.rng_seed)
        self.signal = LogSignal()
        self.dropped_after: set[tuple[str, int]] = set()

    # -- apps ----------------------------------------------------------------------------------------
    async def list_apps(self, request: Request) -> Response:
        """``ListAppsResponse``; ``template``, ``slug`` (exact) and ``search`` (part of the name) filter."""
        limit = _int_param(request, "limit", default=100, low=1, high=1000)
        offset = _int_param(request, "offset", default=0, low=0)
        template = request.query_params.get("template") or None
        slug = request.query_params.get("slug") or None
        search = (request.query_params.get("search") or "").lower() or None
        apps = [
            row
            for row in self.store.all_apps()
            if (template is None or row["template"] == template)
            and (slug is None or row["slug"] == slug)
            and (search is None or search in row["name"].lower())
        ]
        return JSONResponse(
            {
                "results": [self.store.list_item_json(row) for row in apps[offset : offset + limit]],
                "total_count": len(apps),
                "limit": limit,
                "offset": offset,
                "max_apps": None,
            }
        )

    async def get_app(self, request: Request) -> Response:
        return JSONResponse(self.store.app_json(self.store.app_row(request.path_params["app_id"])))

    # -- upload --------------------------------------------------------------------------------------
    async def upload_url(self, request: Request) -> Response:
        app_id = request.path_params["app_id"]
        self.store.app_row(app_id)
        body = await json_body(request, allow_empty=False)
        only_keys(body, UPLOAD_URL_KEYS)
        filename = body.get("filename")
        if not isinstance(filename, str) or not _FILENAME.fullmatch(filename):
            raise invalid("filename is required: a plain zip file name such as my-app.zip", field="filename")
        content_type = body.get("content_type", "application/zip")
        if not isinstance(content_type, str):
            raise invalid("content_type must be a string", field="content_type")
        with self.ctx.idempotent(request, body) as idem:
            if idem.replay is not None:
                return idem.replay
            key = f"app-builds/{app_id}/{secrets.token_hex(8)}/{filename}"
            return idem.respond(
                200,
                {
                    "upload_url": self._presign(request, key, "PUT"),
                    "bundle_s3_key": key,
                    "expires_in": UPLOAD_EXPIRES_SECONDS,
                },
            )

    async def verify_upload(self, request: Request) -> Response:
        app_id = request.path_params["app_id"]
        self.store.app_row(app_id)
        body = await json_body(request, allow_empty=False)
        only_keys(body, VERIFY_UPLOAD_KEYS)
        key = body.get("bundle_s3_key")
        if not isinstance(key, str) or not key:
            raise invalid("bundle_s3_key is required", field="bundle_s3_key")
        row = self.store.object_row(key)
        if row is None or row["app_id"] != app_id:
            return JSONResponse(
                {
                    "bundle_s3_key": key,
                    "exists": False,
                    "etag": None,
                    "size_bytes": None,
                    "last_modified": None,
                }
            )
        return JSONResponse(
            {
                "bundle_s3_key": key,
                "exists": True,
                "etag": row["etag"],
                "size_bytes": row["size_bytes"],
                "last_modified": row["last_modified"],
            }
        )

    def _presign(self, request: Request, key: str, method: str) -> str:
        expires = int(self.ctx.clock.now().timestamp()) + UPLOAD_EXPIRES_SECONDS
        root = str(request.base_url).rstrip("/")
        signature = self._signature(method, key, expires)
        return f"{root}{S3_PREFIX}{quote(key)}?X-Amz-Expires={expires}&X-Amz-Signature={signature}"

    def _signature(self, method: str, key: str, expires: int) -> str:
        secret = self.ctx.db.meta_get("mixpeek:s3_secret")
        if secret is None:
            secret = secrets.token_hex(16)
            with self.ctx.db.transaction():
                self.ctx.db.meta_set("mixpeek:s3_secret", secret)
        message = f"{method}\n{key}\n{expires}".encode()
        return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()

    async def s3_object(self, request: Request) -> Response:
        """The simulated bucket: PUT stores a presigned upload, GET serves a presigned download."""
        key = request.path_params["key"]
        method = "GET" if request.method == "HEAD" else request.method
        try:
            expires = int(request.query_params.get("X-Amz-Expires", ""))
        except ValueError:
            return _s3_error(403, "AccessDenied", "Request is not presigned")
        given = request.query_params.get("X-Amz-Signature", "")
        if not hmac.compare_digest(given, self._signature(method, key, expires)):
            return _s3_error(403, "SignatureDoesNotMatch", "The request signature does not match")
        if self.ctx.clock.now().timestamp() > expires:
            return _s3_error(403, "AccessDenied", "Request has expired")
        if method == "PUT":
            data = await _capped_body(request, MAX_BUNDLE_BYTES)
            if data is None:
                limit = MAX_BUNDLE_BYTES // (1024 * 1024)
                return _s3_error(400, "EntityTooLarge", f"Your proposed upload exceeds {limit} MB")
            app_id = key.split("/")[1] if key.count("/") >= 2 else ""
            with self.ctx.db.transaction():
                etag = self.store.put_object(
                    key, app_id, data, request.headers.get("content-type", "application/octet-stream")
                )
            return Response(b"", status_code=200, headers={"ETag": etag})
        body = self.store.object_body(key)
        if body is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        return Response(body if request.method == "GET" else b"", media_type="application/zip")

    # -- deploys -------------------------------------------------------------------------------------
    async def deploy(self, request: Request) -> Response:
        app_id = request.path_params["app_id"]
        self.store.app_row(app_id)
        body = await json_body(request, allow_empty=False)
        only_keys(body, DEPLOY_KEYS)
        # DeployRequest defaults the message; one that is given must say something.
        message = body.get("message", DEFAULT_DEPLOY_MESSAGE)
        if not isinstance(message, str) or not message.strip():
            raise invalid("message must say what changed, like a commit message", field="message")
        environment = _environment(body)
        source = body.get("source", "cli_upload")
        if source != "cli_upload":
            raise invalid(
                f"source {source!r} is not available here; upload a bundle and use source 'cli_upload'",
                field="source",
            )
        key = body.get("bundle_s3_key")
        if not isinstance(key, str) or not key:
            raise invalid("bundle_s3_key is required when source is 'cli_upload'", field="bundle_s3_key")
        source_files = body.get("source_files") or {}
        if not isinstance(source_files, dict) or not all(
            isinstance(path, str) and isinstance(text, str) for path, text in source_files.items()
        ):
            raise invalid("source_files must map relative paths to file contents", field="source_files")
        git: dict[str, str | None] = {}
        for name in _GIT_FIELDS:
            value = body.get(name)
            if value is not None and not isinstance(value, str):
                raise invalid(f"{name} must be a string or null", field=name)
            git[name] = value
        stored = self.store.object_row(key)
        if stored is None or stored["app_id"] != app_id:
            raise not_found(
                "bundle", key, f"No uploaded bundle {key} for app {app_id}; PUT it to the upload URL first"
            )
        with self.ctx.idempotent(request, body) as idem:
            if idem.replay is not None:
                return idem.replay
            deploy_id = self.store.insert_deploy(
                app_id,
                kind="deploy",
                environment=environment,
                message=message.strip(),
                queued_by=_caller(request),
                bundle_s3_key=key,
                planned_failure=self.store.plan_failure(app_id, self.store.next_deploy_id(app_id)),
                source_files=source_files,
                git=git,
            )
            self.store.touch_app(app_id)
            answer = idem.respond(
                200,
                {
                    "app_id": app_id,
                    "deploy_id": deploy_id,
                    "status": "queued",
                    "environment": environment,
                    "message": message.strip(),
                },
            )
        self.ctx.spawn(self.run_pipeline(deploy_id))
        return answer

    async def run_pipeline(self, deploy_id: str) -> None:
        """Move one deploy along in simulated time; resumable (continues after its stored lines)."""
        deploy = self._deploy(deploy_id)
        plan = self.store.build_plan(deploy)
        if deploy["status"] == "queued":
            await self.ctx.clock.sleep(QUEUE_SECONDS)
            with self.ctx.db.transaction():
                self.store.start_build(deploy_id)
            self.signal.notify()
        logged = len(self.store.log_lines(deploy_id))
        for line in plan.lines[logged:]:
            await self.ctx.clock.sleep(LINE_SECONDS)
            with self.ctx.db.transaction():
                self.store.append_log(deploy_id, line)
            self.signal.notify()
        with self.ctx.db.transaction():
            self.store.finish_deploy(self._deploy(deploy_id), plan)
        self.signal.notify()

    def _deploy(self, deploy_id: str) -> Any:
        row = self.ctx.db.query_one("SELECT * FROM mixpeek_deploys WHERE deploy_id = ?", (deploy_id,))
        if row is None:
            raise not_found("deploy", deploy_id)
        return row

    async def get_deploy(self, request: Request) -> Response:
        app_id = request.path_params["app_id"]
        self.store.app_row(app_id)
        return JSONResponse(
            self.store.deploy_json(self.store.deploy_row(app_id, request.path_params["deploy_id"]))
        )

    async def stream_logs(self, request: Request) -> Response:
        app_id, deploy_id = request.path_params["app_id"], request.path_params["deploy_id"]
        self.store.app_row(app_id)
        self.store.deploy_row(app_id, deploy_id)
        return StreamingResponse(self._tail(deploy_id), media_type="text/event-stream", headers=SSE_HEADERS)

    async def _tail(self, deploy_id: str) -> AsyncIterator[str]:
        """Every stored line from the first, then new ones until the deploy is terminal, then ``done``."""
        sent = -1
        drop_every = self.ctx.faults.spec.sse_drop_every
        while True:
            wake = self.signal.current()
            rows = self.store.log_lines(deploy_id, sent)
            status = self._deploy(deploy_id)["status"]
            for row in rows:
                yield sse_frame({"ts": row["ts"], "line": row["line"]})
                sent = row["n"]
                # Injected fault (--faults sse_drop_every=N): the connection ends after every N-th line, once
                # per line, so a reconnecting client (replayed from the first line) still progresses.
                if (
                    drop_every
                    and (sent + 1) % drop_every == 0
                    and (deploy_id, sent) not in self.dropped_after
                ):
                    self.dropped_after.add((deploy_id, sent))
                    return
            if status in TERMINAL_STATUSES:
                yield sse_frame({}, event="done")
                return
            try:
                await asyncio.wait_for(wake.wait(), timeout=self.ctx.heartbeat_seconds)
            except TimeoutError:
                yield ": keep-alive\n\n"

    # -- versions ------------------------------------------------------------------------------------
    async def list_versions(self, request: Request) -> Response:
        """``VersionListResponse``: every version, most recent first."""
        app_id = request.path_params["app_id"]
        self.store.app_row(app_id)
        versions = self.store.list_versions(app_id)
        return JSONResponse({"versions": versions, "total": len(versions)})

    async def get_version(self, request: Request) -> Response:
        app_id = request.path_params["app_id"]
        self.store.app_row(app_id)
        number = _version_param(request, "version")
        return JSONResponse(self.store.version_detail_json(self.store.version_row(app_id, number)))

    async def download_version(self, request: Request) -> Response:
        app_id = request.path_params["app_id"]
        self.store.app_row(app_id)
        row = self.store.version_row(app_id, _version_param(request, "version"))
        if not row["bundle_s3_key"]:
            raise not_found("bundle", row["version"], f"Version {row['version']} has no stored bundle")
        return JSONResponse(
            {
                "download_url": self._presign(request, row["bundle_s3_key"], "GET"),
                "version": row["version"],
                "asset_prefix": row["asset_prefix"],
                "expires_in": UPLOAD_EXPIRES_SECONDS,
            }
        )

    async def diff_versions(self, request: Request) -> Response:
        app_id = request.path_params["app_id"]
        self.store.app_row(app_id)
        before = _version_param(request, "from_version")
        after = _version_param(request, "to_version")
        return JSONResponse(self.store.diff(app_id, before, after))

    async def restore(self, request: Request) -> Response:
        app_id = request.path_params["app_id"]
        self.store.app_row(app_id)
        number = _version_param(request, "version")
        body = await json_body(request)
        only_keys(body, RESTORE_KEYS)
        environment = _environment(body)
        self.store.version_row(app_id, number)
        with self.ctx.idempotent(request, body) as idem:
            if idem.replay is not None:
                return idem.replay
            answer = idem.respond(200, self.store.restore(app_id, number, environment, _caller(request)))
        self.signal.notify()
        return answer

    async def legacy_rollback(self, request: Request) -> Response:
        """The page-builder era's rollback (no body): production back one version; the App."""
        app_id = request.path_params["app_id"]
        self.store.app_row(app_id)
        body = await json_body(request)
        only_keys(body, ())
        with self.ctx.idempotent(request, body) as idem:
            if idem.replay is not None:
                return idem.replay
            target = self.store.previous_version(app_id, "production")
            self.store.restore(app_id, target, "production", _caller(request))
            answer = idem.respond(200, self.store.app_json(self.store.app_row(app_id)))
        self.signal.notify()
        return answer

    async def promote(self, request: Request) -> Response:
        """Staging's deploy and assets copied to production (no body); a ``PromoteResponse``."""
        app_id = request.path_params["app_id"]
        self.store.app_row(app_id)
        body = await json_body(request)
        only_keys(body, ())
        with self.ctx.idempotent(request, body) as idem:
            if idem.replay is not None:
                return idem.replay
            answer = idem.respond(200, self.store.promote(app_id, _caller(request)))
        self.signal.notify()
        return answer

    async def publish(self, request: Request) -> Response:
        """``PublishAppRequest {message}`` (required): a config snapshot version in production; the App."""
        app_id = request.path_params["app_id"]
        self.store.app_row(app_id)
        body = await json_body(request)
        only_keys(body, PUBLISH_KEYS)
        message = body.get("message")
        if not isinstance(message, str) or not message.strip():
            raise invalid("message is required: say what changed, like a commit message", field="message")
        with self.ctx.idempotent(request, body) as idem:
            if idem.replay is not None:
                return idem.replay
            self.store.publish(app_id, message.strip(), _caller(request))
            answer = idem.respond(200, self.store.app_json(self.store.app_row(app_id)))
        self.signal.notify()
        return answer

    # -- custom domains ------------------------------------------------------------------------------
    async def list_domains(self, request: Request) -> Response:
        app_id = request.path_params["app_id"]
        self.store.app_row(app_id)
        domains = [self.store.domain_json(row) for row in self.store.list_domains(app_id)]
        return JSONResponse({"domains": domains, "total": len(domains)})

    async def add_domain(self, request: Request) -> Response:
        """``AddDomainRequest {domain, is_primary}`` -> ``pending`` with the token of the TXT record."""
        app_id = request.path_params["app_id"]
        self.store.app_row(app_id)
        body = await json_body(request, allow_empty=False)
        only_keys(body, ADD_DOMAIN_KEYS)
        domain = body.get("domain")
        if not isinstance(domain, str) or not _DOMAIN.fullmatch(domain):
            raise invalid(
                "domain must be a host name such as search.acme.com (lower case, IDNA xn-- form)",
                field="domain",
            )
        is_primary = body.get("is_primary", False)
        if not isinstance(is_primary, bool):
            raise invalid("is_primary must be true or false", field="is_primary")
        with self.ctx.idempotent(request, body) as idem:
            if idem.replay is not None:
                return idem.replay
            row = self.store.add_domain(app_id, domain, is_primary)
            return idem.respond(200, self.store.domain_json(row))

    async def verify_domain(self, request: Request) -> Response:
        """Verification starts (``verifying``); the TXT record is then found and TLS provisioned."""
        app_id, domain = request.path_params["app_id"], request.path_params["domain"]
        self.store.app_row(app_id)
        with self.ctx.db.transaction():
            row = self.store.start_verification(app_id, domain)
        return JSONResponse(self.store.domain_json(row))

    async def delete_domain(self, request: Request) -> Response:
        app_id, domain = request.path_params["app_id"], request.path_params["domain"]
        self.store.app_row(app_id)
        with self.ctx.db.transaction():
            self.store.remove_domain(app_id, domain)
        return JSONResponse({"message": f"Domain {domain} removed", "success": True})

    # -- runtime logs --------------------------------------------------------------------------------
    async def app_logs(self, request: Request) -> Response:
        """``AppLogsResponse``: ``log_type=runtime`` (console logs); ``results`` and its alias ``entries``."""
        app_id = request.path_params["app_id"]
        self.store.app_row(app_id)
        log_type = request.query_params.get("log_type") or "runtime"
        if log_type not in LOG_TYPES:
            raise invalid(
                f"log_type must be one of {', '.join(LOG_TYPES)}, got {log_type[:40]!r}",
                field="log_type",
                allowed=list(LOG_TYPES),
            )
        hours = _int_param(request, "hours", default=1, low=1, high=168)
        limit = _int_param(request, "limit", default=100, low=1, high=1000)
        level = request.query_params.get("level") or None
        if log_type == "requests":
            entries = mixpeek_health.request_logs(self.ctx, self.store, app_id, hours=hours, limit=limit)
            return JSONResponse(
                {"app_id": app_id, "log_type": log_type, "results": entries, "entries": entries}
            )
        entries = self.store.runtime_logs(app_id, hours=hours, level=level, limit=limit)
        return JSONResponse({"app_id": app_id, "log_type": log_type, "results": entries, "entries": entries})


def _caller(request: Request) -> str:
    """Who queued a change, as the record shows it (the kind of API key, never the key)."""
    return f"api-key:{token_of(request).kind}"


def _environment(body: dict[str, Any]) -> str:
    environment = body.get("environment", "production")
    if environment not in ENVIRONMENTS:
        raise invalid(
            f"environment must be one of {', '.join(ENVIRONMENTS)}, got {environment!r}",
            field="environment",
            allowed=list(ENVIRONMENTS),
        )
    return str(environment)


def _int_param(request: Request, name: str, *, default: int, low: int, high: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"{name} must be a whole number, got {raw[:40]!r}", field=name) from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise invalid(f"{name} must be {bounds}, got {value}", field=name)
    return value


def _version_param(request: Request, name: str) -> int:
    raw = request.path_params[name]
    if not str(raw).isdigit():
        raise invalid(f"{name} must be a version number, got {str(raw)[:40]!r}", field=name)
    return int(raw)


async def _capped_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it grows past ``limit`` bytes (nothing more is buffered)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _s3_error(status: int, code: str, message: str) -> Response:
    xml = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    return Response(xml, status_code=status, media_type="application/xml")

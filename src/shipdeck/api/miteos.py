"""Miteos (``/v1``): deployments pipeline, tasks, agents, approvals, and WebSocket events.

Errors are ``{"detail": ...}``; lists page with ``limit`` / ``offset`` and answer ``{"<things>": [...],
"total": N}`` (offsets travel as the opaque cursor of :class:`Page`). A Miteos deployment is one pipeline
run (pending -> building -> deploying -> live); it has no rollback, promote or publish.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as websockets_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI, WebSocketException

from shipdeck import __version__
from shipdeck.api.base import follow_pages, next_offset, offset_of
from shipdeck.api.common import HttpAdapter
from shipdeck.api.common import path_segment as _seg
from shipdeck.api.errors import (
    AuthError,
    NetworkError,
    ProtocolError,
    ShipdeckError,
    StreamResyncRequired,
    ValidationFailed,
)
from shipdeck.api.parsing import (
    JsonObject,
    build_model,
    decode_frame,
    expect_object,
    first_present,
    optional_int,
    unwrap_list,
    unwrap_object,
)
from shipdeck.api.pipeline import stages_for
from shipdeck.api.streams import resilient_stream
from shipdeck.model import (
    Agent,
    Capabilities,
    Capability,
    Deliverable,
    Deployment,
    Event,
    Page,
    PipelineRun,
    Task,
    Version,
)

DEPLOYMENT_STAGES = ("pending", "building", "deploying", "live")
DEPLOY_TARGETS = ("vercel", "netlify", "cloudflare", "expo")
DEPLOYMENT_TERMINAL = frozenset({"live", "failed"})
# A Miteos test key deploys in sandbox mode: nothing reaches the hosting target, the URL is a preview stub.
SANDBOX_TOKEN_PREFIX = "mt_test_"
MAX_WS_MESSAGE_BYTES = 4 * 1024 * 1024
# The close codes the server gives a connection it will not keep (the contract's A.6).
WS_CLOSE_KEY_REFUSED = 4001
WS_CLOSE_TOO_MANY = 4029
# The largest page Miteos serves; callers asking for more get pages of this size.
MAX_PAGE = 100
# Frames about the connection itself, never account events.
CONTROL_FRAMES = frozenset({"subscribed", "unsubscribed", "resumed", "pong", "ping", "error", "hello"})


class connect(websockets_connect):  # noqa: N801 - used as websockets' own connect()
    """websockets' connect(), following no redirect: a 3xx answer to the upgrade is an error, as it is for
    every HTTP request shipdeck sends (the token must never go to an address other than the profile's)."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


_NO_RELEASES = "Miteos deployments are one-shot pipeline runs: there are no versions to {}"
MITEOS_CAPABILITIES = Capabilities(
    provider="miteos",
    granted=frozenset(
        {
            Capability.TASKS,
            Capability.DEPLOY,
            Capability.EVENT_STREAM,
        }
    ),
    deploy_targets=DEPLOY_TARGETS,
    notes={
        Capability.HEALTH: "Miteos publishes no request metrics (error rate, latency) for its deployments",
        Capability.ROLLBACK: _NO_RELEASES.format(
            "roll back to; trigger a new deployment of an earlier workspace"
        ),
        Capability.ROLLBACK_TO_VERSION: _NO_RELEASES.format("roll back to"),
        Capability.PROMOTE: _NO_RELEASES.format("promote; each deployment goes live by itself"),
        Capability.PUBLISH: (
            "Miteos publishes through its deployment pipeline (POST /deployments), not a publish call"
        ),
        Capability.REDEPLOY: "Miteos has no redeploy; trigger a new deployment of the workspace",
        Capability.UPDATE: "Miteos deployments cannot be edited",
        Capability.DELETE: "Miteos deployments cannot be deleted through the API",
        Capability.DOMAINS: (
            "Miteos manages domains at the hosting target (Vercel, Netlify, ...), not in its API"
        ),
        Capability.ENV: "Miteos keeps environment variables at the hosting target, not in its API",
        Capability.RELEASES: "Miteos has no releases",
        Capability.BUILDS: "a Miteos deployment is its own build; see the pipeline tab",
        Capability.VERSIONS: "Miteos deployments have no versions",
        Capability.DEPLOYMENT_LOGS: "Miteos does not stream deployment logs; follow the pipeline stages",
        Capability.BUILD_LOGS: "Miteos does not stream build logs; follow the pipeline stages",
    },
)


# -- mappers ------------------------------------------------------------------------------------------------
def miteos_deployment(raw: Any) -> Deployment:
    obj = expect_object(raw, what="Miteos deployment")
    target = obj.get("target")
    workspace = obj.get("workspace_id")
    name = first_present(obj, "name")
    if name is None:
        name = " / ".join(str(part) for part in (workspace, target) if part) or obj.get("id")
    return build_model(
        Deployment,
        {
            **obj,
            "provider": "miteos",
            "name": name,
            "state": first_present(obj, "status", "state") or "unknown",
            "updated_at": first_present(obj, "updated_at", "completed_at", "created_at"),
        },
        what="Miteos deployment",
    )


def deployment_run(raw: Any) -> PipelineRun:
    """A Miteos deployment is its own pipeline run: pending -> building -> deploying -> live."""
    obj = expect_object(raw, what="Miteos deployment")
    status = first_present(obj, "status", "state")
    status = status if isinstance(status, str) else "unknown"
    stopped_at = first_present(obj, "failed_stage", "failed_at_stage")
    return build_model(
        PipelineRun,
        {
            "id": obj.get("id"),
            "deployment_id": obj.get("id"),
            "status": status,
            "stages": stages_for(
                DEPLOYMENT_STAGES, status, stopped_at=stopped_at if isinstance(stopped_at, str) else None
            ),
            "environment": obj.get("target"),
            "message": first_present(obj, "message") or f"deploy to {obj.get('target') or 'target'}",
            "error": first_present(obj, "error", "error_message"),
            "url": obj.get("url"),
            "created_at": obj.get("created_at"),
            "completed_at": obj.get("completed_at"),
        },
        what="Miteos deployment pipeline",
    )


def _normalise_task_status(status: Any) -> Any:
    return "complete" if status == "completed" else status


def miteos_agent(raw: Any, *, agent_id: str | None = None) -> Agent:
    obj = expect_object(raw, what="Miteos agent")
    # Control endpoints may answer with a bare acknowledgement; the agent id is then the one we called.
    fields: JsonObject = {**obj, "id": first_present(obj, "id") or agent_id}
    pending = first_present(obj, "pending_approval", "approval")
    fields["pending_approval"] = pending if isinstance(pending, dict) else None
    fields["status"] = first_present(obj, "status") or "unknown"
    fields["type"] = first_present(obj, "type", "agent_type")
    return build_model(Agent, fields, what="Miteos agent")


def miteos_task(raw: Any) -> Task:
    obj = expect_object(raw, what="Miteos task")
    agents = obj.get("agents")
    return build_model(
        Task,
        {
            **obj,
            "status": _normalise_task_status(first_present(obj, "status") or "unknown"),
            "prompt": first_present(obj, "prompt") or "",
            "agents": [miteos_agent(a) for a in agents] if isinstance(agents, list) else [],
            "subtasks": obj.get("subtasks") if isinstance(obj.get("subtasks"), list) else [],
            "approvals": obj.get("approvals") if isinstance(obj.get("approvals"), list) else [],
        },
        what="Miteos task",
    )


def miteos_deliverable(raw: Any) -> Deliverable:
    return build_model(Deliverable, expect_object(raw, what="Miteos deliverable"), what="Miteos deliverable")


@dataclass(frozen=True)
class WsControl:
    """A non-event frame of the Miteos socket (``subscribed``, ``pong``, ``error``, ...)."""

    type: str
    detail: str | None = None


def parse_miteos_frame(text: str | bytes) -> Event | WsControl:
    """One WebSocket message -> an Event or a control frame.

    Raises StreamResyncRequired for ``resync_required`` and ProtocolError for anything unreadable.
    """
    obj = decode_frame(text, what="Miteos event stream", unit="message")
    kind = obj.get("type")
    if not isinstance(kind, str) or not kind:
        raise ProtocolError("Miteos event stream: message has no type")
    if kind == "resync_required":
        raise StreamResyncRequired(
            "Miteos event stream cannot resume from where it stopped; state must be re-read"
        )
    if kind in CONTROL_FRAMES or ("seq" not in obj and "id" not in obj):
        detail = first_present(obj, "detail", "message", "error")
        return WsControl(type=kind, detail=detail if isinstance(detail, str) else None)
    seq = obj.get("seq")
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int)):
        raise ProtocolError(f"Miteos event stream: seq {str(seq)[:40]!r} is not an integer")
    data = obj.get("data")
    return build_model(
        Event,
        {
            **obj,
            "id": first_present(obj, "id") or (str(seq) if seq is not None else None),
            "provider": "miteos",
            "data": data if data is not None else {},
        },
        what="Miteos event",
    )


class MiteosAdapter(HttpAdapter):
    provider = "miteos"
    capabilities = MITEOS_CAPABILITIES

    # -- deployments ---------------------------------------------------------------------------------------
    async def list_deployments(self, *, cursor: str | None = None, limit: int = 100) -> Page[Deployment]:
        offset = offset_of(cursor, provider="miteos")
        limit = min(limit, MAX_PAGE)
        body = await self.transport.get("/deployments", params={"limit": limit, "offset": offset})
        raws = unwrap_list(body, what="Miteos deployments", keys=("deployments",))
        return _offset_page([miteos_deployment(raw) for raw in raws], body, offset=offset, limit=limit)

    async def get_deployment(self, deployment_id: str) -> Deployment:
        return miteos_deployment(await self._get_deployment_raw(deployment_id))

    async def list_pipeline_runs(
        self, deployment_id: str, *, versions: Sequence[Version] | None = None
    ) -> list[PipelineRun]:
        return [deployment_run(await self._get_deployment_raw(deployment_id))]

    async def create_deployment(
        self, workspace_id: str, target: str, config_id: str, *, idempotency_key: str | None = None
    ) -> Deployment:
        """Trigger a deployment of a workspace's build to a hosting target (vercel, netlify, ...)."""
        if target not in DEPLOY_TARGETS:
            raise ValidationFailed(
                f"Miteos deploys to {', '.join(DEPLOY_TARGETS)}, not {target!r}; nothing was sent",
                status=422,
                provider="miteos",
            )
        for name, value in (("workspace", workspace_id), ("config", config_id)):
            if not value.strip() or len(value) > 200 or not value.isprintable():
                raise ValidationFailed(
                    f"a Miteos deploy needs a {name} id (printable, at most 200 characters); nothing sent",
                    status=422,
                    provider="miteos",
                )
        body = await self.transport.mutate(
            "POST",
            "/deployments",
            json={"workspace_id": workspace_id, "target": target, "config_id": config_id},
            idempotency_key=idempotency_key,
        )
        return miteos_deployment(unwrap_object(body, what="Miteos deployment", keys=("deployment",)))

    @property
    def sandbox_mode(self) -> bool:
        """A test key (``mt_test_``): deployments run in sandbox mode and their URL is a preview stub."""
        return self.transport.token_has_prefix(SANDBOX_TOKEN_PREFIX)

    async def last_config(self, workspace_id: str, target: str) -> str | None:
        """The deploy configuration of the workspace's latest deployment to ``target`` (to redo it)."""

        async def fetch(cursor: str | None) -> Page[JsonObject]:
            offset = offset_of(cursor, provider="miteos")
            params = {"workspace_id": workspace_id, "target": target, "limit": MAX_PAGE, "offset": offset}
            body = await self.transport.get("/deployments", params=params)
            raws = unwrap_list(body, what="Miteos deployments", keys=("deployments",))
            return _offset_page(raws, body, offset=offset, limit=MAX_PAGE)

        async for page in follow_pages(fetch, provider="miteos", what="deployments"):
            # Filtered here too: a server may ignore the filters (they are not documented upstream).
            for raw in page.items:
                config = raw.get("config_id")
                if (
                    raw.get("workspace_id") == workspace_id
                    and raw.get("target") == target
                    and isinstance(config, str)
                ):
                    return config
        return None

    async def _get_deployment_raw(self, deployment_id: str) -> JsonObject:
        body = await self.transport.get(f"/deployments/{_seg(deployment_id)}")
        return unwrap_object(body, what="Miteos deployment", keys=("deployment",))

    # -- tasks ---------------------------------------------------------------------------------------------
    async def list_tasks(self, *, status: str | None = None, limit: int = 50, offset: int = 0) -> Page[Task]:
        limit = min(limit, MAX_PAGE)
        body = await self.transport.get("/tasks", params={"status": status, "limit": limit, "offset": offset})
        raws = unwrap_list(body, what="Miteos tasks", keys=("tasks",))
        return _offset_page([miteos_task(raw) for raw in raws], body, offset=offset, limit=limit)

    async def get_task(self, task_id: str) -> Task:
        body = await self.transport.get(f"/tasks/{_seg(task_id)}")
        return miteos_task(unwrap_object(body, what="Miteos task", keys=("task",)))

    async def create_task(
        self,
        prompt: str,
        *,
        config: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Task:
        payload: JsonObject = {"prompt": prompt}
        if config is not None:
            payload["config"] = dict(config)
        body = await self.transport.mutate("POST", "/tasks", json=payload, idempotency_key=idempotency_key)
        return miteos_task(unwrap_object(body, what="Miteos task", keys=("task",)))

    async def cancel_task(self, task_id: str, *, idempotency_key: str | None = None) -> Task:
        body = await self.transport.mutate(
            "POST", f"/tasks/{_seg(task_id)}/cancel", idempotency_key=idempotency_key
        )
        raw = unwrap_object(body, what="Miteos task", keys=("task",))
        return miteos_task({"id": task_id, **raw})

    async def list_deliverables(self, task_id: str) -> list[Deliverable]:
        body = await self.transport.get(f"/tasks/{_seg(task_id)}/deliverables")
        raws = unwrap_list(body, what="Miteos deliverables", keys=("deliverables",))
        return [miteos_deliverable({"task_id": task_id, **raw}) for raw in raws]

    # -- agents --------------------------------------------------------------------------------------------
    async def pause_agent(self, agent_id: str, *, idempotency_key: str | None = None) -> Agent:
        return await self._agent_action(agent_id, "pause", None, idempotency_key)

    async def resume_agent(self, agent_id: str, *, idempotency_key: str | None = None) -> Agent:
        return await self._agent_action(agent_id, "resume", None, idempotency_key)

    async def guide_agent(
        self, agent_id: str, instructions: str, *, idempotency_key: str | None = None
    ) -> Agent:
        return await self._agent_action(agent_id, "guide", {"instructions": instructions}, idempotency_key)

    async def cancel_agent(self, agent_id: str, *, idempotency_key: str | None = None) -> Agent:
        return await self._agent_action(agent_id, "cancel", None, idempotency_key)

    async def answer_approval(
        self,
        agent_id: str,
        approval_id: str,
        *,
        approved: bool,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> Agent:
        payload: JsonObject = {"approved": approved}
        if reason:
            payload["reason"] = reason
        return await self._agent_action(agent_id, f"approve/{_seg(approval_id)}", payload, idempotency_key)

    async def _agent_action(
        self, agent_id: str, action: str, payload: JsonObject | None, idempotency_key: str | None
    ) -> Agent:
        body = await self.transport.mutate(
            "POST", f"/agents/{_seg(agent_id)}/{action}", json=payload, idempotency_key=idempotency_key
        )
        if body is None:
            body = {}
        return miteos_agent(unwrap_object(body, what="Miteos agent", keys=("agent",)), agent_id=agent_id)

    # -- events --------------------------------------------------------------------------------------------
    def events(self, *, after: str | int | None = None) -> AsyncIterator[Event]:
        """Account events over the WebSocket ``/v1/ws``: subscribe, then resume with ``after_seq``.

        Raises StreamResyncRequired (from the iterator) on ``resync_required`` or after a long outage.
        """
        start = optional_int(after) if after is not None else None
        return resilient_stream(
            self._ws_connection,
            after=start,
            options=self.stream_options,
            describe="Miteos event stream",
            notice=self.transport.on_notice,
            health=self.stream_health,
        )

    def ws_url(self) -> str:
        """``http(s)://host/v1`` -> ``ws(s)://host/v1/ws``."""
        base = self.transport.base_url
        for http, ws in (("https://", "wss://"), ("http://", "ws://")):
            if base.startswith(http):
                return ws + base[len(http) :] + "/ws"
        raise NetworkError(
            f"Miteos event stream: {base!r} is not a usable address; check the profile's base_url",
            retryable=False,
        )

    async def _ws_connection(self, last: int | None) -> AsyncGenerator[tuple[int | None, Event], None]:
        what = "Miteos event stream"
        options = self.stream_options
        try:
            async with connect(
                self.ws_url(),
                additional_headers=self.transport.ws_headers(),
                user_agent_header=f"shipdeck/{__version__}",
                open_timeout=self.transport.timeout,
                # Our pings find a dead peer: no pong within the timeout closes the connection.
                ping_interval=options.heartbeat_timeout / 2,
                ping_timeout=options.heartbeat_timeout / 2,
                # A dead peer never answers our close frame either: do not wait the default 10 s for it.
                close_timeout=options.heartbeat_timeout / 2,
                max_size=MAX_WS_MESSAGE_BYTES,
                max_queue=256,
            ) as socket:
                await self._subscribe(socket, last)
                if self.stream_health is not None:
                    self.stream_health.connected()  # (see HttpAdapter.open_sse)
                async for message in socket:
                    frame = parse_miteos_frame(message)
                    if isinstance(frame, Event):
                        yield frame.seq, frame
                    elif frame.type == "error":
                        raise ProtocolError(
                            f"{what}: the server refused: {frame.detail or 'no reason given'}"
                        )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise AuthError(
                    f"token rejected ({status}) for profile {self.transport.profile_name} (event stream)",
                    status=status,
                    provider="miteos",
                    request_id=exc.response.headers.get("x-request-id"),
                ) from None
            if 300 <= status < 400:
                raise NetworkError(
                    f"{what}: the server answered with a redirect ({status}); shipdeck does not follow "
                    "redirects (the token goes only to the profile's base_url)",
                    retryable=False,
                ) from None
            raise NetworkError(f"{what}: the server refused the connection ({status})") from None
        except InvalidURI:
            raise NetworkError(
                f"{what}: {self.ws_url()!r} is not a usable address; check the profile's base_url",
                retryable=False,
            ) from None
        except ConnectionClosed as exc:
            raise self._closed_by_server(exc) from None
        except (TimeoutError, WebSocketException, OSError) as exc:
            raise NetworkError(f"{what}: connection lost ({exc.__class__.__name__})") from None

    def _closed_by_server(self, exc: ConnectionClosed) -> ShipdeckError:
        """The close code's meaning (the contract's A.6): 4001, the key refused after the upgrade, is an
        AuthError (reconnecting with it for ever only said 'reconnecting'); 4029, over the connection
        limit, says so and is retried with backoff; any other close is a lost connection."""
        what = "Miteos event stream"
        close = exc.rcvd
        code = close.code if close is not None else None
        reason = f": {close.reason[:100]}" if close is not None and close.reason else ""
        if code == WS_CLOSE_KEY_REFUSED:
            return AuthError(
                f"token rejected (close {code}{reason}) for profile {self.transport.profile_name} "
                "(event stream)",
                status=401,
                provider="miteos",
            )
        if code == WS_CLOSE_TOO_MANY:
            return NetworkError(
                f"{what}: over the server's connection limit (close {code}{reason}); other clients of this "
                "key hold its connections. Retrying"
            )
        return NetworkError(f"{what}: connection lost ({exc.__class__.__name__})")

    @staticmethod
    async def _subscribe(socket: ClientConnection, last: int | None) -> None:
        # No "events" filter: every type (the live layer decides what matters; new types are not missed).
        await socket.send(json.dumps({"type": "subscribe"}))
        if last is not None:
            await socket.send(json.dumps({"type": "resume", "after_seq": last}))


def _offset_page(items: list[Any], body: Any, *, offset: int, limit: int) -> Page[Any]:
    """A page of an offset list: ``total`` if the server says it, else ``has_more``, else a full page."""
    total = optional_int(body.get("total")) if isinstance(body, dict) else None
    has_more = body.get("has_more") if isinstance(body, dict) else None
    cursor = next_offset(offset, len(items), limit=limit, total=total, has_more=has_more)
    return Page(items=items, next_cursor=cursor, total=total)

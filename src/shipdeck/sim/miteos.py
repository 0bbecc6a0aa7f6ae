"""Miteos in the simulator (``/v1``): deployments, tasks, agents, approvals, deliverables, event socket.

Errors are ``{"detail": "..."}``; auth, rate limits and faults come from the gateway. What the state means is
in :mod:`shipdeck.sim.miteos_store`, the WebSocket ``/v1/ws`` in :mod:`shipdeck.sim.miteos_ws`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from shipdeck.sim import miteos_seed, miteos_ws
from shipdeck.sim.core import BadBody, Database, SimContext, json_body, miteos_error, token_of
from shipdeck.sim.core import answering as answer_refusals
from shipdeck.sim.miteos_store import (
    DEFAULT_TASK_CONFIG,
    DEPLOYMENT_STATUSES,
    MAX_AGENTS,
    PROVIDER,
    SCHEMA,
    TARGETS,
    TASK_STATUSES,
    MiteosStore,
    Refused,
    deliverable_json,
)

__all__ = ["PROVIDER", "create_schema", "resume", "routes", "seed"]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_PROMPT_CHARS = 20_000
MAX_INSTRUCTIONS_CHARS = 4_000

Handler = Callable[[Request], Awaitable[Response]]


def create_schema(db: Database) -> None:
    db.connection.executescript(SCHEMA)


def seed(ctx: SimContext, kind: str) -> None:
    miteos_seed.seed(ctx, kind)


def resume(ctx: SimContext) -> None:
    MiteosStore(ctx).resume_all()


# ---------------------------------------------------------------------------------------------- validation


def _page(request: Request) -> tuple[int, int]:
    limit = _whole_number(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _whole_number(request, "offset", 0, 0, None)
    return limit, offset


def _whole_number(request: Request, name: str, default: int, low: int, high: int | None) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isdigit() or int(text) < low or (high is not None and int(text) > high):
        bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise Refused(422, f"{name} must be a whole number {bounds}, got {text[:40]!r}")
    return int(text)


def _filters(request: Request, allowed: dict[str, tuple[str, ...] | None]) -> dict[str, str]:
    """Equality filters from the query; a name with a tuple of values accepts only those."""
    filters = {}
    for name, values in allowed.items():
        value = request.query_params.get(name)
        if value is None:
            continue
        if values is not None and value not in values:
            raise Refused(422, f"{name} must be one of {', '.join(values)}, got {value[:40]!r}")
        filters[name] = value
    return filters


def _text(body: dict[str, Any], name: str, *, limit: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise Refused(422, f"{name} is required and must be a non-empty string")
    if len(value) > limit:
        raise Refused(422, f"{name} is longer than {limit} characters")
    return value


def _optional_text(body: dict[str, Any], name: str, *, limit: int) -> str | None:
    return None if body.get(name) is None else _text(body, name, limit=limit)


def _task_config(raw: Any) -> dict[str, Any]:
    if raw is None:
        return dict(DEFAULT_TASK_CONFIG)
    if not isinstance(raw, dict):
        raise Refused(422, "config must be an object")
    # Unknown keys are dropped, as the upstream (pydantic) API would.
    config = {key: raw.get(key, default) for key, default in DEFAULT_TASK_CONFIG.items()}
    max_agents = config["max_agents"]
    if not _is_int(max_agents) or not 1 <= max_agents <= MAX_AGENTS:
        raise Refused(422, f"config.max_agents must be a whole number from 1 to {MAX_AGENTS}")
    if not _is_int(config["autonomy_level"]) or not 0 <= config["autonomy_level"] <= 100:
        raise Refused(422, "config.autonomy_level must be a whole number from 0 to 100")
    if not isinstance(config["auto_deploy"], bool):
        raise Refused(422, "config.auto_deploy must be true or false")
    if config["deploy_target"] is not None and config["deploy_target"] not in TARGETS:
        raise Refused(422, f"config.deploy_target must be null or one of {', '.join(TARGETS)}")
    return config


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ---------------------------------------------------------------------------------------------- routes


def _bad_body(exc: BadBody) -> Response:
    return miteos_error(422, "VALIDATION_ERROR", exc.message)


def answering(handler: Handler) -> Handler:
    """Refusals and bad bodies become ``{"detail": ...}`` answers."""
    return answer_refusals(handler, _bad_body)


def routes(ctx: SimContext) -> list[BaseRoute]:
    store = MiteosStore(ctx)

    async def mutate(request: Request, body: Any, change: Callable[[], tuple[int, Any]]) -> Response:
        """Run ``change`` (-> status, payload) once per Idempotency-Key, in one transaction with its reply."""
        with ctx.idempotent(request, body) as idem:
            if idem.replay is not None:
                return idem.replay
            status, payload = change()
            return idem.respond(status, payload)

    async def create_and_run(
        request: Request,
        body: Any,
        create: Callable[[], str],
        show: Callable[[str], Any],
        run: Callable[[str], Coroutine[Any, Any, None]],
    ) -> Response:
        """A 201 with the new record, whose lifecycle starts once it is committed (not on a replay)."""
        created: list[str] = []

        def change() -> tuple[int, Any]:
            created.append(create())
            return 201, show(created[0])

        response = await mutate(request, body, change)
        if created:
            ctx.spawn(run(created[0]))
        return response

    # -- deployments ----------------------------------------------------------------------------------
    async def create_deployment(request: Request) -> Response:
        body = await json_body(request, allow_empty=False)
        workspace_id = _text(body, "workspace_id", limit=200)
        config_id = _text(body, "config_id", limit=200)
        target = body.get("target")
        if target not in TARGETS:
            raise Refused(422, f"target must be one of {', '.join(TARGETS)}")
        sandbox = token_of(request).token.startswith("mt_test_")
        return await create_and_run(
            request,
            body,
            lambda: store.create_deployment(workspace_id, target, config_id, sandbox=sandbox),
            store.deployment_json,
            store.run_deployment,
        )

    async def list_deployments(request: Request) -> Response:
        limit, offset = _page(request)
        filters = _filters(request, {"status": DEPLOYMENT_STATUSES, "target": TARGETS, "workspace_id": None})
        deployments, total = store.list_deployments(filters, limit, offset)
        return JSONResponse({"deployments": deployments, "total": total, "limit": limit, "offset": offset})

    async def get_deployment(request: Request) -> Response:
        return JSONResponse(store.deployment_json(request.path_params["deployment_id"]))

    # -- tasks ----------------------------------------------------------------------------------------
    async def create_task(request: Request) -> Response:
        body = await json_body(request, allow_empty=False)
        prompt = _text(body, "prompt", limit=MAX_PROMPT_CHARS)
        workspace_id = _optional_text(body, "workspace_id", limit=200)
        config = _task_config(body.get("config"))
        return await create_and_run(
            request,
            body,
            lambda: store.create_task(prompt, workspace_id, config),
            store.task_json,
            store.run_task,
        )

    async def list_tasks(request: Request) -> Response:
        limit, offset = _page(request)
        filters = _filters(request, {"status": TASK_STATUSES, "workspace_id": None})
        tasks, total = store.list_tasks(filters, limit, offset)
        return JSONResponse({"tasks": tasks, "total": total, "limit": limit, "offset": offset})

    async def get_task(request: Request) -> Response:
        return JSONResponse(store.task_json(request.path_params["task_id"]))

    async def cancel_task(request: Request) -> Response:
        task_id = request.path_params["task_id"]

        def change() -> tuple[int, Any]:
            store.cancel_task(task_id)
            return 200, store.task_json(task_id)

        return await mutate(request, await json_body(request), change)

    async def list_deliverables(request: Request) -> Response:
        task_id = request.path_params["task_id"]
        base = f"{str(request.base_url).rstrip('/')}/v1/tasks/{task_id}/deliverables/"
        rows = store.list_deliverables(task_id)
        return JSONResponse({"deliverables": [deliverable_json(row, base + row["id"]) for row in rows]})

    async def download_deliverable(request: Request) -> Response:
        row = store.deliverable(request.path_params["task_id"], request.path_params["deliverable_id"])
        filename = str(row["filename"]).replace('"', "")
        return Response(
            bytes(row["body"]),
            media_type=str(row["mime_type"]),
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    # -- agents ---------------------------------------------------------------------------------------
    agent_changes: dict[str, Callable[[str, dict[str, Any]], None]] = {
        "pause": lambda agent_id, body: store.pause_agent(agent_id),
        "resume": lambda agent_id, body: store.resume_agent(agent_id),
        "cancel": lambda agent_id, body: store.cancel_agent(agent_id),
        "kill": lambda agent_id, body: store.cancel_agent(agent_id),  # undocumented alias of cancel
        "guide": lambda agent_id, body: store.guide_agent(
            agent_id, _text(body, "instructions", limit=MAX_INSTRUCTIONS_CHARS)
        ),
    }

    def agent_action(apply: Callable[[str, dict[str, Any]], None]) -> Handler:
        async def handler(request: Request) -> Response:
            agent_id = request.path_params["agent_id"]
            body = await json_body(request)

            def change() -> tuple[int, Any]:
                apply(agent_id, body)
                return 200, store.agent_json(agent_id)

            return await mutate(request, body, change)

        return handler

    async def approve(request: Request) -> Response:
        agent_id = request.path_params["agent_id"]
        approval_id = request.path_params["approval_id"]
        body = await json_body(request, allow_empty=False)
        approved = body.get("approved")
        if not isinstance(approved, bool):
            raise Refused(422, "approved is required and must be true or false")
        reason = _optional_text(body, "reason", limit=MAX_INSTRUCTIONS_CHARS)

        def change() -> tuple[int, Any]:
            store.answer_approval(agent_id, approval_id, approved, reason)
            return 200, store.agent_json(agent_id)

        return await mutate(request, body, change)

    socket = miteos_ws.endpoint(ctx)
    return [
        Route("/v1/deployments", answering(create_deployment), methods=["POST"]),
        Route("/v1/deployments", answering(list_deployments), methods=["GET"]),
        Route("/v1/deployments/{deployment_id}", answering(get_deployment), methods=["GET"]),
        Route("/v1/tasks", answering(create_task), methods=["POST"]),
        Route("/v1/tasks", answering(list_tasks), methods=["GET"]),
        Route("/v1/tasks/{task_id}", answering(get_task), methods=["GET"]),
        Route("/v1/tasks/{task_id}/cancel", answering(cancel_task), methods=["POST"]),
        Route("/v1/tasks/{task_id}/deliverables", answering(list_deliverables), methods=["GET"]),
        Route(
            "/v1/tasks/{task_id}/deliverables/{deliverable_id}",
            answering(download_deliverable),
            methods=["GET"],
        ),
        *(
            Route(f"/v1/agents/{{agent_id}}/{action}", answering(agent_action(apply)), methods=["POST"])
            for action, apply in agent_changes.items()
        ),
        Route("/v1/agents/{agent_id}/approve/{approval_id}", answering(approve), methods=["POST"]),
        WebSocketRoute("/v1/ws", socket),
        WebSocketRoute("/v1/events", socket),
    ]

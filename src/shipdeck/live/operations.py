"""Plans for the changes that are not on a version: trigger a Miteos deployment, stop a Miosa deployment,
promote a Miosa release. They run through
:class:`shipdeck.live.session.ChangeSession` like every other change (read-only guard, audit once, one
idempotency key, unknown outcomes read back)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from shipdeck.api.base import Adapter
from shipdeck.api.errors import UnsupportedAction
from shipdeck.live.plans import ChangePlan
from shipdeck.model import Capability, Deployment, Release


def _target(deployment: Deployment) -> str:
    return f"{deployment.name} [{deployment.id}]"


@dataclass
class DeployPlan(ChangePlan):
    """A deploy's plan: its toast names the new deployment; ``on_done`` gets it (the console selects it)."""

    on_done: Callable[[Deployment], None] | None = None

    def done(self, result: Any) -> str:
        if not isinstance(result, Deployment):
            return super().done(result)
        if self.on_done is not None:
            self.on_done(result)
        return f"{self.done_text}: {result.id}"


def plan_deploy(
    workspace_id: str,
    target: str,
    config_id: str,
    *,
    sandbox: bool,
    on_done: Callable[[Deployment], None] | None = None,
) -> DeployPlan:
    """A new Miteos deployment of ``workspace_id`` to ``target`` (``POST /deployments``)."""

    def send(adapter: Adapter, key: str) -> Awaitable[Deployment]:
        if not adapter.capabilities.supports(Capability.DEPLOY):
            raise UnsupportedAction(adapter.capabilities.why_not(Capability.DEPLOY))
        return adapter.create_deployment(workspace_id, target, config_id, idempotency_key=key)

    mode = " (sandbox mode: preview URL stub)" if sandbox else ""
    return DeployPlan(
        action="deploy",
        target=f"{workspace_id} -> {target}",
        title=f"Deploy {workspace_id} to {target}{mode}",
        summary=f"{workspace_id} with {config_id}",
        send=send,
        # No read-back: a deployment is new each time; a resend with the same key is replayed by the server.
        identity=f"deploy:{workspace_id}:{target}:{config_id}",
        details={"workspace_id": workspace_id, "target": target, "config_id": config_id, "sandbox": sandbox},
        done_text=f"deploying {workspace_id} to {target}{mode}",
        on_done=on_done,
    )


def plan_stop(deployment: Deployment) -> ChangePlan:
    def send(adapter: Adapter, key: str) -> Awaitable[Deployment]:
        return adapter.stop(deployment.id, idempotency_key=key)

    async def check(adapter: Adapter) -> bool:
        return (await adapter.get_deployment(deployment.id)).state == "stopped"

    where = f" ({deployment.url})" if deployment.url else ""
    return ChangePlan(
        action="stop",
        target=_target(deployment),
        title=f"Stop {deployment.name}",
        summary=f"take it off the air{where}",
        send=send,
        identity=f"stop:{deployment.id}",
        deployment=deployment,
        check=check,
        into_production=True,
        done_text=f"{deployment.name}: stopped (off the air)",
    )


def plan_release_promote(deployment: Deployment, release: Release) -> ChangePlan:
    def send(adapter: Adapter, key: str) -> Awaitable[Deployment]:
        return adapter.promote_release(deployment.id, release.id, idempotency_key=key)

    async def check(adapter: Adapter) -> bool:
        now = await adapter.get_deployment(deployment.id)
        extra: dict[str, Any] = now.model_extra or {}
        return extra.get("active_release_id") == release.id and now.state != "stopped"

    return ChangePlan(
        action="promote",
        target=_target(deployment),
        title=f"Promote release {release.id} on {deployment.name}",
        summary=f"release {release.id} (version {release.version_id or '?'})",
        send=send,
        identity=f"release.promote:{deployment.id}:{release.id}",
        deployment=deployment,
        details={"release_id": release.id, "version_id": release.version_id},
        check=check,
        done_text=f"promoted release {release.id} on {deployment.name}",
    )

"""Plans for the changes that are not on a version (trigger a Miteos deployment). They run through
:class:`shipdeck.live.session.ChangeSession` like every other change (read-only guard, audit once, one
idempotency key, unknown outcomes read back)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from shipdeck.api.base import Adapter
from shipdeck.api.errors import UnsupportedAction
from shipdeck.live.plans import ChangePlan
from shipdeck.model import Deployment


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
        create = getattr(adapter, "create_deployment", None)
        if create is None or not adapter.capabilities.supports("deploy"):
            raise UnsupportedAction(adapter.capabilities.why_not("deploy"))
        result: Awaitable[Deployment] = create(workspace_id, target, config_id, idempotency_key=key)
        return result

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

"""Plans for the changes that are not on a version (trigger a Miteos deployment). They run through
:class:`shipdeck.live.session.ChangeSession` like every other change (read-only guard, audit once, one
idempotency key, unknown outcomes read back)."""

from __future__ import annotations

from collections.abc import Awaitable

from shipdeck.api.base import Adapter
from shipdeck.api.errors import UnsupportedAction
from shipdeck.live.plans import ChangePlan
from shipdeck.model import Deployment


def plan_deploy(workspace_id: str, target: str, config_id: str, *, sandbox: bool) -> ChangePlan:
    """A new Miteos deployment of ``workspace_id`` to ``target`` (``POST /deployments``)."""

    def send(adapter: Adapter, key: str) -> Awaitable[Deployment]:
        create = getattr(adapter, "create_deployment", None)
        if create is None or not adapter.capabilities.supports("deploy"):
            raise UnsupportedAction(adapter.capabilities.why_not("deploy"))
        result: Awaitable[Deployment] = create(workspace_id, target, config_id, idempotency_key=key)
        return result

    mode = " (sandbox mode: preview URL stub)" if sandbox else ""
    return ChangePlan(
        action="deploy",
        target=f"{workspace_id} -> {target}",
        title=f"Deploy {workspace_id} to {target}{mode}",
        summary=f"{workspace_id} with {config_id}",
        send=send,
        # No read-back: a deployment is new each time; a resend with the same key is replayed by the server.
        identity=f"deploy:{workspace_id}:{target}:{config_id}",
        details={"workspace_id": workspace_id, "target": target, "config_id": config_id, "sandbox": sandbox},
        done_text=f"deploying {workspace_id} to {target}{mode}",
    )

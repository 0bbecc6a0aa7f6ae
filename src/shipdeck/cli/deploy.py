"""``shipdeck deploy``: trigger a Miteos deployment of a workspace to a hosting target, and follow it.

``POST /deployments {workspace_id, target, config_id}`` goes through the ChangeSession (audit log, read-only
guard, one idempotency key for every retry) like every other change. ``--wait`` follows the pipeline
``pending -> building -> deploying -> live | failed`` and reports how long each stage took (as observed by
polling: the API reports only when the deployment was created and when it ended). A test key
(``mt_test_``) deploys in sandbox mode: nothing reaches the hosting target and the URL is a preview stub;
the command says so. Exit 0 when live (or, without --wait, when accepted), 1 when failed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from shipdeck.api.base import Adapter
from shipdeck.api.errors import UnsupportedAction
from shipdeck.api.providers import SPECS
from shipdeck.cli.commands import CommandContext, execute
from shipdeck.cli.output import CliError, print_json, shorten, state_text
from shipdeck.live.operations import plan_deploy
from shipdeck.model import Capability, Deployment, parse_timestamp

SANDBOX_NOTE = "sandbox mode (mt_test_ key): nothing reaches {target}; the URL is a preview stub"


@dataclass
class StageTimes:
    """When each status was first seen (monotonic), in order; a stage lasts until the next is seen."""

    seen: list[tuple[str, float]] = field(default_factory=list)

    def observe(self, status: str, at: float) -> bool:
        if self.seen and self.seen[-1][0] == status:
            return False
        self.seen.append((status, at))
        return True

    def durations(self) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for index, (status, start) in enumerate(self.seen):
            end = self.seen[index + 1][1] if index + 1 < len(self.seen) else None
            out.append({"status": status, "seconds": None if end is None else round(end - start, 1)})
        return out


# A triggered deployment ends in one of these states (the model's words: live, or failed).
DEPLOYMENT_FINISHED = frozenset({"live", "failed"})


def _adapter(ctx: CommandContext) -> Adapter:
    adapter = ctx.adapter
    if not adapter.capabilities.supports(Capability.DEPLOY):
        deployers = [
            s.name.capitalize() for s in SPECS.values() if s.capabilities.supports(Capability.DEPLOY)
        ]
        raise UnsupportedAction(
            f"{adapter.provider} does not deploy workspaces; `shipdeck deploy` is for "
            f"{' and '.join(deployers)} profiles (use `shipdeck publish` here)"
        )
    return adapter


def _total_seconds(dep: Deployment) -> float | None:
    end = parse_timestamp(getattr(dep, "completed_at", None))  # an extra field: text, as the server sent it
    if dep.created_at is None or end is None:
        return None
    return round((end - dep.created_at).total_seconds(), 1)


async def cmd_deploy(ctx: CommandContext) -> int:
    ctx.session.check_writable("deploy")  # a read-only profile refuses before anything else
    adapter = _adapter(ctx)
    args = ctx.args
    workspace, target = args.workspace.strip(), args.target
    if not workspace:
        raise CliError("deploy: --workspace is empty (a Miteos workspace id, like ws_docs_portal)", 2)
    config = (args.config or "").strip() or await adapter.last_config(workspace, target)
    if not config:
        raise CliError(
            f"deploy: no --config given, and {workspace} has no earlier deployment to {target} to take it "
            "from (the Miteos dashboard lists deploy configurations under Settings > Deployments)",
            2,
        )
    sandbox = adapter.sandbox_mode
    mode = f" in {SANDBOX_NOTE.format(target=target)}" if sandbox else ""
    ctx.confirm("deploy", f"Deploy {workspace} to {target} with configuration {config}{mode}?")
    outcome = await execute(ctx, plan_deploy(workspace, target, config, sandbox=sandbox))
    dep = outcome.result
    if not isinstance(dep, Deployment):
        raise CliError(
            "deploy: Miteos accepted the deployment but its answer names none; see `shipdeck ls`", 1
        )
    if not ctx.json:
        note = f" ({SANDBOX_NOTE.format(target=target)})" if sandbox else ""
        print(f"deploying {workspace} to {target}: {dep.id}{note}", file=ctx.out, flush=True)
    if not args.wait:
        if ctx.json:
            print_json({"deployment": dep, "sandbox": sandbox}, ctx.out)
        return 0
    return await _follow(ctx, adapter, dep, sandbox=sandbox)


async def _follow(ctx: CommandContext, adapter: Adapter, dep: Deployment, *, sandbox: bool) -> int:
    times = StageTimes()
    while True:
        if times.observe(dep.state, time.monotonic()) and not ctx.json:
            print(f"  {state_text(dep.state)}", file=ctx.out, flush=True)
        if dep.state in DEPLOYMENT_FINISHED:
            break
        await asyncio.sleep(ctx.args.interval)
        dep = await adapter.get_deployment(dep.id)
    stages = times.durations()
    error = getattr(dep, "error", None)
    failed_stage = getattr(dep, "failed_stage", None)
    if ctx.json:
        print_json(
            {
                "deployment": dep,
                "sandbox": sandbox,
                "stages": stages,
                "total_seconds": _total_seconds(dep),
            },
            ctx.out,
        )
    else:
        timed = ", ".join(f"{s['status']} {s['seconds']}s" for s in stages if s["seconds"] is not None)
        if dep.state == "live":
            stub = " (sandbox preview stub)" if sandbox else ""
            print(f"live: {dep.url or '-'}{stub}  [{timed}]", file=ctx.out)
        else:
            where = f" at {failed_stage}" if isinstance(failed_stage, str) else ""
            reason = shorten(error, 200) if isinstance(error, str) and error else "no reason given"
            print(f"{dep.state}{where}: {reason}  [{timed}]", file=ctx.out)
    return 0 if dep.state == "live" else 1


__all__ = ["cmd_deploy"]

"""``shipdeck stop`` (take a deployment off the air), ``shipdeck releases`` (list, promote a release) and
``shipdeck logs`` (runtime logs, or a build's log).

Both are Miosa calls (``POST /deployments/{id}/stop``, ``/releases``, ``/releases/{id}/promote``); a provider
without them says so (exit 2) and sends nothing. Every change goes through the ChangeSession.
"""

from __future__ import annotations

from shipdeck.api.errors import NotFound, UnsupportedAction
from shipdeck.cli.commands import CommandContext, execute, turn_on_command
from shipdeck.cli.output import CliError, age, print_json, print_table, state_text
from shipdeck.live.operations import plan_release_promote, plan_stop
from shipdeck.live.plans import NothingToDo, plan_auto_deploy
from shipdeck.model import Capability, Deployment, LogLine


def _needs(ctx: CommandContext, capability: Capability) -> None:
    capabilities = ctx.adapter.capabilities
    if not capabilities.supports(capability):
        raise UnsupportedAction(capabilities.why_not(capability))


async def cmd_stop(ctx: CommandContext) -> int:
    ctx.session.check_writable("stop")
    _needs(ctx, Capability.STOP)
    dep = await ctx.deployment()
    where = f" ({dep.url})" if dep.url else ""
    ctx.confirm(
        "stop",
        f"Stop {dep.name}? This takes the site off the air{where}: it stops answering until a version is "
        "promoted again.",
    )
    outcome = await execute(ctx, plan_stop(dep))
    stopped = (
        outcome.result if isinstance(outcome.result, Deployment) else await ctx.adapter.get_deployment(dep.id)
    )
    if ctx.json:
        print_json(stopped, ctx.out)
    else:
        print(f"stopped {stopped.name}: {state_text(stopped.state)}", file=ctx.out)
    return 0


async def cmd_auto_deploy(ctx: CommandContext) -> int:
    """``auto-deploy DEP``: whether pushes deploy it; ``on`` / ``off``: turn that on or off (off is the
    rollback's ``--hold``; on is the way back)."""
    wanted = ctx.args.state
    if wanted is not None:
        ctx.session.check_writable("auto-deploy")
    _needs(ctx, Capability.UPDATE)
    dep = await ctx.deployment()
    if dep.auto_deploy is None:
        raise CliError(f"{dep.name}: the server does not say whether auto-deploy is on; nothing was sent", 5)
    if wanted is None:
        if ctx.json:
            print_json({"deployment": dep.id, "auto_deploy": dep.auto_deploy}, ctx.out)
        else:
            print(f"{dep.name}: auto-deploy {'on' if dep.auto_deploy else 'off'}", file=ctx.out)
        return 0
    try:
        plan = plan_auto_deploy(dep, on=wanted == "on", turn_on=turn_on_command(dep, ctx.args))
    except NothingToDo as exc:
        ctx.session.found_nothing_to_do(exc)
        print(f"shipdeck: {exc.message}", file=ctx.err)  # what was asked holds already: not a failure
        return 0
    for note in plan.notes:
        print(f"  {note}", file=ctx.err)
    asked = ctx.confirm("auto-deploy", f"{plan.title} ({plan.summary})?")
    outcome = await execute(ctx, plan, recheck=asked)
    if ctx.json:
        print_json(
            {"deployment": dep.id, "auto_deploy": wanted == "on", "outcome": outcome.status.value}, ctx.out
        )
    else:
        print(plan.done_text or f"{dep.name}: auto-deploy {wanted}", file=ctx.out)
    return 0


async def cmd_releases(ctx: CommandContext) -> int:
    if ctx.args.release_action == "promote":
        ctx.session.check_writable("promote")
    _needs(ctx, Capability.RELEASES)
    dep = await ctx.deployment()
    releases = await ctx.adapter.list_releases(dep.id)
    if ctx.args.release_action != "promote":
        if ctx.json:
            print_json(releases, ctx.out)
        else:
            rows = [
                [r.id, r.version_id or "-", r.kind or "-", state_text(r.state), age(r.created_at)]
                for r in releases
            ]
            print_table(
                ["RELEASE", "VERSION", "KIND", "STATE", "CREATED"], rows, ctx.out, empty="no releases"
            )
        return 0
    _needs(ctx, Capability.RELEASE_PROMOTE)
    ref = ctx.args.release
    if not ref:
        raise UnsupportedAction("releases promote: name the release (its id, from `shipdeck releases DEP`)")
    release = next((r for r in releases if r.id == ref), None)
    if release is None:
        raise NotFound(f"{dep.name} has no release {ref!r}", status=404, provider=ctx.adapter.provider)
    ctx.confirm(
        "promote", f"Promote release {release.id} (version {release.version_id or '?'}) on {dep.name}?"
    )
    outcome = await execute(ctx, plan_release_promote(dep, release))
    promoted = (
        outcome.result if isinstance(outcome.result, Deployment) else await ctx.adapter.get_deployment(dep.id)
    )
    if ctx.json:
        print_json(promoted, ctx.out)
    else:
        print(f"promoted release {release.id} on {promoted.name}: {state_text(promoted.state)}", file=ctx.out)
    return 0


async def cmd_logs(ctx: CommandContext) -> int:
    """Runtime logs (Mixpeek: the app's, with --hours and --level; Miosa: one instance's), or one build's
    log to its end (--build ID)."""
    dep = await ctx.deployment()
    args = ctx.args
    adapter = ctx.adapter
    lines: list[LogLine]
    if args.build:
        lines = []
        async for line in adapter.build_logs(dep.id, args.build):
            lines.append(line)
            if line.done_state is not None:
                break
    else:
        # Deny by default: a provider without recent runtime logs refuses with its note.
        lines = await adapter.recent_runtime_logs(
            dep.id, instance_id=args.instance, hours=args.hours, level=args.level, limit=args.limit
        )
    if ctx.json:
        print_json(lines, ctx.out)
        return 0
    for line in lines:
        if line.done_state is not None:
            print(f"-- finished: {line.done_state} --", file=ctx.out)
            continue
        stamp = line.ts.strftime("%Y-%m-%d %H:%M:%S ") if line.ts else ""
        print(f"{stamp}{'! ' if line.stream == 'stderr' else ''}{line.line}", file=ctx.out)
    if not lines:
        print("no log lines", file=ctx.out)
    return 0

"""The scriptable commands (ls, versions, status, rollback, promote, publish, env, domains).

They use the same adapter as the console. Every change is decided by a planner of
:mod:`shipdeck.live.plans` and executed by :class:`shipdeck.live.session.ChangeSession` (read-only guard,
audit once, one idempotency key, unknown outcomes reconciled and replayed on a re-run), exactly as for the
console; this module only renders the plan, asks and reports.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from shipdeck.api.base import Adapter
from shipdeck.api.errors import NotFound, ShipdeckError, UnsupportedAction, ValidationFailed
from shipdeck.cli.health import cmd_health, health_cell, read_health, read_many, sort_by_health
from shipdeck.cli.output import (
    CliError,
    age,
    json_text,
    print_json,
    print_table,
    shorten,
    state_text,
    to_jsonable,
    version_summary,
    warning_line,
)
from shipdeck.live.env import DEFAULT_ENV_ENVIRONMENT, list_env
from shipdeck.live.plans import (
    ChangePlan,
    NothingToDo,
    active_version,
    in_environment,
    newest_first,
    plan_domain_add,
    plan_domain_remove,
    plan_domain_verify,
    plan_env_set,
    plan_env_unset,
    plan_hold_auto_deploy,
    plan_promote,
    plan_publish,
    promote_environment,
    same_app_in,
)
from shipdeck.live.references import candidates_text, display_name, matches
from shipdeck.live.session import ChangeOutcome, ChangeSession, OutcomeStatus, age_words
from shipdeck.model import (
    Capability,
    Deployment,
    Domain,
    EnvVar,
    Health,
    PipelineRun,
    PublishRequest,
    Version,
    health_of,
)
from shipdeck.model.masking import HIDDEN, shown_preview
from shipdeck.model.service_health import ServiceHealth, change_health_words, failed_versions
from shipdeck.model.validation import ascii_domain, domain_problem, env_key_problem, env_value_problem


@dataclass
class CommandContext:
    adapter: Adapter
    session: ChangeSession
    args: argparse.Namespace
    out: TextIO
    err: TextIO

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    async def deployment(self) -> Deployment:
        return await find_deployment(self.adapter, self.args.deployment)

    def confirm(self, action: str, question: str) -> bool:
        """Ask ``question`` [y/N] on the terminal; --yes skips it; no terminal and no --yes refuses. True
        when it asked (a human took some time: what was shown may have changed meanwhile).

        A read-only profile refuses first: no point asking about what will not be sent.
        """
        self.session.check_writable(action)
        if getattr(self.args, "yes", False):
            return False
        if not sys.stdin.isatty():
            # Usage (2), not declined (1): no one was asked; the command line lacks the --yes it needs.
            raise CliError(f"not confirmed ({question}): stdin is not a terminal; pass --yes to go ahead", 2)
        print(f"{question} [y/N] ", end="", file=self.err, flush=True)
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            raise CliError("cancelled: nothing was sent", 1)
        return True


Command = Callable[[CommandContext], Awaitable[int]]


async def find_deployment(adapter: Adapter, ref: str) -> Deployment:
    """``ref`` as `ls` prints it (``Storefront (staging)``), an id, a name or a slug -> the deployment.
    A name several deployments have is refused with their ids (exit 2), never resolved to the first."""
    try:
        return await adapter.get_deployment(ref)
    except (NotFound, ValidationFailed):
        pass
    listed: list[Deployment] = []
    async for page in adapter.iter_deployment_pages(limit=100):
        listed.extend(page)
    found = matches(ref, listed)
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise CliError(
            f"{ref!r} names {len(found)} deployments: {candidates_text(found)}; name one by its id", 2
        )
    # The provider's own forms (Mixpeek: NAME@staging), and its not-found message.
    return await adapter.resolve_deployment(ref)


def again_command(args: argparse.Namespace | None, *words: str) -> str:
    """``shipdeck …`` as the user would type it next, with the options that chose this run's profile or
    endpoint: a hint printed without ``--profile`` failed with "several profiles and no default", or acted
    on the default profile's deployment of the same name."""
    chosen: list[str] = []
    if args is not None and getattr(args, "profile", None):
        chosen = ["--profile", args.profile]
    elif args is not None and getattr(args, "url", None) and getattr(args, "provider", None):
        chosen = ["--provider", args.provider, "--url", args.url]
    return " ".join(shlex.quote(word) for word in ["shipdeck", *chosen, *words])


def turn_on_command(dep: Deployment, args: argparse.Namespace | None = None) -> str:
    """How the CLI turns ``dep``'s auto-deploy back on: what a hold's note and done line name
    (plans.plan_auto_deploy's ``turn_on``; the console names its key)."""
    return again_command(args, "auto-deploy", display_name(dep), "on")


def target_of(dep: Deployment) -> str:
    return f"{dep.name} [{dep.id}]"


async def versions_newest_first(ctx: CommandContext, dep: Deployment) -> list[Version]:
    return newest_first(await ctx.adapter.all_versions(dep.id))


# -- reads ---------------------------------------------------------------------------------------------


# Sort keys of `ls --sort`; each sorts by name within equal values.
LS_SORTS = ("name", "state", "updated", "version", "id", "health")
# `ls` looks the active version's number up (one read each) for at most this many rows whose API answer
# names it only by id (Miosa); past that the rows show the id's place as '-'.
VERSION_LOOKUPS = 200
# Reads of those at a time (a sandbox or a rate limit should not see hundreds at once).
VERSION_LOOKUP_CONCURRENCY = 8


async def cmd_ls(ctx: CommandContext) -> int:
    deployments: list[Deployment] = []
    # 100: the smallest page limit among the providers (Miteos refuses more).
    async for page in ctx.adapter.iter_deployment_pages(limit=100):
        deployments.extend(page)
    sort = getattr(ctx.args, "sort", None)
    by_health = sort == "health"
    # The table is sorted by name; --json keeps the server's order unless --sort is given.
    if sort is not None or not ctx.json:
        deployments = sort_deployments(deployments, "name" if by_health else sort or "name")
    deployments = await with_version_numbers(ctx.adapter, deployments)
    healths = await read_many(ctx.adapter, deployments) if by_health else {}
    if by_health:
        deployments = sort_by_health(deployments, healths)
    if ctx.json:
        if by_health:
            print_json(
                [{**to_jsonable(d), "health": _health_json(healths.get(d.id))} for d in deployments], ctx.out
            )
        else:
            print_json(deployments, ctx.out)
        return 0
    rows = [
        [
            display_name(d),
            state_text(d.state),
            *([health_cell(healths.get(d.id))] if by_health else []),
            f"v{d.active_version_number}" if d.active_version_number is not None else "-",
            d.url or "-",
            age(d.updated_at or d.created_at),
            d.id,
        ]
        for d in deployments
    ]
    headers = ["NAME", "STATE", *(["ERRORS"] if by_health else []), "VERSION", "URL", "UPDATED", "ID"]
    print_table(headers, rows, ctx.out, empty="no deployments")
    return 0


def _health_json(health: ServiceHealth | None) -> dict[str, Any] | None:
    return health.as_json() if health is not None else None


# `ls --sort state`: what needs a look first.
_STATE_RANK = {Health.FAILED: 0, Health.PROGRESS: 1, Health.UNKNOWN: 2, Health.STOPPED: 3, Health.OK: 4}


def sort_deployments(deployments: list[Deployment], by: str) -> list[Deployment]:
    """By ``by`` (one of LS_SORTS), then by name, environment and id: the same order every run.
    ``state`` puts failed rows first, ``updated`` and ``version`` the newest first."""
    ordered = sorted(deployments, key=lambda d: (d.name.casefold(), d.environment or "", d.id))
    if by == "state":
        ordered.sort(key=lambda d: _STATE_RANK[d.health])
    elif by == "updated":
        ordered.sort(key=lambda d: -(stamp.timestamp() if (stamp := d.updated_at or d.created_at) else 0.0))
    elif by == "version":
        ordered.sort(key=lambda d: -(d.active_version_number or 0))
    elif by == "id":
        ordered.sort(key=lambda d: d.id)
    return ordered


async def with_version_numbers(adapter: Adapter, deployments: list[Deployment]) -> list[Deployment]:
    """Fill in the active version's number where the list names it only by id (Miosa's list answers
    ``active_version_number: null``): one read of that version each, a few at a time. A version that
    cannot be read leaves '-'; it never fails the listing."""
    todo = [d for d in deployments if d.active_version_number is None and d.active_version_id is not None][
        :VERSION_LOOKUPS
    ]
    if not todo:
        return deployments
    gate = asyncio.Semaphore(VERSION_LOOKUP_CONCURRENCY)

    async def number_of(dep: Deployment) -> tuple[str, int | None]:
        assert dep.active_version_id is not None
        async with gate:
            try:
                version = await adapter.get_version(dep.id, dep.active_version_id)
            except ShipdeckError:  # any failure (even a broken answer) only costs this row its number
                return dep.id, None
        return dep.id, version.number

    numbers = dict(await asyncio.gather(*(number_of(d) for d in todo)))
    return [
        d.model_copy(update={"active_version_number": numbers[d.id]}) if numbers.get(d.id) is not None else d
        for d in deployments
    ]


async def cmd_versions(ctx: CommandContext) -> int:
    dep = await ctx.deployment()
    versions = await versions_newest_first(ctx, dep)
    if ctx.json:
        print_json(versions, ctx.out)
        return 0
    current = active_version(dep, versions)
    rows = [
        [
            ("* " if current is not None and v.id == current.id else "  ") + v.label,
            state_text(v.state),
            v.author or "-",
            age(v.created_at),
            shorten(v.message),
            v.id,
        ]
        for v in versions
    ]
    print_table(
        ["  VERSION", "STATE", "AUTHOR", "CREATED", "MESSAGE", "ID"], rows, ctx.out, empty="no versions"
    )
    return 0


@dataclass
class StatusSnapshot:
    deployment: Deployment
    active_version: Version | None
    latest_run: PipelineRun | None
    # The version the latest run builds (its number: runs are named by id) and why it failed, where the
    # run itself does not say (Miosa: the error is on the version's build).
    run_version: Version | None = None
    run_error: str | None = None
    health: ServiceHealth | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "active_version": self.active_version,
            "latest_run": self.latest_run,
            "latest_run_version": self.run_version,
            "latest_run_error": self.run_error,
            "health": _health_json(self.health),
        }

    @property
    def run_label(self) -> str:
        """'v9 (ver_...)' where the run's version has a number (runs are named by id), else the run's id."""
        run = self.latest_run
        assert run is not None
        version = self.run_version
        return f"{version.label} ({run.id})" if version is not None and version.number is not None else run.id

    @property
    def settled(self) -> bool:
        """Nothing in progress: the deployment and its latest pipeline run have finished moving."""
        moving = [self.deployment.health]
        if self.latest_run is not None:
            moving.append(self.latest_run.health)
        return Health.PROGRESS not in moving

    @property
    def failed(self) -> bool:
        runs = [self.latest_run.health] if self.latest_run is not None else []
        return Health.FAILED in [self.deployment.health, *runs]

    def one_line(self) -> str:
        dep = self.deployment
        version = self.active_version.label if self.active_version else _number_label(dep)
        text = f"{dep.name}: {dep.state}, active {version}"
        if self.latest_run is not None:
            run = self.latest_run
            text += f", latest run {self.run_label} {run.status}"
            if self.run_error:
                text += f" ({shorten(self.run_error, 80)})"
        return text


def _number_label(dep: Deployment) -> str:
    return f"v{dep.active_version_number}" if dep.active_version_number is not None else "-"


async def status_snapshot(adapter: Adapter, deployment_id: str) -> StatusSnapshot:
    dep = await adapter.get_deployment(deployment_id)
    version: Version | None = None
    if dep.active_version_id:
        try:
            version = await adapter.get_version(dep.id, dep.active_version_id)
        except (NotFound, UnsupportedAction):
            version = None
    runs = await adapter.list_pipeline_runs(dep.id)
    run = runs[0] if runs else None
    run_version: Version | None = None
    run_error = run.error if run is not None else None
    if run is not None and run.version_id:
        if version is not None and version.id == run.version_id:
            run_version = version
        else:
            try:
                run_version = await adapter.get_version(dep.id, run.version_id)
            except (NotFound, UnsupportedAction, ValidationFailed):
                run_version = None
    if run is not None and run.health == Health.FAILED and not run_error:
        run_error = await _build_error(adapter, dep.id, run_version)
    health = await read_health(adapter, dep.id)
    return StatusSnapshot(dep, version, run, run_version, run_error, health)


async def _build_error(adapter: Adapter, deployment_id: str, version: Version | None) -> str | None:
    """The failed build's error message (the run names the version, the version its build)."""
    if version is None or not version.build_id:
        return None
    try:
        build = await adapter.get_build(deployment_id, version.build_id)
    except (NotFound, UnsupportedAction, ValidationFailed):
        return None
    return build.error_message


async def cmd_status(ctx: CommandContext) -> int:
    dep = await ctx.deployment()
    snapshot = await status_snapshot(ctx.adapter, dep.id)
    if not ctx.args.watch:
        if ctx.json:
            print_json(snapshot.as_json(), ctx.out)
        else:
            _print_status(snapshot, ctx.out)
        return 0
    # Watch: one line (or one JSON object per line) whenever something changes.
    last = ""
    while True:
        line = snapshot.one_line()
        if line != last:
            if ctx.json:
                print(json_text(snapshot.as_json(), indent=None), file=ctx.out, flush=True)
            else:
                print(f"{datetime.now().strftime('%H:%M:%S')}  {line}", file=ctx.out, flush=True)
            last = line
        if ctx.args.until_settled and snapshot.settled:
            return 1 if snapshot.failed else 0
        await asyncio.sleep(ctx.args.interval)
        snapshot = await status_snapshot(ctx.adapter, dep.id)


def _print_status(snapshot: StatusSnapshot, out: TextIO) -> None:
    dep = snapshot.deployment
    rows = [
        ("name", dep.name),
        ("id", dep.id),
        ("state", state_text(dep.state)),
        (
            "active version",
            version_summary(snapshot.active_version) if snapshot.active_version else _number_label(dep),
        ),
        ("url", dep.url or "-"),
        ("updated", age(dep.updated_at or dep.created_at)),
    ]
    if snapshot.health is not None:
        health = snapshot.health
        rows.append(
            ("errors", health_cell(health) + (f", p95 {health.p95_ms:.0f} ms" if health.p95_ms else ""))
        )
    if dep.environment:
        rows.insert(2, ("environment", dep.environment))
    run = snapshot.latest_run
    if run is not None:
        stages = " > ".join(f"{s.name} {run.stage_state(s)}" for s in run.stages)
        rows.append(("latest run", f"{snapshot.run_label} {state_text(run.status)}, {age(run.created_at)}"))
        if stages:
            rows.append(("stages", stages))
        if snapshot.run_error:
            rows.append(("error", shorten(snapshot.run_error, 100)))
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label.ljust(width)}  {value}", file=out)


# -- mutations -----------------------------------------------------------------------------------------


class OutcomeUnknown(ShipdeckError):
    """A change was sent and its answer never came back whole: it may have been applied."""

    exit_code = 6


async def execute(ctx: CommandContext, plan: ChangePlan, *, recheck: bool = False) -> ChangeOutcome:
    """Run ``plan`` through the session; a refusal, a failure or an unknown outcome is raised as one
    line with its exit code (an unknown one says it may have been applied and how to check).
    ``recheck``: a human took time over the prompt; the server is read again before sending."""
    earlier = ctx.session.open_change(plan.identity)
    if earlier is not None and plan.action != "rollback":  # a rollback said so as it was planned
        print(
            f"shipdeck: an earlier {plan.action} of {plan.target} ({earlier.summary}, "
            f"{age_words(earlier.age)} ago) has an unknown outcome: this run sends it again with the same "
            "idempotency key, so the server cannot apply it twice",
            file=ctx.err,
        )
    try:
        outcome = await ctx.session.execute(plan, settle_for=min(5.0, ctx.args.timeout / 4), recheck=recheck)
    except asyncio.CancelledError:  # Ctrl-C (asyncio.run cancels the command, then raises KeyboardInterrupt)
        print(
            f"shipdeck: interrupted while sending: {plan.title} ({plan.summary}) may have been applied, its "
            "outcome is unknown (recorded); the same command again resends it with the same idempotency key",
            file=ctx.err,
        )
        raise
    if outcome.status is OutcomeStatus.SUPERSEDED:
        raise CliError(outcome.message(), 1)
    if outcome.status is OutcomeStatus.OK:
        if outcome.reconciled or outcome.replayed:
            print(f"shipdeck: {outcome.message()}", file=ctx.err)
        return outcome
    if outcome.status is OutcomeStatus.UNKNOWN:
        check = check_command(plan, ctx.args)
        raise OutcomeUnknown(outcome.message() + (f"; check with `{check}`" if check else ""))
    assert outcome.error is not None
    if outcome.status is OutcomeStatus.FAILED:
        outcome.error.message = f"{outcome.error.message} (not applied: nothing reached the server)"
    raise outcome.error


# The command that shows what a change did, by its action (status for the rest): status shows neither env
# nor domains, and an env set of unknown outcome sent the user to it.
CHECKED_BY = {
    "env.set": "env",
    "env.unset": "env",
    "domain.add": "domains",
    "domain.verify": "domains",
    "domain.remove": "domains",
    "update": "auto-deploy",
}


def check_command(plan: ChangePlan, args: argparse.Namespace | None = None) -> str | None:
    """The command that shows whether ``plan``'s change was applied (None: it has no deployment)."""
    dep = plan.deployment
    if dep is None:
        return None
    command = CHECKED_BY.get(plan.action, "status")
    words = [command, dep.name]
    if command == "env" and plan.environment and plan.environment != "production":
        words += ["--environment", plan.environment]
    return again_command(args, *words)


def _refusal(exc: NothingToDo) -> CliError:
    return CliError(exc.message, exc.exit_code)


async def environment_row(ctx: CommandContext, dep: Deployment, environment: str | None) -> Deployment:
    """The same app's row in ``environment`` (providers listing one row per environment), else ``dep``."""
    found = same_app_in(dep, environment, ())
    if found is not None:
        return found
    async for page in ctx.adapter.iter_deployment_pages():
        if (found := same_app_in(dep, environment, page)) is not None:
            return found
    raise NotFound(f"{dep.name} has no {environment} environment", status=404, provider=ctx.adapter.provider)


async def cmd_rollback(ctx: CommandContext) -> int:
    ctx.session.check_writable("rollback")  # a read-only profile refuses before anything is read
    found = await ctx.deployment()
    # The row of the environment being rolled back: its active version is the "current" one.
    dep = await environment_row(ctx, found, ctx.args.environment)
    versions = await versions_newest_first(ctx, dep)
    # The rule passes over the versions the hour's health shows failing their users when last live
    # (--to names one outright: its health is read once it is found, for the preview's warning).
    health = await _change_health(ctx, dep, RULE_WITHOUT_HEALTH) if ctx.args.to is None else None
    avoid = failed_versions(health, versions, datetime.now(UTC)) if health is not None else None
    try:
        plan, notice = ctx.session.plan_rollback(
            dep,
            versions,
            to=ctx.args.to,
            reason=ctx.args.reason,
            capabilities=ctx.adapter.capabilities,
            avoid=avoid,
        )
    except NothingToDo as exc:
        if exc.settles is not None:
            print(exc.message, file=ctx.out)  # the earlier rollback was applied: what was asked is done
            return 0
        raise _refusal(exc) from None
    if notice is not None:
        print(f"shipdeck: {notice}", file=ctx.err)
    if ctx.args.to is not None:
        health = await _change_health(ctx, dep, PREVIEW_WITHOUT_HEALTH)
    hold = None
    if ctx.args.hold:
        if not ctx.adapter.capabilities.supports(Capability.UPDATE):
            raise CliError(
                f"--hold: {ctx.adapter.capabilities.why_not(Capability.UPDATE)}; nothing was sent", 2
            )
        try:
            hold = plan_hold_auto_deploy(dep, plan, turn_on=turn_on_command(dep, ctx.args))
        except NothingToDo as exc:
            print(f"shipdeck: {exc.message}", file=ctx.err)
    _preview(ctx, plan, health)
    if hold is not None:
        print(f"  hold     {hold.summary} first", file=ctx.err)
    asked = ctx.confirm("rollback", f"{plan.title}: {plan.summary}{' and hold it' if hold else ''}?")
    if hold is not None:
        await execute(ctx, hold, recheck=asked)  # first: a build finishing meanwhile must not undo it
    outcome = await execute(ctx, plan, recheck=asked)
    _report_change(ctx, "rolled back", outcome, plan)
    return 0


# How long a rollback or promote waits for the health its preview (and a plain rollback's rule) reads.
CHANGE_HEALTH_WAIT_S = 5.0


async def _change_health(ctx: CommandContext, dep: Deployment, without: str) -> ServiceHealth | None:
    """The hour's health of ``dep``, read once for a rollback's or promote's preview (the target's health
    line and the console's warning of a version that failed its users when last live) and for the plain
    rollback's rule. Bounded: a slow metrics endpoint must not hold an incident's change back. Unreadable,
    the change goes on without it and says so (``without``: what does without it)."""
    try:
        async with asyncio.timeout(CHANGE_HEALTH_WAIT_S):
            return await read_health(ctx.adapter, dep.id)
    except TimeoutError:
        print(f"shipdeck: health not read within {CHANGE_HEALTH_WAIT_S:g} s; {without}", file=ctx.err)
    except ShipdeckError as exc:
        print(f"shipdeck: health not read ({exc.message}); {without}", file=ctx.err)
    return None


# What goes without health when it cannot be read: the plain rollback's rule, and the preview's warning.
RULE_WITHOUT_HEALTH = "the target ignores it"
PREVIEW_WITHOUT_HEALTH = "the preview cannot say whether the target failed its users when last live"


async def cmd_promote(ctx: CommandContext) -> int:
    ctx.session.check_writable("promote")  # a read-only profile refuses before anything is read
    dep = await ctx.deployment()
    versions = await versions_newest_first(ctx, dep)
    environment = ctx.args.environment or promote_environment(dep)
    replaced = await environment_row(ctx, dep, environment)
    try:
        plan = plan_promote(dep, versions, ctx.args.version, replaced=replaced, environment=environment)
    except NothingToDo as exc:
        ctx.session.found_nothing_to_do(exc)
        raise _refusal(exc) from None
    plan.reason = ctx.args.reason
    health = await _change_health(ctx, plan.deployment or replaced, PREVIEW_WITHOUT_HEALTH)
    _preview(ctx, plan, health)
    asked = ctx.confirm("promote", f"{plan.title} to live ({plan.summary})?")
    outcome = await execute(ctx, plan, recheck=asked)
    _report_change(ctx, "promoted", outcome, plan)
    return 0


def _preview(ctx: CommandContext, plan: ChangePlan, health: ServiceHealth | None = None) -> None:
    """The plan on stderr, before the question (or, with --yes, before sending): ``--json`` output on
    stdout stays the answer alone. ``health``: the hour's, for the console's health line and its warning
    of a target that failed its users when it was last live (service_health.change_health_words)."""
    print(f"{plan.title}:", file=ctx.err)
    print(f"  current  {version_summary(plan.current)}", file=ctx.err)
    print(f"  target   {version_summary(plan.to)}", file=ctx.err)
    warnings = list(plan.warnings)
    if health is not None and plan.to is not None:
        line, failed = change_health_words(
            health, plan.current, plan.to, datetime.now(UTC), overall=health.error_rate
        )
        print(f"  health   {line}", file=ctx.err)
        if failed is not None:
            warnings.insert(0, failed)  # first, as in the console's dialog
    for passed in plan.passed_over:
        print(f"  passed   {passed}", file=ctx.err)
    if plan.reason:
        print(f"  reason   {plan.reason}", file=ctx.err)
    if plan.diff:
        print("  changes:", file=ctx.err)
        for line in plan.diff:
            print(f"    {line}", file=ctx.err)
    for warning in warnings:
        print(f"  warning  ⚠ {warning}", file=ctx.err)
    dep = plan.deployment
    holding = getattr(ctx.args, "hold", False)
    if plan.action == "rollback" and dep is not None and dep.auto_deploy and not holding:
        print("           (--hold turns auto-deploy off first, so the rollback holds)", file=ctx.err)


def _report_change(ctx: CommandContext, verb: str, outcome: ChangeOutcome, plan: ChangePlan) -> None:
    result = outcome.result if isinstance(outcome.result, Deployment) else None
    if ctx.json:
        print_json(
            {
                "deployment": result,
                "outcome": outcome.status.value,
                "reconciled": outcome.reconciled or None,
                "replayed": outcome.replayed,
                **plan.details,
            },
            ctx.out,
        )
        return
    before = plan.current.label if plan.current else "-"
    to = plan.to.label if plan.to else "-"
    name = plan.deployment.name if plan.deployment else plan.target
    state = f" ({result.state})" if result is not None else ""
    print(f"{verb} {name}{in_environment(plan.environment)}: {before} -> {to}{state}", file=ctx.out)


async def cmd_publish(ctx: CommandContext) -> int:
    ctx.session.check_writable("publish")  # a read-only profile refuses before anything is read
    dep = await ctx.deployment()
    args = ctx.args
    capabilities = ctx.adapter.capabilities
    request = PublishRequest(
        source_sandbox_id=args.sandbox,
        output_path=args.output_path,
        entrypoint=args.entrypoint,
        environment=args.environment or dep.environment or "production",
        promote=not args.no_promote,
        message=args.message,
    )
    try:
        versions = (
            await ctx.adapter.all_versions(dep.id) if capabilities.supports(Capability.VERSIONS) else []
        )
    except UnsupportedAction:
        versions = []
    try:
        plan = plan_publish(dep, request, capabilities, versions=versions)
    except NothingToDo as exc:
        raise _refusal(exc) from None  # InvalidChange: 2, a usage error
    if request.promote:
        ctx.confirm("publish", f"{plan.title} and make it live when ready?")
    outcome = await execute(ctx, plan)
    result = outcome.result
    if result is None:  # the answer was lost and reconciled: the new version is listed
        print(f"published to {dep.name}: {plan.summary}", file=ctx.out)
        return 0
    if args.wait and result.version is None and result.run is not None:
        _waiting_on(ctx, f"published to {dep.name}: run {result.run.id} ({result.run.status})")
        with _said_if_interrupted(
            ctx, f"the publish to {dep.name} was sent and started (run {result.run.id})"
        ):
            return await _wait_for_run(ctx, dep, result.run)
    if not args.wait or result.version is None:
        if ctx.json:
            print_json(result, ctx.out)
        else:
            label = result.version.label if result.version else "a new version"
            state = f" ({result.version.state})" if result.version else ""
            then = ", made live when ready" if request.promote else ""
            print(f"published {label}{state} to {dep.name}{then}", file=ctx.out)
        return 0
    version = result.version
    _waiting_on(ctx, f"published {version.label} ({version.state}) to {dep.name}")
    with _said_if_interrupted(ctx, f"{version.label} was published to {dep.name}"):
        while health_of(version.state) == Health.PROGRESS:
            await asyncio.sleep(args.interval)
            version = await ctx.adapter.get_version(dep.id, version.id)
    if ctx.json:
        print_json({**to_jsonable(result), "version": version}, ctx.out)
    else:
        print(f"published {version.label} to {dep.name}: {version.state}", file=ctx.out)
    return 0 if version.health == Health.OK else 1


def _waiting_on(ctx: CommandContext, done: str) -> None:
    """Before --wait follows a change that was applied: what was done, at once (on stderr: stdout stays the
    end's answer). Interrupted while waiting, the user had only 'interrupted', and ran the publish again."""
    print(f"shipdeck: {done}; waiting until it ends (Ctrl-C stops the waiting, not the change)", file=ctx.err,
          flush=True)  # fmt: skip


@contextlib.contextmanager
def _said_if_interrupted(ctx: CommandContext, done: str) -> Iterator[None]:
    try:
        yield
    except asyncio.CancelledError:  # Ctrl-C while waiting: the change itself was applied
        print(f"shipdeck: stopped waiting: {done}; it goes on without us (not sent again)", file=ctx.err)
        raise


async def _wait_for_run(ctx: CommandContext, dep: Deployment, run: PipelineRun) -> int:
    """Publish --wait where the version appears only when the run ends (Mixpeek deploys): follow the run."""
    while health_of(run.status) == Health.PROGRESS:
        await asyncio.sleep(ctx.args.interval)
        runs = await ctx.adapter.list_pipeline_runs(run.deployment_id)
        latest = next((r for r in runs if r.id == run.id), None)
        if latest is None:
            raise CliError(f"{dep.name}: run {run.id} is no longer listed; see `shipdeck status`", 1)
        run = latest
    if ctx.json:
        print_json({"run": run}, ctx.out)
    else:
        version = f" {run.version_id}" if run.version_id else ""
        failed = f" ({run.error})" if run.error else ""
        print(f"published{version} to {dep.name}: {run.status}{failed}", file=ctx.out)
    return 0 if run.health == Health.OK else 1


# -- env and domains -----------------------------------------------------------------------------------


async def cmd_env(ctx: CommandContext) -> int:
    dep = await ctx.deployment()
    args = ctx.args
    environment = args.environment or DEFAULT_ENV_ENVIRONMENT
    action = args.env_action or "get"
    if action == "get":
        listed = await list_env(ctx.adapter, dep.id, environment)
        if (note := listed.note()) is not None:
            warning_line(note, ctx.err)  # the rows may be the default environment's, not the one asked for
        env = listed.rows
        if args.keys:
            wanted = set(args.keys)
            env = [e for e in env if e.name in wanted]
            missing = wanted - {e.name for e in env}
            if missing:
                raise NotFound(
                    f"{dep.name} has no env var {sorted(missing)[0]!r} in {environment}",
                    status=404,
                    provider=ctx.adapter.provider,
                )
        _print_env(ctx, env)
        return 0
    ctx.session.check_writable(f"env.{action}")
    if action == "set":
        values = _parse_assignments(args.keys)
        # Values never reach the audit log: only the names.
        outcome = await execute(ctx, plan_env_set(dep, values, environment))
        changed = outcome.result if isinstance(outcome.result, list) else []
        if not changed:
            print(f"set {', '.join(sorted(values))} on {dep.name} ({environment})", file=ctx.out)
            return 0
        _print_env(ctx, [e for e in changed if e.name in values] or changed)
        return 0
    # unset
    if not args.keys:
        raise CliError("env unset: name the variables to remove", 2)
    for name in args.keys:
        if problem := env_key_problem(name):
            raise CliError(f"env unset: {problem}", 2)
    # How the server lists this environment decides whether a delete in it may be sent (live.env): refused
    # before asking, and before anything is sent.
    listed = await list_env(ctx.adapter, dep.id, environment)
    try:
        plans = [plan_env_unset(dep, name, listed) for name in args.keys]
    except NothingToDo as exc:
        raise _refusal(exc) from None
    ctx.confirm("env.unset", f"Remove {', '.join(args.keys)} from {dep.name} ({environment})?")
    removed: list[str] = []
    for name, plan in zip(args.keys, plans, strict=True):
        try:
            await execute(ctx, plan)
        except (CliError, ShipdeckError):
            if removed:
                # One request per name: those before the failure are gone, and the error alone hid it.
                warning_line(f"removed {', '.join(removed)} from {dep.name} ({environment}) before this")
            raise
        removed.append(name)
    if ctx.json:
        print_json({"removed": args.keys, "environment": environment}, ctx.out)
    else:
        print(f"removed {', '.join(args.keys)} from {dep.name} ({environment})", file=ctx.out)
    return 0


def _parse_assignments(pairs: list[str]) -> dict[str, str]:
    if not pairs:
        raise CliError("env set: give KEY=VALUE pairs", 2)
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        # Never echo the pair or the value: it may be a secret.
        if not sep:
            raise CliError("env set: expected KEY=VALUE (the '=' is missing)", 2)
        problem = env_key_problem(name) or env_value_problem(value)
        if problem:
            raise CliError(f"env set: {problem}", 2)
        values[name] = value
    return values


def _print_env(ctx: CommandContext, env: list[EnvVar]) -> None:
    # The console's rule (model/masking.py): a preview of stars only is shown as a fixed-width mask, so
    # '*' no longer says the value is one character long; in --json too.
    env = [e.model_copy(update={"preview": shown_preview(e.preview) or HIDDEN}) for e in env]
    if ctx.json:
        print_json(env, ctx.out)
        return
    # A row's environment as the server stated it: the official API's rows state none (not the one asked).
    rows = [
        [e.name, e.preview, e.environment or "not stated", age(e.updated_at or e.created_at)] for e in env
    ]
    print_table(["NAME", "VALUE", "ENVIRONMENT", "UPDATED"], rows, ctx.out, empty="no env vars")


async def cmd_domains(ctx: CommandContext) -> int:
    dep = await ctx.deployment()
    args = ctx.args
    action = args.domain_action or "list"
    if action == "list":
        _print_domains(ctx, await ctx.adapter.list_domains(dep.id))
        return 0
    ctx.session.check_writable(f"domain.{action}")
    if not args.domain:
        raise CliError(f"domains {action}: name the domain", 2)
    if action == "add":
        if problem := domain_problem(args.domain):
            raise CliError(f"domains add: {problem}", 2)
        # The API takes internationalised names in their IDNA (xn--) form only.
        name = ascii_domain(args.domain)
        outcome = await execute(ctx, plan_domain_add(dep, name))
        domain = outcome.result if isinstance(outcome.result, Domain) else await _find_domain(ctx, dep, name)
        _print_domain_detail(ctx, domain)
        return 0
    try:
        existing = await _find_domain(ctx, dep, args.domain)
    except NotFound:
        # A remove whose outcome was unknown, asked again: the domain is gone, so it is closed, and what
        # was asked holds (a script retrying it failed with 'no domain', exit 4, after it had succeeded).
        if action == "rm" and ctx.session.found_gone(
            "domain.remove", f"domain.remove:{dep.id}:", args.domain
        ):
            print(
                f"{dep.name} has no domain {args.domain!r} now: the earlier removal (outcome unknown) or "
                "another change removed it; nothing was sent",
                file=ctx.out,
            )
            return 0
        raise
    if action == "verify":
        outcome = await execute(ctx, plan_domain_verify(dep, existing))
        verified = outcome.result
        domain = verified if isinstance(verified, Domain) else await _find_domain(ctx, dep, existing.id)
        _print_domain_detail(ctx, domain)
        return 1 if domain.health == Health.FAILED else 0
    ctx.confirm("domain.remove", f"Remove domain {existing.name} from {dep.name}?")
    await execute(ctx, plan_domain_remove(dep, existing))
    if ctx.json:
        print_json({"removed": existing}, ctx.out)
    else:
        print(f"removed domain {existing.name} from {dep.name}", file=ctx.out)
    return 0


async def _find_domain(ctx: CommandContext, dep: Deployment, ref: str) -> Domain:
    for domain in await ctx.adapter.list_domains(dep.id):
        if ref in (domain.id, domain.name):
            return domain
    raise NotFound(f"{dep.name} has no domain {ref!r}", status=404, provider=ctx.adapter.provider)


def _print_domains(ctx: CommandContext, domains: list[Domain]) -> None:
    if ctx.json:
        print_json(domains, ctx.out)
        return
    rows = [[d.name, state_text(d.status), age(d.created_at), shorten(d.error, 60), d.id] for d in domains]
    print_table(["DOMAIN", "STATUS", "ADDED", "PROBLEM", "ID"], rows, ctx.out, empty="no domains")


def _print_domain_detail(ctx: CommandContext, domain: Domain) -> None:
    if ctx.json:
        print_json(domain, ctx.out)
        return
    print(f"{domain.name}: {state_text(domain.status)}", file=ctx.out)
    if domain.error:
        print(f"  problem: {domain.error}", file=ctx.out)
    if domain.records and domain.health != Health.OK:
        print("  create these DNS records:", file=ctx.out)
        rows = [[r.type, r.name, r.value] for r in domain.records]
        print_table(["  TYPE", "NAME", "VALUE"], [["  " + r[0], r[1], r[2]] for r in rows], ctx.out)
    if domain.instructions:
        print(f"  {domain.instructions}", file=ctx.out)


COMMANDS: dict[str, Command] = {
    "ls": cmd_ls,
    "versions": cmd_versions,
    "status": cmd_status,
    "health": cmd_health,
    "rollback": cmd_rollback,
    "promote": cmd_promote,
    "publish": cmd_publish,
    "env": cmd_env,
    "domains": cmd_domains,
}

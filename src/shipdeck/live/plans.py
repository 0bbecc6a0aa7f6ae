"""One plan per change: what a rollback, promote, publish, env or domain change will do, decided once.

The console and the scriptable commands never decide a change themselves. They ask a ``plan_*`` function
for a :class:`ChangePlan` (the target, the adapter call and its arguments, the preview, the warnings, the
audit details and how to tell afterwards whether it took effect), render it, ask, and hand it to
:class:`shipdeck.live.session.ChangeSession`. When there is nothing to do, the planner raises
:class:`NothingToDo` with the reason and nothing is sent.

The rule "which version does a plain rollback go back to" is :func:`rollback_choice`, and only there.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shipdeck.api.base import Adapter
from shipdeck.api.errors import ProtocolError, ShipdeckError
from shipdeck.config.open_changes import OpenChange
from shipdeck.live.env import EnvListing
from shipdeck.model import (
    PROMOTABLE_VERSION_STATES,
    Agent,
    Capabilities,
    Capability,
    Deployment,
    Domain,
    EnvVar,
    Health,
    PublishRequest,
    PublishResult,
    Task,
    Version,
    health_of,
)
from shipdeck.model.validation import publish_path_problem

NOT_ROLLED_BACK = (
    "Not rolled back: environment variables, databases and stored data, domains. "
    "Only the active version changes."
)

# PublishRequest field -> the CLI option that sets it (the environment is checked apart).
PUBLISH_OPTIONS = {
    "source_sandbox_id": "--sandbox",
    "output_path": "--output-path",
    "entrypoint": "--entrypoint",
    "message": "--message",
}

Send = Callable[[Adapter, str], Awaitable[Any]]
# True: the change is in effect; False: it is not; None: the server shows no trace either way (an answered
# approval that is no longer listed), so a resend under the same key lets the server's replay tell; the
# check may raise (the server cannot be read).
Check = Callable[[Adapter], Awaitable[bool | None]]
# The answer to a sent change -> None when it agrees with the change (or says nothing about it), else what
# it shows instead ("shows v9 active, not v8"): the outcome is then unknown until the server is read back.
Confirms = Callable[[Any], str | None]
# Reads the server: why the change no longer applies as planned (the row has another version active now),
# None when it still does; may raise (the server cannot be read). Asked before a change is sent after a
# wait (a dialog, a prompt) and before every resend.
Moved = Callable[[Adapter], Awaitable[str | None]]
# An open change of unknown outcome that this change, once applied, makes moot (a later rollback of the same
# row, a later set of the same env var): closed then, its outcome still unknown, so that asking for it
# again is a new change and not a replay of a stale one.
Closes = Callable[[OpenChange], bool]


class NothingToDo(ShipdeckError):
    """The change cannot or need not be made (already active, no earlier version, not ready): not sent.

    ``settles``: the identity of an earlier change of unknown outcome that this finding settles as
    applied (a re-run found its target already in effect).
    """

    exit_code = 1

    def __init__(self, message: str, *, settles: str | None = None) -> None:
        super().__init__(message)
        self.settles = settles


class InvalidChange(NothingToDo):
    """The change as asked cannot be sent (a required field missing, a field the provider drops)."""

    exit_code = 2


class NoSuchVersion(NothingToDo):
    """The version asked for is not among the deployment's versions."""

    exit_code = 4


class AmbiguousVersion(NothingToDo):
    """The number asked for names more than one of the deployment's versions (a server that numbered two
    alike): which one is meant cannot be told, so the user names one by its id."""

    exit_code = 2


@dataclass
class ChangePlan:
    """A change decided and ready to send. Nothing in it has been sent."""

    action: str  # audit action: rollback, promote, publish, redeploy, env.set, env.unset, domain.add, ...
    target: str  # audit target: "name [id]"
    title: str  # "Roll back storefront (staging)"
    summary: str  # "v6 -> v5", "set LOG_LEVEL", "add www.example.com"
    send: Send
    # What makes a second request "the same change" (it then reuses the first one's idempotency key).
    identity: str
    deployment: Deployment | None = None
    environment: str | None = None
    current: Version | None = None
    to: Version | None = None
    reason: str | None = None
    notes: list[str] = field(default_factory=list)
    # Versions the rollback rule passed over, and why (they failed their users when last live): in the
    # notes of the dialog, and the CLI's preview.
    passed_over: list[str] = field(default_factory=list)
    # Things that would supersede or undo the change (a build in flight, auto-deploy on).
    warnings: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    check: Check | None = None
    confirms: Confirms | None = None
    moved: Moved | None = None
    closes: Closes | None = None
    # Into production from a provider with several environments, or a profile-wide production change:
    # the console asks for the deployment's name to be typed (unless the profile says confirm = "key").
    into_production: bool = False
    # Set when this plan resends an earlier change whose outcome was unknown (same target, same key).
    resumes: str | None = None
    # The row whose active version ``current`` is (a promote from staging replaces production's): if that
    # row has another active version by the time the plan is confirmed, it must not be sent (moved_since).
    current_of: str | None = None
    done_text: str = ""
    # What changes between the active version and the target, one plain line each (see version_diff):
    # the console's dialog and the CLI's preview print the same lines.
    diff: list[str] = field(default_factory=list)
    # What the server's answer says of a change applied as a request but not in effect as wanted (a
    # verification whose DNS records were not found): None when it is. The outcome says it, not "done".
    shortfall: Callable[[Any], str | None] | None = None
    # The done line from the answer (a domain's state after its verification), else done_text.
    done_of: Callable[[Any], str | None] | None = None
    # Whether a later change can undo this one, so that a replay of it (applied then) is read back before
    # it is called in effect. A publish made a version, which stays made: its check looks for a version
    # newer than those known when it was planned, and a re-run plans after it, so it found none and said
    # "changed since", and asking again published twice.
    undone_by_later: bool = True

    def done(self, result: Any) -> str:
        short = self.shortfall(result) if self.shortfall is not None else None
        if short is not None:
            return f"{self.title}: sent, {short}"
        said = self.done_of(result) if self.done_of is not None else None
        return said or self.done_text or f"{self.title}: done"


# -- versions ---------------------------------------------------------------------------------------------


def version_order(version: Version) -> tuple[int, datetime]:
    return (
        version.number if version.number is not None else -1,
        version.created_at or datetime.min.replace(tzinfo=UTC),
    )


def newest_first(versions: Iterable[Version]) -> list[Version]:
    return sorted(versions, key=version_order, reverse=True)


def active_version(deployment: Deployment, versions: Iterable[Version]) -> Version | None:
    """The deployment's active version among ``versions`` (by id, else by number)."""
    listed = list(versions)
    by_id = next(
        (v for v in listed if deployment.active_version_id and v.id == deployment.active_version_id), None
    )
    if by_id is not None:
        return by_id
    if deployment.active_version_number is not None:
        return next((v for v in listed if v.number == deployment.active_version_number), None)
    return None


def rollback_candidates(versions: Iterable[Version], current: Version | None) -> list[Version]:
    """The ready versions older than the active one (by number, else by order), newest first; with no
    active version known, every ready version."""
    ordered = newest_first(versions)
    if current is None:
        return [v for v in ordered if v.state in PROMOTABLE_VERSION_STATES]
    candidates = []
    below = False
    for version in ordered:
        if version.id == current.id:
            below = True
            continue
        older = (
            version.number < current.number
            if version.number is not None and current.number is not None
            else below
        )
        if older and version.state in PROMOTABLE_VERSION_STATES:
            candidates.append(version)
    return candidates


def rollback_choice(
    versions: Iterable[Version], current: Version | None, avoid: Mapping[str, str] | None = None
) -> tuple[Version | None, list[str]]:
    """THE rollback rule, and why it passed over what it did: the newest ready version older than the
    active one, passing over those in ``avoid`` (id -> why: they failed their users when last live) and,
    where the provider says when versions went live (``promoted_at``), those that never did (built with
    ``--no-promote``: going back means to a version that served). With every candidate passed over, the
    newest of them (the dialog's warning says so), and nothing said passed over.

    This is also the servers' own default for a bare rollback (Miosa, Mixpeek restore), the passing over
    apart; shipdeck always sends the target it showed.
    """
    listed = list(versions)
    known_live = any(v.promoted_at is not None for v in listed)
    skip = {v.id: f"{v.label} never went live" for v in listed if known_live and v.promoted_at is None}
    skip.update(avoid or {})
    candidates = rollback_candidates(listed, current)
    found = next((v for v in candidates if v.id not in skip), candidates[0] if candidates else None)
    if found is None:
        return None, []
    return found, [skip[v.id] for v in candidates[: candidates.index(found)]]


def rollback_target(
    versions: Iterable[Version], current: Version | None, avoid: Mapping[str, str] | None = None
) -> Version | None:
    """The version :func:`rollback_choice` goes back to."""
    return rollback_choice(versions, current, avoid)[0]


def find_version(versions: Iterable[Version], ref: str, *, of: str = "the deployment") -> Version | None:
    """VERSION as an id, else as a number (``v12`` or ``12``, ASCII digits: isdigit and int() also take
    ``٣`` and ``３``, not taken for v3 here). A number that more than one version has raises
    AmbiguousVersion, naming their ids (``of``: the deployment's name, for the message): the first of two
    v4s was taken, and a rollback to the other said 'v4 is already active'."""
    listed = list(versions)
    by_id = next((v for v in listed if v.id == ref), None)
    if by_id is not None:
        return by_id
    text = ref.strip().lower().removeprefix("v")
    if not (text.isascii() and text.isdigit()):
        return None
    numbered = [v for v in listed if v.number == int(text)]
    if len(numbered) > 1:
        ids = ", ".join(v.id for v in numbered)
        raise AmbiguousVersion(
            f"{of} has {len(numbered)} versions numbered v{int(text)} ({ids}): name one by its id; "
            "nothing was sent"
        )
    return numbered[0] if numbered else None


def _pick(deployment: Deployment, versions: list[Version], ref: str | Version) -> Version:
    if isinstance(ref, Version):
        return ref
    found = find_version(versions, ref, of=deployment.name)
    if found is None:
        raise NoSuchVersion(f"{deployment.name} has no version {ref!r}; nothing was sent")
    return found


def in_environment(environment: str | None) -> str:
    return f" ({environment})" if environment else ""


def version_details(current: Version | None, to: Version | None, environment: str | None) -> dict[str, Any]:
    """The audit details of a change of active version, the same from the console and the CLI."""
    details: dict[str, Any] = {
        "from": current.label if current else None,
        "from_id": current.id if current else None,
        "to": to.label if to else None,
        "to_id": to.id if to else None,
    }
    if environment:
        details["environment"] = environment
    return details


# The file lines a diff lists before it says "and N more" (a preview, not a review).
DIFF_FILES_SHOWN = 8


def source_files_of(version: Version | None) -> dict[str, str] | None:
    """The version's ``source_files`` (path -> content) where the provider carries them (Mixpeek), else
    None. Anything not a map of strings is treated as absent, never trusted."""
    raw = getattr(version, "source_files", None) if version is not None else None
    if not isinstance(raw, Mapping):
        return None
    return {str(path): text for path, text in raw.items() if isinstance(text, str)}


def _changed(name: str, before: str | None, after: str | None) -> str:
    old = before if before else "(none)"
    new = after if after else "(none)"
    if old == new:
        return f"{name:<8} {new} (unchanged)"
    return f"{name:<8} {old} -> {new}"


def _line_counts(before: str, after: str) -> tuple[int, int]:
    added = removed = 0
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0):
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    return added, removed


def file_diff(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """'files    1 added, 1 modified, 0 removed, 3 unchanged' and one line per changed file."""
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    modified = sorted(p for p in set(before) & set(after) if before[p] != after[p])
    unchanged = len(set(before) & set(after)) - len(modified)
    lines = [
        f"files    {len(added)} added, {len(modified)} modified, {len(removed)} removed, "
        f"{unchanged} unchanged"
    ]
    entries = [f"  + {path}" for path in added]
    for path in modified:
        plus, minus = _line_counts(before[path], after[path])
        entries.append(f"  ~ {path} (+{plus} -{minus})")
    entries += [f"  - {path}" for path in removed]
    lines += entries[:DIFF_FILES_SHOWN]
    if len(entries) > DIFF_FILES_SHOWN:
        lines.append(f"  ... and {len(entries) - DIFF_FILES_SHOWN} more")
    return lines


# A version's message in a preview: its first line, cut here (a squash message can be thousands of chars).
MESSAGE_SHOWN = 100


def message_headline(message: str | None, limit: int = MESSAGE_SHOWN) -> str | None:
    """A commit message as one preview line: its first non-empty line, cut at ``limit`` with '…', and
    how many lines it leaves out ('fix login (+12 lines)')."""
    if not message:
        return message
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return None
    first = lines[0] if len(lines[0]) <= limit else lines[0][: limit - 1] + "…"
    return first + (f" (+{len(lines) - 1} lines)" if len(lines) > 1 else "")


def version_diff(current: Version | None, to: Version | None) -> list[str]:
    """What making ``to`` live instead of ``current`` changes: version, message, author, and the source
    files where both versions carry them. Plain text (server text included literally): the caller
    escapes it for its medium."""
    if to is None:
        return []
    lines = [
        _changed("version", current.label if current else None, to.label),
        _changed(
            "message", message_headline(current.message) if current else None, message_headline(to.message)
        ),
        _changed("author", current.author if current else None, to.author),
    ]
    before, after = source_files_of(current), source_files_of(to)
    if before is not None and after is not None:
        lines += file_diff(before, after)
    elif after is not None or before is not None:
        missing = (current.label if current else "the active version") if before is None else to.label
        lines.append(f"files    {missing} carries no source files: no file diff")
    return lines


def in_flight_warnings(
    deployment: Deployment, versions: Iterable[Version], current: Version | None
) -> list[str]:
    """What would replace a rolled-back or promoted version by itself: a newer build, auto-deploy."""
    warnings: list[str] = []
    floor = current.number if current is not None and current.number is not None else None
    for version in newest_first(versions):
        if health_of(version.state) is not Health.PROGRESS:
            continue
        if floor is not None and version.number is not None and version.number <= floor:
            continue
        warnings.append(
            f"{version.label} is {version.state}: if it was published to go live when ready, it will "
            "replace this change when its build finishes"
        )
        break
    if deployment.auto_deploy:
        warnings.append("auto-deploy is on: the next push builds a new version and makes it live")
    return warnings


def _is_active(deployment: Deployment, version: Version) -> bool:
    if deployment.active_version_id:
        return deployment.active_version_id == version.id
    return version.number is not None and deployment.active_version_number == version.number


def active_label(row: Deployment, versions: Iterable[Version]) -> str:
    """The row's active version as a user reads it (``v9``): named from ``versions`` when the row gives
    only its id (Miosa), else the row's number, else the id."""
    named = active_version(row, versions)
    if named is not None:
        return named.label
    if row.active_version_number is not None:
        return f"v{row.active_version_number}"
    return row.active_version_id or "no version"


def moved_since(plan: ChangePlan, row: Deployment | None, versions: Iterable[Version] = ()) -> str | None:
    """Why a confirmed change of active version must not be sent as planned: ``row`` (the plan's
    ``current_of`` as it is now) has another version active than the one the plan was made from, so the
    dialog or preview showed a "from" that is no longer live (a publish or a colleague's promote landed
    meanwhile). None when it is still the same, or the plan is not about the active version.
    ``versions``: the row's versions, to name the active one when the row gives only its id."""
    current = plan.current
    if current is None or row is None or row.id != plan.current_of or _is_active(row, current):
        return None
    if plan.to is not None and _is_active(row, plan.to):
        return None  # where the change goes (its own earlier attempt, it may be): a resend only replays
    now = active_label(row, versions)
    where = in_environment(plan.environment)
    return (
        f"{row.name}{where} changed while this waited for confirmation: {now} is active now, not "
        f"{current.label}; nothing was sent (ask again to plan it from {now})"
    )


def _row_moved(plan: ChangePlan, listed: list[Version]) -> Moved:
    async def moved(adapter: Adapter) -> str | None:
        assert plan.current_of is not None
        return moved_since(plan, await adapter.get_deployment(plan.current_of), listed)

    return moved


def _closes_versions_of(row_id: str) -> Closes:
    """A change of the row's active version makes earlier unknown ones of that row moot."""
    prefixes = (f"rollback:{row_id}:", f"promote:{row_id}:")
    return lambda change: change.identity.startswith(prefixes)


def _with_version_guards(plan: ChangePlan, listed: list[Version]) -> ChangePlan:
    assert plan.current_of is not None
    plan.moved = _row_moved(plan, listed)
    plan.closes = _closes_versions_of(plan.current_of)
    return plan


def _active_check(deployment_id: str, version: Version) -> Check:
    async def check(adapter: Adapter) -> bool:
        return _is_active(await adapter.get_deployment(deployment_id), version)

    return check


def _answer_shows_active(deployment_id: str, version: Version, listed: Iterable[Version]) -> Confirms:
    """A change of active version is confirmed by its answer only when that answer is the same deployment
    with ``version`` active (a server may answer before it switches: then reading it back tells).
    ``listed``: the deployment's versions, to name the one the answer shows."""
    known = list(listed)

    def confirms(result: Any) -> str | None:
        if not isinstance(result, Deployment):
            return None
        if result.id != deployment_id:
            return f"is another deployment ({result.id}), not {deployment_id}"
        if result.active_version_id is None and result.active_version_number is None:
            return None
        if _is_active(result, version):
            return None
        return f"shows {active_label(result, known)} active, not {version.label}"

    return confirms


def _target(deployment: Deployment) -> str:
    return f"{deployment.name} [{deployment.id}]"


def _production(deployment: Deployment, environment: str | None, profile_environment: str) -> bool:
    if environment is not None:
        return environment == "production" and profile_environment != "sandbox"
    return profile_environment == "production"


# -- rollback and promote ---------------------------------------------------------------------------------


def rollback_identity(deployment: Deployment, environment: str | None, to: Version | None = None) -> str:
    """Identity of a rollback; without ``to``, the prefix every rollback of this row shares."""
    base = f"rollback:{deployment.id}:{environment or ''}:"
    return base + (to.id if to is not None else "")


def _made_elsewhere(target: Version, environment: str | None) -> list[str]:
    """The warning of a target deployed to another environment (``made_here`` False): the rule goes by number,
    as the vendor's own rollback does, so staging's previous number can be a production deploy that staging
    served only if it was restored there; the provider lists no history that would tell."""
    if target.made_here is not False:
        return []
    where = environment or "this environment"
    return [
        f"{target.label} was deployed to {target.environment or 'another environment'}, not to {where}: "
        f"{where} served it before only if it was restored there."
    ]


def plan_rollback(
    deployment: Deployment,
    versions: Iterable[Version],
    *,
    to: str | Version | None = None,
    reason: str | None = None,
    capabilities: Capabilities | None = None,
    profile_environment: str = "production",
    resumes: str | None = None,
    avoid: Mapping[str, str] | None = None,
) -> ChangePlan:
    """Roll ``deployment`` (the row of the environment to change) back to ``to`` or to the rule's target.

    ``avoid``: versions the rule passes over (id -> why: it failed its users when last live); the plan's
    notes say which were passed over.

    ``resumes``: the identity of an earlier rollback of this row whose outcome is unknown and whose target
    ``to`` is; if that target is already active, the earlier one was applied (NothingToDo settles it).
    """
    listed = list(versions)
    environment = deployment.environment
    current = active_version(deployment, listed)
    where = in_environment(environment)
    if to is None and current is None:
        raise NothingToDo(
            f"{deployment.name}{where}: nothing is active (or the active version is not listed), so there "
            "is nothing to roll back from; name a version to go to; nothing was sent"
        )
    passed_over: list[str] = []
    if to is None:
        found, passed_over = rollback_choice(listed, current, avoid)
        if found is None:
            below = f"before {current.label}" if current else "to roll back to"
            raise NothingToDo(f"{deployment.name}{where}: no ready version {below}; nothing was sent")
        target = found
    else:
        target = _pick(deployment, listed, to)
    if _is_active(deployment, target):
        if resumes is not None:
            raise NothingToDo(
                f"{deployment.name}{where}: {target.label} is active now, as the earlier rollback (outcome "
                "unknown) intended; whether that one or another change made it so cannot be told. Nothing "
                "more was sent",
                settles=resumes,
            )
        raise NothingToDo(f"{deployment.name}{where}: {target.label} is already active; nothing was sent")
    if target.state not in PROMOTABLE_VERSION_STATES:
        raise NothingToDo(
            f"{target.label} of {deployment.name} is {target.state}, not ready: cannot roll back to it; "
            "nothing was sent"
        )
    send_id = (
        target.id if capabilities is None or capabilities.supports(Capability.ROLLBACK_TO_VERSION) else None
    )
    chosen = target

    def send(adapter: Adapter, key: str) -> Awaitable[Deployment]:
        # The previewed target is sent explicitly: what was confirmed is what happens, even if a new
        # version went live meanwhile.
        return adapter.rollback(
            deployment.id,
            to_version_id=send_id,
            environment=environment,
            reason=reason,
            idempotency_key=key,
        )

    before = current.label if current else "-"
    plan = ChangePlan(
        action="rollback",
        target=_target(deployment),
        title=f"Roll back {deployment.name}{where}",
        summary=f"{before} -> {chosen.label}",
        send=send,
        identity=rollback_identity(deployment, environment, chosen),
        deployment=deployment,
        environment=environment,
        current=current,
        to=chosen,
        reason=reason,
        notes=[
            *(f"Passed over: {why}." for why in passed_over),
            *_made_elsewhere(chosen, environment),
            NOT_ROLLED_BACK,
        ],
        passed_over=passed_over,
        warnings=[*in_flight_warnings(deployment, listed, current), *_made_elsewhere(chosen, environment)],
        details=version_details(current, chosen, environment),
        check=_active_check(deployment.id, chosen),
        confirms=_answer_shows_active(deployment.id, chosen, listed),
        into_production=False,  # the incident path: one confirming key unless the profile asks to type
        resumes=resumes,
        current_of=deployment.id,
        done_text=f"{deployment.name}{where}: rolled back {before} -> {chosen.label}",
    )
    return _with_version_guards(plan, listed)


def plan_hold_auto_deploy(
    deployment: Deployment, rollback: ChangePlan | None = None, *, turn_on: str
) -> ChangePlan:
    """Turn auto-deploy off, so that the next push does not undo a rollback (Miosa: PATCH auto_deploy).
    ``rollback``: the rollback it goes ahead of; it is sent only while that one still applies (its
    ``moved``). ``turn_on``: as plan_auto_deploy's."""
    return plan_auto_deploy(deployment, on=False, rollback=rollback, turn_on=turn_on)


def plan_auto_deploy(
    deployment: Deployment, *, on: bool, turn_on: str, rollback: ChangePlan | None = None
) -> ChangePlan:
    """Turn auto-deploy on or off (Miosa: PATCH auto_deploy). Off holds what is live against the next
    push (a rollback's hold); on lets pushes deploy again, and says that the next one replaces what is
    live. ``turn_on``: how the surface showing the plan turns auto-deploy back on, in its own terms (the
    console's key, the CLI's command): off's note and done line name it, one sentence for both."""
    if bool(deployment.auto_deploy) == on:
        state = "on" if on else "off"
        raise NothingToDo(f"{deployment.name}: auto-deploy is already {state}; nothing was sent")

    before, after = ("off", "on") if on else ("on", "off")

    def send(adapter: Adapter, key: str) -> Awaitable[Deployment]:
        return adapter.update_deployment(deployment.id, {"auto_deploy": on}, idempotency_key=key)

    async def check(adapter: Adapter) -> bool:
        return (await adapter.get_deployment(deployment.id)).auto_deploy is on

    def confirms(result: Any) -> str | None:
        if not isinstance(result, Deployment) or result.auto_deploy is None:
            return None
        if result.id != deployment.id:
            return f"is another deployment ({result.id}), not {deployment.id}"
        return None if result.auto_deploy is on else f"shows auto-deploy {before}, not {after}"

    branch = f" to {deployment.branch}" if deployment.branch else ""
    return ChangePlan(
        action="update",
        target=_target(deployment),
        title=f"Resume auto-deploy of {deployment.name}" if on else f"Hold {deployment.name}",
        summary=f"auto-deploy {before} -> {after}",
        send=send,
        # The hold's identity as it always was (open changes of earlier runs are found by it).
        identity=f"auto-deploy-on:{deployment.id}" if on else f"hold:{deployment.id}",
        deployment=deployment,
        details={"auto_deploy": {"from": not on, "to": on}},
        check=check,
        confirms=confirms,
        notes=(
            [f"From now on a push{branch} builds a new version and puts it live, replacing what is live now."]
            if on
            else [f"Pushes stop deploying until auto-deploy is turned on again ({turn_on})."]
        ),
        moved=rollback.moved if rollback is not None else None,
        done_text=(
            f"{deployment.name}: auto-deploy turned on (the next push deploys)"
            if on
            else f"{deployment.name}: auto-deploy turned off (what is live holds until you turn it on: "
            f"{turn_on})"
        ),
    )


def same_app_in(
    deployment: Deployment, environment: str | None, rows: Iterable[Deployment]
) -> Deployment | None:
    """The row of ``deployment``'s app in ``environment`` (providers that list an app once per
    environment): ``deployment`` itself when it is that row or has no environments, else the matching one
    of ``rows`` (None: not among them)."""
    if environment is None or deployment.environment in (None, environment):
        return deployment
    same = (deployment.name, deployment.slug)
    return next((r for r in rows if r.environment == environment and (r.name, r.slug) == same), None)


def promote_environment(deployment: Deployment) -> str | None:
    """Where a promote goes: a provider with environments promotes into production (also from staging)."""
    return "production" if deployment.environment else None


def plan_promote(
    deployment: Deployment,
    versions: Iterable[Version],
    version: str | Version | None,
    *,
    replaced: Deployment | None = None,
    environment: str | None = None,
    profile_environment: str = "production",
) -> ChangePlan:
    """Make ``version`` (default: the newest) live in ``environment`` (default: production where the
    provider has environments). ``replaced``: the row whose active version it replaces (the row of that
    environment, where the provider lists one row per environment)."""
    listed = list(versions)
    environment = environment or promote_environment(deployment)
    live_row = replaced or deployment
    if version is None:
        ordered = newest_first(listed)
        if not ordered:
            raise NothingToDo(f"{deployment.name} has no versions; nothing was sent")
        target = ordered[0]
    else:
        target = _pick(deployment, listed, version)
    where = in_environment(environment)
    if _is_active(live_row, target):
        # An earlier promote of it whose outcome was unknown is settled by this finding (it stayed open,
        # and a later deliberate promote of the same version replayed its stale key).
        raise NothingToDo(
            f"{deployment.name}: {target.label} is already active{where}; nothing was sent",
            settles=f"promote:{live_row.id}:{environment or ''}:{target.id}",
        )
    if target.state not in PROMOTABLE_VERSION_STATES:
        raise NothingToDo(
            f"{target.label} of {deployment.name} is {target.state}: only ready versions can be promoted; "
            "nothing was sent"
        )
    current = active_version(live_row, listed)
    chosen = target

    def send(adapter: Adapter, key: str) -> Awaitable[Deployment]:
        return adapter.promote(deployment.id, chosen.id, environment=environment, idempotency_key=key)

    before = current.label if current else "-"
    plan = ChangePlan(
        action="promote",
        target=_target(deployment),
        title=f"Promote {chosen.label} of {deployment.name}{where}",
        summary=f"{before} -> {chosen.label}",
        send=send,
        identity=f"promote:{live_row.id}:{environment or ''}:{chosen.id}",
        deployment=deployment,
        environment=environment,
        current=current,
        to=chosen,
        warnings=in_flight_warnings(live_row, listed, current),
        details=version_details(current, chosen, environment),
        check=_active_check(live_row.id, chosen),
        confirms=_answer_shows_active(live_row.id, chosen, listed),
        into_production=_production(deployment, environment, profile_environment),
        current_of=live_row.id,
        done_text=f"{deployment.name}{where}: {chosen.label} promoted ({before} -> {chosen.label})",
        diff=version_diff(current, chosen),
    )
    return _with_version_guards(plan, listed)


# -- publish and redeploy ---------------------------------------------------------------------------------


def plan_publish(
    deployment: Deployment,
    request: PublishRequest,
    capabilities: Capabilities,
    *,
    versions: Iterable[Version] = (),
    profile_environment: str = "production",
) -> ChangePlan:
    """Publish a new version; refuses a field the provider would silently drop."""
    if not request.source_sandbox_id and "source_sandbox_id" in capabilities.publish_required:
        raise InvalidChange("publish: a sandbox id is required (the sandbox to publish); nothing was sent")
    if "message" in capabilities.publish_required and not (request.message or "").strip():
        raise InvalidChange(
            f"publish: {deployment.provider} needs a deploy message (what changed); nothing was sent"
        )
    ignored = [
        PUBLISH_OPTIONS[name]
        for name in request.model_fields_set
        if name in PUBLISH_OPTIONS
        and name not in capabilities.publish_fields
        and getattr(request, name) is not None
    ]
    if ignored:
        raise InvalidChange(
            f"publish: {deployment.provider} does not take {', '.join(sorted(ignored))}; nothing was sent"
        )
    if request.environment not in capabilities.environments:
        raise InvalidChange(
            f"publish: {deployment.provider} publishes into {' or '.join(capabilities.environments)} only, "
            f"not {request.environment!r}; nothing was sent"
        )
    for name in ("output_path", "entrypoint"):
        if (problem := publish_path_problem(getattr(request, name))) is not None:
            raise InvalidChange(f"publish: {PUBLISH_OPTIONS[name]} {problem}; nothing was sent")
    environment = (
        request.environment if deployment.environment or len(capabilities.environments) > 1 else None
    )
    where = in_environment(environment)
    known = [v.number for v in versions if v.number is not None]
    newest_known = max(known) if known else None
    source = f"sandbox {request.source_sandbox_id}" if request.source_sandbox_id else "a new bundle"

    def send(adapter: Adapter, key: str) -> Awaitable[Any]:
        return adapter.publish(deployment.id, request, idempotency_key=key)

    check: Check | None = None
    if newest_known is not None:

        async def check(adapter: Adapter) -> bool:
            page = await adapter.list_versions(deployment.id, limit=20)
            return any(
                v.number is not None and v.number > newest_known and _published_from(v, request)
                for v in page.items
            )

    then = ", live when ready" if request.promote else ", not made live"
    notes = [] if request.promote else ["The new version is built but not made live (promote it later)."]
    active = active_version(deployment, versions)
    warnings = []
    if "output_path" in capabilities.publish_fields and active is not None and active.kind == "dynamic":
        # Miosa's publish route builds a static site (its SDK: the rest is "reserved; ignored").
        warnings.append(
            f"{active.label} is a dynamic app (it runs a server); this publish makes a static version, "
            "which serves files only"
        )
    return ChangePlan(
        action="publish",
        target=_target(deployment),
        title=f"Publish {source} to {deployment.name}{where}",
        summary=f"new version from {source}{then}",
        send=send,
        identity=f"publish:{deployment.id}:{environment or ''}:{request.model_dump_json(exclude_none=True)}",
        deployment=deployment,
        environment=environment,
        notes=notes,
        warnings=warnings,
        details=request.model_dump(exclude_none=True, mode="json"),
        check=check,
        confirms=_answer_shows_new_version(deployment),
        undone_by_later=False,
        into_production=request.promote and _production(deployment, environment, profile_environment),
        done_text=f"{deployment.name}{where}: publishing a new version{then}",
    )


def _answer_shows_new_version(deployment: Deployment) -> Confirms:
    """A publish's answer shows its new version (or the run that builds it) of this deployment; a bare
    ``{"data": {}}`` or another deployment's version is no proof (it was printed as published)."""

    def confirms(result: Any) -> str | None:
        if not isinstance(result, PublishResult):
            return None
        if result.version is None and result.run is None:
            return "shows no new version"
        owner = result.version.deployment_id if result.version is not None else None
        if owner is not None and owner != deployment.id:
            return f"is about a version of {owner}, not {deployment.id}"
        return None

    return confirms


def _published_from(version: Version, request: PublishRequest) -> bool:
    """Whether a new version can be told to be this publish's: its sandbox or its message is the one sent.
    A version that shows neither proves nothing (anyone's push, an auto-deploy, a colleague's publish), so
    the change stays unknown and is resent with its key, which the server cannot apply twice."""
    pairs = [(version.source_sandbox_id, request.source_sandbox_id), (version.message, request.message)]
    known = [(shown, sent) for shown, sent in pairs if shown is not None and sent is not None]
    return bool(known) and all(shown.strip() == sent.strip() for shown, sent in known)


def plan_redeploy(deployment: Deployment, *, profile_environment: str = "production") -> ChangePlan:
    version = (
        f"v{deployment.active_version_number}" if deployment.active_version_number else "the active version"
    )

    def send(adapter: Adapter, key: str) -> Awaitable[Any]:
        return adapter.redeploy(deployment.id, idempotency_key=key)

    return ChangePlan(
        action="redeploy",
        target=_target(deployment),
        title=f"Redeploy {deployment.name}",
        summary=f"rebuild {version}",
        send=send,
        identity=f"redeploy:{deployment.id}:{deployment.active_version_id or version}",
        deployment=deployment,
        environment=deployment.environment,
        # A new version made live, as a promote: into production, the name is typed.
        into_production=_production(deployment, deployment.environment, profile_environment),
        notes=[
            f"Builds a NEW version from the source of {version} with the current env vars, and makes it "
            "live when its build succeeds; the version number goes up by one."
        ],
        details={"from": version},
        done_text=f"{deployment.name}: redeploy of {version} started",
    )


# -- env vars -----------------------------------------------------------------------------------------------


def _closes_env_of(deployment: Deployment, environment: str, names: Iterable[str]) -> Closes:
    """A set or unset of env vars makes earlier unknown ones of any of the same vars moot."""
    touched = set(names)
    prefixes = (f"env.set:{deployment.id}:{environment}:", f"env.unset:{deployment.id}:{environment}:")

    def closes(change: OpenChange) -> bool:
        keys = change.details.get("keys")
        return change.identity.startswith(prefixes) and isinstance(keys, list) and bool(touched & set(keys))

    return closes


def values_digest(deployment: Deployment, values: Mapping[str, str]) -> str:
    """A short keyed digest of env values, never the values: setting other values is another change (it
    must not reuse the key of an earlier one whose outcome is unknown, which a server may replay instead
    of applying). Keyed by the deployment, so equal values elsewhere do not give equal digests."""
    text = json.dumps(sorted(values.items()), ensure_ascii=False).encode()
    return hashlib.blake2b(text, digest_size=8, key=deployment.id.encode()[:64]).hexdigest()


def plan_env_set(deployment: Deployment, values: Mapping[str, str], environment: str) -> ChangePlan:
    names = sorted(values)
    snapshot = dict(values)  # never in the audit log or a message; in the identity only as a keyed digest
    digest = values_digest(deployment, snapshot)

    def send(adapter: Adapter, key: str) -> Awaitable[Any]:
        return adapter.set_env(deployment.id, snapshot, environment=environment, idempotency_key=key)

    return ChangePlan(
        action="env.set",
        target=_target(deployment),
        title=f"Set env vars of {deployment.name} ({environment})",
        summary="set " + ", ".join(names),
        send=send,
        identity=f"env.set:{deployment.id}:{environment}:{','.join(names)}:{digest}",
        deployment=deployment,
        environment=environment,
        details={"environment": environment, "keys": names},
        # The values are never read back (no API returns them): an answer that lists the names is the proof,
        # else the same request goes again under its key and the server's replay says.
        confirms=_answer_lists_names(names),
        closes=_closes_env_of(deployment, environment, names),
        done_text=f"{deployment.name} ({environment}): set {', '.join(names)}",
    )


def _answer_lists_names(names: list[str]) -> Confirms:
    def confirms(result: Any) -> str | None:
        if not isinstance(result, list):
            return None
        listed = {var.name for var in result if isinstance(var, EnvVar)}
        missing = [name for name in names if name not in listed]
        return f"does not list {', '.join(missing)}" if missing else None

    return confirms


def plan_env_unset(deployment: Deployment, name: str, listed: EnvListing) -> ChangePlan:
    """Remove ``name`` from the environment ``listed`` was read for. ``listed`` is how the server listed
    it: a delete in an environment the server has not shown it keeps apart from the default one is
    refused (InvalidChange), since it may remove the default environment's variable (live.env)."""
    environment = listed.environment
    if (refusal := listed.unset_refusal(name)) is not None:
        raise InvalidChange(refusal)

    async def send(adapter: Adapter, key: str) -> None:
        await adapter.unset_env(deployment.id, name, environment=environment, idempotency_key=key)

    async def check(adapter: Adapter) -> bool:
        return all(var.name != name for var in await adapter.list_env(deployment.id, environment=environment))

    return ChangePlan(
        action="env.unset",
        target=_target(deployment),
        title=f"Remove {name} from {deployment.name} ({environment})",
        summary=f"unset {name}",
        send=send,
        identity=f"env.unset:{deployment.id}:{environment}:{name}",
        deployment=deployment,
        environment=environment,
        details={"environment": environment, "keys": [name]},
        check=check,
        closes=_closes_env_of(deployment, environment, [name]),
        done_text=f"{deployment.name} ({environment}): removed {name}",
    )


# -- domains ------------------------------------------------------------------------------------------------


def _domain_present(deployment_id: str, name: str) -> Check:
    async def check(adapter: Adapter) -> bool:
        return any(d.name == name for d in await adapter.list_domains(deployment_id))

    return check


def _answer_is_domain(*, name: str, domain_id: str | None = None) -> Confirms:
    """An answer about another domain (printed as this one's state) is no proof of this one's change."""

    def confirms(result: Any) -> str | None:
        if not isinstance(result, Domain):
            return None
        if result.name.lower() == name.lower() or (domain_id is not None and result.id == domain_id):
            return None
        return f"is about {result.name}, not {name}"

    return confirms


def plan_domain_add(deployment: Deployment, name: str) -> ChangePlan:
    def send(adapter: Adapter, key: str) -> Awaitable[Domain]:
        return adapter.add_domain(deployment.id, name, idempotency_key=key)

    return ChangePlan(
        action="domain.add",
        target=_target(deployment),
        title=f"Add {name} to {deployment.name}",
        summary=f"add {name}",
        send=send,
        identity=f"domain.add:{deployment.id}:{name}",
        deployment=deployment,
        details={"domain": name},
        check=_domain_present(deployment.id, name),
        confirms=_answer_is_domain(name=name),
        done_text=f"{deployment.name}: added {name}",
    )


def plan_domain_verify(deployment: Deployment, domain: Domain) -> ChangePlan:
    def send(adapter: Adapter, key: str) -> Awaitable[Domain]:
        return adapter.verify_domain(deployment.id, domain.id, idempotency_key=key)

    return ChangePlan(
        action="domain.verify",
        target=_target(deployment),
        title=f"Verify {domain.name}",
        summary=f"verify {domain.name}",
        send=send,
        identity=f"domain.verify:{deployment.id}:{domain.id}",
        deployment=deployment,
        details={"domain": domain.name},
        confirms=_answer_is_domain(name=domain.name, domain_id=domain.id),
        shortfall=_not_verified,
        done_of=lambda result: (
            f"{deployment.name}: {result.name} {result.status}" if isinstance(result, Domain) else None
        ),
        done_text=f"{deployment.name}: verification of {domain.name} sent",
    )


def _not_verified(result: Any) -> str | None:
    """A verification the server answered as failed (its records not found): sent, not verified."""
    if isinstance(result, Domain) and (result.health is Health.FAILED or result.error):
        return f"but {result.name} did not verify: {result.error or result.status}"
    return None


def plan_domain_remove(deployment: Deployment, domain: Domain) -> ChangePlan:
    async def send(adapter: Adapter, key: str) -> None:
        await adapter.remove_domain(deployment.id, domain.id, idempotency_key=key)

    present = _domain_present(deployment.id, domain.name)

    async def check(adapter: Adapter) -> bool:
        return not await present(adapter)

    return ChangePlan(
        action="domain.remove",
        target=_target(deployment),
        title=f"Remove {domain.name} from {deployment.name}",
        summary=f"remove {domain.name}",
        send=send,
        identity=f"domain.remove:{deployment.id}:{domain.id}",
        deployment=deployment,
        details={"domain": domain.name},
        check=check,
        done_text=f"{deployment.name}: removed {domain.name}",
    )


# -- tasks and agents (Miteos) ------------------------------------------------------------------------------


# What each Tasks-screen action does, in the imperative: the plan's title, which an unknown outcome quotes
# ("Approve apr_1 (send_email): outcome unknown"; the past tense is for when it was applied).
TASK_VERBS = {
    "agent-pause": "Pause agent",
    "agent-resume": "Resume agent",
    "agent-guide": "Guide agent",
    "agent-cancel": "Cancel agent",
    "task-cancel": "Cancel task",
    "approval-approve": "Approve",
    "approval-deny": "Deny",
}
# The Tasks screen's actions (audit action names), each sent by plan_task_action.
TASK_ACTIONS = frozenset(TASK_VERBS)


# An agent that is still working (either contract's vocabulary): a cancel answered with one of these did not
# stop it (yet); a paused one has not resumed.
LIVE_AGENT_STATES = frozenset({"idle", "thinking", "acting", "waiting", "awaiting_approval", "paused"})
STOPPED_AGENT_STATES = frozenset({"killed", "cancelled"})
# The agent's status once each agent action took effect: what its answer must show, and what a read-back
# of its task must find (one rule for both); and the word an answer that shows another is said with.
AGENT_STATUS_AFTER: dict[str, tuple[frozenset[str], str]] = {
    "agent-pause": (frozenset({"paused"}), ", not paused"),
    "agent-resume": (LIVE_AGENT_STATES - {"paused"}, ""),
    "agent-cancel": (STOPPED_AGENT_STATES, ", not stopped"),
}
# Answers of an approval, as a task may list them once answered (the sim lists only pending ones).
APPROVAL_ANSWERS = {"approval-approve": {"approved"}, "approval-deny": {"rejected", "denied"}}


def plan_task_action(
    action: str,
    target: str,
    *,
    task_id: str,
    done: str,
    what: str | None = None,
    reason: str | None = None,
    agent_id: str | None = None,
    instructions: str | None = None,
    details: dict[str, Any] | None = None,
) -> ChangePlan:
    """A Tasks-screen action: agent-pause, agent-resume, agent-guide (``instructions``) and agent-cancel
    of the agent ``target``; task-cancel of the task ``target``; approval-approve and approval-deny of the
    approval ``target`` of ``agent_id`` (with ``reason``). ``task_id``: the task it belongs to, read back
    to tell an unknown outcome. ``done``: what the toast says once it was applied; ``what``: a few words
    on what it concerns (the approval's tool)."""

    def call(adapter: Adapter, key: str) -> Awaitable[Any]:
        if action == "agent-pause":
            return adapter.pause_agent(target, idempotency_key=key)
        if action == "agent-resume":
            return adapter.resume_agent(target, idempotency_key=key)
        if action == "agent-guide":
            return adapter.guide_agent(target, instructions or "", idempotency_key=key)
        if action == "agent-cancel":
            return adapter.cancel_agent(target, idempotency_key=key)
        if action == "task-cancel":
            return adapter.cancel_task(target, idempotency_key=key)
        if action in ("approval-approve", "approval-deny") and agent_id is not None:
            approved = action == "approval-approve"
            return adapter.answer_approval(
                agent_id, target, approved=approved, reason=reason, idempotency_key=key
            )
        raise ValueError(f"not a task action: {action}")

    if action not in TASK_ACTIONS or (action.startswith("approval-") and agent_id is None):
        raise ValueError(f"not a task action: {action} (an approval needs its agent)")
    in_effect = _task_action_in_effect(action, target, agent_id)

    async def check(adapter: Adapter) -> bool | None:
        assert in_effect is not None
        return in_effect(await adapter.get_task(task_id))

    return ChangePlan(
        action=action,
        target=target,
        title=f"{TASK_VERBS[action]} {target}",
        summary=what or action.replace("-", " "),
        send=call,
        identity=_task_identity(action, target, reason, instructions),
        reason=reason,
        details=dict(details or {}),
        check=check if in_effect is not None else None,
        confirms=_task_answer_agrees(action, target, agent_id),
        # A later action on the same agent, task or approval makes an earlier unknown one moot.
        closes=lambda change: change.action in TASK_ACTIONS and change.identity.split(":")[1:2] == [target],
        done_text=done,
    )


def _task_identity(action: str, target: str, reason: str | None, instructions: str | None) -> str:
    """What makes a Tasks action "the same change": what is sent. An approval's answer carries its reason;
    guidance its text (a digest of it); a pause, resume or cancel nothing but its target, so asking for
    one again with another reason (which goes only to the audit) resends the first under its key."""
    if action in APPROVAL_ANSWERS:
        return f"{action}:{target}:{reason or ''}"
    if action == "agent-guide":
        digest = hashlib.blake2b((instructions or "").encode(), digest_size=8).hexdigest()
        return f"{action}:{target}:{digest}"
    return f"{action}:{target}:"


def _agent_in(task: Task, agent_id: str) -> Agent:
    found = next((agent for agent in task.agents if agent.id == agent_id), None)
    if found is None:
        raise ProtocolError(f"task {task.id} no longer lists agent {agent_id}; the outcome cannot be read")
    return found


def _task_action_in_effect(
    action: str, target: str, agent_id: str | None
) -> Callable[[Task], bool | None] | None:
    """Whether ``action`` shows in the task as read back; None where nothing in a task shows it (guidance,
    which an agent reads and keeps no trace of)."""

    if action in AGENT_STATUS_AFTER:
        # Not (yet) in that status is False, an agent that ended since included: the resend under the
        # same key then replays what the server did, or is refused.
        return lambda task: _agent_in(task, target).status in AGENT_STATUS_AFTER[action][0]
    if action == "task-cancel":
        return lambda task: task.status == "cancelled"
    if action in APPROVAL_ANSWERS and agent_id is not None:

        def answered(task: Task) -> bool | None:
            approval = next((a for a in task.approvals if a.id == target), None)
            agent = next((a for a in task.agents if a.id == agent_id), None)
            if approval is None and agent is not None and agent.pending_approval is not None:
                approval = agent.pending_approval if agent.pending_approval.id == target else None
            if approval is None:
                return None  # no longer listed: answered, by this change or someone else's
            if approval.status == "pending":
                return False
            return approval.status in APPROVAL_ANSWERS[action]

        return answered
    return None


def _task_answer_agrees(action: str, target: str, agent_id: str | None) -> Confirms:
    """The answer to a Tasks action is the agent (or task) after it. Only one that shows the action taken
    (the agent paused, the task cancelled, the agent no longer waiting on that approval) is taken as
    done; anything else (another agent, a bare acknowledgement, the agent still acting) leaves the
    outcome to reading the task back. Guidance leaves no trace to show, so its answer is taken."""
    subject = agent_id if action in APPROVAL_ANSWERS else target

    def agrees(result: Any) -> str | None:
        if action == "agent-guide":
            return None
        if action == "task-cancel":
            if not isinstance(result, Task):
                return "is not a task"
            if result.id != subject:
                return f"is about task {result.id}, not {subject}"
            return None if result.status == "cancelled" else f"shows the task {result.status}, not cancelled"
        if not isinstance(result, Agent):
            return "is not an agent"
        if result.id != subject:
            return f"is about agent {result.id}, not {subject}"
        status = result.status
        if action in AGENT_STATUS_AFTER:
            wanted, otherwise = AGENT_STATUS_AFTER[action]
            return None if status in wanted else f"shows the agent {status}{otherwise}"
        pending = result.pending_approval
        if pending is not None and pending.id == target and pending.status == "pending":
            return f"still shows approval {target} waiting"
        moved_on = pending is not None and pending.id != target
        if moved_on or status not in {"unknown", "waiting", "awaiting_approval"}:
            return None
        return f"shows the agent {status} (not past approval {target})"

    return agrees

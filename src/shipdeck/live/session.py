"""The one write path: every change, from any screen or command, is executed here, exactly once.

:class:`ChangeSession` owns the adapter, the audit log, the read-only guard and the changes in flight.
It takes a :class:`~shipdeck.live.plans.ChangePlan` and:

1. refuses it on a read-only profile (nothing sent);
2. writes the audit intent once (or, for a change resumed after an unknown outcome, an "attempt" line
   under the first intent) and sends it with one idempotency key, reused on every retry and resend;
3. classifies the end honestly: ``ok``; ``refused`` (the server said no: not applied); ``failed`` (nothing
   can have reached the server: not applied); ``unknown`` (the request may have been applied: the answer
   was lost, cut, unreadable or a 5xx, or the deadline passed).
4. An unknown change is kept in :class:`~shipdeck.config.open_changes.OpenChanges` (so a later run of the
   same change reuses its key) and reconciled: the server is read until the plan's check can tell whether
   it took effect, or the change is resent with the same key (the server replays the first answer instead
   of acting twice), but only within ``resend_window`` seconds of the first send: after that a change is
   not resent without the user asking again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from shipdeck.api.base import Adapter, new_idempotency_key
from shipdeck.api.context import (
    CHANGE_REQUEST_ID,
    LAST_REPLAYED,
    LAST_REQUEST_ID,
    RESEND_GUARD,
    WRITE_ACCEPTED,
)
from shipdeck.api.errors import ApiError, Conflict, ProtocolError, ShipdeckError
from shipdeck.api.transport import mark_maybe_applied
from shipdeck.config.audit import AuditIntent, AuditLog, actor
from shipdeck.config.open_changes import OpenChange, OpenChanges
from shipdeck.live.actions import AuditUnavailable, ChangeInFlight, ChangeMoved, ReadOnlyError
from shipdeck.live.plans import (
    ChangePlan,
    NothingToDo,
    active_label,
    active_version,
    find_version,
    plan_rollback,
    rollback_identity,
)
from shipdeck.model import Capabilities, Deployment, Version
from shipdeck.model.service_health import ServiceHealth, measured_version

# A change is resent by itself (same key) only this long after it was first sent; later, only on request.
RESEND_WINDOW = 30.0
RECONCILE_DELAY_MIN = 0.5
RECONCILE_DELAY_MAX = 5.0
# How an unknown outcome is learned from the server's state (the audit's "how", the message's words).
READ_BACK = "reading the server back"
# Why a change of unknown outcome is not resent when the server holds its key for another request.
KEY_HELD_FOR_ANOTHER = (
    "the server holds its idempotency key for a different request, so an earlier attempt reached the server "
    "and may have been applied; check what it did before asking again"
)
# Why a waiting change is not resent when another shipdeck process has closed it meanwhile.
CLOSED_ELSEWHERE = "another shipdeck process settled it meanwhile (the audit log says how)"

Sleep = Callable[[float], Awaitable[None]]


def age_words(seconds: float) -> str:
    """'40 s', '12 min', '3.5 h': how long ago an earlier change was sent."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class OutcomeStatus(StrEnum):
    OK = "ok"
    REFUSED = "refused"
    FAILED = "failed"
    UNKNOWN = "unknown"
    # Not sent (again) because the world moved: the server replayed an earlier run's answer but reading it
    # back shows the change undone since, or what the change was planned from is no longer live (a resend
    # would take down a version made live meanwhile). Asked once more, it is planned from what is live now.
    SUPERSEDED = "superseded"


@dataclass
class ChangeOutcome:
    plan: ChangePlan
    status: OutcomeStatus
    result: Any = None
    error: ShipdeckError | None = None
    idempotency_key: str = ""
    request_id: str | None = None
    # The server answered from its idempotency store: the change had been made already with this key.
    replayed: bool = False
    # How an outcome that was unknown became known ("read back from the server", "resent with the same key").
    reconciled: str = ""
    # This run continued an earlier change of unknown outcome (a re-run, or a resend).
    resumed: bool = False
    # The audit record of the change (a later note, such as the health 5 minutes after, joins it).
    intent: AuditIntent | None = None

    @property
    def applied(self) -> bool:
        return self.status is OutcomeStatus.OK

    def message(self) -> str:
        """One line for a human: what happened, and for an unknown outcome what to do."""
        plan = self.plan
        if self.status is OutcomeStatus.OK:
            text = plan.done(self.result)
            if self.reconciled == READ_BACK:
                text += f" (the answer was lost; {READ_BACK} shows it was applied, once)"
            elif self.reconciled:
                text += (
                    " (an earlier attempt's outcome was unknown; sent again with the same idempotency key, "
                    "it was applied once)"
                )
            elif self.replayed:
                text += " (the server had already applied it with this idempotency key: not applied twice)"
            return text
        if self.status is OutcomeStatus.SUPERSEDED and self.reconciled == CLOSED_ELSEWHERE:
            # The other process knows the outcome (it may have read it back as applied): not "unknown".
            return (
                f"{plan.title} ({plan.summary}) was not sent again: {self.reconciled}. Read the list (or the "
                "audit log) before asking again: a new request would be planned from what is live now"
            )
        if self.status is OutcomeStatus.SUPERSEDED and self.reconciled:
            return (
                f"{plan.title} ({plan.summary}) was not sent again: {self.reconciled}. The earlier attempt's "
                "outcome stays unknown (closed in the audit log); ask again to plan it from what is live now"
            )
        if self.status is OutcomeStatus.SUPERSEDED:
            return (
                f"{plan.title} ({plan.summary}): the earlier request with this idempotency key was applied "
                "(the server replayed its answer), but reading the server back shows it is not in effect "
                "now: it was changed since. Nothing new was sent; ask again to plan it from what is live now"
            )
        error = str(self.error) if self.error else "no answer"
        if self.status is OutcomeStatus.UNKNOWN:
            return (
                f"{plan.title} ({plan.summary}): outcome unknown, it may have been applied ({error}). "
                "Check before acting again; asking for the same change again resends it with the same "
                "idempotency key, so the server cannot apply it twice"
            )
        if self.status is OutcomeStatus.REFUSED:
            if isinstance(self.error, ApiError):
                code = f", {self.error.code}" if self.error.code else ""
                error = f"{error} (HTTP {self.error.status}{code})"
            return f"{plan.title} refused: {error}"
        return f"{plan.title} failed, not applied: {error}"


@dataclass(frozen=True)
class LastChange:
    """The last change of a deployment's active version made from here: 'rolled back v8 -> v7 by ana'."""

    verb: str
    summary: str
    user: str
    at: datetime
    to_id: str

    def text(self) -> str:
        return f"{self.verb} {self.summary} by {self.user}"


VERBS = {"rollback": "rolled back", "promote": "promoted"}


@dataclass
class PendingChange:
    """A change sent and not yet known to be applied or not (the header counts these)."""

    plan: ChangePlan
    idempotency_key: str
    intent: AuditIntent
    started: float = field(default_factory=time.monotonic)
    attempts: int = 1
    # sending | unknown (being checked) | waiting (unknown; not resent without asking)
    state: str = "sending"
    last_error: str = ""
    # Whether the intent's one outcome line is written (by this run, or by the run that first sent it).
    outcome_written: bool = False
    # Sent first by an earlier run (found among the open changes), not by this one.
    earlier_run: bool = False
    # Its open-changes entry was written: gone later, another shipdeck process closed the change.
    kept_open: bool = False

    @property
    def identity(self) -> str:
        return self.plan.identity

    def age(self, now: float | None = None) -> float:
        return (now if now is not None else time.monotonic()) - self.started


def _intent_of(change: OpenChange) -> AuditIntent:
    """The audit intent an open change was recorded under (its later lines go with it)."""
    return AuditIntent(change.audit_id, change.action, change.target, change.idempotency_key)


def _idempotency_mismatch(exc: ShipdeckError) -> bool:
    """The server holds this key for another request's body (Miosa: 409 IDEMPOTENCY_PAYLOAD_MISMATCH).
    Only that: a key "in use" (the first request still being processed) is the same change, and sending
    it again under a new key would make it twice."""
    if not isinstance(exc, Conflict):
        return False
    code = (exc.code or "").upper()
    return code.startswith("IDEMPOTENCY") and "MISMATCH" in code


def _refused_change(exc: ShipdeckError) -> bool:
    """A 4xx answer to a state-changing request: the server said no to it (it took nothing)."""
    return isinstance(exc, ApiError) and exc.from_change_request and exc.status < 500


class ChangeSession:
    """Executes plans for one profile. ``on_change()`` is called whenever the pending changes change."""

    def __init__(
        self,
        adapter: Adapter,
        audit: AuditLog,
        *,
        read_only: bool,
        profile_name: str,
        open_changes: OpenChanges | None = None,
        resend_window: float = RESEND_WINDOW,
        sleep: Sleep | None = None,
        on_change: Callable[[], None] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.adapter = adapter
        self.audit = audit
        self.read_only = read_only
        self.profile_name = profile_name
        self.open_changes = open_changes
        self.resend_window = resend_window
        self._sleep: Sleep = sleep or asyncio.sleep
        self.pending: dict[str, PendingChange] = {}
        # What refresh_left_open last found: the changes of unknown outcome that an earlier run (a console
        # killed with its SSH session, a CLI interrupted) left open for this profile, not pending here.
        self.left_open: list[OpenChange] = []
        # Deployment id -> the last rollback or promote applied from this session (the console says so).
        self.last_changes: dict[str, LastChange] = {}
        self._clock = clock or (lambda: datetime.now(UTC))
        self._on_change = on_change or (lambda: None)

    # -- guards -------------------------------------------------------------------------------------------
    def check_writable(self, action: str) -> None:
        if self.read_only:
            raise ReadOnlyError(
                f"profile {self.profile_name} is read-only: {action} was not sent "
                "(use a profile without read_only, and without --read-only, to change things)"
            )

    def open_change(self, identity: str) -> OpenChange | None:
        return self.open_changes.find(self.profile_name, identity) if self.open_changes else None

    def open_change_like(self, prefix: str) -> OpenChange | None:
        """The newest open change whose identity starts with ``prefix`` (a rollback of one row)."""
        return self.open_changes.find_prefix(self.profile_name, prefix) if self.open_changes else None

    # -- executing ----------------------------------------------------------------------------------------
    def plan_rollback(
        self,
        deployment: Deployment,
        versions: Iterable[Version],
        *,
        to: str | Version | None = None,
        reason: str | None = None,
        capabilities: Capabilities | None = None,
        profile_environment: str = "production",
        avoid: Mapping[str, str] | None = None,
    ) -> tuple[ChangePlan, str | None]:
        """A rollback of this row as asked now, and what to tell the user first about an earlier rollback
        of it whose outcome is unknown (None: there is none). The console and the CLI both plan here.
        ``avoid``: versions the rule passes over (plans.rollback_choice).

        Asked plainly, a rollback goes where the earlier one was going (same key: not one more step back)
        while the row is still where that one left it, or already where it went (then it was applied:
        settled, NothingToDo). A row that has moved on since (someone promoted, rolled forward) makes the
        earlier change moot: it is closed, its outcome still unknown, and this rollback is planned from
        what is live now, under a new key. Naming the same target as an earlier one resumes it too.
        Raises NothingToDo (an earlier change it settles is settled first).
        """
        listed = list(versions)
        environment = deployment.environment
        resumes: str | None = None
        notice: str | None = None
        if to is None:
            earlier = self.open_change_like(rollback_identity(deployment, environment))
            if earlier is not None:
                planned = next((v for v in listed if v.id == earlier.details.get("to_id")), None)
                current = active_version(deployment, listed)
                at = current.id if current is not None else deployment.active_version_id
                ago = age_words(earlier.age)
                what = f"an earlier rollback of {deployment.name} ({earlier.summary}, {ago} ago)"
                if planned is not None and at in (earlier.details.get("from_id"), planned.id):
                    to, resumes = planned, earlier.identity
                    notice = (
                        f"{what} has an unknown outcome: this run targets {planned.label} again, with the "
                        "same idempotency key"
                    )
                else:
                    live = current.label if current is not None else (at or "nothing active")
                    if not self.settle(
                        earlier.identity, applied=None, how=f"the deployment is on {live} since; not resent"
                    ):
                        raise self._in_flight(what)
                    notice = (
                        f"{what} had an unknown outcome, but {deployment.name} is on {live} now: that "
                        "change is closed (its outcome stays unknown) and this rollback is planned from "
                        f"{live}"
                    )
        else:
            target = to if isinstance(to, Version) else find_version(listed, to, of=deployment.name)
            same = self.open_change(rollback_identity(deployment, environment, target)) if target else None
            if same is not None and target is not None:
                resumes = same.identity
                notice = (
                    f"an earlier rollback of {deployment.name} to {target.label} ({age_words(same.age)} ago) "
                    "has an unknown outcome: this run sends it again with the same idempotency key"
                )
        try:
            plan = plan_rollback(
                deployment,
                listed,
                to=to,
                reason=reason,
                capabilities=capabilities,
                profile_environment=profile_environment,
                resumes=resumes,
                avoid=avoid,
            )
        except NothingToDo as exc:
            self.found_nothing_to_do(exc)
            raise
        return plan, notice

    def found_gone(self, action: str, prefix: str, name: str) -> bool:
        """Asked again, the thing an earlier change of unknown outcome was to remove is gone (a domain
        removed, by it or by another): that change is closed rather than left open for ever. Whether there
        was one (what was asked then holds: nothing to do, not an error)."""
        if self.open_changes is None:
            return False
        closed = False
        for change in self.open_changes.all(self.profile_name):
            if (
                change.action == action
                and change.identity.startswith(prefix)
                and change.details.get("domain") == name
            ):
                how = "asked again, found gone (by it or another)"
                if not self.settle(change.identity, applied=None, how=how):
                    raise self._in_flight(f"the earlier {action} of {name}")
                closed = True
        return closed

    def found_nothing_to_do(self, exc: NothingToDo) -> None:
        """A planner found nothing to send; an earlier change of unknown outcome that this settles (its
        target already in effect, by it or by another) is closed rather than left to be replayed later.
        Raises ChangeInFlight when that change is being sent now (its outcome is not unknown yet)."""
        if exc.settles is not None and not self.settle(
            exc.settles,
            applied=None,
            how="asked again, its target was found in effect (by it or another)",
        ):
            raise self._in_flight("the earlier change") from None

    @staticmethod
    def _in_flight(what: str) -> ChangeInFlight:
        return ChangeInFlight(
            f"{what} is being sent now (here or by another shipdeck process); nothing was sent, and its "
            "outcome goes to the audit log"
        )

    async def execute(
        self,
        plan: ChangePlan,
        *,
        settle_for: float | None = None,
        on_unknown: Callable[[PendingChange], None] | None = None,
        recheck: bool = True,
    ) -> ChangeOutcome:
        """Send ``plan`` once and say what became of it; an unknown outcome is reconciled for up to
        ``settle_for`` seconds (default: the resend window) before it is returned as unknown.

        ``recheck``: read the server first (the plan's ``moved``): a change confirmed after a wait is not
        sent if what it was planned from is no longer live (ChangeMoved). False only for a plan made from
        a read a moment ago (the CLI with --yes).

        Raises ReadOnlyError, AuditUnavailable, ChangeInFlight (the same change is being sent already,
        here or by another shipdeck process) and ChangeMoved before anything is sent; never raises for the
        server.
        """
        self.check_writable(plan.action)
        busy = self.pending.get(plan.identity)
        if busy is not None and busy.state in ("sending", "unknown"):
            raise ChangeInFlight(f"{plan.title} ({plan.summary}) is being sent already; not sent twice")
        with self._sending(plan):
            if recheck and plan.moved is not None:
                try:
                    moved = await plan.moved(self.adapter)
                except ShipdeckError as exc:
                    raise ChangeMoved(
                        f"{plan.title}: could not read the server to check that it is still as shown "
                        f"({exc}); nothing was sent"
                    ) from None
                if moved is not None:
                    raise ChangeMoved(moved)
            return await self._execute(plan, settle_for, on_unknown)

    @contextlib.contextmanager
    def _sending(self, plan: ChangePlan) -> Iterator[None]:
        """This change's cross-process lock for as long as it is sent or resent (ChangeInFlight if another
        shipdeck process holds it)."""
        if self.open_changes is None:
            yield
            return
        with self.open_changes.sending(self.profile_name, plan.identity) as ours:
            if not ours:
                raise ChangeInFlight(
                    f"{plan.title} ({plan.summary}): another shipdeck process is sending this same change "
                    "now; nothing was sent (its outcome goes to the audit log)"
                )
            yield

    async def _execute(
        self,
        plan: ChangePlan,
        settle_for: float | None,
        on_unknown: Callable[[PendingChange], None] | None,
    ) -> ChangeOutcome:
        earlier = self.open_change(plan.identity)
        attempt = 1
        if earlier is not None:
            key = earlier.idempotency_key
            intent = _intent_of(earlier)
            attempt = earlier.attempts + 1
            self._write(
                lambda: self.audit.attempt(intent, attempt, note="asked again after an unknown outcome"),
                plan,
            )
        else:
            key = new_idempotency_key()
            intent = self._write(
                lambda: self.audit.intent(
                    plan.action, plan.target, idempotency_key=key, reason=plan.reason, details=plan.details
                ),
                plan,
            )
        item = PendingChange(
            plan,
            key,
            intent,
            attempts=attempt,
            outcome_written=earlier is not None,
            earlier_run=earlier is not None,
        )
        if earlier is None:
            # Written ahead, removed once the outcome is known: a process killed mid-change (SIGTERM, a
            # closed SSH session) leaves it, so asking again resends with this key rather than anew.
            self._keep_open(item)
        self._track(item)
        try:
            outcome = await self._send(item, resumed=earlier is not None)
            if outcome.status is OutcomeStatus.UNKNOWN and on_unknown is not None:
                on_unknown(item)
            window = self.resend_window if settle_for is None else settle_for
            return await self._settle_or_wait(item, outcome, window)
        except BaseException:
            # Cancelled (the console quit) or crashed mid-flight: the server may have acted.
            self._record_unknown(item, "cancelled before the answer")
            self._untrack(item)
            raise

    async def resend(self, identity: str) -> ChangeOutcome | None:
        """The user asked to send a waiting change again (same key: the server will not act twice)."""
        item = self.pending.get(identity)
        if item is None:
            return None
        with self._sending(item.plan):
            if self._closed_elsewhere(item):
                return self._not_resent(item, CLOSED_ELSEWHERE)
            try:
                moved = await item.plan.moved(self.adapter) if item.plan.moved is not None else None
            except ShipdeckError as exc:
                item.last_error = str(exc)
                return ChangeOutcome(item.plan, OutcomeStatus.UNKNOWN, error=exc, resumed=True)
            if moved is not None:
                return self._moved_on(item, moved)
            item.started = time.monotonic()
            item.attempts += 1
            item.state = "sending"
            self._on_change()
            self._write(
                lambda: self.audit.attempt(item.intent, item.attempts, note="resent by the user"), item.plan
            )
            outcome = await self._send(item, resumed=True)
            return await self._settle_or_wait(item, outcome, self.resend_window)

    def refresh_left_open(self) -> list[OpenChange]:
        """Read which changes earlier runs left open (they are not resent by themselves: asking for the same
        change again resends each with its key); the ones newly found. A console reopened after its SSH
        session dropped showed none of them, and said nothing pending."""
        before = {c.identity for c in self.left_open}
        try:
            found = self.open_changes.all(self.profile_name) if self.open_changes is not None else []
        except OSError:
            return []
        self.left_open = [c for c in found if c.identity not in self.pending]
        if {c.identity for c in self.left_open} != before:
            self._on_change()
        return [c for c in self.left_open if c.identity not in before]

    def sent_elsewhere(self, identity: str) -> bool:
        """Whether another shipdeck process is sending this change now (it holds the change's lock)."""
        if self.open_changes is None or identity in self.pending:
            return False
        with self.open_changes.sending(self.profile_name, identity) as ours:
            return not ours

    def drop_left_open(self, identity: str) -> bool:
        """Close a change an earlier run left open: never resent, its outcome stays unknown (said in the
        audit log). False while it is being sent (here or by another process) or already closed."""
        if identity in self.pending:
            return False
        if not self._close_entry(
            identity, applied=None, how="dropped by the user; its outcome stays unknown"
        ):
            return False
        self.refresh_left_open()
        return True

    def drop(self, identity: str) -> bool:
        """Forget a waiting change: it is not resent; its outcome stays unknown (said in the audit log)."""
        item = self.pending.get(identity)
        if item is None or item.state == "sending":
            return False
        self._write(
            lambda: self.audit.attempt(
                item.intent, item.attempts, note="dropped by the user; its outcome stays unknown"
            ),
            item.plan,
        )
        if self.open_changes is not None:
            self.open_changes.remove(self.profile_name, identity)
        self._untrack(item)
        return True

    def settle(self, identity: str, *, applied: bool | None, how: str) -> bool:
        """An earlier change of unknown outcome turned out ``applied`` (or not), learned ``how``; None:
        it is closed with its outcome still unknown (the deployment moved on since). False: not closed, as
        it is being sent now, here or by another shipdeck process (its entry is written before it is sent:
        a second process closed a change the first was still sending, and the audit log read intent,
        'still unknown, closed', then 'ok')."""
        item = self.pending.get(identity)
        if item is not None and item.state == "sending":
            return False
        if self._close_entry(identity, applied=applied, how=how) is None:
            return False
        if item is not None:
            self._untrack(item)
        return True

    def _close_entry(self, identity: str, *, applied: bool | None, how: str) -> bool | None:
        """Close the open-changes entry ``identity`` with its reconciled line, under the change's sending
        lock: True, False when there is no such entry, None while another process holds the lock."""
        if self.open_changes is None:
            return False
        with self.open_changes.sending(self.profile_name, identity) as ours:
            if not ours:
                return None
            earlier = self.open_change(identity)
            if earlier is None:
                return False
            self.audit.reconciled(_intent_of(earlier), applied=applied, how=how)
            self.open_changes.remove(self.profile_name, identity)
            return True

    def _closed_elsewhere(self, item: PendingChange) -> bool:
        """Another shipdeck process closed this waiting change (its entry is gone): it wrote the change's
        reconciled line, and a second one here would contradict or repeat it."""
        return (
            self.open_changes is not None
            and item.kept_open
            and self.open_changes.find(self.profile_name, item.identity) is None
        )

    async def check_waiting(self) -> list[ChangeOutcome]:
        """Read back every waiting change that has a check (never resends); the settled ones are returned."""
        settled: list[ChangeOutcome] = []
        for item in [i for i in self.pending.values() if i.state == "waiting" and i.plan.check is not None]:
            check = item.plan.check
            assert check is not None
            if self._closed_elsewhere(item):
                self._untrack(item)
                continue
            try:
                applied = await check(self.adapter)
            except ShipdeckError:
                continue
            if self._closed_elsewhere(item):  # while it was read
                self._untrack(item)
                continue
            if applied:
                self._settled(item, True, READ_BACK)
                self._untrack(item)
                settled.append(
                    ChangeOutcome(
                        item.plan,
                        OutcomeStatus.OK,
                        idempotency_key=item.idempotency_key,
                        reconciled=READ_BACK,
                        resumed=True,
                    )
                )
        return settled

    def record_health_after(
        self,
        outcome: ChangeOutcome,
        health: ServiceHealth | None,
        *,
        after_s: float,
        active: Deployment | None = None,
    ) -> None:
        """Add the deployment's health some minutes after an applied change to its audit record; ``active``:
        the deployment as live then. Either that row or the figures themselves (the version they measure)
        saying another version than the change's was live by then marks the figures as not the change's:
        a redeploy made since went live before its row was re-read, and its errors read as the rollback's."""
        if outcome.intent is None:
            return
        target = outcome.plan.to
        live = active is not None and (active.active_version_id or active.active_version_number is not None)
        label = active_label(active, ()) if active is not None and live else None
        undone = (
            active is not None and target is not None and active.active_version_id not in (None, target.id)
        )
        measured_id, measured_number = measured_version(health) if health is not None else (None, None)
        if target is not None and not undone:
            other_id = measured_id not in (None, target.id)
            other_number = measured_number is not None and target.number not in (None, measured_number)
            if other_id or other_number:
                undone = True
                label = f"v{measured_number}" if measured_number is not None else measured_id
        try:
            self.audit.health_after(
                outcome.intent,
                health.as_json() if health is not None else None,
                after_s=after_s,
                active=label,
                undone=undone,
            )
        except OSError:
            pass  # a note after the fact: the change and its outcome are recorded already

    def last_change_of(self, deployment: Deployment) -> LastChange | None:
        """The last rollback or promote made here, while the deployment still runs what it put live."""
        change = self.last_changes.get(deployment.id)
        if change is None or deployment.active_version_id not in (None, change.to_id):
            return None
        return change

    # -- internals ----------------------------------------------------------------------------------------
    async def _settle_or_wait(
        self, item: PendingChange, outcome: ChangeOutcome, window: float
    ) -> ChangeOutcome:
        """An unknown outcome is reconciled for ``window`` seconds; still unknown, the change waits for
        the user; known, it is no longer pending."""
        if outcome.status is OutcomeStatus.UNKNOWN:
            outcome = await self._reconcile(item, within=window) or outcome
        if outcome.status is OutcomeStatus.UNKNOWN:
            item.state = "waiting"
            item.last_error = str(outcome.error or "")
            self._on_change()
        else:
            self._remember(outcome)
            if outcome.applied:
                self._close_superseded(outcome.plan)
            self._untrack(item)
        return outcome

    def _remember(self, outcome: ChangeOutcome) -> None:
        plan = outcome.plan
        verb = VERBS.get(plan.action)
        if outcome.applied and verb and plan.deployment is not None and plan.to is not None:
            self.last_changes[plan.deployment.id] = LastChange(
                verb, plan.summary, actor()["user"], self._clock(), plan.to.id
            )

    async def _send(self, item: PendingChange, *, resumed: bool) -> ChangeOutcome:
        plan = item.plan
        LAST_REQUEST_ID.set(None)
        LAST_REPLAYED.set(False)
        WRITE_ACCEPTED.set(False)
        CHANGE_REQUEST_ID.set(None)
        guard = RESEND_GUARD.set(self._retry_guard(plan))
        try:
            try:
                result = await plan.send(self.adapter, item.idempotency_key)
            finally:
                RESEND_GUARD.reset(guard)
            shown = plan.confirms(result) if plan.confirms is not None else None
            if shown is not None:
                # A 2xx whose body says something else (another deployment, the old version still active):
                # the server took the request, so it may have acted; only reading it back can tell.
                raise mark_maybe_applied(ProtocolError(f"{plan.title}: the server's answer {shown}"))
        except ShipdeckError as exc:
            if resumed and _idempotency_mismatch(exc):
                # The server holds this key for a different request: one sent with it earlier reached the
                # server and may have been applied. Sent again under a new key, the change could be made
                # twice (a second publish, one more step back): closed, outcome unknown, and asked again
                # it is a new change, planned from what is live then.
                return self._moved_on(item, KEY_HELD_FOR_ANOTHER)
            if WRITE_ACCEPTED.get() and not exc.maybe_applied and not _refused_change(exc):
                # A step of the change was answered 2xx and a later one failed (its answer unreadable, a
                # read after it cut): part or all of it took effect.
                mark_maybe_applied(exc)
            return self._failure(item, exc, resumed=resumed)
        request_id = CHANGE_REQUEST_ID.get() or LAST_REQUEST_ID.get()
        replayed = LAST_REPLAYED.get()
        # A replay says the change was applied once, not that it still holds: a resend's (the console's,
        # after a wait) was reported done while a colleague had put the old version back meanwhile.
        in_effect = await self._in_effect(plan) if replayed else True
        if in_effect is None:
            # Applied then (the replay says so), and whether it still holds cannot be read now.
            return self._failure(
                item,
                mark_maybe_applied(
                    ProtocolError(
                        f"{plan.title}: the server replayed its earlier answer (applied then), but whether "
                        "it is still in effect could not be read"
                    )
                ),
                resumed=resumed,
            )
        if not in_effect:
            self._settled(item, True, "the server replayed its answer; the change was undone since")
            self._untrack(item)
            return ChangeOutcome(
                plan,
                OutcomeStatus.SUPERSEDED,
                idempotency_key=item.idempotency_key,
                request_id=request_id,
                replayed=True,
                resumed=True,
                intent=item.intent,
            )
        if resumed:
            self._settled(item, True, "resent with the same idempotency key", request_id=request_id)
            how = "resending it with the same idempotency key"
        else:
            item.outcome_written = True
            self._forget_open(plan)
            extra: dict[str, Any] = {"replayed": True} if replayed else {}
            if plan.shortfall is not None and (short := plan.shortfall(result)) is not None:
                extra["not_in_effect"] = short  # applied as a request; the audit says what it found
            if "health_before" in plan.details:
                extra["health_before"] = plan.details["health_before"]
            self._write(
                lambda: self.audit.outcome(item.intent, "ok", request_id=request_id, details=extra),
                plan,
                done=True,
            )
            how = ""
        return ChangeOutcome(
            plan,
            OutcomeStatus.OK,
            result=result,
            idempotency_key=item.idempotency_key,
            request_id=request_id,
            replayed=replayed,
            reconciled=how if resumed and not replayed else "",
            resumed=resumed,
            intent=item.intent,
        )

    def _retry_guard(self, plan: ChangePlan) -> Callable[[], Awaitable[None]] | None:
        """What the transport awaits before it retries this change's request: ChangeMoved (the retries
        stop, the outcome is then reconciled) once the server shows that what the plan was made from is no
        longer live."""
        moved = plan.moved
        if moved is None:
            return None

        async def guard() -> None:
            try:
                why = await moved(self.adapter)
            except ShipdeckError:
                # Unreadable (the link is down): the retry goes ahead. It is the same request under the same
                # key, and stopping it would lose a rollback to a flaky link in the middle of an incident.
                return
            if why is not None:
                raise ChangeMoved(f"not retried: {why}")

        return guard

    async def _in_effect(self, plan: ChangePlan) -> bool | None:
        """After a replay of an earlier request (another run's, or this one's resent): the plan's check,
        read now (None: it cannot be read; True: the plan has no check, as for env values, which no API
        returns, or the server shows no trace either way, and the replay is then the server's word)."""
        if plan.check is None or not plan.undone_by_later:
            return True
        try:
            shown = await plan.check(self.adapter)
        except ShipdeckError:
            return None
        return True if shown is None else shown

    def _failure(self, item: PendingChange, exc: ShipdeckError, *, resumed: bool) -> ChangeOutcome:
        plan = item.plan
        item.last_error = str(exc)
        if exc.maybe_applied:
            # The change's own request id where a step of it was answered (not a read's after it).
            self._record_unknown(item, exc.message, request_id=CHANGE_REQUEST_ID.get() or exc.request_id)
            status = OutcomeStatus.UNKNOWN
        elif isinstance(exc, ApiError):
            if resumed:
                # The same key was refused: the first request had not been applied either.
                self._settled(item, False, f"resent and refused ({exc.status})", request_id=exc.request_id)
            else:
                item.outcome_written = True
                self._forget_open(plan)
                self.audit.outcome(item.intent, "refused", request_id=exc.request_id, error=exc.message)
            status = OutcomeStatus.REFUSED
        else:
            if resumed:
                status = OutcomeStatus.UNKNOWN  # this resend reached nobody; the first one may have
            else:
                item.outcome_written = True
                self._forget_open(plan)
                self.audit.outcome(item.intent, "failed", request_id=exc.request_id, error=exc.message)
                status = OutcomeStatus.FAILED
        return ChangeOutcome(plan, status, error=exc, idempotency_key=item.idempotency_key, resumed=resumed)

    async def _reconcile(self, item: PendingChange, *, within: float) -> ChangeOutcome | None:
        """Find out whether an unknown change took effect, for at most ``within`` seconds."""
        plan = item.plan
        item.state = "unknown"
        self._on_change()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        delay = RECONCILE_DELAY_MIN
        while (left := deadline - loop.time()) > 0:
            await self._sleep(min(delay, left))
            delay = min(delay * 2, RECONCILE_DELAY_MAX)
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                async with asyncio.timeout(left):
                    if plan.check is not None and await plan.check(self.adapter):
                        self._settled(item, True, READ_BACK)
                        return ChangeOutcome(
                            plan,
                            OutcomeStatus.OK,
                            idempotency_key=item.idempotency_key,
                            reconciled=READ_BACK,
                            resumed=True,
                        )
                    if plan.moved is not None and (moved := await plan.moved(self.adapter)) is not None:
                        # Resending now would take down what went live meanwhile (a colleague's promote).
                        return self._moved_on(item, moved)
                    item.attempts += 1
                    self.audit.attempt(item.intent, item.attempts, note="resent after an unknown outcome")
                    outcome = await self._send(item, resumed=True)
            except TimeoutError:
                break
            except ShipdeckError as exc:  # the check could not read the server: still unknown
                item.last_error = str(exc)
                continue
            if outcome.status is not OutcomeStatus.UNKNOWN:
                return outcome
        return None

    def _moved_on(self, item: PendingChange, why: str) -> ChangeOutcome:
        """Not resent: what the change was planned from is no longer live. Closed, outcome still unknown."""
        self._settled(item, None, f"not resent: {why}")
        return self._not_resent(item, why)

    def _not_resent(self, item: PendingChange, why: str) -> ChangeOutcome:
        """No longer pending, and not sent again, for ``why``."""
        self._untrack(item)
        return ChangeOutcome(
            item.plan,
            OutcomeStatus.SUPERSEDED,
            idempotency_key=item.idempotency_key,
            reconciled=why,
            resumed=True,
            intent=item.intent,
        )

    def _close_superseded(self, plan: ChangePlan) -> None:
        """Applied: earlier changes of unknown outcome that this one makes moot are closed (a later asking
        for one of them is then a new change, not a replay of what is no longer wanted)."""
        if self.open_changes is None or plan.closes is None:
            return
        for change in self.open_changes.all(self.profile_name):
            if change.identity != plan.identity and plan.closes(change):
                self.settle(
                    change.identity, applied=None, how=f"superseded by a later {plan.action} ({plan.summary})"
                )

    def _keep_open(self, item: PendingChange) -> None:
        plan = item.plan
        if self.open_changes is None:
            return
        try:
            self.open_changes.add(
                OpenChange(
                    profile=self.profile_name,
                    identity=plan.identity,
                    idempotency_key=item.idempotency_key,
                    audit_id=item.intent.id,
                    action=plan.action,
                    target=plan.target,
                    summary=plan.summary,
                    details=plan.details,
                    attempts=item.attempts,
                )
            )
            item.kept_open = True
        except OSError:
            pass

    def _forget_open(self, plan: ChangePlan) -> None:
        if self.open_changes is not None:
            try:
                self.open_changes.remove(self.profile_name, plan.identity)
            except OSError:
                pass

    def _record_unknown(self, item: PendingChange, error: str, *, request_id: str | None = None) -> None:
        if not item.outcome_written:
            item.outcome_written = True
            try:
                self.audit.outcome(item.intent, "unknown", request_id=request_id, error=error)
            except OSError:
                pass  # the intent line is there; the open-changes entry below still prevents a repeat
        self._keep_open(item)

    def _settled(
        self, item: PendingChange, applied: bool | None, how: str, *, request_id: str | None = None
    ) -> None:
        """The change's unknown outcome is closed: applied, not applied, or (None) still not known."""
        try:
            self.audit.reconciled(item.intent, applied=applied, how=how, request_id=request_id)
        except OSError:
            pass
        self._forget_open(item.plan)

    def _write(self, write: Callable[[], Any], plan: ChangePlan, *, done: bool = False) -> Any:
        try:
            return write()
        except OSError as exc:
            if done:
                raise AuditUnavailable(
                    f"{plan.action} WAS done, but the audit log {self.audit.path} could not record it: "
                    f"{exc.strerror or exc} (its intent line is there)"
                ) from None
            raise AuditUnavailable(
                f"cannot write the audit log {self.audit.path}: {exc.strerror or exc}; "
                f"{plan.action} was not sent"
            ) from None

    def _track(self, item: PendingChange) -> None:
        self.pending[item.identity] = item
        self.left_open = [c for c in self.left_open if c.identity != item.identity]  # asked again: here now
        self._on_change()

    def _untrack(self, item: PendingChange) -> None:
        if self.pending.get(item.identity) is item:
            del self.pending[item.identity]
            self._on_change()

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
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from shipdeck.api.base import Adapter, new_idempotency_key
from shipdeck.api.context import LAST_REPLAYED, LAST_REQUEST_ID
from shipdeck.api.errors import ApiError, Conflict, ShipdeckError
from shipdeck.config.audit import AuditIntent, AuditLog, actor
from shipdeck.config.open_changes import OpenChange, OpenChanges
from shipdeck.live.actions import AuditUnavailable, ReadOnlyError
from shipdeck.live.plans import ChangePlan, rollback_identity
from shipdeck.model import Deployment, Version

# A change is resent by itself (same key) only this long after it was first sent; later, only on request.
RESEND_WINDOW = 30.0
RECONCILE_DELAY_MIN = 0.5
RECONCILE_DELAY_MAX = 5.0

Sleep = Callable[[float], Awaitable[None]]


class OutcomeStatus(StrEnum):
    OK = "ok"
    REFUSED = "refused"
    FAILED = "failed"
    UNKNOWN = "unknown"


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
            if self.reconciled:
                text += f" (the answer was lost; {self.reconciled} shows it was applied, once)"
            elif self.replayed:
                text += " (the server had already applied it with this idempotency key: not applied twice)"
            return text
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

    @property
    def identity(self) -> str:
        return self.plan.identity

    def age(self, now: float | None = None) -> float:
        return (now if now is not None else time.monotonic()) - self.started


def _idempotency_mismatch(exc: ShipdeckError) -> bool:
    return isinstance(exc, Conflict) and (exc.code or "").upper().startswith("IDEMPOTENCY")


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
    def resumable_rollback(
        self, deployment: Deployment, versions: Iterable[Version]
    ) -> tuple[Version, OpenChange] | None:
        """An earlier rollback of this row whose outcome is unknown, and its planned target: a plain
        rollback asked again goes there (same key), not one more step back."""
        earlier = self.open_change_like(rollback_identity(deployment, deployment.environment))
        if earlier is None:
            return None
        planned = next((v for v in versions if v.id == earlier.details.get("to_id")), None)
        return (planned, earlier) if planned is not None else None

    async def execute(
        self,
        plan: ChangePlan,
        *,
        settle_for: float | None = None,
        on_unknown: Callable[[PendingChange], None] | None = None,
    ) -> ChangeOutcome:
        """Send ``plan`` once and say what became of it; an unknown outcome is reconciled for up to
        ``settle_for`` seconds (default: the resend window) before it is returned as unknown.

        Raises ReadOnlyError and AuditUnavailable before anything is sent; never raises for the server.
        """
        self.check_writable(plan.action)
        earlier = self.open_change(plan.identity)
        if earlier is not None:
            key = earlier.idempotency_key
            intent = AuditIntent(earlier.audit_id, earlier.action, earlier.target, key)
            self._write(
                lambda: self.audit.attempt(intent, 2, note="asked again after an unknown outcome"), plan
            )
        else:
            key = new_idempotency_key()
            intent = self._write(
                lambda: self.audit.intent(
                    plan.action, plan.target, idempotency_key=key, reason=plan.reason, details=plan.details
                ),
                plan,
            )
        item = PendingChange(plan, key, intent, outcome_written=earlier is not None)
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
        item.started = time.monotonic()
        item.attempts += 1
        item.state = "sending"
        self._on_change()
        self._write(
            lambda: self.audit.attempt(item.intent, item.attempts, note="resent by the user"), item.plan
        )
        outcome = await self._send(item, resumed=True)
        return await self._settle_or_wait(item, outcome, self.resend_window)

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

    def settle(self, identity: str, *, applied: bool, how: str) -> None:
        """An earlier change of unknown outcome turned out ``applied`` (or not), learned ``how``."""
        earlier = self.open_change(identity)
        if earlier is not None:
            intent = AuditIntent(earlier.audit_id, earlier.action, earlier.target, earlier.idempotency_key)
            self.audit.reconciled(intent, applied=applied, how=how)
            if self.open_changes is not None:
                self.open_changes.remove(self.profile_name, identity)
        item = self.pending.get(identity)
        if item is not None and item.state != "sending":
            self._untrack(item)

    async def check_waiting(self) -> list[ChangeOutcome]:
        """Read back every waiting change that has a check (never resends); the settled ones are returned."""
        settled: list[ChangeOutcome] = []
        for item in [i for i in self.pending.values() if i.state == "waiting" and i.plan.check is not None]:
            check = item.plan.check
            assert check is not None
            try:
                applied = await check(self.adapter)
            except ShipdeckError:
                continue
            if applied:
                self._settled(item, True, "reading the server back")
                self._untrack(item)
                settled.append(
                    ChangeOutcome(
                        item.plan,
                        OutcomeStatus.OK,
                        idempotency_key=item.idempotency_key,
                        reconciled="reading the server back",
                        resumed=True,
                    )
                )
        return settled

    def record_health_after(
        self, outcome: ChangeOutcome, health: dict[str, Any] | None, *, after_s: float
    ) -> None:
        """Add the deployment's health some minutes after an applied change to its audit record."""
        if outcome.intent is None:
            return
        try:
            self.audit.health_after(outcome.intent, health, after_s=after_s)
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
        try:
            result = await plan.send(self.adapter, item.idempotency_key)
        except ShipdeckError as exc:
            if resumed and _idempotency_mismatch(exc):
                # The server holds this key for a different body: it is another change after all.
                if self.open_changes is not None:
                    self.open_changes.remove(self.profile_name, plan.identity)
                self._settled(item, False, "the server holds this key for a different request")
                self._untrack(item)
                return await self.execute(plan)
            return self._failure(item, exc, resumed=resumed)
        request_id = LAST_REQUEST_ID.get()
        replayed = LAST_REPLAYED.get()
        if resumed:
            self._settled(item, True, "resent with the same idempotency key", request_id=request_id)
            how = "resending it with the same idempotency key"
        else:
            item.outcome_written = True
            extra: dict[str, Any] = {"replayed": True} if replayed else {}
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

    def _failure(self, item: PendingChange, exc: ShipdeckError, *, resumed: bool) -> ChangeOutcome:
        plan = item.plan
        item.last_error = str(exc)
        if exc.maybe_applied:
            self._record_unknown(item, exc.message, request_id=exc.request_id)
            status = OutcomeStatus.UNKNOWN
        elif isinstance(exc, ApiError):
            if resumed:
                # The same key was refused: the first request had not been applied either.
                self._settled(item, False, f"resent and refused ({exc.status})", request_id=exc.request_id)
            else:
                item.outcome_written = True
                self.audit.outcome(item.intent, "refused", request_id=exc.request_id, error=exc.message)
            status = OutcomeStatus.REFUSED
        else:
            if resumed:
                status = OutcomeStatus.UNKNOWN  # this resend reached nobody; the first one may have
            else:
                item.outcome_written = True
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
                        self._settled(item, True, "reading the server back")
                        return ChangeOutcome(
                            plan,
                            OutcomeStatus.OK,
                            idempotency_key=item.idempotency_key,
                            reconciled="reading the server back",
                            resumed=True,
                        )
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

    def _record_unknown(self, item: PendingChange, error: str, *, request_id: str | None = None) -> None:
        plan = item.plan
        if not item.outcome_written:
            item.outcome_written = True
            try:
                self.audit.outcome(item.intent, "unknown", request_id=request_id, error=error)
            except OSError:
                pass  # the intent line is there; the open-changes entry below still prevents a repeat
        if self.open_changes is not None:
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
                    )
                )
            except OSError:
                pass

    def _settled(
        self, item: PendingChange, applied: bool, how: str, *, request_id: str | None = None
    ) -> None:
        try:
            self.audit.reconciled(item.intent, applied=applied, how=how, request_id=request_id)
        except OSError:
            pass
        if self.open_changes is not None:
            try:
                self.open_changes.remove(self.profile_name, item.plan.identity)
            except OSError:
                pass

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
        self._on_change()

    def _untrack(self, item: PendingChange) -> None:
        if self.pending.get(item.identity) is item:
            del self.pending[item.identity]
            self._on_change()

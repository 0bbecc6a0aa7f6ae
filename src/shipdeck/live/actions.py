"""Running a mutation safely: read-only guard, audit intent, one idempotency key, audit outcome.

Both the console and the scriptable commands send every mutation through :class:`ActionRunner`, so the
audit log and the read-only guarantee hold whatever path the user takes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from shipdeck.api.base import new_idempotency_key
from shipdeck.api.context import LAST_REQUEST_ID
from shipdeck.api.errors import ApiError, ShipdeckError
from shipdeck.config.audit import AuditLog

T = TypeVar("T")


class ReadOnlyError(ShipdeckError):
    """A mutation was attempted on a read-only profile; nothing was sent."""

    exit_code = 1


class AuditUnavailable(ShipdeckError):
    """The audit log cannot be written (full disk, permissions): a change is not sent without its record."""

    exit_code = 1


class ActionRunner:
    def __init__(self, audit: AuditLog, *, read_only: bool, profile_name: str) -> None:
        self.audit = audit
        self.read_only = read_only
        self.profile_name = profile_name

    def check_writable(self, action: str) -> None:
        if self.read_only:
            raise ReadOnlyError(
                f"profile {self.profile_name} is read-only: {action} was not sent "
                "(use a profile without read_only, and without --read-only, to change things)"
            )

    async def run(
        self,
        action: str,
        target: str,
        call: Callable[[str], Awaitable[T]],
        *,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> T:
        """Run ``call(idempotency_key)``; the same key must be used for every retry inside it.

        Pass ``idempotency_key`` to resume an action whose outcome is unknown (it was in flight when the
        connection dropped): the server replays the first answer instead of acting twice.
        """
        self.check_writable(action)
        key = idempotency_key or new_idempotency_key()
        try:
            intent = self.audit.intent(action, target, idempotency_key=key, reason=reason, details=details)
        except OSError as exc:
            raise AuditUnavailable(
                f"cannot write the audit log {self.audit.path}: {exc.strerror or exc}; {action} was not sent"
            ) from None
        LAST_REQUEST_ID.set(None)
        try:
            result = await call(key)
        except ApiError as exc:
            self.audit.outcome(intent, "refused", request_id=exc.request_id, error=exc.message)
            raise
        except ShipdeckError as exc:
            self.audit.outcome(intent, "failed", request_id=exc.request_id, error=exc.message)
            raise
        except BaseException as exc:
            # Cancelled or crashed mid-flight: the server may or may not have acted.
            self.audit.outcome(intent, "unknown", error=exc.__class__.__name__)
            raise
        try:
            self.audit.outcome(intent, "ok", request_id=LAST_REQUEST_ID.get())
        except OSError as exc:
            raise AuditUnavailable(
                f"{action} WAS done, but the audit log {self.audit.path} could not record it: "
                f"{exc.strerror or exc} (its intent line is there)"
            ) from None
        return result

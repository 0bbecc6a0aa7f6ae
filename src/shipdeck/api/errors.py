"""Typed errors of the API client. Every failure the client raises is one of these.

Messages are written for a tired human at 3 AM: what happened, to what, and the request id to quote.
They never contain a token. ``exit_code`` is what the scriptable commands exit with.
"""

from __future__ import annotations

from typing import Any


class ShipdeckError(Exception):
    """Base of every error shipdeck raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id
        # Set by the transport on a failed change: True when a request of it may have reached the server
        # and been acted on (the answer was lost, cut, unreadable or a 5xx), False when none can have
        # (refused before the connection, a 4xx). See :func:`shipdeck.live.session` for what follows.
        self.maybe_applied = False
        # Set by the transport: the error is the answer (or the lack of one) to a state-changing request,
        # not to a read made before or after it.
        self.from_change_request = False

    def __str__(self) -> str:
        if self.request_id:
            return f"{self.message} [request {self.request_id}]"
        return self.message


class ApiError(ShipdeckError):
    """The server answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        provider: str | None = None,
        request_id: str | None = None,
        details: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.status = status
        self.code = code
        self.provider = provider
        self.details = details
        self.retry_after = retry_after


class AuthError(ApiError):
    """401: the token was rejected."""

    exit_code = 3


class PermissionDenied(AuthError):
    """403: the token is valid but may not do this (for example a read-only key)."""


class InvalidToken(ShipdeckError):
    """The profile's token cannot be sent at all (not printable ASCII); nothing was sent."""

    exit_code = 3


class NotFound(ApiError):
    exit_code = 4


class Conflict(ApiError):
    """409: idempotency payload mismatch, version not ready, ..."""


class ValidationFailed(ApiError):
    """400 / 422: the server refused the request body or parameters."""


class RateLimited(ApiError):
    """429 after the retry budget was spent."""


class ServerError(ApiError):
    """5xx after the retry budget was spent."""


class NetworkError(ShipdeckError):
    """No usable answer: connection refused or reset, timeout, TLS failure, refused redirect."""

    exit_code = 5

    def __init__(self, message: str, *, request_id: str | None = None, retryable: bool = True) -> None:
        super().__init__(message, request_id=request_id)
        # False when sending again cannot help (an invalid URL, the overall deadline spent).
        self.retryable = retryable


class ProtocolError(ShipdeckError):
    """The server answered, but with something that is not the API: bad JSON, wrong types, too big."""

    exit_code = 5


class UnsupportedAction(ShipdeckError):
    """The provider has no such action (see Capabilities)."""

    exit_code = 2


class BudgetReserved(ShipdeckError):
    """A background read was not sent: the rate-limit budget left is kept for the user's own actions."""

    def __init__(self, message: str, *, remaining: int, retry_in: float) -> None:
        super().__init__(message)
        self.remaining = remaining
        # Seconds after which the budget the server last reported is considered renewed.
        self.retry_in = retry_in


class StreamResyncRequired(ShipdeckError):
    """A stream could not resume from its position; state must be re-read over REST."""

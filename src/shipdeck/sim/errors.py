"""The sandbox's error shapes (one per provider) and its one refusal type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from shipdeck.sim.http import REQUEST_ID, BadBody

Handler = Callable[[Request], Awaitable[Response]]


class OptionError(ValueError):
    """A command-line option the simulator cannot use; the message says which and why."""


class Refusal(Exception):
    """A request the state refuses (404, 409, 422 ...), raised anywhere in a handler.

    Every surface raises this type (or its subclass that names the provider: ``ApiError`` for Miosa,
    ``Refused`` for Miteos, ``StoreError`` for Mixpeek); :func:`answering` renders it in the provider's
    error shape through :meth:`answer`.
    """

    provider: ClassVar[str] = "miosa"

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details if details is not None else {}

    def answer(self) -> Response:
        return provider_error(self.provider, self.status, self.code, self.message, self.details)


def answering(handler: Handler, bad_body: Callable[[BadBody], Response]) -> Handler:
    """``handler`` with its refusals and bad bodies answered in the provider's error shape."""

    async def answered(request: Request) -> Response:
        try:
            return await handler(request)
        except Refusal as exc:
            return exc.answer()
        except BadBody as exc:
            return bad_body(exc)

    return answered


def miosa_error(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "error": {"code": code, "message": message, "details": details or {}},
        "message": message,
    }
    if REQUEST_ID.get():
        body["request_id"] = REQUEST_ID.get()
    if headers and "Retry-After" in headers:
        body["retry_after"] = int(headers["Retry-After"])
    return JSONResponse(body, status_code=status, headers=headers)


def miteos_error(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    # Miteos errors are FastAPI-style: the message (or a 422 list) in "detail"; the code is not on the wire.
    return JSONResponse(
        {"detail": details if isinstance(details, list) else message}, status, headers=headers
    )


def mixpeek_error(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {
        "success": False,
        "status": status,
        "error": {"message": message, "type": _MIXPEEK_TYPES.get(code, code), "details": details or {}},
    }
    return JSONResponse(body, status_code=status, headers=headers)


# Mixpeek names error types like exception classes (contract B.1); the gateway's shared codes, in its words.
_MIXPEEK_TYPES = {
    "UNAUTHORIZED": "UnauthorizedError",
    "FORBIDDEN": "ForbiddenError",
    "NOT_FOUND": "NotFoundError",
    "METHOD_NOT_ALLOWED": "MethodNotAllowedError",
    "IDEMPOTENCY_PAYLOAD_MISMATCH": "ConflictError",
    "RATE_LIMITED": "TooManyRequestsError",
    "SERVICE_UNAVAILABLE": "ServiceUnavailableError",
}


def provider_error(
    provider: str,
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An error in ``provider``'s shape (its row in sim/registry.py names it)."""
    from shipdeck.sim.registry import surface_row

    return surface_row(provider).error(status, code, message, details, headers)

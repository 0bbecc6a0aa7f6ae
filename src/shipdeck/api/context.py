"""Per-task context the transport fills in, so callers can quote the request id of a success too."""

from __future__ import annotations

from contextvars import ContextVar

# Set by the transport after every answered request, in the calling task's context.
LAST_REQUEST_ID: ContextVar[str | None] = ContextVar("shipdeck_last_request_id", default=None)

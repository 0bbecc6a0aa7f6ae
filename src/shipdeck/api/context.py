"""Per-task context the transport fills in, so callers can quote the request id of a success too."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# Set by the transport after every answered request, in the calling task's context.
LAST_REQUEST_ID: ContextVar[str | None] = ContextVar("shipdeck_last_request_id", default=None)

# Set by the transport after every answered request: the server said it replayed a stored answer
# (``Idempotency-Replayed: true``): the change had already been made with this idempotency key.
LAST_REPLAYED: ContextVar[bool] = ContextVar("shipdeck_last_replayed", default=False)

# True inside ``background_reads()``: GETs then yield to the user's own actions when the rate-limit
# budget runs low (they raise BudgetReserved instead of being sent).
BACKGROUND_READ: ContextVar[bool] = ContextVar("shipdeck_background_read", default=False)


@contextmanager
def background_reads() -> Iterator[None]:
    """Mark the reads made inside the block (in this task) as background refreshes."""
    token = BACKGROUND_READ.set(True)
    try:
        yield
    finally:
        BACKGROUND_READ.reset(token)


# Inside ``captured_bodies()``: the transport appends (method, path, decoded body) of every answered request
# made in this task, so a caller can show an object exactly as the API returned it (the raw view) without
# the adapters or the models keeping raw bodies around.
CAPTURED_BODIES: ContextVar[list[tuple[str, str, object]] | None] = ContextVar(
    "shipdeck_captured_bodies", default=None
)


@contextmanager
def captured_bodies() -> Iterator[list[tuple[str, str, object]]]:
    """The decoded JSON bodies of the requests made inside the block (in this task), in order."""
    bodies: list[tuple[str, str, object]] = []
    token = CAPTURED_BODIES.set(bodies)
    try:
        yield bodies
    finally:
        CAPTURED_BODIES.reset(token)

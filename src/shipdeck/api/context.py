"""Per-task context the transport fills in, so callers can quote the request id of a success too."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# Set by the transport after every answered request, in the calling task's context.
LAST_REQUEST_ID: ContextVar[str | None] = ContextVar("shipdeck_last_request_id", default=None)

# Set by the transport after every answered change request: the server said it replayed a stored answer
# (``Idempotency-Replayed: true``): the change had already been made with this idempotency key.
LAST_REPLAYED: ContextVar[bool] = ContextVar("shipdeck_last_replayed", default=False)

# Set by the transport when a state-changing request (not GET, HEAD, OPTIONS) is answered 2xx: the server
# took a change. A caller that then fails to read the answer, or a later step of the same change, must not
# say "not applied" (ChangeSession resets it before each change it sends).
WRITE_ACCEPTED: ContextVar[bool] = ContextVar("shipdeck_write_accepted", default=False)
# The request id of that answer: what the audit log quotes for the change (a read made after it, such as
# Mixpeek's re-read of the app, has its own id in LAST_REQUEST_ID).
CHANGE_REQUEST_ID: ContextVar[str | None] = ContextVar("shipdeck_change_request_id", default=None)

# Set by ChangeSession while it sends a change: awaited by the transport before it retries that change's
# request (after a 503, a lost connection), so a retry seconds later does not act on a world that changed
# meanwhile (another version made live). It raises to stop the retries.
RESEND_GUARD: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar(
    "shipdeck_resend_guard", default=None
)

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

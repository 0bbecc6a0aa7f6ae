"""The refusals a change can meet before it is sent (see :mod:`shipdeck.live.session`)."""

from __future__ import annotations

from shipdeck.api.errors import ShipdeckError


class ReadOnlyError(ShipdeckError):
    """A mutation was attempted on a read-only profile; nothing was sent."""

    exit_code = 1


class AuditUnavailable(ShipdeckError):
    """The audit log cannot be written (full disk, permissions): a change is not sent without its record."""

    exit_code = 1


class ChangeInFlight(ShipdeckError):
    """The same change is being sent now, by this console or another shipdeck process: not sent twice."""

    exit_code = 1


class ChangeMoved(ShipdeckError):
    """What the change was planned from is no longer live (or cannot be read to tell): not sent."""

    exit_code = 1

"""Pipeline stages derived from one run status (providers report a status; the console shows steps)."""

from __future__ import annotations

from shipdeck.model import PipelineStage

STOP_STATES = frozenset({"failed", "error", "cancelled", "canceled"})


def stages_for(names: tuple[str, ...], status: str, *, stopped_at: str | None = None) -> list[PipelineStage]:
    """Stages ``names`` (the last is the success state) as of ``status``.

    A known status marks every earlier stage complete and itself running (or complete when it is the
    last). A failure or cancellation marks ``stopped_at`` (default: the second stage, the build, where
    most runs stop) with the status and earlier stages complete. An unknown status leaves all pending.
    """
    last = len(names) - 1
    if status in names:
        reached = names.index(status)
        return [
            PipelineStage(
                name=name,
                state="complete"
                if i < reached or i == reached == last
                else "running"
                if i == reached
                else "pending",
            )
            for i, name in enumerate(names)
        ]
    if status in STOP_STATES:
        stop = stopped_at if stopped_at in names else names[min(1, last)]
        stop_index = names.index(stop)
        return [
            PipelineStage(
                name=name, state="complete" if i < stop_index else status if i == stop_index else "pending"
            )
            for i, name in enumerate(names)
        ]
    return [PipelineStage(name=name, state="pending") for name in names]

"""Every time constant of the live view in one place, so a test (or a bench) can run it on a fast clock.

The console builds one :class:`Timing` (the defaults below, unless ``make_app(..., timing=...)`` is given
another) and passes it down: the live state reads its intervals from it, and the console's adapter gets
its ``stream`` options (reconnect backoff, heartbeat, longest trusted outage) and ``retry`` backoff.
Plain data, no Textual.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shipdeck.api.streams import StreamOptions
from shipdeck.api.transport import RetryOptions


@dataclass(frozen=True)
class Timing:
    """Seconds, all of them."""

    # Change batches are published at most once per interval (~10 frames a second), however fast the
    # server talks; the refetcher re-reads what events named at most once per interval too.
    coalesce_interval: float = 0.1
    # Without a word from the server for this long while the stream is down, the data is called stale.
    stale_after: float = 15.0
    # The longest silence before checking a quiet server that answered the last checks.
    stale_check_max: float = 120.0
    # Without a push stream (or while it is refused) the list is polled: from this often while things
    # change, backing off to this at most while they do not.
    poll_interval_min: float = 2.0
    poll_interval_max: float = 60.0
    # While a pipeline runs in the watched deployment, its runs are re-read this often (stages move live).
    pipeline_poll_interval: float = 1.0
    # ... and this often while a live push stream announces its changes (a safety net, not the source).
    pipeline_poll_interval_streaming: float = 2.0
    # The watched deployment's detail is re-read at most this often, however many events name it (a
    # publish sends a few dozen); what they named is read once the gap has passed.
    detail_min_gap: float = 2.0
    # One deployment is re-read at most this often for the events that name it (a busy tail names the
    # shown one in every batch, ten a second): what they named is read once the gap has passed, so the row
    # is true within about this long. The user's own change (mark_dirty) is re-read at once.
    reread_min_gap: float = 1.0
    # An event naming a deployment the list does not have (one created elsewhere, or a stream naming made-up
    # ids: 100 a second drained the rate budget, a read each) reads it alone while this allowance lasts (a
    # token bucket: this many a minute, holding at most the burst); past it, the list is read again, once
    # for all of them, at most once per unknown_list_gap.
    unknown_reads_per_minute: float = 6.0
    unknown_reads_burst: float = 3.0
    unknown_list_gap: float = 60.0
    # While polling, the watched deployment's detail is re-read when it changed, else at least this often.
    detail_max_age: float = 60.0
    # The live state's own reconnect of an ended event stream: from this, doubling up to the max.
    reconnect_initial: float = 0.5
    reconnect_max: float = 10.0
    # While the push stream is up, the list is read again this often anyway (at least this many seconds a
    # page of it): a stream that does not carry every change (a vendor's stream of other events) left the
    # list as it was under '● live'. A read that finds changes no event named turns polling on beside it.
    stream_check_interval: float = 180.0
    stream_check_per_page: float = 2.0
    # The first snapshot, when it fails: retried after this, doubling up to poll_interval_max.
    snapshot_retry_initial: float = 1.0
    # Service health (live/health.py). Idle, health reads spend at most this many requests a minute, as a
    # token bucket that holds at most health_burst: 3 is 5% of the Free tier's 60, so with the console's
    # own ~2 a minute an idle console stays under the 10% budget (bench/budget.py). While the push stream is
    # down (polling spends the budget) a third of it.
    health_per_minute: float = 3.0
    health_burst: float = 3.0
    # At start the bucket holds a screenful instead, once (the rows on screen and the watched one, and at
    # least this much): they are read at once (on call, the first question is which row is hurting its
    # users), never more than a fifth of the rate-limit window ...
    health_start: float = 16.0
    # ... once the screen has said which rows it shows, or this long after the first rows are known.
    health_screen_wait: float = 3.0
    # One batch over the listed rows (on-screen first) this often, with what the bucket holds ...
    health_batch_interval: float = 60.0
    # ... the watched row more often (its figures, the hour's series and version changes: one request) ...
    health_watched_interval: float = 30.0
    # ... its detail (routes and failing requests too: three requests) while the Health tab is open ...
    health_detail_interval: float = 60.0
    # ... and after the user's own change (not idle) every health_settle_interval for health_settle seconds.
    health_settle_interval: float = 10.0
    health_settle: float = 300.0
    # The last known list is saved to the profile's cache this often (when it changed), and on exit.
    cache_interval: float = 60.0
    # The push stream's options in the API client (reconnect backoff and jitter, heartbeat, max outage).
    stream: StreamOptions = field(default_factory=StreamOptions)
    # The API client's wait between attempts of one request (without the server's Retry-After).
    retry: RetryOptions = field(default_factory=RetryOptions)


DEFAULT_TIMING = Timing()

"""The live state of one connection: a REST snapshot kept current by the provider's stream.

:class:`LiveState` owns the deployments of one profile, the detail of the deployment the user looks at,
a bounded ring of recent events and the connection's health. It never touches Textual: the UI calls
:meth:`LiveState.subscribe` and receives :class:`ChangeBatch` objects, at most ``1 / coalesce_interval``
times a second, however fast the server talks. Every interval it waits comes from one :class:`Timing`.

Updates: the first page of deployments is published at once, the rest are paged in the background. Then
``adapter.events()`` is followed; an event names what changed and the changed objects are re-read over
REST (so the state is always in the adapter's own model, never a guess from an event's dialect). When the
stream cannot resume (:class:`StreamResyncRequired`) the whole list is re-read. A provider without a push
stream is polled with backoff. Background reads that the adapter refuses to keep budget for the user's
own actions (:class:`BudgetReserved`) are retried later, never dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from shipdeck.api.base import Adapter, StreamHealth
from shipdeck.api.context import background_reads
from shipdeck.api.errors import (
    BudgetReserved,
    NetworkError,
    NotFound,
    ShipdeckError,
    StreamResyncRequired,
    UnsupportedAction,
)
from shipdeck.config.cache import read_cache, write_cache
from shipdeck.live.health import Bucket, HealthMonitor
from shipdeck.live.timing import DEFAULT_TIMING, Timing
from shipdeck.model import Capability, Deployment, Domain, EnvVar, Event, Health, PipelineRun, Version

Clock = Callable[[], datetime]

# The time constants (coalescing, polling, staleness, fill-after, backoff) are in shipdeck.live.timing.
DEFAULT_MAX_EVENTS = 2_000
# The detail keeps at most this many versions (the newest): a deployment with 100,000 froze the console.
MAX_VERSIONS_KEPT = 500
# The detail keeps at most this many domains and env vars (the first the server lists); a hostile or huge
# list is told as "showing the first 500 of M".
MAX_LIST_KEPT = 500
# Deployments whose answer lacks the active version's number (Miosa's list names only its id) learn it from
# what is read anyway: the watched deployment's versions and each health read (which names the versions that
# took traffic). Only where no health is read are the rows on screen looked up, once the list is loaded, at
# most this many at a time (a start of a 50,000-row account read 200 rows' versions in the background).
VERSION_NUMBER_LOOKUPS = 40
REFETCH_CONCURRENCY = 8
# Rows in progress re-read on their own while polled (LiveState._reread_in_progress): at most this many.
PROGRESS_REREADS_MAX = 8
# An account this large has its rows frozen out of the cyclic garbage collector as they load (load_all).
GC_FREEZE_AFTER = 2_000


def utc_now() -> datetime:
    return datetime.now(UTC)


class ConnectionState(StrEnum):
    CONNECTING = "connecting"
    LIVE = "live"
    RECONNECTING = "reconnecting"
    STALE = "stale"
    OFFLINE = "offline"


@dataclass
class DeploymentDetail:
    """What the detail pane shows for one deployment; a part the provider lacks carries the reason."""

    deployment_id: str
    # The newest MAX_VERSIONS_KEPT versions; ``versions_total`` says how many there are in all.
    versions: list[Version] | None = None
    versions_total: int | None = None
    runs: list[PipelineRun] | None = None
    # The first MAX_LIST_KEPT domains and env vars; ``*_total`` says how many the server listed.
    domains: list[Domain] | None = None
    domains_total: int | None = None
    env: list[EnvVar] | None = None
    env_total: int | None = None
    # Part name ("versions", "runs", "domains", "env") -> why it is not shown.
    unavailable: dict[str, str] = field(default_factory=dict)
    loaded_at: datetime | None = None

    @property
    def pipeline_running(self) -> bool:
        return any(run.health is Health.PROGRESS for run in self.runs or [])


@dataclass
class ChangeBatch:
    """What changed since the last batch. ``reset``: the whole list was re-read (redraw everything)."""

    changed: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    events: list[Event] = field(default_factory=list)
    detail_changed: bool = False
    connection_changed: bool = False
    reset: bool = False
    problems: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.changed
            or self.removed
            or self.events
            or self.detail_changed
            or self.connection_changed
            or self.reset
            or self.problems
        )


Subscriber = Callable[[ChangeBatch], None]

# The parts of a deployment's detail, and which of them an event type says changed. A build's log lines
# change none (the logs screen streams them; a running pipeline's stages are re-read on their own).
DETAIL_PARTS = frozenset({"versions", "runs", "domains", "env"})
_PARTS_BY_PREFIX: tuple[tuple[str, frozenset[str]], ...] = (
    ("build.log", frozenset()),
    ("version.", frozenset({"versions", "runs"})),
    ("release.", frozenset({"versions", "runs"})),
    ("build.", frozenset({"runs"})),
    ("deployment.", frozenset({"versions", "runs"})),
    ("domain.", frozenset({"domains"})),
    ("env.", frozenset({"env"})),
)


def detail_parts_of(event_type: str) -> frozenset[str]:
    """The parts of the watched deployment's detail that an event of this type may have changed."""
    for prefix, parts in _PARTS_BY_PREFIX:
        if event_type.startswith(prefix):
            return parts
    return frozenset()


_DEPLOYMENT_FIELDS = frozenset(Deployment.model_fields)
# What the cache of the last known list keeps of a deployment: its declared fields (no provider extras).
_CACHED_FIELDS: set[str] = set(Deployment.model_fields)


def _without_extras(dep: Deployment) -> Deployment:
    """The deployment without the provider's undeclared fields, which nothing in the live state reads.

    A Miosa deployment carries some 25 of them: kept, 50,000 rows took 320 MB instead of 100 MB.
    """
    if not dep.model_extra:
        return dep
    # A shallow copy without the extras (what model_copy does, less the extras): model_construct re-ran
    # every field's default handling, 1.9 s of a 50,000-row load.
    kept = Deployment.__new__(Deployment)
    object.__setattr__(kept, "__dict__", dict(dep.__dict__))
    object.__setattr__(kept, "__pydantic_fields_set__", dep.model_fields_set & _DEPLOYMENT_FIELDS)
    object.__setattr__(kept, "__pydantic_extra__", {})
    object.__setattr__(kept, "__pydantic_private__", dep.__pydantic_private__)
    return kept


@cache
def _deployment_list() -> TypeAdapter[list[Deployment]]:
    return TypeAdapter(list[Deployment])


def _cached_deployments(rows: list[dict[str, Any]]) -> list[Deployment]:
    """The deployments of the cache's rows, validated in one call (a third faster than row by row); when
    one cannot be read by this version, row by row without it (the server's list will have it)."""
    try:
        return _deployment_list().validate_python(rows)
    except ValueError:
        pass
    kept = []
    for row in rows:
        try:
            kept.append(Deployment.model_validate(row))
        except ValueError:
            continue
    return kept


def deployment_id_of(event: Event) -> str | None:
    """The deployment an event is about, in any of the shapes providers use; None if it names none."""
    data = event.data
    for key in ("deployment_id", "app_id"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    nested = data.get("deployment")
    if isinstance(nested, dict) and isinstance(nested.get("id"), str):
        return str(nested["id"])
    if event.type.startswith("deployment.") and isinstance(data.get("id"), str):
        return str(data["id"])
    return None


class LiveState:
    """One connection's live data. Call :meth:`run` in a task; cancel it to stop."""

    def __init__(
        self,
        adapter: Adapter,
        *,
        clock: Clock | None = None,
        timing: Timing = DEFAULT_TIMING,
        max_events: int = DEFAULT_MAX_EVENTS,
        page_size: int = 200,
        resume_after: int | None = None,
        cache_path: Path | None = None,
        read_health: bool = False,
    ) -> None:
        """``resume_after``: the stream sequence to resume after (a saved position; None: from now).
        ``cache_path``: where the last known list is kept (config/cache.py; None: no cache).
        ``read_health``: also read every deployment's service health (error rate), see live/health.py."""
        self.adapter = adapter
        self.clock: Clock = clock or utc_now
        self.timing = timing
        self.page_size = page_size
        self.deployments: dict[str, Deployment] = {}
        self.events: deque[Event] = deque(maxlen=max_events)
        self.connection = ConnectionState.CONNECTING
        self.connection_note = ""
        # When the server last told us something (snapshot, event or poll): the data's age.
        self.last_heard: datetime | None = None
        self.pages_loading = True
        self._pages_this_read = 0
        self._listed = False
        self.detail: DeploymentDetail | None = None
        self._watched: str | None = None
        self._subscribers: list[Subscriber] = []
        self._batch = ChangeBatch()
        # Set when the batch being gathered may have something in it: the publisher sleeps until then
        # (an idle console wakes for nothing, rather than ten times a second).
        self._batch_touched = asyncio.Event()
        self._dirty: set[str] = set()
        # The stream cross-check (_check_stream): ids events named while it read the list, and how many
        # changes it found that no event had named (polling goes on beside the stream from the first).
        self._named_while_checking: set[str] | None = None
        self.stream_missed = 0
        # Deployment id -> time.monotonic() of its last re-read, for reread_min_gap (entries older than the
        # gap are dropped), and the one wake-up pending for those that must wait.
        self._reread_at: dict[str, float] = {}
        # Re-reads for the user's own change: they start no gap (the event that answers it, a moment later,
        # is read at once: a rollback's outcome on screen waited up to the gap otherwise).
        self._reread_urgent: set[str] = set()
        self._reread_wake: asyncio.TimerHandle | None = None
        # Events naming deployments the list lacks: read alone from this allowance, else (list_wanted) the
        # list once for all of them, at most once per unknown_list_gap after the last list read began.
        self._unknown_reads = Bucket(
            per_minute=timing.unknown_reads_per_minute,
            burst=timing.unknown_reads_burst,
            tokens=timing.unknown_reads_burst,
            at=time.monotonic(),
        )
        self._list_wanted = False
        self._list_read_at = -math.inf  # time.monotonic() when the last list read began
        self._list_wake: asyncio.TimerHandle | None = None
        # The parts of the watched deployment's detail to re-read (empty: it is current).
        self._detail_dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._detail_loaded = asyncio.Event()
        self._detail_read_at = 0.0  # time.monotonic() of the last detail read
        self._last_seq: int | None = resume_after
        self._lost_at: float | None = None
        # While polling: the wait before the next poll (None while the push stream keeps us current).
        self._poll_interval: float | None = None
        # The connection failures told to the user since the connection was last live.
        self._reported_failures: set[str] = set()
        self._failures = 0
        self._stopped = False
        self._tasks: set[asyncio.Task[None]] = set()
        # Version id -> number, learned from version lists (Miosa's deployment names only the id).
        self._version_numbers: dict[str, int] = {}
        # The rows on screen (what the screens say), and the (deployment, active version) pairs looked up.
        self._on_screen: list[str] = []
        self._numbers_wake = asyncio.Event()
        self._numbers_looked_up: set[tuple[str, str]] = set()
        # (run id, stage name) -> when we saw it start / end, for providers that report only a status.
        self._stage_seen: dict[tuple[str, str], tuple[datetime | None, datetime | None]] = {}
        # While polled: the rows stored in progress whose next re-read is already scheduled.
        self._progress_rereads: set[str] = set()
        self.cache_path = cache_path
        # When the list shown was saved, while it comes from the cache (None: it comes from the server).
        self.cached_at: datetime | None = None
        self._stores = 0  # deployments stored so far: the cache is written again only when this moved
        self._cached_stores = -1
        self.health: HealthMonitor | None = HealthMonitor(self) if read_health else None

    # -- subscription ------------------------------------------------------------------------------------
    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber(batch)`` for every change batch; returns the function that unsubscribes."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    @property
    def answering(self) -> bool:
        """The server answered the last reads (live, or polled): background reads are worth making. Not
        while connecting (the last known list only), reconnecting, stale or offline."""
        return self.connection is ConnectionState.LIVE

    @property
    def polling(self) -> bool:
        """Kept current by polling (no push stream, or it is down): the data is as old as the last poll."""
        return self.connection is ConnectionState.LIVE and self.connection_note.startswith("polling")

    @property
    def last_seq(self) -> int | None:
        """The sequence number of the last stream event taken in (where a reconnect resumes after)."""
        return self._last_seq

    @property
    def list_arriving(self) -> bool:
        """Pages of the list are arriving (or the first read has not answered yet): what the header calls
        'loading N…'. A re-read that has not had a page yet (during an outage, each attempt) keeps the list
        it has and is not 'loading': the connection state already says that the server is away."""
        if self._pages_this_read > 0:
            return self.pages_loading
        # Nothing listed yet: loading while the first read is under way, not during each retry of an
        # outage (the header flickered 'loading 0…' / '0 deployments' with every attempt).
        return self.pages_loading and not self.deployments and self.connection is ConnectionState.CONNECTING

    @property
    def never_listed(self) -> bool:
        """No page of the list has been read from the server yet (a cached list may be shown meanwhile)."""
        return not self._listed

    @property
    def failures(self) -> int:
        """How many reads or connections have failed since the start (every retry counts)."""
        return self._failures

    @property
    def poll_interval(self) -> float | None:
        """While polling, the wait (s) chosen before the next poll: short while things change, backing off
        while they do not. None while not polling."""
        return self._poll_interval

    def data_age(self) -> float | None:
        """Seconds since the server last said anything (None before the first answer)."""
        if self.last_heard is None:
            return None
        return max(0.0, (self.clock() - self.last_heard).total_seconds())

    def cached_age(self) -> float | None:
        """Seconds since the list shown was saved, while it is the cached one (None: it is the server's)."""
        if self.cached_at is None:
            return None
        return max(0.0, (self.clock() - self.cached_at).total_seconds())

    # -- the last known state ----------------------------------------------------------------------------
    def load_cache(self) -> bool:
        """Show the profile's last known list until the server answers (True: there was one)."""
        if self.cache_path is None or self.deployments:
            return False
        cached = read_cache(self.cache_path)
        if cached is None:
            return False
        for dep in _cached_deployments(cached.rows):
            self.deployments[dep.id] = dep
            if dep.active_version_id and dep.active_version_number is not None:
                # A version's number never changes: the server's list, which names the active version by id
                # only, keeps the 'v12' the last known list showed instead of '-' until a read teaches it.
                self._version_numbers.setdefault(dep.active_version_id, dep.active_version_number)
        if not self.deployments:
            return False
        self.cached_at = cached.saved_at
        self._pending.reset = True
        return True

    def _cache_rows(self) -> list[dict[str, Any]] | None:
        """The list to save (declared fields only: no extras), or None when there is nothing new to save."""
        if self.cache_path is None or self.cached_at is not None or self.last_heard is None:
            return None
        if self._stores == self._cached_stores or not self.deployments:
            return None
        self._cached_stores = self._stores
        return [dep.model_dump(mode="json", include=_CACHED_FIELDS) for dep in self.deployments.values()]

    @property
    def stores(self) -> int:
        """How many times a deployment was stored: it moves whenever the list shown changes."""
        return self._stores

    @property
    def saved_stores(self) -> int:
        """What ``stores`` was when the list was last saved to the cache (-1: not saved yet)."""
        return self._cached_stores

    def save_cache(self) -> None:
        """Save the list heard from the server (on exit; nothing when nothing changed since the last save)."""
        rows = self._cache_rows()
        if rows is not None and self.cache_path is not None:
            with contextlib.suppress(OSError):
                write_cache(self.cache_path, rows, self.last_heard or self.clock())

    async def _cache_writer(self) -> None:
        while self.cache_path is not None:
            await asyncio.sleep(self.timing.cache_interval)
            rows = self._cache_rows()
            if rows is not None:
                saved_at = self.last_heard or self.clock()
                with contextlib.suppress(OSError):
                    await asyncio.to_thread(write_cache, self.cache_path, rows, saved_at)

    def sorted_deployments(self) -> list[Deployment]:
        return sorted(self.deployments.values(), key=lambda d: (d.name.lower(), d.id))

    # -- watching one deployment -------------------------------------------------------------------------
    def watch(self, deployment_id: str | None) -> None:
        """Keep the detail (versions, pipeline, domains, env) of this deployment loaded and current."""
        if deployment_id == self._watched:
            return
        self._watched = deployment_id
        self.detail = None
        self._detail_dirty = set(DETAIL_PARTS) if deployment_id is not None else set()
        self._pending.detail_changed = True
        self._wake.set()
        if self.health is not None:
            self.health.wake()

    async def detail_for(self, deployment_id: str, *, timeout: float = 10.0) -> DeploymentDetail | None:
        """The loaded detail of a deployment, waiting up to ``timeout`` seconds for it (None: not loaded)."""
        self.watch(deployment_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            detail = self.detail
            if detail is not None and detail.deployment_id == deployment_id:
                return detail
            remaining = deadline - loop.time()
            if remaining <= 0 or self._watched != deployment_id:
                return None
            self._detail_loaded.clear()
            try:
                await asyncio.wait_for(self._detail_loaded.wait(), remaining)
            except TimeoutError:
                return None

    @property
    def watched(self) -> str | None:
        return self._watched

    def mark_dirty(self, deployment_id: str, *, detail: bool = True) -> None:
        """Re-read this deployment (and its detail if watched) soon; used after the user's own actions."""
        self._dirty.add(deployment_id)
        self._reread_at.pop(deployment_id, None)  # the user's own change: no gap to wait for,
        self._reread_urgent.add(deployment_id)  # and none after it for the server's answer either
        if detail and deployment_id == self._watched:
            self._detail_dirty |= DETAIL_PARTS
        self._wake.set()

    def apply_deployment(self, deployment: Deployment) -> None:
        """Put a deployment the API just returned (an action's answer) into the state at once."""
        self._store(deployment)
        self._wake.set()

    def touch(self, deployment_id: str | None = None, *, detail: bool = False) -> None:
        """Something derived of a deployment (its health) changed: say so in the next change batch."""
        if deployment_id is not None and deployment_id in self.deployments:
            self._pending.changed.add(deployment_id)
            health = self.health.latest.get(deployment_id) if self.health is not None else None
            if health is not None:
                # A health read names the versions that took traffic: the active one's number comes free.
                changes = health.version_changes
                self._version_numbers.update(
                    (c.version_id, c.version_number)
                    for c in changes
                    if c.version_id is not None and c.version_number is not None
                )
                self._learn_version_number(deployment_id, [])
        if detail:
            self._pending.detail_changed = True

    def show(self, deployment_ids: Iterable[str]) -> None:
        """These rows are on screen: without health reads (which teach the active version's number), the
        ones whose number is unknown are looked up once the list is loaded."""
        ids = list(deployment_ids)[:VERSION_NUMBER_LOOKUPS]
        if ids != self._on_screen:
            self._on_screen = ids
            self._numbers_wake.set()

    # -- the loops ---------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Snapshot, then follow the stream (or poll), publishing batches until cancelled."""
        self._stopped = False  # (again, when a console restarts a run that failed)
        self.load_cache()
        tasks = [
            asyncio.create_task(self._cache_writer(), name="live-cache-writer"),
            asyncio.create_task(self._publisher(), name="live-publisher"),
            asyncio.create_task(self._refetcher(), name="live-refetcher"),
            asyncio.create_task(self._follow(), name="live-follow"),
            asyncio.create_task(self._staleness(), name="live-staleness"),
        ]
        if self.health is not None:
            tasks.append(asyncio.create_task(self.health.run(), name="live-health"))
        try:
            await asyncio.gather(*tasks)
        finally:
            self._stopped = True
            for wake in (self._reread_wake, self._list_wake):
                if wake is not None:
                    wake.cancel()
            self.save_cache()
            for task in [*tasks, *self._tasks]:
                task.cancel()
            for task in [*tasks, *self._tasks]:
                with contextlib.suppress(BaseException):
                    await task

    async def _follow(self) -> None:
        await self._snapshot_until_ok()
        self._background(self._fill_version_numbers(), "live-version-numbers")
        if self.adapter.capabilities.supports(Capability.EVENT_STREAM):
            if self.adapter.stream_health is not None:
                self._background(self._poll_while_stream_down(self.adapter.stream_health), "live-stream-down")
            await self._stream_forever()
        else:
            await self._poll_forever()

    async def _snapshot_until_ok(self) -> None:
        delay = self.timing.snapshot_retry_initial
        while True:
            try:
                await self.load_all()
                return
            except BudgetReserved as exc:
                await asyncio.sleep(max(exc.retry_in, 0.5))
            except ShipdeckError as exc:
                self._connection_failed(
                    ConnectionState.OFFLINE if isinstance(exc, NetworkError) else ConnectionState.STALE, exc
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.timing.poll_interval_max)

    async def load_all(self, *, refresh_detail: bool = True) -> None:
        """Read every deployment over REST, publishing the first page at once (replaces the list).

        ``refresh_detail=False`` (a poll): the watched deployment's detail is re-read only if that
        deployment changed or the detail is older than DETAIL_MAX_AGE, not on every poll.
        """
        watched_before = self.deployments.get(self._watched) if self._watched else None
        started = self._list_read_at = time.monotonic()
        self.pages_loading = True
        self._pages_this_read = 0
        try:
            seen = await self._load_pages()
        finally:
            # Also when a page failed (a rejected token): no 'loading 0…' in the header after the error.
            self.pages_loading = False
        gone = set(self.deployments) - seen
        for dep_id in gone:
            del self.deployments[dep_id]
        self._pending.removed |= gone
        if self.cached_at is not None:
            self.cached_at = None  # every row shown is the server's now
            self._pending.connection_changed = True
        # A detail read while the pages arrived (the first read: the user's row appeared with the first
        # page) is as new as the list: reading it again at the end only redrew the pane under the user.
        read_before = self._detail_read_at < started
        if (
            self._watched
            and read_before
            and (
                refresh_detail
                or self.deployments.get(self._watched) != watched_before
                or time.monotonic() - self._detail_read_at > self.timing.detail_max_age
            )
        ):
            self._detail_dirty |= DETAIL_PARTS
        self._pending.reset = True
        self._publish_now()  # the whole list, and the header's "live", without the coalescing wait
        self._wake.set()
        self._numbers_wake.set()

    async def _load_pages(self) -> set[str]:
        """Every page of deployments into the state (the first at once); the ids seen."""
        seen: set[str] = set()
        pages = self.adapter.iter_deployment_pages(limit=self.page_size, extras=False, prefetch=True)
        async with contextlib.aclosing(pages):
            await self._keep_pages(pages, seen)
        return seen

    async def _keep_pages(self, pages: AsyncIterator[list[Deployment]], seen: set[str]) -> None:
        """Each page into the state as it comes (the first published at once)."""
        first = True
        async for page in pages:
            for dep in page:
                seen.add(dep.id)
                self._store(dep)
            self._heard()
            self._pages_this_read += 1
            self._listed = True
            if first:
                self._pending.reset = True
                first = False
                if self.connection in (ConnectionState.CONNECTING, ConnectionState.OFFLINE):
                    # Without a push stream the list is kept by polling from its first read on (the
                    # header said 'live' until the first poll, then 'polled').
                    pushed = self.adapter.capabilities.supports(Capability.EVENT_STREAM)
                    self._set_connection(ConnectionState.LIVE, "" if pushed else "polling")
                    self._publish_now()  # the first rows are what a start (or a reconnect) waits for
            else:
                self._pending.changed.update(dep.id for dep in page)
            if len(self.deployments) >= GC_FREEZE_AFTER:
                # Tens of thousands of long-lived rows make each full pass of the cyclic garbage collector
                # a visible stall (up to 120 ms at 50,000): what exists now is moved out of its reach.
                gc.freeze()
            self._wake.set()
            # Let the publisher paint the page (the next one is on its way meanwhile).
            await asyncio.sleep(0)

    async def _stream_forever(self) -> None:
        delay = self.timing.reconnect_initial
        while True:
            after: int | None = self._last_seq
            try:
                async for event in self.adapter.events(after=after):
                    delay = self.timing.reconnect_initial
                    if self.connection is not ConnectionState.LIVE:
                        self._set_connection(ConnectionState.LIVE, "")
                    self._on_event(event)
            except StreamResyncRequired:
                self._last_seq = None
                self._set_connection(ConnectionState.RECONNECTING, "re-reading everything")
                await self._snapshot_until_ok()
                self._set_connection(ConnectionState.LIVE, "")
                continue
            except UnsupportedAction:
                await self._poll_forever()
                return
            except ShipdeckError as exc:
                self._connection_failed(ConnectionState.RECONNECTING, exc)
            # The stream ended or failed: reconnect with backoff, resuming after the last sequence seen.
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.timing.reconnect_max)
            # Events may have been missed while we were away and the server could not replay them all;
            # re-reading the list after a long outage is cheap insurance.
            if self._lost_at is not None and self._since_lost() > self.timing.stale_after:
                with contextlib.suppress(ShipdeckError):
                    await self.load_all()

    async def _poll_forever(self) -> None:
        """No push stream: re-read the list, faster while things change, slower while they do not."""
        interval = self.timing.poll_interval_min
        while True:
            self._poll_interval = interval
            await asyncio.sleep(interval)
            interval = await self._poll_once(interval, "polling")

    async def _poll_while_stream_down(self, health: StreamHealth) -> None:
        """The push stream reconnects on its own and says nothing meanwhile; when it has failed for
        ``stale_after`` seconds (a gateway refusing it while the REST API answers), poll as
        :meth:`_poll_forever` does until it delivers again. While it is up, read the list now and then to
        check that it carries the changes (:meth:`_check_stream`); once it missed one, poll beside it."""
        interval = self.timing.poll_interval_min
        checked_at = time.monotonic()
        while True:
            await self._sleep_unless_stream_back(interval, health)
            if self.stream_missed:
                interval = await self._poll_once(
                    interval, f"polling (the event stream missed {self._missed_words()})"
                )
                self._poll_interval = interval
                continue
            down_since = health.down_since
            if down_since is None or time.monotonic() - down_since < self.timing.stale_after:
                interval = self.timing.poll_interval_min
                self._poll_interval = None
                if self.polling:
                    self._set_connection(ConnectionState.LIVE, "")
                if down_since is None and time.monotonic() - checked_at >= self._stream_check_every():
                    checked_at = time.monotonic()
                    await self._check_stream()
                continue
            interval = await self._poll_once(interval, f"polling (event stream: {health.reason})")
            self._poll_interval = interval

    def _missed_words(self) -> str:
        return f"{self.stream_missed} change" + ("" if self.stream_missed == 1 else "s")

    def _stream_check_every(self) -> float:
        timing = self.timing
        return max(timing.stream_check_interval, timing.stream_check_per_page * self._pages_this_read)

    async def _check_stream(self) -> None:
        """Read the list while the stream is up: a row it changes that no event named (before the read, or
        during it) is a change the stream did not carry. Counted in ``stream_missed``; polling takes over."""
        before = dict(self.deployments)
        told = set(self._dirty)  # named by events, not read again yet
        self._named_while_checking = set()
        try:
            with background_reads():
                await self.load_all(refresh_detail=False)
        except ShipdeckError:
            return  # the stream is up; a failed check says nothing of it (the next one reads again)
        finally:
            told |= self._named_while_checking or set()
            self._named_while_checking = None
        after = self.deployments
        missed = {i for i in before.keys() | after.keys() if before.get(i) != after.get(i)} - told
        if missed:
            self.stream_missed += len(missed)
            self._set_connection(
                ConnectionState.LIVE, f"polling (the event stream missed {self._missed_words()})"
            )

    async def _sleep_unless_stream_back(self, interval: float, health: StreamHealth) -> None:
        """Wait ``interval`` seconds between polls, but while polling look every second whether the stream
        is back, so that the header says '● live' again then, not after the longest poll interval."""
        loop = asyncio.get_running_loop()
        until = loop.time() + interval
        while (left := until - loop.time()) > 0:
            if self.polling and health.down_since is None and not self.stream_missed:
                return
            await asyncio.sleep(min(left, 1.0) if self.polling else left)

    async def _poll_once(self, interval: float, note: str) -> float:
        """Re-read the list once; the interval until the next poll (shorter when something moved)."""
        timing = self.timing
        before = {d.id: d for d in self.deployments.values()}
        try:
            with background_reads():
                await self.load_all(refresh_detail=False)
        except BudgetReserved as exc:
            return min(max(interval * 2, exc.retry_in), timing.poll_interval_max)
        except ShipdeckError as exc:
            self._read_failed(exc)
            # A failed read costs the server nothing; waiting long between them only delays noticing that
            # it is back (the data is already stale), so failures back off to stale_after at most.
            return min(interval * 2, timing.stale_after, timing.poll_interval_max)
        self._set_connection(ConnectionState.LIVE, note)
        moved = before != self.deployments
        return timing.poll_interval_min if moved else min(interval * 1.5, timing.poll_interval_max)

    def _on_event(self, event: Event) -> None:
        self._heard()
        if event.seq is not None:
            if self._last_seq is not None and event.seq <= self._last_seq:
                return  # a duplicate after a reconnect
            self._last_seq = event.seq
        self.events.append(event)
        self._pending.events.append(event)
        dep_id = deployment_id_of(event)
        if dep_id is not None and self._named_while_checking is not None:
            self._named_while_checking.add(dep_id)
        if dep_id is not None and not event.type.startswith("build.log"):
            # A build's log line changes nothing of the deployment: a publish sends hundreds of them.
            if dep_id in self.deployments or dep_id in self._dirty or self._may_read_unknown():
                self._dirty.add(dep_id)
            else:
                self._list_wanted = True
            if dep_id == self._watched:
                self._detail_dirty |= detail_parts_of(event.type)
        self._wake.set()

    def _may_read_unknown(self) -> bool:
        """Whether a deployment the list lacks may be read alone now (a token of the unknown-reads allowance
        taken): each new id of a stream naming made-up ones was a request, and 100 a second drained the
        rate budget to its reserve in 25 s."""
        self._unknown_reads.refill(time.monotonic())
        return self._unknown_reads.take(1)

    async def _refetcher(self) -> None:
        """Re-read what events said changed; at most one round per coalescing interval."""
        limit = asyncio.Semaphore(REFETCH_CONCURRENCY)
        while True:
            await self._wake.wait()
            self._wake.clear()
            dirty = self._due_rereads()
            if dirty:
                with background_reads():
                    await asyncio.gather(*(self._refetch_one(dep_id, limit) for dep_id in dirty))
            if self._detail_dirty and self._watched:
                wait = self.timing.detail_min_gap - (time.monotonic() - self._detail_read_at)
                if wait > 0 and self.detail is not None and self.detail.deployment_id == self._watched:
                    # Read again soon, once, for all the events that come meanwhile.
                    asyncio.get_running_loop().call_later(wait, self._wake.set)
                else:
                    parts, self._detail_dirty = self._detail_dirty, set()
                    await self._load_detail(self._watched, parts)
            if self._list_wanted:
                self._reread_list_when_due()
            await asyncio.sleep(self.timing.coalesce_interval)

    def _reread_list_when_due(self) -> None:
        """Read the list again for the deployments events named past the unknown-reads allowance, once for
        all of them and at most once per ``unknown_list_gap`` (a list read in progress is waited for: its
        end wakes the refetcher); with one wake-up for when it is due."""
        if self.pages_loading:
            return
        wait = self.timing.unknown_list_gap - (time.monotonic() - self._list_read_at)
        if wait > 0:
            if self._list_wake is None:
                self._list_wake = asyncio.get_running_loop().call_later(wait, self._list_due)
            return
        self._list_wanted = False
        self._background(self._reread_list(), "live-list-reread")

    def _list_due(self) -> None:
        self._list_wake = None
        self._wake.set()

    async def _reread_list(self) -> None:
        try:
            with background_reads():
                await self.load_all(refresh_detail=False)
        except BudgetReserved:
            self._list_wanted = True  # again once the gap has passed
            self._wake.set()
        except ShipdeckError as exc:
            self._pending.problems.append(f"could not re-read the list: {exc}")

    def _due_rereads(self) -> set[str]:
        """The dirty deployments whose last re-read is at least ``reread_min_gap`` old (taken out of the dirty
        set, their re-read time set to now); the others stay dirty, with one wake-up for the first due."""
        now = time.monotonic()
        gap = self.timing.reread_min_gap
        last = self._reread_at
        if len(last) > 64:
            self._reread_at = last = {dep_id: at for dep_id, at in last.items() if now - at < gap}
        due: set[str] = set()
        waiting: set[str] = set()
        first_due = gap
        for dep_id in self._dirty:
            at = last.get(dep_id)
            if dep_id in self._reread_urgent:
                due.add(dep_id)  # the user's own change: read at once, and it starts no gap
            elif at is None or now - at >= gap:
                due.add(dep_id)
                last[dep_id] = now
            else:
                waiting.add(dep_id)
                first_due = min(first_due, gap - (now - at))
        self._dirty = waiting
        self._reread_urgent.clear()
        if waiting and self._reread_wake is None:
            self._reread_wake = asyncio.get_running_loop().call_later(first_due, self._reread_due)
        return due

    def _reread_due(self) -> None:
        self._reread_wake = None
        self._wake.set()

    async def _refetch_one(self, dep_id: str, limit: asyncio.Semaphore) -> None:
        async with limit:
            try:
                dep = await self.adapter.get_deployment(dep_id)
            except NotFound:
                if self.deployments.pop(dep_id, None) is not None:
                    self._pending.removed.add(dep_id)
                return
            except BudgetReserved:
                self._dirty.add(dep_id)
                self._wake.set()
                return
            except ShipdeckError as exc:
                self._pending.problems.append(f"could not re-read {dep_id}: {exc}")
                self._dirty.add(dep_id)
                return
            await self._number_active_version(dep)
        self._store(dep, if_changed=True)

    async def _number_active_version(self, dep: Deployment) -> None:
        """Learn the number of a re-read deployment's new active version when nothing taught it yet (one
        read, once per row and version): a change made elsewhere (a rollback from another shell) names the
        new active version by id only, and a row not under the cursor said '-' for it until the next health
        read, a minute later or more. Read before the row is stored, so that it never shows '-' first."""
        version_id = dep.active_version_id
        if dep.active_version_number is not None or not version_id or version_id in self._version_numbers:
            return
        kept = self.deployments.get(dep.id)
        if kept is not None and kept.active_version_id == version_id:
            return  # not a new version: what teaches the others' numbers teaches this one's
        key = (dep.id, version_id)
        if key in self._numbers_looked_up:
            return
        self._numbers_looked_up.add(key)
        try:
            version = await self.adapter.get_version(dep.id, version_id)
        except BudgetReserved:
            self._numbers_looked_up.discard(key)  # the next re-read tries again
            return
        except ShipdeckError:
            return  # the row shows '-' as before; the health reads may still teach it
        if version.number is not None:
            self._version_numbers[version_id] = version.number

    async def _load_detail(self, dep_id: str, wanted: set[str] | None = None) -> None:
        """Read the detail's ``wanted`` parts (default: all); the others are kept from the last read."""
        detail = DeploymentDetail(dep_id)
        versions_just_read: list[Version] | None = None

        async def newest_versions() -> list[Version]:
            nonlocal versions_just_read
            versions, detail.versions_total = await self.adapter.newest_versions(
                dep_id, keep=MAX_VERSIONS_KEPT
            )
            versions_just_read = versions
            return versions

        async def runs() -> list[PipelineRun]:
            # Read after the versions in the same pass: a provider whose runs are made of versions
            # takes these rather than reading them again (one request less per detail read).
            return await self.adapter.list_pipeline_runs(dep_id, versions=versions_just_read)

        async def domains() -> list[Domain]:
            listed = await self.adapter.list_domains(dep_id)
            detail.domains_total = len(listed)
            return listed[:MAX_LIST_KEPT]

        async def env() -> list[EnvVar]:
            listed = await self.adapter.list_env(dep_id)
            detail.env_total = len(listed)
            return listed[:MAX_LIST_KEPT]

        parts: dict[str, Any] = {
            "versions": newest_versions,
            "runs": runs,
            "domains": domains,
            "env": env,
        }
        previous = self.detail if self.detail and self.detail.deployment_id == dep_id else None
        if previous is not None and wanted is not None:
            for part in DETAIL_PARTS - wanted:
                setattr(detail, part, getattr(previous, part))
                if hasattr(previous, f"{part}_total"):
                    setattr(detail, f"{part}_total", getattr(previous, f"{part}_total"))
                if part in previous.unavailable:
                    detail.unavailable[part] = previous.unavailable[part]
            parts = {part: read for part, read in parts.items() if part in wanted}
        for part, read in parts.items():
            try:
                setattr(detail, part, await read())
            except UnsupportedAction as exc:
                detail.unavailable[part] = exc.message
            except BudgetReserved:
                # Keep what we had; try again soon.
                setattr(detail, part, getattr(previous, part, None) if previous else None)
                self._detail_dirty.add(part)
            except ShipdeckError as exc:
                setattr(detail, part, getattr(previous, part, None) if previous else None)
                detail.unavailable[part] = f"could not read {part}: {exc}"
        if self._watched != dep_id:
            return  # the user moved on while we read
        detail.loaded_at = self.clock()
        if detail.runs is not None:
            detail.runs = self._timed_stages(detail.runs, detail.loaded_at)
        self._learn_version_number(dep_id, detail.versions or [])
        if previous is not None and previous.pipeline_running and not detail.pipeline_running:
            # The run ended: its row (which may still say building, or serve the old version) is read
            # with it, so that the row and the Pipeline tab say the same, not a poll apart.
            self.mark_dirty(dep_id, detail=False)
        self.detail = detail
        self._detail_read_at = time.monotonic()
        self._detail_loaded.set()
        self._heard()
        self._pending.detail_changed = True
        if detail.pipeline_running:
            streaming = self.connection is ConnectionState.LIVE and not self.polling
            interval = (
                self.timing.pipeline_poll_interval_streaming
                if streaming
                else self.timing.pipeline_poll_interval
            )
            asyncio.get_running_loop().call_later(interval, self._repoll_pipeline, dep_id)

    def _timed_stages(self, runs: list[PipelineRun], now: datetime) -> list[PipelineRun]:
        """Stage times the provider did not give, as observed: a run's first stage starts with the run;
        a stage seen running started no later than when we first saw it, and ended when we saw it stop.
        A stage that was already over when we first looked stays untimed rather than guessed."""
        seen: dict[tuple[str, str], tuple[datetime | None, datetime | None]] = {}
        timed: list[PipelineRun] = []
        for run in runs:
            stages = []
            for index, stage in enumerate(run.stages):
                key = (run.id, stage.name)
                started, finished = self._stage_seen.get(key, (None, None))
                running = stage.state == "running"
                if running and started is None:
                    started = run.created_at if index == 0 and run.created_at else now
                if not running and started is not None and finished is None:
                    finished = now
                seen[key] = (started, finished)
                stages.append(
                    stage.model_copy(
                        update={
                            "started_at": stage.started_at or started,
                            "finished_at": stage.finished_at or finished,
                        }
                    )
                )
            timed.append(run.model_copy(update={"stages": stages}))
        self._stage_seen = seen  # only the runs shown now: bounded
        return timed

    def _background(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fill_version_numbers(self) -> None:
        """Learn 'v12' for the rows on screen whose API answer names the active version only by id, when
        nothing else teaches it: no health is read, and the row is not the watched one (its detail reads its
        versions). Never while pages arrive; each (row, active version) once."""
        while True:
            await self._numbers_wake.wait()
            self._numbers_wake.clear()
            if self.pages_loading or (self.health is not None and self.health.unavailable is None):
                continue  # load_all wakes this again when the list is in
            for dep_id in list(self._on_screen):
                known = self.deployments.get(dep_id)
                if (
                    known is None
                    or known.active_version_id is None
                    or known.active_version_number is not None
                    or dep_id == self._watched
                ):
                    continue
                key = (dep_id, known.active_version_id)
                if key in self._numbers_looked_up:
                    continue
                self._numbers_looked_up.add(key)
                try:
                    with background_reads():
                        page = await self.adapter.list_versions(dep_id, limit=20)
                except BudgetReserved as exc:
                    self._numbers_looked_up.discard(key)
                    await asyncio.sleep(max(exc.retry_in, 1.0))
                    self._numbers_wake.set()
                    break
                except ShipdeckError:
                    continue
                self._learn_version_number(dep_id, page.items)

    def _learn_version_number(self, dep_id: str, versions: list[Version]) -> None:
        self._version_numbers.update((v.id, v.number) for v in versions if v.number is not None)
        dep = self.deployments.get(dep_id)
        if dep is not None and dep.active_version_number is None:
            self._store(dep, if_changed=True)

    def _store(self, dep: Deployment, *, if_changed: bool = False) -> None:
        """Keep a deployment, with its active version's number filled in when we know it. ``if_changed``
        (a re-read): when it equals what is kept, nothing is stored and no change is published (a busy
        tail re-reads the shown deployment every second, and the screens repainted it each time)."""
        number = self._version_numbers.get(dep.active_version_id or "")
        if dep.active_version_number is None and number is not None:
            dep = dep.model_copy(update={"active_version_number": number})
        kept = _without_extras(dep)
        if self.polling and kept.health is Health.PROGRESS:
            self._reread_in_progress(dep.id)
        old = self.deployments.get(dep.id)
        if if_changed and old == kept:
            return
        if old is not None and dep.id == self._watched and old.active_version_id != kept.active_version_id:
            # Another version went live under the watched row: its versions are read again. A polled
            # provider (Mixpeek) sends no event for it, and after a publish the Versions tab lacked the new
            # version while the row ran it, and the rollback dialog said "current: (none)".
            self._detail_dirty |= {"versions", "runs"}
            self._wake.set()
        self.deployments[dep.id] = kept
        self._stores += 1
        self._pending.changed.add(dep.id)

    def _reread_in_progress(self, dep_id: str) -> None:
        """While polled, a row in progress (building, deploying) is re-read every pipeline_poll_interval
        until it is not, watched or not: nothing else tells it ended, and the list's poll may be a minute
        away (a Mixpeek row said 'building' with the old version for that long after its deploy was live)."""
        if dep_id in self._progress_rereads or len(self._progress_rereads) >= PROGRESS_REREADS_MAX:
            return  # a few at a time: a polled account of many building rows must not spend its budget here
        self._progress_rereads.add(dep_id)

        def due() -> None:
            self._progress_rereads.discard(dep_id)
            kept = self.deployments.get(dep_id)
            if not self._stopped and kept is not None and kept.health is Health.PROGRESS:
                self._dirty.add(dep_id)
                self._wake.set()

        asyncio.get_running_loop().call_later(self.timing.pipeline_poll_interval, due)

    def _repoll_pipeline(self, dep_id: str) -> None:
        if not self._stopped and self._watched == dep_id:
            if self.connection is not ConnectionState.LIVE or self.polling:
                self._dirty.add(dep_id)  # with a live stream the deployment's changes come as events
            self._detail_dirty.add("runs")
            self._wake.set()

    @property
    def _pending(self) -> ChangeBatch:
        """The batch being gathered; whoever takes it to add a change wakes the publisher."""
        self._batch_touched.set()
        return self._batch

    async def _publisher(self) -> None:
        # The first change of a batch starts its interval; what comes meanwhile joins it.
        while True:
            await self._batch_touched.wait()
            await asyncio.sleep(self.timing.coalesce_interval)
            self._publish_now()

    def _publish_now(self) -> None:
        """Publish what was gathered (at once when called outside the publisher's interval)."""
        self._batch_touched.clear()
        batch, self._batch = self._batch, ChangeBatch()
        if batch:
            self.publish(batch)

    def publish(self, batch: ChangeBatch) -> None:
        for subscriber in list(self._subscribers):
            subscriber(batch)

    async def _staleness(self) -> None:
        """Notice a connection that went quiet: the push stream reconnects silently, so after
        ``stale_after`` seconds without a word a cheap read checks the server. A failed check makes the
        state *reconnecting*, and *stale* once it has been down for ``stale_after`` seconds."""
        # A check that finds the server well while nothing happens doubles the silence before the next one
        # (up to stale_check_max), so an idle account is not read every 15 s for nothing; news resets it.
        stale_after = self.timing.stale_after
        quiet_for = stale_after
        checked_at: datetime | None = None
        floor = min(1.0, stale_after / 2)
        wait = floor
        while True:
            await asyncio.sleep(wait)
            wait = floor
            if self.last_heard != checked_at:
                quiet_for = stale_after
            age = self.data_age()
            if self.pages_loading or age is None:
                continue
            if age < quiet_for:
                # Nothing is due before the silence reaches quiet_for (news only makes the data younger):
                # sleep until then rather than wake every second for nothing, but at most stale_after / 2,
                # so that news which shortens quiet_for again is not acted on later than that.
                wait = max(floor, min(quiet_for - age, stale_after / 2))
                continue
            health = self.adapter.stream_health
            if health is not None and health.down_since is not None:
                continue  # the stream is known down: the poller reads (and hears) the server instead
            try:
                with background_reads():
                    await self.adapter.list_deployments(limit=1)
            except BudgetReserved:
                continue
            except ShipdeckError as exc:
                quiet_for = stale_after
                self._read_failed(exc)
                continue
            self._heard()
            checked_at = self.last_heard
            if self.connection is ConnectionState.LIVE:
                quiet_for = min(quiet_for * 2, self.timing.stale_check_max)
            else:
                # Back: re-read what may have changed while we could not hear the server.
                self._set_connection(ConnectionState.LIVE, "")
                with contextlib.suppress(ShipdeckError):
                    await self.load_all()

    # -- helpers -----------------------------------------------------------------------------------------
    def _heard(self) -> None:
        self.last_heard = self.clock()

    def _since_lost(self) -> float:
        loop = asyncio.get_running_loop()
        return loop.time() - (self._lost_at or loop.time())

    def _read_failed(self, exc: ShipdeckError) -> None:
        """A background read failed: *reconnecting* at first, *stale* once down for ``stale_after``."""
        state = self.connection
        if state is ConnectionState.LIVE:
            state = ConnectionState.RECONNECTING
        elif self._since_lost() >= self.timing.stale_after:
            state = ConnectionState.STALE
        self._connection_failed(state, exc)

    def _connection_failed(self, state: ConnectionState, exc: ShipdeckError) -> None:
        """Down because of ``exc``: the header says so, and a problem says why, once per reason per outage
        (retries that fail the same ways say nothing new)."""
        reason = str(exc)
        self._failures += 1
        self._set_connection(state, reason)
        if reason not in self._reported_failures:
            self._reported_failures.add(reason)
            self._pending.problems.append(reason)

    def _set_connection(self, state: ConnectionState, note: str) -> None:
        if state is ConnectionState.LIVE:
            self._lost_at = None
            self._reported_failures.clear()
        elif self._lost_at is None:
            self._lost_at = asyncio.get_running_loop().time()
        if state is self.connection and note == self.connection_note:
            return
        self.connection = state
        self.connection_note = note
        self._pending.connection_changed = True
        self._wake.set()

    def find(self, text: str) -> Deployment | None:
        """A deployment by id, name or slug (exact), for the command palette and tests."""
        if text in self.deployments:
            return self.deployments[text]
        return next((d for d in self.deployments.values() if text in (d.name, d.slug)), None)

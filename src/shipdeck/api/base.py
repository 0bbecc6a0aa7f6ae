"""The adapter interface: one implementation per provider, all speaking the models of :mod:`shipdeck.model`.

Callers (``shipdeck.live``, the scriptable commands) use only this interface. Mutations take an
``idempotency_key``; the caller creates it once (it goes into the audit log's intent line) and the adapter
sends that same key on every retry. Actions a provider does not have raise :class:`UnsupportedAction`;
``capabilities`` says so beforehand.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from shipdeck.api.errors import ProtocolError, UnsupportedAction
from shipdeck.api.parsing import optional_int
from shipdeck.model import (
    Agent,
    Build,
    Capabilities,
    Capability,
    Deliverable,
    Deployment,
    Domain,
    EnvVar,
    Event,
    LogLine,
    Page,
    PipelineRun,
    ProviderName,
    PublishRequest,
    PublishResult,
    Release,
    RuntimeInstance,
    Task,
    Version,
)
from shipdeck.model.service_health import HealthDetail, ServiceHealth

# A list is read in at most this many pages (200,000 rows at 200 a page): past it, the server is taken to
# be paging forever, as it is when it hands back a cursor it already gave.
MAX_PAGES = 1000
# Turns of the event loop a page read ahead is given before the reader gets the page in hand: httpx (on
# anyio) writes a request on a kept-alive connection in its fourth turn, and the reader's work on a page
# does not yield, so a read given one turn went out only after that work was done.
PREFETCH_TURNS = 6

T = TypeVar("T")


def _newest_first(version: Version) -> tuple[int, float]:
    return (
        version.number if version.number is not None else -1,
        version.created_at.timestamp() if version.created_at else 0.0,
    )


def keep_newest(kept: list[Version], more: list[Version], keep: int) -> list[Version]:
    """The newest ``keep`` of ``kept`` and ``more`` (by number, then creation time), newest first."""
    return heapq.nlargest(keep, [*kept, *more], key=_newest_first)


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


def _row_id(item: object) -> str | None:
    """A listed row's id (a model's ``id``, a raw object's ``"id"``), None where it has none to tell by."""
    value = item.get("id") if isinstance(item, Mapping) else getattr(item, "id", None)
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


class PageCursors:
    """The cursors one paging loop has followed: a repeated cursor, a page of only rows already given, or
    too many pages end it with a ProtocolError, instead of requests sent forever."""

    def __init__(self, provider: str, what: str) -> None:
        self.provider = provider
        self.what = what
        self.seen: set[str] = set()
        self.ids: set[str | None] = set()

    def follow(self, next_cursor: str | None, items: Sequence[object] = ()) -> str | None:
        """The cursor of the next page (None: that was the last one); ``items``: the rows of the page it
        came with. A page of rows that all have ids, every one given by an earlier page, ends the list: a
        server that hands the same rows back under a new cursor each time would be paged MAX_PAGES times."""
        ids = [_row_id(item) for item in items]
        known = bool(ids) and None not in ids
        repeats = known and bool(self.ids) and self.ids.issuperset(ids)
        if known:
            self.ids.update(ids)
        if not next_cursor:
            return None
        pages = len(self.seen) + 1
        if next_cursor in self.seen:
            raise ProtocolError(
                f"{self.provider.capitalize()} {self.what}: the server gave the same page cursor twice "
                f"(after {pages} pages), so the list would never end; stopped paging"
            )
        if repeats:
            raise ProtocolError(
                f"{self.provider.capitalize()} {self.what}: page {pages} holds only rows earlier pages gave "
                "(under a new cursor), so the list would never end; stopped paging"
            )
        if pages >= MAX_PAGES:
            raise ProtocolError(
                f"{self.provider.capitalize()} {self.what}: more than {MAX_PAGES} pages, so the list may "
                "never end; stopped paging"
            )
        self.seen.add(next_cursor)
        return next_cursor


async def follow_pages(
    fetch: Callable[[str | None], Awaitable[Page[T]]], *, provider: str, what: str, prefetch: bool = False
) -> AsyncGenerator[Page[T], None]:
    """Every page of a list, first to last: ``fetch(cursor)`` reads one (None: the first). The one paging
    loop of the client: it ends on the last page, and with a ProtocolError on a repeated cursor, on a page
    of only rows already given, or past MAX_PAGES (see :class:`PageCursors`). Offset lists page the same
    way, their cursor being the offset.

    ``prefetch``: the next page is asked for before this one is handed over, so the server reads it while
    the reader keeps this one (a 50,000-row list is 250 pages, each waited for in turn otherwise). Still
    one request at a time, and no page more than without it; a reader that may stop early closes the
    iterator (``contextlib.aclosing``), which cancels the read in flight."""
    cursors = PageCursors(provider, what)
    ahead: asyncio.Future[Page[T]] | None = None
    try:
        page = await fetch(None)
        while True:
            try:
                cursor = cursors.follow(page.next_cursor, page.items)
            except ProtocolError:
                yield page  # the pages before the bad cursor are the reader's, as they always were
                raise
            if cursor is not None and prefetch:
                ahead = asyncio.ensure_future(fetch(cursor))
                for _ in range(PREFETCH_TURNS):  # the request goes out before the reader takes its turn
                    await asyncio.sleep(0)
            yield page
            if cursor is None:
                return
            if ahead is not None:
                page, ahead = await ahead, None
            else:
                page = await fetch(cursor)
    finally:
        if ahead is not None:
            ahead.cancel()


def offset_of(cursor: str | None, *, provider: str) -> int:
    """The offset an offset-paged list's cursor stands for (None: the start)."""
    if cursor is None:
        return 0
    offset = optional_int(cursor)
    if offset is None or offset < 0:
        raise ProtocolError(f"{provider.capitalize()} page cursor {cursor[:40]!r} is not an offset")
    return offset


def next_offset(
    offset: int, count: int, *, limit: int, total: int | None = None, has_more: object = None
) -> str | None:
    """The cursor after a page of ``count`` items read at ``offset``, or None after the last: by the
    server's ``total`` when it gives one, else its ``has_more`` flag, else "a full page means more"."""
    end = offset + count
    if total is not None:
        more = end < total
    elif isinstance(has_more, bool):
        more = has_more
    else:
        more = count >= limit
    return str(end) if more and count else None


@dataclass
class StreamHealth:
    """Whether the event stream is connected, for its consumer: the iterator itself keeps reconnecting
    without a word, so a consumer that wants to do something else meanwhile (poll) reads this."""

    # time.monotonic() of the first failed connection since the stream last delivered; None: delivering.
    down_since: float | None = None
    reason: str = ""
    # Its last failure was what it sent (a frame that is not an event): until an event reads, a connection
    # proves nothing. A bad frame each connection reconnected every few seconds and said '● live' all along.
    content_failed: bool = False

    def connected(self) -> None:
        """The connection opened: up (a quiet account may send no event for minutes), unless it last failed
        on its content; then only :meth:`delivered` counts it up again."""
        if not self.content_failed:
            self.down_since = None

    def delivered(self) -> None:
        """An event came and read: up."""
        self.down_since = None
        self.content_failed = False

    def failed(self, reason: str, *, content: bool, now: float) -> None:
        """A connection failed (``content``: on what it sent); down from the first failure on."""
        self.reason = reason
        self.content_failed = content
        if self.down_since is None:
            self.down_since = now


class Adapter(ABC):
    """One provider's API, mapped to the provider-neutral model."""

    provider: ProviderName
    capabilities: Capabilities
    # The health of :meth:`events`' connection (None: the adapter does not report it).
    stream_health: StreamHealth | None = None

    @property
    def sandbox_mode(self) -> bool:
        """True when the provider's token says it reaches a test mode (Miteos ``mt_test_`` keys)."""
        return False

    def _unsupported(self, action: Capability) -> UnsupportedAction:
        return UnsupportedAction(self.capabilities.why_not(action))

    # -- lifecycle --------------------------------------------------------------------------------------
    @abstractmethod
    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Adapter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- deployments ------------------------------------------------------------------------------------
    @abstractmethod
    async def list_deployments(self, *, cursor: str | None = None, limit: int = 100) -> Page[Deployment]: ...

    async def list_deployment_rows(self, *, cursor: str | None = None, limit: int = 100) -> Page[Deployment]:
        """A page of deployments for a reader that keeps no provider extras (the live state's list): an
        adapter may build these without them, which is cheaper; by default the same as list_deployments."""
        return await self.list_deployments(cursor=cursor, limit=limit)

    async def iter_deployment_pages(
        self, *, limit: int = 200, extras: bool = True, prefetch: bool = False
    ) -> AsyncGenerator[list[Deployment], None]:
        """Every deployment, one page at a time (the console paints the first page at once); ``extras``
        False: the provider's undeclared fields may be left out (see :meth:`list_deployment_rows`);
        ``prefetch``: the next page is read while the caller keeps this one (see :func:`follow_pages`)."""

        async def fetch(cursor: str | None) -> Page[Deployment]:
            if extras:
                return await self.list_deployments(cursor=cursor, limit=limit)
            return await self.list_deployment_rows(cursor=cursor, limit=limit)

        pages = follow_pages(fetch, provider=self.provider, what="deployments", prefetch=prefetch)
        async with contextlib.aclosing(pages):
            async for page in pages:
                yield page.items

    @abstractmethod
    async def get_deployment(self, deployment_id: str) -> Deployment: ...

    async def resolve_deployment(self, ref: str) -> Deployment:
        """An id, a name or a slug -> the deployment (NotFound otherwise). Adapters may do better."""
        from shipdeck.api.errors import NotFound

        try:
            return await self.get_deployment(ref)
        except NotFound:
            pass
        async for page in self.iter_deployment_pages():
            for dep in page:
                if ref in (dep.name, dep.slug):
                    return dep
        raise NotFound(f"no deployment named {ref!r}", status=404, provider=self.provider)

    async def create_deployment(
        self, workspace_id: str, target: str, config_id: str, *, idempotency_key: str | None = None
    ) -> Deployment:
        """A new deployment of a workspace's build to a hosting target (Capability.DEPLOY)."""
        raise self._unsupported(Capability.DEPLOY)

    async def last_config(self, workspace_id: str, target: str) -> str | None:
        """The deploy configuration of the workspace's latest deployment to ``target`` (to redo it)."""
        raise self._unsupported(Capability.DEPLOY)

    async def update_deployment(
        self, deployment_id: str, fields: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Deployment:
        raise self._unsupported(Capability.UPDATE)

    async def delete_deployment(self, deployment_id: str, *, idempotency_key: str | None = None) -> None:
        raise self._unsupported(Capability.DELETE)

    # -- versions, releases, builds ---------------------------------------------------------------------
    async def list_versions(
        self, deployment_id: str, *, cursor: str | None = None, limit: int = 100
    ) -> Page[Version]:
        raise self._unsupported(Capability.VERSIONS)

    async def all_versions(self, deployment_id: str) -> list[Version]:
        out: list[Version] = []
        async for page in self._version_pages(deployment_id):
            out.extend(page.items)
        return out

    async def newest_versions(self, deployment_id: str, *, keep: int) -> tuple[list[Version], int]:
        """The newest ``keep`` versions (by number, then creation time) and how many there are in all.

        Pages through them all as :meth:`all_versions` does, but holds no more than ``keep`` (plus one page)
        at any time: 100,000 versions must not all be kept to show the newest few hundred."""
        kept: list[Version] = []
        total = 0
        async for page in self._version_pages(deployment_id):
            total += len(page.items)
            kept = keep_newest(kept, page.items, keep)
            await asyncio.sleep(0)  # a page at a time: the console answers keys in between
        return kept, total

    def _version_pages(self, deployment_id: str) -> AsyncIterator[Page[Version]]:
        async def fetch(cursor: str | None) -> Page[Version]:
            return await self.list_versions(deployment_id, cursor=cursor, limit=200)

        return follow_pages(fetch, provider=self.provider, what="versions")

    async def get_version(self, deployment_id: str, version_id: str) -> Version:
        raise self._unsupported(Capability.VERSIONS)

    async def list_releases(self, deployment_id: str) -> list[Release]:
        raise self._unsupported(Capability.RELEASES)

    async def list_builds(self, deployment_id: str) -> list[Build]:
        raise self._unsupported(Capability.BUILDS)

    async def get_build(self, deployment_id: str, build_id: str) -> Build:
        raise self._unsupported(Capability.BUILDS)

    async def list_pipeline_runs(
        self, deployment_id: str, *, versions: Sequence[Version] | None = None
    ) -> list[PipelineRun]:
        """The deployment's pipeline runs, newest first (Miosa: version builds; Miteos: the deployment).

        ``versions``: the deployment's newest versions when the caller has just read them (the detail
        reads versions and runs together); a provider whose runs are made of versions uses them instead
        of reading them again. None: it reads what it needs."""
        return []

    # -- actions ----------------------------------------------------------------------------------------
    async def rollback(
        self,
        deployment_id: str,
        *,
        to_version_id: str | None = None,
        environment: str | None = None,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> Deployment:
        raise self._unsupported(Capability.ROLLBACK)

    async def promote(
        self,
        deployment_id: str,
        version_id: str,
        *,
        environment: str | None = None,
        idempotency_key: str | None = None,
    ) -> Deployment:
        raise self._unsupported(Capability.PROMOTE)

    async def publish(
        self, deployment_id: str, request: PublishRequest, *, idempotency_key: str | None = None
    ) -> PublishResult:
        raise self._unsupported(Capability.PUBLISH)

    async def redeploy(self, deployment_id: str, *, idempotency_key: str | None = None) -> PipelineRun | None:
        """Rebuild the active version: the new build's run, or None when the provider's answer does not
        tell which run that is (started, its run unknown; never an earlier run in its place)."""
        raise self._unsupported(Capability.REDEPLOY)

    async def stop(self, deployment_id: str, *, idempotency_key: str | None = None) -> Deployment:
        """Take a published deployment off the air (its versions stay; promote puts it back)."""
        raise self._unsupported(Capability.STOP)

    async def promote_release(
        self, deployment_id: str, release_id: str, *, idempotency_key: str | None = None
    ) -> Deployment:
        raise self._unsupported(Capability.RELEASE_PROMOTE)

    # -- runtime ----------------------------------------------------------------------------------------
    async def list_runtime_instances(self, deployment_id: str) -> list[RuntimeInstance]:
        raise self._unsupported(Capability.RUNTIME_LOGS)

    async def recent_runtime_logs(
        self, deployment_id: str, *, instance_id: str | None, hours: int, level: str | None, limit: int
    ) -> list[LogLine]:
        """The runtime log's recent lines, oldest first (``shipdeck logs``): of one instance (default: the
        first) where the provider has instances, of the last ``hours`` where it keeps the log by time."""
        raise self._unsupported(Capability.RUNTIME_LOGS)

    def request_logs(self, deployment_id: str) -> AsyncIterator[LogLine]:
        """The served requests, oldest first, then each new one as it is logged (polled), as log lines."""
        raise self._unsupported(Capability.REQUEST_LOGS)

    def runtime_logs(self, deployment_id: str, instance_id: str) -> AsyncIterator[LogLine]:
        """One instance's runtime log, tailed (the last lines, then what each poll adds)."""
        raise self._unsupported(Capability.RUNTIME_LOGS)

    # -- domains ----------------------------------------------------------------------------------------
    async def list_domains(self, deployment_id: str) -> list[Domain]:
        raise self._unsupported(Capability.DOMAINS)

    async def add_domain(
        self, deployment_id: str, domain: str, *, idempotency_key: str | None = None
    ) -> Domain:
        raise self._unsupported(Capability.DOMAINS)

    async def verify_domain(
        self, deployment_id: str, domain_id: str, *, idempotency_key: str | None = None
    ) -> Domain:
        raise self._unsupported(Capability.DOMAINS)

    async def remove_domain(
        self, deployment_id: str, domain_id: str, *, idempotency_key: str | None = None
    ) -> None:
        raise self._unsupported(Capability.DOMAINS)

    # -- env --------------------------------------------------------------------------------------------
    async def list_env(self, deployment_id: str, *, environment: str = "production") -> list[EnvVar]:
        raise self._unsupported(Capability.ENV)

    async def set_env(
        self,
        deployment_id: str,
        values: Mapping[str, str],
        *,
        environment: str = "production",
        idempotency_key: str | None = None,
    ) -> list[EnvVar]:
        raise self._unsupported(Capability.ENV)

    async def unset_env(
        self,
        deployment_id: str,
        key: str,
        *,
        environment: str = "production",
        idempotency_key: str | None = None,
    ) -> None:
        raise self._unsupported(Capability.ENV)

    # -- tasks and agents (Miteos) ----------------------------------------------------------------------
    async def list_tasks(self, *, status: str | None = None, limit: int = 50, offset: int = 0) -> Page[Task]:
        raise self._unsupported(Capability.TASKS)

    async def get_task(self, task_id: str) -> Task:
        raise self._unsupported(Capability.TASKS)

    async def create_task(
        self, prompt: str, *, config: Mapping[str, Any] | None = None, idempotency_key: str | None = None
    ) -> Task:
        raise self._unsupported(Capability.TASKS)

    async def cancel_task(self, task_id: str, *, idempotency_key: str | None = None) -> Task:
        raise self._unsupported(Capability.TASKS)

    async def list_deliverables(self, task_id: str) -> list[Deliverable]:
        raise self._unsupported(Capability.TASKS)

    async def pause_agent(self, agent_id: str, *, idempotency_key: str | None = None) -> Agent:
        raise self._unsupported(Capability.TASKS)

    async def resume_agent(self, agent_id: str, *, idempotency_key: str | None = None) -> Agent:
        raise self._unsupported(Capability.TASKS)

    async def guide_agent(
        self, agent_id: str, instructions: str, *, idempotency_key: str | None = None
    ) -> Agent:
        raise self._unsupported(Capability.TASKS)

    async def cancel_agent(self, agent_id: str, *, idempotency_key: str | None = None) -> Agent:
        raise self._unsupported(Capability.TASKS)

    async def answer_approval(
        self,
        agent_id: str,
        approval_id: str,
        *,
        approved: bool,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> Agent:
        raise self._unsupported(Capability.TASKS)

    # -- service health (Miosa, Mixpeek) -----------------------------------------------------------------
    async def get_health(self, deployment_id: str) -> ServiceHealth | None:
        """The current error rate and latencies (None: the provider measures nothing for this row)."""
        raise self._unsupported(Capability.HEALTH)

    async def get_health_detail(self, deployment_id: str, *, span: str = "1h") -> HealthDetail | None:
        """Figures with their trend over ``span`` (1h or 24h), the top routes and the latest failures."""
        raise self._unsupported(Capability.HEALTH)

    # -- streams ----------------------------------------------------------------------------------------
    def events(self, *, after: str | int | None = None) -> AsyncIterator[Event]:
        """Every event from the provider's push stream, in order, no duplicates, reconnecting by itself.

        Raises StreamResyncRequired (from the iterator) when the server cannot replay from ``after``, or
        when its sequence goes backwards (:func:`~shipdeck.api.streams.resilient_stream`); the caller
        re-reads state over REST and starts a new iterator with ``after=None``.
        """
        raise self._unsupported(Capability.EVENT_STREAM)

    def deployment_logs(self, deployment_id: str) -> AsyncIterator[LogLine]:
        raise self._unsupported(Capability.DEPLOYMENT_LOGS)

    def build_logs(self, deployment_id: str, build_id: str) -> AsyncIterator[LogLine]:
        raise self._unsupported(Capability.BUILD_LOGS)

    # -- budget -----------------------------------------------------------------------------------------
    @property
    def rate_limit_remaining(self) -> int | None:
        """Requests left in the current window, as the server last said (None: unknown)."""
        return None

    @property
    def rate_limit_limit(self) -> int | None:
        return None

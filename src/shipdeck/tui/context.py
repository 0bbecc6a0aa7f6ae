"""One profile's live connection in the console: its adapter, its reads, its write path and its live state.

A :class:`ProfileContext` is what a screen is built on: the main screen shows one, the fleet screen shows
every one. Screens subscribe to its :class:`~shipdeck.live.state.LiveState` themselves, read what the live
state does not keep through its :class:`~shipdeck.live.reads.Reads` and send changes through its
:class:`~shipdeck.live.session.ChangeSession`: never through the adapter. The App holds a
:class:`ProfileContexts` registry: a context is created when a screen first needs it, stays warm (its live
state running) for ``warm_for`` seconds after the last screen showing it went away, and is closed on quit.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any

from shipdeck.api.base import Adapter
from shipdeck.api.errors import ShipdeckError
from shipdeck.config.audit import AuditLog, server_origin
from shipdeck.config.open_changes import OpenChanges
from shipdeck.config.profile import Profile
from shipdeck.live.health import follow_health, health_before
from shipdeck.live.plans import ChangePlan
from shipdeck.live.publish_memory import PublishMemory
from shipdeck.live.reads import Reads
from shipdeck.live.references import display_name
from shipdeck.live.session import ChangeSession
from shipdeck.live.state import Clock, ConnectionState, LiveState
from shipdeck.live.timing import Timing
from shipdeck.model import Capability, Deployment, Health, PipelineRun, Version, health_of
from shipdeck.tui.text import literal

if TYPE_CHECKING:
    from pathlib import Path

    from textual.screen import Screen
    from textual.worker import Worker

    from shipdeck.config.console_options import ConsoleOptions

# A context nobody looks at stays connected this long (seconds), so that switching back is instant.
WARM_FOR = 300.0
# Ticks (seconds) between two read-backs of the changes whose outcome is unknown and that wait for the user.
WAITING_CHECK_EVERY = 10
# Ticks between looks at the changes other runs left open (a small file, read anew).
LEFT_OPEN_EVERY = 5
# A published version is followed to its end (live or failed) for at most this long, for its toast.
FOLLOW_PUBLISH_FOR = 900.0
# Seconds between two toasts of the client's progress notices (the header shows the connection meanwhile).
NOTICE_INTERVAL = 10.0

# What the App lends a context: a worker runner (coroutine, group, name) and notify (message, **options).
RunWorker = Callable[[Coroutine[Any, Any, None], str, str], "Worker[None]"]
Notify = Callable[..., None]


class ProfileContext:
    """One profile: adapter, reads, change session, live state, publish memory, and its Tasks side."""

    def __init__(
        self,
        profile: Profile,
        adapter: Adapter,
        *,
        owns_adapter: bool,
        make_adapter: Callable[[Profile], Adapter],
        audit_path: Path | None,
        clock: Clock,
        cache_path: Path | None = None,
        timing: Timing,
        run_worker: RunWorker,
        notify: Notify,
        alert: Callable[[str, str], None] | None = None,
    ) -> None:
        """``alert(title, body)``: a watched build or rollback finished (the app's bell or desktop notice)."""
        self.profile = profile
        self.adapter = adapter
        self.clock = clock
        self._owns_adapter = owns_adapter
        self._make_adapter = make_adapter
        self._audit_path = audit_path
        self._run_worker = run_worker
        self._notify = notify
        self._alert = alert or (lambda title, body: None)
        self._status_listeners: list[Callable[[], None]] = []
        self.session = self._session_for(profile, adapter)
        # What screens read on demand (domains, env, logs, raw bodies...): they never get the adapter.
        self.reads = Reads(adapter)
        self.live = LiveState(adapter, clock=clock, timing=timing, cache_path=cache_path, read_health=True)
        self.publish_memory = PublishMemory()
        # Why the live updates stopped (the live loop failed); None while they run.
        self.live_failure: str | None = None
        self.worker: Worker[None] | None = None
        self._tasks_adapter: Adapter | None = None
        self._tasks_session: ChangeSession | None = None
        self._tasks_reads: Reads | None = None
        self._viewers = 0
        self.idle_since: float | None = time.monotonic()
        self._last_notice_at = -NOTICE_INTERVAL
        self._ticks = 0
        self.closed = False

    @property
    def name(self) -> str:
        return self.profile.name

    # -- status: screens showing this profile listen, the session and the live loop tell ---------------
    def subscribe_status(self, listener: Callable[[], None]) -> Callable[[], None]:
        """``listener()`` whenever pending changes or the live loop's health change; returns unsubscribe."""
        self._status_listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._status_listeners:
                self._status_listeners.remove(listener)

        return unsubscribe

    def status_changed(self) -> None:
        for listener in list(self._status_listeners):
            listener()

    def connection_word(self) -> str:
        """'live', 'polled', 'stale', 'offline', ... for a list of profiles (the header says more)."""
        if self.live_failure is not None:
            return "stopped"
        if self.live.polling:
            return "polled"
        return str(self.live.connection)

    @property
    def current(self) -> bool:
        return self.live_failure is None and self.live.connection is ConnectionState.LIVE

    # -- lifetime ----------------------------------------------------------------------------------------
    def attach(self) -> None:
        """A screen shows this profile: keep it connected (start its live loop if it is not running)."""
        self._viewers += 1
        self.idle_since = None
        self.start()

    def detach(self) -> None:
        self._viewers = max(0, self._viewers - 1)
        if self._viewers == 0:
            self.idle_since = time.monotonic()

    def start(self) -> None:
        if self.closed or (self.worker is not None and not self.worker.is_finished):
            return
        self.live_failure = None
        # The last known list now, not in the live loop: the screen attaching paints it in its first frame.
        self.live.load_cache()
        self.worker = self._run_worker(self.live.run(), "live", "live")

    def cold(self, now: float, warm_for: float) -> bool:
        """Nobody has shown it for ``warm_for`` seconds and no change of it is open: it may be closed."""
        return self.idle_since is not None and now - self.idle_since >= warm_for and not self.session.pending

    async def close(self) -> None:
        self.closed = True
        self.live.save_cache()  # the last known list, for the next start (nothing if it did not change)
        if self.worker is not None:
            self.worker.cancel()
        for adapter in (self.adapter if self._owns_adapter else None, self._tasks_adapter):
            if adapter is not None:
                try:
                    await adapter.aclose()
                except ShipdeckError:
                    pass

    def live_stopped(self, reason: str, restart_key: str, *, say_profile: bool) -> None:
        """The live loop failed: remember why (the header says "stopped"), toast it with the restart key."""
        self.live_failure = reason
        said = f"Live updates stopped: {reason}. The data shown is frozen; {restart_key} restarts them."
        if say_profile:
            said = f"{self.name}: {said}"
        self._notify(literal(said), title="Live updates stopped", severity="error", markup=False, timeout=30)
        self.status_changed()

    def notice(self, text: str) -> None:
        """A progress line of the client ('retrying in 2 s'). These come with every retry: while the header
        already says the connection is down they are dropped, otherwise at most one per NOTICE_INTERVAL."""
        now = time.monotonic()
        if self.live.connection is not ConnectionState.LIVE or now - self._last_notice_at < NOTICE_INTERVAL:
            return
        self._last_notice_at = now
        self._notify(literal(f"{self.name}: {text}"), markup=False, timeout=4)

    def tick(self) -> None:
        """Once a second (the App's timer): read back the changes of unknown outcome now and then, and
        look for those that other runs left open (the first look says so)."""
        self._ticks += 1
        if self._ticks % LEFT_OPEN_EVERY == 1:
            found = self.session.refresh_left_open()
            if found and self._ticks == 1:
                titles = "; ".join(f"{c.target}: {c.summary}" for c in found[:3])
                more = f" and {len(found) - 3} more" if len(found) > 3 else ""
                self._notify(
                    literal(
                        f"{self.name}: {len(found)} change(s) an earlier run left with an unknown outcome "
                        f"({titles}{more}): ! lists them; asking for one again resends it with its key"
                    ),
                    title="Unknown outcomes",
                    severity="warning",
                    markup=False,
                    timeout=15,
                )
        waiting = any(i.state == "waiting" and i.plan.check for i in self.session.pending.values())
        if waiting and self._ticks % WAITING_CHECK_EVERY == 0:
            self._run_worker(self._check_waiting(), "pending-check", f"pending-check:{self.name}")

    async def _check_waiting(self) -> None:
        """Read back the changes of unknown outcome (never resends them): the settled ones are told."""
        for outcome in await self.session.check_waiting():
            self._notify(literal(outcome.message()), title=f"{outcome.plan.action}: applied", markup=False)

    # -- the write path ----------------------------------------------------------------------------------
    def _session_for(self, profile: Profile, adapter: Adapter) -> ChangeSession:
        """The write path of one profile: read-only guard, audit log, idempotency keys, pending changes."""
        audit = AuditLog(
            self._audit_path,
            profile=profile.name,
            provider=profile.provider,
            origin=server_origin(profile.base_url),
        )
        return ChangeSession(
            adapter,
            audit,
            read_only=profile.read_only,
            profile_name=profile.name,
            open_changes=OpenChanges(warn=self._state_file_warning),
            on_change=self.status_changed,
            clock=self.clock,
        )

    def _state_file_warning(self, text: str) -> None:
        self._notify(literal(text), title="State file", severity="warning", markup=False, timeout=15)

    def start_change(
        self,
        screen: Screen[Any],
        plan: ChangePlan,
        *,
        first: ChangePlan | None = None,
        on_applied: Callable[[], None] | None = None,
    ) -> None:
        """Execute a confirmed plan in the background (an App worker: it outlives a profile switch); its
        outcome always ends in one toast. ``first``: a change to make before it (holding auto-deploy); if
        that one is not applied, stop. ``on_applied``: what the screen shows next (the pipeline tab)."""
        from shipdeck.tui.screens.screen_kit import run_change

        async def run() -> None:
            if first is not None:
                held = await run_change(screen, self.session, first)
                if held is None or not held.applied:
                    return
            followed = health_before(self.live, plan)
            outcome = await run_change(screen, self.session, plan)
            if outcome is None or not outcome.applied:
                return
            if plan.action == "rollback" and plan.deployment is not None:
                self._alert("rollback done", f"{plan.deployment.name}: {plan.summary}")
            if followed:
                follow_health(self.live, self.session, outcome)
            if isinstance(outcome.result, Deployment):
                self.live.apply_deployment(outcome.result)
            if plan.deployment is not None:
                self.live.mark_dirty(plan.deployment.id)
            if on_applied is not None:
                on_applied()
            version = getattr(outcome.result, "version", None)
            started = getattr(outcome.result, "run", None)
            if plan.deployment is not None and isinstance(version, Version):
                self._run_worker(
                    self._follow_version(plan.deployment, version), "follow-publish", "follow-publish"
                )
            elif plan.deployment is not None and isinstance(started, PipelineRun):
                self._run_worker(
                    self._follow_run(plan.deployment, started), "follow-publish", "follow-publish"
                )
            elif plan.action == "deploy" and isinstance(outcome.result, Deployment):
                self._run_worker(self._follow_deployment(outcome.result), "follow-publish", "follow-publish")

        self._run_worker(run(), "actions", f"change:{self.name}")

    @staticmethod
    async def _follow(
        in_progress: Callable[[], bool],
        from_live: Callable[[], bool],
        from_api: Callable[[], Coroutine[Any, Any, None]],
    ) -> None:
        """Until ``in_progress()`` is false (or FOLLOW_PUBLISH_FOR has passed): every second from the live
        state (``from_live``: False when it does not hold the followed thing), else from the API every few
        seconds (a read that fails waits for the next). The one loop of the publish and deploy followers."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FOLLOW_PUBLISH_FOR
        seconds = 0
        while in_progress() and loop.time() < deadline:
            await asyncio.sleep(1.0)
            seconds += 1
            if not from_live() and seconds % 5 == 0:
                with contextlib.suppress(ShipdeckError):
                    await from_api()

    async def _follow_version(self, deployment: Deployment, version: Version) -> None:
        """A published version ends in a toast too: live, or failed. Read from the live state (kept
        current by the stream) while the deployment is watched, else from the API every few seconds."""
        state = version.state

        def from_live() -> bool:
            nonlocal state
            detail = self.live.detail
            if detail is None or detail.deployment_id != deployment.id or detail.versions is None:
                return False
            found = next((v for v in detail.versions if v.id == version.id), None)
            state = found.state if found is not None else state
            return True

        async def from_api() -> None:
            nonlocal state
            state = (await self.adapter.get_version(deployment.id, version.id)).state

        await self._follow(lambda: health_of(state) is Health.PROGRESS, from_live, from_api)
        self._tell_published(deployment, version.label, state)

    async def _follow_run(self, deployment: Deployment, run: PipelineRun) -> None:
        """A publish that names only its run (a Mixpeek deploy: the version exists once it completes) ends
        in the same toast, followed by its run: read from the live state while the deployment is watched,
        else from the API every few seconds."""
        message = run.message or "the deploy"
        label = message

        def from_live() -> bool:
            nonlocal run, label
            detail = self.live.detail
            if detail is None or detail.deployment_id != deployment.id or detail.runs is None:
                return False
            run = next((r for r in detail.runs if r.id == run.id), run)
            made = next((v for v in detail.versions or [] if v.id == run.version_id), None)
            # Its message first, the version it made beside it once read: which of the two the toast
            # said depended on whether the versions were read before the run ended.
            label = f"{message} ({made.label})" if made is not None else message
            return True

        async def from_api() -> None:
            nonlocal run
            runs = await self.adapter.list_pipeline_runs(deployment.id)
            run = next((r for r in runs if r.id == run.id), run)

        await self._follow(lambda: run.health is Health.PROGRESS, from_live, from_api)
        self._tell_published(deployment, label, run.status)

    async def _follow_deployment(self, deployment: Deployment) -> None:
        """A Miteos deploy (a new deployment, its own pipeline) ends in the same toast: its toast said
        "deploy: done" when the request was taken, and a build that failed 12 s later said nothing. Read
        from the live state (kept current by the stream), else from the API every few seconds."""

        def from_live() -> bool:
            nonlocal deployment
            listed = self.live.deployments.get(deployment.id)
            if listed is None:
                return False
            deployment = listed
            return True

        async def from_api() -> None:
            nonlocal deployment
            deployment = await self.adapter.get_deployment(deployment.id)

        await self._follow(lambda: deployment.health is Health.PROGRESS, from_live, from_api)
        self._tell_published(deployment, "the deploy", deployment.state, what="deploy")

    def _tell_published(
        self, deployment: Deployment, label: str, state: str, *, what: str = "publish"
    ) -> None:
        """The toast of a followed publish (or deploy), naming the row as the list does ('Storefront
        (production)')."""
        name = display_name(deployment)
        where = f"{literal(name)}: {literal(label)}"
        if health_of(state) is not Health.PROGRESS:
            self._alert(f"build {state}", f"{name}: {label}")
        if health_of(state) is Health.OK:
            self._notify(f"{where} is {literal(state)}", title=f"{what}: live", markup=False, timeout=10)
        elif health_of(state) is Health.FAILED:
            self._notify(
                f"{where} {literal(state)} (its build log is in the Pipeline tab; l opens the logs)",
                title=f"{what}: failed",
                severity="error",
                markup=False,
                timeout=15,
            )

    # -- the Tasks side (Miteos, or the profile's tasks_profile) -----------------------------------------
    def tasks_profile(self) -> Profile | None:
        if self.adapter.capabilities.supports(Capability.TASKS):
            return self.profile
        return self.profile.tasks

    def tasks_parts(self) -> tuple[Reads, ChangeSession, str] | None:
        """The reads, session and environment the Tasks screen uses (made on first use), or None
        without tasks."""
        profile = self.tasks_profile()
        if profile is None:
            return None
        if profile is self.profile:
            return self.reads, self.session, profile.environment
        if self._tasks_adapter is None:
            self._tasks_adapter = self._make_adapter(profile)
        if self._tasks_session is None:
            self._tasks_session = self._session_for(profile, self._tasks_adapter)
        if self._tasks_reads is None:
            self._tasks_reads = Reads(self._tasks_adapter)
        return self._tasks_reads, self._tasks_session, profile.environment


class ProfileContexts:
    """Every profile the console may show, and the contexts made for them so far (lazily)."""

    def __init__(self, profiles: list[Profile], make: Callable[[Profile], ProfileContext]) -> None:
        self.profiles: dict[str, Profile] = {profile.name: profile for profile in profiles}
        self._make = make
        self._open: dict[str, ProfileContext] = {}

    def __iter__(self) -> Iterator[ProfileContext]:
        return iter(list(self._open.values()))

    def __contains__(self, name: object) -> bool:
        return name in self._open

    def get(self, name: str) -> ProfileContext:
        """The profile's context, made (not yet started) on first use."""
        context = self._open.get(name)
        if context is None or context.closed:
            context = self._make(self.profiles[name])
            self._open[name] = context
        return context

    def all(self) -> list[ProfileContext]:
        """A context for every profile, in the config's order (the fleet shows them all)."""
        return [self.get(name) for name in self.profiles]

    def cold(self, warm_for: float) -> list[ProfileContext]:
        now = time.monotonic()
        return [context for context in self._open.values() if context.cold(now, warm_for)]

    def forget(self, context: ProfileContext) -> None:
        if self._open.get(context.name) is context:
            del self._open[context.name]

    def notice(self, name: str, text: str) -> None:
        """A client's progress line for the profile ``name``, told by its context (if it is open)."""
        if name in self._open:
            self._open[name].notice(text)


# One network step of a request (connect, a read) may take this long, within the request's deadline.
STEP_TIMEOUT = 15.0


def default_adapter_factory(
    timing: Timing, notice: Callable[[str, str], None], *, deadline: float = 60.0
) -> Callable[[Profile], Adapter]:
    """Adapters as the console makes them: its stream timing, progress lines to ``notice(profile, text)``,
    each request bounded by ``deadline`` seconds, retries included (the command line's --timeout)."""

    def make(profile: Profile) -> Adapter:
        from shipdeck.api.factory import make_adapter

        def told(text: str) -> None:
            notice(profile.name, text)

        return make_adapter(
            profile,
            on_notice=told,
            stream_options=timing.stream,
            retry=timing.retry,
            timeout=min(STEP_TIMEOUT, deadline),
            deadline=deadline,
        )

    return make


def cache_path_for(options: ConsoleOptions, profile: Profile) -> Path | None:
    """Where ``profile``'s last known list is kept (config/cache.py); None: the cache is off."""
    from shipdeck.config.cache import cache_file

    if profile.name == options.profile.name:
        return options.cache_path
    if options.cache_dir is None:
        return None
    return cache_file(profile.name, profile.provider, profile.base_url, options.cache_dir)


def context_maker(
    options: ConsoleOptions,
    *,
    given_adapter: Adapter | None,
    make_adapter: Callable[[Profile], Adapter],
    clock: Clock,
    timing: Timing,
    run_worker: RunWorker,
    notify: Notify,
    alert: Callable[[str, str], None],
) -> Callable[[Profile], ProfileContext]:
    """How the console makes a profile's context. ``given_adapter`` (tests) serves the start profile and
    is not closed by the console; every other profile gets one of ``make_adapter``."""

    def make(profile: Profile) -> ProfileContext:
        given = given_adapter if profile.name == options.profile.name else None
        return ProfileContext(
            profile,
            given if given is not None else make_adapter(profile),
            owns_adapter=given is None,
            make_adapter=make_adapter,
            audit_path=options.audit_path,
            cache_path=cache_path_for(options, profile),
            clock=clock,
            timing=timing,
            run_worker=run_worker,
            notify=notify,
            alert=alert,
        )

    return make

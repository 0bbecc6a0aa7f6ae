"""The reads a screen makes itself, on demand: one facade per profile, holding its adapter privately.

The live state (:mod:`shipdeck.live.state`) keeps the list and the watched deployment's detail current; what
it does not keep (a deployment's domains and env as the server lists them now, a log tail, the runtime
instances, the raw bodies of the raw view, the full deployment with its provider extras for the deploy
form) a screen reads through :class:`Reads`. So no screen calls an adapter: the console's screens get a
``Reads`` for what they read and a :class:`~shipdeck.live.session.ChangeSession` for what they change.

These are the user's own reads (a key was pressed and a screen waits for the answer): they are sent in
the foreground, never inside :func:`~shipdeck.api.context.background_reads`, so the rate-limit reserve kept
for the user is theirs to spend and no :class:`~shipdeck.api.errors.BudgetReserved` is raised here. Every
failure is a :class:`~shipdeck.api.errors.ShipdeckError` (the transport's deadlines and retries included),
which the screen says in words.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from shipdeck.api.base import Adapter
from shipdeck.api.context import captured_bodies
from shipdeck.live.env import EnvListing, list_env
from shipdeck.live.tasks import TasksLive, TasksUpdate
from shipdeck.model import (
    Capabilities,
    Capability,
    Deployment,
    Domain,
    LogLine,
    RuntimeInstance,
    Version,
)

# Where a log screen's lines come from.
LogSource = Literal["deployment", "build", "runtime", "requests"]


@dataclass(frozen=True)
class RawTarget:
    """One object the raw view can show: its key, its label, and how to read it (a coroutine factory)."""

    key: str
    label: str
    read: Callable[[], Awaitable[object]]


class Reads:
    """One profile's on-demand reads (see the module's docstring). Built on the profile's adapter, which it
    keeps to itself: screens see the reads, the capabilities and the rate-limit figures, nothing else."""

    def __init__(self, adapter: Adapter) -> None:
        self._adapter = adapter

    # -- what the provider can do, and how much budget is left -----------------------------------------
    @property
    def capabilities(self) -> Capabilities:
        """What the provider grants (deny by default); read-only."""
        return self._adapter.capabilities

    @property
    def sandbox_mode(self) -> bool:
        """True when the token reaches the provider's test mode (a Miteos ``mt_test_`` key)."""
        return self._adapter.sandbox_mode

    @property
    def rate_limit_remaining(self) -> int | None:
        """Requests left in the current window, as the server last said (None: unknown)."""
        return self._adapter.rate_limit_remaining

    @property
    def rate_limit_limit(self) -> int | None:
        return self._adapter.rate_limit_limit

    # -- one deployment -------------------------------------------------------------------------------
    async def deployment(self, deployment_id: str) -> Deployment:
        """The deployment as the server has it now, provider extras included (the live state drops them)."""
        return await self._adapter.get_deployment(deployment_id)

    async def domains(self, deployment_id: str) -> list[Domain]:
        return await self._adapter.list_domains(deployment_id)

    async def env(self, deployment_id: str, environment: str) -> EnvListing:
        """The deployment's env vars as listed for one environment (values masked: only previews), and
        whether the server said they are that environment's (live.env)."""
        return await list_env(self._adapter, deployment_id, environment)

    async def runtime_instances(self, deployment_id: str) -> list[RuntimeInstance]:
        return await self._adapter.list_runtime_instances(deployment_id)

    # -- logs -------------------------------------------------------------------------------------------
    def log_sources(self, build_id: str | None) -> list[LogSource]:
        """The log sources of a deployment (with ``build_id``, its build's too), in the order a screen
        cycles through them: the provider's capabilities decide."""
        supports = self.capabilities.supports
        found: list[LogSource] = ["deployment"]
        if build_id:
            found.append("build")
        if supports(Capability.RUNTIME_LOGS):
            found.append("runtime")
        if supports(Capability.REQUEST_LOGS):
            found.append("requests")
        return found

    def log_lines(
        self,
        deployment_id: str,
        source: LogSource,
        *,
        build_id: str | None = None,
        instance_id: str | None = None,
    ) -> AsyncIterator[LogLine]:
        """The lines of one source, tailed: ``build`` needs ``build_id``, ``runtime`` needs ``instance_id``
        (without them the deployment's log). Raises UnsupportedAction when the provider has no such log."""
        if source == "requests":
            return self._adapter.request_logs(deployment_id)
        if source == "runtime" and instance_id is not None:
            return self._adapter.runtime_logs(deployment_id, instance_id)
        if source == "build" and build_id:
            return self._adapter.build_logs(deployment_id, build_id)
        return self._adapter.deployment_logs(deployment_id)

    # -- the raw view -----------------------------------------------------------------------------------
    def raw_targets(self, deployment: Deployment, version: Version | None) -> list[RawTarget]:
        """What the raw view offers for a row: the deployment, the selected version, its builds, its
        domains (those the provider has)."""
        adapter, capabilities = self._adapter, self.capabilities
        targets = [RawTarget("deployment", "deployment", lambda: adapter.get_deployment(deployment.id))]
        if version is not None:  # listed, so the provider has versions
            targets.append(
                RawTarget(
                    "version",
                    f"version {version.label}",
                    lambda: adapter.get_version(deployment.id, version.id),
                )
            )
        if capabilities.supports(Capability.BUILDS):
            targets.append(RawTarget("builds", "builds", lambda: adapter.list_builds(deployment.id)))
        if capabilities.supports(Capability.DOMAINS):
            targets.append(RawTarget("domains", "domains", lambda: adapter.list_domains(deployment.id)))
        return targets

    async def raw_bodies(self, target: RawTarget) -> list[tuple[str, str, object]]:
        """Read ``target`` fresh and return what the server sent: (method, path, decoded JSON body) per
        request, in order. Not masked: the caller masks (see :attr:`redact`)."""
        with captured_bodies() as bodies:
            await target.read()
        return list(bodies)

    @property
    def redact(self) -> Callable[[str], str] | None:
        """The profile's token masked in a text (None: this adapter has no transport that knows one)."""
        transport = getattr(self._adapter, "transport", None)
        redact = getattr(transport, "redact", None)
        return redact if callable(redact) else None

    # -- tasks ------------------------------------------------------------------------------------------
    def tasks_live(self, on_update: Callable[[TasksUpdate], None]) -> TasksLive:
        """The live tasks, agents and approvals of this profile (the Tasks screen runs it)."""
        return TasksLive(self._adapter, on_update)

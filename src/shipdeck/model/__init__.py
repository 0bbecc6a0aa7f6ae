"""Provider-neutral models: what the console and the scriptable commands work with.

Lenient reader: every model keeps extra fields (``extra="allow"``), and every state is a plain string so an
enum value a provider adds tomorrow is shown as it is instead of crashing the parser. The ``*_STATES`` sets
and :func:`health_of` give the known values their meaning. Adapters in :mod:`shipdeck.api` map each
provider's dialect onto these models; nothing here knows about HTTP or Textual.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shipdeck.config.providers import PROVIDERS, ProviderName


class Health(StrEnum):
    """The meaning of a state, for symbols and sorting. Never shown by colour alone."""

    OK = "ok"  # running / ready / live / complete / active
    PROGRESS = "progress"  # pending / building / deploying / queued
    FAILED = "failed"
    STOPPED = "stopped"  # stopped / archived / cancelled / removed
    UNKNOWN = "unknown"  # a value this version of shipdeck does not know


_HEALTH_BY_STATE: dict[str, Health] = {
    # deployments (Miosa, Miteos), versions, builds, deploys (Mixpeek), domains, tasks, agents
    "running": Health.OK,
    "live": Health.OK,
    "ready": Health.OK,
    "active": Health.OK,
    "verified": Health.OK,
    "succeeded": Health.OK,
    "complete": Health.OK,
    "completed": Health.OK,
    "healthy": Health.OK,
    "pending": Health.PROGRESS,
    "created": Health.PROGRESS,
    "queued": Health.PROGRESS,
    "building": Health.PROGRESS,
    "deploying": Health.PROGRESS,
    "verifying": Health.PROGRESS,  # a Mixpeek domain while its TXT record is looked up
    "provisioning_tls": Health.PROGRESS,
    "provisioning": Health.PROGRESS,  # a Miosa runtime instance
    "starting": Health.PROGRESS,
    "destroyed": Health.STOPPED,
    "planning": Health.PROGRESS,
    "thinking": Health.PROGRESS,
    "acting": Health.PROGRESS,
    "waiting": Health.PROGRESS,
    "awaiting_approval": Health.PROGRESS,
    "idle": Health.STOPPED,
    "paused": Health.STOPPED,
    "failed": Health.FAILED,
    "error": Health.FAILED,
    "unhealthy": Health.FAILED,
    "stopped": Health.STOPPED,
    "archived": Health.STOPPED,
    "cancelled": Health.STOPPED,
    "removed": Health.STOPPED,
    "killed": Health.STOPPED,
    "not reached": Health.STOPPED,  # a stage of an ended run that never started (PipelineRun.stage_state)
}

HEALTH_SYMBOL: dict[Health, str] = {
    Health.OK: "●",
    Health.PROGRESS: "◐",
    Health.FAILED: "✖",
    Health.STOPPED: "○",
    Health.UNKNOWN: "?",
}

# ASCII fallbacks for terminals without those glyphs (SHIPDECK_ASCII=1).
HEALTH_SYMBOL_ASCII: dict[Health, str] = {
    Health.OK: "+",
    Health.PROGRESS: "~",
    Health.FAILED: "x",
    Health.STOPPED: "-",
    Health.UNKNOWN: "?",
}


def health_of(state: str | None) -> Health:
    """Meaning of any provider state string; unknown values are UNKNOWN, never an error."""
    if not state:
        return Health.UNKNOWN
    return _HEALTH_BY_STATE.get(state.lower(), Health.UNKNOWN)


TERMINAL_TASK_STATES = frozenset({"complete", "completed", "failed", "cancelled"})
PROMOTABLE_VERSION_STATES = frozenset({"ready"})


# A day inside datetime's range: any timestamp between can be told in any timezone (offsets are under a
# day) and moved by a log window, where one at the very edge ("9999-12-31T23:59:59-05:00") overflowed.
_EARLIEST = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
_LATEST = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)


def as_utc(when: datetime) -> datetime:
    """Every server timestamp, in UTC: one without a timezone is taken to be UTC (the contracts say so), so
    that no comparison downstream ever mixes naive and aware datetimes. One within a day of the years 1 or
    9999 is a ValueError (a model's field is then invalid, named in a ProtocolError), never an OverflowError
    here or wherever it is told in local time later."""
    try:
        utc = when.replace(tzinfo=UTC) if when.utcoffset() is None else when.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not _EARLIEST <= utc <= _LATEST:
        raise ValueError("the time is out of range (years 1 to 9999)")
    return utc


def parse_timestamp(value: Any) -> datetime | None:
    """A server's ISO 8601 text (or a datetime) as :func:`as_utc` makes it, or None when it is not one or is
    out of range: for the readers that keep what they read without the time (a log line, a health point)."""
    if isinstance(value, str) and value:
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    try:
        return as_utc(value)
    except ValueError:
        return None


# A timestamp read from a server: always timezone-aware, in UTC (normalised here, where it is parsed).
Timestamp = Annotated[datetime, AfterValidator(as_utc)]


class Model(BaseModel):
    """Base of every shipdeck model: extra fields are kept, never rejected."""

    # defer_build: each model's validator is built when it is first used, not on import (20-40 ms of
    # every start, most of it for models the console's first frame does not need).
    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)


# Every PublishRequest field a person fills in, in form order (`promote` is a flag of the command instead).
PUBLISH_INPUT_FIELDS = (
    "source_sandbox_id",
    "output_path",
    "entrypoint",
    "environment",
    "message",
)


class Capability(StrEnum):
    """Something a provider may let shipdeck do. A provider grants it explicitly (deny by default)."""

    ROLLBACK = "rollback"
    ROLLBACK_TO_VERSION = "rollback_to_version"
    PROMOTE = "promote"
    PUBLISH = "publish"
    REDEPLOY = "redeploy"
    UPDATE = "update"
    DELETE = "delete"
    DOMAINS = "domains"
    ENV = "env"
    VERSIONS = "versions"
    RELEASES = "releases"
    BUILDS = "builds"
    DEPLOYMENT_LOGS = "deployment_logs"
    BUILD_LOGS = "build_logs"
    # Agents and approvals (Miteos): the Tasks screen.
    TASKS = "tasks"
    # Trigger a new deployment of a workspace to a hosting target (Miteos: POST /deployments).
    DEPLOY = "deploy"
    # Take a published deployment off the air (Miosa: POST /deployments/{id}/stop).
    STOP = "stop"
    # Runtime instances and their logs (Miosa: /runtime-instances); promote of a release (/releases/{id}).
    RUNTIME_LOGS = "runtime_logs"
    RELEASE_PROMOTE = "release_promote"
    # A push stream of changes (Miosa SSE, Miteos WebSocket); without it the live state polls.
    EVENT_STREAM = "event_stream"
    # Request metrics (error rate, latency): Miosa observability, Mixpeek request logs and analytics.
    HEALTH = "health"
    # The log of served requests (time, status, method and route, latency): Miosa /request-logs, Mixpeek
    # /logs?log_type=requests.
    REQUEST_LOGS = "request_logs"


class Capabilities(Model):
    """What a provider can do: only what it grants (deny by default); the console disables the rest."""

    provider: ProviderName
    granted: frozenset[Capability] = frozenset()
    # Environments a version can be promoted / rolled back into (Mixpeek: staging and production).
    environments: tuple[str, ...] = ("production",)
    env_environments: tuple[str, ...] = ("production", "preview", "development")
    # The PublishRequest fields this provider sends (the publish form shows only these), and which it needs.
    publish_fields: tuple[str, ...] = ("source_sandbox_id",)
    publish_required: tuple[str, ...] = ("source_sandbox_id",)
    # The hosting targets a deploy (Capability.DEPLOY) can go to (Miteos: vercel, netlify, ...).
    deploy_targets: tuple[str, ...] = ()
    # Human notes shown when an action is unavailable.
    notes: dict[Capability, str] = Field(default_factory=dict)

    def supports(self, capability: Capability) -> bool:
        return capability in self.granted

    def why_not(self, capability: Capability) -> str:
        return self.notes.get(
            capability, f"{self.provider} does not support {capability.value.replace('_', ' ')}"
        )


class Deployment(Model):
    id: str
    provider: ProviderName
    name: str
    slug: str | None = None
    state: str = "unknown"
    active_version_id: str | None = None
    active_version_number: int | None = None
    url: str | None = None
    # Mixpeek: which environment this row is (an app appears once per environment it has).
    environment: str | None = None
    # Miteos: hosting target (vercel, netlify, ...).
    target: str | None = None
    branch: str | None = None
    auto_deploy: bool | None = None
    current_build_id: str | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None

    @property
    def health(self) -> Health:
        return health_of(self.state)


class Version(Model):
    id: str
    deployment_id: str
    number: int | None = None
    state: str = "unknown"
    kind: str | None = None
    author: str | None = None
    message: str | None = None
    build_id: str | None = None
    source_sandbox_id: str | None = None
    environment: str | None = None
    artifact_sha256: str | None = None
    promoted_at: Timestamp | None = None
    created_at: Timestamp | None = None
    # Whether the version was made for the row's environment: False where the provider says it was deployed
    # to another one (a Mixpeek production deploy, listed on the app's staging row too), None if unknown.
    made_here: bool | None = None

    @property
    def health(self) -> Health:
        return health_of(self.state)

    @property
    def label(self) -> str:
        return f"v{self.number}" if self.number is not None else self.id


class Release(Model):
    id: str
    deployment_id: str | None = None
    version_id: str | None = None
    kind: str | None = None
    state: str | None = None
    created_at: Timestamp | None = None


class Build(Model):
    id: str
    deployment_id: str
    state: str = "unknown"
    triggered_by: str | None = None
    commit_sha: str | None = None
    commit_message: str | None = None
    error_message: str | None = None
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    duration_ms: int | None = None
    created_at: Timestamp | None = None

    @property
    def health(self) -> Health:
        return health_of(self.state)


class PipelineStage(Model):
    name: str
    state: str = "pending"
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None


class PipelineRun(Model):
    """One run of a provider's pipeline: a Miosa build/publish, a Miteos deployment, a Mixpeek deploy."""

    id: str
    deployment_id: str
    status: str = "unknown"
    stages: list[PipelineStage] = Field(default_factory=list)
    version_id: str | None = None
    environment: str | None = None
    message: str | None = None
    error: str | None = None
    url: str | None = None
    created_at: Timestamp | None = None
    completed_at: Timestamp | None = None

    @property
    def health(self) -> Health:
        return health_of(self.status)

    def stage_state(self, stage: PipelineStage) -> str:
        """A stage's state as shown: a stage still waiting in a run that has ended (failed, cancelled,
        live) was never reached, and said "pending" it read as about to run."""
        waiting = stage.started_at is None and health_of(stage.state) is Health.PROGRESS
        ended = self.health in (Health.OK, Health.FAILED, Health.STOPPED)
        return NOT_REACHED if waiting and ended else stage.state


# A stage of an ended run that never started (PipelineRun.stage_state); shown with the stopped symbol.
NOT_REACHED = "not reached"


class RuntimeInstance(Model):
    """One running instance (VM or container) serving a deployment's release."""

    id: str
    deployment_id: str | None = None
    release_id: str | None = None
    state: str = "unknown"
    desired_state: str | None = None
    error_message: str | None = None
    restart_count: int | None = None
    started_at: Timestamp | None = None
    stopped_at: Timestamp | None = None

    @property
    def health(self) -> Health:
        return health_of(self.state)


class DnsRecord(Model):
    type: str
    name: str
    value: str


class Domain(Model):
    id: str
    deployment_id: str | None = None
    name: str
    status: str = "unknown"
    records: list[DnsRecord] = Field(default_factory=list)
    verification_target: str | None = None
    instructions: str | None = None
    # Why verification failed, when the server says.
    error: str | None = None
    verified_at: Timestamp | None = None
    created_at: Timestamp | None = None

    @property
    def health(self) -> Health:
        return health_of(self.status)


class EnvVar(Model):
    """An environment variable as the API shows it: a masked preview, never the value.

    ``environment``: the one the server's row names, None when it names none (the official Miosa SDK's
    rows never do): never the one that was asked for (see live.env).
    """

    name: str
    preview: str = ""
    environment: str | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None


class Approval(Model):
    id: str
    agent_id: str | None = None
    task_id: str | None = None
    action: str | None = None
    risk_level: str | None = None
    summary: str | None = None
    status: str = "pending"
    created_at: Timestamp | None = None


class Agent(Model):
    id: str
    task_id: str | None = None
    type: str | None = None
    status: str = "unknown"
    current_tool: str | None = None
    progress: int | None = None
    pending_approval: Approval | None = None

    @property
    def health(self) -> Health:
        return health_of(self.status)


class SubTask(Model):
    id: str
    agent_type: str | None = None
    prompt: str | None = None
    status: str = "unknown"


class Task(Model):
    id: str
    prompt: str = ""
    status: str = "unknown"
    workspace_id: str | None = None
    total_tokens_used: int | None = None
    total_cost_cents: int | None = None
    agents: list[Agent] = Field(default_factory=list)
    subtasks: list[SubTask] = Field(default_factory=list)
    approvals: list[Approval] = Field(default_factory=list)
    created_at: Timestamp | None = None
    completed_at: Timestamp | None = None

    @property
    def health(self) -> Health:
        return health_of(self.status)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_TASK_STATES


class Deliverable(Model):
    id: str
    task_id: str | None = None
    filename: str | None = None
    mime_type: str | None = None
    size_bytes: int | None = None
    download_url: str | None = None
    created_at: Timestamp | None = None


class Event(Model):
    """One event from a provider's push stream (Miosa SSE, Miteos WebSocket)."""

    id: str
    seq: int | None = None
    type: str
    provider: ProviderName
    created_at: Timestamp | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class LogLine(Model):
    """One line of a build or deployment log."""

    line: str
    stream: str = "stdout"
    ts: Timestamp | None = None
    # Set on the final frame of a stream: the build/deploy result state ("succeeded", "failed", ...).
    done_state: str | None = None
    # The level the provider gave the line ("info", "warning", "error", ...), or None: the logs screen then
    # judges the line by its stream and text.
    level: str | None = None


class PublishRequest(Model):
    """What the publish dialog collects; each adapter sends the fields its provider understands.

    Miosa's publish takes the sandbox, the path of the built output in it and its entrypoint, as its
    official SDK sends them; the kind, build and run commands, port and health check its signature also
    names are dropped there ("reserved; ignored by the current static publish route"), so shipdeck does
    not offer them: a field that is sent and ignored reads as applied."""

    source_sandbox_id: str | None = None
    output_path: str | None = None  # Miosa: where the built site is inside the sandbox ("dist")
    entrypoint: str | None = None  # Miosa: the file served first ("index.html")
    environment: str = "production"
    promote: bool = True
    # Mixpeek requires a deploy message; others keep it as metadata.
    message: str | None = None


class PublishResult(Model):
    deployment: Deployment | None = None
    version: Version | None = None
    run: PipelineRun | None = None
    promoted: bool = False


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list; ``next_cursor`` is None on the last page (opaque to callers)."""

    items: list[T]
    next_cursor: str | None = None
    total: int | None = None


__all__ = [
    "HEALTH_SYMBOL",
    "HEALTH_SYMBOL_ASCII",
    "PROMOTABLE_VERSION_STATES",
    "PROVIDERS",
    "Capability",
    "TERMINAL_TASK_STATES",
    "Agent",
    "Approval",
    "Build",
    "Capabilities",
    "Deliverable",
    "Deployment",
    "DnsRecord",
    "Domain",
    "EnvVar",
    "Event",
    "Health",
    "LogLine",
    "Model",
    "Page",
    "PipelineRun",
    "PipelineStage",
    "ProviderName",
    "PublishRequest",
    "PublishResult",
    "Release",
    "RuntimeInstance",
    "SubTask",
    "Task",
    "Version",
    "health_of",
]

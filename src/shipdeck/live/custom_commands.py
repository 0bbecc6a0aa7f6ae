"""Running the user's ``[commands.NAME]``: the environment it gets, and its output, line by line.

The one rule for what a command sees of the console's selection (the console and any later CLI use share
it): the inherited environment plus ``SHIPDECK_*`` variables naming the profile and the selected row. The
token is never one of them. ``run`` is an argv list executed without a shell, so a deployment named
``x; rm -rf ~`` is only ever a value.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from shipdeck.config.custom_commands import CustomCommand
from shipdeck.config.profile import Profile
from shipdeck.model import Deployment, Version

# A line longer than this is cut (a binary blob on stdout must not fill the memory of the pane).
MAX_LINE = 4096
# The output pane keeps this many lines; the rest is dropped (and said so).
MAX_LINES = 10_000

ENV_PREFIX = "SHIPDECK_"


def command_environment(
    profile: Profile,
    deployment: Deployment | None,
    version: Version | None = None,
    *,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """``base`` (default: this process's environment) plus the selection as ``SHIPDECK_*`` variables.

    Always set: SHIPDECK_PROFILE, SHIPDECK_PROVIDER, SHIPDECK_BASE_URL, SHIPDECK_ENVIRONMENT (the row's
    environment where the provider has several, else the profile's label) and SHIPDECK_READ_ONLY.
    With a selected row: SHIPDECK_DEPLOYMENT_ID, _NAME, _STATE, SHIPDECK_URL, SHIPDECK_VERSION (v12),
    SHIPDECK_VERSION_ID, and, where known, SHIPDECK_DEPLOYMENT_SLUG, _TARGET, _BRANCH. A field that is not
    known is absent (not empty), so a script can test ``${SHIPDECK_URL:?}``. Stale SHIPDECK_* variables of
    the parent are dropped, so a command never sees a selection that is not the current one.
    """
    env = {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith(ENV_PREFIX)}
    values: dict[str, str | None] = {
        "PROFILE": profile.name,
        "PROVIDER": profile.provider,
        "BASE_URL": profile.base_url,
        "ENVIRONMENT": (deployment.environment if deployment else None) or profile.environment,
        "READ_ONLY": "1" if profile.read_only else "0",
    }
    if deployment is not None:
        number = version.number if version is not None else deployment.active_version_number
        values |= {
            "DEPLOYMENT_ID": deployment.id,
            "DEPLOYMENT_NAME": deployment.name,
            "DEPLOYMENT_STATE": deployment.state,
            "DEPLOYMENT_SLUG": deployment.slug,
            "DEPLOYMENT_TARGET": deployment.target,
            "DEPLOYMENT_BRANCH": deployment.branch,
            "URL": deployment.url,
            "VERSION": f"v{number}" if number is not None else (version.id if version else None),
            "VERSION_ID": version.id if version is not None else deployment.active_version_id,
        }
    for name, value in values.items():
        if value:
            # Server text: a NUL cannot be in an environment variable (exec refuses it), so it goes.
            env[ENV_PREFIX + name] = value.replace("\x00", "")
    return env


@dataclass
class CommandRun:
    """One run's output so far and, once it ended, its exit code (or why it could not start)."""

    command: CustomCommand
    lines: list[str] = field(default_factory=list)
    exit_code: int | None = None
    problem: str | None = None
    dropped: int = 0

    @property
    def finished(self) -> bool:
        return self.exit_code is not None or self.problem is not None

    def summary(self) -> str:
        if self.problem is not None:
            return self.problem
        if self.exit_code is None:
            return "running"
        return "exited 0" if self.exit_code == 0 else f"failed: exit code {self.exit_code}"


def start_problem(command: CustomCommand, exc: OSError) -> str:
    """Why the program could not start, in one line (not found, not executable, ...)."""
    program = command.run[0]
    if isinstance(exc, FileNotFoundError):
        return f"{program}: no such program (run is {list(command.run)!r}; it runs without a shell)"
    if isinstance(exc, PermissionError):
        return f"{program}: not executable"
    return f"{program}: could not start: {exc.strerror or exc}"


async def stream_command(
    command: CustomCommand, env: Mapping[str, str], run: CommandRun
) -> AsyncIterator[str]:
    """Run ``command`` (no shell, stdin closed, stderr merged into stdout) and yield its lines as they come;
    ``run`` gets the lines and the exit code. Cancelling the iteration (the pane closed) kills the process."""
    try:
        process = await asyncio.create_subprocess_exec(
            *command.run,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        run.problem = start_problem(command, exc)
        return
    assert process.stdout is not None
    try:
        while True:
            try:
                raw = await process.stdout.readuntil(b"\n")
            except asyncio.IncompleteReadError as partial:
                raw = partial.partial
                if not raw:
                    break
            except asyncio.LimitOverrunError as overrun:
                raw = await process.stdout.read(overrun.consumed)
            line = raw.decode("utf-8", "replace").rstrip("\r\n")[:MAX_LINE]
            if len(run.lines) >= MAX_LINES:
                run.dropped += 1
                continue
            run.lines.append(line)
            yield line
        run.exit_code = await process.wait()
    finally:
        if process.returncode is None:
            try:
                process.kill()
            except ProcessLookupError:
                pass
            await process.wait()

"""Where a profile's token comes from: an environment variable, a command's stdout, or the config file.

A token is wrapped in :class:`~shipdeck.config.profile.Secret` at once and never appears in a message.
"""

from __future__ import annotations

import os
import shlex
import signal
import stat
import subprocess
from pathlib import Path

from shipdeck.config.errors import TokenError
from shipdeck.config.profile import Secret

DEFAULT_TOKEN_COMMAND_TIMEOUT = 10.0
# A password manager's error, shown to help the user; long output is cut (it is not ours to print).
_STDERR_EXCERPT = 200


def token_from_env(variable: str, *, profile: str) -> Secret:
    value = os.environ.get(variable, "").strip()
    if not value:
        raise TokenError(
            f"profile {profile}: no token: the environment variable {variable} is not set "
            f"(export {variable}=..., or set token_env / token_command in the profile)"
        )
    return Secret(value)


def token_from_command(
    command: str, *, profile: str, timeout: float = DEFAULT_TOKEN_COMMAND_TIMEOUT
) -> Secret:
    """Run ``command`` (split like a shell would, but without a shell) and use its stdout as the token."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise TokenError(f"profile {profile}: token_command cannot be parsed: {exc}") from None
    if not argv:
        raise TokenError(f"profile {profile}: token_command is empty")
    try:
        # Own session, so a timeout can stop the whole process group (a password manager may fork helpers).
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise TokenError(
            f"profile {profile}: token_command {argv[0]!r} could not start: {exc.strerror}"
        ) from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise TokenError(
            f"profile {profile}: token_command {argv[0]!r} did not finish within {timeout:g}s "
            "(is it waiting for a passphrase? unlock the password manager first)"
        ) from None
    if proc.returncode != 0:
        detail = err.decode(errors="replace").strip().splitlines()
        excerpt = f": {detail[-1][:_STDERR_EXCERPT]}" if detail else ""
        raise TokenError(
            f"profile {profile}: token_command {argv[0]!r} failed with exit code {proc.returncode}{excerpt}"
        )
    token = out.decode(errors="replace").strip()
    if not token:
        raise TokenError(f"profile {profile}: token_command {argv[0]!r} printed no token")
    if "\n" in token:
        # `pass` prints the password first and metadata after it.
        token = token.splitlines()[0].strip()
    return Secret(token)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    try:
        proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def file_is_private(path: Path) -> bool:
    """True when nobody but the owner can read ``path`` (always True where POSIX modes do not apply)."""
    if os.name != "posix":
        return True
    return not stat.S_IMODE(path.stat().st_mode) & 0o077


def private_file_fix(path: Path) -> str:
    return f"chmod 600 {shlex.quote(str(path))}"

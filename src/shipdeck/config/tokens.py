"""Where a profile's token comes from: an environment variable, a command's stdout, or the config file.

A token is wrapped in :class:`~shipdeck.config.profile.Secret` at once and never appears in a message.
"""

from __future__ import annotations

import os
import selectors
import shlex
import signal
import stat
import subprocess
import time
from pathlib import Path

from shipdeck.config.errors import TokenError
from shipdeck.config.profile import Secret

DEFAULT_TOKEN_COMMAND_TIMEOUT = 10.0
# A token is one short line (`pass` may add a few lines of metadata); past this, it is not a token command.
MAX_TOKEN_OUTPUT = 16 * 1024


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
    """Run ``command`` (split like a shell would, but without a shell) and use its stdout as the token.

    At most MAX_TOKEN_OUTPUT bytes are read (``yes`` grew to gigabytes before its timeout). The token is
    taken once the process has exited, not at end of file: a helper it left in the background may keep
    stdout open. Its stderr is not read: a helper may write the secret there, so a failure says only the
    exit code and how to see the error."""
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
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        raise TokenError(
            f"profile {profile}: token_command {argv[0]!r} could not start: {exc.strerror}"
        ) from None
    assert proc.stdout is not None
    with proc.stdout:
        try:
            out = _read_until_exit(proc, proc.stdout.fileno(), timeout)
        except _TooMuchOutput:
            _kill_group(proc)
            raise TokenError(
                f"profile {profile}: token_command {argv[0]!r} printed more than {MAX_TOKEN_OUTPUT} bytes; "
                "stopped (a token is one short line: is it the right command?)"
            ) from None
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise TokenError(
                f"profile {profile}: token_command {argv[0]!r} did not finish within {timeout:g}s "
                "(is it waiting for a passphrase? unlock the password manager first)"
            ) from None
    if proc.returncode != 0:
        raise TokenError(
            f"profile {profile}: token_command {argv[0]!r} failed with exit code {proc.returncode} "
            "(its error output is not shown, it may hold a secret: run the command in a terminal to see it)"
        )
    token = out.decode(errors="replace").strip()
    if not token:
        raise TokenError(f"profile {profile}: token_command {argv[0]!r} printed no token")
    if "\n" in token:
        # `pass` prints the password first and metadata after it.
        token = token.splitlines()[0].strip()
    return Secret(token)


class _TooMuchOutput(Exception):
    pass


# How often the process is looked at while its stdout is quiet (it may exit with a helper holding stdout).
_EXIT_POLL = 0.05


def _read_until_exit(proc: subprocess.Popen[bytes], fd: int, timeout: float) -> bytes:
    """``proc``'s stdout until it exits (then what it wrote before exiting), at most MAX_TOKEN_OUTPUT bytes.
    Raises _TooMuchOutput past that, TimeoutExpired after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    os.set_blocking(fd, False)
    out = bytearray()
    eof = False
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            exited = proc.poll() is not None
            if not eof:
                eof = _drain(fd, out)
            if exited:
                return bytes(out)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise subprocess.TimeoutExpired(proc.args, timeout)
            if eof:
                proc.wait(remaining)  # raises TimeoutExpired itself
                continue
            selector.select(min(remaining, _EXIT_POLL))


def _drain(fd: int, out: bytearray) -> bool:
    """Read what is in the pipe now into ``out``; True at end of file."""
    while True:
        try:
            chunk = os.read(fd, MAX_TOKEN_OUTPUT + 1 - len(out))
        except BlockingIOError:
            return False
        if not chunk:
            return True
        out += chunk
        if len(out) > MAX_TOKEN_OUTPUT:
            raise _TooMuchOutput


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def file_is_private(path: Path) -> bool:
    """True when nobody but the owner can read ``path`` (always True where POSIX modes do not apply)."""
    if os.name != "posix":
        return True
    return not stat.S_IMODE(path.stat().st_mode) & 0o077


def private_file_fix(path: Path) -> str:
    return f"chmod 600 {shlex.quote(str(path))}"

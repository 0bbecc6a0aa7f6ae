"""`shipdeck [global options] [COMMAND ...]`: the console, `demo`, config/themes/audit, scriptable commands.

Every failure ends as one line on stderr and an exit code (0 ok, 1 refused, 2 usage, 3 auth, 4 not found,
5 network), never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
from collections.abc import Sequence

from shipdeck.api.errors import NetworkError, ShipdeckError
from shipdeck.cli.commands import COMMANDS, Command, CommandContext
from shipdeck.cli.demo import DemoSandbox
from shipdeck.cli.deploy import cmd_deploy
from shipdeck.cli.local import cmd_audit, cmd_config, cmd_themes
from shipdeck.cli.operate import cmd_logs, cmd_releases, cmd_stop
from shipdeck.cli.output import CliError, error_line, terminal_safe_output, warning_line
from shipdeck.cli.parser import UsageError, build_parser
from shipdeck.config.audit import AuditLog, server_origin
from shipdeck.config.console_options import ConsoleOptions
from shipdeck.config.errors import ConfigError
from shipdeck.config.loader import (
    ShipdeckConfig,
    ad_hoc_profile,
    build_profile,
    choose_profile_name,
    load_config,
    plain_http_warning,
)
from shipdeck.config.open_changes import OpenChanges
from shipdeck.config.paths import config_file, state_dir
from shipdeck.config.profile import Profile
from shipdeck.config.themes import load_themes
from shipdeck.live.session import ChangeSession
from shipdeck.model.validation import domain_problem

INTERRUPTED_EXIT = 130
# One request may take this long; the global --timeout bounds the whole call, retries included.
REQUEST_TIMEOUT = 15.0
# Seconds past --timeout before a read command as a whole is cut (see run_scriptable).
COMMAND_GRACE = 1.0


def run(argv: Sequence[str]) -> int:
    try:
        args = build_parser().parse_args(list(argv))
        if args.command in (None, "demo"):  # the console draws the terminal itself
            return _dispatch(args)
        # Server text (names, messages, log lines) must not reach the terminal as escape sequences.
        with terminal_safe_output():
            return _dispatch(args)
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    except (UsageError, CliError, ConfigError, ShipdeckError) as exc:
        error_line(str(exc))
        return int(exc.exit_code)
    except KeyboardInterrupt:
        error_line("interrupted")
        return INTERRUPTED_EXIT
    except BrokenPipeError:  # `shipdeck ls | head -1`: the reader has what it wanted
        _silence_stdout()
        return 0
    except Exception as exc:  # a bug of ours: still one line, and a way to report it
        error_line(f"unexpected {exc.__class__.__name__}: {exc} (please report this)")
        return 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


def _dispatch(args: argparse.Namespace) -> int:
    if args.url and not args.provider:
        raise UsageError("--url needs --provider (or use a profile: --profile NAME)")
    if args.profile and args.provider:
        raise UsageError("choose --profile or --provider/--url, not both")
    command = args.command
    if command == "config":
        return cmd_config(args)
    if command == "themes":
        return cmd_themes(args)
    if command == "audit":
        return cmd_audit(args)
    if command == "demo":
        return run_demo(args)
    if args.provider:
        config = _config_for_ad_hoc()
        profile = ad_hoc_profile(args.provider, args.url, read_only=args.read_only)
        plain = plain_http_warning(profile.base_url, "--url")
        problems: list[str] = [plain] if plain else []
    else:
        config = load_config()
        name = choose_profile_name(config, args.profile)
        profile = build_profile(config, name, read_only=args.read_only, with_tasks=False)
        profile, problems = _attach_tasks(config, name, profile, args.read_only, wanted=command is None)
    if command is None:
        return open_console(console_options(config, profile, problems))
    _check_arguments(args)
    for warning in [*config.warnings, *problems]:
        warning_line(warning)
    return asyncio.run(run_scriptable(args, profile, config))


def _check_arguments(args: argparse.Namespace) -> None:
    """What the parser cannot check alone, checked before any request (usage errors, exit code 2)."""
    if args.command == "domains" and args.domain_action == "add" and args.domain:
        problem = domain_problem(args.domain)
        if problem:
            raise UsageError(f"domains add: {problem}")


def _config_for_ad_hoc() -> ShipdeckConfig:
    """Ad hoc runs need no config file; a broken one costs its keymap and a warning, nothing more."""
    try:
        return load_config()
    except ConfigError as exc:
        return ShipdeckConfig(path=config_file(), warnings=[f"{exc.message} (ignored for this ad hoc run)"])


def _attach_tasks(
    config: ShipdeckConfig, name: str, profile: Profile, read_only: bool, *, wanted: bool
) -> tuple[Profile, list[str]]:
    """The console's Tasks screen uses ``tasks_profile``; its token failing only costs that screen."""
    tasks_name = config.profiles[name].tasks_profile
    if not wanted or not tasks_name:
        return profile, []
    try:
        # A read-only console's Tasks screen is read-only too.
        tasks = build_profile(config, tasks_name, read_only=read_only or profile.read_only, with_tasks=False)
    except ConfigError as exc:
        return profile, [f"Tasks screen unavailable: {exc.message}"]
    return _with_tasks(profile, tasks), []


def _with_tasks(profile: Profile, tasks: Profile) -> Profile:
    from dataclasses import replace

    return replace(profile, tasks=tasks)


def console_options(config: ShipdeckConfig, profile: Profile, problems: list[str]) -> ConsoleOptions:
    catalog = load_themes()
    return ConsoleOptions(
        profile=profile,
        keymap=dict(config.keymap),
        theme=profile.theme or config.theme,
        user_themes=catalog.themes,
        theme_problems=catalog.problems,
        config_problems=[*config.warnings, *problems],
        audit_path=config.audit_log,
        alert=config.alert,
    )


def open_console(options: ConsoleOptions) -> int:
    from shipdeck.tui import run_console

    return int(run_console(options))


async def run_scriptable(args: argparse.Namespace, profile: Profile, config: ShipdeckConfig) -> int:
    from shipdeck.api.factory import make_adapter

    audit = AuditLog(
        config.audit_log,
        profile=profile.name,
        provider=profile.provider,
        origin=server_origin(profile.base_url),
    )
    adapter = make_adapter(
        profile,
        on_notice=_NoticePrinter(),
        timeout=min(REQUEST_TIMEOUT, args.timeout),
        deadline=args.timeout,
    )
    async with adapter:
        session = ChangeSession(
            adapter, audit, read_only=profile.read_only, profile_name=profile.name, open_changes=OpenChanges()
        )
        context = CommandContext(adapter=adapter, session=session, args=args, out=sys.stdout, err=sys.stderr)
        if not _bounded(args):
            return await REMOTE_COMMANDS[args.command](context)
        try:
            # A little later than the transport's own deadline, so that one slow request still ends with its
            # own, more precise message ('could not connect ...').
            async with asyncio.timeout(args.timeout + COMMAND_GRACE):
                return await REMOTE_COMMANDS[args.command](context)
        except TimeoutError:
            raise NetworkError(
                f"{args.command} did not finish within --timeout {args.timeout:g} s (paging included)",
                retryable=False,
            ) from None


def _bounded(args: argparse.Namespace) -> bool:
    """Whether --timeout bounds the whole command, paging included: every read does. A change is bounded
    request by request instead (a whole-command bound could cut it after its confirmation, mid-send), and
    so are `status --watch` and `publish --wait`, which run until something happens."""
    if args.command in ("ls", "versions"):
        return True
    if args.command == "status":
        return not args.watch
    if args.command == "env":
        return args.env_action in (None, "get")
    if args.command == "domains":
        return args.domain_action in (None, "list")
    return False


# The commands that talk to a control plane (the scriptable ones, and deploy).
REMOTE_COMMANDS: dict[str, Command] = {
    **COMMANDS,
    "deploy": cmd_deploy,
    "stop": cmd_stop,
    "releases": cmd_releases,
    "logs": cmd_logs,
}


class _NoticePrinter:
    """The client's progress notices ("retrying in 4 s") on stderr, each only once in a row."""

    def __init__(self) -> None:
        self.last: str | None = None

    def __call__(self, notice: str) -> None:
        if notice != self.last:
            print(f"shipdeck: {notice}", file=sys.stderr, flush=True)
            self.last = notice


def run_demo(args: argparse.Namespace) -> int:
    db_path = state_dir() / "demo.db"
    if args.fresh:
        for leftover in (db_path, db_path.with_name("demo.db-wal"), db_path.with_name("demo.db-shm")):
            leftover.unlink(missing_ok=True)
    print("shipdeck: starting the sandbox control plane on loopback ...", file=sys.stderr, flush=True)
    config = _config_for_ad_hoc()
    with DemoSandbox(db_path, port=args.port) as sandbox:
        profile = sandbox.profile(read_only=args.read_only)
        return open_console(console_options(config, profile, []))

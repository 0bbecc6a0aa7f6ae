"""`shipdeck [global options] [COMMAND ...]`: the console, `demo`, config/themes/audit, scriptable commands.

Every failure ends as one line on stderr and an exit code (0 ok, 1 refused, 2 usage, 3 auth, 4 not found,
5 network), never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import argcomplete

from shipdeck.api.errors import NetworkError, ShipdeckError
from shipdeck.cli.output import CliError, error_line, terminal_safe_output, warning_line
from shipdeck.cli.parser import UsageError, build_parser
from shipdeck.config.console_options import ConsoleOptions
from shipdeck.config.errors import ConfigError, TokenError
from shipdeck.config.loader import (
    ShipdeckConfig,
    ad_hoc_profile,
    build_profile,
    choose_profile_name,
    load_config,
    plain_http_warning,
)
from shipdeck.config.paths import config_file, state_dir
from shipdeck.config.profile import Profile

# What only some commands use is imported by them (the sandbox's demo, completion, domain checks): the
# console's start imports none of it (tests/cli/test_start_imports.py).

if TYPE_CHECKING:
    from shipdeck.cli.commands import Command

INTERRUPTED_EXIT = 130
# One request may take this long; the global --timeout bounds the whole call, retries included.
REQUEST_TIMEOUT = 15.0
# Seconds past --timeout before a read command as a whole is cut (see run_scriptable).
COMMAND_GRACE = 1.0


# The signal that stopped a command as Ctrl-C does (SIGTERM, SIGHUP), if one did.
_STOPPED_BY: list[int] = []
STOP_WORDS = {"SIGTERM": "terminated (SIGTERM)", "SIGHUP": "the terminal went away (SIGHUP)"}


@contextlib.contextmanager
def stopped_as_by_ctrl_c() -> Iterator[None]:
    """SIGTERM and SIGHUP (a closed SSH session) stop a command as Ctrl-C does: a change in flight is
    recorded as unknown and said so, rather than the process dying with a bare intent line in the audit log
    and nothing printed. Exit 128 + the signal's number."""
    if not hasattr(signal, "SIGHUP") or threading.current_thread() is not threading.main_thread():
        yield  # not POSIX, or run from a thread (a test, an embedding program): signals are not ours
        return

    def as_ctrl_c(signum: int, _frame: object) -> None:
        _STOPPED_BY.append(signum)
        signal.raise_signal(signal.SIGINT)

    saved = {sig: signal.signal(sig, as_ctrl_c) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def run(argv: Sequence[str]) -> int:
    try:
        parser = build_parser()
        # Only acts when the shell's completion hook runs us (it sets _ARGCOMPLETE): prints the candidates
        # for the word being completed and exits; otherwise returns at once.
        argcomplete.autocomplete(parser)
        args = parser.parse_args(list(argv))
        if args.command in (None, "demo", "serve"):  # the console draws the terminal itself
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
        if _STOPPED_BY:
            name = signal.Signals(_STOPPED_BY[0]).name
            with contextlib.suppress(OSError):  # after a hangup stderr may be gone
                error_line(STOP_WORDS.get(name, name))
            return 128 + _STOPPED_BY[0]
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
    if command == "sim":  # `shipdeck sim` is routed before argparse; this is `run(["sim", ...])`
        from shipdeck.sim.cli import main as sim_main

        return sim_main(list(args.sim_args))
    if command == "completion":
        from argcomplete.shell_integration import shellcode

        print(shellcode(["shipdeck"], shell=args.shell), end="")
        return 0
    # The commands are imported when used: the console starts without any of them.
    if command in ("config", "themes", "audit"):
        from shipdeck.cli.local import cmd_audit, cmd_config, cmd_themes
    if command == "config":
        return cmd_config(args)
    if command == "themes":
        return cmd_themes(args)
    if command == "audit":
        return cmd_audit(args)
    if command == "demo":
        return run_demo(args)
    if command == "ls" and args.all_profiles:
        if args.profile or args.provider:
            raise UsageError("ls --all-profiles lists every profile: drop --profile/--provider")
        from shipdeck.cli.fleet import list_all_profiles

        config = load_config()
        for warning in config.warnings:
            warning_line(warning)
        with stopped_as_by_ctrl_c():
            return asyncio.run(list_all_profiles(config, args))
    if command is None and not args.provider:
        return open_console(_console_options(load_config(), args))
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
        return open_console(
            console_options(config, profile, problems, cache=not args.no_cache, timeout=args.timeout)
        )
    if command == "serve":  # the profile and its token were checked above: fail here, not in the browser
        from shipdeck.cli.serve import cmd_serve

        return cmd_serve(args)
    _check_arguments(args)
    for warning in [*config.warnings, *problems]:
        warning_line(warning)
    with stopped_as_by_ctrl_c():
        return asyncio.run(run_scriptable(args, profile, config))


def _console_options(config: ShipdeckConfig, args: argparse.Namespace) -> ConsoleOptions:
    """The console over every profile of the config (the switcher lists them all): it opens on the chosen
    one, or on the fleet when the config's start_screen says so or several profiles and none was chosen.
    A profile other than the chosen one that cannot be built (its token is missing) is left out, said."""
    chosen = args.profile or os.environ.get("SHIPDECK_PROFILE") or config.default_profile
    fleet = config.start_screen == "fleet" or (chosen is None and len(config.profiles) > 1)
    start = None if fleet else choose_profile_name(config, args.profile)
    profiles: list[Profile] = []
    problems: list[str] = []
    left_out: list[tuple[str, str]] = []
    for name in config.profiles:
        try:
            profile = build_profile(config, name, read_only=args.read_only, with_tasks=False)
        except ConfigError as exc:
            if name == start:
                raise
            problems.append(f"profile {name} left out: {exc.message}")
            left_out.append((name, "no token" if isinstance(exc, TokenError) else "config error"))
            continue
        profile, more = _attach_tasks(config, name, profile, args.read_only, wanted=True)
        profiles.append(profile)
        problems += more
    if not profiles:
        choose_profile_name(config, args.profile)  # says why there is none
        raise ConfigError("no profile could be opened: " + "; ".join(problems))
    first = next((p for p in profiles if p.name == start), profiles[0])
    options = console_options(config, first, problems, cache=not args.no_cache, timeout=args.timeout)
    return replace(
        options, profiles=tuple(profiles), left_out=tuple(left_out), start_fleet=fleet and len(profiles) > 1
    )


def _check_arguments(args: argparse.Namespace) -> None:
    """What the parser cannot check alone, checked before any request (usage errors, exit code 2)."""
    if args.command == "domains" and args.domain_action == "add" and args.domain:
        from shipdeck.model.validation import domain_problem

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


def console_options(
    config: ShipdeckConfig,
    profile: Profile,
    problems: list[str],
    *,
    cache: bool = True,
    timeout: float = 60.0,
) -> ConsoleOptions:
    from shipdeck.config.cache import cache_file
    from shipdeck.config.paths import cache_dir
    from shipdeck.tui.themes import load_usable_themes

    catalog = load_usable_themes()
    cache_path = directory = None
    if cache and config.cache:
        directory = cache_dir()
        cache_path = cache_file(profile.name, profile.provider, profile.base_url, directory)
    return ConsoleOptions(
        profile=profile,
        keymap=dict(config.keymap),
        theme=profile.theme or config.theme,
        theme_specs=catalog.themes,
        theme_problems=catalog.problems,
        config_problems=[*config.warnings, *problems],
        audit_path=config.audit_log,
        commands=tuple(config.commands.values()),
        cache_path=cache_path,
        cache_dir=directory,
        alert=config.alert,
        request_deadline=timeout,
    )


def open_console(options: ConsoleOptions) -> int:
    from shipdeck.tui import run_console

    return int(run_console(options))


async def run_scriptable(args: argparse.Namespace, profile: Profile, config: ShipdeckConfig) -> int:
    from shipdeck.api.factory import make_adapter
    from shipdeck.cli.commands import CommandContext
    from shipdeck.config.audit import AuditLog, server_origin
    from shipdeck.config.open_changes import OpenChanges
    from shipdeck.live.session import ChangeSession

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
            adapter,
            audit,
            read_only=profile.read_only,
            profile_name=profile.name,
            open_changes=OpenChanges(warn=warning_line),
        )
        context = CommandContext(adapter=adapter, session=session, args=args, out=sys.stdout, err=sys.stderr)
        command = remote_commands()[args.command]
        if not _bounded(args):
            return await command(context)
        try:
            # A little later than the transport's own deadline, so that one slow request still ends with its
            # own, more precise message ('could not connect ...').
            async with asyncio.timeout(args.timeout + COMMAND_GRACE):
                return await command(context)
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


def remote_commands() -> dict[str, Command]:
    """The commands that talk to a control plane (the scriptable ones, and deploy)."""
    from shipdeck.cli.commands import COMMANDS
    from shipdeck.cli.deploy import cmd_deploy
    from shipdeck.cli.operate import cmd_auto_deploy, cmd_logs, cmd_releases, cmd_stop

    return {
        **COMMANDS,
        "deploy": cmd_deploy,
        "stop": cmd_stop,
        "auto-deploy": cmd_auto_deploy,
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
    from shipdeck.cli.demo import DemoSandbox

    db_path = state_dir() / "demo.db"
    if args.fresh:
        for leftover in (db_path, db_path.with_name("demo.db-wal"), db_path.with_name("demo.db-shm")):
            leftover.unlink(missing_ok=True)
    print("shipdeck: starting the sandbox control plane on loopback ...", file=sys.stderr, flush=True)
    config = _config_for_ad_hoc()
    only = args.demo_provider or getattr(args, "provider", None)
    with DemoSandbox(db_path, port=args.port) as sandbox:
        if only:
            profile = sandbox.single_profile(only, read_only=args.read_only)
            return open_console(
                console_options(config, profile, [], cache=not args.no_cache, timeout=args.timeout)
            )
        fleet = sandbox.fleet_profiles(read_only=args.read_only)
        options = console_options(config, fleet[0], [], cache=not args.no_cache, timeout=args.timeout)
        return open_console(replace(options, profiles=tuple(fleet), start_fleet=len(fleet) > 1))

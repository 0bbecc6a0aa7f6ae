"""The argparse tree: global options first, then one subcommand (none opens the console)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from typing import overload

from shipdeck import __version__
from shipdeck.api.providers import SPECS, deploy_targets

EXIT_CODES = """\
exit codes: 0 ok, 1 refused by the API (or declined at the question), 2 usage (checked before anything
is sent; a change with no terminal to ask on needs --yes), 3 authentication, 4 not found, 5 network or a
broken answer, 6 a change's outcome unknown (its answer was lost: check before re-running), 130 interrupted
(Ctrl-C), 143 terminated (SIGTERM), 129 hung up (SIGHUP): each stops a change in flight as Ctrl-C does
"""

EPILOG = f"""\
examples:
  shipdeck                               open the console on the default profile
  shipdeck demo                          the console on a local sandbox with demo data
  shipdeck --profile prod-eu ls --json
  MIOSA_API_KEY=... shipdeck --provider miosa --url http://127.0.0.1:8765/api/v1 ls
  shipdeck rollback web --reason "bad deploy"
  shipdeck promote web v12 --yes

{EXIT_CODES}"""


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line (plus the usage hint) and never exit the process."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


class UsageError(Exception):
    exit_code = 2


class _DeployTargets(Sequence[str]):
    """``deploy --target``'s choices, asked of the providers' capabilities only when argparse checks or
    shows them: building the parser (every start, the console's too) imports no adapter module."""

    def _targets(self) -> tuple[str, ...]:
        return deploy_targets()

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._targets()[index]

    def __len__(self) -> int:
        return len(self._targets())

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets())

    def __contains__(self, value: object) -> bool:
        return value in self._targets()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="shipdeck",
        description="A terminal console for deployment control planes (Miosa, Miteos, Mixpeek).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"shipdeck {__version__}")
    target = parser.add_argument_group("which control plane")
    target.add_argument(
        "--profile",
        metavar="NAME",
        help="a profile of the config file (default: SHIPDECK_PROFILE, then default_profile)",
    )
    target.add_argument("--provider", choices=tuple(SPECS), help="ad hoc, without a profile: the provider")
    target.add_argument(
        "--url", metavar="URL", help="ad hoc: the API base URL (token from the provider's env var)"
    )
    parser.add_argument(
        "--read-only", action="store_true", help="refuse every change (on top of the profile's read_only)"
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="the console starts without the profile's last known list, and saves none",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=60.0,
        metavar="SECONDS",
        help="give up after this long: a read command as a whole (paging and retries included), a change "
        "request by request (default 60)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    json_flag = _Parser(add_help=False)
    json_flag.add_argument("--json", action="store_true", help="machine-readable output")
    yes_flag = _Parser(add_help=False)
    yes_flag.add_argument(
        "-y", "--yes", action="store_true", help="do not ask for confirmation (needed without a terminal)"
    )
    env_flag = _Parser(add_help=False)
    env_flag.add_argument(
        "--environment",
        metavar="ENV",
        help="target environment where the provider has several (Mixpeek: staging, production)",
    )

    def add(name: str, help_text: str, *parents: _Parser) -> argparse.ArgumentParser:
        return sub.add_parser(
            name, help=help_text, description=help_text, parents=list(parents), epilog=EXIT_CODES
        )

    demo = add("demo", "open the console on a local sandbox control plane with demo data")
    demo.add_argument(
        "--port", type=_port, default=0, help="loopback port for the sandbox (default: a free one)"
    )
    demo.add_argument(
        "--provider",
        dest="demo_provider",
        choices=sorted(SPECS),
        help="one provider's console alone (default: the fleet of every sandbox profile)",
    )
    demo.add_argument(
        "--fresh", action="store_true", help="start from new demo data (drop the previous demo database)"
    )

    sim = add("sim", "run the sandbox control plane (Miosa, Miteos, Mixpeek APIs) on loopback")
    sim.add_argument("sim_args", nargs=argparse.REMAINDER, metavar="...", help="see `shipdeck sim --help`")

    serve = add("serve", "the console in a browser (textual-serve), on loopback, behind a token")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=0, help="port (default: a free one, printed at start)")
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="accept a non-loopback --host (anyone who can reach it and has the token gets the console)",
    )
    serve.add_argument(
        "--public-url",
        metavar="URL",
        help="the URL browsers reach it at (behind a proxy or with --allow-remote)",
    )

    config = add("config", "where the config file is, what it says, whether it works")
    config_sub = config.add_subparsers(
        dest="config_action", metavar="ACTION", parser_class=_Parser, required=True
    )
    config_sub.add_parser("path", help="print the config file's path")
    config_sub.add_parser("show", help="print the profiles (never a token)", parents=[json_flag])
    check = config_sub.add_parser(
        "check", help="check the file, the keys, the tokens and the themes (exit 1 on any problem)"
    )
    check.add_argument(
        "--online",
        action="store_true",
        help="also try each profile's token against its server (one cheap read each) and say which work",
    )

    completion = add("completion", "print the shell completion script: bash, zsh or fish")
    completion.add_argument("shell", choices=("bash", "zsh", "fish"), help="the shell to complete in")
    completion.epilog = (
        'install: bash: eval "$(shipdeck completion bash)" in ~/.bashrc; zsh: the same with zsh in '
        "~/.zshrc; fish: shipdeck completion fish > ~/.config/fish/completions/shipdeck.fish"
    )

    add("themes", "list the themes (shipped and yours)", json_flag)

    audit = add("audit", "print the audit log of changes made from this machine", json_flag)
    audit.add_argument("--tail", type=_record_count, metavar="N", help="only the last N records")

    ls = add("ls", "list deployments (sorted by name)", json_flag)
    ls.add_argument(
        "--sort",
        choices=("name", "state", "updated", "version", "id", "health"),
        help="order: name (the table's default; --json keeps the server's order unless --sort), state "
        "(failed first), updated or version (newest first), id, health (highest error rate first, with an "
        "ERRORS column: reads each deployment's health)",
    )
    ls.add_argument(
        "--all-profiles",
        action="store_true",
        help="every profile's deployments, in parallel (exit 0 only if every profile answered)",
    )
    versions = add("versions", "list a deployment's versions (* marks the active one)", json_flag)
    versions.add_argument("deployment", type=_reference, metavar="DEP", help="deployment id or name")

    status = add("status", "a deployment's state, active version and latest pipeline run", json_flag)
    status.add_argument("deployment", type=_reference, metavar="DEP")
    status.add_argument(
        "--watch", action="store_true", help="keep printing a line whenever something changes"
    )
    status.add_argument(
        "--until-settled",
        action="store_true",
        help="with --watch: stop once nothing is in progress (exit 1 if it failed)",
    )
    status.add_argument(
        "--interval",
        type=_positive_float,
        default=2.0,
        metavar="SECONDS",
        help="with --watch: poll interval (default 2)",
    )

    health = add(
        "health",
        "is a deployment failing its users: error rate, latency, trend, top routes, failing requests",
        json_flag,
    )
    health.add_argument("deployment", type=_reference, metavar="DEP")
    health.add_argument("--watch", action="store_true", help="keep printing a line per read")
    health.add_argument("--span", choices=("1h", "24h"), default="1h", help="the trend's span (default 1h)")
    health.add_argument(
        "--interval",
        type=_positive_float,
        default=5.0,
        metavar="SECONDS",
        help="with --watch: read interval (default 5)",
    )

    rollback = add(
        "rollback",
        "roll a deployment back (default: to the ready version before the active one, passing over one that "
        "failed its users when last live or never went live)",
        json_flag,
        yes_flag,
        env_flag,
    )
    rollback.add_argument("deployment", type=_reference, metavar="DEP")
    rollback.add_argument("--to", type=_reference, metavar="VERSION", help="version id or number (v12 or 12)")
    rollback.add_argument(
        "--reason", metavar="TEXT", help="why (kept in the audit log; no provider's rollback API takes one)"
    )
    rollback.add_argument(
        "--hold",
        action="store_true",
        help="also turn auto-deploy off, so the next push does not replace the rolled-back version",
    )

    promote = add("promote", "make a ready version live", json_flag, yes_flag, env_flag)
    promote.add_argument("deployment", type=_reference, metavar="DEP")
    promote.add_argument(
        "version", type=_reference, metavar="VERSION", help="version id or number (v12 or 12)"
    )
    promote.add_argument("--reason", metavar="TEXT", help="why (kept in the audit log)")

    publish = add(
        "publish", "publish a sandbox as a new version of a deployment", json_flag, yes_flag, env_flag
    )
    publish.add_argument("deployment", type=_reference, metavar="DEP")
    publish.add_argument(
        "--sandbox",
        metavar="ID",
        help="the sandbox to publish (required except on Mixpeek, which deploys a bundle)",
    )
    publish.add_argument(
        "--output-path", metavar="PATH", help="Miosa: where the built site is in the sandbox (like dist)"
    )
    publish.add_argument(
        "--entrypoint", metavar="FILE", help="Miosa: the file served first (like index.html)"
    )
    publish.add_argument("--message", metavar="TEXT", help="what this version is (Mixpeek requires one)")
    publish.add_argument(
        "--no-promote", action="store_true", help="build the version but do not make it live"
    )
    publish.add_argument(
        "--wait", action="store_true", help="wait until the version is ready or failed (exit 1 if failed)"
    )
    publish.add_argument(
        "--interval", type=_positive_float, default=2.0, metavar="SECONDS", help=argparse.SUPPRESS
    )

    env = add(
        "env",
        "list, set or unset a deployment's environment variables (values are masked)",
        json_flag,
        yes_flag,
    )
    env.add_argument("deployment", type=_reference, metavar="DEP")
    env.add_argument(
        "env_action", nargs="?", choices=("get", "set", "unset"), metavar="get|set|unset", help="default: get"
    )
    env.add_argument(
        "keys", nargs="*", metavar="KEY[=VALUE]", help="get KEY..., set KEY=VALUE..., unset KEY..."
    )
    env.add_argument("--environment", metavar="ENV", help="production (default), preview or development")

    domains = add("domains", "list, add, verify or remove a deployment's custom domains", json_flag, yes_flag)
    domains.add_argument("deployment", type=_reference, metavar="DEP")
    domains.add_argument(
        "domain_action",
        nargs="?",
        choices=("list", "add", "verify", "rm"),
        metavar="add|verify|rm",
        help="default: list",
    )
    domains.add_argument("domain", nargs="?", metavar="DOMAIN", help="domain name (or id for verify/rm)")

    stop = add("stop", "take a deployment off the air (Miosa): it stops answering", json_flag, yes_flag)
    stop.add_argument("deployment", metavar="DEP")

    auto_deploy = add(
        "auto-deploy",
        "say whether pushes deploy a deployment, or turn that on or off (off holds what is live)",
        json_flag,
        yes_flag,
    )
    auto_deploy.add_argument("deployment", metavar="DEP")
    auto_deploy.add_argument(
        "state", nargs="?", choices=("on", "off"), metavar="on|off", help="default: say which it is"
    )

    releases = add("releases", "list a deployment's releases, or promote one (Miosa)", json_flag, yes_flag)
    releases.add_argument("deployment", metavar="DEP")
    releases.add_argument(
        "release_action", nargs="?", choices=("list", "promote"), metavar="promote", help="default: list"
    )
    releases.add_argument("release", nargs="?", metavar="RELEASE", help="the release id to promote")

    logs = add(
        "logs",
        "runtime logs (Mixpeek: the app's; Miosa: an instance's), or a build's log with --build",
        json_flag,
    )
    logs.add_argument("deployment", metavar="DEP")
    logs.add_argument("--build", metavar="ID", help="a build's (Mixpeek: a deploy's) log, to its end")
    logs.add_argument("--instance", metavar="ID", help="Miosa: the runtime instance (default: the first)")
    logs.add_argument("--level", metavar="LEVEL", help="only this level (Mixpeek: debug, info, warn, error)")
    logs.add_argument(
        "--hours", type=_positive_int, default=1, metavar="N", help="Mixpeek: the last N hours (default 1)"
    )
    logs.add_argument("--limit", type=_positive_int, default=200, metavar="N", help="at most N lines")

    deploy = add(
        "deploy",
        "trigger a deployment of a workspace to a hosting target (Miteos: POST /deployments)",
        json_flag,
        yes_flag,
    )
    deploy.add_argument("--workspace", required=True, metavar="WS", help="the workspace to deploy (ws_...)")
    deploy.add_argument(  # a metavar: argparse would list the choices (import the adapters) to check one
        "--target",
        required=True,
        choices=_DeployTargets(),
        metavar="TARGET",
        help="hosting target: %(choices)s",
    )
    deploy.add_argument(
        "--config",
        metavar="CFG",
        help="deploy configuration id (default: the one of the workspace's latest deployment to that target)",
    )
    deploy.add_argument(
        "--wait",
        action="store_true",
        help="follow pending -> building -> deploying -> live | failed with stage timings (1 if failed)",
    )
    deploy.add_argument(
        "--interval", type=_positive_float, default=1.0, metavar="SECONDS", help=argparse.SUPPRESS
    )
    return parser


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0: {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0: {text!r}")
    return value


def _port(text: str) -> int:
    """A TCP port, or 0 for a free one: 99999 or -1 reached bind() and came back as "unexpected
    OverflowError"."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 1 to 65535, or 0 for a free one: {text!r}")
    return value


# An id, name, slug or version reference is a short line of text; longer is a mistake (a pasted file).
MAX_REFERENCE_LENGTH = 256
# More audit records than anyone keeps; also what a deque may be sized to without an OverflowError.
MAX_TAIL = 1_000_000


def _reference(text: str) -> str:
    """A deployment or version reference: not empty, one short line, no control characters."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    if len(text) > MAX_REFERENCE_LENGTH:
        raise argparse.ArgumentTypeError(
            f"is {len(text):,} characters long; an id or name has at most {MAX_REFERENCE_LENGTH}"
        )
    if any(not ch.isprintable() for ch in text):
        raise argparse.ArgumentTypeError("must not hold control characters or line breaks")
    return text.strip()


def _record_count(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_TAIL:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_TAIL:,}: {text[:40]!r}")
    return value

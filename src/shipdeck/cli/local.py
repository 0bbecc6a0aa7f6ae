"""Commands that need no control plane: config path|show|check, themes, audit."""

from __future__ import annotations

import argparse
import asyncio
import difflib
from collections import deque
from pathlib import Path
from typing import Any

from shipdeck.cli.output import CliError, error_line, print_json, print_table, warning_line
from shipdeck.config.audit import AuditReadProblem, change_of, read_audit, result_of
from shipdeck.config.errors import ConfigError
from shipdeck.config.loader import ProfileConfig, ShipdeckConfig, load_config, resolve_token
from shipdeck.config.paths import audit_log_file, config_file
from shipdeck.config.profile import Secret
from shipdeck.config.themes import DEFAULT_DARK_THEME, ThemeCatalog


def cmd_config(args: argparse.Namespace) -> int:
    if args.config_action == "path":
        print(config_file())
        return 0
    config = load_config()
    if args.config_action == "show":
        return _config_show(config, json_output=args.json)
    return _config_check(config, online=args.online, timeout=args.timeout)


def _profile_rows(config: ShipdeckConfig) -> list[dict[str, Any]]:
    return [
        {
            "name": p.name,
            "default": p.name == config.default_profile,
            "provider": p.provider,
            "base_url": p.base_url,
            "environment": p.environment,
            "read_only": p.read_only,
            "theme": p.theme or config.theme,
            "token_source": p.token_source,
            "tasks_profile": p.tasks_profile,
        }
        for p in config.profiles.values()
    ]


def _config_show(config: ShipdeckConfig, *, json_output: bool) -> int:
    for warning in config.warnings:
        warning_line(warning)
    profiles = _profile_rows(config)
    if json_output:
        print_json(
            {
                "path": str(config.path),
                "exists": config.exists,
                "default_profile": config.default_profile,
                "profiles": profiles,
                "keymap": config.keymap,
                "theme": config.theme,
                "audit_log": str(config.audit_log or audit_log_file()),
            }
        )
        return 0
    print(f"config file: {config.path}" + ("" if config.exists else " (does not exist)"))
    rows = [
        [
            ("* " if p["default"] else "  ") + p["name"],
            p["provider"],
            p["environment"],
            "yes" if p["read_only"] else "no",
            p["base_url"],
            p["token_source"],
        ]
        for p in profiles
    ]
    print_table(
        ["  PROFILE", "PROVIDER", "ENVIRONMENT", "READ-ONLY", "BASE URL", "TOKEN FROM"],
        rows,
        empty="no profiles",
    )
    if config.keymap:
        print("keymap: " + ", ".join(f"{k} = {v}" for k, v in config.keymap.items()))
    return 0


def _config_check(config: ShipdeckConfig, *, online: bool = False, timeout: float = 15.0) -> int:
    """Every problem, not just the first: the file, the keys, each profile's token, the themes named;
    with ``online``, whether each token works against its server."""
    if not config.exists:
        print(f"{config.path}: no config file (shipdeck runs ad hoc or with `shipdeck demo`)")
        return 0
    exit_code = 0
    for warning in config.warnings:
        warning_line(warning)
    exit_code = max(exit_code, _check_keys(config))
    from shipdeck.tui.themes import load_usable_themes

    catalog = load_usable_themes()
    for problem in catalog.problems:
        warning_line(problem)
    working: list[tuple[ProfileConfig, Secret]] = []
    for profile in config.profiles.values():
        try:
            token = resolve_token(profile)
        except ConfigError as exc:
            error_line(exc.message)
            exit_code = max(exit_code, exc.exit_code)
            continue
        working.append((profile, token))
        theme = profile.theme or config.theme
        if theme and catalog.get(theme) is None and not theme.startswith("textual-"):
            warning_line(
                f"profile {profile.name}: theme {theme!r} not found (themes: {', '.join(catalog.names())})"
            )
        print(f"profile {profile.name}: ok ({profile.provider}, token from {profile.token_source})")
    if online and working:
        exit_code = max(exit_code, asyncio.run(_check_online(working, timeout)))
    if exit_code == 0:
        print(f"{config.path}: ok")
    return exit_code


def _check_keys(config: ShipdeckConfig) -> int:
    """[keymap] and [commands] against the console's bindings: a key two bindings of one screen would share
    is an error (Textual would silently run only one of them); a binding id nobody has, a warning."""
    from shipdeck.tui.binding_scopes import clashes, known_binding_ids

    known = known_binding_ids()
    for binding_id in config.keymap:
        if binding_id not in known:
            close = difflib.get_close_matches(binding_id, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            warning_line(f"{config.path}: keymap.{binding_id}: no key binding has this id; ignored{hint}")
    keymap = {k: v for k, v in config.keymap.items() if k in known}
    found = clashes(keymap, list(config.commands.values()))
    for clash in found:
        error_line(f"{config.path}: {clash.message()}")
    return 1 if found else 0


async def _check_online(profiles: list[tuple[ProfileConfig, Secret]], timeout: float) -> int:
    """One cheap authenticated read per profile (the first deployment), all at once; which tokens work."""
    from shipdeck.api.errors import ShipdeckError
    from shipdeck.api.factory import make_adapter
    from shipdeck.config.profile import Profile

    async def probe(entry: ProfileConfig, token: Secret) -> tuple[str, ShipdeckError | None]:
        profile = Profile(entry.name, entry.provider, entry.base_url, token, environment=entry.environment)
        try:
            adapter = make_adapter(profile, timeout=min(timeout, 15.0), deadline=timeout)
            async with adapter:
                await adapter.list_deployments(cursor=None, limit=1)
        except ShipdeckError as exc:
            return entry.name, exc
        return entry.name, None

    results = await asyncio.gather(*(probe(entry, token) for entry, token in profiles))
    exit_code = 0
    for (entry, _), (name, problem) in zip(profiles, results, strict=True):
        if problem is None:
            print(f"profile {name}: token works ({entry.provider} at {entry.base_url})")
            continue
        error_line(f"profile {name}: token does not work against {entry.base_url}: {problem}")
        exit_code = max(exit_code, int(problem.exit_code))
    return exit_code


def cmd_themes(args: argparse.Namespace, catalog: ThemeCatalog | None = None) -> int:
    if catalog is None:
        from shipdeck.tui.themes import load_usable_themes

        catalog = load_usable_themes()
    for problem in catalog.problems:
        warning_line(problem)
    if args.json:
        print_json(
            [
                {
                    "name": t.name,
                    "dark": t.dark,
                    "ansi": t.ansi,
                    "source": t.source,
                    "default": t.name == DEFAULT_DARK_THEME,
                }
                for t in catalog.themes
            ]
        )
        return 0
    rows = [
        [
            ("* " if t.name == DEFAULT_DARK_THEME else "  ") + t.name,
            "16 colours" if t.ansi else ("dark" if t.dark else "light"),
            t.source,
        ]
        for t in catalog.themes
    ]
    print_table(["  THEME", "KIND", "FILE"], rows, empty="no themes found")
    return 0


def audit_path_from_config() -> Path:
    """The configured audit log, or the default one; a broken config only costs a warning here."""
    try:
        configured = load_config().audit_log
    except ConfigError as exc:
        warning_line(f"{exc.message} (reading the default audit log)")
        configured = None
    return configured or audit_log_file()


def cmd_audit(args: argparse.Namespace) -> int:
    path = audit_path_from_config()
    records: deque[dict[str, Any]] = deque(maxlen=args.tail)
    problems = 0
    try:
        for item in read_audit(path):
            if isinstance(item, AuditReadProblem):
                problems += 1
                warning_line(f"{path}, line {item.line_number}: skipped, {item.reason}")
                continue
            records.append(item)
    except OSError as exc:
        raise CliError(f"cannot read the audit log {path}: {exc.strerror or exc}", 1) from None
    if args.json:
        print_json(list(records))
    else:
        if not records:
            print(f"no audit records in {path}")
        rows = [_audit_row(r) for r in records]
        print_table(["TIME", "PHASE", "PROFILE", "ACTION", "TARGET", "CHANGE", "RESULT", "REQUEST"], rows)
    if problems:
        warning_line(f"{problems} corrupt line(s) skipped in {path}")
    return 0


def _audit_row(record: dict[str, Any]) -> list[str]:
    def text(key: str) -> str:
        value = record.get(key)
        return "-" if value is None else str(value)

    return [
        text("time"),
        text("phase"),
        text("profile"),
        text("action"),
        text("target"),
        change_of(record) or "-",
        result_of(record),
        text("request_id"),
    ]

"""Commands that need no control plane: config path|show|check, themes, audit."""

from __future__ import annotations

import argparse
from collections import deque
from pathlib import Path
from typing import Any

from shipdeck.cli.output import CliError, error_line, print_json, print_table, warning_line
from shipdeck.config.audit import AuditReadProblem, change_of, read_audit, result_of
from shipdeck.config.errors import ConfigError
from shipdeck.config.loader import ShipdeckConfig, load_config, resolve_token
from shipdeck.config.paths import audit_log_file, config_file
from shipdeck.config.themes import DEFAULT_DARK_THEME, ThemeCatalog, load_themes


def cmd_config(args: argparse.Namespace) -> int:
    if args.config_action == "path":
        print(config_file())
        return 0
    config = load_config()
    if args.config_action == "show":
        return _config_show(config, json_output=args.json)
    return _config_check(config)


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


def _config_check(config: ShipdeckConfig) -> int:
    """Every problem, not just the first: the file, each profile's token, the themes named."""
    if not config.exists:
        print(f"{config.path}: no config file (shipdeck runs ad hoc or with `shipdeck demo`)")
        return 0
    exit_code = 0
    for warning in config.warnings:
        warning_line(warning)
    catalog = load_themes()
    for problem in catalog.problems:
        warning_line(problem)
    for profile in config.profiles.values():
        try:
            resolve_token(profile)
        except ConfigError as exc:
            error_line(exc.message)
            exit_code = max(exit_code, exc.exit_code)
            continue
        theme = profile.theme or config.theme
        if theme and catalog.get(theme) is None and not theme.startswith("textual-"):
            warning_line(
                f"profile {profile.name}: theme {theme!r} not found (themes: {', '.join(catalog.names())})"
            )
        print(f"profile {profile.name}: ok ({profile.provider}, token from {profile.token_source})")
    if exit_code == 0:
        print(f"{config.path}: ok")
    return exit_code


def cmd_themes(args: argparse.Namespace, catalog: ThemeCatalog | None = None) -> int:
    catalog = catalog or load_themes()
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

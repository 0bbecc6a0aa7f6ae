"""The config file: profiles, the default profile, the keymap. TOML, strict about what it understands.

A problem that makes the file unusable raises :class:`ConfigError` naming the file, the line and the key.
Problems that lose nothing (an unknown key, two bindings on one key) are returned as warnings.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from shipdeck.config.custom_commands import (
    COMMAND_KEYS,
    CustomCommand,
    key_problem,
    parse_commands,
    terminal_twin,
)
from shipdeck.config.errors import ConfigError, TokenError
from shipdeck.config.files import FileRefused, read_bounded
from shipdeck.config.paths import config_file
from shipdeck.config.profile import (
    CONFIRM_STYLES,
    DEFAULT_TOKEN_ENV,
    ENVIRONMENT_LABELS,
    ConfirmStyle,
    EnvironmentLabel,
    Profile,
    Secret,
)
from shipdeck.config.providers import (
    DEFAULT_BASE_URL,
    PROVIDERS,
    TASK_PROVIDERS,
    ProviderName,
    complete_base_url,
)
from shipdeck.config.tokens import (
    DEFAULT_TOKEN_COMMAND_TIMEOUT,
    file_is_private,
    private_file_fix,
    token_from_command,
    token_from_env,
)

_TOP_KEYS = (
    "default_profile",
    "profiles",
    "keymap",
    "theme",
    "audit_log",
    "cache",
    "start_screen",
    "commands",
    "alert",
)
# What the console opens on: the chosen profile's list, or the fleet of every profile.
START_SCREENS = ("profile", "fleet")
# When a watched build or rollback finishes: nothing, the terminal bell, or the bell and a desktop
# notification (OSC 9 / OSC 777, where the terminal has them).
ALERT_CHOICES = ("off", "bell", "desktop")
_PROFILE_KEYS = (
    "provider",
    "base_url",
    "environment",
    "read_only",
    "theme",
    "confirm",
    "token_env",
    "token_command",
    "token_command_timeout",
    "token",
    "tasks_profile",
)
_TOKEN_KEYS = ("token_env", "token_command", "token")


@dataclass(frozen=True)
class ProfileConfig:
    """One ``[profiles.NAME]`` table, checked; the token is not resolved yet (see :func:`build_profile`)."""

    name: str
    provider: ProviderName
    base_url: str
    environment: EnvironmentLabel = "production"
    read_only: bool = False
    theme: str | None = None
    confirm: ConfirmStyle | None = None
    token_env: str | None = None
    token_command: str | None = None
    token_command_timeout: float = DEFAULT_TOKEN_COMMAND_TIMEOUT
    literal_token: Secret | None = field(default=None, repr=False)
    tasks_profile: str | None = None

    @property
    def token_source(self) -> str:
        """How the token is found, for `config show` (never the token itself)."""
        if self.token_command:
            return f"command: {self.token_command}"
        if self.literal_token is not None:
            return "literal token in the config file"
        return f"environment variable {self.token_env or DEFAULT_TOKEN_ENV[self.provider]}"


@dataclass(frozen=True)
class ShipdeckConfig:
    path: Path
    exists: bool = False
    default_profile: str | None = None
    profiles: dict[str, ProfileConfig] = field(default_factory=dict)
    keymap: dict[str, str] = field(default_factory=dict)
    theme: str | None = None
    audit_log: Path | None = None
    # The console starts from each profile's last known list (config/cache.py); `cache = false` turns it off.
    cache: bool = True
    alert: str = "bell"
    warnings: list[str] = field(default_factory=list)
    # [commands.NAME]: the user's own commands, in the file's order.
    commands: dict[str, CustomCommand] = field(default_factory=dict)
    # "fleet": the console opens on every profile at once; "profile" (or None): on the chosen one.
    start_screen: str | None = None


# A config file is a few kilobytes; past these it is not one (and would only cost time to read).
MAX_CONFIG_BYTES = 1024 * 1024
MAX_CONFIG_NESTING = 32


def load_config(path: Path | None = None) -> ShipdeckConfig:
    """The config at ``path`` (default: ``SHIPDECK_CONFIG`` or the user config dir). No file: empty config,
    except when ``SHIPDECK_CONFIG`` names it (a typo there must not silently mean no profiles)."""
    named = path is None and bool(os.environ.get("SHIPDECK_CONFIG"))
    path = path or config_file()
    raw = _read_config_bytes(path, named=named)
    if raw is None:
        return ShipdeckConfig(path=path)
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")  # a BOM some editors write
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested more than {MAX_CONFIG_NESTING} levels deep") from None
    if _nesting(data) > MAX_CONFIG_NESTING:
        raise ConfigError(f"{path}: nested more than {MAX_CONFIG_NESTING} levels deep")
    return _Parser(path, text).parse(data)


def _read_config_bytes(path: Path, *, named: bool) -> bytes | None:
    """The file's bytes (None: there is no file). Refused: anything but a regular file (a FIFO would block
    the read forever), and more than MAX_CONFIG_BYTES (config/files.py, the rule theme files share)."""
    try:
        return read_bounded(path, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        if named:
            raise ConfigError(f"SHIPDECK_CONFIG names {path}, which does not exist") from None
        return None
    except FileRefused as exc:
        if exc.too_large:
            raise ConfigError(_too_large(path)) from None
        raise ConfigError(
            f"{path}: not a regular file (a config file must be one; this is {exc.kind})"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from None


def _too_large(path: Path) -> str:
    return f"{path}: larger than {MAX_CONFIG_BYTES // 1024 // 1024} MB; a config file may be at most that"


def _nesting(data: Any) -> int:
    """How deep tables and arrays nest (iteratively: a deep value must not exhaust the stack here either)."""
    deepest = 0
    todo: list[tuple[Any, int]] = [(data, 0)]
    while todo:
        value, depth = todo.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_CONFIG_NESTING:
            return deepest
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        todo.extend((child, depth + 1) for child in children)
    return deepest


class _Parser:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.locator = _KeyLocator(text)
        self.warnings: list[str] = []

    def where(self, table: tuple[str, ...], key: str | None = None) -> str:
        line = self.locator.line_of(table, key)
        dotted = ".".join(_quote_key(part) for part in (*table, *([key] if key else [])))
        at_line = f", line {line}" if line else ""
        return f"{self.path}{at_line}: {dotted}"

    def fail(self, table: tuple[str, ...], key: str | None, problem: str) -> ConfigError:
        return ConfigError(f"{self.where(table, key)}: {problem}")

    def warn_unknown(self, table: tuple[str, ...], data: dict[str, Any], known: tuple[str, ...]) -> None:
        for key in data:
            if key in known:
                continue
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.warnings.append(f"{self.where(table, key)}: unknown key, ignored{hint}")

    def string(self, table: tuple[str, ...], data: dict[str, Any], key: str) -> str | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(table, key, f"must be a non-empty string (got {_describe(value)})")
        return value.strip()

    def parse(self, data: dict[str, Any]) -> ShipdeckConfig:
        self.warn_unknown((), data, _TOP_KEYS)
        profiles_table = data.get("profiles", {})
        if not isinstance(profiles_table, dict):
            raise self.fail((), "profiles", "must be a table of profiles, like [profiles.prod]")
        profiles: dict[str, ProfileConfig] = {}
        for name, table in profiles_table.items():
            if not isinstance(table, dict):
                raise self.fail(("profiles",), name, "must be a table, like [profiles.NAME]")
            profiles[name] = self.profile(name, table)
        self.check_private_if_literal_token(profiles)
        default = self.string((), data, "default_profile")
        if default is not None and default not in profiles:
            known = ", ".join(sorted(profiles)) or "none defined"
            raise self.fail((), "default_profile", f"no profile named {default!r} (profiles: {known})")
        for profile in profiles.values():
            self.check_tasks_profile(profile, profiles)
        keymap = self.keymap(data.get("keymap", {}))
        commands = parse_commands(data.get("commands", {}), fail=self.fail)
        for name, table in data.get("commands", {}).items():
            self.warn_unknown(("commands", name), table, COMMAND_KEYS)
        audit_log = self.string((), data, "audit_log")
        cache = data.get("cache", True)
        if not isinstance(cache, bool):
            raise self.fail((), "cache", f"must be true or false (got {_describe(cache)})")
        start_screen = self.string((), data, "start_screen")
        if start_screen is not None and start_screen not in START_SCREENS:
            raise self.fail((), "start_screen", f"must be one of {', '.join(START_SCREENS)}")
        alert = self.string((), data, "alert") or "bell"
        if alert not in ALERT_CHOICES:
            raise self.fail((), "alert", f"must be one of {', '.join(ALERT_CHOICES)} (got {alert!r})")
        return ShipdeckConfig(
            start_screen=start_screen,
            path=self.path,
            exists=True,
            default_profile=default,
            profiles=profiles,
            keymap=keymap,
            theme=self.string((), data, "theme"),
            audit_log=Path(audit_log).expanduser() if audit_log else None,
            cache=cache,
            alert=alert,
            warnings=self.warnings,
            commands=commands,
        )

    def profile(self, name: str, data: dict[str, Any]) -> ProfileConfig:
        table = ("profiles", name)
        self.warn_unknown(table, data, _PROFILE_KEYS)
        provider = data.get("provider")
        if provider not in PROVIDERS:
            problem = "required" if provider is None else f"unknown provider {_describe(provider)}"
            raise self.fail(table, "provider", f"{problem}; one of {', '.join(PROVIDERS)}")
        provider = cast(ProviderName, provider)
        base_url = self.string(table, data, "base_url") or DEFAULT_BASE_URL[provider]
        url_problem = base_url_problem(base_url)
        if url_problem is not None:
            raise self.fail(table, "base_url", url_problem)
        plain = plain_http_warning(base_url, self.where(table, "base_url"))
        if plain:
            self.warnings.append(plain)
        environment = data.get("environment", "production")
        if environment not in ENVIRONMENT_LABELS:
            raise self.fail(
                table,
                "environment",
                f"must be one of {', '.join(ENVIRONMENT_LABELS)} (got {_describe(environment)})",
            )
        read_only = data.get("read_only", False)
        if not isinstance(read_only, bool):
            raise self.fail(table, "read_only", f"must be true or false (got {_describe(read_only)})")
        confirm = data.get("confirm")
        if confirm is not None and confirm not in CONFIRM_STYLES:
            raise self.fail(
                table, "confirm", f"must be one of {', '.join(CONFIRM_STYLES)} (got {_describe(confirm)})"
            )
        sources = [key for key in _TOKEN_KEYS if key in data]
        if len(sources) > 1:
            raise self.fail(table, sources[1], f"choose one token source, not {' and '.join(sources)}")
        token_env = self.string(table, data, "token_env")
        if token_env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", token_env):
            raise self.fail(table, "token_env", f"{token_env!r} is not an environment variable name")
        timeout = data.get("token_command_timeout", DEFAULT_TOKEN_COMMAND_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 600:
            raise self.fail(table, "token_command_timeout", "must be a number of seconds between 0 and 600")
        literal = data.get("token")
        if literal is not None and (not isinstance(literal, str) or not literal.strip()):
            # Never echo the value: it may be a token with a typo.
            raise self.fail(table, "token", "must be a non-empty string")
        return ProfileConfig(
            name=name,
            provider=provider,
            base_url=complete_base_url(provider, base_url),
            environment=cast(EnvironmentLabel, environment),
            read_only=read_only,
            theme=self.string(table, data, "theme"),
            confirm=cast(ConfirmStyle | None, confirm),
            token_env=token_env,
            token_command=self.string(table, data, "token_command"),
            token_command_timeout=float(timeout),
            literal_token=Secret(literal.strip()) if isinstance(literal, str) else None,
            tasks_profile=self.string(table, data, "tasks_profile"),
        )

    def check_private_if_literal_token(self, profiles: dict[str, ProfileConfig]) -> None:
        with_token = [p.name for p in profiles.values() if p.literal_token is not None]
        if with_token and not file_is_private(self.path):
            mode = oct(self.path.stat().st_mode & 0o777)[2:]
            raise TokenError(
                f"{self.where(('profiles', with_token[0]), 'token')}: refusing a literal token in a file "
                f"others can read (mode {mode}); run: {private_file_fix(self.path)} "
                "(or use token_env / token_command instead)"
            )

    def check_tasks_profile(self, profile: ProfileConfig, profiles: dict[str, ProfileConfig]) -> None:
        if profile.tasks_profile is None:
            return
        target = profiles.get(profile.tasks_profile)
        table = ("profiles", profile.name)
        if target is None:
            raise self.fail(table, "tasks_profile", f"no profile named {profile.tasks_profile!r}")
        if target.provider not in TASK_PROVIDERS:
            raise self.fail(
                table,
                "tasks_profile",
                f"{target.name!r} is a {target.provider} profile, not {' or '.join(TASK_PROVIDERS)}",
            )

    def keymap(self, data: Any) -> dict[str, str]:
        if not isinstance(data, dict):
            raise self.fail((), "keymap", 'must be a table: [keymap] then binding_id = "key"')
        keymap: dict[str, str] = {}
        for binding_id, keys in data.items():
            if not binding_id.strip():
                self.warnings.append(f"{self.where(('keymap',), binding_id)}: an empty binding id; ignored")
                continue
            if not isinstance(keys, str) or not keys.strip():
                raise self.fail(
                    ("keymap",), binding_id, f'must be a key like "ctrl+b" (got {_describe(keys)})'
                )
            # A key written twice ("ctrl+b, ctrl+b") is one key: it was said to be "bound to both rollback
            # and rollback".
            names = list(dict.fromkeys(k.strip() for k in keys.split(",") if k.strip()))
            if not names:
                raise self.fail(
                    ("keymap",), binding_id, f'{keys!r} is not a key; write keys like "ctrl+b", "f5"'
                )
            # The same rule as a custom command's key: "ctrl+shift+banana" passed, and the action was
            # left with no key at all (its old one replaced by one no terminal sends).
            problem = next((p for k in names if (p := key_problem(k)) is not None), None)
            if problem is not None:
                raise self.fail(("keymap",), binding_id, problem)
            for name in names:
                twin = terminal_twin(name)
                if twin is not None:
                    self.warnings.append(
                        f"{self.where(('keymap',), binding_id)}: {name!r} reaches the console as {twin} "
                        f"(terminals send one code for both), so it is pressed with {twin}; pick another key"
                    )
            keymap[binding_id] = ",".join(names)
        self.warnings.extend(keymap_conflicts(keymap, where=lambda b: self.where(("keymap",), b)))
        return keymap


def keymap_conflicts(keymap: dict[str, str], *, where: Callable[[str], str] | None = None) -> list[str]:
    """One warning per key that the keymap gives to two or more binding ids."""
    owners: dict[str, list[str]] = {}
    for binding_id, keys in keymap.items():
        for key in keys.split(","):
            owners.setdefault(key.strip(), []).append(binding_id)
    problems = []
    for key, all_ids in owners.items():
        ids = list(dict.fromkeys(all_ids))
        if len(ids) > 1:
            place = where(ids[1]) if where else f"keymap.{ids[1]}"
            problems.append(f"{place}: key {key!r} is bound to both {' and '.join(ids)}; only one will work")
    return problems


class _KeyLocator:
    """Finds the line of a key in TOML text (tomllib does not report it)."""

    _HEADER = re.compile(r"^\s*\[(?!\[)\s*(.+?)\s*\]\s*(?:#.*)?$")
    _KEY = re.compile(r"""^\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)\s*=""")

    def __init__(self, text: str) -> None:
        # One pass over the text: where each table's header is and where each key is set (the first time).
        # Looking every key up by scanning the text again made a 1 MB config take minutes to check.
        self._tables: dict[tuple[str, ...], int] = {}
        self._keys: dict[tuple[tuple[str, ...], str], int] = {}
        current: tuple[str, ...] = ()
        for number, line in enumerate(text.splitlines(), start=1):
            header = self._HEADER.match(line)
            if header:
                current = _split_dotted(header.group(1))
                self._tables.setdefault(current, number)
                continue
            match = self._KEY.match(line)
            if match:
                self._keys.setdefault((current, _unquote(match.group(1))), number)

    def line_of(self, table: tuple[str, ...], key: str | None) -> int | None:
        """The key's line; for a missing key, the line of its table's header."""
        if key is not None and (table, key) in self._keys:
            return self._keys[(table, key)]
        return self._tables.get(table)


def _split_dotted(text: str) -> tuple[str, ...]:
    parts = re.findall(r"""\s*("(?:[^"\\]|\\.)*"|'[^']*'|[^.\s]+)\s*(?:\.|$)""", text)
    return tuple(_unquote(p) for p in parts)


def _unquote(part: str) -> str:
    if len(part) >= 2 and part[0] == part[-1] and part[0] in "\"'":
        return part[1:-1]
    return part


def _quote_key(part: str) -> str:
    return part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else f'"{part}"'


def _describe(value: object) -> str:
    return repr(value) if isinstance(value, str | int | float | bool) else type(value).__name__


def _is_loopback(host: str) -> bool:
    """Loopback: ``localhost``, or an address (parsed, not a prefix) in 127.0.0.0/8 or ``::1``.
    ``127.evil.example`` is a name anyone can point anywhere, so it is not loopback."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


is_loopback = _is_loopback


_UNSAFE_IN_URL = re.compile(r"[\s\x00-\x1f\x7f]")


def base_url_problem(url: str) -> str | None:
    """What makes ``url`` unusable as a base URL (None: nothing), one rule for a profile's ``base_url`` and
    ``--url``: an http(s) URL with a host, a port from 1 to 65535 if any, no spaces or control characters,
    no query or fragment (``#frag`` gave a 404 for ``/api/v1.``), and no user name or password: httpx sent
    those as Basic auth instead of the token, and `config show` printed them. The message never repeats a
    URL that holds a password."""
    authority = url.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if "@" in authority:
        return (
            "must not contain a user name or password (user:password@host): shipdeck signs in with the "
            "profile's API token alone"
        )
    if _UNSAFE_IN_URL.search(url):
        return f"must not contain spaces or control characters (got {url!r})"
    if "?" in url or "#" in url:
        return f"must not have a query (?...) or a fragment (#...): give the API's base URL (got {url!r})"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        if "port" in str(exc).lower():
            return f"the port must be a number from 1 to 65535 (got {url!r})"
        return f"is not a valid URL: {exc} (got {url!r})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be an http(s) URL (got {url!r})"
    if port == 0:
        return f"the port must be a number from 1 to 65535 (got {url!r})"
    return None


def plain_http_warning(url: str, where: str) -> str | None:
    """The warning for a plain-http URL to anything but loopback (None when there is nothing to say)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or _is_loopback(parts.hostname):
        return None
    return f"{where}: plain http to {parts.hostname}: the token would travel unencrypted; use https"


def choose_profile_name(config: ShipdeckConfig, requested: str | None) -> str:
    """``--profile``, else ``SHIPDECK_PROFILE``, else ``default_profile``, else the only profile."""
    name = requested or os.environ.get("SHIPDECK_PROFILE") or config.default_profile
    if name is None:
        if len(config.profiles) == 1:
            return next(iter(config.profiles))
        if not config.profiles:
            raise ConfigError(
                f"no profile: {config.path} defines none; add a [profiles.NAME] table there, "
                "run ad hoc with --provider P --url URL, or try `shipdeck demo`"
            )
        raise ConfigError(
            f"several profiles and no default: pass --profile NAME, set SHIPDECK_PROFILE or default_profile "
            f"in {config.path} (profiles: {', '.join(sorted(config.profiles))})"
        )
    if name not in config.profiles:
        known = ", ".join(sorted(config.profiles)) or "none defined"
        raise ConfigError(f"no profile named {name!r} in {config.path} (profiles: {known})")
    return name


def resolve_token(profile: ProfileConfig) -> Secret:
    if profile.token_command:
        return token_from_command(
            profile.token_command, profile=profile.name, timeout=profile.token_command_timeout
        )
    if profile.literal_token is not None:
        return profile.literal_token
    return token_from_env(profile.token_env or DEFAULT_TOKEN_ENV[profile.provider], profile=profile.name)


def build_profile(
    config: ShipdeckConfig,
    name: str,
    *,
    read_only: bool = False,
    with_tasks: bool = True,
) -> Profile:
    """The named profile with its token; ``read_only`` can only tighten it. Raises TokenError.

    A read-only profile makes its ``tasks_profile`` read-only too: the Tasks screen opened from a
    read-only console must not change anything either.
    """
    entry = config.profiles[name]
    tasks: Profile | None = None
    if with_tasks and entry.tasks_profile:
        tasks = build_profile(
            config, entry.tasks_profile, read_only=read_only or entry.read_only, with_tasks=False
        )
    return Profile(
        name=name,
        provider=entry.provider,
        base_url=entry.base_url,
        token=resolve_token(entry),
        environment=entry.environment,
        read_only=entry.read_only or read_only,
        theme=entry.theme or config.theme,
        confirm=entry.confirm,
        tasks=tasks,
    )


def ad_hoc_profile(provider: str, url: str | None, *, read_only: bool = False) -> Profile:
    """``--provider P --url URL``: no config, the token from the provider's environment variable."""
    if provider not in PROVIDERS:
        raise ConfigError(f"--provider: unknown provider {provider!r}; one of {', '.join(PROVIDERS)}")
    name: ProviderName = provider
    base_url = (url or DEFAULT_BASE_URL[name]).strip()
    problem = base_url_problem(base_url)
    if problem is not None:
        raise ConfigError(f"--url: {problem}")
    parts = urlsplit(base_url)
    port = parts.port
    assert parts.hostname is not None  # checked by base_url_problem
    # The name keys the audit, the open changes and the cache. Two servers on one host are two servers
    # (staging on :8443, production on :443); the loopback sandbox is one whatever port it took.
    server = parts.hostname if port is None or _is_loopback(parts.hostname) else f"{parts.hostname}:{port}"
    return Profile(
        name=f"{name}@{server}",
        provider=name,
        base_url=complete_base_url(name, base_url),
        token=token_from_env(DEFAULT_TOKEN_ENV[name], profile=f"--provider {name}"),
        environment="sandbox" if _is_loopback(parts.hostname) else "production",
        read_only=read_only,
    )

"""Where shipdeck keeps things (platformdirs), created with private permissions."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "shipdeck"


def config_dir() -> Path:
    return platformdirs.user_config_path(APP, appauthor=False)


def config_file() -> Path:
    override = os.environ.get("SHIPDECK_CONFIG")
    return Path(override).expanduser() if override else config_dir() / "config.toml"


def state_dir(create: bool = True) -> Path:
    path = platformdirs.user_state_path(APP, appauthor=False)
    if create:
        ensure_private_dir(path)
    return path


def cache_dir(create: bool = True) -> Path:
    """The last known state of each profile (see config/cache.py): private, and safe to delete."""
    path = platformdirs.user_cache_path(APP, appauthor=False)
    if create:
        ensure_private_dir(path)
    return path


def user_themes_dir() -> Path:
    return config_dir() / "themes"


def audit_log_file() -> Path:
    return state_dir() / "audit.jsonl"


def open_changes_file() -> Path:
    """Changes whose outcome is unknown, with their idempotency keys (see config/open_changes.py)."""
    return state_dir() / "open-changes.json"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable by the owner only; tighten it if it exists."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)
    except OSError:
        pass
    return path

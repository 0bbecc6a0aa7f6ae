"""The providers shipdeck knows, as plain data the config layer may read.

Config validates profiles (``provider = "..."``, the default base URL and token variable, whether a
``tasks_profile`` can point at it) but imports neither ``api`` nor ``live``: the layer rule keeps the config
loadable, and testable, without the HTTP client. So the per-provider facts config needs live here, one row per
provider; ``shipdeck.api.providers`` builds each provider's full ``ProviderSpec`` (adapter class,
capabilities, demo profile) on top of its row, and a test checks that the two agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ProviderName = Literal["miosa", "miteos", "mixpeek"]


@dataclass(frozen=True)
class ProviderDefaults:
    name: ProviderName
    base_url: str  # the production API, used when a profile gives no base_url
    token_env: str  # the environment variable a profile reads its token from by default
    tasks: bool = False  # a ``tasks_profile`` may point at a profile of this provider
    # Appended to a base URL that names no API version (``https://api.miosa.ai``), as the provider's
    # official SDK does: the bare host answers every call with a 404.
    version_path: str | None = None


PROVIDER_DEFAULTS: dict[ProviderName, ProviderDefaults] = {
    row.name: row
    for row in (
        ProviderDefaults("miosa", "https://api.miosa.ai/api/v1", "MIOSA_API_KEY", version_path="/api/v1"),
        ProviderDefaults("miteos", "https://api.miteos.com/v1", "MITEOS_API_KEY", tasks=True),
        ProviderDefaults("mixpeek", "https://api.mixpeek.com/v1/apps", "MIXPEEK_API_KEY"),
    )
}

PROVIDERS: tuple[ProviderName, ...] = tuple(PROVIDER_DEFAULTS)
DEFAULT_BASE_URL: dict[ProviderName, str] = {name: row.base_url for name, row in PROVIDER_DEFAULTS.items()}
DEFAULT_TOKEN_ENV: dict[ProviderName, str] = {name: row.token_env for name, row in PROVIDER_DEFAULTS.items()}
TASK_PROVIDERS: tuple[ProviderName, ...] = tuple(name for name, row in PROVIDER_DEFAULTS.items() if row.tasks)


_VERSIONED = re.compile(r"/v\d+$")


def complete_base_url(provider: ProviderName, url: str) -> str:
    """``url`` without a trailing slash, and with the provider's version path when it names no version."""
    trimmed = url.strip().rstrip("/")
    suffix = PROVIDER_DEFAULTS[provider].version_path
    if suffix is None or _VERSIONED.search(trimmed):
        return trimmed
    return trimmed + suffix

"""Build the adapter for a profile: the one place the CLI and the console get their API client from."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from shipdeck.api.base import Adapter
from shipdeck.api.errors import UnsupportedAction
from shipdeck.api.streams import StreamOptions
from shipdeck.api.transport import Transport
from shipdeck.config.profile import Profile

# Provider -> (module, adapter class): only the adapter a profile needs is imported (each is a few tens of
# milliseconds of the console's start).
_ADAPTERS: dict[str, tuple[str, str]] = {
    "miosa": ("shipdeck.api.miosa", "MiosaAdapter"),
    "miteos": ("shipdeck.api.miteos", "MiteosAdapter"),
    "mixpeek": ("shipdeck.api.mixpeek", "MixpeekAdapter"),
}


def _adapter_class(provider: str) -> Callable[..., Adapter] | None:
    where = _ADAPTERS.get(provider)
    if where is None:
        return None
    module, name = where
    adapter: Callable[..., Adapter] = getattr(importlib.import_module(module), name)
    return adapter


def make_adapter(
    profile: Profile,
    *,
    on_notice: Callable[[str], None] | None = None,
    timeout: float = 15.0,
    deadline: float = 60.0,
    stream_options: StreamOptions | None = None,
) -> Adapter:
    """The adapter for ``profile.provider``, talking to ``profile.base_url`` with the profile's token.

    ``on_notice`` receives progress lines the UI may show ("rate limited, retrying in 4 s").
    """
    adapter_class = _adapter_class(profile.provider)
    if adapter_class is None:
        raise UnsupportedAction(
            f"profile {profile.name}: shipdeck cannot talk to {profile.provider} yet "
            f"(supported: {', '.join(sorted(_ADAPTERS))})"
        )
    transport = Transport(
        profile.base_url,
        profile.token,
        provider=profile.provider,
        profile_name=profile.name,
        on_notice=on_notice,
        timeout=timeout,
        deadline=deadline,
    )
    return adapter_class(transport, stream_options=stream_options)

"""Build the adapter for a profile: the one place the CLI and the console get their API client from."""

from __future__ import annotations

from collections.abc import Callable

from shipdeck.api.base import Adapter
from shipdeck.api.errors import UnsupportedAction
from shipdeck.api.providers import SPECS, spec_for
from shipdeck.api.streams import StreamOptions
from shipdeck.api.transport import RetryOptions, Transport
from shipdeck.config.profile import Profile


def make_adapter(
    profile: Profile,
    *,
    on_notice: Callable[[str], None] | None = None,
    timeout: float = 15.0,
    deadline: float = 60.0,
    stream_options: StreamOptions | None = None,
    retry: RetryOptions | None = None,
) -> Adapter:
    """The adapter for ``profile.provider``, talking to ``profile.base_url`` with the profile's token.

    ``on_notice`` receives progress lines the UI may show ("rate limited, retrying in 4 s").
    """
    spec = spec_for(profile.provider)
    if spec is None:
        raise UnsupportedAction(
            f"profile {profile.name}: shipdeck cannot talk to {profile.provider} yet "
            f"(supported: {', '.join(sorted(SPECS))})"
        )
    transport = Transport(
        profile.base_url,
        profile.token,
        provider=profile.provider,
        profile_name=profile.name,
        on_notice=on_notice,
        timeout=timeout,
        deadline=deadline,
        retry=retry,
    )
    return spec.adapter(transport, stream_options=stream_options)

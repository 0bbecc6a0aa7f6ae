"""Who may call: the demo tokens, the provider a path belongs to, the caller of a request."""

from __future__ import annotations

from starlette.requests import Request

from shipdeck.sim.registry import SURFACES, TokenInfo

# From the registry of surfaces (sim/registry.py); matched longest prefix first (provider_for_path).
PROVIDER_BASE_PATHS: dict[str, str] = {row.name: row.base_path for row in SURFACES}
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

DEMO_TOKENS: dict[str, TokenInfo] = {info.token: info for row in SURFACES for info in row.token_infos()}


def tokens_for(provider: str) -> list[str]:
    return [info.token for info in DEMO_TOKENS.values() if info.provider == provider]


def provider_for_path(path: str) -> str | None:
    for provider, base in sorted(PROVIDER_BASE_PATHS.items(), key=lambda item: -len(item[1])):
        if path == base or path.startswith(base + "/"):
            return provider
    return None


def token_of(request: Request) -> TokenInfo:
    """The authenticated caller (the gateway guarantees one for every provider route)."""
    info = request.scope.get("state", {}).get("sim_token")
    if not isinstance(info, TokenInfo):
        raise RuntimeError("token_of() called outside a provider route")
    return info

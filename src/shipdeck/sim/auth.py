"""Who may call: the demo tokens, the provider a path belongs to, the caller of a request."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

# Longest prefix first: /v1/apps (Mixpeek) must win over /v1 (Miteos).
PROVIDER_BASE_PATHS: dict[str, str] = {"miosa": "/api/v1", "mixpeek": "/v1/apps", "miteos": "/v1"}
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class TokenInfo:
    token: str
    provider: str
    kind: str  # admin | readonly | test | key: what the request log shows instead of the token
    read_only: bool


DEMO_TOKENS: dict[str, TokenInfo] = {
    info.token: info
    for info in (
        TokenInfo("msk_u_demo_admin", "miosa", "admin", False),
        TokenInfo("msk_u_demo_readonly", "miosa", "readonly", True),
        TokenInfo("mt_test_demo", "miteos", "test", False),
        TokenInfo("sk_demo", "mixpeek", "key", False),
    )
}


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

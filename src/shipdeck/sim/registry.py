"""The sandbox's surfaces, one row each: the one list a provider is added to.

A row names the surface's module (``sim/<name>.py``, the :class:`~shipdeck.sim.surface.Surface` protocol),
the path its API is served under, its demo tokens and its error shape. ``sim/app.py`` mounts the modules in
this order, ``sim/auth.py`` derives the base paths and demo tokens, ``sim/errors.py`` the error shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse

from shipdeck.sim.errors import miosa_error, miteos_error, mixpeek_error

ErrorShape = Callable[[int, str, str, Any, "dict[str, str] | None"], JSONResponse]


@dataclass(frozen=True)
class TokenInfo:
    token: str
    provider: str
    kind: str  # admin | readonly | test | key: what the request log shows instead of the token
    read_only: bool


@dataclass(frozen=True)
class SurfaceRow:
    name: str
    base_path: str
    # (token, kind, read-only): the demo tokens this surface accepts.
    tokens: tuple[tuple[str, str, bool], ...]
    error: ErrorShape

    def token_infos(self) -> list[TokenInfo]:
        return [TokenInfo(token, self.name, kind, read_only) for token, kind, read_only in self.tokens]


SURFACES: tuple[SurfaceRow, ...] = (
    SurfaceRow(
        "miosa",
        "/api/v1",
        (("msk_u_demo_admin", "admin", False), ("msk_u_demo_readonly", "readonly", True)),
        miosa_error,
    ),
    SurfaceRow("miteos", "/v1", (("mt_test_demo", "test", False),), miteos_error),
    SurfaceRow("mixpeek", "/v1/apps", (("sk_demo", "key", False),), mixpeek_error),
)


def surface_row(name: str) -> SurfaceRow:
    return next(row for row in SURFACES if row.name == name)

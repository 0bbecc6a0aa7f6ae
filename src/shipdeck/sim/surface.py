"""The one shape of a provider surface: what ``sim/app.py`` needs from ``sim/miosa.py``, ``sim/miteos.py``,
``sim/mixpeek.py`` (and from a fourth provider's module)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from shipdeck.sim.context import SimContext
    from shipdeck.sim.db import Database


class Surface(Protocol):
    """A provider module: its name, its tables, its seed, its routes and the work it resumes on start.

    ``PROVIDER`` names its row in ``sim/registry.py`` (base path, demo tokens, error shape); ``routes``
    answer refusals through ``errors.answering`` so that every error is in the provider's shape.
    """

    @property
    def PROVIDER(self) -> str: ...  # noqa: N802 (a module constant)

    def create_schema(self, db: Database) -> None: ...

    def seed(self, ctx: SimContext, kind: str) -> None: ...

    def routes(self, ctx: SimContext) -> list[BaseRoute]: ...

    def resume(self, ctx: SimContext) -> None: ...

"""How a deployment is named to a person, and how such a name is found again.

`shipdeck ls` prints :func:`display_name`; every command that takes a deployment accepts it back (and the
id, the bare name, the slug). A name that fits several deployments is refused with the candidates, never
resolved to whichever the server listed first.
"""

from __future__ import annotations

from collections.abc import Iterable

from shipdeck.model import Deployment


def display_name(dep: Deployment) -> str:
    """The name, with its environment where a provider lists a row per environment: 'Storefront (staging)'."""
    return dep.name + (f" ({dep.environment})" if dep.environment else "")


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def matches(ref: str, deployments: Iterable[Deployment]) -> list[Deployment]:
    """The deployments ``ref`` names, best fit first.

    An exact id wins alone. Otherwise the rows whose displayed name, name or slug is ``ref`` (case and
    runs of spaces aside); when a bare name fits one app's rows in several environments, the production
    row is the one meant (as `NAME@staging` / `NAME (staging)` name the others). Several left: ambiguous.
    """
    listed = list(deployments)
    by_id = [d for d in listed if d.id == ref]
    if by_id:
        return by_id
    wanted = _fold(ref)
    shown = [d for d in listed if _fold(display_name(d)) == wanted]
    if shown:
        return shown
    named = [d for d in listed if wanted in (_fold(d.name), _fold(d.slug or ""))]
    if len(named) > 1 and all(d.environment for d in named):
        production = [d for d in named if d.environment == "production"]
        if len(production) == 1 and len({d.name for d in named}) == 1:
            return production
    return named


def candidates_text(found: list[Deployment], *, limit: int = 10) -> str:
    """'dep_a (live), dep_b (building)' for an ambiguity message: the ids that tell them apart."""
    shown = [f"{d.id} ({d.state})" for d in found[:limit]]
    more = f" and {len(found) - limit} more" if len(found) > limit else ""
    return ", ".join(shown) + more

"""Whose env vars a list shows, as far as the server said, and whether a delete in an environment may be sent.

The official Miosa SDK lists a deployment's env with no environment at all (``GET /deployments/{id}/env``)
and its rows name none (``{name, preview, created_at, updated_at}``); only a set names one (in its body).
A server answering that way ignores the ``?environment=`` shipdeck adds, so a list "of preview" may be
production's variables, and a delete "in preview" may remove production's. Rows that name the environment
asked for show that the server tells environments apart; rows that name none show nothing.

The console's env editor and ``shipdeck env`` both read env through :func:`list_env` and ask the
:class:`EnvListing` it gives what to say over the rows (:meth:`EnvListing.note`) and whether a delete may
be sent (:meth:`EnvListing.unset_refusal`, which :func:`shipdeck.live.plans.plan_env_unset` applies):
the rule is here, and only here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shipdeck.api.base import Adapter
from shipdeck.model import EnvVar

# The environment of an env var set, listed or deleted with none named (the SDK's set without one).
DEFAULT_ENV_ENVIRONMENT = "production"


@dataclass(frozen=True)
class EnvListing:
    """A deployment's env vars as the server listed them when asked for ``environment``'s."""

    environment: str
    rows: list[EnvVar] = field(default_factory=list)

    @property
    def is_default(self) -> bool:
        return self.environment == DEFAULT_ENV_ENVIRONMENT

    @property
    def stated(self) -> bool:
        """A row names the environment asked for: the server keeps environments apart and said whose
        these are."""
        return any(row.environment == self.environment for row in self.rows)

    @property
    def unsure(self) -> bool:
        """Asked for another environment than the default, and nothing the server sent says these are its
        variables: a server that ignores ``?environment=`` (the official SDK sends none) would have listed
        the default environment's the same way. An empty list shows nothing either."""
        return not self.is_default and not self.stated

    def note(self) -> str | None:
        """What to say over the rows when they may be another environment's (None: nothing to say)."""
        if not self.unsure:
            return None
        what = "these variables belong to: they" if self.rows else "this (empty) list is of: it"
        return (
            f"The server did not say which environment {what} may be {DEFAULT_ENV_ENVIRONMENT}'s "
            f"(the default environment), not {self.environment}'s."
        )

    def unset_refusal(self, name: str) -> str | None:
        """Why a delete of ``name`` in this environment must not be sent (None: it may be)."""
        if not self.unsure:
            return None
        return (
            f"Not sent: removing {name} from {self.environment} could remove {DEFAULT_ENV_ENVIRONMENT}'s "
            f"{name}. The server has not shown that it keeps {self.environment}'s variables apart from "
            f"{DEFAULT_ENV_ENVIRONMENT}'s (its env list names no environment, and the official API's delete "
            f"takes none). To remove {DEFAULT_ENV_ENVIRONMENT}'s {name}, do it in {DEFAULT_ENV_ENVIRONMENT} "
            "(the default environment); setting a value in this environment is still possible."
        )


async def list_env(adapter: Adapter, deployment_id: str, environment: str) -> EnvListing:
    """The deployment's env vars as listed for ``environment`` (values masked: only previews)."""
    return EnvListing(environment, await adapter.list_env(deployment_id, environment=environment))

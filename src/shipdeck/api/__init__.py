"""The internal API client: transport, one adapter per provider, streams. No Textual here.

* :func:`shipdeck.api.factory.make_adapter` builds the :class:`~shipdeck.api.base.Adapter` for a profile.
* :mod:`~shipdeck.api.transport`: the one httpx transport (retries, deadline, typed errors, rate budget).
* :mod:`~shipdeck.api.miosa`, :mod:`~shipdeck.api.miteos`, :mod:`~shipdeck.api.mixpeek`: the adapters.
* :mod:`~shipdeck.api.streams`: the reconnect / resume / de-duplicate loop of every push stream. A stream that
  cannot resume raises :class:`~shipdeck.api.errors.StreamResyncRequired` from its iterator; the caller
  re-reads state over REST and starts a new iterator.
* :func:`shipdeck.api.context.background_reads`: reads made inside it yield to the user's own actions when
  the rate-limit budget runs low (:class:`~shipdeck.api.errors.BudgetReserved`).
"""

from __future__ import annotations

import sys
import types


def _defer_httpx_cli() -> None:
    """httpx imports its own command-line tool (``httpx._main``: click, pygments, rich's syntax and markdown)
    when it is imported, 40-110 ms of the console's start for a tool shipdeck never runs. Until httpx is
    imported, ``httpx._main`` is a module whose ``main`` imports the real one when called."""
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
        return
    deferred = types.ModuleType("httpx._main", "httpx's command-line tool, imported when first run")

    def main() -> None:
        del sys.modules["httpx._main"]
        from httpx._main import main as real_main

        real_main()

    deferred.main = main  # type: ignore[attr-defined]
    sys.modules["httpx._main"] = deferred


_defer_httpx_cli()

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

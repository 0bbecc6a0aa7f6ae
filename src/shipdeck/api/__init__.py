"""The internal API client: transport, one adapter per provider, streams. No Textual here."""

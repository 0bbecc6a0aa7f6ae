"""Profiles, token sources, paths and the audit log. No Textual here."""

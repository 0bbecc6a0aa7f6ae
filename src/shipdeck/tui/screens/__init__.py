"""The console's screens (each self-contained; the app pushes them from its key bindings)."""

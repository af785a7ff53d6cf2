"""Tresen: the shell (settings, database, event bus, auth, CLI, app factory)."""

__version__ = "0.1.0"

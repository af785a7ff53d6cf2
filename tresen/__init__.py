"""Tresen: the shell (settings, database, event bus, auth, CLI, app factory)."""

from tresen.ids import register_path_convertor

__version__ = "0.1.0"

# Before any room's module builds its routes (they compile `{id:int}` when made).
register_path_convertor()

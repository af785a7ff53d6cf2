"""Finding tickets by the words of their messages: a full-text index kept by the database.

SQLite: an FTS5 index over `messages.text` (external content, kept by triggers, so every
writer, ORM or Core, keeps it current). PostgreSQL: a GIN index over the text's
`to_tsvector('simple', ...)`. Words match as prefixes ("druck" finds "Drucker"), all of
them must occur. Migration 0007 builds both and holds their statements.

A batch migration that rebuilds `messages` on SQLite drops its triggers: it must create
them again after one (0007's SQLITE_TRIGGERS, copied into it).
"""

from __future__ import annotations

import re

from sqlalchemy import Boolean, bindparam
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_WORDS = 8


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)][:MAX_WORDS]


class message_matches(FunctionElement):
    """True for messages (by id and text) that hold every word, as a prefix."""

    type = Boolean()
    name = "message_matches"
    inherit_cache = True


def matching(message_id, message_text, text: str):
    """The condition on a message's id and text; None when the text has no words."""
    found = words(text)
    if not found:
        return None
    fts5 = " ".join(f'"{word}"*' for word in found)
    tsquery = " & ".join(f"{word}:*" for word in found)
    return message_matches(
        message_id,
        message_text,
        bindparam("fts5_query", fts5, unique=True),
        bindparam("ts_query", tsquery, unique=True),
    )


@compiles(message_matches, "sqlite")
def _sqlite(element, compiler, **kw):
    message_id, _text, fts5, _ts = list(element.clauses)
    return (
        f"{compiler.process(message_id, **kw)} IN (SELECT rowid FROM messages_fts "
        f"WHERE messages_fts MATCH {compiler.process(fts5, **kw)})"
    )


@compiles(message_matches, "postgresql")
def _postgres(element, compiler, **kw):
    _id, message_text, _fts5, ts = list(element.clauses)
    return (
        f"to_tsvector('simple', {compiler.process(message_text, **kw)}) "
        f"@@ to_tsquery('simple', {compiler.process(ts, **kw)})"
    )

"""The knowledge base's gaps: searches and bot questions that found nothing good, one row per
words, audience and day (`SearchGap`), counted by an upsert."""

from __future__ import annotations

from sqlalchemy import bindparam
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from knowledge_base.analysis import words
from knowledge_base.index import dialect
from knowledge_base.models import SearchGap

LATEST_OF_GAP = ("query", "language", "results", "best_article_id", "at")


def normalized(text_: str) -> str:
    """A question's words, as the report groups them."""
    return " ".join(words(text_))[:500]


async def report_gap(runtime, text_: str, language, audience: str, hits: list) -> None:
    """Count a question nobody answered well (a search's, the bot's handoffs) in the gaps
    report, in a transaction of its own."""
    async with runtime.transaction() as tx:
        await record_gap(tx, text_, language, audience, hits)


def _gap_upsert(engine: str):
    """The gap row's upsert, built once per engine (a bot's handoff writes it)."""
    insert = (pg_insert if engine == "postgresql" else sqlite_insert)(SearchGap)
    names = (*LATEST_OF_GAP, "day", "normalized", "audience")
    insert = insert.values({"searches": 1, **{name: bindparam(name) for name in names}})
    latest = {name: insert.excluded[name] for name in LATEST_OF_GAP}
    return insert.on_conflict_do_update(
        index_elements=["day", "audience", "normalized"],
        set_={"searches": SearchGap.searches + 1, **latest},
    )


_GAP_UPSERTS = {engine: _gap_upsert(engine) for engine in ("postgresql", "sqlite")}


async def record_gap(tx, text_: str, language, audience: str, hits: list) -> None:
    """Count the search on its words' row of the day, in the caller's transaction (one
    upsert: anonymous floods of the same search add to a number, not to the table)."""
    now = tx.now()
    engine = "postgresql" if dialect(tx.session) == "postgresql" else "sqlite"
    await tx.session.execute(
        _GAP_UPSERTS[engine],
        {
            "day": now.date(),
            "query": text_[:500],
            "normalized": normalized(text_),
            "language": language,
            "audience": audience,
            "results": len(hits),
            "best_article_id": hits[0].article_id if hits else None,
            "at": now,
        },
    )

"""The search index, kept in the same transaction as the article: SQLite FTS5 on the embedded
database, a weighted tsvector with a GIN index on PostgreSQL. Both hold the analyzed text (Snowball
stems in the article's language), so the two engines find the same articles."""

from __future__ import annotations

from sqlalchemy import text

from knowledge_base.analysis import analyze

# The index's tables (kb_fts, and kb_fts_vocab on SQLite) are made by migration 0005, which
# holds their statements; not in the models (neither engine's form is a plain table).


def dialect(session) -> str:
    return session.get_bind().dialect.name


def fields(article) -> dict:
    language = article.language
    return {
        "id": article.id,
        "title": analyze(article.title, language),
        "keywords": analyze(" ".join(article.keywords or []), language),
        "body": analyze(article.body or "", language),
        # Who may find it, as words FTS5 filters on inside the index (no join per match).
        "scope": f"lang{language} vis{article.visibility}",
    }


POSTGRES_UPSERT = (
    "INSERT INTO kb_fts (article_id, document) VALUES (:id, "
    "setweight(to_tsvector('simple', :title), 'A') || "
    "setweight(to_tsvector('simple', :keywords), 'B') || "
    "setweight(to_tsvector('simple', :body), 'D')) "
    "ON CONFLICT (article_id) DO UPDATE SET document = EXCLUDED.document"
)
SQLITE_INSERT = (
    "INSERT INTO kb_fts (rowid, title, keywords, body, scope) "
    "VALUES (:id, :title, :keywords, :body, :scope)"
)


async def index_article(session, article) -> None:
    """(Re)index one article; call after what it is found by changed, in its transaction."""
    values = fields(article)
    if dialect(session) == "postgresql":
        await session.execute(text(POSTGRES_UPSERT), values)
    else:
        await session.execute(text("DELETE FROM kb_fts WHERE rowid = :id"), values)
        await session.execute(text(SQLITE_INSERT), values)

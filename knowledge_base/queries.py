"""Reading the knowledge base for the console: the newest articles, versions, translations."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge_base.models import Article, ArticleVersion


async def count_articles(session: AsyncSession) -> int:
    return await session.scalar(select(func.count(Article.id)))


async def recent_articles(
    session: AsyncSession, *, language: str | None = None, limit: int = 100
) -> list[Article]:
    """The most recently edited articles, of one language when given."""
    query = select(Article).order_by(Article.updated_at.desc()).limit(limit)
    if language:
        query = query.where(Article.language == language)
    return list(await session.scalars(query))


async def article_versions(session: AsyncSession, article_id: int) -> list[ArticleVersion]:
    """An article's versions, newest first."""
    return list(
        await session.scalars(
            select(ArticleVersion)
            .where(ArticleVersion.article_id == article_id)
            .order_by(ArticleVersion.version.desc())
        )
    )


async def translations_of(session: AsyncSession, article: Article) -> list[Article]:
    """The article in its other languages."""
    return list(
        await session.scalars(
            select(Article).where(
                Article.translation_group == article.translation_group,
                Article.id != article.id,
            )
        )
    )

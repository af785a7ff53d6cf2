"""Deflected requests: a customer about to open a request in the portal found an article
that solved their problem, said so, and sent no ticket. The knowledge base's figures count
them per article (the console's article page, `GET /api/v1/kb/deflections`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from knowledge_base.events import RequestDeflected
from knowledge_base.models import LANGUAGES, Article, Deflection
from tresen.runtime import ActionError, Transaction


async def record_deflection(
    tx: Transaction,
    article_id: int,
    *,
    customer_id: int | None,
    request_key: str,
    language: str | None = None,
) -> Deflection:
    """Count one deflected request. Only a public article can have answered a customer; the
    same request form (`request_key`, its nonce) answered again counts once, and so does a
    customer's every "this solved it" for one article on one day (UTC): the nonce is the
    browser's to choose, so new forms do not inflate an article's count."""
    # The article's row locked (PostgreSQL): one customer's clicks at once are counted in turn.
    article = await tx.session.scalar(
        select(Article).where(Article.id == article_id).with_for_update()
    )
    if article is None or article.visibility != "public":
        raise ActionError("article_id", f"no public article {article_id}")
    if not request_key or len(request_key) > 64:
        raise ActionError("request_key", "the request's key is missing or too long")
    earlier = await tx.session.scalar(
        select(Deflection).where(Deflection.request_key == request_key)
    )
    if earlier is None and customer_id is not None:
        now = tx.now().astimezone(UTC)
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        earlier = await tx.session.scalar(
            select(Deflection)
            .where(
                Deflection.customer_id == customer_id,
                Deflection.article_id == article_id,
                Deflection.at >= day,
            )
            .limit(1)
        )
    if earlier is not None:
        return earlier
    record = Deflection(
        article_id=article_id,
        customer_id=customer_id,
        request_key=request_key,
        language=language if language in LANGUAGES else None,
        at=tx.now(),
    )
    tx.session.add(record)
    await tx.session.flush()
    tx.emit(RequestDeflected(article_id=article_id))
    return record


async def withdraw_deflection(tx: Transaction, request_key: str) -> bool:
    """The request was sent after all (the customer came back to the form): the article did
    not solve it, and its deflection no longer counts (the consoles hear `kb.deflected` and
    show the new count). Whether there was one."""
    record = await tx.session.scalar(
        select(Deflection).where(Deflection.request_key == request_key)
    )
    if record is None:
        return False
    article_id = record.article_id
    await tx.session.delete(record)
    tx.emit(RequestDeflected(article_id=article_id))
    return True


async def deflections_of(session, article_id: int) -> int:
    """How many requests this article answered."""
    return await session.scalar(
        select(func.count(Deflection.id)).where(Deflection.article_id == article_id)
    )


async def deflection_report(session, *, since_days: int, now: datetime, limit: int = 50) -> dict:
    """Deflected requests since `since_days` ago: the total and per article, most first."""
    since = now - timedelta(days=since_days)
    count = func.count(Deflection.id)
    rows = (
        await session.execute(
            select(
                Article.id,
                Article.title,
                Article.slug,
                Article.language,
                count,
                func.max(Deflection.at),
            )
            .join(Article, Article.id == Deflection.article_id)
            .where(Deflection.at >= since)
            .group_by(Article.id, Article.title, Article.slug, Article.language)
            .order_by(count.desc(), Article.id)
            .limit(limit)
        )
    ).all()
    total = await session.scalar(select(func.count(Deflection.id)).where(Deflection.at >= since))
    return {
        "since": since.isoformat(),
        "total": total,
        "articles": [
            {
                "article_id": article_id,
                "title": title,
                "url": f"/help/{slug}",
                "language": language,
                "deflections": deflections,
                "last_at": last.isoformat(),
            }
            for article_id, title, slug, language, deflections, last in rows
        ],
    }


async def forget_customer(tx: Transaction, customer_id: int) -> int:
    """An erased customer's deflections stay counted without saying whose they were."""
    result = await tx.session.execute(
        update(Deflection).where(Deflection.customer_id == customer_id).values(customer_id=None)
    )
    return result.rowcount or 0

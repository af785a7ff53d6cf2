"""The knowledge base's part of a customer's data (tresen.personal_data): the requests an
article answered for them in the portal (deflections). Nothing they wrote is kept there; an
erasure leaves the count and forgets whose it was."""

from __future__ import annotations

from sqlalchemy import select

from knowledge_base.deflection import forget_customer
from knowledge_base.models import Article, Deflection
from tresen.personal_data import Export, Holder, Subject, register


async def export_deflections(session, subject: Subject, export: Export) -> None:
    rows = await session.execute(
        select(Deflection.at, Deflection.language, Article.id, Article.title)
        .join(Article, Article.id == Deflection.article_id)
        .where(Deflection.customer_id.in_(subject.customer_ids))
        .order_by(Deflection.id)
    )
    export.add(
        "answered_by_articles",
        [
            {"at": at.isoformat(), "language": language, "article_id": article_id, "title": title}
            for at, language, article_id, title in rows
        ],
    )


async def erase_deflections(tx, subject: Subject, _mode: str) -> dict[str, int]:
    forgotten = 0
    for customer_id in subject.customer_ids:
        forgotten += await forget_customer(tx, customer_id)
    return {"deflections": forgotten}


holder = register(Holder("knowledge_base", export=export_deflections, erase=erase_deflections))

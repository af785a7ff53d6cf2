"""Knowledge base suggestions for a ticket: the articles that answer its conversation, in the
customer's language, without the ones an agent has set aside here; agents' verdicts feed the
ranking (knowledge_base.search)."""

from __future__ import annotations

from sqlalchemy import select

from knowledge_base.analysis import words
from knowledge_base.feedback import not_relevant_on, record_feedback, verdicts_on
from knowledge_base.search import SEMANTIC_LOW, Hit, search
from routing.models import RoutingDecision
from tickets.models import Message, Ticket
from tresen.runtime import ActionError

MESSAGES = 3  # the customer's latest messages that make up the question
TEXT_CHARS = 3000
# A word another language's article must hold as it is to be suggested (short ones are
# too often words of both languages: "die", "man", "hat").
SHARED_WORD = 4


async def conversation(session, ticket: Ticket) -> tuple[str, str | None]:
    """What the customer asks (subject and latest messages) and in which language."""
    messages = (
        await session.scalars(
            select(Message)
            .where(
                Message.ticket_id == ticket.id,
                Message.direction == "inbound",
                Message.internal.is_(False),
            )
            .order_by(Message.id.desc())
            .limit(MESSAGES)
        )
    ).all()
    parts = [ticket.subject] + [m.visible_text or m.text or "" for m in reversed(messages)]
    language = await session.scalar(
        select(RoutingDecision.language)
        .where(RoutingDecision.ticket_id == ticket.id, RoutingDecision.language.is_not(None))
        .order_by(RoutingDecision.id.desc())
        .limit(1)
    )
    language = language or ticket.customer.language
    return "\n".join(p for p in parts if p)[:TEXT_CHARS], language


async def for_ticket(runtime, ticket_id: int, *, limit: int = 5) -> tuple[list[Hit], dict]:
    """The ticket's suggestions and the verdicts given on this ticket (article id: verdict)."""
    async with runtime.read() as session:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            raise LookupError(ticket_id)
        text, language = await conversation(session, ticket)
        set_aside = await not_relevant_on(session, ticket_id)
        verdicts = await verdicts_on(session, ticket_id)
    language = language if language in ("de", "en") else None
    hits = await search(
        runtime, text, language=language, audience="agent", limit=limit, exclude=set_aside
    )
    if not hits and language:  # nothing in the customer's language: any language
        hits = await search(runtime, text, audience="agent", limit=limit, exclude=set_aside)
        hits = [hit for hit in hits if across_languages(text, hit, language)]
    return hits, verdicts


def across_languages(text: str, hit: Hit, language: str) -> bool:
    """Whether an article in another language may be suggested: never on shared stems alone
    ("ändern" is not "and"), only for a word both hold as it is (a product name, "VPN") or
    a close meaning (the multilingual embeddings)."""
    if hit.language == language:
        return True
    if hit.cosine is not None and hit.cosine >= SEMANTIC_LOW:
        return True
    asked = {word for word in words(text) if len(word) >= SHARED_WORD}
    return bool(asked & set(words(f"{hit.title} {hit.body}")))


async def judge(runtime, ticket_id: int, article_id: int, verdict: str, *, user_id: int) -> None:
    """An agent's verdict on a suggestion: used (inserted into a reply) or not relevant."""
    if verdict not in ("used", "not_relevant"):
        raise ActionError("verdict", f"verdict {verdict!r} is not used or not_relevant")
    async with runtime.transaction() as tx:
        if await tx.session.get(Ticket, ticket_id) is None:
            raise LookupError(ticket_id)
        await record_feedback(tx, article_id, verdict, ticket_id=ticket_id, user_id=user_id)

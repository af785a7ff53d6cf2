"""Knowledge base suggestions for a ticket: the articles that answer its conversation, in the
customer's language, without the ones an agent has set aside here; agents' verdicts feed the
ranking (knowledge_base.search)."""

from __future__ import annotations

from sqlalchemy import select

from knowledge_base.feedback import not_relevant_on, record_feedback, verdicts_on
from knowledge_base.search import Hit, search
from routing.models import RoutingDecision
from tickets.models import Message, Ticket
from tresen.runtime import ActionError

MESSAGES = 3  # the customer's latest messages that make up the question
TEXT_CHARS = 3000


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
    return hits, verdicts


async def judge(runtime, ticket_id: int, article_id: int, verdict: str, *, user_id: int) -> None:
    """An agent's verdict on a suggestion: used (inserted into a reply) or not relevant."""
    if verdict not in ("used", "not_relevant"):
        raise ActionError("verdict", f"verdict {verdict!r} is not used or not_relevant")
    async with runtime.transaction() as tx:
        if await tx.session.get(Ticket, ticket_id) is None:
            raise LookupError(ticket_id)
        await record_feedback(tx, article_id, verdict, ticket_id=ticket_id, user_id=user_id)

"""The bot's part of a customer's data: what it remembers of their conversations (the last
question, in its state) is forgotten on erasure; their messages are the tickets' part."""

from __future__ import annotations

from sqlalchemy import select, update

from bots.models import BotConversation
from tickets.models import Ticket
from tresen.personal_data import Holder, register


async def erase_conversations(tx, subject, mode: str) -> dict[str, int]:
    """Clear the state of the bot's conversations on the customer's tickets (both modes:
    "delete" removes the tickets and these rows with them afterwards). The marker of the
    last message answered stays: it holds nothing of theirs, and without it a retried turn
    would answer that message again."""
    rows = await tx.session.execute(
        select(BotConversation.id, BotConversation.state).where(
            BotConversation.ticket_id.in_(
                select(Ticket.id).where(Ticket.customer_id.in_(subject.customer_ids))
            )
        )
    )
    erased = 0
    for conversation_id, state in rows.all():
        answered = (state or {}).get("message_id")
        await tx.session.execute(
            update(BotConversation)
            .where(BotConversation.id == conversation_id)
            .values(state={"message_id": answered} if answered else {})
            .execution_options(synchronize_session=False)
        )
        erased += 1
    return {"bot_conversations": erased}


# Before tickets (50): it finds its rows by the customer's tickets.
holder = register(Holder("bots", erase=erase_conversations, order=40))

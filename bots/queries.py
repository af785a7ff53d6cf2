"""What pages read of the bot: a ticket's conversation with it."""

from __future__ import annotations

from sqlalchemy import select

from bots.models import BotConversation


async def conversation_of(session, ticket_id: int) -> BotConversation | None:
    """The bot's conversation on a ticket (outcome, handoff reason, answers), if it had one."""
    return await session.scalar(
        select(BotConversation).where(BotConversation.ticket_id == ticket_id)
    )

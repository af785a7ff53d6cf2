"""Tickets' contribution to the customer timeline."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from customers.timeline import TimelineEntry, register_source
from tickets.models import Message, Ticket


@register_source
async def ticket_entries(
    session: AsyncSession, customer_id: int, limit: int
) -> list[TimelineEntry]:
    tickets = await session.execute(
        select(Ticket.id, Ticket.number, Ticket.subject, Ticket.channel, Ticket.created_at)
        .where(Ticket.customer_id == customer_id)
        .order_by(Ticket.created_at.desc())
        .limit(limit)
    )
    messages = await session.execute(
        select(
            Message.id,
            Message.ticket_id,
            Ticket.number,
            Message.channel,
            Message.direction,
            Message.text,
            Message.created_at,
        )
        .join(Ticket, Ticket.id == Message.ticket_id)
        .where(Ticket.customer_id == customer_id, Message.internal.is_(False))
        .order_by(Message.created_at.desc())
        .limit(limit)
    )
    entries = [
        TimelineEntry(
            "ticket", row.created_at, row.id, row.channel, row.subject, row.id, row.number
        )
        for row in tickets
    ]
    entries += [
        TimelineEntry(
            "message",
            row.created_at,
            row.id,
            row.channel,
            row.text[:200],
            row.ticket_id,
            row.number,
            row.direction,
        )
        for row in messages
    ]
    return entries

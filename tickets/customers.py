"""What tickets do when two customer records are merged: they follow the one kept."""

from __future__ import annotations

from sqlalchemy import update

from customers.merge import register_mover
from tickets.events import TicketUpdated
from tickets.models import Message, Ticket, TicketHistory
from tresen.runtime import Transaction


@register_mover
async def move_tickets(tx: Transaction, from_id: int, into_id: int) -> None:
    connection = await tx.session.connection()
    moved = await connection.scalars(
        update(Ticket)
        .where(Ticket.customer_id == from_id)
        .values(customer_id=into_id)
        .returning(Ticket.id)
    )
    await connection.execute(
        update(Message)
        .where(Message.author_customer_id == from_id)
        .values(author_customer_id=into_id)
    )
    await connection.execute(
        update(TicketHistory)
        .where(TicketHistory.actor_customer_id == from_id)
        .values(actor_customer_id=into_id)
    )
    for ticket_id in moved:
        tx.emit(TicketUpdated(ticket_id=ticket_id, fields=["customer"]))

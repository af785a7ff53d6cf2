"""A low satisfaction rating tells the queue's supervisors (in the console and by mail).

A durable handler of `ticket.rated` for the ratings that became low (`TicketRated.alert`:
at or below `Settings.csat_low_score`, and not low before). Who hears: the supervisors of
the queue the ticket is in; a ticket without a queue, or a queue without supervisors, tells
every active supervisor.
"""

from __future__ import annotations

from sqlalchemy import select

from routing.models import QueueMember
from tickets.events import TicketRated
from tickets.models import Ticket
from tresen.handlers import handler
from tresen.i18n import _
from tresen.models import User
from tresen.notifications import notify, register_text
from tresen.runtime import Transaction


@handler(TicketRated, name="routing.csat_alert", when=lambda event: event.alert)
async def alert_supervisors(tx: Transaction, event: TicketRated) -> None:
    connection = await tx.session.connection()
    ticket = (
        await connection.execute(
            select(Ticket.number, Ticket.queue_id).where(Ticket.id == event.ticket_id)
        )
    ).first()
    if ticket is None:
        return
    people: set[int] = set()
    if ticket.queue_id is not None:
        people.update(
            await connection.scalars(
                select(QueueMember.user_id)
                .join(User, User.id == QueueMember.user_id)
                .where(
                    QueueMember.queue_id == ticket.queue_id,
                    QueueMember.role == "supervisor",
                    User.active,
                )
            )
        )
    if not people:
        people.update(
            await connection.scalars(select(User.id).where(User.role == "supervisor", User.active))
        )
    await notify(
        tx,
        people,
        kind="csat.low",
        link=f"/tickets/{event.ticket_id}",
        data={"number": ticket.number, "score": event.score},
        email=True,  # and by mail (routing.notify_mail)
        ticket_id=event.ticket_id,
    )


def _low_text(data: dict) -> str:
    return _(
        "Ticket #%(number)s was rated %(score)s of 5 by the customer",
        number=data["number"],
        score=data["score"],
    )


register_text("csat.low", _low_text)
